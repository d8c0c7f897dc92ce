//! The engine of the time-based operators (`sample_first`, `sample`, `throttle_latest`,
//! `audit`, `debounce`, `rate_limit`, `delay_elements`): one state machine per
//! subscription, driven by upstream signals, scheduler timers and downstream demand.
//! Emissions from upstream threads and timer threads are serialized by the core drain
//! loop; an item is only ever handed to the drain when downstream demand is reserved for
//! it, so a timer that fires without demand drops (and counts) instead of emitting.
//!
//! Each operator is a small [`Timing`] (as each synchronous stage is a `step::Logic`):
//! what it does with an item, when its timer fires, and (if it holds items until their
//! time) how much it asks upstream. This engine does the rest: the lock, the committed
//! and held items, the timers, the terminal signals, the statistics and `on_drop`.

mod companion;
mod effects;
mod operator;
mod sides;

use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use spillway_core::drain::{self, DrainHandle};
use spillway_core::{
    Context, Demand, Error, Publisher, Scheduler, SchedulerExt, Stage, Subscriber,
};

use crate::engine::queue::Lifecycle;
use crate::engine::support::{self, UpstreamSlot};
use crate::engine::StageName;
use crate::stats::{DropReason, FlowStats, LocalCounts, OnDrop};

pub(crate) use companion::{arm, companion_fn, Arm, CompanionFn};
use companion::{Kind, Target, TimerHandle, Trigger};
use effects::Effects;
pub(crate) use operator::{companion_operator, timed_operator};
use sides::{TimedSource, TimedUpstream};

/// The per-item cost function of `rate_limit`.
pub(crate) type CostFn<T> = Arc<dyn Fn(&T) -> u64 + Send + Sync>;

/// What travels through a timed stage (its items and errors): sent between the
/// upstream, timer and drain threads.
pub(crate) trait Sendable: Send + 'static {}
impl<T: Send + 'static> Sendable for T {}

/// One time-based operator's own logic. The engine calls it under its lock, one event at
/// a time, with a [`Cx`] through which it commits, holds, drops and arms its timer.
pub(crate) trait Timing: Send + Sync + 'static {
    /// What the operator keeps per subscription (its windows, a bucket's credit).
    type State: Send + 'static;

    /// The state of a new subscription, at `now`.
    fn start(&self, now: Instant) -> Self::State;

    /// Lossless operators hold every item until its time (`delay_elements`, shaping
    /// `rate_limit`): they request bounded demand upstream ([`request`](Self::request))
    /// and keep their held items when upstream ends. The others request everything and
    /// keep at most one pending item.
    fn lossless(&self) -> bool {
        false
    }

    /// The operator decides on an item's time of arrival: the engine reads the clock for
    /// every item (the others never do, per item).
    fn reads_clock(&self) -> bool {
        false
    }

    /// The operator emits on a fixed clock (`sample`): the engine runs a ticker with the
    /// operator's period, which commits the pending item at each tick.
    fn ticks(&self) -> bool {
        false
    }

    /// An item arrived while the stage is open (and, if lossless, was requested); `now`
    /// is its time of arrival if the operator [reads the clock](Self::reads_clock).
    fn on_item<T: Sendable, E: Sendable>(
        &self,
        cx: &mut Cx<'_, T, E, Self>,
        item: T,
        cost: u64,
        now: Option<Instant>,
    ) where
        Self: Sized;

    /// The one-shot timer armed with [`Cx::start_timer`] fired, at `now`.
    fn on_timer<T: Sendable, E: Sendable>(&self, _cx: &mut Cx<'_, T, E, Self>, _now: Instant)
    where
        Self: Sized,
    {
    }

    /// Lossless operators: how many items to request from upstream now, given the demand
    /// `free` not covered by what is committed, held or in flight (`outstanding`).
    fn request<T: Sendable, E: Sendable>(
        &self,
        _cx: &mut Cx<'_, T, E, Self>,
        _free: u64,
        _outstanding: u64,
        _now: Instant,
    ) -> u64
    where
        Self: Sized,
    {
        0
    }
}

