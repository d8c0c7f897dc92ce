//! `retry_backoff`: resubscribe after exponentially growing, jittered delays on the
//! scheduler.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use spillway_core::{ConfigError, Error, Publisher, Scheduler, Stage, Subscriber};

use crate::errors::retry::{self, Decision, RetryPolicy};

const STAGE: &str = "retry_backoff";

/// The seed of the jitter generator when [`Backoff::seed`] is left at its default.
pub const DEFAULT_BACKOFF_SEED: u64 = 0x005E_ED0F_5B11_1A7A;

/// The schedule of [`retry_backoff`](crate::OperatorExt::retry_backoff): retry `k` (from
/// 0) waits `min(max, first * factor^k)`, moved by a random amount of up to `jitter` times
/// itself either way, and never more than `max`.
///
/// The randomness is a small xorshift generator seeded with `seed`, so a schedule is
/// reproducible: the same seed gives the same delays.
///
/// ```
/// use std::time::Duration;
/// use spillway::operators::Backoff;
/// let b = Backoff { first: Duration::from_millis(100), max_retries: 5, ..Backoff::default() };
/// assert_eq!(b.jitter, 0.5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The delay before the first retry (before jitter). Default 100 ms.
    pub first: Duration,
    /// The longest delay. Default 10 s.
    pub max: Duration,
    /// How much each delay grows over the previous one (at least 1). Default 2.
    pub factor: f64,
    /// The random spread, as a fraction of the delay, in `0.0..=1.0`. Default 0.5.
    pub jitter: f64,
    /// How many retries before the error goes downstream. Default 3.
    pub max_retries: u64,
    /// The jitter generator's seed. Default [`DEFAULT_BACKOFF_SEED`].
    pub seed: u64,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            first: Duration::from_millis(100),
            max: Duration::from_secs(10),
            factor: 2.0,
            jitter: 0.5,
            max_retries: 3,
            seed: DEFAULT_BACKOFF_SEED,
        }
    }
}

impl Backoff {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.first.is_zero() {
            return Err(ConfigError::new(
                STAGE,
                "the first delay must be greater than zero",
            ));
        }
        if self.max < self.first {
            return Err(ConfigError::new(
                STAGE,
                "the max delay must be at least the first",
            ));
        }
        if !(self.factor >= 1.0 && self.factor.is_finite()) {
            return Err(ConfigError::new(
                STAGE,
                "the factor must be a finite number >= 1",
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(ConfigError::new(
                STAGE,
                "the jitter must be between 0 and 1",
            ));
        }
        Ok(())
    }

    /// The delays this schedule produces, in order (`max_retries` of them): what
    /// `retry_backoff` waits before each retry.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway::operators::Backoff;
    /// let b = Backoff { jitter: 0.0, max_retries: 4, max: Duration::from_millis(500), ..Backoff::default() };
    /// let ms: Vec<u128> = b.delays().map(|d| d.as_millis()).collect();
    /// assert_eq!(ms, vec![100, 200, 400, 500]);
    /// ```
    pub fn delays(&self) -> impl Iterator<Item = Duration> {
        let mut schedule = Schedule::new(*self);
        (0..self.max_retries).map(move |_| schedule.next_delay())
    }
}

/// The running schedule of one subscription.
struct Schedule {
    config: Backoff,
    attempt: u64,
    rng: u64,
}

impl Schedule {
    fn new(config: Backoff) -> Schedule {
        Schedule {
            config,
            attempt: 0,
            rng: if config.seed == 0 {
                DEFAULT_BACKOFF_SEED
            } else {
                config.seed
            },
        }
    }

    /// xorshift64*: a uniform number in `[0, 1)`.
    fn random(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn next_delay(&mut self) -> Duration {
        let c = self.config;
        let exp = i32::try_from(self.attempt).unwrap_or(i32::MAX);
        self.attempt += 1;
        let base = (c.first.as_secs_f64() * c.factor.powi(exp)).min(c.max.as_secs_f64());
        let spread = base * c.jitter * (2.0 * self.random() - 1.0);
        let secs = (base + spread).clamp(0.0, c.max.as_secs_f64());
        Duration::from_secs_f64(secs)
    }
}

impl<E> RetryPolicy<E> for Schedule {
    const STAGE: Stage = STAGE;
    fn decide(&mut self, _error: &Error<E>) -> Decision {
        if self.attempt >= self.config.max_retries {
            return Decision::GiveUp;
        }
        Decision::After(self.next_delay())
    }
}

/// Publisher for the [`retry_backoff`](crate::OperatorExt::retry_backoff) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct RetryBackoff<P> {
    upstream: P,
    backoff: Backoff,
    scheduler: Option<Arc<dyn Scheduler>>,
}

impl<P> RetryBackoff<P> {
    pub(crate) fn new(upstream: P, backoff: Backoff) -> Result<Self, ConfigError> {
        backoff.validate()?;
        Ok(RetryBackoff {
            upstream,
            backoff,
            scheduler: None,
        })
    }

    /// Runs the delays on `scheduler` instead of the subscriber's context's scheduler.
    pub fn on(mut self, scheduler: Arc<dyn Scheduler>) -> Self {
        self.scheduler = Some(scheduler);
        self
    }
}

impl<P> Publisher for RetryBackoff<P>
where
    P: Publisher + Clone + Send + 'static,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        retry::subscribe(
            self.upstream,
            Schedule::new(self.backoff),
            self.scheduler,
            subscriber,
        );
    }
}

impl<P: fmt::Debug> fmt::Debug for RetryBackoff<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBackoff")
            .field("upstream", &self.upstream)
            .field("backoff", &self.backoff)
            .field("scheduler", &self.scheduler)
            .finish()
    }
}
