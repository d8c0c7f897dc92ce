//! `pressure`: a lossless bounded buffer that pauses upstream when full and reports its
//! pressure level (from buffer utilisation) on every change.

use std::collections::VecDeque;
use std::fmt;
use std::ops::ControlFlow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use spillway_core::wip::Wip;
use spillway_core::{ConfigError, Publisher, Stage, Subscriber};

use crate::engine::bounded::{self, BufferOverflow, Config, LevelWatch};
use crate::engine::support::{self, lock, Dropper, Panic};
use crate::stats::{DropReason, FlowStats, OnDrop};

pub(crate) const STAGE: Stage = "pressure";

crate::stage_name!(Named, STAGE);

pub use crate::levels::{Pressure, PressureChange};

/// The floating-point slack of the exit points: far below one item of any real buffer
/// (a billionth of its capacity), far above the rounding error of `threshold - margin`.
const ROUNDING: f64 = 1e-9;

/// The utilisation thresholds (fractions of the capacity, `0.0..=1.0`) at which
/// [`Pressure`] goes up a level (`Low < medium <= Medium < high <= High < critical <=
/// Critical`), and the hysteresis margin by which utilisation must fall below a threshold
/// before its level is left.
///
/// **Going up** a level is immediate: a level is entered as soon as utilisation reaches
/// its threshold (several levels at once if utilisation jumps).
///
/// **Going down** is delayed by the margin: a level is left only when utilisation falls
/// *below* its threshold minus the margin, and the level becomes the highest one at or
/// below the current one whose own exit point (threshold minus margin) utilisation has not
/// fallen below — so a drained buffer goes from `Critical` straight to `Low` in one change.
/// With the seed thresholds and the default margin of 10 points:
///
/// | level    | entered at | left below |
/// |----------|-----------:|-----------:|
/// | medium   | 50%        | 40%        |
/// | high     | 70%        | 60%        |
/// | critical | 90%        | 80%        |
///
/// Without a margin, a buffer hovering at a threshold (one item in, one item out) would
/// change level — and call the user — on every item; with it, only a real move of more
/// than the margin does. The margin is in points of utilisation (a fraction of the
/// capacity), the same for every threshold: the jitter that makes a level flap is a
/// number of items, whatever the threshold. The default, [`DEFAULT_HYSTERESIS`](Self::DEFAULT_HYSTERESIS)
/// (0.1, ten points), absorbs the item-by-item jitter of a buffer of 10 or more while
/// still reporting a real drain promptly (a tenth of the capacity); set it with
/// [`with_hysteresis`](Self::with_hysteresis), `0.0` giving a level exactly
/// [`classify`](Self::classify)'s (no hysteresis).
///
/// Because the margin is the same for every threshold, the exit points keep the order
/// (and the gaps) of the thresholds, so the level is always well defined, even for
/// thresholds closer together than the margin (medium 0.5, high 0.55, margin 0.1: `High`
/// is entered at 55% and left below 45%, landing in `Medium`, which is left below 40%).
/// The margin must be smaller than the medium threshold, so that every exit point is
/// above zero and an empty buffer is always `Low`.
///
/// ```
/// use spillway::operators::{Pressure, PressureLevels};
/// let levels = PressureLevels::seed();
/// assert_eq!(levels.classify(0.49), Pressure::Low);
/// assert_eq!(levels.classify(0.5), Pressure::Medium);
/// assert_eq!(levels.classify(0.7), Pressure::High);
/// assert_eq!(levels.classify(0.9), Pressure::Critical);
/// // Hysteresis: High is entered at 70% but only left below 60%.
/// assert_eq!(levels.hysteresis(), 0.1);
/// assert_eq!(levels.next_level(Pressure::Medium, 0.7), Pressure::High);
/// assert_eq!(levels.next_level(Pressure::High, 0.6), Pressure::High);
/// assert_eq!(levels.next_level(Pressure::High, 0.59), Pressure::Medium);
/// assert_eq!(levels.next_level(Pressure::Critical, 0.0), Pressure::Low);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PressureLevels {
    medium: f64,
    high: f64,
    critical: f64,
    hysteresis: f64,
}

impl PressureLevels {
    /// The default hysteresis margin: 10 points of utilisation (`0.1`), capped at half
    /// the medium threshold by [`new`](Self::new) for thresholds that low.
    ///
    /// ```
    /// use spillway::operators::PressureLevels;
    /// assert_eq!(PressureLevels::seed().hysteresis(), PressureLevels::DEFAULT_HYSTERESIS);
    /// ```
    pub const DEFAULT_HYSTERESIS: f64 = 0.1;

