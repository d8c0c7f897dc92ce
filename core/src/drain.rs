//! The serialized drain loop: the one place that turns concurrent, re-entrant
//! `request`/`cancel` calls into serial signals (rules 1.3, 3.2, 3.3). Every source of
//! the core crate runs on it, and so can your own sources and operators: implement
//! [`Source`] (a pull function called only while demand is outstanding) and call
//! [`start`] with the subscriber; demand accounting, `request(0)`, cancellation, the
//! release of the subscriber and the panic policy come for free.
//!
//! A work-in-progress counter (`wip`) elects a single drain owner: whoever moves it from
//! zero runs the loop; everyone else only records their request and leaves. The owner
//! loops until it has seen every increment, so no signal is lost and the stack never
//! grows with re-entrant requests. Demand is subtracted once per pass, not per item.
//!
//! An async source ([`Source::ASYNC`]) is polled with a waker that only *schedules* the
//! next pass (see [`driver`](crate::driver)): on the terminal future's task when the
//! pipeline ends in one, otherwise on an executor. A wake-up never runs the loop on the
//! waking thread, and a wake-up during a pass is served by a later pass, not by looping.
//! An async pass also hands control back after [`ASYNC_PASS_PULLS`] pulls, when the
//! thread's cooperative budget is spent ([`coop`](crate::coop): [`POLL_BUDGET`](crate::coop::POLL_BUDGET)
//! pulls per terminal-future poll, across stages), or when tokio's budget of the current
//! task is, scheduling its continuation.

use std::cell::Cell;
use std::ops::ControlFlow;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Arc, Weak};
use std::task::{Context as TaskContext, Wake, Waker};

use crate::demand::{AtomicDemand, Demand};
use crate::driver::{Dispatch, Wakeable};
use crate::sync::atomic::{fence, AtomicBool, AtomicU8, Ordering};
use crate::sync::{lock, Mutex};
use crate::wip::Wip;
use crate::{Error, Stage, Subscriber, Subscription};

/// What a source produced when pulled.
#[derive(Debug)]
pub enum Pulled<T, E> {
    /// An item, to be delivered now.
    Item(T),
    /// The end: `on_complete` follows.
    Complete,
    /// A failure: `on_error` follows.
    Error(Error<E>),
    /// Nothing now; the source will call [`DrainHandle::signal`] (or wake the task
    /// context's waker) when it has more.
    Pending,
}

