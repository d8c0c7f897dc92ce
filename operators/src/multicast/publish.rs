//! `publish`, `share` and `ref_count`: one upstream subscription shared by many
//! subscribers, paced by the slowest of them.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use spillway_core::{ConfigError, Publisher, Subscriber};

use crate::engine::support::{self, Dropper};
use crate::multicast::hub::{Full, Hub, HubConfig, HubUpstream};
use crate::stats::{DropReason, FlowStats, OnDrop};

const STAGE: &str = "publish";

/// The default number of items a [`Publish`] requests upstream (and the most it holds
/// for its slowest subscriber).
pub const DEFAULT_PREFETCH: usize = 256;

crate::stage_name!(Named, STAGE);

struct Settings<T> {
    prefetch: usize,
    replay: usize,
    on_drop: Option<OnDrop<T>>,
}

/// The state all clones of a [`Publish`] (and its [`RefCount`]) share.
struct Conn<P: Publisher> {
    upstream: Mutex<Option<P>>,
    settings: Mutex<Settings<P::Item>>,
    stats: FlowStats,
    hub: OnceLock<Arc<Hub<P::Item, P::Error>>>,
}

impl<P> Conn<P>
where
    P: Publisher,
    P::Item: Clone,
    P::Error: Clone,
{
    /// The hub, built from the settings on first use.
    fn hub(&self) -> &Arc<Hub<P::Item, P::Error>> {
        self.hub.get_or_init(|| {
            let settings = support::lock(&self.settings);
            Hub::new(
                STAGE,
                HubConfig {
                    capacity: settings.prefetch,
                    replay: settings.replay,
                    full: Full::Refuse,
                    prefetch: Some(settings.prefetch),
                },
                Dropper::new(self.stats.clone(), settings.on_drop.clone()),
            )
        })
    }

    fn connect(&self) -> Connection {
        let hub = self.hub();
        let upstream = support::lock(&self.upstream).take();
        if let Some(upstream) = upstream {
            hub.mark_connected();
            upstream.subscribe(HubUpstream {
                hub: Arc::clone(hub),
            });
        }
        let disconnect: Arc<dyn Disconnect> = hub.clone();
        Connection(disconnect)
    }
}

/// Publisher for the [`publish`](crate::OperatorExt::publish) and
/// [`replay`](crate::OperatorExt::replay) methods: a connectable, shared publisher.
#[must_use = "publishers do nothing until subscribed"]
pub struct Publish<P: Publisher> {
    conn: Arc<Conn<P>>,
}

impl<P: Publisher> Clone for Publish<P> {
    fn clone(&self) -> Self {
        Publish {
            conn: Arc::clone(&self.conn),
        }
    }
}

impl<P> Publish<P>
where
    P: Publisher,
    P::Item: Clone,
    P::Error: Clone,
{
    pub(crate) fn new(upstream: P, replay: usize) -> Self {
        Publish {
            conn: Arc::new(Conn {
                upstream: Mutex::new(Some(upstream)),
                settings: Mutex::new(Settings {
                    prefetch: DEFAULT_PREFETCH,
                    replay,
                    on_drop: None,
                }),
                stats: FlowStats::new(DEFAULT_PREFETCH),
                hub: OnceLock::new(),
            }),
        }
    }

    /// Sets how many items are requested upstream ([`DEFAULT_PREFETCH`] by default):
    /// the most the slowest subscriber can fall behind the fastest.
    ///
    /// # Errors
    /// [`ConfigError`] if `prefetch` is 0, or if the publisher was already subscribed
    /// or connected.
    pub fn prefetch(self, prefetch: usize) -> Result<Self, ConfigError> {
        if prefetch == 0 {
            return Err(ConfigError::new(STAGE, "the prefetch must be at least 1"));
        }
        if self.conn.hub.get().is_some() {
            return Err(ConfigError::new(
                STAGE,
                "the prefetch must be set before subscribing or connecting",
            ));
        }
        // Nothing is shared yet: move the upstream and the settings into a fresh
        // connection whose statistics know the new capacity.
        let upstream = support::lock(&self.conn.upstream).take();
        let mut settings = std::mem::replace(
            &mut *support::lock(&self.conn.settings),
            Settings {
                prefetch,
                replay: 0,
                on_drop: None,
            },
        );
        settings.prefetch = prefetch;
        Ok(Publish {
            conn: Arc::new(Conn {
                upstream: Mutex::new(upstream),
                settings: Mutex::new(settings),
                stats: FlowStats::new(prefetch),
                hub: OnceLock::new(),
            }),
        })
    }

    /// Calls `f` with every dropped item and the reason ([`DropReason::Discarded`]: the
    /// connection ended by disconnection or a protocol violation while items were
    /// queued), on the thread that dropped it. Set it before subscribing: later calls
    /// have no effect.
    pub fn on_drop<F>(self, f: F) -> Self
    where
        F: Fn(P::Item, DropReason) + Send + Sync + 'static,
    {
        support::lock(&self.conn.settings).on_drop = Some(support::on_drop(f));
        self
    }

    /// The live statistics of the shared queue: `received` items from upstream,
    /// `emitted` items that reached every subscriber, `buffered` items some subscriber
    /// has still to receive, `dropped` discarded items.
    pub fn stats(&self) -> FlowStats {
        self.conn.stats.clone()
    }

    /// Subscribes to the upstream (once: later calls return a handle to the same
    /// connection). Items that arrive while there are no subscribers are held, up to
    /// the prefetch, for the next subscriber.
    pub fn connect(&self) -> Connection {
        self.conn.connect()
    }

    /// A publisher that connects when the `n`-th subscriber arrives and disconnects
    /// (cancels upstream) when the last one leaves.
    ///
    /// # Errors
    /// [`ConfigError`] if `n` is 0.
    pub fn ref_count(self, n: usize) -> Result<RefCount<P>, ConfigError> {
        if n == 0 {
            return Err(ConfigError::new(
                "ref_count",
                "the subscriber count must be at least 1",
            ));
        }
        Ok(RefCount {
            conn: self.conn,
            min_subscribers: n,
        })
    }

    /// How many subscribers are attached now.
    pub fn subscriber_count(&self) -> usize {
        self.conn.hub.get().map_or(0, |h| h.subscriber_count())
    }
}

