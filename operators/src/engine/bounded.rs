//! The bounded queue shared by `on_backpressure_buffer`, `limit_rate` and `pressure`: an
//! upstream side that applies an overflow policy (or paces its requests between two
//! watermarks) and a downstream side run by the core drain loop.
//!
//! The downstream source settles demand item by item, so the upstream side can read
//! downstream's exact outstanding demand: `limit_rate`'s strict mode caps its requests
//! with it.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::{Arc, MutexGuard, Weak};
use std::task::Context as TaskContext;

use spillway_core::drain::{self, BatchContext, DrainHandle, Pulled, Source};
use spillway_core::{
    ConfigError, Context, Error, Publisher, SharedSubscription, Stage, Subscriber,
};

use crate::engine::queue::{Locked, QueueCore};
use crate::engine::support::{Dropper, Panic};
use crate::engine::StageName;
use crate::stats::{DropReason, LocalCounts};

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
    /// Fail with [`Error::Overflow`](spillway_core::Error::Overflow) naming the stage and
    /// capacity, losing as little as possible: upstream is cancelled and the overflowing
    /// item dropped ([`DropReason::BufferFull`]), the buffered items are still delivered
    /// as downstream requests them, then the error (Reactor's `ERROR` strategy).
    Fail,
    /// Fail at once with [`Error::Overflow`](spillway_core::Error::Overflow): upstream is
    /// cancelled, the buffered items and the overflowing one are dropped as
    /// [`DropReason::Discarded`].
    FailFast,
}

/// Follows a bounded queue's level (the `pressure` operator): told every new length under
/// the queue's lock, it reports the level changes it found once the lock is released.
pub(crate) trait LevelWatch: Send + Sync + 'static {
    /// Under the lock: the new length; true if the level changed (a report is due).
    fn update(&self, buffered: usize) -> bool;
    /// Outside the lock: reports the changes found so far; a panic in the user's
    /// callback is returned.
    fn report(&self) -> Result<(), Panic>;
}

/// A level change, found under the queue's lock and reported after it is released.
struct Reported;

/// The configuration of a bounded queue.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub(crate) capacity: usize,
    pub(crate) overflow: BufferOverflow,
    /// Backpressure policy: requests stop once `high` items are buffered or in flight...
    pub(crate) high: usize,
    /// ...and resume, back up to `high`, when that has fallen to `low`.
    pub(crate) low: usize,
    /// Backpressure policy: never request more than downstream has requested.
    pub(crate) strict: bool,
}

impl Config {
    /// `capacity` items, paced by `overflow`, with the default watermarks (`capacity` and
    /// `capacity / 4`).
    pub(crate) fn new(capacity: usize, overflow: BufferOverflow) -> Config {
        let low = if capacity == usize::MAX {
            0
        } else {
            capacity / 4
        };
        Config {
            capacity,
            overflow,
            high: capacity,
            low,
            strict: false,
        }
    }

    /// Sets the watermarks, checking `0 < high <= capacity` and `low < high`.
    pub(crate) fn watermarks(
        mut self,
        stage: Stage,
        high: usize,
        low: usize,
    ) -> Result<Config, ConfigError> {
        if high == 0 || high > self.capacity {
            return Err(ConfigError::new(
                stage,
                "the high watermark must be between 1 and the capacity",
            ));
        }
        if low >= high {
            return Err(ConfigError::new(
                stage,
                "the low watermark must be below the high watermark",
            ));
        }
        self.high = high;
        self.low = low;
        Ok(self)
    }
}

/// A bounded queue's own counters, kept under the queue's lock.
struct Pacing {
    /// Requested from upstream and not yet received (Backpressure policy only).
    in_flight: u64,
    /// Upstream's subscription arrived: requests can be made.
    subscribed: bool,
    paused: bool,
    /// `received`, `emitted` and the peak, counted under this lock and published with
    /// plain stores (this stage is their only writer).
    counts: LocalCounts,
}

type Inner<T, E> = Locked<VecDeque<T>, Pacing, E>;

struct Shared<T: Send + 'static, E> {
    core: QueueCore<VecDeque<T>, Pacing, E>,
    config: Config,
    watch: Option<Box<dyn LevelWatch>>,
}

