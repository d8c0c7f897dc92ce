//! `publish_on`: hands a pipeline's signals to another execution context through a
//! bounded queue, with batched requests upstream.
//!
//! # The hand-off
//! Two sides share one `Mutex<Queue>`:
//! * the **producer** (upstream's subscriber, on upstream's thread) pushes each item
//!   under the lock; if the consumer had *parked* (found the queue empty), it clears the
//!   flag and signals the drain, otherwise it does nothing more;
//! * the **consumer** (the drain loop, on the scheduler) swaps the whole queue with its
//!   own empty buffer in one lock and delivers the batch without any lock.
//!
//! So a busy consumer costs the producer one uncontended lock per item and nothing else
//! (no allocation: the two buffers keep their capacity; no task, no wake-up), and the
//! consumer one lock per batch. The drain is scheduled (one task) only when it goes from
//! idle to busy.
//!
//! Why no wake-up is lost: `parked` and the queue are only read and written together
//! under the lock. The consumer sets `parked` in the same critical section in which it
//! saw the queue empty; a later push sees `parked` and signals. A signal is the usual
//! work-in-progress counter: whoever moves `wip` from zero schedules the drain, which
//! loops until it has accounted for every increment, so a signal raised while the drain
//! runs makes it pass once more. Demand (`requested`) and the flags are atomics read at
//! the start of each pass, after the `wip` increment of whoever changed them.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use spillway_core::{
    AtomicDemand, ConfigError, Context, Error, Publisher, Scheduler, SharedSubscription,
    Subscriber, Subscription, Task,
};

use crate::support::{lock, UpstreamSlot};

const STAGE: &str = "publish_on";

const CANCELLED: u8 = 1;
const BAD_REQUEST: u8 = 2;

/// Publisher for the [`publish_on`](crate::OperatorExt::publish_on) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct PublishOn<P, S> {
    upstream: P,
    scheduler: S,
    prefetch: usize,
}

impl<P, S> PublishOn<P, S> {
    pub(crate) fn new(upstream: P, scheduler: S, prefetch: usize) -> Result<Self, ConfigError> {
        if prefetch == 0 {
            return Err(ConfigError::new(STAGE, "the prefetch must be at least 1"));
        }
        Ok(PublishOn {
            upstream,
            scheduler,
            prefetch,
        })
    }
}

impl<P: fmt::Debug, S: fmt::Debug> fmt::Debug for PublishOn<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublishOn")
            .field("upstream", &self.upstream)
            .field("scheduler", &self.scheduler)
            .field("prefetch", &self.prefetch)
            .finish()
    }
}

impl<P, S> Publisher for PublishOn<P, S>
where
    P: Publisher,
    S: Scheduler,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<D>(self, downstream: D)
    where
        D: Subscriber<Item = P::Item, Error = P::Error>,
    {
        let context = downstream.context();
        let prefetch = self.prefetch;
        let shared = Arc::new_cyclic(|me| Shared {
            queue: Mutex::new(Queue {
                items: VecDeque::with_capacity(prefetch.min(INITIAL_CAPACITY)),
                end: None,
                parked: true,
                closed: false,
            }),
            // We own the drain while on_subscribe runs.
            wip: AtomicUsize::new(1),
            requested: AtomicDemand::new(),
            flags: AtomicU8::new(0),
            upstream: UpstreamSlot::default(),
            allowed: AtomicU64::new(0),
            scheduler: self.scheduler,
            prefetch: prefetch as u64,
            limit: (prefetch - prefetch / 4) as u64,
            drain: Mutex::new(DrainState {
                downstream: None,
                local: VecDeque::with_capacity(prefetch.min(INITIAL_CAPACITY)),
                consumed: 0,
            }),
            me: me.clone(),
        });
        let subscription: SharedSubscription = shared.clone();
        let mut downstream = downstream;
        downstream.on_subscribe(subscription);
        lock(&shared.drain).downstream = Some(downstream);
        // Hand the drain over: if downstream requested (or cancelled) inside
        // on_subscribe, the drain runs on the scheduler now.
        if shared
            .wip
            .compare_exchange(1, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            shared.schedule();
        }
        self.upstream.subscribe(Producer {
            shared,
            context,
            received: 0,
            done: false,
        });
    }
}

/// How many times the consumer looks again (with growing pauses) before parking.
const SPIN_STEPS: u32 = 10;

/// Buffers start this large (or at the prefetch, if smaller) and grow to the prefetch.
const INITIAL_CAPACITY: usize = 1024;

