//! The engine shared by the batching operators (`chunks`, `chunks_timeout`,
//! `chunks_weighted`, `batch_while_busy`, `chunks_sliding`, `chunks_by_key`,
//! `chunks_every`, `chunks_with`): they
//! differ only in when a batch closes and in how much they request upstream, so the
//! concurrency (drain loop downstream, upstream subscriber, timer, cancellation,
//! accounting) is written and tested once, here.
//!
//! Shape: the downstream side is a [`drain::Source`] of closed batches (`ready`); the
//! upstream side pushes items into the open batch and closes it by the operator's [`Rule`].
//! The drain delivers a batch only against downstream demand, so a slow consumer is never
//! overflowed; what it may request upstream is bounded by [`Shared::credit`].
//!
//! Accounting, in items: `received = emitted + dropped + buffered`, where `buffered` is
//! every item held (the open batch and the closed batches waiting for demand). For
//! `chunks_sliding` the items are the copies put in windows: an item in `k` windows is
//! received `k` times (an item between windows, `step > size`, not at all).

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, MutexGuard, Weak};
use std::task::Context as TaskContext;
use std::time::Duration;

use spillway_core::drain::{self, DrainHandle, Pulled, Source};
use spillway_core::{
    Context, Demand, Error, Never, Publisher, Scheduler, SchedulerExt, SharedSubscription, Stage,
    Subscriber, TaskHandle,
};

use crate::engine::queue::{Held, Locked, QueueCore};
use crate::engine::support::{Dropper, UpstreamSlot};
use crate::engine::StageName;
use crate::stats::{DropReason, FlowStats, OnDrop};

/// When a batch closes, and what the operator requests upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    /// `chunks(n)`: closes at `n` items; requests `demand * n` items.
    Count(usize),
    /// `chunks_timeout(n, d)`: closes at `n` items or when the timer fires; requests
    /// `(demand + 1) * n` items (one batch of prefetch).
    CountOrTimer(usize),
    /// `chunks_weighted(max, weigh)`: closes before the weight would exceed `max`, and at
    /// once when it reaches `max`; requests so that at most `demand + 1` batches can form.
    Weight(u64),
    /// `batch_while_busy(max)`: the open batch is taken whole whenever downstream has
    /// demand; at most `max` items held or in flight.
    WhileBusy(usize),
    /// `chunks_sliding(size, step)`: a window opens every `step` items and closes at
    /// `size` items; several may be open (`step < size`, each item cloned into all but
    /// one), or none (`step > size`, the items between windows are let go). Requests
    /// what the windows downstream asked for need: `size` items for the first, `step`
    /// for each next one.
    Sliding { size: usize, step: usize },
    /// `chunks_by_key(key)`: closes before an item whose key differs from the previous
    /// item's (the operator's `weigh` returns 1 for such an item, 0 otherwise); requests
    /// as `Weight`, so that at most `demand + 1` batches can form.
    KeyChange,
    /// `chunks_every(d)` and `chunks_with(boundary)`: closes at each tick of a fixed clock
    /// or each item of a boundary publisher, and at `max` items; requests as
    /// `CountOrTimer(max)`. The maximum is what keeps the memory bounded: without it a
    /// fast upstream would fill the open batch without limit between two boundaries.
    Boundary(usize),
}

/// The most items a batching stage asks upstream for and holds at once, beyond what one
/// or two batches need.
const MAX_IN_FLIGHT: u64 = 256;

impl Rule {
    /// The most items requested or held at once: two batches of a count rule (at least
    /// [`MAX_IN_FLIGHT`]), [`MAX_IN_FLIGHT`] for the weight rule, `max` for
    /// `batch_while_busy`; for sliding windows, the items in flight (not held: the
    /// windows fitting in twice the larger of `size` and `step`, at least
    /// [`MAX_IN_FLIGHT`] items).
    fn max_in_flight(&self) -> u64 {
        match *self {
            Rule::Count(n) | Rule::CountOrTimer(n) | Rule::Boundary(n) => {
                (n as u64).saturating_mul(2).max(MAX_IN_FLIGHT)
            }
            Rule::Weight(_) | Rule::KeyChange => MAX_IN_FLIGHT,
            Rule::WhileBusy(max) => max as u64,
            Rule::Sliding { size, step } => {
                (size.max(step) as u64).saturating_mul(2).max(MAX_IN_FLIGHT)
            }
        }
    }