    /// The seed document's thresholds: medium at 50%, high at 70%, critical at 90%, with
    /// the default hysteresis margin of 10 points (left below 40%, 60% and 80%).
    ///
    /// ```
    /// use spillway::operators::{Pressure, PressureLevels};
    /// let levels = PressureLevels::seed();
    /// assert_eq!(levels, PressureLevels::new(0.5, 0.7, 0.9)?);
    /// assert_eq!(levels.next_level(Pressure::Critical, 0.8), Pressure::Critical);
    /// assert_eq!(levels.next_level(Pressure::Critical, 0.79), Pressure::High);
    /// # Ok::<(), spillway::ConfigError>(())
    /// ```
    pub const fn seed() -> PressureLevels {
        PressureLevels {
            medium: 0.5,
            high: 0.7,
            critical: 0.9,
            hysteresis: PressureLevels::DEFAULT_HYSTERESIS,
        }
    }

    /// Custom thresholds, with the default hysteresis margin
    /// ([`DEFAULT_HYSTERESIS`](Self::DEFAULT_HYSTERESIS), or half of `medium` if that is
    /// smaller, so that `Medium` can always be left); change it with
    /// [`with_hysteresis`](Self::with_hysteresis).
    ///
    /// # Errors
    /// [`ConfigError`] unless `0 < medium < high < critical <= 1`.
    ///
    /// ```
    /// use spillway::operators::PressureLevels;
    /// let levels = PressureLevels::new(0.6, 0.8, 0.95)?;
    /// assert_eq!(levels.hysteresis(), 0.1);
    /// assert_eq!(PressureLevels::new(0.1, 0.5, 0.9)?.hysteresis(), 0.05);
    /// assert!(PressureLevels::new(0.8, 0.6, 0.95).is_err());
    /// # Ok::<(), spillway::ConfigError>(())
    /// ```
    pub fn new(medium: f64, high: f64, critical: f64) -> Result<PressureLevels, ConfigError> {
        let ordered = 0.0 < medium && medium < high && high < critical && critical <= 1.0;
        if !ordered {
            return Err(ConfigError::new(
                STAGE,
                "the pressure thresholds must satisfy 0 < medium < high < critical <= 1",
            ));
        }
        Ok(PressureLevels {
            medium,
            high,
            critical,
            hysteresis: PressureLevels::DEFAULT_HYSTERESIS.min(medium / 2.0),
        })
    }

    /// The same thresholds with a hysteresis margin of `margin` points of utilisation
    /// (a fraction of the capacity): a level is left only when utilisation falls below
    /// its threshold minus `margin`. `0.0` turns hysteresis off (every crossing of a
    /// threshold, either way, changes the level).
    ///
    /// # Errors
    /// [`ConfigError`] unless `0 <= margin < medium` (so not NaN nor infinite): a margin
    /// of `medium` or more would put `Medium`'s exit point at or below zero, and a
    /// drained buffer would never be `Low` again.
    ///
    /// ```
    /// use spillway::operators::{Pressure, PressureLevels};
    /// let levels = PressureLevels::seed().with_hysteresis(0.05)?;
    /// assert_eq!(levels.next_level(Pressure::High, 0.66), Pressure::High);
    /// assert_eq!(levels.next_level(Pressure::High, 0.64), Pressure::Medium);
    /// let flappy = PressureLevels::seed().with_hysteresis(0.0)?;
    /// assert_eq!(flappy.next_level(Pressure::High, 0.69), Pressure::Medium);
    /// assert!(PressureLevels::seed().with_hysteresis(0.5).is_err()); // >= medium
    /// assert!(PressureLevels::seed().with_hysteresis(-0.1).is_err());
    /// assert!(PressureLevels::seed().with_hysteresis(f64::NAN).is_err());
    /// # Ok::<(), spillway::ConfigError>(())
    /// ```
    pub fn with_hysteresis(self, margin: f64) -> Result<PressureLevels, ConfigError> {
        if !(margin.is_finite() && 0.0 <= margin && margin < self.medium) {
            return Err(ConfigError::new(
                STAGE,
                "the pressure hysteresis margin must satisfy 0 <= margin < medium",
            ));
        }
        Ok(PressureLevels {
            hysteresis: margin,
            ..self
        })
    }

    /// The hysteresis margin, in points of utilisation (a fraction of the capacity).
    ///
    /// ```
    /// use spillway::operators::PressureLevels;
    /// assert_eq!(PressureLevels::seed().with_hysteresis(0.2)?.hysteresis(), 0.2);
    /// # Ok::<(), spillway::ConfigError>(())
    /// ```
    pub fn hysteresis(&self) -> f64 {
        self.hysteresis
    }

    /// The level of a utilisation between 0.0 and 1.0, regardless of history: the level
    /// reached on the way up (or from `Low`), without hysteresis.
    ///
    /// ```
    /// use spillway::operators::{Pressure, PressureLevels};
    /// assert_eq!(PressureLevels::seed().classify(0.69), Pressure::Medium);
    /// ```
    pub fn classify(&self, utilisation: f64) -> Pressure {
        if utilisation >= self.critical {
            Pressure::Critical
        } else if utilisation >= self.high {
            Pressure::High
        } else if utilisation >= self.medium {
            Pressure::Medium
        } else {
            Pressure::Low
        }
    }