/// A pull-based source run by the drain loop.
///
/// # Examples
/// A countdown, written as a source:
/// ```
/// use std::task::Context;
/// use spillway_core::drain::{self, Pulled, Source};
/// use spillway_core::prelude::*;
///
/// struct Countdown(u32);
/// impl Source for Countdown {
///     type Item = u32;
///     type Error = std::convert::Infallible;
///     const STAGE: &'static str = "countdown";
///     fn pull(&mut self, _cx: &mut Context<'_>) -> Pulled<u32, Self::Error> {
///         if self.0 == 0 { return Pulled::Complete; }
///         self.0 -= 1;
///         Pulled::Item(self.0 + 1)
///     }
/// }
///
/// struct CountdownPublisher(u32);
/// impl Publisher for CountdownPublisher {
///     type Item = u32;
///     type Error = std::convert::Infallible;
///     fn subscribe<S: Subscriber<Item = u32, Error = Self::Error>>(self, s: S) {
///         drain::start(Countdown(self.0), s);
///     }
/// }
/// # futures::executor::block_on(async {
/// assert_eq!(CountdownPublisher(3).collect().await.unwrap(), vec![3, 2, 1]);
/// # });
/// ```
pub trait Source: Send + 'static {
    /// The items it emits.
    type Item: Send + 'static;
    /// The user error it may fail with.
    type Error: Send + 'static;
    /// The stage name used in errors.
    const STAGE: Stage;
    /// True if `pull` may return `Pending` and needs a real waker. The waker schedules the
    /// next pass on the pipeline's driver or executor; it never runs it itself.
    const ASYNC: bool = false;
    /// True if the source subtracts each item it hands out from the demand itself, with
    /// [`DrainHandle::produced`] (under its own lock), instead of the drain settling the
    /// demand once per pass. A push source whose producer decides on the outstanding
    /// demand (`create`) needs this: otherwise, mid-pass, an item already taken from its
    /// queue still counts in the demand, and the producer pushes beyond demand unseen.
    /// Such a source settles what its [`pull_batch`](Self::pull_batch) hands out too, and
    /// gives back what the chain did not use with [`DrainHandle::restore`].
    const SETTLES_DEMAND: bool = false;

    /// Called once, before the subscriber's `on_subscribe`, with a handle through which a
    /// push-driven source (timer, emitter) re-runs the drain loop.
    fn attach(&mut self, _drain: DrainHandle) {}

    /// The next signal. Only called while demand is outstanding.
    fn pull(&mut self, cx: &mut TaskContext<'_>) -> Pulled<Self::Item, Self::Error>;

    /// The batch fast path ("fusion" of synchronous stages): offers up to
    /// [`BatchContext::max_items`] items to `sink` in one [`Subscriber::on_next_batch`]
    /// call, as an iterator, and returns how many the sink used. The sink may stop early
    /// (once it has used [`BatchContext::limit`] items): items it did not take must stay
    /// with the source. Returns `None` when the source cannot batch or has nothing to
    /// hand out now, and the drain falls back to [`pull`](Self::pull). Only called when
    /// the whole subscriber chain [`accepts_batches`](Subscriber::accepts_batches).
    ///
    /// A source whose iterator runs user code runs it through [`BatchContext::run`], so a
    /// panic is reported against the right stage.
    fn pull_batch<S>(&mut self, _sink: &mut S, _batch: &BatchContext) -> Option<u64>
    where
        S: Subscriber<Item = Self::Item, Error = Self::Error>,
    {
        None
    }

    /// Called when a pass ends without demand: a source that already knows it is over
    /// returns its terminal signal, so completion does not wait for a useless request.
    fn poll_end(&mut self, _cx: &mut TaskContext<'_>) -> Option<Pulled<Self::Item, Self::Error>> {
        None
    }
}

/// The most items offered to a subscriber chain in one batch: cancellation and
/// `request(0)` are checked between batches.
const BATCH: u64 = 8192;

/// The most pulls of an async source in one pass. Then the pass schedules its
/// continuation and returns, so a source that is always ready cannot keep a task (or the
/// thread that requested) busy for long.
pub const ASYNC_PASS_PULLS: u32 = 128;

/// What a batched (fused) chain needs to know besides its items: whether it must count
/// the items it uses (not when demand is unbounded, which keeps the fused loop tight),
/// and which stage panicked, so that a panic in the middle of a batch is reported against
/// that stage. Stages run each call into user code through [`run`](Self::run), which
/// costs nothing unless the code panics (and nothing at all when the compiler can see it
/// cannot), so a fused loop stays free of per-item bookkeeping.
///
/// ```
/// use spillway_core::drain::BatchContext;
/// let cell = BatchContext::new(true);
/// assert!(cell.counts_used());
/// assert_eq!(cell.run("map", || 2 + 2), 4);
/// assert_eq!(cell.current(), None);
/// let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
///     cell.run("map", || panic!("boom"))
/// }));
/// assert!(panicked.is_err());
/// assert_eq!(cell.current(), Some("map"));
/// ```
#[derive(Debug)]
pub struct BatchContext {
    culprit: Cell<Option<Stage>>,
    counts_used: Cell<bool>,
    limit: Cell<u64>,
    within_limit: Cell<bool>,
}

impl BatchContext {
    /// A context for batches whose used items must (`true`) or need not be counted.
    pub fn new(counts_used: bool) -> BatchContext {
        BatchContext {
            culprit: Cell::new(None),
            counts_used: Cell::new(counts_used),
            limit: Cell::new(u64::MAX),
            within_limit: Cell::new(false),
        }
    }

    /// Whether [`Subscriber::on_next_batch`] must return the number of items it used.
    /// When false (downstream demand is unbounded) it may return anything.
    #[inline]
    pub fn counts_used(&self) -> bool {
        self.counts_used.get()
    }

