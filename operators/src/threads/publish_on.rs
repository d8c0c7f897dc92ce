//! `publish_on`: hands a pipeline's signals to another execution context through a
//! bounded queue, with batched requests upstream.
//!
//! # The hand-off
//! The two sides share a single-producer / single-consumer ring
//! ([`handoff::channel`](spillway_core::handoff::channel), capacity = `prefetch`): the
//! upstream's signals are serial, and the drain has one owner, so each side owns its end
//! and the ring needs no read-modify-write.
//! * the **producer** (upstream's subscriber, on upstream's thread) takes a fused batch
//!   from upstream (`accepts_batches`) as one run: the items go into the ring and are
//!   published with one index store, then one check of the consumer's state (one fence)
//!   tells whether the consumer had *parked* (found the ring empty and stopped), in
//!   which case it signals the drain. Single items (a non-fusing upstream) cost the same
//!   per item. A busy consumer costs it nothing more: no lock, no allocation, no task,
//!   no system call;
//! * the **consumer** (the drain loop, on the scheduler) takes runs of items from the
//!   ring and delivers as many as demand allows per pass (one `on_next_batch` per run
//!   when downstream fuses batches), frees their slots with one index store per run,
//!   settles demand once per pass and requests replenishment `prefetch - prefetch/4` at
//!   a time. When the ring runs empty it looks again for a little while (a busy
//!   producer is likely to push within microseconds) before parking.
//!
//! The ring never overflows for a compliant upstream: it may only send what was
//! requested, and requests are made for slots already emptied. The producer checks that
//! (against a cached copy of the allowance) and fails the stage with `Overflow` if not.
//!
//! Why no wake-up is lost: see [`handoff`](spillway_core::handoff) (a Dekker-style
//! state check, model-checked with loom). A signal is the usual work-in-progress counter:
//! whoever moves `wip` from zero schedules the drain, which loops until it has accounted
//! for every increment, so a signal raised while the drain runs makes it pass once more.
//! Demand (`requested`), the flags and the end are read at the start of each run, after
//! the `wip` increment of whoever changed them.

use std::fmt;
use std::ops::ControlFlow;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use spillway_core::demand::{Allowance, Granted};
use spillway_core::drain::BatchContext;
use spillway_core::handoff::{channel, Drain, Pushed, Receiver, Sender};
use spillway_core::wip::Wip;
use spillway_core::{
    AtomicDemand, ConfigError, Context, Error, Publisher, Scheduler, SharedSubscription,
    Subscriber, Subscription, Task,
};

use crate::engine::support::{lock, UpstreamSlot};

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
        let (tx, rx) = channel(prefetch);
        let shared = Arc::new_cyclic(|me| Shared {
            ended: AtomicBool::new(false),
            end: Mutex::new(None),
            // We own the drain while on_subscribe runs.
            wip: Wip::owned(),
            requested: AtomicDemand::new(),
            flags: AtomicU8::new(0),
            overflowed: AtomicBool::new(false),
            upstream: UpstreamSlot::default(),
            allowed: Granted::default(),
            scheduler: self.scheduler,
            prefetch: prefetch as u64,
            limit: spillway_core::demand::replenish_threshold(prefetch as u64),
            drain: Mutex::new(DrainState {
                downstream: None,
                rx,
                consumed: 0,
                taken: 0,
            }),
            me: me.clone(),
        });
        let subscription: SharedSubscription = shared.clone();
        let mut downstream = downstream;
        downstream.on_subscribe(subscription);
        lock(&shared.drain).downstream = Some(downstream);
        // Hand the drain over: if downstream requested (or cancelled) inside
        // on_subscribe, the drain runs on the scheduler now.
        if !shared.wip.release() {
            shared.schedule();
        }
        self.upstream.subscribe(Producer {
            shared,
            tx,
            context,
            allowance: Allowance::default(),
            done: false,
        });
    }
}

/// An empty ring is looked at again until it holds this many items (or all that
/// upstream may still send), or stops filling.
const BATCH: u64 = 128;

