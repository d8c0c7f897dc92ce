//! `on_backpressure_buffer`: a bounded buffer between a producer and a slower consumer,
//! with an overflow policy the user chooses and high/low watermarks.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Context as TaskContext;

use spillway_core::drain::{self, DrainHandle, Pulled, Source};
use spillway_core::{ConfigError, Context, Error, Publisher, SharedSubscription, Subscriber};

use crate::stats::{DropReason, FlowStats, OnDrop};
use crate::support::{self, DrainSlot, Dropper, UpstreamSlot};

const STAGE: &str = "on_backpressure_buffer";

/// What [`on_backpressure_buffer`](crate::OperatorExt::on_backpressure_buffer) does when
/// an item arrives and the buffer is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BufferOverflow {
    /// Never let it fill: request from upstream only what fits (between the watermarks),
    /// so a compliant upstream is paused instead of overflowing. Lossless.
    Backpressure,
    /// Drop the incoming item ([`DropReason::BufferFull`]).
    DropNewest,
    /// Evict the oldest buffered item to make room ([`DropReason::Evicted`]).
    DropOldest,
    /// Clear the whole buffer, then keep the incoming item ([`DropReason::BufferCleared`]).
    DropBuffer,
    /// Replace the newest buffered item with the incoming one ([`DropReason::Superseded`]).
    KeepLatest,
    /// Fail with [`Error::Overflow`] naming the stage and capacity; the buffered items are
    /// dropped as [`DropReason::Discarded`].
    Fail,
}

/// Publisher for the [`on_backpressure_buffer`](crate::OperatorExt::on_backpressure_buffer)
/// method.
#[must_use = "publishers do nothing until subscribed"]
pub struct OnBackpressureBuffer<P: Publisher> {
    upstream: P,
    config: Config,
    stats: FlowStats,
    on_drop: Option<OnDrop<P::Item>>,
}

#[derive(Debug, Clone, Copy)]
struct Config {
    capacity: usize,
    overflow: BufferOverflow,
    high: usize,
    low: usize,
}

impl<P: Publisher> OnBackpressureBuffer<P> {
    pub(crate) fn new(
        upstream: P,
        capacity: usize,
        overflow: BufferOverflow,
    ) -> Result<Self, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::new(STAGE, "the capacity must be at least 1"));
        }
        Ok(Self::unchecked(upstream, capacity, overflow))
    }

    pub(crate) fn unbounded(upstream: P) -> Self {
        Self::unchecked(upstream, usize::MAX, BufferOverflow::DropNewest)
    }

    fn unchecked(upstream: P, capacity: usize, overflow: BufferOverflow) -> Self {
        let high = capacity;
        let low = if capacity == usize::MAX {
            0
        } else {
            capacity / 4
        };
        OnBackpressureBuffer {
            upstream,
            config: Config {
                capacity,
                overflow,
                high,
                low,
            },
            stats: FlowStats::new(if capacity == usize::MAX { 0 } else { capacity }),
            on_drop: None,
        }
    }

    /// Sets the watermarks of the [`BufferOverflow::Backpressure`] policy: requests stop
    /// once `high` items are buffered or on their way, and resume in one batch (back up to
    /// `high`) when the buffer has drained to `low`. The default is `high = capacity`,
    /// `low = capacity / 4`.
    ///
    /// # Errors
    /// [`ConfigError`] unless `low < high <= capacity`, or if the policy is not
    /// `Backpressure` (the lossy policies request unbounded demand upstream).
    pub fn watermarks(mut self, high: usize, low: usize) -> Result<Self, ConfigError> {
        if self.config.overflow != BufferOverflow::Backpressure {
            return Err(ConfigError::new(
                STAGE,
                "watermarks apply to the Backpressure policy only",
            ));
        }
        if high == 0 || high > self.config.capacity {
            return Err(ConfigError::new(
                STAGE,
                "the high watermark must be between 1 and the capacity",
            ));
        }
        if low >= high {
            return Err(ConfigError::new(
                STAGE,
                "the low watermark must be below the high watermark",
            ));
        }
        self.config.high = high;
        self.config.low = low;
        Ok(self)
    }

    /// Calls `f` with every dropped item and the reason, on the thread that dropped it.
    pub fn on_drop<F>(mut self, f: F) -> Self
    where
        F: Fn(P::Item, DropReason) + Send + Sync + 'static,
    {
        self.on_drop = Some(support::on_drop(f));
        self
    }

    /// The live statistics of this stage (shared by all its subscriptions).
    pub fn stats(&self) -> FlowStats {
        self.stats.clone()
    }
}

