//! `batch_while_busy`: natural batching, collecting while downstream is busy.

use std::fmt;

use spillway_core::{ConfigError, Publisher, Subscriber};

use crate::engine::batching::{self, Rule, Setup};
use crate::stats::{FlowStats, OnDrop};

const STAGE: &str = "batch_while_busy";

crate::stage_name!(Marker, STAGE);

/// Publisher for the [`batch_while_busy`](crate::OperatorExt::batch_while_busy) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct BatchWhileBusy<P: Publisher> {
    upstream: P,
    max: usize,
    stats: FlowStats,
    on_drop: Option<OnDrop<P::Item>>,
}

impl<P: Publisher> BatchWhileBusy<P> {
    pub(crate) fn new(upstream: P, max: usize) -> Result<Self, ConfigError> {
        if max == 0 {
            return Err(ConfigError::new(
                STAGE,
                "the batch limit must be at least 1",
            ));
        }
        Ok(BatchWhileBusy {
            upstream,
            max,
            stats: FlowStats::new(max),
            on_drop: None,
        })
    }

    crate::drop_builders! {
        item: P::Item,
        /// Calls `f` with every dropped item and the reason, on the thread that dropped it.
        on_drop,
        /// The live statistics of this stage, in items (shared by all its subscriptions).
        stats,
    }
}

impl<P: Publisher> Publisher for BatchWhileBusy<P> {
    type Item = Vec<P::Item>;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = Vec<P::Item>, Error = P::Error>,
    {
        let setup = Setup {
            rule: Rule::WhileBusy(self.max),
            weigh: None,
            clone: None,
            timeout: None,
            ticks: None,
            stats: self.stats,
            on_drop: self.on_drop,
        };
        batching::subscribe::<Marker, _, _>(self.upstream, setup, subscriber);
    }
}

impl<P: Publisher + fmt::Debug> fmt::Debug for BatchWhileBusy<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchWhileBusy")
            .field("upstream", &self.upstream)
            .field("max", &self.max)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