/// The consumer's own state: only the drain owner locks it (uncontended).
struct DrainState<T, D> {
    downstream: Option<D>,
    /// The consuming end of the hand-off.
    rx: Receiver<T>,
    /// Items taken from the ring since the last replenishing request.
    consumed: u64,
    /// Items taken from the ring in all (compared with `allowed`).
    taken: u64,
}

struct Shared<T, E, S, D> {
    /// Upstream ended: `end` holds its terminal signal, delivered after the queued items.
    ended: AtomicBool,
    /// Upstream sent more than requested: the drain cancels it before the error.
    overflowed: AtomicBool,
    end: Mutex<Option<Result<(), Error<E>>>>,
    wip: Wip,
    requested: AtomicDemand,
    flags: AtomicU8,
    upstream: UpstreamSlot,
    /// Total requested upstream: a producer that receives more fails with `Overflow`.
    allowed: Granted,
    scheduler: S,
    prefetch: u64,
    /// Replenish by this much each time this many items were taken (75 %).
    limit: u64,
    drain: Mutex<DrainState<T, D>>,
    me: Weak<Self>,
}

/// A run of queued items (at most the `left` the pass allows): the batch handed to a
/// fusing downstream. It ends early if the stage is cancelled meanwhile (at most the one
/// in-flight item after `cancel`). The ring frees the slots of the items taken when the
/// run is dropped, with one index store.
struct Run<'a, T> {
    items: Drain<'a, T>,
    flags: &'a AtomicU8,
    taken: u64,
}

