//! `pressure`: a lossless bounded buffer that pauses upstream when full and reports its
//! pressure level (from buffer utilisation) on every change.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use spillway_core::{ConfigError, Publisher, Stage, Subscriber};

use crate::bounded::{self, Config};
use crate::stats::{DropReason, FlowStats, OnDrop};
use crate::support::{self, lock, Dropper, StageName};
use crate::BufferOverflow;

pub(crate) const STAGE: Stage = "pressure";

struct Named;
impl StageName for Named {
    const STAGE: Stage = STAGE;
}

/// A pressure level, computed from buffer utilisation by [`PressureLevels`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pressure {
    /// Below the medium threshold.
    Low,
    /// At or above the medium threshold.
    Medium,
    /// At or above the high threshold.
    High,
    /// At or above the critical threshold.
    Critical,
}

impl Pressure {
    const ALL: [Pressure; 4] = [
        Pressure::Low,
        Pressure::Medium,
        Pressure::High,
        Pressure::Critical,
    ];

    fn from_index(i: u8) -> Pressure {
        Pressure::ALL[usize::from(i).min(3)]
    }
}

impl fmt::Display for Pressure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Pressure::Low => "low",
            Pressure::Medium => "medium",
            Pressure::High => "high",
            Pressure::Critical => "critical",
        })
    }
}

/// The utilisation thresholds (fractions of the capacity, `0.0..=1.0`) at which
/// [`Pressure`] goes up a level: `Low < medium <= Medium < high <= High < critical <=
/// Critical`.
///
/// ```
/// use spillway::operators::{Pressure, PressureLevels};
/// let levels = PressureLevels::seed();
/// assert_eq!(levels.classify(0.49), Pressure::Low);
/// assert_eq!(levels.classify(0.5), Pressure::Medium);
/// assert_eq!(levels.classify(0.7), Pressure::High);
/// assert_eq!(levels.classify(0.9), Pressure::Critical);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PressureLevels {
    medium: f64,
    high: f64,
    critical: f64,
}

impl PressureLevels {
    /// The seed document's thresholds: medium at 50%, high at 70%, critical at 90%.
    pub const fn seed() -> PressureLevels {
        PressureLevels {
            medium: 0.5,
            high: 0.7,
            critical: 0.9,
        }
    }

    /// Custom thresholds.
    ///
    /// # Errors
    /// [`ConfigError`] unless `0 < medium < high < critical <= 1`.
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
        })
    }

    /// The level of a utilisation between 0.0 and 1.0.
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
}

impl Default for PressureLevels {
    fn default() -> Self {
        PressureLevels::seed()
    }
}

/// A change of pressure level, passed to the [`pressure`](crate::OperatorExt::pressure)
/// callback.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PressureChange {
    /// The level before.
    pub from: Pressure,
    /// The level now.
    pub to: Pressure,
    /// Items buffered when the level changed.
    pub buffered: usize,
    /// The buffer's capacity.
    pub capacity: usize,
}

impl PressureChange {
    /// Buffer utilisation from 0.0 to 1.0 when the level changed.
    pub fn utilisation(&self) -> f64 {
        self.buffered as f64 / self.capacity as f64
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

/// A level change, found under the buffer's lock and reported after it is released.
pub(crate) struct Reported(());

/// The per-subscription level tracker the bounded queue calls on every length change.
///
/// Changes are found under the buffer's lock, so they are found in order; the callback
/// runs after the lock is released, possibly on several threads at once (upstream's and
/// downstream's). To keep the reports in order and never concurrent, changes go into a
/// queue (in the order found) and one reporter at a time drains it (the queue-drain
/// pattern of the core drain loop).
pub(crate) struct PressureWatch {
    levels: PressureLevels,
    capacity: usize,
    /// This subscription's level (only written under the buffer's lock).
    level: AtomicU8,
    gauge: Arc<AtomicU8>,
    callback: Callback,
    pending: Mutex<VecDeque<PressureChange>>,
    /// Reporters waiting or running: whoever moves it from zero drains `pending`.
    reporting: AtomicUsize,
}

impl PressureWatch {
    /// Called under the buffer's lock with the new length.
    pub(crate) fn update(&self, buffered: usize) -> Option<Reported> {
        let to = self.levels.classify(buffered as f64 / self.capacity as f64);
        let from = Pressure::from_index(self.level.swap(to as u8, Ordering::Relaxed));
        self.gauge.store(to as u8, Ordering::Relaxed);
        if from == to {
            return None;
        }
        lock(&self.pending).push_back(PressureChange {
            from,
            to,
            buffered,
            capacity: self.capacity,
        });
        Some(Reported(()))
    }

    /// Calls the user's callback for every change found so far, in order, outside the
    /// buffer's lock and never on two threads at once; a panic is returned to the caller
    /// (and the changes not yet reported are dropped with the failing pipeline).
    pub(crate) fn report(&self, _change: Reported) -> Result<(), Box<dyn std::any::Any + Send>> {
        if self.reporting.fetch_add(1, Ordering::AcqRel) != 0 {
            return Ok(()); // the running reporter will see our change
        }
        let mut missed = 1;
        loop {
            loop {
                // A statement of its own, so the queue is unlocked while the callback runs.
                let next = lock(&self.pending).pop_front();
                let Some(change) = next else { break };
                let callback = &self.callback;
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| callback(change))) {
                    lock(&self.pending).clear();
                    self.reporting.store(0, Ordering::Release);
                    return Err(payload);
                }
            }
            let before = self.reporting.fetch_sub(missed, Ordering::AcqRel);
            if before == missed {
                return Ok(());
            }
            missed = before - missed;
        }
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
            reporting: AtomicUsize::new(0),
            callback: self.callback,
        };
        let dropper = Dropper::new(self.gauge.stats, self.on_drop);
        let _ = bounded::subscribe::<_, Named, _>(
            self.upstream,
            subscriber,
            self.config,
            dropper,
            Some(watch),
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