    /// The level after utilisation moved to `utilisation` while at `current`: the level
    /// [`classify`](Self::classify) gives if that is higher (up at once, possibly several
    /// levels); otherwise the highest level at or below `current` whose threshold minus
    /// the margin `utilisation` has not fallen below (down only past the margin, possibly
    /// several levels). This is how a [`pressure`](crate::OperatorExt::pressure) stage
    /// moves its level on every change of its buffer.
    ///
    /// ```
    /// use spillway::operators::{Pressure, PressureLevels};
    /// let levels = PressureLevels::seed(); // margin 0.1
    /// // A buffer of 100 hovering at the high threshold: 69, 70, 69, 70, ...
    /// let mut level = Pressure::Medium;
    /// let mut changes = 0;
    /// for u in [0.69, 0.70, 0.69, 0.70, 0.69, 0.70] {
    ///     let next = levels.next_level(level, u);
    ///     changes += usize::from(next != level);
    ///     level = next;
    /// }
    /// assert_eq!((level, changes), (Pressure::High, 1));
    /// ```
    pub fn next_level(&self, current: Pressure, utilisation: f64) -> Pressure {
        let reached = self.classify(utilisation);
        if reached >= current {
            return reached;
        }
        // Down: leave each level whose exit point utilisation has fallen below. `reached`
        // is never left (utilisation is at or above its threshold), so this stops there.
        let mut level = current;
        while level > reached && utilisation < self.exit(level) {
            level = level.below();
        }
        level
    }

    /// The utilisation below which `level` is left: its threshold minus the margin, less
    /// [`ROUNDING`] so that a utilisation equal to it in decimal (45 of 100 items against
    /// `0.55 - 0.1`, which is `0.45000000000000007`) does not count as below it. Exactly
    /// the threshold without a margin, so that a margin of 0 is [`classify`](Self::classify).
    fn exit(&self, level: Pressure) -> f64 {
        let threshold = self.threshold(level);
        if self.hysteresis == 0.0 {
            threshold
        } else {
            threshold - self.hysteresis - ROUNDING
        }
    }

    /// The threshold at which `level` is entered (0.0 for `Low`).
    fn threshold(&self, level: Pressure) -> f64 {
        match level {
            Pressure::Low => 0.0,
            Pressure::Medium => self.medium,
            Pressure::High => self.high,
            Pressure::Critical => self.critical,
        }
    }
}

impl Default for PressureLevels {
    fn default() -> Self {
        PressureLevels::seed()
    }
}

type Callback = Arc<dyn Fn(PressureChange) + Send + Sync>;

/// A live view of a [`pressure`](crate::OperatorExt::pressure) stage: its current level
/// and utilisation (of its latest subscription), readable from any thread.
#[derive(Clone)]
pub struct PressureGauge {
    level: Arc<AtomicU8>,
    stats: FlowStats,
}

impl PressureGauge {
    /// The current level.
    pub fn level(&self) -> Pressure {
        Pressure::from_index(self.level.load(Ordering::Relaxed))
    }

    /// The current buffer utilisation, from 0.0 to 1.0.
    pub fn utilisation(&self) -> f64 {
        self.stats.snapshot().pressure()
    }
}

impl fmt::Debug for PressureGauge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PressureGauge")
            .field("level", &self.level())
            .field("utilisation", &self.utilisation())
            .finish()
    }
}

/// The per-subscription level tracker the bounded queue calls on every length change.
///
/// Changes are found under the buffer's lock, so they are found in order; the callback
/// runs after the lock is released, possibly on several threads at once (upstream's and
/// downstream's). To keep the reports in order and never concurrent, changes go into a
/// queue (in the order found) and one reporter at a time drains it (the queue-drain
/// pattern of the core drain loop).
struct PressureWatch {
    levels: PressureLevels,
    capacity: usize,
    /// This subscription's level (only written under the buffer's lock).
    level: AtomicU8,
    gauge: Arc<AtomicU8>,
    callback: Callback,
    /// The stage's statistics: through them, a named pipeline's events.
    stats: FlowStats,
    pending: Mutex<VecDeque<PressureChange>>,
    /// Reporters waiting or running: whoever moves it from zero drains `pending`.
    reporting: Wip,
}

