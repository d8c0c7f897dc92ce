//! `create`: a push source (callbacks, event emitters, other threads) with an explicit
//! overflow strategy for when the producer ignores demand.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::drain::{self, DrainHandle, Pulled, Source};
// The queue lock comes from the std-or-loom switch, so `create` can be model-checked.
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{lock, Condvar, Mutex, MutexGuard};
use crate::{Error, Publisher, Subscriber};

/// What [`create`] does with an item pushed while the subscriber has no demand for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverflowStrategy {
    /// Queue up to this many items beyond the demand; the next one fails the pipeline
    /// with [`Error::Overflow`] (and is handed back in [`EmitError::Overflow`]).
    Buffer(usize),
    /// Refuse the item: it is handed back in [`EmitError::Dropped`] and counted.
    Drop,
    /// Keep only the newest undelivered item, dropping (and counting) the one it replaces.
    Latest,
    /// Fail the pipeline with [`Error::Overflow`] at the first item without demand.
    Error,
}

/// Why [`Emitter::next`] did not accept an item; the item comes back to the producer, so
/// nothing disappears unseen.
#[derive(Clone, PartialEq, Eq)]
pub enum EmitError<T> {
    /// No demand and the strategy is [`OverflowStrategy::Drop`].
    Dropped(T),
    /// The strategy's bound was passed; the pipeline has failed with `Error::Overflow`.
    Overflow(T),
    /// The subscriber cancelled, or the emitter already completed or failed.
    Closed(T),
}

impl<T> EmitError<T> {
    /// The refused item.
    pub fn into_inner(self) -> T {
        match self {
            EmitError::Dropped(t) | EmitError::Overflow(t) | EmitError::Closed(t) => t,
        }
    }
}

impl<T> fmt::Debug for EmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EmitError::Dropped(_) => "Dropped(..)",
            EmitError::Overflow(_) => "Overflow(..)",
            EmitError::Closed(_) => "Closed(..)",
        })
    }
}

impl<T> fmt::Display for EmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EmitError::Dropped(_) => "create: item dropped: the subscriber has no demand",
            EmitError::Overflow(_) => "create: overflow: the buffer is full, the pipeline failed",
            EmitError::Closed(_) => "create: the subscription is closed",
        })
    }
}

impl<T> std::error::Error for EmitError<T> {}

/// Counters of an [`Emitter`], readable while the pipeline runs.
/// Invariant: `accepted = delivered + queued + dropped_after_accept`, where items refused
/// by [`Emitter::next`] count in `refused` and were never accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct EmitterStats {
    /// Items pushed with [`Emitter::next`].
    pub pushed: u64,
    /// Items delivered downstream.
    pub delivered: u64,
    /// Items handed back to the producer (Drop, Overflow, Closed).
    pub refused: u64,
    /// Accepted items later dropped: replaced under `Latest`, or discarded when the
    /// pipeline failed with an overflow or was cancelled.
    pub evicted: u64,
    /// Items waiting in the queue now.
    pub queued: u64,
    /// The largest the queue has been.
    pub peak_queued: u64,
}

enum Terminal<E> {
    Complete,
    Error(Error<E>),
}

struct Queue<T, E> {
    items: VecDeque<T>,
    /// A terminal signal from the producer, delivered after the queued items.
    terminal: Option<Terminal<E>>,
    /// An overflow failure, delivered at once.
    overflow: Option<Error<E>>,
    closed: bool,
    /// Producers blocked on `demand_changed` in `wait_for_demand`. Counted under this lock
    /// so that the drain, which runs dry once per item when the consumer keeps up, only
    /// pays for a condvar notification (a system call) when someone is waiting.
    waiters: usize,
    /// Wakers of pending `demand_ready()` futures, registered under this lock for the same
    /// reason.
    demand_wakers: Vec<Waker>,
    /// The counters of [`EmitterStats`], kept under this lock (which every push and pull
    /// takes anyway) as plain integers: no atomic read-modify-write per item.
    counts: Counts,
}