impl<T> Iterator for Run<'_, T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        if self.flags.load(Ordering::Relaxed) != 0 {
            return None;
        }
        let item = self.items.next()?;
        self.taken += 1;
        Some(item)
    }
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
        if self.wip.signal() {
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
        self.wip.run(|| {
            self.pass_guarded();
            ControlFlow::<()>::Continue(())
        });
    }

    /// A panic in the downstream subscriber (rule 2.13) cancels upstream, releases the
    /// subscriber and the queued items, and is re-raised to the scheduler. A panic in the
    /// user code of a fused stage downstream (noted in the batch context) is reported to
    /// downstream as `Error::Panicked` against that stage instead, as a source's drain
    /// loop does.
    fn pass_guarded(&self) {
        let batch = BatchContext::new(true);
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| self.pass(&batch))) {
            self.flags.fetch_or(CANCELLED, Ordering::AcqRel);
            self.upstream.cancel();
            let downstream = self.close();
            match (downstream, batch.current()) {
                (Some(mut downstream), Some(culprit)) => {
                    downstream.on_error(Error::from_panic(culprit, payload));
                }
                (downstream, _) => {
                    drop(downstream);
                    resume_unwind(payload);
                }
            }
        }
    }

    /// Releases every queued item and the end, and hands back the downstream subscriber
    /// (if still there) for the caller to signal or drop.
    fn close(&self) -> Option<D> {
        let mut d = lock(&self.drain);
        let downstream = d.downstream.take();
        d.rx.close();
        drop(d);
        let end = lock(&self.end).take();
        drop(end);
        downstream
    }

    /// The ring holds fewer than `BATCH` items (maybe none) and upstream may still send
    /// `outstanding` items: waits a little for a *run* of items rather than for one (see
    /// [`Receiver::wait_for_run`]), or for an end or a flag. False if the ring stayed
    /// empty.
    fn wait_for_items(&self, rx: &Receiver<T>, outstanding: u64) -> bool {
        let target = outstanding.min(BATCH) as usize;
        rx.wait_for_run(target, || {
            self.ended.load(Ordering::Relaxed) || self.flags.load(Ordering::Relaxed) != 0
        })
    }

    /// Delivers upstream's end if every item before it was delivered: true if it did.
    fn try_end(&self, d: &mut DrainState<T, D>) -> bool {
        // `ended` is set after the last push: once seen, an empty ring stays empty.
        if !self.ended.load(Ordering::Acquire) || !d.rx.is_empty() {
            return false;
        }
        let end = lock(&self.end).take();
        let downstream = d.downstream.take();
        d.rx.close();
        if let (Some(mut downstream), Some(end)) = (downstream, end) {
            match end {
                Ok(()) => downstream.on_complete(),
                Err(e) => downstream.on_error(e),
            }
        }
        true
    }

    fn pass(&self, batch: &BatchContext) {
        let mut guard = lock(&self.drain);
        let d = &mut *guard;
        let Some(downstream) = d.downstream.as_ref() else {
            return; // terminated or cancelled
        };
        let fused = downstream.accepts_batches();
        if self.overflowed.swap(false, Ordering::AcqRel) {
            // Upstream broke its demand: stop it now, the queued items and the error go
            // out as downstream asks.
            self.upstream.cancel();
        }
        let mut demand = self.requested.get();
        let mut emitted = 0u64;
        loop {
            let flags = self.flags.load(Ordering::Acquire);
            if flags != 0 {
                drop(guard);
                self.upstream.cancel();
                let downstream = self.close();
                if flags & CANCELLED == 0 {
                    if let Some(mut downstream) = downstream {
                        downstream.on_error(Error::InvalidRequest { stage: STAGE });
                    }
                }
                return;
            }
            if emitted == demand.get() {
                // Settle once per run, then look again: downstream may have requested
                // more meanwhile (from on_next, or from another thread).
                demand = self.requested.produced(emitted);
                emitted = 0;
                if demand.is_zero() {
                    // No demand: only an end behind an empty ring can go out.
                    self.try_end(d);
                    return;
                }
            }
            // Take items in runs of up to `BATCH` while more are on their way: popping
            // the slots the producer is still writing would move their cache lines
            // between the cores for every item.
            let mut avail = d.rx.len() as u64;
            if avail > 0 && avail < BATCH && !self.ended.load(Ordering::Relaxed) {
                let outstanding = self.allowed.outstanding(d.taken);
                if outstanding > avail {
                    self.wait_for_items(&d.rx, outstanding);
                    avail = d.rx.len() as u64;
                }
            }
            // A run stops at the next replenishing point, so that requests go out as
            // soon as `limit` slots were freed.
            let left = (demand.get() - emitted)
                .min(self.limit - d.consumed)
                .min(avail);
            let left = usize::try_from(left).unwrap_or(usize::MAX);
            let downstream = d.downstream.as_mut().expect("checked above");
            // (The run frees its slots when dropped, before the replenishing request
            // below publishes the allowance for them.)
            let taken = if fused {
                let counting = !demand.is_unbounded();
                let mut run = Run {
                    items: d.rx.drain(left),
                    flags: &self.flags,
                    taken: 0,
                };
                if left > 0 {
                    let used = downstream.on_next_batch(&mut run, batch);
                    if counting {
                        emitted += used;
                    }
                }
                run.taken
            } else {
                let mut taken = 0;
                let mut items = d.rx.drain(left);
                while self.flags.load(Ordering::Relaxed) == 0 {
                    let Some(item) = items.next() else {
                        break;
                    };
                    downstream.on_next(item);
                    taken += 1;
                }
                emitted += taken;
                taken
            };
            if taken > 0 {
                // (A run cut short by a flag: the loop's next turn handles the flag.)
                d.consumed += taken;
                d.taken += taken;
                if d.consumed == self.limit {
                    d.consumed = 0;
                    // Publish the allowance before asking, so the producer never sees
                    // items it has not been allowed yet. Upstream may emit inside this
                    // call (on this thread): its items go into the ring, which has room.
                    self.allowed.grant(self.limit);
                    self.upstream.request(self.limit);
                }
                continue;
            }
            // The ring is empty.
            if self.try_end(d) {
                return;
            }
            // A busy producer is likely to push again within nanoseconds: look again a
            // few times before parking, which would cost the producer a wake-up.
            let outstanding = self.allowed.outstanding(d.taken);
            if (outstanding > 0 && self.wait_for_items(&d.rx, outstanding)) || !d.rx.park() {
                continue;
            }
            break;
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
        // The drain cancels upstream, as it is the one that requests from it (rule 2.7:
        // a cancel from here could overlap its request). Released at once, on this
        // thread, if the drain is idle; otherwise the running drain sees the flag at its
        // next turn (after the item in progress) and releases.
        if self.wip.signal() {
            self.run();
        }
    }
}

