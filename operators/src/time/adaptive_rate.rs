//! `adaptive_rate`: paces upstream requests at a rate that follows the consumer (AIMD:
//! additive increase while it keeps up, multiplicative decrease when it does not).

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::Context as TaskContext;
use std::time::{Duration, Instant};

use spillway_core::drain::{self, DrainHandle, Pulled, Source};
use spillway_core::{
    ConfigError, Context, Error, Publisher, Scheduler, SchedulerExt, SharedSubscription,
    Subscriber, TaskHandle,
};

use crate::engine::queue::{Locked, QueueCore};
use crate::engine::support::{self, Dropper};
use crate::stats::FlowStats;

const STAGE: &str = "adaptive_rate";

/// The configuration of [`adaptive_rate`](crate::OperatorExt::adaptive_rate): rates in
/// items per second.
///
/// ```
/// use std::time::Duration;
/// use spillway::operators::AdaptiveRateConfig;
/// let aimd = AdaptiveRateConfig {
///     min: 1.0,
///     max: 1000.0,
///     initial: 10.0,
///     increase: 10.0,
///     decrease_factor: 0.5,
///     window: Duration::from_millis(100),
/// };
/// # let _ = aimd;
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveRateConfig {
    /// The lowest rate.
    pub min: f64,
    /// The highest rate.
    pub max: f64,
    /// The starting rate.
    pub initial: f64,
    /// Added to the rate after a window in which the consumer kept up.
    pub increase: f64,
    /// The rate is multiplied by this (between 0 and 1) after a window in which it did
    /// not.
    pub decrease_factor: f64,
    /// How often the rate is adjusted.
    pub window: Duration,
}

/// A live view of an [`adaptive_rate`](crate::OperatorExt::adaptive_rate) stage's rate,
/// shared by its subscriptions (the last adjustment wins).
#[derive(Clone)]
pub struct RateHandle(Arc<Mutex<RateState>>);

#[derive(Debug, Clone, Copy)]
struct RateState {
    rate: f64,
    increases: u64,
    decreases: u64,
}

impl RateHandle {
    /// The current rate, in items per second.
    pub fn current(&self) -> f64 {
        support::lock(&self.0).rate
    }

    /// How many times the rate went up.
    pub fn increases(&self) -> u64 {
        support::lock(&self.0).increases
    }

    /// How many times the rate went down.
    pub fn decreases(&self) -> u64 {
        support::lock(&self.0).decreases
    }
}

impl fmt::Debug for RateHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        support::lock(&self.0).fmt(f)
    }
}

/// Publisher for the [`adaptive_rate`](crate::OperatorExt::adaptive_rate) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct AdaptiveRate<P> {
    upstream: P,
    config: AdaptiveRateConfig,
    watch: Option<(FlowStats, f64, f64)>,
    scheduler: Option<Arc<dyn Scheduler>>,
    handle: RateHandle,
    stats: FlowStats,
}

impl<P> AdaptiveRate<P> {
    pub(crate) fn new(upstream: P, config: AdaptiveRateConfig) -> Result<Self, ConfigError> {
        let c = config;
        let finite = [c.min, c.max, c.initial, c.increase, c.decrease_factor]
            .iter()
            .all(|x| x.is_finite());
        if !finite || c.min <= 0.0 || c.min > c.initial || c.initial > c.max {
            return Err(ConfigError::new(
                STAGE,
                "the rates must be finite with 0 < min <= initial <= max",
            ));
        }
        if c.increase <= 0.0 {
            return Err(ConfigError::new(STAGE, "the increase must be positive"));
        }
        if c.decrease_factor <= 0.0 || c.decrease_factor >= 1.0 {
            return Err(ConfigError::new(
                STAGE,
                "the decrease factor must be between 0 and 1 (exclusive)",
            ));
        }
        if c.window.is_zero() {
            return Err(ConfigError::new(
                STAGE,
                "the window must be greater than zero",
            ));
        }
        Ok(AdaptiveRate {
            upstream,
            config,
            watch: None,
            scheduler: None,
            handle: RateHandle(Arc::new(Mutex::new(RateState {
                rate: c.initial,
                increases: 0,
                decreases: 0,
            }))),
            stats: FlowStats::new(0),
        })
    }

    /// Also judges the consumer by a downstream buffer's pressure: a window ending with
    /// `stats`' pressure at or above `high` lowers the rate; the rate rises only while
    /// it is below `low`.
    ///
    /// # Errors
    /// [`ConfigError`] unless `0.0 <= low < high <= 1.0`.
    pub fn watch_pressure(
        mut self,
        stats: FlowStats,
        low: f64,
        high: f64,
    ) -> Result<Self, ConfigError> {
        if !(0.0..=1.0).contains(&low) || !(0.0..=1.0).contains(&high) || low >= high {
            return Err(ConfigError::new(
                STAGE,
                "the pressure thresholds must satisfy 0 <= low < high <= 1",
            ));
        }
        self.watch = Some((stats, low, high));
        Ok(self)
    }