#[derive(Default)]
struct Counts {
    pushed: u64,
    delivered: u64,
    refused: u64,
    evicted: u64,
    peak: u64,
}

struct Shared<T, E> {
    queue: Mutex<Queue<T, E>>,
    /// Producers blocked in `wait_for_demand`, woken when demand appears or it all ends.
    demand_changed: Condvar,
    drain: OnceLock<DrainHandle>,
    strategy: OverflowStrategy,
    /// Whether `pull` may find anything to do: an item, a terminal signal, an overflow, or
    /// producers waiting for demand. Raised under the queue lock wherever one of these
    /// appears (before the drain is signalled), lowered under it by `pull` when it leaves
    /// none; `pull` reads it without the lock and returns `Pending` at once when it is
    /// down. The drain runs dry once per item when the consumer keeps up, and that second
    /// pull would otherwise cost a lock.
    work: AtomicBool,
}

impl<T, E> Shared<T, E> {
    fn lock(&self) -> MutexGuard<'_, Queue<T, E>> {
        lock(&self.queue)
    }
    fn signal(&self) {
        if let Some(d) = self.drain.get() {
            d.signal();
        }
    }
    fn demand(&self) -> u64 {
        self.drain.get().map_or(0, |d| d.demand().get())
    }

    /// Free demand as the producer sees it: outstanding demand less what is queued.
    fn free_demand(&self, q: &Queue<T, E>) -> u64 {
        let demand = self.demand();
        if demand == u64::MAX {
            return u64::MAX;
        }
        demand.saturating_sub(q.items.len() as u64)
    }

    /// Queues an accepted item and wakes the drain.
    #[inline]
    fn accept(&self, mut q: MutexGuard<'_, Queue<T, E>>, item: T) -> Result<(), EmitError<T>> {
        q.items.push_back(item);
        self.raise();
        let len = q.items.len() as u64;
        if len > q.counts.peak {
            q.counts.peak = len;
        }
        drop(q);
        self.signal();
        Ok(())
    }

    /// Something for `pull` to do appeared (called under the queue lock).
    #[inline]
    fn raise(&self) {
        self.work.store(true, Ordering::Release);
    }

    fn ended(&self, q: &Queue<T, E>) -> bool {
        q.closed || self.drain.get().is_some_and(|d| d.is_cancelled())
    }

    /// Wakes producers waiting for demand (called when the drain finds demand it cannot
    /// serve from the queue, and when the subscription ends), if there are any: waiters
    /// register under the queue lock, which the caller hands over, so none is missed.
    #[inline]
    fn notify_demand(&self, q: MutexGuard<'_, Queue<T, E>>) {
        // The common case (the drain runs dry once per item when the consumer keeps up):
        // nobody waits, only the lock to release.
        if q.waiters == 0 && q.demand_wakers.is_empty() {
            return;
        }
        self.wake_demand(q);
    }

    #[cold]
    fn wake_demand(&self, mut q: MutexGuard<'_, Queue<T, E>>) {
        let blocked = q.waiters > 0;
        let wakers = if q.demand_wakers.is_empty() {
            Vec::new()
        } else {
            std::mem::take(&mut q.demand_wakers)
        };
        drop(q);
        if blocked {
            self.demand_changed.notify_all();
        }
        for w in wakers {
            w.wake();
        }
    }
}

/// The producer's side of [`create`]: cheap to clone, usable from any thread.
pub struct Emitter<T, E> {
    shared: Arc<Shared<T, E>>,
}

