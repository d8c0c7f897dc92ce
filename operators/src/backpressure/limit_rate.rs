//! `limit_rate`: split downstream's demand into capped upstream requests, replenished
//! in batches.

use std::fmt;

use spillway_core::{ConfigError, Publisher, Stage, Subscriber};

use crate::engine::bounded::BufferOverflow;
use crate::engine::bounded::{self, Config};
use crate::engine::support::Dropper;
use crate::stats::{FlowStats, OnDrop};

const STAGE: Stage = "limit_rate";

crate::stage_name!(Named, STAGE);

/// Publisher for the [`limit_rate`](crate::OperatorExt::limit_rate) and
/// [`limit_rate_with`](crate::OperatorExt::limit_rate_with) methods.
#[must_use = "publishers do nothing until subscribed"]
pub struct LimitRate<P: Publisher> {
    upstream: P,
    config: Config,
    stats: FlowStats,
    on_drop: Option<OnDrop<P::Item>>,
}

impl<P: Publisher> LimitRate<P> {
    pub(crate) fn new(upstream: P, high: usize, low: Option<usize>) -> Result<Self, ConfigError> {
        if high == 0 {
            return Err(ConfigError::new(STAGE, "the rate must be at least 1"));
        }
        let low = low.unwrap_or(high / 4);
        let config =
            Config::new(high, BufferOverflow::Backpressure).watermarks(STAGE, high, low)?;
        Ok(LimitRate {
            upstream,
            config,
            stats: FlowStats::new(high),
            on_drop: None,
        })
    }

    /// Strict mode: never runs ahead of downstream. The total requested upstream never
    /// exceeds the total downstream has requested, so nothing is prefetched and nothing
    /// waits in the buffer for a compliant upstream; requests are still capped at
    /// `high` and replenished at the low watermark, each capped by downstream's
    /// not-yet-forwarded demand.
    pub fn strict(mut self) -> Self {
        self.config.strict = true;
        self
    }

    crate::drop_builders! {
        item: P::Item,
        /// Calls `f` with every dropped item and the reason: only prefetched items still
        /// held when the pipeline is cancelled or fails, as [`DropReason::Discarded`](crate::DropReason::Discarded).
        on_drop,
        /// The live statistics of this stage (shared by all its subscriptions): `buffered`
        /// counts prefetched items downstream has not requested yet.
        stats,
    }
}

impl<P: Publisher> Publisher for LimitRate<P> {
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        let dropper = Dropper::new(self.stats, self.on_drop);
        let _ = bounded::subscribe::<_, Named, _>(
            self.upstream,
            subscriber,
            self.config,
            dropper,
            None,
        );
    }
}

impl<P: Publisher + fmt::Debug> fmt::Debug for LimitRate<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimitRate")
            .field("upstream", &self.upstream)
            .field("high", &self.config.high)
            .field("low", &self.config.low)
            .field("strict", &self.config.strict)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
