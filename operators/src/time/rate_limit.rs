//! `rate_limit`: a token bucket, shaping (lossless, pauses upstream) or enforcing (fails
//! or drops what is over the limit).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spillway_core::{ConfigError, Publisher, Scheduler, Subscriber};

use crate::engine::timed::{self, CostFn, Cx, Sendable, Settings, Timing};
use crate::stats::{DropReason, FlowStats};

const STAGE: &str = "rate_limit";

crate::stage_name!(RateLimitStage, STAGE);

/// The configuration of [`rate_limit`](crate::OperatorExt::rate_limit): a token bucket
/// that holds at most `burst` tokens, starts full, and refills `rate` tokens every `per`
/// (continuously: one token every `per / rate`). Each item costs one token unless
/// [`RateLimit::cost`] says otherwise.
///
/// ```
/// use std::time::{Duration, Instant};
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
        timed::subscribe::<RateLimitStage, _, _, _>(
            self.upstream,
            BucketLogic {
                bucket: self.bucket,
                mode: self.mode,
            },
            self.config.per,
            self.settings,
            timed::Hooks {
                cost: self.cost,
                ..timed::Hooks::default()
            },
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
struct Bucket {
    rate: u64,
    per_nanos: u128,
    burst: u64,
    /// `burst` tokens in credits, computed once.
    capacity: u128,
}

impl Bucket {
    fn new(rate: u64, per: Duration, burst: u64) -> Bucket {
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

/// `rate_limit`'s logic: a token bucket, and what to do with an item it cannot pay for.
struct BucketLogic {
    bucket: Bucket,
    mode: RateLimitMode,
}

/// The bucket's content: credits, as of the last refill.
struct Credit {
    credit: u128,
    refilled_at: Instant,
}

impl BucketLogic {
    #[inline]
    fn refill(&self, c: &mut Credit, now: Instant) {
        // Items arriving at the same instant (a burst, or many per virtual tick) find
        // nothing to add; a full bucket stays full.
        if now <= c.refilled_at {
            return;
        }
        let bucket = self.bucket;
        if c.credit < bucket.capacity() {
            let elapsed = now.duration_since(c.refilled_at).as_nanos();
            c.credit = c
                .credit
                .saturating_add(bucket.earned(elapsed))
                .min(bucket.capacity());
        }
        c.refilled_at = now;
    }

    /// The time until the bucket holds `price` credits.
    #[inline]
    fn wait_for(&self, c: &Credit, price: u128) -> Duration {
        let missing = price.saturating_sub(c.credit);
        let nanos = missing.div_ceil(u128::from(self.bucket.rate)).max(1);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Shaping mode: releases the held items the bucket can pay for, in order, and arms
    /// the timer for the first one it cannot.
    fn release<T: Sendable, E: Sendable>(&self, cx: &mut Cx<'_, T, E, Self>, now: Instant) {
        self.refill(cx.state(), now);
        while let Some(cost) = cx.next_cost() {
            let price = self.bucket.price(cost);
            let c = cx.state();
            if c.credit >= price {
                c.credit -= price;
                let item = cx.take_held().expect("peeked");
                cx.commit(item);
                continue;
            }
            let wait = self.wait_for(c, price);
            if !cx.timer_armed() {
                cx.start_timer(wait);
            }
            break;
        }
    }
}

impl Timing for BucketLogic {
    type State = Credit;

    fn start(&self, now: Instant) -> Credit {
        Credit {
            credit: self.bucket.capacity(),
            refilled_at: now,
        }
    }

    fn lossless(&self) -> bool {
        self.mode == RateLimitMode::Delay
    }

    fn reads_clock(&self) -> bool {
        true
    }

    #[inline]
    fn on_item<T: Sendable, E: Sendable>(
        &self,
        cx: &mut Cx<'_, T, E, Self>,
        item: T,
        cost: u64,
        now: Option<Instant>,
    ) {
        let now = now.expect("read for every item");
        if cost > self.bucket.burst {
            cx.discard(item, DropReason::Throttled);
            if self.mode != RateLimitMode::Drop {
                cx.reject("an item's cost exceeds the burst capacity");
            }
            return;
        }
        if self.mode == RateLimitMode::Delay {
            cx.hold(item, cost);
            return self.release(cx, now);
        }
        self.refill(cx.state(), now);
        let price = self.bucket.price(cost);
        if cx.state().credit < price {
            cx.discard(item, DropReason::Throttled);
            if self.mode == RateLimitMode::Fail {
                cx.reject("rate limit exceeded");
            }
        } else if cx.commit(item) {
            cx.state().credit -= price;
        }
    }

    fn on_timer<T: Sendable, E: Sendable>(&self, cx: &mut Cx<'_, T, E, Self>, now: Instant) {
        if self.mode == RateLimitMode::Delay {
            self.release(cx, now);
        }
    }

    #[inline]
    fn request<T: Sendable, E: Sendable>(
        &self,
        cx: &mut Cx<'_, T, E, Self>,
        free: u64,
        _outstanding: u64,
        now: Instant,
    ) -> u64 {
        if cx.holds_any() {
            return 0;
        }
        self.refill(cx.state(), now);
        let tokens = self.bucket.tokens(cx.state().credit);
        let in_flight = cx.in_flight();
        let n = free.min(tokens.saturating_sub(in_flight));
        if n == 0 && free > 0 && in_flight == 0 && !cx.timer_armed() {
            // Out of tokens: come back when one has refilled.
            let wait = self.wait_for(cx.state(), self.bucket.price(1));
            cx.start_timer(wait);
        }
        n
    }
}