    /// Runs its timer and reads the time on `scheduler` instead of the one in the
    /// subscriber's [`Context`].
    pub fn on(mut self, scheduler: Arc<dyn Scheduler>) -> Self {
        self.scheduler = Some(scheduler);
        self
    }

    /// The current rate (shared by all subscriptions of this stage).
    pub fn rate(&self) -> RateHandle {
        self.handle.clone()
    }

    /// The live statistics of this stage: nothing is ever dropped (items buffered when
    /// downstream cancels are counted as `Discarded`); `buffered` stays at most the
    /// outstanding demand.
    pub fn stats(&self) -> FlowStats {
        self.stats.clone()
    }
}

/// The pacing clock's state, kept under the queue's lock.
struct Pacer {
    in_flight: u64,
    /// Upstream's subscription arrived: requests can be made.
    subscribed: bool,
    /// One banked token: the next request may go at once.
    token: bool,
    /// Requests the clock earned, for the drain to make: only the drain requests from
    /// upstream, so its requests never overlap (rule 2.7).
    earned: u64,
    hits: u64,
    misses: u64,
    window_start: Instant,
    rate: f64,
    timer: Option<TaskHandle>,
}

type Inner<T, E> = Locked<VecDeque<T>, Pacer, E>;

struct Shared<T: Send + 'static, E> {
    core: QueueCore<VecDeque<T>, Pacer, E>,
    config: AdaptiveRateConfig,
    watch: Option<(FlowStats, f64, f64)>,
    scheduler: Arc<dyn Scheduler>,
    handle: RateHandle,
}

impl<T: Send + 'static, E: Send + 'static> Shared<T, E> {
    fn lock(&self) -> MutexGuard<'_, Inner<T, E>> {
        self.core.lock()
    }

    fn uncovered(&self, inner: &Inner<T, E>) -> u64 {
        self.core
            .drain
            .demand()
            .get()
            .saturating_sub(inner.state.in_flight + inner.held.len() as u64)
    }

    fn live(inner: &Inner<T, E>) -> bool {
        inner.state.subscribed && inner.life.is_open()
    }

    /// Spends the banked token if downstream has uncovered demand (under the lock): true
    /// if it did, and one item more is in flight.
    fn spend_token(&self, inner: &mut Inner<T, E>) -> bool {
        if Self::live(inner) && inner.state.token && self.uncovered(inner) > 0 {
            inner.state.token = false;
            inner.state.in_flight += 1;
            return true;
        }
        false
    }

    /// On the drain: requests what the clock earned, and the banked token if the drain
    /// found nothing to deliver (`idle`).
    fn request_paced(&self, idle: bool) {
        let mut inner = self.lock();
        let mut n = std::mem::take(&mut inner.state.earned);
        if idle && self.spend_token(&mut inner) {
            n += 1;
        }
        drop(inner);
        self.core.upstream.request(n);
    }

    /// One tick of the pacing clock: request one item if downstream waits for it (the
    /// consumer keeps up), else bank the token; adjust the rate at the end of a window.
    fn tick(self: &Arc<Self>) {
        let mut inner = self.lock();
        inner.state.timer = None;
        if inner.life.is_closed() || inner.life.upstream_done() {
            return;
        }
        let mut earned = false;
        if Self::live(&inner) && self.uncovered(&inner) > 0 {
            inner.state.hits += 1;
            inner.state.in_flight += 1;
            inner.state.earned += 1;
            earned = true;
        } else {
            if self.core.drain.demand().is_zero() {
                inner.state.misses += 1;
            }
            inner.state.token = true;
        }
        let now = self.scheduler.now();
        if now.saturating_duration_since(inner.state.window_start) >= self.config.window {
            self.adjust(&mut inner.state);
            inner.state.window_start = now;
        }
        self.arm(&mut inner.state);
        drop(inner);
        if earned {
            self.core.drain.signal();
        }
    }

    /// AIMD: decrease if the consumer was caught without demand (or the watched pressure
    /// is high), increase if it waited on us the whole window.
    fn adjust(&self, inner: &mut Pacer) {
        let c = &self.config;
        let pressure = self.watch.as_ref().map(|(s, low, high)| {
            let p = s.snapshot().pressure();
            (p >= *high, p < *low)
        });
        let (high, low) = pressure.unwrap_or((false, true));
        let mut h = support::lock(&self.handle.0);
        if inner.misses > 0 || high {
            inner.rate = (inner.rate * c.decrease_factor).max(c.min);
            h.decreases += 1;
        } else if inner.hits > 0 && low {
            inner.rate = (inner.rate + c.increase).min(c.max);
            h.increases += 1;
        }
        h.rate = inner.rate;
        inner.hits = 0;
        inner.misses = 0;
    }

    /// Schedules the next tick, one period (1 / rate) from now.
    fn arm(self: &Arc<Self>, inner: &mut Pacer) {
        let period = Duration::from_secs_f64(1.0 / inner.rate);
        let weak: Weak<Self> = Arc::downgrade(self);
        inner.timer = Some(self.scheduler.run_after(period, move || {
            if let Some(shared) = weak.upgrade() {
                shared.tick();
            }
        }));
    }

    fn stop_timer(inner: &mut Pacer) {
        if let Some(t) = inner.timer.take() {
            t.cancel();
        }
    }
}