    /// An empty batch, sized for the items a count rule closes it at (capped, so a huge
    /// count does not reserve memory its batches may never fill), as futures' `chunks`
    /// does: no regrowth while a batch fills.
    fn fresh_batch<T>(&self) -> Vec<T> {
        const MAX_RESERVED: usize = 4096;
        match *self {
            Rule::Count(n)
            | Rule::CountOrTimer(n)
            | Rule::Sliding { size: n, .. }
            | Rule::Boundary(n) => Vec::with_capacity(n.min(MAX_RESERVED)),
            Rule::Weight(_) | Rule::WhileBusy(_) | Rule::KeyChange => Vec::new(),
        }
    }
}

/// The user's weighing function, called outside any lock.
pub(crate) type Weigh<T> = Box<dyn FnMut(&T) -> u64 + Send>;

/// The item's `Clone`, for the sliding windows (called outside any lock).
pub(crate) type CloneItem<T> = fn(&T) -> T;

/// What an operator hands to [`subscribe`].
pub(crate) struct Setup<T> {
    pub(crate) rule: Rule,
    pub(crate) weigh: Option<Weigh<T>>,
    /// `Rule::Sliding`: how an item is copied into overlapping windows.
    pub(crate) clone: Option<CloneItem<T>>,
    /// The batch timeout, and the scheduler pinned with `.on(..)` (else the subscriber's).
    pub(crate) timeout: Option<(Duration, Option<Arc<dyn Scheduler>>)>,
    /// `Rule::Boundary` on a fixed clock: its period, and the scheduler pinned with
    /// `.on(..)` (else the subscriber's).
    pub(crate) ticks: Option<(Duration, Option<Arc<dyn Scheduler>>)>,
    pub(crate) stats: FlowStats,
    pub(crate) on_drop: Option<OnDrop<T>>,
}

/// The items held: the open batch and the closed ones waiting for demand.
struct Batches<T> {
    open: Vec<T>,
    open_weight: u64,
    ready: VecDeque<Vec<T>>,
    /// Items in `open` and `ready`.
    held: usize,
    timer: Option<TaskHandle>,
    /// Identifies the open batch, so that a late timer of a closed batch does nothing.
    generation: u64,
    /// `Rule::Sliding`: the open windows, oldest first (`open` is not used).
    windows: VecDeque<Vec<T>>,
    /// `Rule::Sliding`: items accepted so far, and windows closed so far.
    count: u64,
    closed: u64,
    /// `Rule::Boundary`: the fixed clock, or the boundary publisher's subscription.
    ticker: Option<TaskHandle>,
    boundary: Option<Arc<UpstreamSlot>>,
}

impl<T> Batches<T> {
    /// Retires the open batch's timer (a late one finds another generation).
    fn retire_timer(&mut self) {
        if let Some(timer) = self.timer.take() {
            timer.cancel();
        }
        self.generation = self.generation.wrapping_add(1);
    }

    /// Stops the fixed clock or cancels the boundary publisher: the stage is ending.
    fn stop_boundary(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.cancel();
        }
        if let Some(boundary) = self.boundary.take() {
            boundary.cancel();
        }
    }
}

impl<T: Send + 'static> Held for Batches<T> {
    type Item = T;

    fn len(&self) -> usize {
        self.held
    }

    /// Every held item, for discarding (outside the lock); the timers are retired.
    fn take_all(&mut self) -> Vec<T> {
        self.retire_timer();
        self.stop_boundary();
        let mut all: Vec<T> = self.ready.drain(..).flatten().collect();
        all.extend(self.windows.drain(..).flatten());
        all.append(&mut self.open);
        self.open_weight = 0;
        self.held = 0;
        all
    }
}

/// What the stage asked of upstream.
struct Credit {
    /// Requested upstream and not yet received (unbounded is sticky).
    in_flight: Demand,
    /// The upstream subscription arrived: requests may be made.
    subscribed: bool,
}

type State<T, E> = Locked<Batches<T>, Credit, E>;

struct Shared<T: Send + 'static, E> {
    core: QueueCore<Batches<T>, Credit, E>,
    rule: Rule,
    timeout: Option<(Duration, Arc<dyn Scheduler>)>,
}