impl<T, E> Clone for Emitter<T, E> {
    fn clone(&self) -> Self {
        Emitter {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T: Send + 'static, E: Send + 'static> Emitter<T, E> {
    /// Pushes one item. Within demand it is queued for delivery; beyond demand the
    /// [`OverflowStrategy`] decides, and a refused item comes back in the error.
    pub fn next(&self, item: T) -> Result<(), EmitError<T>> {
        let shared = &self.shared;
        let mut q = shared.lock();
        q.counts.pushed += 1;
        if q.closed || q.terminal.is_some() || q.overflow.is_some() || self.drain_cancelled() {
            q.counts.refused += 1;
            drop(q);
            return Err(EmitError::Closed(item));
        }
        let demand = shared.demand();
        let queued = q.items.len() as u64;
        let excess = queued.saturating_sub(demand);
        let within_demand = queued < demand;
        let accept = match shared.strategy {
            _ if within_demand => true,
            OverflowStrategy::Buffer(cap) => excess < cap as u64,
            OverflowStrategy::Drop => {
                q.counts.refused += 1;
                drop(q);
                return Err(EmitError::Dropped(item));
            }
            OverflowStrategy::Latest => {
                if excess > 0 {
                    let replaced = q.items.pop_back();
                    q.counts.evicted += 1;
                    // Dropped outside the lock: an item may run arbitrary Drop code.
                    let refused = shared.accept(q, item);
                    drop(replaced);
                    return refused;
                }
                true
            }
            OverflowStrategy::Error => false,
        };
        if !accept {
            let capacity = match shared.strategy {
                OverflowStrategy::Buffer(cap) => cap,
                _ => 0,
            };
            self.shared.raise();
            q.overflow = Some(Error::Overflow {
                stage: "create",
                capacity,
            });
            q.counts.refused += 1;
            drop(q);
            shared.signal();
            return Err(EmitError::Overflow(item));
        }
        shared.accept(q, item)
    }

    /// Completes the pipeline once the queued items are delivered.
    pub fn complete(&self) {
        self.terminate(Terminal::Complete);
    }

    /// Fails the pipeline with `Error::User(error)` once the queued items are delivered.
    pub fn error(&self, error: E) {
        self.terminate(Terminal::Error(Error::User(error)));
    }

    fn terminate(&self, terminal: Terminal<E>) {
        let mut q = self.shared.lock();
        if q.terminal.is_none() && !q.closed {
            q.terminal = Some(terminal);
            self.shared.raise();
        }
        drop(q);
        self.shared.signal();
    }

    /// How many more items the subscriber will accept now: its outstanding demand less
    /// what is already queued. A well-behaved producer pushes no more than this.
    pub fn requested(&self) -> u64 {
        let q = self.shared.lock();
        self.shared.free_demand(&q)
    }

    /// Blocks the calling (producer) thread until the subscriber has demand, the
    /// subscription ends, or `timeout` passes. Returns true if there is demand now.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_core::prelude::*;
    /// # futures::executor::block_on(async {
    /// let source = create(OverflowStrategy::Error, |e: Emitter<u32, std::convert::Infallible>| {
    ///     std::thread::spawn(move || {
    ///         for i in 0..100 {
    ///             // A polite producer: never pushes without demand.
    ///             if !e.wait_for_demand(Duration::from_secs(5)) { return; }
    ///             e.next(i).unwrap();
    ///         }
    ///         e.complete();
    ///     });
    /// });
    /// assert_eq!(source.into_stream(4).count().await, 100);
    /// # });
    /// # use futures::StreamExt;
    /// ```
    pub fn wait_for_demand(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut q = self.shared.lock();
        loop {
            if self.shared.ended(&q) {
                return false;
            }
            if self.shared.free_demand(&q) > 0 {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            q.waiters += 1;
            self.shared.raise();
            // A request that arrived after the check above may have run its drain pass
            // before `work` was raised, and found nothing to do: one more pass (outside
            // the lock: it may run here and take it) wakes this waiter if demand is there.
            drop(q);
            self.shared.signal();
            q = self.shared.lock();
            if self.shared.ended(&q) || self.shared.free_demand(&q) > 0 {
                q.waiters -= 1;
                continue;
            }
            q = self
                .shared
                .demand_changed
                .wait_timeout(q, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            q.waiters -= 1;
        }
    }

    /// A future that resolves when the subscriber has demand (`true`) or the subscription
    /// has ended (`false`): the async form of [`wait_for_demand`](Self::wait_for_demand).
    pub fn demand_ready(&self) -> DemandReady<T, E> {
        DemandReady {
            shared: Arc::clone(&self.shared),
        }
    }

    /// True once the subscriber cancelled or the pipeline ended: stop producing.
    pub fn is_cancelled(&self) -> bool {
        // `closed` covers a pipeline that ended (completed, failed, request(0)) while its
        // subscriber still holds the subscription, which keeps the drain alive.
        self.drain_cancelled() || self.shared.lock().closed
    }

    fn drain_cancelled(&self) -> bool {
        self.shared.drain.get().is_some_and(|d| d.is_cancelled())
    }

    /// The emitter's counters.
    pub fn stats(&self) -> EmitterStats {
        let q = self.shared.lock();
        let c = &q.counts;
        EmitterStats {
            pushed: c.pushed,
            delivered: c.delivered,
            refused: c.refused,
            evicted: c.evicted,
            queued: q.items.len() as u64,
            peak_queued: c.peak,
        }
    }
}

/// Future for [`Emitter::demand_ready`].
#[must_use = "futures do nothing unless polled"]
pub struct DemandReady<T, E> {
    shared: Arc<Shared<T, E>>,
}

impl<T, E> Future for DemandReady<T, E> {
    type Output = bool;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let shared = &self.shared;
        let mut q = shared.lock();
        if shared.ended(&q) {
            return Poll::Ready(false);
        }
        if shared.free_demand(&q) > 0 {
            return Poll::Ready(true);
        }
        // Registered under the queue lock, where `notify_demand` looks: not missed by a
        // pass that starts after it. A request that arrived after the check above may
        // have run its pass before `work` was raised: one more pass (outside the lock: it
        // may run here and take it) wakes this waker if demand is there.
        if !q.demand_wakers.iter().any(|w| w.will_wake(cx.waker())) {
            q.demand_wakers.push(cx.waker().clone());
            shared.raise();
            drop(q);
            shared.signal();
        }
        Poll::Pending
    }
}

impl<T, E> fmt::Debug for DemandReady<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemandReady").finish_non_exhaustive()
    }
}

impl<T, E> fmt::Debug for Emitter<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emitter")
            .field("strategy", &self.shared.strategy)
            .finish_non_exhaustive()
    }
}

