//! `chunks_weighted`: batches bounded by a total weight (bytes, cost, ...).

use std::fmt;

use spillway_core::{ConfigError, Publisher, Subscriber};

use crate::engine::batching::{self, Rule, Setup};
use crate::stats::{FlowStats, OnDrop};

const STAGE: &str = "chunks_weighted";

crate::stage_name!(Marker, STAGE);

/// Publisher for the [`chunks_weighted`](crate::OperatorExt::chunks_weighted) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct ChunksWeighted<P: Publisher, F> {
    upstream: P,
    max_weight: u64,
    weigh: F,
    stats: FlowStats,
    on_drop: Option<OnDrop<P::Item>>,
}

impl<P: Publisher, F> ChunksWeighted<P, F> {
    pub(crate) fn new(upstream: P, max_weight: u64, weigh: F) -> Result<Self, ConfigError> {
        if max_weight == 0 {
            return Err(ConfigError::new(
                STAGE,
                "the maximum weight must be at least 1",
            ));
        }
        Ok(ChunksWeighted {
            upstream,
            max_weight,
            weigh,
            stats: FlowStats::new(0),
            on_drop: None,
        })
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

impl<P, F> Publisher for ChunksWeighted<P, F>
where
    P: Publisher,
    F: FnMut(&P::Item) -> u64 + Send + 'static,
{
    type Item = Vec<P::Item>;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = Vec<P::Item>, Error = P::Error>,
    {
        let setup = Setup {
            rule: Rule::Weight(self.max_weight),
            weigh: Some(Box::new(self.weigh)),
            clone: None,
            timeout: None,
            ticks: None,
            stats: self.stats,
            on_drop: self.on_drop,
        };
        batching::subscribe::<Marker, _, _>(self.upstream, setup, subscriber);
    }
}

impl<P: Publisher + fmt::Debug, F> fmt::Debug for ChunksWeighted<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunksWeighted")
            .field("upstream", &self.upstream)
            .field("max_weight", &self.max_weight)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
