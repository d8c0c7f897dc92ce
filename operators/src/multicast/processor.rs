//! `MulticastProcessor`: a hot source that code outside the pipeline pushes into, shared
//! by any number of subscribers, with an overflow policy for slow ones.

use std::fmt;
use std::sync::Arc;

use spillway_core::{ConfigError, Context, Error, Publisher, SharedSubscription, Subscriber};

use crate::engine::support::{self, Dropper};
use crate::multicast::hub::{Full, Hub, HubConfig, Pushed};
use crate::stats::{DropReason, FlowStats};

const STAGE: &str = "multicast";

crate::stage_name!(Named, STAGE);

/// What a [`MulticastProcessor`] does with an item pushed while its queue is full, that
/// is while the slowest subscriber is `capacity` items behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MulticastOverflow {
    /// Lossless, paced to the slowest subscriber (Reactor's
    /// `Sinks.many().multicast().onBackpressureBuffer()`): the item is refused and handed
    /// back in [`TryEmitError::Full`]; push it again once subscribers caught up. While
    /// there are no subscribers, up to `capacity` items are held for the first one.
    /// Subscribed to an upstream, it requests `capacity` items and replenishes at 75%.
    Buffer,
    /// Best effort, never holds back fast subscribers (like `tokio::sync::broadcast`):
    /// the oldest item not yet seen by every subscriber is evicted, so only the
    /// subscribers that lag `capacity` items behind lose it ([`DropReason::Evicted`]).
    /// Subscribed to an upstream, it requests unbounded demand.
    DropOldest,
    /// Fail: every subscriber receives [`Error::Overflow`] at once (the undelivered
    /// items are dropped as [`DropReason::Discarded`]) and the item is handed back in
    /// [`TryEmitError::Overflow`]. Subscribed to an upstream, it requests unbounded
    /// demand.
    Error,
}

/// Why [`MulticastProcessor::try_next`] did not accept an item; the item comes back.
#[derive(Clone, PartialEq, Eq)]
pub enum TryEmitError<T> {
    /// [`MulticastOverflow::Buffer`]: the slowest subscriber is `capacity` items behind.
    /// Nothing was lost; try again later.
    Full(T),
    /// [`MulticastOverflow::Error`]: the queue was full and the processor has failed.
    Overflow(T),
    /// The processor completed, failed, or its upstream broke the protocol.
    Closed(T),
}

impl<T> TryEmitError<T> {
    /// The refused item.
    pub fn into_inner(self) -> T {
        match self {
            TryEmitError::Full(t) | TryEmitError::Overflow(t) | TryEmitError::Closed(t) => t,
        }
    }
}

impl<T> fmt::Debug for TryEmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryEmitError::Full(_) => "Full(..)",
            TryEmitError::Overflow(_) => "Overflow(..)",
            TryEmitError::Closed(_) => "Closed(..)",
        })
    }
}

impl<T> fmt::Display for TryEmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryEmitError::Full(_) => "multicast: full: the slowest subscriber is behind",
            TryEmitError::Overflow(_) => "multicast: overflow: the processor failed",
            TryEmitError::Closed(_) => "multicast: the processor is terminated",
        })
    }
}

impl<T> std::error::Error for TryEmitError<T> {}

/// A hot multicast source for code that pushes from outside a pipeline (Reactor's
/// `Sinks.many().multicast()`), and a [`Processor`](spillway_core::Processor): subscribed
/// to an upstream publisher, it relays it hot to all its subscribers.
///
/// Every subscriber runs on its own drain loop and receives only what it requested;
/// all subscribers read one shared queue of at most `capacity` undelivered items, and
/// the [`MulticastOverflow`] policy says what happens when the slowest subscriber is
/// `capacity` items behind. Late subscribers see the items pushed after they subscribed
/// (the first subscriber also gets what was held while nobody listened), then the
/// terminal signal, which also reaches subscribers that arrive after it.
///
/// The handle is cheap to clone: [`Publisher::subscribe`] on a clone adds a subscriber.
///
/// **Statistics** ([`stats`](Self::stats)) count items, not deliveries: `received`
/// items accepted, `emitted` items every subscriber present has received, `buffered`
/// items some subscriber has still to receive, `dropped` items evicted or discarded.
/// Items handed back by `try_next` were never received.
///
/// # Examples
/// ```
/// use spillway::prelude::*;
/// use spillway_operators::{MulticastOverflow, MulticastProcessor};
/// # futures::executor::block_on(async {
/// let hot = MulticastProcessor::<u32, std::convert::Infallible>::new(MulticastOverflow::Buffer, 16)?;
/// // `collect` subscribes when first polled: `join!` polls both sinks before the pusher.
/// let (a, b) = (hot.clone().collect(), hot.clone().collect());
/// let pusher = async {
///     for i in 0..3 {
///         hot.try_next(i).unwrap();
///     }
///     hot.complete();
/// };
/// let (a, b, ()) = futures::join!(a, b, pusher);
/// assert_eq!(a.unwrap(), vec![0, 1, 2]);
/// assert_eq!(b.unwrap(), vec![0, 1, 2]);
/// # Ok::<(), spillway::ConfigError>(())
/// # }).unwrap();
/// ```
pub struct MulticastProcessor<T, E>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    hub: Arc<Hub<T, E>>,
    overflow: MulticastOverflow,
    capacity: usize,
}