/// Publisher for [`create`].
#[must_use = "publishers do nothing until subscribed"]
pub struct Create<T, E, F> {
    strategy: OverflowStrategy,
    producer: F,
    _types: std::marker::PhantomData<fn() -> (T, E)>,
}

/// A publisher fed by a push producer. `producer` is called once per subscription, after
/// `on_subscribe`, with an [`Emitter`] it may clone and move to other threads or register
/// as a callback. The emitter tells the producer the outstanding demand
/// ([`Emitter::requested`]); when the producer ignores it, `strategy` decides what
/// happens, and every refused item is handed back to the producer and counted.
///
/// A panic in `producer` fails the pipeline with [`Error::Panicked`].
///
/// ```
/// use spillway_core::prelude::*;
/// # futures::executor::block_on(async {
/// let events = create(OverflowStrategy::Buffer(16), |emitter: Emitter<u32, std::convert::Infallible>| {
///     std::thread::spawn(move || {
///         for i in 0..10 { emitter.next(i).unwrap(); }
///         emitter.complete();
///     });
/// });
/// assert_eq!(events.collect().await.unwrap(), (0..10).collect::<Vec<_>>());
/// # });
/// ```
pub fn create<T, E, F>(strategy: OverflowStrategy, producer: F) -> Create<T, E, F>
where
    T: Send + 'static,
    E: Send + 'static,
    F: FnOnce(Emitter<T, E>),
{
    Create {
        strategy,
        producer,
        _types: std::marker::PhantomData,
    }
}

struct CreateSource<T, E>(Arc<Shared<T, E>>);