struct Inner<T, E> {
    queue: VecDeque<T>,
    /// Requested from upstream and not yet received (Backpressure policy only).
    in_flight: u64,
    /// Upstream's terminal signal, delivered after the buffered items.
    end: Option<Result<(), Error<E>>>,
    /// An overflow failure, delivered at once.
    failed: Option<Error<E>>,
    /// Downstream cancelled or the stage terminated: late items are discarded.
    closed: bool,
    paused: bool,
}

struct Shared<T, E> {
    inner: Mutex<Inner<T, E>>,
    upstream: UpstreamSlot,
    drain: DrainSlot,
    config: Config,
    dropper: Dropper<T>,
}

impl<T, E> Shared<T, E> {
    fn lock(&self) -> MutexGuard<'_, Inner<T, E>> {
        support::lock(&self.inner)
    }

    /// Backpressure policy: how much to request so that buffered + in flight goes back up
    /// to the high watermark, once it has fallen to the low one.
    fn replenish(&self, inner: &mut Inner<T, E>) -> u64 {
        let c = &self.config;
        if c.overflow != BufferOverflow::Backpressure || inner.end.is_some() || inner.closed {
            return 0;
        }
        let outstanding = inner.queue.len() as u64 + inner.in_flight;
        if outstanding > c.low as u64 {
            return 0;
        }
        let n = c.high as u64 - outstanding;
        inner.in_flight += n;
        inner.paused = false;
        n
    }
}

impl<P> Publisher for OnBackpressureBuffer<P>
where
    P: Publisher,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        let context = subscriber.context();
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                in_flight: 0,
                end: None,
                failed: None,
                closed: false,
                paused: false,
            }),
            upstream: UpstreamSlot::default(),
            drain: DrainSlot::default(),
            config: self.config,
            dropper: Dropper::new(self.stats, self.on_drop),
        });
        drain::start(BufferSource(Arc::clone(&shared)), subscriber);
        self.upstream.subscribe(BufferUpstream { shared, context });
    }
}

/// The downstream side: the drain loop pulls buffered items from here.
struct BufferSource<T, E>(Arc<Shared<T, E>>);

impl<T: Send + 'static, E: Send + 'static> Source for BufferSource<T, E> {
    type Item = T;
    type Error = E;
    const STAGE: &'static str = STAGE;

    fn attach(&mut self, drain: DrainHandle) {
        self.0.drain.set(drain);
    }

    fn pull(&mut self, _cx: &mut TaskContext<'_>) -> Pulled<T, E> {
        let shared = &self.0;
        let mut inner = shared.lock();
        if let Some(e) = inner.failed.take() {
            return Pulled::Error(e);
        }
        if let Some(item) = inner.queue.pop_front() {
            shared.dropper.stats.set_buffered(inner.queue.len());
            shared.dropper.stats.record_emitted(1);
            let more = shared.replenish(&mut inner);
            drop(inner);
            shared.upstream.request(more);
            return Pulled::Item(item);
        }
        match inner.end.take() {
            Some(Ok(())) => Pulled::Complete,
            Some(Err(e)) => Pulled::Error(e),
            None => Pulled::Pending,
        }
    }

    fn poll_end(&mut self, _cx: &mut TaskContext<'_>) -> Option<Pulled<T, E>> {
        let mut inner = self.0.lock();
        if let Some(e) = inner.failed.take() {
            return Some(Pulled::Error(e));
        }
        if !inner.queue.is_empty() {
            return None;
        }
        match inner.end.take() {
            Some(Ok(())) => Some(Pulled::Complete),
            Some(Err(e)) => Some(Pulled::Error(e)),
            None => None,
        }
    }
}