impl<T: Send + 'static, E> Shared<T, E> {
    fn lock(&self) -> MutexGuard<'_, Inner<T, E>> {
        self.core.lock()
    }

    /// Backpressure policy: how much to request so that buffered + in flight goes back up
    /// to the high watermark (capped by downstream's demand in strict mode), once it has
    /// fallen to the low one.
    fn replenish(&self, inner: &mut Inner<T, E>) -> u64 {
        let c = &self.config;
        if c.overflow != BufferOverflow::Backpressure
            || !inner.state.subscribed
            || !inner.life.is_open()
        {
            return 0;
        }
        let outstanding = inner.held.len() as u64 + inner.state.in_flight;
        if outstanding > c.low as u64 {
            return 0;
        }
        let mut n = c.high as u64 - outstanding;
        if c.strict {
            n = n.min(self.core.drain.demand().get().saturating_sub(outstanding));
        }
        if n > 0 {
            inner.state.in_flight += n;
            inner.state.paused = false;
        }
        n
    }

    /// Publishes the buffer length; under the lock, so that level changes are seen in
    /// order. Returns the level change to report once the lock is released.
    fn set_buffered(&self, inner: &mut Inner<T, E>) -> Option<Reported> {
        let len = inner.held.len();
        inner.state.counts.buffered(&self.core.dropper.stats, len);
        self.watch
            .as_ref()
            .and_then(|w| w.update(len).then_some(Reported))
    }

    /// After items were queued: pauses upstream at the high watermark and publishes the
    /// level, then (outside the lock) reports it and wakes the drain if the queue had been
    /// empty (a queue that was not has a pass on its way, or waits for a request).
    fn queued(&self, mut inner: MutexGuard<'_, Inner<T, E>>, was_empty: bool) {
        let c = &self.config;
        if c.overflow == BufferOverflow::Backpressure
            && !inner.state.paused
            && inner.held.len() >= c.high
        {
            inner.state.paused = true;
            self.core.dropper.stats.record_paused();
        }
        let change = self.set_buffered(&mut inner);
        drop(inner);
        self.report(change);
        if was_empty {
            self.core.drain.signal();
        }
    }

    /// Reports a level change (outside the lock). A panic in the callback fails the
    /// stage: upstream is cancelled, the buffer discarded, downstream gets the error.
    fn report(&self, change: Option<Reported>) {
        let (Some(w), Some(Reported)) = (&self.watch, change) else {
            return;
        };
        if let Err(payload) = w.report() {
            self.fail_panicked(payload, true);
        }
    }

    /// A panic in user code (the pressure callback, `on_drop`): fails the stage with
    /// `Error::Panicked` delivered at once, discards the buffer (counted; `on_drop` is
    /// not called again if it is the culprit), cancels upstream unless it already ended.
    ///
    /// Nothing to fail if downstream is gone (its cancel already stopped upstream), or if
    /// the stage already failed (the first failure wins). With `over_upstream_error`
    /// false (a panic in `on_drop`), an error upstream already sent wins too: it waits
    /// behind the buffered items, which are still delivered.
    fn fail_panicked(&self, payload: Panic, over_upstream_error: bool) {
        let inner = self.lock();
        let life = &inner.life;
        if life.is_closed() || life.has_failed() || (!over_upstream_error && life.ends_in_error()) {
            return;
        }
        drop(inner);
        self.core.fail_panicked(payload, None);
    }

    /// Drops `items` for `reason` through `on_drop`; a panic in it fails the stage.
    fn drop_or_fail(&self, items: impl IntoIterator<Item = T>, reason: DropReason) {
        if let Err(payload) = self.core.dropper.try_drop_all(items, reason) {
            self.fail_panicked(payload, false);
        }
    }
}

/// A live subscription of a bounded queue that can give up part of its buffer at once
/// (the seed document's "emergency pressure release").
pub(crate) trait Release: Send + Sync {
    /// Drops the oldest `fraction` (0.0..=1.0) of the buffered items, counted as
    /// [`DropReason::Evicted`] and passed to `on_drop`; returns how many were dropped.
    fn release(&self, fraction: f64) -> usize;
}

impl<T: Send + 'static, E: Send + 'static> Release for Shared<T, E> {
    fn release(&self, fraction: f64) -> usize {
        let mut inner = self.lock();
        let len = inner.held.len();
        let n = ((len as f64) * fraction.clamp(0.0, 1.0)).floor() as usize;
        let released: Vec<T> = inner.held.drain(..n).collect();
        let change = self.set_buffered(&mut inner);
        // Room was made: a paused upstream may be resumed at once.
        let more = self.replenish(&mut inner);
        drop(inner);
        self.report(change);
        // Requested before `on_drop` runs: if it panics, the failure cancels upstream.
        self.core.upstream.request(more);
        self.drop_or_fail(released, DropReason::Evicted);
        n
    }
}