impl<T: Send + 'static, E: Send + 'static> Shared<T, E> {
    fn lock(&self) -> MutexGuard<'_, State<T, E>> {
        self.core.lock()
    }

    fn signal(&self) {
        self.core.drain.signal();
    }

    /// Outstanding downstream demand, in batches.
    fn demand(&self) -> Demand {
        self.core.drain.demand()
    }

    /// How many items to request upstream now (added to `in_flight`): the operator's
    /// target for items held or in flight, minus what is already held or in flight.
    #[inline]
    fn credit(&self, st: &mut State<T, E>, demand: Demand) -> u64 {
        let Locked {
            held: st,
            state: credit,
            life,
        } = st;
        if !credit.subscribed || !life.is_open() || credit.in_flight.is_unbounded() {
            return 0;
        }
        let in_flight = credit.in_flight.get();
        let (target, outstanding) = match self.rule {
            Rule::Count(n) => (
                demand.multiply(n as u64),
                (st.ready.len() as u64)
                    .saturating_mul(n as u64)
                    .saturating_add(st.open.len() as u64),
            ),
            Rule::CountOrTimer(n) | Rule::Boundary(n) => (
                demand.add(1).multiply(n as u64),
                (st.ready.len() as u64)
                    .saturating_mul(n as u64)
                    .saturating_add(st.open.len() as u64),
            ),
            // Each item in flight can close at most one more batch (a non-empty open batch
            // counts as one), so this keeps the closed batches within demand + 1.
            Rule::Weight(_) | Rule::KeyChange => (
                demand.add(1),
                st.ready.len() as u64 + u64::from(!st.open.is_empty()),
            ),
            Rule::WhileBusy(max) => (Demand::new(max as u64), st.held as u64),
            // In items still to come: window `w` (from 0) closes at item `w * step +
            // size`, and the windows wanted are those emitted plus downstream's demand
            // (or those closed already, if more). A large demand is capped in windows,
            // so that the in-flight items stay within `max_in_flight` and are
            // replenished by `step` as each window goes out (as `Count` by `n`), not
            // item by item.
            Rule::Sliding { size, step } => (self.sliding_need(st, demand, size, step), 0),
        };
        // Never unbounded, however large the demand: a synchronous upstream emits inside
        // `request`, so an unbounded (or huge) request would pull it to its end, or
        // forever, before a batch went downstream, and a cancel could not stop it. The
        // credit is recomputed as items arrive and batches go out.
        let n = target
            .get()
            .min(self.rule.max_in_flight())
            .saturating_sub(outstanding.saturating_add(in_flight));
        credit.in_flight = credit.in_flight.add(n);
        n
    }

    /// `Rule::Sliding`'s need, in items still to come (out of line, so that the other
    /// rules' request path stays as small as it was).
    #[inline(never)]
    fn sliding_need(&self, st: &Batches<T>, demand: Demand, size: usize, step: usize) -> Demand {
        let emitted = st.closed - st.ready.len() as u64;
        let cap = self.rule.max_in_flight().saturating_sub(size as u64) / step as u64 + 1;
        let wanted = st.closed.max(emitted.saturating_add(demand.get().min(cap)));
        let needed = match wanted {
            0 => 0,
            w => (w - 1)
                .saturating_mul(step as u64)
                .saturating_add(size as u64),
        };
        Demand::new(needed.saturating_sub(st.count))
    }

    /// Moves the open batch (if any) to the closed ones and retires its timer; for the
    /// sliding windows, every open window (the partial ones, at completion).
    fn close_open(&self, st: &mut Batches<T>) {
        st.retire_timer();
        st.closed += st.windows.len() as u64;
        st.ready.extend(st.windows.drain(..));
        if !st.open.is_empty() {
            let batch = std::mem::replace(&mut st.open, self.rule.fresh_batch());
            st.open_weight = 0;
            st.ready.push_back(batch);
        }
    }

    /// Adds an item to the open batch and closes batches by the rule.
    fn accept(self: &Arc<Self>, st: &mut Batches<T>, item: T, weight: u64) {
        let was_empty = st.open.is_empty();
        st.held += 1;
        match self.rule {
            Rule::Count(n) | Rule::CountOrTimer(n) | Rule::Boundary(n) => {
                st.open.push(item);
                if st.open.len() >= n {
                    self.close_open(st);
                }
            }
            Rule::Weight(max) => {
                if !st.open.is_empty() && st.open_weight.saturating_add(weight) > max {
                    self.close_open(st);
                }
                st.open.push(item);
                st.open_weight = st.open_weight.saturating_add(weight);
                if st.open_weight >= max {
                    self.close_open(st);
                }
            }
            Rule::WhileBusy(_) => st.open.push(item),
            Rule::KeyChange => {
                if weight > 0 && !st.open.is_empty() {
                    self.close_open(st);
                }
                st.open.push(item);
            }
            Rule::Sliding { .. } => unreachable!("sliding windows are filled by accept_copies"),
        }
        if was_empty && !st.open.is_empty() {
            self.start_timer(st);
        }
    }

    /// `Rule::Sliding`: puts the item in every open window (the `clones` in all but the
    /// newest, as many as [`window_count`] said), and closes the oldest window when it is
    /// full. Returns the item if no window holds it (`step > size`), to be let go outside
    /// the lock.
    fn accept_copies(&self, st: &mut Batches<T>, item: T, clones: Vec<T>) -> Option<T> {
        let Rule::Sliding { size, step } = self.rule else {
            unreachable!("copies only for sliding windows")
        };
        if st.count % step as u64 == 0 {
            st.windows.push_back(self.rule.fresh_batch());
        }
        st.count += 1;
        if st.windows.is_empty() {
            return Some(item); // between windows
        }
        debug_assert_eq!(st.windows.len(), clones.len() + 1);
        let copies = clones.len() + 1;
        // The clones go to the older windows, the item itself to the newest.
        for (window, copy) in st.windows.iter_mut().zip(clones) {
            window.push(copy);
        }
        st.windows.back_mut().expect("a window").push(item);
        st.held += copies;
        for _ in 0..copies {
            self.core.dropper.stats.record_received();
        }
        // Only the oldest window can be full: it started first.
        if st.windows.front().is_some_and(|w| w.len() >= size) {
            let full = st.windows.pop_front().expect("a full window");
            st.ready.push_back(full);
            st.closed += 1;
        }
        None
    }

    /// Starts the timer of a batch that just received its first item.
    fn start_timer(self: &Arc<Self>, st: &mut Batches<T>) {
        let Some((after, scheduler)) = &self.timeout else {
            return;
        };
        let generation = st.generation;
        let weak = Arc::downgrade(self);
        let handle = scheduler.run_after(*after, move || {
            if let Some(shared) = weak.upgrade() {
                shared.on_timer(generation);
            }
        });
        st.timer = Some(handle);
    }

    fn on_timer(&self, generation: u64) {
        let mut st = self.lock();
        let closed = st.life.is_closed();
        let batches = &mut st.held;
        if batches.generation != generation || closed || batches.open.is_empty() {
            return;
        }
        batches.timer = None;
        self.close_open(batches);
        drop(st);
        self.signal();
    }

    /// A tick of the fixed clock, or an item of the boundary publisher: the open batch
    /// closes (an empty one is not emitted).
    fn on_boundary(&self) {
        let mut st = self.lock();
        if st.life.is_closed() || !st.life.is_open() || st.held.open.is_empty() {
            return;
        }
        self.close_open(&mut st.held);
        drop(st);
        self.signal();
    }

    /// The boundary publisher ended: so does the stage, as if upstream had (the open
    /// batch flushed on completion, discarded on error), and upstream is cancelled.
    fn boundary_ended(&self, end: Result<(), Error<E>>) {
        let mut st = self.lock();
        if !st.life.is_open() {
            return;
        }
        let failed = end.is_err();
        let cancel = st.life.finish(end);
        let discarded = self.end_batches(&mut st.held, failed);
        drop(st);
        if cancel {
            self.core.upstream.cancel();
        }
        self.core
            .dropper
            .discard_quietly(discarded, DropReason::Discarded);
        self.signal();
    }

    /// Upstream (or the boundary) ended: timers stopped; on completion the open batch is
    /// flushed, on error it is returned, to be discarded outside the lock.
    fn end_batches(&self, batches: &mut Batches<T>, failed: bool) -> Vec<T> {
        batches.stop_boundary();
        if !failed {
            self.close_open(batches);
            return Vec::new();
        }
        batches.retire_timer();
        let mut open = std::mem::take(&mut batches.open);
        open.extend(batches.windows.drain(..).flatten());
        batches.open_weight = 0;
        batches.held -= open.len();
        self.core.dropper.stats.set_buffered(batches.held);
        open
    }

    /// Takes the next batch for downstream, if one may go now.
    fn next_batch(&self, st: &mut Batches<T>) -> Option<Vec<T>> {
        if let Some(batch) = st.ready.pop_front() {
            return Some(batch);
        }
        if matches!(self.rule, Rule::WhileBusy(_)) && !st.open.is_empty() {
            st.open_weight = 0;
            return Some(std::mem::take(&mut st.open));
        }
        None
    }
}