/// The request policy of the operators that hold one item at a time until its release
/// (`delay_elements`, `delay_until`): one item, once nothing is outstanding, and only
/// against free downstream demand.
#[inline]
pub(crate) fn one_at_a_time(free: u64, outstanding: u64) -> u64 {
    if outstanding == 0 {
        free.min(1)
    } else {
        0
    }
}

/// What every operator of the family carries besides its period: the pinned scheduler,
/// the completion policy, the stats and the drop callback.
pub(crate) struct Settings<T> {
    pub(crate) scheduler: Option<Arc<dyn Scheduler>>,
    pub(crate) flush_on_complete: bool,
    pub(crate) stats: FlowStats,
    pub(crate) on_drop: Option<OnDrop<T>>,
}

impl<T> Settings<T> {
    pub(crate) fn new() -> Self {
        Settings {
            scheduler: None,
            flush_on_complete: true,
            stats: FlowStats::new(0),
            on_drop: None,
        }
    }

    pub(crate) fn set_on_drop<F>(&mut self, f: F)
    where
        F: Fn(T, DropReason) + Send + Sync + 'static,
    {
        self.on_drop = Some(support::on_drop(f));
    }
}

impl<T> fmt::Debug for Settings<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("scheduler", &self.scheduler)
            .field("flush_on_complete", &self.flush_on_complete)
            .field("stats", &self.stats)
            .field("on_drop", &self.on_drop.as_ref().map(|_| "Fn"))
            .finish()
    }
}

struct State<T, E, S> {
    /// Committed items: downstream demand is reserved for each.
    ready: VecDeque<T>,
    /// Lossy operators: the pending (latest) item, at most one. Lossless operators: the
    /// items waiting for their release time, with their cost.
    held: VecDeque<(T, u64)>,
    /// Lossless operators: requested upstream and not yet received.
    in_flight: u64,
    subscribed: bool,
    /// Upstream's end (delivered after `ready`, and `held` when flushed), the stage's
    /// own failure (at once), downstream's cancel.
    life: Lifecycle<E>,
    /// The one-shot timer: a scheduler task, or an item's companion.
    timer: Option<TimerHandle>,
    timer_gen: u64,
    /// The fixed clock: a scheduler task, or the notifier.
    ticker: Option<TimerHandle>,
    /// The operator's own state.
    logic: S,
    /// The stage's counters, kept under this lock and published with plain stores (this
    /// subscription is their only writer): no read-modify-write per item.
    counts: LocalCounts,
}

struct Shared<T, E, L: Timing> {
    state: Mutex<State<T, E, L::State>>,
    upstream: UpstreamSlot,
    drain: OnceLock<DrainHandle>,
    scheduler: Arc<dyn Scheduler>,
    logic: L,
    period: Duration,
    flush: bool,
    stage: Stage,
    stats: FlowStats,
    on_drop: Option<OnDrop<T>>,
    on_drop_panicked: AtomicBool,
    /// Lossy operators: whether `TimedSource::pull` may find anything (a failure, a
    /// committed item, a terminal signal). Written under the state lock by `count_held`,
    /// read without it by `pull`, which otherwise returns `Pending` without locking: the
    /// drain runs dry once per emitted item, and that second pull would cost a lock.
    work: AtomicBool,
    cost: Option<CostFn<T>>,
    companion: Option<CompanionFn<T, E>>,
    /// The subscriber's context, which companions are subscribed with.
    context: Context,
    me: Weak<Shared<T, E, L>>,
}

/// What some operators add to the engine: a per-item cost (`rate_limit`), a companion
/// built for an item (`sample_first_with`, `delay_until`), a notifier that replaces the
/// ticker (`sample_with`).
pub(crate) struct Hooks<T, E> {
    pub(crate) cost: Option<CostFn<T>>,
    pub(crate) companion: Option<CompanionFn<T, E>>,
    pub(crate) notifier: Option<Arm<E>>,
}