/// Subscribes `subscriber` to `upstream` through a bounded queue; returns a weak handle
/// for [`Release`].
pub(crate) fn subscribe<P, K, S>(
    upstream: P,
    subscriber: S,
    config: Config,
    dropper: Dropper<P::Item>,
    watch: Option<Box<dyn LevelWatch>>,
) -> Weak<dyn Release>
where
    P: Publisher,
    K: StageName,
    S: Subscriber<Item = P::Item, Error = P::Error>,
{
    let subscriber = crate::named::attach(K::STAGE, Some(&dropper.stats), subscriber);
    let context = subscriber.context();
    let counts = dropper.stats.local_counts();
    let pacing = Pacing {
        in_flight: 0,
        subscribed: false,
        paused: false,
        counts,
    };
    let shared = Arc::new(Shared {
        core: QueueCore::new(K::STAGE, VecDeque::new(), pacing, dropper),
        config,
        watch,
    });
    drain::start(
        BufferSource::<_, _, K> {
            shared: Arc::clone(&shared),
            handed_out: Vec::new(),
            _stage: PhantomData,
        },
        subscriber,
    );
    let release: Arc<dyn Release> = shared.clone();
    upstream.subscribe(BufferUpstream::<_, _, K> {
        shared,
        context,
        taken: Vec::new(),
        _stage: PhantomData,
    });
    Arc::downgrade(&release)
}

/// The downstream side: the drain loop pulls buffered items from here.
struct BufferSource<T: Send + 'static, E, K> {
    shared: Arc<Shared<T, E>>,
    /// A fused batch taken out of the queue in one lock (reused, so no allocation per
    /// batch once warm).
    handed_out: Vec<T>,
    _stage: PhantomData<fn() -> K>,
}

impl<T: Send + 'static, E: Send + 'static, K: StageName> Source for BufferSource<T, E, K> {
    type Item = T;
    type Error = E;
    const STAGE: &'static str = K::STAGE;
    const SETTLES_DEMAND: bool = true;

    fn attach(&mut self, drain: DrainHandle) {
        self.shared.core.drain.set(drain);
    }

    fn pull(&mut self, _cx: &mut TaskContext<'_>) -> Pulled<T, E> {
        let shared = &self.shared;
        let mut inner = shared.lock();
        if let Some(failure) = inner.life.take_failure() {
            return failure;
        }
        let item = inner.held.pop_front();
        let mut change = None;
        if item.is_some() {
            shared.core.drain.produced_one();
            change = shared.set_buffered(&mut inner);
            inner.state.counts.emitted(&shared.core.dropper.stats);
        }
        let more = shared.replenish(&mut inner);
        let pulled = match item {
            Some(item) => Pulled::Item(item),
            None => inner.life.take_end().unwrap_or(Pulled::Pending),
        };
        drop(inner);
        // Report before requesting: the request may deliver items (and their level
        // changes) reentrantly, which must come after this one.
        shared.report(change);
        shared.core.upstream.request(more);
        pulled
    }

    /// Fused: up to the outstanding demand is taken from the queue in one lock, settled
    /// (as `pull` settles one item), and offered as one batch; what the chain did not use
    /// is given back, and what it left goes back to the front of the queue.
    fn pull_batch<Sub>(&mut self, sink: &mut Sub, batch: &BatchContext) -> Option<u64>
    where
        Sub: Subscriber<Item = T, Error = E>,
    {
        let shared = &self.shared;
        let mut inner = shared.lock();
        let limit = batch.limit().min(batch.max_items());
        let n = usize::try_from(limit).map_or(inner.held.len(), |l| l.min(inner.held.len()));
        if n == 0 || inner.life.has_failed() {
            return None; // `pull` delivers the end, the failure, or waits
        }
        self.handed_out.extend(inner.held.drain(..n));
        shared.core.drain.produced(n as u64);
        let change = shared.set_buffered(&mut inner);
        inner
            .state
            .counts
            .emitted_n(&shared.core.dropper.stats, n as i64);
        let more = shared.replenish(&mut inner);
        drop(inner);
        shared.report(change);
        shared.core.upstream.request(more);

        batch.set_within_limit(true);
        let mut offered = self.handed_out.drain(..);
        let used = sink.on_next_batch(&mut offered, batch);
        let left: Vec<T> = offered.collect();
        let taken = n - left.len();
        // Discarded by a filter, or left: not delivered, so their demand is still owed.
        shared
            .core
            .drain
            .restore((n as u64).saturating_sub(used.min(taken as u64)));
        if !left.is_empty() {
            let mut inner = shared.lock();
            inner
                .state
                .counts
                .emitted_n(&shared.core.dropper.stats, -(left.len() as i64));
            for item in left.into_iter().rev() {
                inner.held.push_front(item);
            }
            let change = shared.set_buffered(&mut inner);
            drop(inner);
            shared.report(change);
        }
        Some(used)
    }