/// `Rule::Sliding`: how many windows hold the item at `index` (from 0), the windows
/// starting at every multiple of `step` and spanning `size` items.
pub(crate) fn window_count(index: u64, size: usize, step: usize) -> usize {
    let (size, step) = (size as u64, step as u64);
    let last = index / step; // the newest window started at or before the item
    let first = match index.checked_sub(size) {
        None => 0,
        Some(before) => before / step + 1, // the oldest window still open at the item
    };
    (last + 1).saturating_sub(first) as usize
}

/// Subscribes `subscriber` to the batches of `upstream`.
pub(crate) fn subscribe<M, P, S>(upstream: P, setup: Setup<P::Item>, subscriber: S)
where
    M: StageName,
    P: Publisher,
    S: Subscriber<Item = Vec<P::Item>, Error = P::Error>,
{
    subscribe_bounded::<M, P, S, Never<(), P::Error>>(upstream, setup, None, subscriber);
}

/// Subscribes `subscriber` to the batches of `upstream`, closed at each item of
/// `boundary` (`chunks_with`), which is subscribed first, with unbounded demand.
pub(crate) fn subscribe_bounded<M, P, S, B>(
    upstream: P,
    setup: Setup<P::Item>,
    boundary: Option<B>,
    subscriber: S,
) where
    M: StageName,
    P: Publisher,
    S: Subscriber<Item = Vec<P::Item>, Error = P::Error>,
    B: Publisher<Error = P::Error>,
{
    let subscriber = crate::named::attach(M::STAGE, Some(&setup.stats), subscriber);
    let context = subscriber.context();
    let timeout = setup
        .timeout
        .map(|(d, pinned)| (d, pinned.unwrap_or_else(|| context.scheduler())));
    let batches = Batches {
        open: Vec::new(),
        open_weight: 0,
        ready: VecDeque::new(),
        held: 0,
        timer: None,
        generation: 0,
        windows: VecDeque::new(),
        count: 0,
        closed: 0,
        ticker: None,
        boundary: None,
    };
    let credit = Credit {
        in_flight: Demand::ZERO,
        subscribed: false,
    };
    let dropper = Dropper::new(setup.stats, setup.on_drop);
    let shared = Arc::new(Shared {
        core: QueueCore::new(M::STAGE, batches, credit, dropper),
        rule: setup.rule,
        timeout,
    });
    drain::start(
        BatchSource::<M, _, _>(Arc::clone(&shared), PhantomData),
        subscriber,
    );
    if let Some((period, pinned)) = setup.ticks {
        let scheduler = pinned.unwrap_or_else(|| context.scheduler());
        let mut st = shared.lock();
        if st.life.is_open() {
            let weak = Arc::downgrade(&shared);
            st.held.ticker = Some(scheduler.run_every(period, period, move || {
                if let Some(shared) = weak.upgrade() {
                    shared.on_boundary();
                }
            }));
        }
    }
    if let Some(boundary) = boundary {
        let slot = Arc::new(UpstreamSlot::default());
        let open = {
            let mut st = shared.lock();
            let open = st.life.is_open();
            if open {
                st.held.boundary = Some(Arc::clone(&slot));
            }
            open
        };
        if open {
            boundary.subscribe(BoundarySubscriber {
                shared: Arc::downgrade(&shared),
                slot,
                context: context.clone(),
                _item: PhantomData,
            });
        }
    }
    upstream.subscribe(BatchUpstream {
        shared,
        weigh: setup.weigh,
        clone: setup.clone,
        index: 0,
        context,
    });
}