impl<T, E> Clone for MulticastProcessor<T, E>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    fn clone(&self) -> Self {
        MulticastProcessor {
            hub: Arc::clone(&self.hub),
            overflow: self.overflow,
            capacity: self.capacity,
        }
    }
}

impl<T, E> MulticastProcessor<T, E>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    /// A processor holding at most `capacity` undelivered items, with `overflow` for
    /// when that is not enough.
    ///
    /// # Errors
    /// [`ConfigError`] if `capacity` is 0.
    pub fn new(overflow: MulticastOverflow, capacity: usize) -> Result<Self, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::new(STAGE, "the capacity must be at least 1"));
        }
        Ok(Self::build(
            overflow,
            capacity,
            Dropper::new(FlowStats::new(capacity), None),
        ))
    }

    fn build(overflow: MulticastOverflow, capacity: usize, dropper: Dropper<T>) -> Self {
        let (full, prefetch) = match overflow {
            MulticastOverflow::Buffer => (Full::Refuse, Some(capacity)),
            MulticastOverflow::DropOldest => (Full::DropOldest, None),
            MulticastOverflow::Error => (Full::Fail, None),
        };
        let config = HubConfig {
            capacity,
            replay: 0,
            full,
            prefetch,
        };
        MulticastProcessor {
            hub: Hub::new(STAGE, config, dropper),
            overflow,
            capacity,
        }
    }

    /// Calls `f` with every dropped item and its reason, on the thread that dropped it.
    /// Call it right after [`new`](Self::new): it starts a fresh processor, so clones
    /// made before do not share it.
    pub fn on_drop<F>(self, f: F) -> Self
    where
        F: Fn(T, DropReason) + Send + Sync + 'static,
    {
        let dropper = Dropper::new(self.hub.stats(), Some(support::on_drop(f)));
        Self::build(self.overflow, self.capacity, dropper)
    }

    /// Pushes an item to every current subscriber. `Ok(n)`: queued for `n` subscribers
    /// (0: held for the first subscriber to come). Each subscriber receives it when it
    /// has demand; under [`MulticastOverflow::DropOldest`] an older item may have been
    /// evicted to make room (see [`stats`](Self::stats)).
    ///
    /// # Errors
    /// The item comes back in a [`TryEmitError`]: `Full` (Buffer policy, try again
    /// later), `Overflow` (Error policy: the processor failed now), `Closed`.
    pub fn try_next(&self, item: T) -> Result<usize, TryEmitError<T>> {
        match self.hub.push(item, false) {
            Pushed::Accepted(n) => Ok(n),
            Pushed::Refused(item) => Err(TryEmitError::Full(item)),
            Pushed::Overflow(item) => Err(TryEmitError::Overflow(item)),
            Pushed::Closed(item) => Err(TryEmitError::Closed(item)),
        }
    }

    /// Completes every subscriber, after the items queued for it; cancels the upstream
    /// if it relays one. Later calls and pushes are refused.
    pub fn complete(&self) {
        self.hub.terminate(Ok(()), true);
    }

    /// Fails every subscriber with `error`, after the items queued for it; cancels the
    /// upstream if it relays one.
    pub fn error(&self, error: E) {
        self.hub.terminate(Err(Error::User(error)), true);
    }

    /// The live statistics (shared by all clones).
    pub fn stats(&self) -> FlowStats {
        self.hub.stats()
    }

    /// How many subscribers are attached now.
    pub fn subscriber_count(&self) -> usize {
        self.hub.subscriber_count()
    }

    /// True once completed or failed.
    pub fn is_terminated(&self) -> bool {
        self.hub.is_terminated()
    }
}

impl<T, E> Publisher for MulticastProcessor<T, E>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    type Item = T;
    type Error = E;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = T, Error = E>,
    {
        self.hub.subscribe::<Named, _>(subscriber);
    }
}

/// The relay side: subscribed to an upstream, the processor requests `capacity` and
/// replenishes at 75% (Buffer) or requests unbounded demand (other policies); upstream's
/// items are pushed as with `try_next` (an item beyond the requested demand under Buffer
/// fails the processor with [`Error::ProtocolViolation`]), its terminal signal is
/// forwarded. A second `on_subscribe` is cancelled (rule 2.5).
impl<T, E> Subscriber for MulticastProcessor<T, E>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.hub.on_upstream_subscribe(subscription);
    }

    fn on_next(&mut self, item: T) {
        self.hub.on_upstream_next(item);
    }

    fn on_error(&mut self, error: Error<E>) {
        self.hub.terminate(Err(error), false);
    }

    fn on_complete(&mut self) {
        self.hub.terminate(Ok(()), false);
    }

    fn context(&self) -> Context {
        self.hub.context()
    }
}

impl<T, E> fmt::Debug for MulticastProcessor<T, E>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MulticastProcessor")
            .field("overflow", &self.overflow)
            .field("capacity", &self.capacity)
            .field("subscribers", &self.hub.subscriber_count())
            .field("stats", &self.hub.stats())
            .finish()
    }
}