    /// The most items the chain may *use* from this batch: the outstanding demand
    /// (`u64::MAX` when unbounded). A sink stops taking items once it has used this many.
    #[inline]
    pub fn limit(&self) -> u64 {
        self.limit.get()
    }

    /// The most items a source offers in one batch.
    #[inline]
    pub fn max_items(&self) -> u64 {
        BATCH
    }

    /// True when the batch offered yields at most [`limit`](Self::limit) items, so the
    /// chain may take every one of them without checking the limit: a loop without an
    /// early exit, which the compiler unrolls branch-free (and vectorises where the target
    /// allows). Sources set it (with
    /// [`set_within_limit`](Self::set_within_limit)) when they offer a chunk no larger
    /// than the outstanding demand; since a fused stage hands on at most one item per item
    /// it takes, the promise holds all the way down the chain.
    ///
    /// ```
    /// use spillway_core::drain::BatchContext;
    /// let cx = BatchContext::new(true);
    /// assert!(!cx.within_limit()); // by default a sink stops at the limit itself
    /// cx.set_within_limit(true);
    /// assert!(cx.within_limit());
    /// ```
    #[inline]
    pub fn within_limit(&self) -> bool {
        self.within_limit.get()
    }

    /// For sources: says whether the batch about to be offered yields at most
    /// [`limit`](Self::limit) items (see [`within_limit`](Self::within_limit)). The drain
    /// loop clears it before each [`Source::pull_batch`].
    #[inline]
    pub fn set_within_limit(&self, yes: bool) {
        self.within_limit.set(yes);
    }

    /// Runs user code on behalf of `stage`; if it panics, notes the stage and lets the
    /// panic go on to the drain loop, which reports it as `Error::Panicked { stage }`.
    #[inline(always)]
    pub fn run<R>(&self, stage: Stage, f: impl FnOnce() -> R) -> R {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(value) => value,
            Err(payload) => {
                self.enter(stage);
                resume_unwind(payload)
            }
        }
    }

    /// Notes that `stage` is running user code (for sources whose iterator is user code).
    #[inline]
    pub fn enter(&self, stage: Stage) {
        self.culprit.set(Some(stage));
    }

    /// The stage that last entered user code, if any.
    pub fn current(&self) -> Option<Stage> {
        self.culprit.get()
    }
}

const CANCELLED: u8 = 1;
const BAD_REQUEST: u8 = 2;
/// Set when the drain lets go of its source and subscriber (terminal signal or cancel).
const TERMINATED: u8 = 4;

pub(crate) struct Drain<Src, S> {
    requested: AtomicDemand,
    wip: Wip,
    flags: AtomicU8,
    inner: Mutex<Option<(Src, S)>>,
    me: Weak<Drain<Src, S>>,
    /// Async sources only: where wake-ups send the next pass.
    dispatch: Option<Dispatch>,
    /// A pass is scheduled and has not started yet: further wake-ups are the same one.
    scheduled: AtomicBool,
}

/// What a push-driven source (a timer, an emitter, an operator's upstream side) keeps of
/// its drain loop. It keeps the subscription alive while the source can still produce, as
/// a Reactive Streams publisher does: a subscriber that requested and then let go of its
/// subscription handle still receives what it asked for. The cycle this makes (drain →
/// source → handle → drain) is broken when the subscription terminates or is cancelled,
/// since the drain then drops its source and subscriber.
#[derive(Clone)]
pub struct DrainHandle(Arc<dyn DrainControl>);

trait DrainControl: Send + Sync {
    fn signal(&self);
    fn produced(&self, n: u64);
    fn restore(&self, n: u64);
    fn demand(&self) -> Demand;
    fn is_cancelled(&self) -> bool;
}

