//! `rate_limit`: a token bucket, shaping (lossless, pauses upstream) or enforcing (fails
//! or drops what is over the limit).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use spillway_core::{ConfigError, Publisher, Scheduler, Subscriber};

use crate::engine::timed::{self, Bucket, CostFn, Kind, Settings};
use crate::stats::{DropReason, FlowStats};

pub use crate::engine::timed::RateLimitMode;

const STAGE: &str = "rate_limit";

crate::stage_name!(RateLimitStage, STAGE);

/// The configuration of [`rate_limit`](crate::OperatorExt::rate_limit): a token bucket
/// that holds at most `burst` tokens, starts full, and refills `rate` tokens every `per`
/// (continuously: one token every `per / rate`). Each item costs one token unless
/// [`RateLimit::cost`] says otherwise.
///
/// ```
/// use std::time::Duration;
/// use spillway::operators::TokenBucket;
/// // 10 items per second on average, bursts of up to 20.
/// let bucket = TokenBucket { rate: 10, per: Duration::from_secs(1), burst: 20 };
/// assert_eq!(TokenBucket::per_second(10).burst, 10);
/// # let _ = bucket;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenBucket {
    /// Tokens added every `per`.
    pub rate: u64,
    /// The refill period.
    pub per: Duration,
    /// The capacity of the bucket: the largest burst let through at once.
    pub burst: u64,
}

impl TokenBucket {
    /// `rate` tokens per second, with a burst capacity of `rate`.
    pub fn per_second(rate: u64) -> TokenBucket {
        TokenBucket {
            rate,
            per: Duration::from_secs(1),
            burst: rate,
        }
    }

    /// `rate` tokens per `per`, with a burst capacity of `rate`.
    pub fn new(rate: u64, per: Duration) -> TokenBucket {
        TokenBucket {
            rate,
            per,
            burst: rate,
        }
    }

    /// Sets the burst capacity.
    pub fn burst(mut self, burst: u64) -> TokenBucket {
        self.burst = burst;
        self
    }

    fn validate(self) -> Result<Bucket, ConfigError> {
        if self.rate == 0 {
            return Err(ConfigError::new(STAGE, "the rate must be at least 1"));
        }
        if self.per.is_zero() {
            return Err(ConfigError::new(
                STAGE,
                "the period must be greater than zero",
            ));
        }
        if self.burst == 0 {
            return Err(ConfigError::new(STAGE, "the burst must be at least 1"));
        }
        Ok(Bucket::new(self.rate, self.per, self.burst))
    }
}

/// Publisher for the [`rate_limit`](crate::OperatorExt::rate_limit) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct RateLimit<P: Publisher> {
    upstream: P,
    bucket: Bucket,
    config: TokenBucket,
    mode: RateLimitMode,
    cost: Option<CostFn<P::Item>>,
    settings: Settings<P::Item>,
}

impl<P: Publisher> RateLimit<P> {
    pub(crate) fn new(
        upstream: P,
        config: TokenBucket,
        mode: RateLimitMode,
    ) -> Result<Self, ConfigError> {
        let bucket = config.validate()?;
        Ok(RateLimit {
            upstream,
            bucket,
            config,
            mode,
            cost: None,
            settings: Settings::new(),
        })
    }

    /// Charges `cost(item)` tokens for each item instead of one (a cost of 0 lets the
    /// item through for free). An item whose cost exceeds the burst capacity can never be
    /// paid for: it fails the pipeline with
    /// [`Error::Rejected`](spillway_core::Error::Rejected) in the `Delay` and `Fail`
    /// modes, and is dropped as [`DropReason::Throttled`] in the `Drop` mode. A panic in
    /// `cost` fails the pipeline with [`Error::Panicked`](spillway_core::Error::Panicked).
    pub fn cost<F>(mut self, cost: F) -> Self
    where
        F: Fn(&P::Item) -> u64 + Send + Sync + 'static,
    {
        self.cost = Some(Arc::new(cost));
        self
    }

    /// Runs its timers and reads the time on `scheduler` instead of the one in the
    /// subscriber's [`Context`](spillway_core::Context).
    pub fn on(mut self, scheduler: Arc<dyn Scheduler>) -> Self {
        self.settings.scheduler = Some(scheduler);
        self
    }

    /// Calls `f` with every dropped item and its reason, on the thread that dropped it.
    /// A panic in `f` never unwinds into the caller: the stage cancels upstream and fails
    /// with [`Error::Panicked`](spillway_core::Error::Panicked), unless it was ending
    /// already (see [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
    pub fn on_drop<F>(mut self, f: F) -> Self
    where
        F: Fn(P::Item, DropReason) + Send + Sync + 'static,
    {
        self.settings.set_on_drop(f);
        self
    }

    /// The live statistics of this stage (shared by all its subscriptions).
    pub fn stats(&self) -> FlowStats {
        self.settings.stats.clone()
    }
}

impl<P: Publisher> Publisher for RateLimit<P> {
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        timed::subscribe::<RateLimitStage, _, _>(
            self.upstream,
            Kind::RateLimit(self.bucket, self.mode),
            self.config.per,
            self.settings,
            self.cost,
            subscriber,
        );
    }
}

impl<P: Publisher + fmt::Debug> fmt::Debug for RateLimit<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("upstream", &self.upstream)
            .field("bucket", &self.config)
            .field("mode", &self.mode)
            .field("cost", &self.cost.as_ref().map(|_| "Fn"))
            .field("settings", &self.settings)
            .finish()
    }
}