impl<P> Publisher for Publish<P>
where
    P: Publisher,
    P::Item: Clone,
    P::Error: Clone,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        self.conn.hub().subscribe::<Named, _>(subscriber);
    }
}

impl<P: Publisher> fmt::Debug for Publish<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publish")
            .field("connected", &self.conn.hub.get().is_some())
            .field("stats", &self.conn.stats)
            .finish_non_exhaustive()
    }
}

/// Publisher for the [`share`](crate::OperatorExt::share) method and
/// [`Publish::ref_count`]: connects with the `n`-th subscriber, disconnects when the
/// last one leaves.
#[must_use = "publishers do nothing until subscribed"]
pub struct RefCount<P: Publisher> {
    conn: Arc<Conn<P>>,
    min_subscribers: usize,
}

impl<P: Publisher> Clone for RefCount<P> {
    fn clone(&self) -> Self {
        RefCount {
            conn: Arc::clone(&self.conn),
            min_subscribers: self.min_subscribers,
        }
    }
}

impl<P> RefCount<P>
where
    P: Publisher,
    P::Item: Clone,
    P::Error: Clone,
{
    pub(crate) fn share(upstream: P) -> Self {
        RefCount {
            conn: Publish::new(upstream, 0).conn,
            min_subscribers: 1,
        }
    }

    /// The live statistics of the shared queue (see [`Publish::stats`]).
    pub fn stats(&self) -> FlowStats {
        self.conn.stats.clone()
    }

    /// How many subscribers are attached now.
    pub fn subscriber_count(&self) -> usize {
        self.conn.hub.get().map_or(0, |h| h.subscriber_count())
    }
}

impl<P> Publisher for RefCount<P>
where
    P: Publisher,
    P::Item: Clone,
    P::Error: Clone,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        let hub = self.conn.hub();
        hub.set_auto_disconnect();
        if hub.subscribe::<Named, _>(subscriber) >= self.min_subscribers {
            self.conn.connect();
        }
    }
}

impl<P: Publisher> fmt::Debug for RefCount<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefCount")
            .field("min_subscribers", &self.min_subscribers)
            .field("stats", &self.conn.stats)
            .finish_non_exhaustive()
    }
}

trait Disconnect: Send + Sync {
    fn disconnect(&self);
}

impl<T, E> Disconnect for Hub<T, E>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    fn disconnect(&self) {
        Hub::disconnect(self)
    }
}

/// The connection of a [`Publish`], returned by [`Publish::connect`].
#[derive(Clone)]
pub struct Connection(Arc<dyn Disconnect>);

impl Connection {
    /// Cancels the upstream subscription; subscribers receive
    /// [`Error::Rejected`](spillway_core::Error::Rejected) at once (queued items are
    /// discarded). Idempotent; no effect after the upstream terminated.
    pub fn disconnect(&self) {
        self.0.disconnect();
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}
