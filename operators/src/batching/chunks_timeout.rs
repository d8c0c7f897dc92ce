//! `chunks_timeout`: batches of up to `n` items, or whatever arrived within a time limit.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use spillway_core::{ConfigError, Publisher, Scheduler, Subscriber};

use crate::engine::batching::{self, Rule, Setup};
use crate::stats::{FlowStats, OnDrop};

const STAGE: &str = "chunks_timeout";

crate::stage_name!(Marker, STAGE);

/// Publisher for the [`chunks_timeout`](crate::OperatorExt::chunks_timeout) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct ChunksTimeout<P: Publisher> {
    upstream: P,
    size: usize,
    timeout: Duration,
    scheduler: Option<Arc<dyn Scheduler>>,
    stats: FlowStats,
    on_drop: Option<OnDrop<P::Item>>,
}

impl<P: Publisher> ChunksTimeout<P> {
    pub(crate) fn new(upstream: P, size: usize, timeout: Duration) -> Result<Self, ConfigError> {
        if size == 0 {
            return Err(ConfigError::new(STAGE, "the batch size must be at least 1"));
        }
        if timeout.is_zero() {
            return Err(ConfigError::new(
                STAGE,
                "the timeout must be greater than zero",
            ));
        }
        Ok(ChunksTimeout {
            upstream,
            size,
            timeout,
            scheduler: None,
            stats: FlowStats::new(size),
            on_drop: None,
        })
    }

    /// Runs the batch timers on `scheduler` instead of the subscriber's.
    pub fn on(mut self, scheduler: Arc<dyn Scheduler>) -> Self {
        self.scheduler = Some(scheduler);
        self
    }

    crate::drop_builders! {
        item: P::Item,
        /// Calls `f` with every dropped item and the reason, on the thread that dropped it.
        /// Items are dropped only when the stage ends (upstream's error discards the open
        /// batch; a cancel or a failure discards everything held) or for items arriving after
        /// the end: a panic in `f` never unwinds into the caller, and what ends the stage is
        /// what downstream sees. In particular **upstream's error wins** over a panic in `f`
        /// while its partial batch is discarded: it is delivered as usual, in the same call
        /// (see [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
        on_drop,
        /// The live statistics of this stage, in items (shared by all its subscriptions).
        stats,
    }
}

impl<P: Publisher> Publisher for ChunksTimeout<P> {
    type Item = Vec<P::Item>;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = Vec<P::Item>, Error = P::Error>,
    {
        let setup = Setup {
            rule: Rule::CountOrTimer(self.size),
            weigh: None,
            clone: None,
            timeout: Some((self.timeout, self.scheduler)),
            ticks: None,
            stats: self.stats,
            on_drop: self.on_drop,
        };
        batching::subscribe::<Marker, _, _>(self.upstream, setup, subscriber);
    }
}

impl<P: Publisher + fmt::Debug> fmt::Debug for ChunksTimeout<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunksTimeout")
            .field("upstream", &self.upstream)
            .field("size", &self.size)
            .field("timeout", &self.timeout)
            .field("scheduler", &self.scheduler)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