impl<T, E> Default for Hooks<T, E> {
    fn default() -> Self {
        Hooks {
            cost: None,
            companion: None,
            notifier: None,
        }
    }
}

/// Subscribes `subscriber` to `upstream` through the operator `logic`.
pub(crate) fn subscribe<N, P, L, S>(
    upstream: P,
    logic: L,
    period: Duration,
    settings: Settings<P::Item>,
    hooks: Hooks<P::Item, P::Error>,
    subscriber: S,
) where
    N: StageName,
    P: Publisher,
    L: Timing,
    S: Subscriber<Item = P::Item, Error = P::Error>,
{
    let subscriber = crate::named::attach(N::STAGE, Some(&settings.stats), subscriber);
    let context = subscriber.context();
    let scheduler = settings.scheduler.unwrap_or_else(|| context.scheduler());
    let counts = settings.stats.local_counts();
    let ticks = logic.ticks();
    let shared = Arc::new_cyclic(|me| Shared {
        state: Mutex::new(State {
            ready: VecDeque::new(),
            held: VecDeque::new(),
            in_flight: 0,
            subscribed: false,
            life: Lifecycle::default(),
            timer: None,
            timer_gen: 0,
            ticker: None,
            logic: logic.start(scheduler.now()),
            counts,
        }),
        upstream: UpstreamSlot::default(),
        drain: OnceLock::new(),
        scheduler,
        logic,
        period,
        flush: settings.flush_on_complete,
        stage: N::STAGE,
        stats: settings.stats,
        on_drop: settings.on_drop,
        on_drop_panicked: AtomicBool::new(false),
        work: AtomicBool::new(false),
        cost: hooks.cost,
        companion: hooks.companion,
        context: context.clone(),
        me: me.clone(),
    });
    drain::start(
        TimedSource::<_, _, _, N>::new(Arc::clone(&shared)),
        subscriber,
    );
    if ticks {
        let mut st = shared.lock();
        if !st.life.is_closed() {
            let weak = shared.me.clone();
            let task = shared.scheduler.run_every(period, period, move || {
                if let Some(s) = weak.upgrade() {
                    s.on_tick();
                }
            });
            st.ticker = Some(TimerHandle::Clock(task));
        }
    }
    if let Some(notifier) = hooks.notifier {
        // Before upstream, as `take_until`'s other: a notifier that fires at once acts
        // before the first item.
        let slot = Arc::new(UpstreamSlot::default());
        let open = {
            let mut st = shared.lock();
            let open = !st.life.is_closed();
            if open {
                st.ticker = Some(TimerHandle::Companion(Arc::clone(&slot)));
            }
            open
        };
        if open {
            notifier(shared.trigger(slot, Kind::Notifier));
        }
    }
    upstream.subscribe(TimedUpstream::new(shared, context));
}

/// An operator's view of the engine during one event, under its lock.
pub(crate) struct Cx<'a, T, E, L: Timing> {
    shared: &'a Shared<T, E, L>,
    st: &'a mut State<T, E, L::State>,
    eff: &'a mut Effects<T>,
}