/// The downstream side: the drain loop pulls closed batches from here, one per unit of
/// downstream demand.
struct BatchSource<M, T: Send + 'static, E>(Arc<Shared<T, E>>, PhantomData<fn(M)>);

impl<M: StageName, T: Send + 'static, E: Send + 'static> Source for BatchSource<M, T, E> {
    type Item = Vec<T>;
    type Error = E;
    const STAGE: Stage = M::STAGE;
    // The upstream credit depends on the exact outstanding demand, so each batch handed
    // out is subtracted at once.
    const SETTLES_DEMAND: bool = true;

    fn attach(&mut self, drain: DrainHandle) {
        self.0.core.drain.set(drain);
    }

    fn pull(&mut self, _cx: &mut TaskContext<'_>) -> Pulled<Vec<T>, E> {
        let shared = &self.0;
        let mut st = shared.lock();
        if let Some(failure) = st.life.take_failure() {
            return failure;
        }
        let batch = shared.next_batch(&mut st.held);
        if batch.is_none() {
            if let Some(end) = st.life.take_end() {
                return end;
            }
        }
        if let Some(batch) = &batch {
            st.held.held -= batch.len();
            let stats = &shared.core.dropper.stats;
            stats.record_emitted(batch.len() as u64);
            stats.set_buffered(st.held.held);
            shared.core.drain.produced_one();
        }
        let more = shared.credit(&mut st, shared.demand());
        drop(st);
        shared.core.upstream.request(more);
        batch.map_or(Pulled::Pending, Pulled::Item)
    }