    fn poll_end(&mut self, _cx: &mut TaskContext<'_>) -> Option<Pulled<T, E>> {
        self.shared.core.poll_end()
    }
}

impl<T: Send + 'static, E, K> Drop for BufferSource<T, E, K> {
    fn drop(&mut self) {
        // Downstream cancelled, or the stage terminated: stop upstream and account for
        // whatever is still buffered (a panic in `on_drop` here has nobody left to go to:
        // caught and ignored).
        let shared = &self.shared;
        let mut inner = shared.lock();
        let cancel = inner.life.close();
        let left: Vec<T> = inner.held.drain(..).collect();
        let change = shared.set_buffered(&mut inner);
        drop(inner);
        if cancel {
            shared.core.upstream.cancel();
        }
        shared.report(change);
        shared
            .core
            .dropper
            .discard_quietly(left, DropReason::Discarded);
    }
}

/// The most items a fused batch from upstream collects before they are queued.
const QUEUE_RUN: usize = 256;

/// The upstream side: receives items and applies the overflow policy.
struct BufferUpstream<T: Send + 'static, E, K> {
    shared: Arc<Shared<T, E>>,
    context: Context,
    /// A fused batch taken from upstream before it is queued in one lock (reused). If
    /// upstream's code panics mid-batch, what it produced so far is queued by `on_error`,
    /// ahead of the error.
    taken: Vec<T>,
    _stage: PhantomData<fn() -> K>,
}

impl<T: Send + 'static, E: Send + 'static, K: StageName> BufferUpstream<T, E, K> {
    /// Queues the items of `taken`: as many as fit in one lock, with one drain signal; the
    /// rest one by one through `on_next`, which applies the overflow policy. Returns false
    /// once the stage takes no more items (they would only be discarded).
    fn queue_taken(&mut self) -> bool {
        if self.taken.is_empty() {
            return true;
        }
        let shared = &self.shared;
        let stats = &shared.core.dropper.stats;
        let c = shared.config;
        let mut inner = shared.lock();
        let open = inner.life.is_open();
        let fits = if open {
            (c.capacity - inner.held.len()).min(self.taken.len())
        } else {
            0
        };
        if fits > 0 {
            let was_empty = inner.held.is_empty();
            inner.state.counts.received_n(stats, fits as u64);
            inner.state.in_flight = inner.state.in_flight.saturating_sub(fits as u64);
            inner.held.extend(self.taken.drain(..fits));
            shared.queued(inner, was_empty);
        } else {
            drop(inner);
        }
        if self.taken.is_empty() {
            return open;
        }
        let rest = std::mem::take(&mut self.taken);
        for item in rest {
            self.on_next(item);
        }
        self.shared.lock().life.is_open()
    }
}