impl<T: Send + 'static, E: Send + 'static, L: Timing> Cx<'_, T, E, L> {
    /// The operator's own state.
    #[inline]
    pub(crate) fn state(&mut self) -> &mut L::State {
        &mut self.st.logic
    }

    /// The operator's period.
    #[inline]
    pub(crate) fn period(&self) -> Duration {
        self.shared.period
    }

    /// Hands `item` to downstream if demand is free for it; otherwise drops it as
    /// `NoDemand`. True if committed.
    #[inline]
    pub(crate) fn commit(&mut self, item: T) -> bool {
        self.shared.commit(self.st, item, self.eff)
    }

    /// Drops `item` for `reason` (counted now, `on_drop` after the lock).
    #[inline]
    pub(crate) fn discard(&mut self, item: T, reason: DropReason) {
        self.shared.discard(self.st, self.eff, item, reason);
    }

    /// Keeps `item` as the pending one; the previous pending item is dropped as
    /// `Throttled`.
    #[inline]
    pub(crate) fn replace_pending(&mut self, item: T) {
        if let Some((old, _)) = self.st.held.pop_front() {
            self.discard(old, DropReason::Throttled);
        }
        self.st.held.push_back((item, 0));
    }

    /// Holds `item` (with its cost) until the operator releases it.
    #[inline]
    pub(crate) fn hold(&mut self, item: T, cost: u64) {
        self.st.held.push_back((item, cost));
    }

    /// Takes the oldest held (or the pending) item.
    #[inline]
    pub(crate) fn take_held(&mut self) -> Option<T> {
        self.st.held.pop_front().map(|(item, _)| item)
    }

    /// The cost of the oldest held item, if any.
    #[inline]
    pub(crate) fn next_cost(&self) -> Option<u64> {
        self.st.held.front().map(|&(_, cost)| cost)
    }

    /// Whether items are held.
    #[inline]
    pub(crate) fn holds_any(&self) -> bool {
        !self.st.held.is_empty()
    }

    /// Requested from upstream and not yet received (lossless operators).
    #[inline]
    pub(crate) fn in_flight(&self) -> u64 {
        self.st.in_flight
    }

    /// Whether the one-shot timer is armed.
    #[inline]
    pub(crate) fn timer_armed(&self) -> bool {
        self.st.timer.is_some()
    }

    /// (Re)starts the one-shot timer: [`Timing::on_timer`] runs after `delay`.
    pub(crate) fn start_timer(&mut self, delay: Duration) {
        self.shared.start_timer(self.st, delay);
    }

    /// Commits `item` and, if it was committed, arms the one-shot timer with the item's
    /// companion: [`Timing::on_timer`] runs at the companion's first item or completion.
    /// True if committed. The user's function is called only for an item that is
    /// committed; its panic fails the stage (the item is dropped as `Discarded`).
    pub(crate) fn commit_with_companion(&mut self, item: T) -> bool {
        if self.st.life.is_closed() || self.shared.free_demand(self.st) == 0 {
            // Dropped without a companion: the user's function runs only for items that pass.
            return self.commit(item);
        }
        match self.shared.companion_for(&item) {
            Ok(arm) => {
                let committed = self.commit(item);
                if committed {
                    self.shared.start_companion(self.st, arm, self.eff);
                }
                committed
            }
            Err(panic) => {
                self.discard(item, DropReason::Discarded);
                self.shared.fail(self.st, panic, self.eff);
                false
            }
        }
    }

    /// Arms the one-shot timer with the companion of the oldest held item (if any). A
    /// panic in the user's function fails the stage.
    pub(crate) fn start_companion_for_held(&mut self) {
        let Some((front, _)) = self.st.held.front() else {
            return;
        };
        match self.shared.companion_for(front) {
            Ok(arm) => self.shared.start_companion(self.st, arm, self.eff),
            Err(panic) => self.shared.fail(self.st, panic, self.eff),
        }
    }

    /// Ends the stage with [`Error::Rejected`] after the items already committed or held.
    pub(crate) fn reject(&mut self, reason: &'static str) {
        let rejected = Error::Rejected {
            stage: self.shared.stage,
            reason,
        };
        if self.st.life.finish(Err(rejected)) {
            self.eff.cancel_upstream = true;
        }
        self.eff.signal = true;
    }
}