impl DrainHandle {
    /// Re-runs the drain loop (on this thread, unless another thread is draining).
    pub fn signal(&self) {
        self.0.signal();
    }
    /// Subtracts `n` delivered items from the outstanding demand: only for a source with
    /// [`Source::SETTLES_DEMAND`], which calls it for each item `pull` hands out.
    pub fn produced(&self, n: u64) {
        self.0.produced(n);
    }
    /// Gives back demand for `n` items that a [`Source::SETTLES_DEMAND`] source settled
    /// and handed out, but that the chain did not use (a filter discarded them, or the
    /// sink left them in the batch): what the drain does itself for a single item.
    ///
    /// ```
    /// # use spillway_core::drain::{self, Pulled, Source};
    /// # use spillway_core::prelude::*;
    /// # struct Nothing;
    /// # impl Source for Nothing {
    /// #     type Item = u8;
    /// #     type Error = std::convert::Infallible;
    /// #     const STAGE: &'static str = "nothing";
    /// #     fn pull(&mut self, _: &mut std::task::Context<'_>) -> Pulled<u8, Self::Error> {
    /// #         Pulled::Pending
    /// #     }
    /// # }
    /// # struct Idle;
    /// # impl Subscriber for Idle {
    /// #     type Item = u8;
    /// #     type Error = std::convert::Infallible;
    /// #     fn on_subscribe(&mut self, _: spillway_core::SharedSubscription) {}
    /// #     fn on_next(&mut self, _: u8) {}
    /// #     fn on_error(&mut self, _: spillway_core::Error<Self::Error>) {}
    /// #     fn on_complete(&mut self) {}
    /// # }
    /// let handle = drain::start(Nothing, Idle); // nothing requested yet
    /// assert_eq!(handle.demand().get(), 0);
    /// handle.restore(3);
    /// assert_eq!(handle.demand().get(), 3);
    /// ```
    pub fn restore(&self, n: u64) {
        self.0.restore(n);
    }
    /// Outstanding downstream demand.
    pub fn demand(&self) -> Demand {
        self.0.demand()
    }
    /// True once cancelled or terminated.
    pub fn is_cancelled(&self) -> bool {
        self.0.is_cancelled()
    }
}

impl std::fmt::Debug for DrainHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrainHandle").finish_non_exhaustive()
    }
}

/// Subscribes `subscriber` to `source`: calls `on_subscribe` (requests made inside it are
/// served after it returns, rule 1.3) and runs the first drain pass. Returns a handle to
/// the drain loop.
pub fn start<Src, S>(source: Src, subscriber: S) -> DrainHandle
where
    Src: Source,
    S: Subscriber<Item = Src::Item, Error = Src::Error>,
{
    DrainHandle(start_drain(source, subscriber))
}

fn start_drain<Src, S>(source: Src, subscriber: S) -> Arc<Drain<Src, S>>
where
    Src: Source,
    S: Subscriber<Item = Src::Item, Error = Src::Error>,
{
    let dispatch = Src::ASYNC.then(|| Dispatch::for_context(&subscriber.context()));
    let drain = Arc::new_cyclic(|me| Drain {
        requested: AtomicDemand::new(),
        // We own the drain while on_subscribe runs.
        wip: Wip::owned(),
        flags: AtomicU8::new(0),
        inner: Mutex::new(Some((source, subscriber))),
        me: me.clone(),
        dispatch,
        scheduled: AtomicBool::new(false),
    });
    let handle = DrainHandle(drain.clone());
    let shared: Arc<dyn Subscription> = drain.clone();
    let outcome = {
        let mut guard = lock(&drain.inner);
        let (src, sub) = guard.as_mut().expect("fresh drain");
        src.attach(handle);
        catch_unwind(AssertUnwindSafe(|| sub.on_subscribe(shared)))
    };
    if let Err(payload) = outcome {
        // The subscriber broke rule 2.13: treat it as cancelled, release it, re-raise.
        drain.flags.fetch_or(CANCELLED, Ordering::AcqRel);
        drop(drain.finish(&mut lock(&drain.inner)));
        resume_unwind(payload);
    }
    drain.drain_loop();
    drain
}