impl<T: Send + 'static, E: Send + 'static, K: StageName> Subscriber for BufferUpstream<T, E, K> {
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let shared = &self.shared;
        shared.core.upstream_subscribed(subscription, |inner| {
            inner.state.subscribed = true;
            match shared.config.overflow {
                BufferOverflow::Backpressure => shared.replenish(inner),
                _ => u64::MAX,
            }
        });
    }

    /// Signals the drain only when something downstream can see changed: the queue went
    /// from empty to non-empty, or the stage failed. Every pass of the drain runs until
    /// its demand is used up or it found the queue empty (under this lock), so a queue
    /// that was not empty already has a pass on its way or waits for a request, which
    /// signals by itself. In particular an item dropped (or evicted) while the buffer is
    /// full costs the lock and the counters only: no drain pass.
    fn on_next(&mut self, item: T) {
        let shared = &self.shared;
        let stats = &shared.core.dropper.stats;
        let c = shared.config;
        let mut inner = shared.lock();
        inner.state.counts.received(stats);
        if !inner.life.is_open() {
            // Late (the stage is over): a panic in `on_drop` has nobody to go to.
            drop(inner);
            shared
                .core
                .dropper
                .discard_quietly(Some(item), DropReason::Discarded);
            return;
        }
        inner.state.in_flight = inner.state.in_flight.saturating_sub(1);
        let was_empty = inner.held.is_empty();
        if inner.held.len() < c.capacity {
            inner.held.push_back(item);
        } else {
            // Full (so not empty before, and not empty after): no drain signal.
            let (old, reason) = match c.overflow {
                BufferOverflow::DropNewest => (item, DropReason::BufferFull),
                BufferOverflow::DropOldest => {
                    let old = inner.held.pop_front();
                    inner.held.push_back(item);
                    (old.expect("full"), DropReason::Evicted)
                }
                BufferOverflow::KeepLatest => {
                    let old = inner.held.pop_back();
                    inner.held.push_back(item);
                    (old.expect("full"), DropReason::Superseded)
                }
                BufferOverflow::DropBuffer => {
                    let dropped: Vec<T> = inner.held.drain(..).collect();
                    inner.held.push_back(item);
                    let change = shared.set_buffered(&mut inner);
                    drop(inner);
                    shared.report(change);
                    shared.drop_or_fail(dropped, DropReason::BufferCleared);
                    return;
                }
                // Deliver what is buffered, then the error: only the overflowing item is
                // lost (the stage is failing already: a panic in `on_drop` is not news).
                BufferOverflow::Fail => {
                    let cancel = inner.life.finish(Err(Error::Overflow {
                        stage: K::STAGE,
                        capacity: c.capacity,
                    }));
                    drop(inner);
                    if cancel {
                        shared.core.upstream.cancel();
                    }
                    shared
                        .core
                        .dropper
                        .discard_quietly(Some(item), DropReason::BufferFull);
                    shared.core.drain.signal();
                    return;
                }
                // Backpressure only overflows if upstream sent more than requested.
                BufferOverflow::FailFast | BufferOverflow::Backpressure => {
                    let cancel = inner.life.fail(Error::Overflow {
                        stage: K::STAGE,
                        capacity: c.capacity,
                    });
                    let mut dropped: Vec<T> = inner.held.drain(..).collect();
                    dropped.push(item);
                    let change = shared.set_buffered(&mut inner);
                    drop(inner);
                    shared.report(change);
                    if cancel {
                        shared.core.upstream.cancel();
                    }
                    // The stage failed already: the overflow wins over a panic here.
                    shared
                        .core
                        .dropper
                        .discard_quietly(dropped, DropReason::Discarded);
                    shared.core.drain.signal();
                    return;
                }
            };
            // The length did not change: nothing to publish or report.
            drop(inner);
            shared.drop_or_fail(Some(old), reason);
            return;
        }
        shared.queued(inner, was_empty);
    }

    fn accepts_batches(&self) -> bool {
        true
    }

    /// Fused: the run is taken first, outside the lock (upstream's code runs as it is
    /// taken), then queued in one lock with one drain signal (see `queue_taken`).
    fn on_next_batch<I>(&mut self, items: I, batch: &BatchContext) -> u64
    where
        I: Iterator<Item = T>,
    {
        let limit = if batch.within_limit() {
            usize::MAX
        } else {
            usize::try_from(batch.limit()).unwrap_or(usize::MAX)
        };
        let mut items = items.take(limit);
        let mut used = 0;
        // In runs of at most `QUEUE_RUN`: an item produced slowly upstream waits for at
        // most that many more before downstream can see it.
        loop {
            self.taken.extend(items.by_ref().take(QUEUE_RUN));
            let n = self.taken.len() as u64;
            if n == 0 {
                return used;
            }
            used += n;
            if !self.queue_taken() {
                // Closed (cancelled or failed): take no more; what is left stays upstream.
                return used;
            }
        }
    }

    fn on_error(&mut self, error: Error<E>) {
        let _ = self.queue_taken();
        self.shared.core.upstream_ended(Err(error), |_| {});
    }

    fn on_complete(&mut self) {
        let _ = self.queue_taken();
        self.shared.core.upstream_ended(Ok(()), |_| {});
    }

    fn context(&self) -> Context {
        self.context.clone()
    }
}