impl LevelWatch for PressureWatch {
    /// Called under the buffer's lock with the new length.
    fn update(&self, buffered: usize) -> bool {
        let from = Pressure::from_index(self.level.load(Ordering::Relaxed));
        // The one place a stage's level moves: up at a threshold, down past the margin.
        let to = self
            .levels
            .next_level(from, buffered as f64 / self.capacity as f64);
        self.gauge.store(to as u8, Ordering::Relaxed);
        if from == to {
            return false;
        }
        self.level.store(to as u8, Ordering::Relaxed);
        lock(&self.pending).push_back(PressureChange {
            from,
            to,
            buffered,
            capacity: self.capacity,
        });
        true
    }

    /// Calls the user's callback for every change found so far, in order, outside the
    /// buffer's lock and never on two threads at once; a panic is returned to the caller
    /// (and the changes not yet reported are dropped with the failing pipeline).
    fn report(&self) -> Result<(), Panic> {
        if !self.reporting.signal() {
            return Ok(()); // the running reporter will see our change
        }
        let failed = self.reporting.run(|| {
            loop {
                // A statement of its own, so the queue is unlocked while the callback runs.
                let next = lock(&self.pending).pop_front();
                let Some(change) = next else {
                    return ControlFlow::Continue(());
                };
                crate::observe::pressure_changed(&self.stats, &change);
                let callback = &self.callback;
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| callback(change))) {
                    lock(&self.pending).clear();
                    return ControlFlow::Break(payload);
                }
            }
        });
        failed.map_or(Ok(()), Err)
    }
}

/// Publisher for the [`pressure`](crate::OperatorExt::pressure) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct PressureBuffer<P: Publisher> {
    upstream: P,
    config: Config,
    levels: PressureLevels,
    callback: Callback,
    gauge: PressureGauge,
    on_drop: Option<OnDrop<P::Item>>,
}

impl<P: Publisher> PressureBuffer<P> {
    pub(crate) fn new<F>(
        upstream: P,
        capacity: usize,
        levels: PressureLevels,
        callback: F,
    ) -> Result<Self, ConfigError>
    where
        F: Fn(PressureChange) + Send + Sync + 'static,
    {
        if capacity == 0 {
            return Err(ConfigError::new(STAGE, "the capacity must be at least 1"));
        }
        Ok(PressureBuffer {
            upstream,
            config: Config::new(capacity, BufferOverflow::Backpressure),
            levels,
            callback: Arc::new(callback),
            gauge: PressureGauge {
                level: Arc::new(AtomicU8::new(Pressure::Low as u8)),
                stats: FlowStats::new(capacity),
            },
            on_drop: None,
        })
    }

    /// Sets the watermarks: requests stop once `high` items are buffered or on their way,
    /// and resume in one batch (back up to `high`) when the buffer has drained to `low`.
    /// The default is `high = capacity`, `low = capacity / 4`.
    ///
    /// # Errors
    /// [`ConfigError`] unless `low < high <= capacity`.
    pub fn watermarks(mut self, high: usize, low: usize) -> Result<Self, ConfigError> {
        self.config = self.config.watermarks(STAGE, high, low)?;
        Ok(self)
    }

    /// Calls `f` with every dropped item and the reason: only items held when the
    /// pipeline is cancelled or fails, as [`DropReason::Discarded`].
    /// A panic in `f` never unwinds into the caller; the cancel or the failure that caused
    /// the drop is what downstream sees (see [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
    pub fn on_drop<F>(mut self, f: F) -> Self
    where
        F: Fn(P::Item, DropReason) + Send + Sync + 'static,
    {
        self.on_drop = Some(support::on_drop(f));
        self
    }

    /// The live statistics of this stage (shared by all its subscriptions);
    /// [`FlowSnapshot::pressure`](crate::FlowSnapshot::pressure) is the utilisation.
    pub fn stats(&self) -> FlowStats {
        self.gauge.stats.clone()
    }

    /// The live pressure level and utilisation of this stage.
    pub fn gauge(&self) -> PressureGauge {
        self.gauge.clone()
    }
}

impl<P: Publisher> Publisher for PressureBuffer<P> {
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        self.gauge
            .level
            .store(Pressure::Low as u8, Ordering::Relaxed);
        let watch = PressureWatch {
            levels: self.levels,
            capacity: self.config.capacity,
            level: AtomicU8::new(Pressure::Low as u8),
            gauge: self.gauge.level,
            pending: Mutex::new(VecDeque::new()),
            reporting: Wip::new(),
            callback: self.callback,
            stats: self.gauge.stats.clone(),
        };
        let dropper = Dropper::new(self.gauge.stats, self.on_drop);
        let _ = bounded::subscribe::<_, Named, _>(
            self.upstream,
            subscriber,
            self.config,
            dropper,
            Some(Box::new(watch)),
        );
    }
}

impl<P: Publisher + fmt::Debug> fmt::Debug for PressureBuffer<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PressureBuffer")
            .field("upstream", &self.upstream)
            .field("config", &self.config)
            .field("levels", &self.levels)
            .field("gauge", &self.gauge)
            .finish_non_exhaustive()
    }
}
