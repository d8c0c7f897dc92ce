//! The engine shared by the rate-control family (`sample_first`, `sample`,
//! `throttle_latest`, `audit`, `debounce`, `rate_limit`, `delay_elements`): one state
//! machine per subscription, driven by upstream signals, scheduler timers and downstream
//! demand. Emissions from upstream threads and timer threads are serialized by the core
//! drain loop; an item is only ever handed to the drain when downstream demand is
//! reserved for it, so a timer that fires without demand drops (and counts) instead of
//! emitting.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::task::Context as TaskContext;
use std::time::{Duration, Instant};

use spillway_core::drain::{self, DrainHandle, Pulled, Source};
use spillway_core::{
    Context, Error, Publisher, Scheduler, SchedulerExt, SharedSubscription, Stage, Subscriber,
    TaskHandle,
};

use crate::engine::support::{self, UpstreamSlot};
use crate::engine::StageName;
use crate::stats::{DropReason, FlowStats, LocalCounts, OnDrop};

/// The per-item cost function of `rate_limit`.
pub(crate) type CostFn<T> = Arc<dyn Fn(&T) -> u64 + Send + Sync>;

/// What `rate_limit` does with an item the bucket cannot pay for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateLimitMode {
    /// Shaping, lossless: request from upstream only what the tokens allow and hold an
    /// item that arrived without enough tokens until they refill. Never drops.
    Delay,
    /// Enforcing: an item over the limit fails the pipeline with
    /// [`Error::Rejected`](spillway_core::Error::Rejected).
    Fail,
    /// Enforcing, lossy: an item over the limit is dropped as
    /// [`DropReason::Throttled`].
    Drop,
}

/// The token bucket, in exact integer units: one token is `per_nanos` credits, and every
/// nanosecond adds `rate` credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bucket {
    rate: u64,
    per_nanos: u128,
    burst: u64,
    /// `burst` tokens in credits, computed once.
    capacity: u128,
}

impl Bucket {
    pub(crate) fn new(rate: u64, per: Duration, burst: u64) -> Bucket {
        let per_nanos = per.as_nanos();
        Bucket {
            rate,
            per_nanos,
            burst,
            capacity: u128::from(burst).saturating_mul(per_nanos),
        }
    }

    fn capacity(&self) -> u128 {
        self.capacity
    }

    #[inline]
    fn price(&self, cost: u64) -> u128 {
        if cost == 1 {
            return self.per_nanos; // every item without a cost function
        }
        u128::from(cost).saturating_mul(self.per_nanos)
    }

    /// The credits earned in `elapsed` nanoseconds (saturating).
    #[inline]
    fn earned(&self, elapsed: u128) -> u128 {
        match u64::try_from(elapsed) {
            // A 64 by 64 bit product fits in 128 bits: one multiplication, no check.
            Ok(e) => u128::from(e) * u128::from(self.rate),
            Err(_) => elapsed.saturating_mul(u128::from(self.rate)),
        }
    }