impl<P: Publisher> Publisher for AdaptiveRate<P> {
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        let subscriber = crate::named::attach(STAGE, Some(&self.stats), subscriber);
        let context = subscriber.context();
        let scheduler = self.scheduler.unwrap_or_else(|| context.scheduler());
        let now = scheduler.now();
        let rate = self.config.initial;
        support::lock(&self.handle.0).rate = rate;
        let pacer = Pacer {
            in_flight: 0,
            subscribed: false,
            token: true,
            earned: 0,
            hits: 0,
            misses: 0,
            window_start: now,
            rate,
            timer: None,
        };
        // Nothing is ever dropped by this stage: items it still holds when downstream
        // cancels are only counted.
        let dropper = Dropper::new(self.stats, None);
        let shared = Arc::new(Shared {
            core: QueueCore::new(STAGE, VecDeque::new(), pacer, dropper),
            config: self.config,
            watch: self.watch,
            scheduler,
            handle: self.handle,
        });
        {
            let mut inner = shared.lock();
            shared.arm(&mut inner.state);
        }
        drain::start(PacedSource(Arc::clone(&shared)), subscriber);
        self.upstream.subscribe(PacedUpstream { shared, context });
    }
}

struct PacedSource<T: Send + 'static, E: Send + 'static>(Arc<Shared<T, E>>);

impl<T: Send + 'static, E: Send + 'static> Source for PacedSource<T, E> {
    type Item = T;
    type Error = E;
    const STAGE: &'static str = STAGE;
    const SETTLES_DEMAND: bool = true;

    fn attach(&mut self, drain: DrainHandle) {
        self.0.core.drain.set(drain);
    }

    fn pull(&mut self, _cx: &mut TaskContext<'_>) -> Pulled<T, E> {
        let shared = &self.0;
        let core = &shared.core;
        let pulled = core.pull(|inner| core.hand_out(inner));
        shared.request_paced(matches!(pulled, Pulled::Pending));
        pulled
    }

    fn poll_end(&mut self, _cx: &mut TaskContext<'_>) -> Option<Pulled<T, E>> {
        self.0.core.poll_end()
    }
}

impl<T: Send + 'static, E: Send + 'static> Drop for PacedSource<T, E> {
    fn drop(&mut self) {
        self.0
            .core
            .close(|inner| Shared::<T, E>::stop_timer(&mut inner.state));
    }
}

struct PacedUpstream<T: Send + 'static, E> {
    shared: Arc<Shared<T, E>>,
    context: Context,
}

impl<T: Send + 'static, E: Send + 'static> Subscriber for PacedUpstream<T, E> {
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let shared = &self.shared;
        // The banked token, if downstream already waits, is the first request.
        shared.core.upstream_subscribed(subscription, |inner| {
            inner.state.subscribed = true;
            u64::from(shared.spend_token(inner))
        });
    }

    fn on_next(&mut self, item: T) {
        let core = &self.shared.core;
        core.dropper.stats.record_received();
        let mut inner = core.lock();
        if !inner.life.is_open() {
            drop(inner);
            return core.discard_late(item);
        }
        if inner.state.in_flight == 0 {
            // Non-compliant upstream: fail, keeping nothing.
            drop(inner);
            return core.fail_and(core.unrequested(), Some(item), |inner| {
                Shared::<T, E>::stop_timer(&mut inner.state)
            });
        }
        inner.state.in_flight -= 1;
        core.queue(inner, item);
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

impl<T: Send + 'static, E: Send + 'static> PacedUpstream<T, E> {
    fn end(&mut self, end: Result<(), Error<E>>) {
        self.shared
            .core
            .upstream_ended(end, |inner| Shared::<T, E>::stop_timer(&mut inner.state));
    }
}

impl<P: fmt::Debug> fmt::Debug for AdaptiveRate<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveRate")
            .field("upstream", &self.upstream)
            .field("config", &self.config)
            .field("rate", &self.handle)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