    fn poll_end(&mut self, _cx: &mut TaskContext<'_>) -> Option<Pulled<Vec<T>, E>> {
        let shared = &self.0;
        let mut st = shared.lock();
        if let Some(failure) = st.life.take_failure() {
            return Some(failure);
        }
        if st.held.ready.is_empty() && st.held.open.is_empty() && st.held.windows.is_empty() {
            if let Some(end) = st.life.take_end() {
                return Some(end);
            }
        }
        // No demand: only the prefetch (if the rule has one) is requested.
        let more = shared.credit(&mut st, Demand::ZERO);
        drop(st);
        shared.core.upstream.request(more);
        None
    }
}

impl<M, T: Send + 'static, E> Drop for BatchSource<M, T, E> {
    fn drop(&mut self) {
        // Downstream cancelled, or the stage terminated: stop upstream and account for
        // whatever is still held.
        self.0.core.close(|_| {});
    }
}

/// The upstream side: puts items into batches.
struct BatchUpstream<T: Send + 'static, E> {
    shared: Arc<Shared<T, E>>,
    weigh: Option<Weigh<T>>,
    /// `Rule::Sliding`: the item's `Clone`, and the index of the next item.
    clone: Option<CloneItem<T>>,
    index: u64,
    context: Context,
}

impl<T: Send + 'static, E: Send + 'static> BatchUpstream<T, E> {
    /// `Rule::Sliding`: the item is cloned (outside the lock: `Clone` is user code) for
    /// each open window but one; received counts the copies put in windows. Kept out of
    /// line, as [`Shared::sliding_need`]: inlined, the two cost `chunks` 8% more
    /// instructions (`scripts/instr-compare.sh 48b8be2 chunks`: 1.080, out of line 1.012).
    #[inline(never)]
    fn on_next_sliding(&mut self, item: T, clone: CloneItem<T>, size: usize, step: usize) {
        let shared = &self.shared;
        let core = &shared.core;
        let copies = window_count(self.index, size, step);
        self.index += 1;
        let cloned = catch_unwind(AssertUnwindSafe(|| {
            (1..copies).map(|_| clone(&item)).collect::<Vec<T>>()
        }));
        let clones = match cloned {
            Ok(clones) => clones,
            Err(payload) => {
                self.clone = None;
                core.dropper.stats.record_received();
                return core.fail_panicked(payload, Some(item));
            }
        };
        let mut st = shared.lock();
        if !st.life.is_open() {
            drop(st);
            drop(clones);
            core.dropper.stats.record_received();
            return core.discard_late(item);
        }
        let credit = &mut st.state;
        if !credit.in_flight.is_unbounded() {
            if credit.in_flight.is_zero() {
                drop(st);
                drop(clones);
                core.dropper.stats.record_received();
                let violation = Error::ProtocolViolation {
                    stage: core.stage,
                    what: "upstream sent more items than were requested",
                };
                return core.fail(violation, Some(item));
            }
            credit.in_flight = credit.in_flight.produced(1);
        }
        let unused = shared.accept_copies(&mut st.held, item, clones);
        core.dropper.stats.set_buffered(st.held.held);
        drop(st);
        drop(unused); // an item between windows, let go (by design, not counted)
        shared.signal();
    }
}

