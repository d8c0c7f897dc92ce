//! `circuit_breaker`: stop a pipeline entirely while the system is overwhelmed (shed or
//! fail), with a shared [`CircuitBreaker`] that opens on failures or on a buffer's
//! pressure and half-opens after a cooldown.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use spillway_core::{
    default_scheduler, ConfigError, Context, Error, Publisher, Scheduler, SchedulerExt,
    SharedSubscription, Subscriber, Subscription, TaskHandle,
};

use crate::engine::support;
use crate::stats::{DropReason, FlowStats, OnDrop};

const STAGE: &str = "circuit_breaker";

/// The configuration of a [`CircuitBreaker`].
///
/// ```
/// use std::time::Duration;
/// use spillway::operators::BreakerConfig;
/// let config = BreakerConfig {
///     failure_threshold: 3,
///     window: Duration::from_secs(10),
///     open_for: Duration::from_secs(30),
///     half_open_trials: 2,
/// };
/// assert_eq!(BreakerConfig::default().failure_threshold, 5);
/// # let _ = config;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BreakerConfig {
    /// Failures within `window` that open the breaker.
    pub failure_threshold: u32,
    /// The sliding window in which failures are counted.
    pub window: Duration,
    /// How long the breaker stays open (the cooldown) before it half-opens.
    pub open_for: Duration,
    /// How many trial items a half-open breaker lets through; that many successes close
    /// it, one failure reopens it.
    pub half_open_trials: u32,
}

impl Default for BreakerConfig {
    /// 5 failures in 10 s open it for 30 s; one trial item.
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 5,
            window: Duration::from_secs(10),
            open_for: Duration::from_secs(30),
            half_open_trials: 1,
        }
    }
}

/// The state of a [`CircuitBreaker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
pub enum BreakerState {
    /// Items pass.
    Closed,
    /// Items are refused (shed or failed, per [`BreakerMode`]).
    Open,
    /// After the cooldown: a few trial items pass to probe the system.
    HalfOpen,
}

/// What [`circuit_breaker`](crate::OperatorExt::circuit_breaker) does with an item the
/// breaker refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerMode {
    /// Drop it ([`DropReason::Shed`]) and go on; the pipeline lives through the outage.
    Shed,
    /// Fail the pipeline with `Error::Rejected { stage: "circuit_breaker", .. }`.
    Fail,
}

/// A snapshot of a [`CircuitBreaker`]'s counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct BreakerStats {
    /// The state now.
    pub state: BreakerState,
    /// How many times it opened (including re-opening from half-open).
    pub times_opened: u64,
    /// Items let through by all stages using it.
    pub passed: u64,
    /// Items refused by all stages using it.
    pub rejected: u64,
    /// Successes recorded.
    pub successes: u64,
    /// Failures recorded.
    pub failures: u64,
    /// Failures inside the current window (closed state).
    pub recent_failures: u64,
}

type Listener = Arc<dyn Fn(BreakerState, BreakerState) + Send + Sync>;
type Change = (BreakerState, BreakerState);

struct State {
    config: BreakerConfig,
    state: BreakerState,
    failures: VecDeque<Instant>,
    opened_at: Option<Instant>,
    trials_admitted: u32,
    trial_successes: u32,
    scheduler: Option<Arc<dyn Scheduler>>,
    pinned: bool,
    timer: Option<TaskHandle>,
    /// Bumped at every transition: a stale cooldown timer does nothing.
    generation: u64,
    watches: Vec<(FlowStats, f64)>,
    times_opened: u64,
    passed: u64,
    rejected: u64,
    successes: u64,
    failures_total: u64,
}

struct BreakerShared {
    state: Mutex<State>,
    listeners: Mutex<Vec<Listener>>,
}