/// The upstream side: queues items for the drain.
struct Producer<T, E, S, D> {
    shared: Arc<Shared<T, E, S, D>>,
    /// The producing end of the hand-off (upstream's signals are serial).
    tx: Sender<T>,
    context: Context,
    /// Items received, checked against what the drain allowed (a non-compliant upstream).
    allowance: Allowance,
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
        let shared = &self.shared;
        if !self.tx.is_closed() {
            let mut slot = lock(&shared.end);
            if slot.is_none() {
                *slot = Some(end);
            }
        }
        shared.ended.store(true, Ordering::Release);
        shared.signal();
    }

    #[cold]
    fn overflow(&mut self, item: T) {
        drop(item);
        // The drain cancels upstream before it delivers the error (rule 2.7: it may be
        // requesting from upstream at this instant).
        self.shared.overflowed.store(true, Ordering::Release);
        self.end(Err(Error::Overflow {
            stage: STAGE,
            capacity: self.shared.prefetch as usize,
        }));
    }
}

/// A count of items as a `usize` (saturating on 32-bit targets).
fn clamp(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
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
        if shared.upstream.is_set() {
            subscription.cancel(); // rule 2.5: a second subscription is refused
            return;
        }
        if shared.flags.load(Ordering::Acquire) & CANCELLED != 0 {
            subscription.cancel();
            return;
        }
        // Before `set`: if upstream emits inside this request and the drain, on the
        // scheduler, already requests more, the two requests reach upstream one after
        // the other (rule 2.7), both from here.
        shared.allowed.grant(shared.prefetch);
        shared.upstream.request(shared.prefetch);
        shared.upstream.set(subscription);
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if self.done {
            return;
        }
        if !self.allowance.send_one(&self.shared.allowed) {
            // Upstream emitted more than requested: the ring would exceed its bound.
            return self.overflow(item);
        }
        match self.tx.push(item) {
            Ok(Pushed::Queued) | Ok(Pushed::Closed) => {}
            Ok(Pushed::Wake) => self.shared.signal(),
            Err(item) => self.overflow(item),
        }
    }

    /// A fused upstream hands over a run: it goes into the ring as one chunk, published
    /// with one index store and one check of the consumer's state (one fence), instead
    /// of one of each per item.
    #[inline]
    fn accepts_batches(&self) -> bool {
        true
    }

    fn on_next_batch<I>(&mut self, items: I, batch: &BatchContext) -> u64
    where
        I: Iterator<Item = T>,
    {
        let mut items = items;
        let limit = batch.limit().min(batch.max_items());
        if self.done {
            // Late items after an end: dropped, as `on_next` does.
            return items.by_ref().take(clamp(limit)).count() as u64;
        }
        // Take what upstream may send (re-reading the allowance if the cached copy is
        // too small): the ring has room for all of it, since the drain frees slots
        // before it grants them again.
        let allowed = self.allowance.room(&self.shared.allowed, limit);
        let (taken, pushed) = self.tx.push_iter(&mut items, clamp(allowed));
        self.allowance.sent(taken as u64);
        if pushed == Pushed::Wake {
            self.shared.signal();
        }
        // More items than upstream may send (its demand says more than was requested
        // here), or than the ring has room for: the stage fails with `Overflow`.
        let full = (taken as u64) < allowed && pushed != Pushed::Closed && self.tx.free() == 0;
        if allowed < limit || full {
            if let Some(item) = items.next() {
                self.overflow(item);
                return taken as u64 + 1;
            }
        }
        taken as u64
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