impl<T, E> Drop for CreateSource<T, E> {
    fn drop(&mut self) {
        // Cancelled or terminated: whatever is still queued will never be delivered.
        let mut q = self.0.lock();
        q.closed = true;
        let left = q.items.len() as u64;
        let items = std::mem::take(&mut q.items);
        q.counts.evicted += left;
        self.0.notify_demand(q);
        drop(items); // outside the lock: items may run arbitrary Drop code
    }
}

impl<T: Send + 'static, E: Send + 'static> Source for CreateSource<T, E> {
    type Item = T;
    type Error = E;
    const STAGE: &'static str = "create";
    // The emitter decides on `demand - queued` under the queue lock, so an item must leave
    // the queue and the demand together, under that lock, not at the end of the drain
    // pass: otherwise a producer on another thread sees the taken item's demand as still
    // free and accepts an item beyond demand, which no overflow strategy then catches.
    const SETTLES_DEMAND: bool = true;

    fn attach(&mut self, drain: DrainHandle) {
        let _ = self.0.drain.set(drain);
    }

    fn pull(&mut self, _cx: &mut Context<'_>) -> Pulled<T, E> {
        if !self.0.work.load(Ordering::Acquire) {
            return Pulled::Pending;
        }
        let mut q = self.0.lock();
        if let Some(e) = q.overflow.take() {
            return Pulled::Error(e);
        }
        if let Some(item) = q.items.pop_front() {
            q.counts.delivered += 1;
            if let Some(d) = self.0.drain.get() {
                d.produced(1);
            }
            if q.items.is_empty()
                && q.terminal.is_none()
                && q.waiters == 0
                && q.demand_wakers.is_empty()
            {
                self.0.work.store(false, Ordering::Release);
            }
            return Pulled::Item(item);
        }
        match q.terminal.take() {
            Some(Terminal::Complete) => Pulled::Complete,
            Some(Terminal::Error(e)) => Pulled::Error(e),
            None => {
                // Only blocked producers keep work up: they are woken at each pass that
                // runs dry with demand; pending `demand_ready` futures are woken now and
                // register again (raising it) if they still find no demand.
                if q.waiters == 0 {
                    self.0.work.store(false, Ordering::Release);
                }
                // Demand is outstanding and nothing is queued: wake waiting producers.
                self.0.notify_demand(q);
                Pulled::Pending
            }
        }
    }

    fn poll_end(&mut self, _cx: &mut Context<'_>) -> Option<Pulled<T, E>> {
        let mut q = self.0.lock();
        if let Some(e) = q.overflow.take() {
            return Some(Pulled::Error(e));
        }
        if !q.items.is_empty() {
            return None;
        }
        match q.terminal.take() {
            Some(Terminal::Complete) => Some(Pulled::Complete),
            Some(Terminal::Error(e)) => Some(Pulled::Error(e)),
            None => None,
        }
    }
}

impl<T, E, F> Publisher for Create<T, E, F>
where
    T: Send + 'static,
    E: Send + 'static,
    F: FnOnce(Emitter<T, E>),
{
    type Item = T;
    type Error = E;
    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = T, Error = E>,
    {
        let shared = Arc::new(Shared {
            demand_changed: Condvar::new(),
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                terminal: None,
                overflow: None,
                closed: false,
                waiters: 0,
                demand_wakers: Vec::new(),
                counts: Counts::default(),
            }),
            drain: OnceLock::new(),
            strategy: self.strategy,
            work: AtomicBool::new(false),
        });
        drain::start(CreateSource(Arc::clone(&shared)), subscriber);
        let emitter = Emitter {
            shared: Arc::clone(&shared),
        };
        let producer = self.producer;
        if let Err(payload) = catch_unwind(AssertUnwindSafe(move || producer(emitter))) {
            let mut q = shared.lock();
            if q.terminal.is_none() {
                q.terminal = Some(Terminal::Error(Error::from_panic("create", payload)));
                shared.raise();
            }
            drop(q);
            shared.signal();
        }
    }
}

impl<T, E, F> fmt::Debug for Create<T, E, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Create")
            .field("strategy", &self.strategy)
            .finish_non_exhaustive()
    }
}