/// A circuit breaker shared by any number of pipelines and by user code (the seed's
/// *circuit breakers: stop entirely when the system is overwhelmed*).
///
/// * **Closed**: items pass. [`record_failure`](Self::record_failure) counts failures in
///   a sliding window; `failure_threshold` of them open it. So does
///   [`trip`](Self::trip), or a watched buffer's pressure reaching its threshold
///   ([`trip_on_pressure`](Self::trip_on_pressure)).
/// * **Open**: every stage using it refuses items ([`BreakerMode`]). After `open_for`
///   (a timer on the scheduler: pinned with [`on`](Self::on), else the one in the
///   first subscriber's [`Context`]), it half-opens.
/// * **HalfOpen**: `half_open_trials` items pass, further items are refused;
///   `half_open_trials` recorded successes close it, one failure reopens it. With
///   pressure watches, a trial item admitted while every watched pressure is below its
///   threshold counts as a success by itself (the pressure is the health signal).
///
/// [`reset`](Self::reset) closes it at once. State changes are reported to
/// [`on_state_change`](Self::on_state_change) callbacks, outside any lock.
///
/// # Examples
/// ```
/// use spillway::prelude::*;
/// use spillway::operators::{BreakerConfig, BreakerMode, BreakerState, CircuitBreaker};
/// # futures::executor::block_on(async {
/// let breaker = CircuitBreaker::new(BreakerConfig::default())?;
/// breaker.trip();
/// assert_eq!(breaker.state(), BreakerState::Open);
/// let op = range(0, 10).circuit_breaker(&breaker, BreakerMode::Shed);
/// let stats = op.stats();
/// assert_eq!(op.count().await.unwrap(), 0); // all shed while open
/// assert_eq!(stats.snapshot().dropped(), 10);
/// breaker.reset();
/// let all = range(0, 3).circuit_breaker(&breaker, BreakerMode::Fail).collect().await;
/// assert_eq!(all.unwrap(), vec![0, 1, 2]);
/// # Ok::<(), spillway::ConfigError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct CircuitBreaker {
    shared: Arc<BreakerShared>,
}