impl<Src, S> Drain<Src, S>
where
    Src: Source,
    S: Subscriber<Item = Src::Item, Error = Src::Error>,
{
    /// Lets go of the source and subscriber, for good.
    fn finish(&self, inner: &mut Option<(Src, S)>) -> Option<(Src, S)> {
        self.flags.fetch_or(TERMINATED, Ordering::AcqRel);
        inner.take()
    }

    fn signal(&self) {
        if self.wip.signal() {
            self.drain_loop();
        }
    }

    /// Schedules a pass on the driver or executor (what a wake-up does); never runs it.
    fn schedule(&self) {
        if self.flags.load(Ordering::Acquire) & (CANCELLED | TERMINATED) != 0 {
            return; // a cancel runs its own pass; a terminated drain needs none
        }
        if self.scheduled.swap(true, Ordering::AcqRel) {
            return; // already on its way
        }
        if let (Some(dispatch), Some(me)) = (&self.dispatch, self.me.upgrade()) {
            dispatch.dispatch(me);
        }
    }

    fn drain_loop(&self) {
        // An async source takes its pulls from the thread's cooperative budget (opened
        // here if no terminal future's poll opened one).
        let _budget = Src::ASYNC.then(|| crate::coop::BudgetScope::enter(crate::coop::POLL_BUDGET));
        self.wip.run(|| {
            self.pass_guarded();
            ControlFlow::<()>::Continue(())
        });
    }

    /// One pass, with panics sorted by origin: a panic in the source's own code becomes
    /// `on_error(Panicked)`; a panic in the subscriber (a rule 2.13 violation) cancels
    /// the subscription, releases the subscriber and is re-raised to the caller.
    fn pass_guarded(&self) {
        let mut in_source = false;
        // Outside the catch, so that a panic mid-batch leaves its culprit readable here.
        let batch = BatchContext::new(true);
        let outcome = catch_unwind(AssertUnwindSafe(|| self.pass(&mut in_source, &batch)));
        if let Err(payload) = outcome {
            self.flags.fetch_or(CANCELLED, Ordering::AcqRel);
            let taken = self.finish(&mut lock(&self.inner));
            // Batched stages catch no panics themselves: the stage cell says whose it was.
            let culprit = if in_source {
                Some(Src::STAGE)
            } else {
                batch.current()
            };
            match (taken, culprit) {
                (Some((src, mut sub)), Some(culprit)) => {
                    drop(src);
                    sub.on_error(Error::from_panic(culprit, payload));
                }
                (other, _) => {
                    drop(other);
                    resume_unwind(payload);
                }
            }
        }
    }

    /// Settles the `emitted` items of this pass (unless the source settled them item by
    /// item) and returns the demand left.
    fn settle(&self, emitted: u64) -> Demand {
        if Src::SETTLES_DEMAND {
            self.requested.get()
        } else {
            self.requested.produced(emitted)
        }
    }

    fn pass(&self, in_source: &mut bool, batch: &BatchContext) {
        let mut guard = lock(&self.inner);
        let Some((src, sub)) = guard.as_mut() else {
            return; // already terminated or cancelled
        };
        let waker = if Src::ASYNC {
            self.me
                .upgrade()
                .map_or_else(|| Waker::noop().clone(), Waker::from)
        } else {
            Waker::noop().clone()
        };
        let mut cx = TaskContext::from_waker(&waker);
        let mut pulls = 0u32;
        let mut emitted = 0u64;
        let mut demand = self.requested.get();
        // Fusion: a chain made only of batch-capable stages takes items a batch at a time.
        let batching = sub.accepts_batches();
        loop {
            // Relaxed on the hot path; the Acquire fence below orders what follows a stop.
            let flags = self.flags.load(Ordering::Relaxed);
            if flags != 0 {
                fence(Ordering::Acquire);
                let taken = self.finish(&mut guard);
                drop(guard);
                if flags & CANCELLED == 0 {
                    if let Some((_, mut sub)) = taken {
                        sub.on_error(Error::InvalidRequest { stage: Src::STAGE });
                    }
                }
                return; // cancelled: `taken` is dropped here, releasing the subscriber
            }
            if emitted == demand.get() {
                // Demand used up: settle it once for the whole pass, then look again,
                // since the subscriber may have requested more meanwhile.
                demand = self.settle(emitted);
                emitted = 0;
                if demand.is_zero() {
                    *in_source = true;
                    let end = src.poll_end(&mut cx);
                    *in_source = false;
                    match end {
                        Some(Pulled::Complete) => {
                            let (_, mut sub) = self.finish(&mut guard).expect("checked above");
                            drop(guard);
                            sub.on_complete();
                        }
                        Some(Pulled::Error(e)) => {
                            let (_, mut sub) = self.finish(&mut guard).expect("checked above");
                            drop(guard);
                            sub.on_error(e);
                        }
                        _ => {}
                    }
                    return;
                }
                continue;
            }
            if batching {
                // Unbounded demand never runs out: the chain need not count what it uses.
                let counting = !demand.is_unbounded();
                batch.counts_used.set(counting);
                batch.limit.set(demand.get() - emitted);
                batch.within_limit.set(false);
                if let Some(used) = src.pull_batch(sub, batch) {
                    if counting {
                        emitted += used;
                    }
                    continue;
                }
            }
            #[cfg(feature = "tokio")]
            let mut coop = None;
            if Src::ASYNC {
                // Hand control back after a bounded amount of work: the continuation is
                // scheduled like a wake-up, so the task (or thread) that runs this pass
                // returns to its executor first.
                if pulls == ASYNC_PASS_PULLS || !crate::coop::proceed() {
                    self.settle(emitted);
                    drop(guard);
                    self.schedule();
                    return;
                }
                pulls += 1;
                // Inside a tokio task, take part in its cooperative budget like a tokio
                // resource: when it is spent, the waker schedules the next pass.
                #[cfg(feature = "tokio")]
                match tokio::task::coop::poll_proceed(&mut cx) {
                    std::task::Poll::Ready(restore) => coop = Some(restore),
                    std::task::Poll::Pending => {
                        self.settle(emitted);
                        return;
                    }
                }
            }
            *in_source = true;
            let next = src.pull(&mut cx);
            *in_source = false;
            match next {
                Pulled::Item(item) => {
                    #[cfg(feature = "tokio")]
                    if let Some(restore) = coop.take() {
                        restore.made_progress();
                    }
                    // A discarded item (a filter said no) uses no demand; a source that
                    // settled it already gets it back.
                    if sub.try_on_next(item) {
                        emitted += 1;
                    } else if Src::SETTLES_DEMAND {
                        self.requested.add(1);
                    }
                }
                Pulled::Complete => {
                    let (_, mut sub) = self.finish(&mut guard).expect("checked above");
                    drop(guard);
                    sub.on_complete();
                    return;
                }
                Pulled::Error(e) => {
                    let (_, mut sub) = self.finish(&mut guard).expect("checked above");
                    drop(guard);
                    sub.on_error(e);
                    return;
                }
                Pulled::Pending => {
                    self.settle(emitted);
                    return;
                }
            }
        }
    }
}