/// What the producer and the consumer share, under one lock.
struct Queue<T, E> {
    items: VecDeque<T>,
    /// Upstream's terminal signal, delivered after the queued items.
    end: Option<Result<(), Error<E>>>,
    /// The consumer found the queue empty and stopped: the next push signals it.
    parked: bool,
    /// Downstream cancelled or the stage terminated: late items are dropped.
    closed: bool,
}

/// The consumer's own state: only the drain owner locks it (uncontended).
struct DrainState<T, D> {
    downstream: Option<D>,
    /// The batch being delivered, swapped out of the queue in one lock.
    local: VecDeque<T>,
    /// Items delivered since the last replenishing request.
    consumed: u64,
}

struct Shared<T, E, S, D> {
    queue: Mutex<Queue<T, E>>,
    wip: AtomicUsize,
    requested: AtomicDemand,
    flags: AtomicU8,
    upstream: UpstreamSlot,
    /// Total requested upstream: a producer that receives more fails with `Overflow`.
    allowed: AtomicU64,
    scheduler: S,
    prefetch: u64,
    /// Replenish by this much each time this many items were delivered (75 %).
    limit: u64,
    drain: Mutex<DrainState<T, D>>,
    me: Weak<Self>,
}

impl<T, E, S, D> Shared<T, E, S, D>
where
    T: Send + 'static,
    E: Send + 'static,
    S: Scheduler,
    D: Subscriber<Item = T, Error = E>,
{
    /// Records that there is work; schedules the drain if it was idle.
    fn signal(&self) {
        if self.wip.fetch_add(1, Ordering::AcqRel) == 0 {
            self.schedule();
        }
    }

    /// Runs the drain on the scheduler (the caller owns `wip`).
    fn schedule(&self) {
        if let Some(me) = self.me.upgrade() {
            self.scheduler
                .schedule(Duration::ZERO, Task::once(move || me.run()));
        }
    }

    /// The drain loop, on the scheduler's thread (or on the thread that cancels).
    fn run(&self) {
        let mut missed = 1;
        loop {
            self.pass_guarded();
            let before = self.wip.fetch_sub(missed, Ordering::AcqRel);
            if before == missed {
                return;
            }
            missed = before - missed;
        }
    }

    /// A panic in the downstream subscriber (rule 2.13) cancels upstream, releases the
    /// subscriber and the queued items, and is re-raised to the scheduler.
    fn pass_guarded(&self) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| self.pass())) {
            self.flags.fetch_or(CANCELLED, Ordering::AcqRel);
            self.upstream.cancel();
            self.close();
            resume_unwind(payload);
        }
    }

    /// Releases the downstream subscriber and every queued item.
    fn close(&self) {
        let (downstream, local) = {
            let mut d = lock(&self.drain);
            (d.downstream.take(), std::mem::take(&mut d.local))
        };
        let items = {
            let mut q = lock(&self.queue);
            q.closed = true;
            std::mem::take(&mut q.items)
        };
        drop((downstream, local, items));
    }

    /// Backs off a little (spins, then yields) while the queue stays empty: true once it
    /// has items or an end, false after parking the consumer. Bounded: a few
    /// microseconds, or a cancel.
    fn spin_for_items(&self) -> bool {
        for step in 0..SPIN_STEPS {
            if step < 6 {
                for _ in 0..(1u32 << step) {
                    std::hint::spin_loop();
                }
            } else {
                std::thread::yield_now();
            }
            if self.flags.load(Ordering::Acquire) != 0 {
                return true; // the pass handles it
            }
            let q = lock(&self.queue);
            if !q.items.is_empty() || q.end.is_some() {
                return true;
            }
        }
        let mut q = lock(&self.queue);
        if q.items.is_empty() && q.end.is_none() {
            q.parked = true;
            return false;
        }
        true
    }

    fn pass(&self) {
        let mut guard = lock(&self.drain);
        let d = &mut *guard;
        if d.downstream.is_none() {
            return; // terminated or cancelled
        }
        let mut demand = self.requested.get();
        let mut emitted = 0u64;
        loop {
            let flags = self.flags.load(Ordering::Acquire);
            if flags != 0 {
                drop(guard);
                self.upstream.cancel();
                let downstream = lock(&self.drain).downstream.take();
                self.close();
                if flags & CANCELLED == 0 {
                    if let Some(mut downstream) = downstream {
                        downstream.on_error(Error::InvalidRequest { stage: STAGE });
                    }
                }
                return;
            }
            if d.local.is_empty() {
                let mut q = lock(&self.queue);
                if q.items.is_empty() {
                    match q.end.take() {
                        Some(end) => {
                            q.closed = true;
                            drop(q);
                            let downstream = d.downstream.take();
                            drop(guard);
                            if let Some(mut downstream) = downstream {
                                match end {
                                    Ok(()) => downstream.on_complete(),
                                    Err(e) => downstream.on_error(e),
                                }
                            }
                            return;
                        }
                        None => {
                            // A busy producer is likely to push again within
                            // nanoseconds: look again a few times before parking, which
                            // would cost the producer a wake-up.
                            if emitted != demand.get() {
                                drop(q);
                                if self.spin_for_items() {
                                    continue;
                                }
                                break;
                            }
                            q.parked = true;
                            break;
                        }
                    }
                }
                std::mem::swap(&mut q.items, &mut d.local);
            }
            if emitted == demand.get() {
                // Settle once per pass, then look again: downstream may have requested
                // more meanwhile (from on_next, or from another thread).
                demand = self.requested.produced(emitted);
                emitted = 0;
                if demand.is_zero() {
                    break;
                }
            }
            let item = d.local.pop_front().expect("refilled above");
            d.downstream.as_mut().expect("checked above").on_next(item);
            emitted += 1;
            d.consumed += 1;
            if d.consumed == self.limit {
                d.consumed = 0;
                // Publish the allowance before asking, so the producer never sees items
                // it has not been allowed yet. Upstream may emit inside this call (on this
                // thread): its items go into the queue, which we do not hold.
                self.allowed.fetch_add(self.limit, Ordering::AcqRel);
                self.upstream.request(self.limit);
            }
        }
        self.requested.produced(emitted);
    }
}