impl CircuitBreaker {
    /// A closed breaker.
    ///
    /// # Errors
    /// [`ConfigError`] if `failure_threshold` or `half_open_trials` is zero, or `window`
    /// or `open_for` is zero.
    pub fn new(config: BreakerConfig) -> Result<CircuitBreaker, ConfigError> {
        if config.failure_threshold == 0 {
            return Err(ConfigError::new(
                STAGE,
                "the failure threshold must be at least 1",
            ));
        }
        if config.half_open_trials == 0 {
            return Err(ConfigError::new(
                STAGE,
                "half_open_trials must be at least 1",
            ));
        }
        if config.window.is_zero() || config.open_for.is_zero() {
            return Err(ConfigError::new(
                STAGE,
                "the window and the open duration must be greater than zero",
            ));
        }
        Ok(CircuitBreaker {
            shared: Arc::new(BreakerShared {
                state: Mutex::new(State {
                    config,
                    state: BreakerState::Closed,
                    failures: VecDeque::new(),
                    opened_at: None,
                    trials_admitted: 0,
                    trial_successes: 0,
                    scheduler: None,
                    pinned: false,
                    timer: None,
                    generation: 0,
                    watches: Vec::new(),
                    times_opened: 0,
                    passed: 0,
                    rejected: 0,
                    successes: 0,
                    failures_total: 0,
                }),
                listeners: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Reads the time and runs the cooldown timer on `scheduler`, instead of the one of
    /// the first subscriber's [`Context`].
    pub fn on(self, scheduler: Arc<dyn Scheduler>) -> CircuitBreaker {
        {
            let mut s = self.lock();
            s.scheduler = Some(scheduler);
            s.pinned = true;
        }
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        support::lock(&self.shared.state)
    }

    /// The state now.
    pub fn state(&self) -> BreakerState {
        let (state, changes) = {
            let mut s = self.lock();
            let changes = self.refresh(&mut s);
            (s.state, changes)
        };
        self.notify(changes);
        state
    }

    /// The counters now.
    pub fn stats(&self) -> BreakerStats {
        let s = self.lock();
        BreakerStats {
            state: s.state,
            times_opened: s.times_opened,
            passed: s.passed,
            rejected: s.rejected,
            successes: s.successes,
            failures: s.failures_total,
            recent_failures: s.failures.len() as u64,
        }
    }

    /// Records a successful call (in half-open state, counts towards closing).
    pub fn record_success(&self) {
        let changes = {
            let mut s = self.lock();
            s.successes += 1;
            let mut changes = self.refresh(&mut s);
            if s.state == BreakerState::HalfOpen {
                s.trial_successes += 1;
                if s.trial_successes >= s.config.half_open_trials {
                    changes.extend(self.close(&mut s));
                }
            }
            changes
        };
        self.notify(changes);
    }

    /// Records a failed call: opens a closed breaker once `failure_threshold` failures
    /// fall within `window`, and reopens a half-open one at once.
    pub fn record_failure(&self) {
        let changes = {
            let mut s = self.lock();
            s.failures_total += 1;
            let mut changes = self.refresh(&mut s);
            match s.state {
                BreakerState::Closed => {
                    let now = self.now(&s);
                    s.failures.push_back(now);
                    Self::prune(&mut s, now);
                    if s.failures.len() as u64 >= u64::from(s.config.failure_threshold) {
                        changes.extend(self.open(&mut s));
                    }
                }
                BreakerState::HalfOpen => changes.extend(self.open(&mut s)),
                BreakerState::Open => {}
            }
            changes
        };
        self.notify(changes);
    }

    /// Opens the breaker now (the cooldown starts again if it was open).
    pub fn trip(&self) {
        let changes = {
            let mut s = self.lock();
            self.open(&mut s)
        };
        self.notify(changes);
    }

    /// Closes the breaker now and forgets past failures.
    pub fn reset(&self) {
        let changes = {
            let mut s = self.lock();
            self.close(&mut s)
        };
        self.notify(changes);
    }

    /// Opens the breaker whenever `stats`' pressure (buffer utilisation, 0.0 to 1.0)
    /// is at or above `threshold`, checked as items reach a stage using the breaker
    /// and on [`state`](Self::state).
    pub fn trip_on_pressure(&self, stats: FlowStats, threshold: f64) {
        self.lock().watches.push((stats, threshold));
    }

    /// Calls `f(from, to)` on every state change, on the thread that caused it, outside
    /// the breaker's lock. A panic in `f` fails the pipeline whose item caused the
    /// change (`Error::Panicked`), or unwinds into the caller of `record_*`/`trip`/
    /// `reset`.
    pub fn on_state_change<F>(&self, f: F)
    where
        F: Fn(BreakerState, BreakerState) + Send + Sync + 'static,
    {
        support::lock(&self.shared.listeners).push(Arc::new(f));
    }

    /// Uses `scheduler` for time unless one is already set.
    fn bind(&self, scheduler: Arc<dyn Scheduler>) {
        let mut s = self.lock();
        if s.scheduler.is_none() {
            s.scheduler = Some(scheduler);
        }
    }

    /// Lets one item through, or says why not.
    fn admit(&self) -> (Result<(), &'static str>, Vec<Change>) {
        let mut s = self.lock();
        let mut changes = self.refresh(&mut s);
        let verdict = match s.state {
            BreakerState::Closed => Ok(()),
            BreakerState::Open => Err("circuit open"),
            BreakerState::HalfOpen => {
                if s.trials_admitted < s.config.half_open_trials {
                    s.trials_admitted += 1;
                    if !s.watches.is_empty() {
                        // Pressure-watching breaker: a trial under low pressure is a
                        // success.
                        s.trial_successes += 1;
                        if s.trial_successes >= s.config.half_open_trials {
                            changes.extend(self.close(&mut s));
                        }
                    }
                    Ok(())
                } else {
                    Err("circuit half-open: trial items in flight")
                }
            }
        };
        match verdict {
            Ok(()) => s.passed += 1,
            Err(_) => s.rejected += 1,
        }
        (verdict, changes)
    }

    fn now(&self, s: &State) -> Instant {
        match &s.scheduler {
            Some(sch) => sch.now(),
            None => default_scheduler().now(),
        }
    }

    fn prune(s: &mut State, now: Instant) {
        while let Some(t) = s.failures.front() {
            if now.saturating_duration_since(*t) >= s.config.window {
                s.failures.pop_front();
            } else {
                break;
            }
        }
    }

    /// Lazy checks: an elapsed cooldown (if the timer has not run yet) and the watched
    /// pressures.
    fn refresh(&self, s: &mut State) -> Vec<Change> {
        let mut changes = Vec::new();
        if s.state == BreakerState::Open {
            if let Some(at) = s.opened_at {
                if self.now(s).saturating_duration_since(at) >= s.config.open_for {
                    changes.extend(Self::half_open(s));
                }
            }
        }
        let pressed = s
            .watches
            .iter()
            .any(|(stats, t)| stats.snapshot().pressure() >= *t);
        if pressed && s.state != BreakerState::Open {
            changes.extend(self.open(s));
        }
        changes
    }

    fn open(&self, s: &mut State) -> Vec<Change> {
        let from = s.state;
        let now = self.now(s);
        s.state = BreakerState::Open;
        s.opened_at = Some(now);
        s.failures.clear();
        s.times_opened += 1;
        s.generation += 1;
        if let Some(t) = s.timer.take() {
            t.cancel();
        }
        let generation = s.generation;
        let scheduler = s.scheduler.clone().unwrap_or_else(default_scheduler);
        let weak: Weak<BreakerShared> = Arc::downgrade(&self.shared);
        s.timer = Some(scheduler.run_after(s.config.open_for, move || {
            if let Some(shared) = weak.upgrade() {
                let breaker = CircuitBreaker { shared };
                let changes = {
                    let mut s = breaker.lock();
                    if s.generation == generation && s.state == BreakerState::Open {
                        Self::half_open(&mut s)
                    } else {
                        Vec::new()
                    }
                };
                // A panicking listener must not kill the timer thread.
                let _ = catch_unwind(AssertUnwindSafe(|| breaker.notify(changes)));
            }
        }));
        if from == BreakerState::Open {
            Vec::new()
        } else {
            vec![(from, BreakerState::Open)]
        }
    }

    fn half_open(s: &mut State) -> Vec<Change> {
        s.state = BreakerState::HalfOpen;
        s.trials_admitted = 0;
        s.trial_successes = 0;
        s.generation += 1;
        s.timer = None;
        vec![(BreakerState::Open, BreakerState::HalfOpen)]
    }

    fn close(&self, s: &mut State) -> Vec<Change> {
        let from = s.state;
        s.state = BreakerState::Closed;
        s.failures.clear();
        s.opened_at = None;
        s.generation += 1;
        if let Some(t) = s.timer.take() {
            t.cancel();
        }
        if from == BreakerState::Closed {
            Vec::new()
        } else {
            vec![(from, BreakerState::Closed)]
        }
    }

    fn notify(&self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        let listeners: Vec<Listener> = support::lock(&self.shared.listeners).clone();
        for (from, to) in changes {
            for l in &listeners {
                l(from, to);
            }
        }
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        f.debug_struct("CircuitBreaker")
            .field("config", &s.config)
            .field("state", &s.state)
            .field("pinned_scheduler", &s.pinned)
            .finish_non_exhaustive()
    }
}

/// Publisher for the [`circuit_breaker`](crate::OperatorExt::circuit_breaker) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct CircuitBreakerOp<P: Publisher> {
    upstream: P,
    breaker: CircuitBreaker,
    mode: BreakerMode,
    stats: FlowStats,
    on_drop: Option<OnDrop<P::Item>>,
}

impl<P: Publisher> CircuitBreakerOp<P> {
    pub(crate) fn new(upstream: P, breaker: &CircuitBreaker, mode: BreakerMode) -> Self {
        CircuitBreakerOp {
            upstream,
            breaker: breaker.clone(),
            mode,
            stats: FlowStats::new(0),
            on_drop: None,
        }
    }

    crate::drop_builders! {
        item: P::Item,
        /// Calls `f` with every refused item and its reason ([`DropReason::Shed`]). A panic
        /// in `f` fails the pipeline with `Error::Panicked`.
        on_drop,
        /// The live statistics of this stage (shared by all its subscriptions).
        stats,
    }
}

impl<P: Publisher> Publisher for CircuitBreakerOp<P> {
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        let subscriber = crate::named::attach(STAGE, Some(&self.stats), subscriber);
        let cx = subscriber.context();
        self.breaker.bind(cx.scheduler());
        self.upstream.subscribe(BreakerSubscriber {
            downstream: subscriber,
            breaker: self.breaker,
            mode: self.mode,
            stats: self.stats,
            on_drop: self.on_drop,
            link: None,
            done: false,
        });
    }
}

struct BreakerLink {
    upstream: SharedSubscription,
    unbounded: AtomicBool,
}

impl Subscription for BreakerLink {
    fn request(&self, n: u64) {
        if n == u64::MAX {
            self.unbounded.store(true, Ordering::Relaxed);
        }
        self.upstream.request(n);
    }

    fn cancel(&self) {
        self.upstream.cancel();
    }
}

struct BreakerSubscriber<S: Subscriber> {
    downstream: S,
    breaker: CircuitBreaker,
    mode: BreakerMode,
    stats: FlowStats,
    on_drop: Option<OnDrop<S::Item>>,
    link: Option<Arc<BreakerLink>>,
    done: bool,
}

enum Verdict<T> {
    Pass(T),
    Shed,
    Stopped,
}

impl<S: Subscriber> BreakerSubscriber<S>
where
    S::Item: Send + 'static,
{
    fn fail(&mut self, error: Error<S::Error>) {
        self.done = true;
        if let Some(link) = self.link.take() {
            link.upstream.cancel();
        }
        self.downstream.on_error(error);
    }

    fn judge(&mut self, item: S::Item) -> Verdict<S::Item> {
        if self.done {
            self.stats.record_received();
            self.stats.record_dropped(DropReason::Discarded);
            return Verdict::Stopped;
        }
        self.stats.record_received();
        let breaker = &self.breaker;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let (verdict, changes) = breaker.admit();
            breaker.notify(changes);
            verdict
        }));
        let verdict = match outcome {
            Ok(v) => v,
            Err(payload) => {
                self.stats.record_dropped(DropReason::Discarded);
                drop(item);
                self.fail(Error::from_panic(STAGE, payload));
                return Verdict::Stopped;
            }
        };
        match verdict {
            Ok(()) => {
                self.stats.record_emitted(1);
                Verdict::Pass(item)
            }
            Err(reason) => {
                self.stats.record_dropped(DropReason::Shed);
                if let Some(f) = &self.on_drop {
                    if let Err(payload) =
                        catch_unwind(AssertUnwindSafe(|| f(item, DropReason::Shed)))
                    {
                        self.fail(Error::from_panic(STAGE, payload));
                        return Verdict::Stopped;
                    }
                }
                match self.mode {
                    BreakerMode::Shed => Verdict::Shed,
                    BreakerMode::Fail => {
                        self.fail(Error::Rejected {
                            stage: STAGE,
                            reason,
                        });
                        Verdict::Stopped
                    }
                }
            }
        }
    }
}