impl<T, E> Drop for BufferSource<T, E> {
    fn drop(&mut self) {
        // Downstream cancelled, or the stage terminated: stop upstream and account for
        // whatever is still buffered.
        let mut inner = self.0.lock();
        inner.closed = true;
        let left: Vec<T> = inner.queue.drain(..).collect();
        let upstream_done = inner.end.is_some();
        drop(inner);
        self.0.dropper.stats.set_buffered(0);
        self.0.dropper.drop_all(left, DropReason::Discarded);
        if !upstream_done {
            self.0.upstream.cancel();
        }
    }
}

/// The upstream side: receives items and applies the overflow policy.
struct BufferUpstream<T, E> {
    shared: Arc<Shared<T, E>>,
    context: Context,
}

impl<T: Send + 'static, E: Send + 'static> Subscriber for BufferUpstream<T, E> {
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let shared = &self.shared;
        if !shared.upstream.set(subscription.clone()) {
            return; // rule 2.5: a second subscription is refused
        }
        let mut inner = shared.lock();
        if inner.closed {
            drop(inner);
            subscription.cancel();
            return;
        }
        let n = match shared.config.overflow {
            BufferOverflow::Backpressure => shared.replenish(&mut inner),
            _ => u64::MAX,
        };
        drop(inner);
        shared.upstream.request(n);
    }

    fn on_next(&mut self, item: T) {
        let shared = &self.shared;
        shared.dropper.stats.record_received();
        let c = shared.config;
        let mut inner = shared.lock();
        if inner.closed || inner.failed.is_some() {
            drop(inner);
            shared.dropper.drop_item(item, DropReason::Discarded);
            return;
        }
        let mut dropped: Vec<T> = Vec::new();
        let mut reason = DropReason::Discarded;
        let mut overflowed = false;
        inner.in_flight = inner.in_flight.saturating_sub(1);
        if inner.queue.len() < c.capacity {
            inner.queue.push_back(item);
        } else {
            match c.overflow {
                BufferOverflow::DropNewest => {
                    reason = DropReason::BufferFull;
                    dropped.push(item);
                }
                BufferOverflow::DropOldest => {
                    reason = DropReason::Evicted;
                    dropped.extend(inner.queue.pop_front());
                    inner.queue.push_back(item);
                }
                BufferOverflow::DropBuffer => {
                    reason = DropReason::BufferCleared;
                    dropped.extend(inner.queue.drain(..));
                    inner.queue.push_back(item);
                }
                BufferOverflow::KeepLatest => {
                    reason = DropReason::Superseded;
                    dropped.extend(inner.queue.pop_back());
                    inner.queue.push_back(item);
                }
                // Backpressure only overflows if upstream sent more than requested.
                BufferOverflow::Fail | BufferOverflow::Backpressure => {
                    overflowed = true;
                    inner.failed = Some(Error::Overflow {
                        stage: STAGE,
                        capacity: c.capacity,
                    });
                    dropped.extend(inner.queue.drain(..));
                    dropped.push(item);
                }
            }
        }
        if c.overflow == BufferOverflow::Backpressure
            && !inner.paused
            && inner.queue.len() >= c.high
        {
            inner.paused = true;
            shared.dropper.stats.record_paused();
        }
        shared.dropper.stats.set_buffered(inner.queue.len());
        drop(inner);
        if overflowed {
            shared.upstream.cancel();
        }
        shared.dropper.drop_all(dropped, reason);
        shared.drain.signal();
    }

    fn on_error(&mut self, error: Error<E>) {
        let mut inner = self.shared.lock();
        if inner.end.is_none() {
            inner.end = Some(Err(error));
        }
        drop(inner);
        self.shared.drain.signal();
    }

    fn on_complete(&mut self) {
        let mut inner = self.shared.lock();
        if inner.end.is_none() {
            inner.end = Some(Ok(()));
        }
        drop(inner);
        self.shared.drain.signal();
    }

    fn context(&self) -> Context {
        self.context.clone()
    }
}

impl<P: Publisher + fmt::Debug> fmt::Debug for OnBackpressureBuffer<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnBackpressureBuffer")
            .field("upstream", &self.upstream)
            .field("config", &self.config)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