impl<Src, S> Subscription for Drain<Src, S>
where
    Src: Source,
    S: Subscriber<Item = Src::Item, Error = Src::Error>,
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
        if self.flags.fetch_or(CANCELLED, Ordering::AcqRel) & CANCELLED == 0 {
            self.signal();
        }
    }
}

impl<Src, S> DrainControl for Drain<Src, S>
where
    Src: Source,
    S: Subscriber<Item = Src::Item, Error = Src::Error>,
{
    fn signal(&self) {
        Drain::signal(self)
    }
    fn produced(&self, n: u64) {
        self.requested.produced(n);
    }
    fn restore(&self, n: u64) {
        self.requested.add(n);
    }
    fn demand(&self) -> Demand {
        self.requested.get()
    }
    fn is_cancelled(&self) -> bool {
        self.flags.load(Ordering::Acquire) & (CANCELLED | TERMINATED) != 0
    }
}

/// The waker of an async source: it only schedules the next pass.
impl<Src, S> Wake for Drain<Src, S>
where
    Src: Source,
    S: Subscriber<Item = Src::Item, Error = Src::Error>,
{
    fn wake(self: Arc<Self>) {
        self.schedule();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.schedule();
    }
}

impl<Src, S> Wakeable for Drain<Src, S>
where
    Src: Source,
    S: Subscriber<Item = Src::Item, Error = Src::Error>,
{
    fn run(self: Arc<Self>) {
        // Cleared before the pass polls anything: a wake-up during the pass schedules
        // another one.
        self.scheduled.store(false, Ordering::Release);
        self.signal();
    }
    fn reschedule(self: Arc<Self>) {
        self.scheduled.store(false, Ordering::Release);
        self.schedule();
    }
}