    /// Whole tokens in `credit`.
    #[inline]
    fn tokens(&self, credit: u128) -> u64 {
        match (u64::try_from(credit), u64::try_from(self.per_nanos)) {
            // A 64-bit division instead of a 128-bit one (a library call).
            (Ok(c), Ok(p)) => c / p,
            _ => u64::try_from(credit / self.per_nanos).unwrap_or(u64::MAX),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    SampleFirst,
    Sample,
    ThrottleLatest,
    Audit,
    Debounce,
    RateLimit(Bucket, RateLimitMode),
    DelayElements,
}

impl Kind {
    /// The kinds whose handling of an item depends on its time of arrival.
    fn reads_clock(self) -> bool {
        matches!(self, Kind::SampleFirst | Kind::RateLimit(..))
    }

    /// Lossless kinds request bounded demand upstream and hold items until released.
    fn lossless(self) -> bool {
        matches!(
            self,
            Kind::DelayElements | Kind::RateLimit(_, RateLimitMode::Delay)
        )
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

struct State<T, E> {
    /// Committed items: downstream demand is reserved for each.
    ready: VecDeque<T>,
    /// Lossy kinds: the pending (latest) item, at most one. Lossless kinds: the items
    /// waiting for their release time, with their cost.
    held: VecDeque<(T, u64)>,
    /// Lossless kinds: requested upstream and not yet received.
    in_flight: u64,
    subscribed: bool,
    /// Upstream terminated, or we cancelled it.
    upstream_done: bool,
    /// Upstream's terminal signal, delivered after `ready` (and `held`, when flushed).
    end: Option<Result<(), Error<E>>>,
    /// A failure of this stage, delivered at once.
    failed: Option<Error<E>>,
    /// Downstream cancelled or the stage terminated.
    closed: bool,
    timer: Option<TaskHandle>,
    timer_gen: u64,
    ticker: Option<TaskHandle>,
    gate_until: Option<Instant>,
    window_open: bool,
    credit: u128,
    refilled_at: Instant,
    /// The stage's counters, kept under this lock and published with plain stores (this
    /// subscription is their only writer): no read-modify-write per item.
    counts: LocalCounts,
}

/// The items an event dropped, handed to `on_drop` after the lock is released. Most
/// events drop at most one item (`sample` replacing its latest, `rate_limit` refusing
/// one), which is kept inline: no allocation per item.
struct Drops<T> {
    first: Option<(T, DropReason)>,
    more: Vec<(T, DropReason)>,
}

impl<T> Drops<T> {
    fn new() -> Self {
        Drops {
            first: None,
            more: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, drop: (T, DropReason)) {
        if self.first.is_none() {
            self.first = Some(drop);
        } else {
            self.more.push(drop);
        }
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    fn into_iter(self) -> impl Iterator<Item = (T, DropReason)> {
        self.first.into_iter().chain(self.more)
    }
}

struct Effects<T> {
    drops: Drops<T>,
    request: u64,
    cancel_upstream: bool,
    signal: bool,
}

impl<T> Effects<T> {
    fn new() -> Self {
        Effects {
            drops: Drops::new(),
            request: 0,
            cancel_upstream: false,
            signal: false,
        }
    }

    /// Nothing to do after the lock: the common case of an item only held or replaced
    /// without a drop.
    #[inline]
    fn is_empty(&self) -> bool {
        self.drops.is_empty() && self.request == 0 && !self.cancel_upstream && !self.signal
    }
}

struct Shared<T, E> {
    state: Mutex<State<T, E>>,
    upstream: UpstreamSlot,
    drain: OnceLock<DrainHandle>,
    scheduler: Arc<dyn Scheduler>,
    kind: Kind,
    period: Duration,
    flush: bool,
    stage: Stage,
    stats: FlowStats,
    on_drop: Option<OnDrop<T>>,
    on_drop_panicked: AtomicBool,
    /// Lossy kinds: whether `TimedSource::pull` may find anything (a failure, a committed
    /// item, a terminal signal). Written under the state lock by `count_held`, read
    /// without it by `pull`, which otherwise returns `Pending` without locking: the drain
    /// runs dry once per emitted item, and that second pull would cost a lock.
    work: AtomicBool,
    cost: Option<CostFn<T>>,
    me: Weak<Shared<T, E>>,
}

/// Subscribes `subscriber` to `upstream` through an operator of the family.
pub(crate) fn subscribe<N, P, S>(
    upstream: P,
    kind: Kind,
    period: Duration,
    settings: Settings<P::Item>,
    cost: Option<CostFn<P::Item>>,
    subscriber: S,
) where
    N: StageName,
    P: Publisher,
    S: Subscriber<Item = P::Item, Error = P::Error>,
{
    let subscriber = crate::named::attach(N::STAGE, Some(&settings.stats), subscriber);
    let context = subscriber.context();
    let scheduler = settings.scheduler.unwrap_or_else(|| context.scheduler());
    let now = scheduler.now();
    let counts = settings.stats.local_counts();
    let credit = match kind {
        Kind::RateLimit(b, _) => b.capacity(),
        _ => 0,
    };
    let shared = Arc::new_cyclic(|me| Shared {
        state: Mutex::new(State {
            ready: VecDeque::new(),
            held: VecDeque::new(),
            in_flight: 0,
            subscribed: false,
            upstream_done: false,
            end: None,
            failed: None,
            closed: false,
            timer: None,
            timer_gen: 0,
            ticker: None,
            gate_until: None,
            window_open: false,
            credit,
            refilled_at: now,
            counts,
        }),
        upstream: UpstreamSlot::default(),
        drain: OnceLock::new(),
        scheduler,
        kind,
        period,
        flush: settings.flush_on_complete,
        stage: N::STAGE,
        stats: settings.stats,
        on_drop: settings.on_drop,
        on_drop_panicked: AtomicBool::new(false),
        work: AtomicBool::new(false),
        cost,
        me: me.clone(),
    });
    drain::start(
        TimedSource::<P::Item, P::Error, N> {
            shared: Arc::clone(&shared),
            _stage: PhantomData,
        },
        subscriber,
    );
    if kind == Kind::Sample {
        let mut st = shared.lock();
        if !st.closed {
            let weak = shared.me.clone();
            st.ticker = Some(shared.scheduler.run_every(period, period, move || {
                if let Some(s) = weak.upgrade() {
                    s.on_tick();
                }
            }));
        }
    }
    upstream.subscribe(TimedUpstream { shared, context });
}

impl<T: Send + 'static, E: Send + 'static> Shared<T, E> {
    fn lock(&self) -> MutexGuard<'_, State<T, E>> {
        support::lock(&self.state)
    }

    /// Demand not yet reserved by committed items (`u64::MAX`: unbounded).
    fn free_demand(&self, st: &State<T, E>) -> u64 {
        let demand = self.drain.get().map_or(0, |d| d.demand().get());
        if demand == u64::MAX {
            return u64::MAX;
        }
        demand.saturating_sub(st.ready.len() as u64)
    }

    /// Counts a dropped item under the state lock, and keeps it for `on_drop` (called
    /// after the lock is released) if there is a callback, or if dropping it runs code
    /// (which should not run under the lock either). An item without drop glue and
    /// without a callback is simply forgotten: `sample` replacing its latest `u64` has
    /// nothing left to do after the lock.
    #[inline]
    fn discard(&self, st: &mut State<T, E>, eff: &mut Effects<T>, item: T, reason: DropReason) {
        st.counts.dropped(&self.stats, reason);
        if self.on_drop.is_some() || std::mem::needs_drop::<T>() {
            eff.drops.push((item, reason));
        }
    }

    /// Hands `item` to downstream if demand is free for it; otherwise drops it as
    /// `NoDemand`. True if committed.
    fn commit(&self, st: &mut State<T, E>, item: T, eff: &mut Effects<T>) -> bool {
        if st.closed {
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

    fn cancel_timer(st: &mut State<T, E>) {
        st.timer_gen = st.timer_gen.wrapping_add(1);
        if let Some(t) = st.timer.take() {
            t.cancel();
        }
    }

    fn cancel_timers(st: &mut State<T, E>) {
        Self::cancel_timer(st);
        if let Some(t) = st.ticker.take() {
            t.cancel();
        }
    }

    /// (Re)starts the one-shot timer.
    fn start_timer(&self, st: &mut State<T, E>, delay: Duration) {
        Self::cancel_timer(st);
        let gen = st.timer_gen;
        let weak = self.me.clone();
        st.timer = Some(self.scheduler.run_after(delay, move || {
            if let Some(s) = weak.upgrade() {
                s.on_timer(gen);
            }
        }));
    }

    /// Fails the stage at once: timers and upstream cancelled, everything held discarded.
    fn fail(&self, st: &mut State<T, E>, error: Error<E>, eff: &mut Effects<T>) {
        if st.closed || st.failed.is_some() {
            return;
        }
        st.failed = Some(error);
        st.end = None;
        Self::cancel_timers(st);
        let ready = std::mem::take(&mut st.ready);
        let held = std::mem::take(&mut st.held);
        for item in ready.into_iter().chain(held.into_iter().map(|(i, _)| i)) {
            self.discard(st, eff, item, DropReason::Discarded);
        }
        if !st.upstream_done {
            st.upstream_done = true;
            eff.cancel_upstream = true;
        }
        eff.signal = true;
    }

    /// Ends the stage with `error` after the items already committed or held (lossless).
    fn reject(&self, st: &mut State<T, E>, reason: &'static str, eff: &mut Effects<T>) {
        st.end = Some(Err(Error::Rejected {
            stage: self.stage,
            reason,
        }));
        if !st.upstream_done {
            st.upstream_done = true;
            eff.cancel_upstream = true;
        }
        eff.signal = true;
    }

    fn refill(&self, st: &mut State<T, E>, bucket: Bucket, now: Instant) {
        // Items arriving at the same instant (a burst, or many per virtual tick) find
        // nothing to add; a full bucket stays full.
        if now <= st.refilled_at {
            return;
        }
        if st.credit < bucket.capacity() {
            let elapsed = now.duration_since(st.refilled_at).as_nanos();
            st.credit = st
                .credit
                .saturating_add(bucket.earned(elapsed))
                .min(bucket.capacity());
        }
        st.refilled_at = now;
    }

    /// The time until the bucket holds `price` credits.
    fn wait_for(st: &State<T, E>, bucket: Bucket, price: u128) -> Duration {
        let missing = price.saturating_sub(st.credit);
        let nanos = missing.div_ceil(u128::from(bucket.rate)).max(1);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Shaping mode: releases the held items the bucket can pay for, in order, and arms
    /// the timer for the first one it cannot.
    fn release(&self, st: &mut State<T, E>, bucket: Bucket, now: Instant, eff: &mut Effects<T>) {
        self.refill(st, bucket, now);
        while let Some(&(_, cost)) = st.held.front() {
            let price = bucket.price(cost);
            if st.credit >= price {
                st.credit -= price;
                let (item, _) = st.held.pop_front().expect("peeked");
                self.commit(st, item, eff);
            } else {
                if st.timer.is_none() {
                    let wait = Self::wait_for(st, bucket, price);
                    self.start_timer(st, wait);
                }
                break;
            }
        }
    }

    /// Lossless kinds: requests what may be taken from upstream now.
    fn replenish(&self, st: &mut State<T, E>, now: Instant, eff: &mut Effects<T>) {
        if !st.subscribed
            || st.upstream_done
            || st.closed
            || st.failed.is_some()
            || st.end.is_some()
        {
            return;
        }
        let demand = self.drain.get().map_or(0, |d| d.demand().get());
        let outstanding = (st.ready.len() + st.held.len()) as u64 + st.in_flight;
        let free = if demand == u64::MAX {
            u64::MAX
        } else {
            demand.saturating_sub(outstanding)
        };
        let n = match self.kind {
            Kind::DelayElements if outstanding == 0 => free.min(1),
            Kind::DelayElements => 0,
            Kind::RateLimit(bucket, RateLimitMode::Delay) => {
                if !st.held.is_empty() {
                    0
                } else {
                    self.refill(st, bucket, now);
                    let tokens = bucket.tokens(st.credit);
                    let n = free.min(tokens.saturating_sub(st.in_flight));
                    if n == 0 && free > 0 && st.in_flight == 0 && st.timer.is_none() {
                        // Out of tokens: come back when one has refilled.
                        let wait = Self::wait_for(st, bucket, bucket.price(1));
                        self.start_timer(st, wait);
                    }
                    n
                }
            }
            _ => 0,
        };
        st.in_flight += n;
        eff.request = eff.request.saturating_add(n);
    }

    /// Counts the items held now and publishes whether the drain has work (see
    /// `Shared::work`), under the state lock, just before it is released and `eff`
    /// applied. Every locked section that changes `ready`, `end` or `failed` ends here.
    fn count_held(&self, st: &mut State<T, E>) {
        let held = st.ready.len() + st.held.len();
        st.counts.buffered(&self.stats, held);
        // Published before the drain is signalled (in `apply`), so a pass that follows
        // the signal sees it.
        let work = st.failed.is_some() || !st.ready.is_empty() || st.end.is_some();
        self.work.store(work, Ordering::Release);
    }

    /// Calls `on_drop` (outside any lock), cancels, requests, signals. The drops were
    /// counted by [`discard`](Self::discard).
    #[inline]
    fn apply(&self, eff: Effects<T>) {
        if eff.is_empty() {
            return;
        }
        if eff.drops.is_empty() && !eff.cancel_upstream && eff.request == 0 {
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
                if !matches!(st.end, Some(Err(_))) {
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

    /// Handles an item from upstream; `now` is the time of arrival for the kinds that
    /// [read the clock](Kind::reads_clock).
    fn on_item(
        &self,
        st: &mut State<T, E>,
        now: Option<Instant>,
        item: T,
        cost: u64,
        eff: &mut Effects<T>,
    ) {
        if self.kind.lossless() {
            if st.in_flight == 0 {
                self.discard(st, eff, item, DropReason::Discarded);
                let what = "upstream sent more items than requested";
                self.fail(
                    st,
                    Error::ProtocolViolation {
                        stage: self.stage,
                        what,
                    },
                    eff,
                );
                return;
            }
            st.in_flight -= 1;
        }
        match self.kind {
            Kind::SampleFirst => {
                let now = now.unwrap_or_else(|| self.scheduler.now());
                if !st.window_open && st.gate_until.is_none_or(|g| now >= g) {
                    if self.commit(st, item, eff) {
                        match now.checked_add(self.period) {
                            Some(until) => st.gate_until = Some(until),
                            None => st.window_open = true, // closed for good
                        }
                    }
                } else {
                    self.discard(st, eff, item, DropReason::Throttled);
                }
            }
            Kind::Sample | Kind::Audit | Kind::Debounce => {
                if let Some((old, _)) = st.held.pop_front() {
                    self.discard(st, eff, old, DropReason::Throttled);
                }
                st.held.push_back((item, 0));
                match self.kind {
                    Kind::Audit if !st.window_open => {
                        st.window_open = true;
                        self.start_timer(st, self.period);
                    }
                    Kind::Debounce => self.start_timer(st, self.period),
                    _ => {}
                }
            }
            Kind::ThrottleLatest => {
                if st.window_open {
                    if let Some((old, _)) = st.held.pop_front() {
                        self.discard(st, eff, old, DropReason::Throttled);
                    }
                    st.held.push_back((item, 0));
                } else if self.commit(st, item, eff) {
                    st.window_open = true;
                    self.start_timer(st, self.period);
                }
            }
            Kind::DelayElements => {
                st.held.push_back((item, 0));
                if st.timer.is_none() {
                    self.start_timer(st, self.period);
                }
            }
            Kind::RateLimit(bucket, mode) => {
                let now = now.unwrap_or_else(|| self.scheduler.now());
                if cost > bucket.burst {
                    self.discard(st, eff, item, DropReason::Throttled);
                    if mode != RateLimitMode::Drop {
                        self.reject(st, "an item's cost exceeds the burst capacity", eff);
                    }
                    return;
                }
                match mode {
                    RateLimitMode::Delay => {
                        st.held.push_back((item, cost));
                        self.release(st, bucket, now, eff);
                    }
                    RateLimitMode::Fail | RateLimitMode::Drop => {
                        self.refill(st, bucket, now);
                        let price = bucket.price(cost);
                        if st.credit < price {
                            self.discard(st, eff, item, DropReason::Throttled);
                            if mode == RateLimitMode::Fail {
                                self.reject(st, "rate limit exceeded", eff);
                            }
                        } else if self.free_demand(st) > 0 {
                            st.credit -= price;
                            // Open (checked by the caller) and with demand: committed.
                            st.ready.push_back(item);
                            eff.signal = true;
                        } else {
                            self.discard(st, eff, item, DropReason::NoDemand);
                        }
                    }
                }
            }
        }
    }

    fn on_timer(&self, gen: u64) {
        let now = self.scheduler.now();
        let mut eff = Effects::new();
        let mut st = self.lock();
        if st.closed || st.timer_gen != gen {
            return;
        }
        st.timer = None;
        match self.kind {
            Kind::ThrottleLatest => {
                let committed = match st.held.pop_front() {
                    Some((item, _)) => self.commit(&mut st, item, &mut eff),
                    None => false,
                };
                // A new window starts at each emission.
                st.window_open = committed;
                if committed {
                    self.start_timer(&mut st, self.period);
                }
            }
            Kind::Audit | Kind::Debounce => {
                st.window_open = false;
                if let Some((item, _)) = st.held.pop_front() {
                    self.commit(&mut st, item, &mut eff);
                }
            }
            Kind::DelayElements => {
                if let Some((item, _)) = st.held.pop_front() {
                    self.commit(&mut st, item, &mut eff);
                }
                if !st.held.is_empty() {
                    self.start_timer(&mut st, self.period);
                }
            }
            Kind::RateLimit(bucket, RateLimitMode::Delay) => {
                self.release(&mut st, bucket, now, &mut eff);
            }
            _ => {}
        }
        if self.kind.lossless() {
            self.replenish(&mut st, now, &mut eff);
            // A terminal may be waiting for the last held item.
            eff.signal = true;
        }
        self.count_held(&mut st);
        drop(st);
        self.apply(eff);
    }

    fn on_tick(&self) {
        let mut eff = Effects::new();
        let mut st = self.lock();
        if st.closed {
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
        let mut eff = Effects::new();
        let mut st = self.lock();
        if st.closed || st.failed.is_some() || st.end.is_some() {
            return; // late or duplicate terminal: ignored
        }
        st.upstream_done = true;
        if !self.kind.lossless() {
            Self::cancel_timers(&mut st);
            if end.is_err() || !self.flush {
                let held = std::mem::take(&mut st.held);
                for (item, _) in held {
                    self.discard(&mut st, &mut eff, item, DropReason::Discarded);
                }
            }
        }
        st.end = Some(end);
        eff.signal = true;
        self.count_held(&mut st);
        drop(st);
        self.apply(eff);
    }
}

/// The downstream side: the drain loop pulls committed items from here.
struct TimedSource<T, E, N> {
    shared: Arc<Shared<T, E>>,
    _stage: PhantomData<fn() -> N>,
}

impl<T: Send + 'static, E: Send + 'static, N: StageName> Source for TimedSource<T, E, N> {
    type Item = T;
    type Error = E;
    const STAGE: Stage = N::STAGE;
    // Timers decide on `demand - committed` under the state lock, so an item must leave
    // `ready` and the demand together.
    const SETTLES_DEMAND: bool = true;

    fn attach(&mut self, drain: DrainHandle) {
        let _ = self.shared.drain.set(drain);
    }

    fn pull(&mut self, _cx: &mut TaskContext<'_>) -> Pulled<T, E> {
        let shared = &self.shared;
        // Lossless kinds may have to request from upstream here: they always look.
        if !shared.kind.lossless() && !shared.work.load(Ordering::Acquire) {
            return Pulled::Pending;
        }
        let mut eff = Effects::new();
        let mut st = shared.lock();
        if let Some(e) = st.failed.take() {
            st.closed = true;
            return Pulled::Error(e);
        }
        let mut item = st.ready.pop_front();
        if item.is_none() && st.end.is_some() && !shared.kind.lossless() {
            // Flushing a pending item at completion (held only if flush is on).
            item = st.held.pop_front().map(|(i, _)| i);
        }
        if let Some(item) = item {
            if let Some(d) = shared.drain.get() {
                d.produced(1);
            }
            st.counts.emitted(&shared.stats);
            if shared.kind.lossless() {
                let now = shared.scheduler.now();
                shared.replenish(&mut st, now, &mut eff);
            }
            shared.count_held(&mut st);
            drop(st);
            shared.apply(eff);
            return Pulled::Item(item);
        }
        if st.held.is_empty() {
            if let Some(end) = st.end.take() {
                st.closed = true;
                return match end {
                    Ok(()) => Pulled::Complete,
                    Err(e) => Pulled::Error(e),
                };
            }
        }
        if shared.kind.lossless() {
            let now = shared.scheduler.now();
            shared.replenish(&mut st, now, &mut eff);
        }
        drop(st);
        shared.apply(eff);
        Pulled::Pending
    }

    fn poll_end(&mut self, _cx: &mut TaskContext<'_>) -> Option<Pulled<T, E>> {
        let mut st = self.shared.lock();
        if let Some(e) = st.failed.take() {
            st.closed = true;
            return Some(Pulled::Error(e));
        }
        if !st.ready.is_empty() || !st.held.is_empty() {
            return None;
        }
        let end = st.end.take()?;
        st.closed = true;
        Some(match end {
            Ok(()) => Pulled::Complete,
            Err(e) => Pulled::Error(e),
        })
    }
}

impl<T, E, N> Drop for TimedSource<T, E, N> {
    fn drop(&mut self) {
        // Downstream cancelled, or the stage terminated: stop the timers and upstream,
        // and account for whatever is still held.
        let shared = &self.shared;
        let mut st = support::lock(&shared.state);
        st.closed = true;
        st.timer_gen = st.timer_gen.wrapping_add(1);
        if let Some(t) = st.timer.take() {
            t.cancel();
        }
        if let Some(t) = st.ticker.take() {
            t.cancel();
        }
        let mut left: Vec<T> = st.ready.drain(..).collect();
        left.extend(st.held.drain(..).map(|(i, _)| i));
        let cancel = !st.upstream_done;
        st.upstream_done = true;
        for _ in &left {
            st.counts.dropped(&shared.stats, DropReason::Discarded);
        }
        st.counts.buffered(&shared.stats, 0);
        drop(st);
        if cancel {
            shared.upstream.cancel();
        }
        for item in left {
            if let Some(f) = &shared.on_drop {
                if !shared.on_drop_panicked.load(Ordering::Acquire) {
                    // Nobody is left to tell of a panic here.
                    if catch_unwind(AssertUnwindSafe(|| f(item, DropReason::Discarded))).is_err() {
                        shared.on_drop_panicked.store(true, Ordering::Release);
                    }
                }
            }
        }
    }
}

/// The upstream side.
struct TimedUpstream<T, E> {
    shared: Arc<Shared<T, E>>,
    context: Context,
}

impl<T: Send + 'static, E: Send + 'static> Subscriber for TimedUpstream<T, E> {
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let shared = &self.shared;
        if !shared.upstream.set(subscription.clone()) {
            return; // rule 2.5: a second subscription is refused
        }
        let mut eff = Effects::new();
        let mut st = shared.lock();
        if st.closed {
            drop(st);
            subscription.cancel();
            return;
        }
        st.subscribed = true;
        if shared.kind.lossless() {
            let now = shared.scheduler.now();
            shared.replenish(&mut st, now, &mut eff);
        } else {
            eff.request = u64::MAX;
        }
        drop(st);
        shared.apply(eff);
    }

    fn on_next(&mut self, item: T) {
        let shared = &self.shared;
        let mut eff = Effects::new();
        let cost = match &shared.cost {
            None => 1,
            Some(f) => match catch_unwind(AssertUnwindSafe(|| f(&item))) {
                Ok(c) => c,
                Err(payload) => {
                    let mut st = shared.lock();
                    st.counts.received(&shared.stats);
                    shared.discard(&mut st, &mut eff, item, DropReason::Discarded);
                    shared.fail(&mut st, Error::from_panic(shared.stage, payload), &mut eff);
                    shared.count_held(&mut st);
                    drop(st);
                    shared.apply(eff);
                    return;
                }
            },
        };
        // Only the kinds that decide on the time of arrival read the clock per item.
        let now = shared.kind.reads_clock().then(|| shared.scheduler.now());
        let mut st = shared.lock();
        st.counts.received(&shared.stats);
        if st.closed || st.failed.is_some() || st.end.is_some() {
            shared.discard(&mut st, &mut eff, item, DropReason::Discarded);
        } else {
            shared.on_item(&mut st, now, item, cost, &mut eff);
            if shared.kind.lossless() {
                let now = now.unwrap_or_else(|| shared.scheduler.now());
                shared.replenish(&mut st, now, &mut eff);
            }
        }
        shared.count_held(&mut st);
        drop(st);
        shared.apply(eff);
    }

    fn on_error(&mut self, error: Error<E>) {
        self.shared.on_terminal(Err(error));
    }

    fn on_complete(&mut self) {
        self.shared.on_terminal(Ok(()));
    }

    fn context(&self) -> Context {
        self.context.clone()
    }
}

/// Defines the publisher type of one operator of the family, so that its file keeps only
/// what differs: its docs, stage name, [`Kind`] and builder methods.
///
/// ```ignore
/// timed_operator! {
///     /// Publisher for the [`audit`](crate::OperatorExt::audit) method.
///     pub struct Audit {
///         stage: "audit",
///         kind: Audit,
///         builders: [on, flush_on_complete, on_drop, stats],
///     }
/// }
/// ```
///
/// This expands to the struct (`upstream`, `period`, [`Settings`]), `new` (rejecting a
/// zero period with a [`ConfigError`](spillway_core::ConfigError) naming `stage`), the
/// listed builder methods in the listed order, the [`Publisher`] impl that hands over to
/// [`subscribe`], and `Debug`. A builder keeps its standard docs unless doc comments
/// precede it in the list, which then replace them.
macro_rules! timed_operator {
    (
        $(#[$attr:meta])*
        pub struct $name:ident {
            stage: $stage:literal,
            kind: $kind:ident,
            builders: [$($(#[$builder_doc:meta])* $builder:ident),* $(,)?],
        }
    ) => {
        $crate::stage_name!(TimedStage, $stage);

        $(#[$attr])*
        #[must_use = "publishers do nothing until subscribed"]
        pub struct $name<P: ::spillway_core::Publisher> {
            upstream: P,
            period: ::std::time::Duration,
            settings: $crate::engine::timed::Settings<P::Item>,
        }

        impl<P: ::spillway_core::Publisher> $name<P> {
            pub(crate) fn new(
                upstream: P,
                period: ::std::time::Duration,
            ) -> ::std::result::Result<Self, ::spillway_core::ConfigError> {
                if period.is_zero() {
                    return Err(::spillway_core::ConfigError::new(
                        $stage,
                        "the period must be greater than zero",
                    ));
                }
                Ok($name {
                    upstream,
                    period,
                    settings: $crate::engine::timed::Settings::new(),
                })
            }

            $(
                $crate::engine::timed::timed_operator!(@builder [$(#[$builder_doc])*] $builder);
            )*
        }

        impl<P: ::spillway_core::Publisher> ::spillway_core::Publisher for $name<P> {
            type Item = P::Item;
            type Error = P::Error;

            fn subscribe<S>(self, subscriber: S)
            where
                S: ::spillway_core::Subscriber<Item = P::Item, Error = P::Error>,
            {
                $crate::engine::timed::subscribe::<TimedStage, _, _>(
                    self.upstream,
                    $crate::engine::timed::Kind::$kind,
                    self.period,
                    self.settings,
                    None,
                    subscriber,
                );
            }
        }

        impl<P: ::spillway_core::Publisher + ::std::fmt::Debug> ::std::fmt::Debug for $name<P> {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("upstream", &self.upstream)
                    .field("period", &self.period)
                    .field("settings", &self.settings)
                    .finish()
            }
        }
    };

    // The builders with their standard docs.
    (@builder [] on) => {
        $crate::engine::timed::timed_operator!(@builder [
            /// Runs its timers on `scheduler` instead of the one in the subscriber's
            /// [`Context`](spillway_core::Context).
        ] on);
    };
    (@builder [] flush_on_complete) => {
        $crate::engine::timed::timed_operator!(@builder [
            /// Whether an item still pending when upstream completes is delivered (waiting for
            /// demand if needed) before `on_complete` (`true`, the default) or dropped as
            /// [`DropReason::Discarded`](crate::DropReason::Discarded) (`false`). On an
            /// upstream error the pending item is always dropped as `Discarded`.
        ] flush_on_complete);
    };
    (@builder [] on_drop) => {
        $crate::engine::timed::timed_operator!(@builder [
            /// Calls `f` with every dropped item and its reason, on the thread that dropped it.
            /// A panic in `f` never unwinds into the caller: the stage cancels upstream and
            /// fails with [`Error::Panicked`](spillway_core::Error::Panicked), unless it was
            /// ending already (upstream's error, a cancel: see
            /// [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
        ] on_drop);
    };
    (@builder [] stats) => {
        $crate::engine::timed::timed_operator!(@builder [
            /// The live statistics of this stage (shared by all its subscriptions).
        ] stats);
    };

    // The builders themselves.
    (@builder [$($doc:tt)+] on) => {
        $($doc)+
        pub fn on(mut self, scheduler: ::std::sync::Arc<dyn ::spillway_core::Scheduler>) -> Self {
            self.settings.scheduler = Some(scheduler);
            self
        }
    };
    (@builder [$($doc:tt)+] flush_on_complete) => {
        $($doc)+
        pub fn flush_on_complete(mut self, flush: bool) -> Self {
            self.settings.flush_on_complete = flush;
            self
        }
    };
    (@builder [$($doc:tt)+] on_drop) => {
        $($doc)+
        pub fn on_drop<F>(mut self, f: F) -> Self
        where
            F: Fn(P::Item, $crate::DropReason) + Send + Sync + 'static,
        {
            self.settings.set_on_drop(f);
            self
        }
    };
    (@builder [$($doc:tt)+] stats) => {
        $($doc)+
        pub fn stats(&self) -> $crate::FlowStats {
            self.settings.stats.clone()
        }
    };
}

pub(crate) use timed_operator;