impl<T: Send + 'static, E: Send + 'static> Subscriber for BatchUpstream<T, E> {
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let shared = &self.shared;
        shared.core.upstream_subscribed(subscription, |st| {
            st.state.subscribed = true;
            shared.credit(st, shared.demand())
        });
    }

    fn on_next(&mut self, item: T) {
        if let Rule::Sliding { size, step } = self.shared.rule {
            return match self.clone {
                Some(clone) => self.on_next_sliding(item, clone, size, step),
                None => {
                    // After a panic in `Clone`: the stage has failed.
                    self.shared.core.dropper.stats.record_received();
                    self.shared.core.discard_late(item)
                }
            };
        }
        let shared = &self.shared;
        let core = &shared.core;
        core.dropper.stats.record_received();
        let weight = match &mut self.weigh {
            None => 0,
            Some(weigh) => match catch_unwind(AssertUnwindSafe(|| weigh(&item))) {
                Ok(w) => w,
                Err(payload) => {
                    self.weigh = None;
                    return core.fail_panicked(payload, Some(item));
                }
            },
        };
        let mut st = shared.lock();
        if !st.life.is_open() {
            drop(st);
            return core.discard_late(item);
        }
        let credit = &mut st.state;
        if !credit.in_flight.is_unbounded() {
            if credit.in_flight.is_zero() {
                drop(st);
                let violation = Error::ProtocolViolation {
                    stage: core.stage,
                    what: "upstream sent more items than were requested",
                };
                return core.fail(violation, Some(item));
            }
            credit.in_flight = credit.in_flight.produced(1);
        }
        shared.accept(&mut st.held, item, weight);
        core.dropper.stats.set_buffered(st.held.held);
        drop(st);
        shared.signal();
    }

    fn on_error(&mut self, error: Error<E>) {
        let shared = &self.shared;
        let mut st = shared.lock();
        if !st.life.end_upstream(Err(error)) {
            return;
        }
        // The open batch is incomplete: it is discarded; closed batches still go first.
        let open = shared.end_batches(&mut st.held, true);
        drop(st);
        // Upstream's error wins over a panic in `on_drop` while its partial batch is
        // discarded: the stage is ending with it already, upstream has nothing left to
        // cancel, and downstream's error handling (`retry_when`, `on_error_resume`, ...)
        // decides on it. The panic is caught (it must not unwind into upstream's
        // `on_error`, nor keep the error from being signalled), the callback is not called
        // again, and the error is delivered after the closed batches as usual.
        shared
            .core
            .dropper
            .discard_quietly(open, DropReason::Discarded);
        shared.signal();
    }

    fn on_complete(&mut self) {
        let shared = &self.shared;
        let mut st = shared.lock();
        if !st.life.end_upstream(Ok(())) {
            return;
        }
        // The last, partial batch is flushed.
        shared.end_batches(&mut st.held, false);
        drop(st);
        shared.signal();
    }

    fn context(&self) -> Context {
        self.context.clone()
    }
}

/// The boundary publisher of `chunks_with`: each item closes the open batch; its end
/// ends the stage.
struct BoundarySubscriber<T: Send + 'static, E, U> {
    shared: Weak<Shared<T, E>>,
    slot: Arc<UpstreamSlot>,
    context: Context,
    _item: PhantomData<fn(U)>,
}

impl<T: Send + 'static, E: Send + 'static, U: Send + 'static> Subscriber
    for BoundarySubscriber<T, E, U>
{
    type Item = U;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if self.slot.is_set() {
            subscription.cancel(); // rule 2.5
            return;
        }
        // Before `set`: a cancel asked meanwhile is passed on once this request returns.
        subscription.request(u64::MAX);
        self.slot.set(subscription);
    }

    fn on_next(&mut self, _item: U) {
        if let Some(shared) = self.shared.upgrade() {
            shared.on_boundary();
        }
    }

    fn on_error(&mut self, error: Error<E>) {
        if let Some(shared) = self.shared.upgrade() {
            shared.boundary_ended(Err(error));
        }
    }

    fn on_complete(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.boundary_ended(Ok(()));
        }
    }

    fn context(&self) -> Context {
        self.context.clone()
    }
}