impl<T, E, S, D> Subscription for Shared<T, E, S, D>
where
    T: Send + 'static,
    E: Send + 'static,
    S: Scheduler,
    D: Subscriber<Item = T, Error = E>,
{
    fn request(&self, n: u64) {
        if n == 0 {
            self.flags.fetch_or(BAD_REQUEST, Ordering::AcqRel);
        } else {
            self.requested.add(n);
        }
        self.signal();
    }

    fn cancel(&self) {
        if self.flags.fetch_or(CANCELLED, Ordering::AcqRel) & CANCELLED != 0 {
            return;
        }
        self.upstream.cancel();
        // Release at once, on this thread, if the drain is idle; otherwise the running
        // drain sees the flag at its next item and releases.
        if self.wip.fetch_add(1, Ordering::AcqRel) == 0 {
            self.run();
        }
    }
}

/// The upstream side: queues items for the drain.
struct Producer<T, E, S, D> {
    shared: Arc<Shared<T, E, S, D>>,
    context: Context,
    /// Items received, checked against what was requested (a non-compliant upstream).
    received: u64,
    /// A terminal signal or an overflow happened: late signals are ignored.
    done: bool,
}

impl<T, E, S, D> Producer<T, E, S, D>
where
    T: Send + 'static,
    E: Send + 'static,
    S: Scheduler,
    D: Subscriber<Item = T, Error = E>,
{
    fn end(&mut self, end: Result<(), Error<E>>) {
        if self.done {
            return;
        }
        self.done = true;
        let mut q = lock(&self.shared.queue);
        if q.end.is_none() && !q.closed {
            q.end = Some(end);
        }
        q.parked = false;
        drop(q);
        self.shared.signal();
    }
}

impl<T, E, S, D> Subscriber for Producer<T, E, S, D>
where
    T: Send + 'static,
    E: Send + 'static,
    S: Scheduler,
    D: Subscriber<Item = T, Error = E>,
{
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let shared = &self.shared;
        if !shared.upstream.set(subscription.clone()) {
            return; // rule 2.5: a second subscription is refused
        }
        if shared.flags.load(Ordering::Acquire) & CANCELLED != 0 {
            subscription.cancel();
            return;
        }
        shared.allowed.fetch_add(shared.prefetch, Ordering::AcqRel);
        subscription.request(shared.prefetch);
    }

    fn on_next(&mut self, item: T) {
        if self.done {
            return;
        }
        let shared = &self.shared;
        self.received += 1;
        if self.received > shared.allowed.load(Ordering::Acquire) {
            // Upstream emitted more than requested: the queue would exceed its bound.
            drop(item);
            shared.upstream.cancel();
            self.end(Err(Error::Overflow {
                stage: STAGE,
                capacity: shared.prefetch as usize,
            }));
            return;
        }
        let mut q = lock(&shared.queue);
        if q.closed {
            return; // cancelled: `item` is dropped after the lock
        }
        q.items.push_back(item);
        let wake = std::mem::take(&mut q.parked);
        drop(q);
        if wake {
            shared.signal();
        }
    }

    fn on_error(&mut self, error: Error<E>) {
        self.end(Err(error));
    }

    fn on_complete(&mut self) {
        self.end(Ok(()));
    }

    fn context(&self) -> Context {
        self.context.clone()
    }
}