impl<S: Subscriber> Subscriber for BreakerSubscriber<S>
where
    S::Item: Send + 'static,
{
    type Item = S::Item;
    type Error = S::Error;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let link = Arc::new(BreakerLink {
            upstream: subscription,
            unbounded: AtomicBool::new(false),
        });
        self.link = Some(Arc::clone(&link));
        self.downstream.on_subscribe(link);
    }

    fn on_next(&mut self, item: S::Item) {
        // A source that counts every item: a shed item needs a replacement request.
        match self.judge(item) {
            Verdict::Pass(item) => self.downstream.on_next(item),
            Verdict::Shed => {
                if let Some(link) = &self.link {
                    if !link.unbounded.load(Ordering::Relaxed) {
                        link.upstream.request(1);
                    }
                }
            }
            Verdict::Stopped => {}
        }
    }

    fn try_on_next(&mut self, item: S::Item) -> bool {
        match self.judge(item) {
            Verdict::Pass(item) => self.downstream.try_on_next(item),
            Verdict::Shed => false,
            Verdict::Stopped => true,
        }
    }

    fn on_error(&mut self, error: Error<S::Error>) {
        if !self.done {
            self.done = true;
            self.link = None;
            self.downstream.on_error(error);
        }
    }

    fn on_complete(&mut self) {
        if !self.done {
            self.done = true;
            self.link = None;
            self.downstream.on_complete();
        }
    }

    fn context(&self) -> Context {
        self.downstream.context()
    }
}

impl<P: Publisher + fmt::Debug> fmt::Debug for CircuitBreakerOp<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerOp")
            .field("upstream", &self.upstream)
            .field("breaker", &self.breaker)
            .field("mode", &self.mode)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