impl<T: Send + 'static, E: Send + 'static, L: Timing> Shared<T, E, L> {
    fn lock(&self) -> MutexGuard<'_, State<T, E, L::State>> {
        support::lock(&self.state)
    }

    /// Runs `f` with the operator's view of this event.
    #[inline]
    fn with_cx<R>(
        &self,
        st: &mut State<T, E, L::State>,
        eff: &mut Effects<T>,
        f: impl FnOnce(&L, &mut Cx<'_, T, E, L>) -> R,
    ) -> R {
        f(
            &self.logic,
            &mut Cx {
                shared: self,
                st,
                eff,
            },
        )
    }

    /// Demand not yet reserved by committed items (unbounded stays unbounded).
    #[inline]
    fn free_demand(&self, st: &State<T, E, L::State>) -> u64 {
        self.demand().produced(st.ready.len() as u64).get()
    }

    /// Downstream's outstanding demand (none before the drain starts).
    #[inline]
    fn demand(&self) -> Demand {
        self.drain.get().map_or(Demand::ZERO, DrainHandle::demand)
    }

    /// Counts a dropped item under the state lock, and keeps it for `on_drop` (called
    /// after the lock is released) if there is a callback, or if dropping it runs code
    /// (which should not run under the lock either). An item without drop glue and
    /// without a callback is simply forgotten: `sample` replacing its latest `u64` has
    /// nothing left to do after the lock.
    #[inline]
    fn discard(
        &self,
        st: &mut State<T, E, L::State>,
        eff: &mut Effects<T>,
        item: T,
        reason: DropReason,
    ) {
        st.counts.dropped(&self.stats, reason);
        if self.on_drop.is_some() || std::mem::needs_drop::<T>() {
            eff.drops.push((item, reason));
        }
    }

    /// Hands `item` to downstream if demand is free for it; otherwise drops it as
    /// `NoDemand`. True if committed.
    #[inline]
    fn commit(&self, st: &mut State<T, E, L::State>, item: T, eff: &mut Effects<T>) -> bool {
        if st.life.is_closed() {
            self.discard(st, eff, item, DropReason::Discarded);
            return false;
        }
        if self.free_demand(st) > 0 {
            st.ready.push_back(item);
            eff.signal = true;
            true
        } else {
            self.discard(st, eff, item, DropReason::NoDemand);
            false
        }
    }

    fn cancel_timer(st: &mut State<T, E, L::State>) {
        st.timer_gen = st.timer_gen.wrapping_add(1);
        if let Some(t) = st.timer.take() {
            t.cancel();
        }
    }

    fn cancel_timers(st: &mut State<T, E, L::State>) {
        Self::cancel_timer(st);
        if let Some(t) = st.ticker.take() {
            t.cancel();
        }
    }

    /// (Re)starts the one-shot timer.
    fn start_timer(&self, st: &mut State<T, E, L::State>, delay: Duration) {
        Self::cancel_timer(st);
        let gen = st.timer_gen;
        let weak = self.me.clone();
        let task = self.scheduler.run_after(delay, move || {
            if let Some(s) = weak.upgrade() {
                s.on_timer(gen);
            }
        });
        st.timer = Some(TimerHandle::Clock(task));
    }

    /// The subscription of `item`'s companion, from the user's function (its panic
    /// caught, as the stage's error).
    fn companion_for(&self, item: &T) -> Result<Arm<E>, Error<E>> {
        let f = self
            .companion
            .as_ref()
            .expect("an operator with companions");
        catch_unwind(AssertUnwindSafe(|| f(item)))
            .map_err(|payload| Error::from_panic(self.stage, payload))
    }

    /// (Re)arms the one-shot timer with a companion, subscribed once the lock is released.
    fn start_companion(&self, st: &mut State<T, E, L::State>, arm: Arm<E>, eff: &mut Effects<T>) {
        Self::cancel_timer(st);
        let slot = Arc::new(UpstreamSlot::default());
        st.timer = Some(TimerHandle::Companion(Arc::clone(&slot)));
        let trigger = self.trigger(slot, Kind::OneShot { gen: st.timer_gen });
        eff.arm = Some(Box::new(move || arm(trigger)));
    }

    fn trigger(&self, slot: Arc<UpstreamSlot>, kind: Kind) -> Trigger<E> {
        let target: Weak<dyn Target<E>> = self.me.clone();
        Trigger::new(target, slot, kind, self.context.clone())
    }

    /// Fails the stage at once: timers and upstream cancelled, everything held discarded.
    fn fail(&self, st: &mut State<T, E, L::State>, error: Error<E>, eff: &mut Effects<T>) {
        if st.life.is_closed() || st.life.has_failed() {
            return;
        }
        let cancel = st.life.fail(error);
        Self::cancel_timers(st);
        let ready = std::mem::take(&mut st.ready);
        let held = std::mem::take(&mut st.held);
        for item in ready.into_iter().chain(held.into_iter().map(|(i, _)| i)) {
            self.discard(st, eff, item, DropReason::Discarded);
        }
        eff.cancel_upstream |= cancel;
        eff.signal = true;
    }

    /// Lossless operators: requests what may be taken from upstream now.
    fn replenish(&self, st: &mut State<T, E, L::State>, now: Instant, eff: &mut Effects<T>) {
        if !st.subscribed || !st.life.is_open() {
            return;
        }
        let outstanding = (st.ready.len() + st.held.len()) as u64 + st.in_flight;
        let free = self.demand().produced(outstanding).get();
        let n = self.with_cx(st, eff, |logic, cx| {
            logic.request(cx, free, outstanding, now)
        });
        st.in_flight += n;
        eff.request = eff.request.saturating_add(n);
    }

    /// Counts the items held now and publishes whether the drain has work (see
    /// `Shared::work`), under the state lock, just before it is released and `eff`
    /// applied. Every locked section that changes `ready`, `end` or `failed` ends here.
    fn count_held(&self, st: &mut State<T, E, L::State>) {
        let held = st.ready.len() + st.held.len();
        st.counts.buffered(&self.stats, held);
        // Published before the drain is signalled (in `apply`), so a pass that follows
        // the signal sees it.
        let work = st.life.has_failed() || !st.ready.is_empty() || st.life.has_end();
        self.work.store(work, Ordering::Release);
    }

    /// Calls `on_drop` (outside any lock), cancels, requests, signals. The drops were
    /// counted by [`discard`](Self::discard).
    #[inline]
    fn apply(&self, eff: Effects<T>) {
        if eff.is_empty() {
            return;
        }
        if eff.drops.is_empty() && !eff.cancel_upstream && eff.request == 0 && eff.arm.is_none() {
            // Only a signal: an item committed.
            if let Some(d) = self.drain.get() {
                d.signal();
            }
            return;
        }
        self.apply_all(eff);
    }

    #[inline(never)]
    fn apply_all(&self, eff: Effects<T>) {
        if eff.cancel_upstream {
            self.upstream.cancel();
        }
        if let Some(arm) = eff.arm {
            // A companion that fires inside its `subscribe` (`empty()`) releases an item
            // from here; the next item that brings comes from upstream's own loop, after
            // this returns, so synchronous companions do not nest.
            arm();
        }
        for (item, reason) in eff.drops.into_iter() {
            let Some(f) = &self.on_drop else { continue };
            if self.on_drop_panicked.load(Ordering::Acquire) {
                continue;
            }
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| f(item, reason))) {
                self.on_drop_panicked.store(true, Ordering::Release);
                let mut more = Effects::new();
                let mut st = self.lock();
                // An error upstream already sent wins (the items are discarded because of
                // it, or while it waits behind committed ones): upstream has nothing left
                // to cancel and downstream's error handling decides on it. Otherwise (and
                // unless the stage is already over) the stage fails with the panic.
                if !st.life.ends_in_error() {
                    self.fail(&mut st, Error::from_panic(self.stage, payload), &mut more);
                }
                self.count_held(&mut st);
                drop(st);
                // The callback is not called again: the rest is only counted.
                self.apply(more);
            }
        }
        self.upstream.request(eff.request);
        if eff.signal {
            if let Some(d) = self.drain.get() {
                d.signal();
            }
        }
    }

    /// Handles an item from upstream; `now` is the time of arrival for the operators
    /// that [read the clock](Timing::reads_clock).
    #[inline]
    fn on_item(
        &self,
        st: &mut State<T, E, L::State>,
        now: Option<Instant>,
        item: T,
        cost: u64,
        eff: &mut Effects<T>,
    ) {
        if self.logic.lossless() {
            if st.in_flight == 0 {
                self.discard(st, eff, item, DropReason::Discarded);
                let what = "upstream sent more items than requested";
                let violation = Error::ProtocolViolation {
                    stage: self.stage,
                    what,
                };
                self.fail(st, violation, eff);
                return;
            }
            st.in_flight -= 1;
        }
        self.with_cx(st, eff, |logic, cx| logic.on_item(cx, item, cost, now));
    }

    fn on_timer(&self, gen: u64) {
        let now = self.scheduler.now();
        let mut eff = Effects::new();
        let mut st = self.lock();
        if st.life.is_closed() || st.timer_gen != gen {
            return;
        }
        st.timer = None;
        self.with_cx(&mut st, &mut eff, |logic, cx| logic.on_timer(cx, now));
        if self.logic.lossless() {
            self.replenish(&mut st, now, &mut eff);
            // A terminal may be waiting for the last held item.
            eff.signal = true;
        }
        self.count_held(&mut st);
        drop(st);
        self.apply(eff);
    }

    /// A tick of the fixed clock of an operator that [ticks](Timing::ticks): the pending
    /// item is committed.
    fn on_tick(&self) {
        let mut eff = Effects::new();
        let mut st = self.lock();
        if st.life.is_closed() {
            return;
        }
        if let Some((item, _)) = st.held.pop_front() {
            self.commit(&mut st, item, &mut eff);
        }
        self.count_held(&mut st);
        drop(st);
        self.apply(eff);
    }

    fn on_terminal(&self, end: Result<(), Error<E>>) {
        self.end(end, false);
    }

    /// Upstream's end, or (`by_notifier`) the notifier's, which cancels upstream.
    fn end(&self, end: Result<(), Error<E>>, by_notifier: bool) {
        let mut eff = Effects::new();
        let mut st = self.lock();
        if !st.life.is_open() {
            return; // late or duplicate terminal: ignored
        }
        self.end_locked(&mut st, &mut eff, end, by_notifier);
        self.count_held(&mut st);
        drop(st);
        self.apply(eff);
    }

    /// [`end`](Self::end), under the lock, while the stage is open.
    fn end_locked(
        &self,
        st: &mut State<T, E, L::State>,
        eff: &mut Effects<T>,
        end: Result<(), Error<E>>,
        by_notifier: bool,
    ) {
        if !self.logic.lossless() {
            Self::cancel_timers(st);
            if end.is_err() || !self.flush {
                let held = std::mem::take(&mut st.held);
                for (item, _) in held {
                    self.discard(st, eff, item, DropReason::Discarded);
                }
            }
        }
        if by_notifier {
            eff.cancel_upstream = st.life.finish(end);
        } else {
            st.life.end_upstream(end);
        }
        eff.signal = true;
    }
}

impl<T: Send + 'static, E: Send + 'static, L: Timing> Target<E> for Shared<T, E, L> {
    fn tick(&self) {
        self.on_tick();
    }

    fn notifier_completed(&self) {
        self.end(Ok(()), true);
    }

    fn fire(&self, gen: u64) {
        self.on_timer(gen);
    }

    fn companion_failed(&self, error: Error<E>) {
        let mut eff = Effects::new();
        let mut st = self.lock();
        if st.life.is_open() && !self.logic.lossless() {
            // As upstream's error: after what is committed; upstream is cancelled.
            self.end_locked(&mut st, &mut eff, Err(error), true);
        } else {
            // A lossless stage's held items wait for companions that will not fire now.
            self.fail(&mut st, error, &mut eff);
        }
        self.count_held(&mut st);
        drop(st);
        self.apply(eff);
    }
}
