//! `chunks_sliding`: overlapping (or skipping) batches of `size` items, one starting
//! every `step` items.

use std::fmt;

use spillway_core::{ConfigError, Publisher, Subscriber};

use crate::engine::batching::{self, Rule, Setup};
use crate::stats::FlowStats;

const STAGE: &str = "chunks_sliding";

crate::stage_name!(Marker, STAGE);

/// Publisher for the [`chunks_sliding`](crate::OperatorExt::chunks_sliding) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct ChunksSliding<P> {
    upstream: P,
    size: usize,
    step: usize,
}

impl<P> ChunksSliding<P> {
    pub(crate) fn new(upstream: P, size: usize, step: usize) -> Result<Self, ConfigError> {
        if size == 0 {
            return Err(ConfigError::new(
                STAGE,
                "the window size must be at least 1",
            ));
        }
        if step == 0 {
            return Err(ConfigError::new(STAGE, "the step must be at least 1"));
        }
        Ok(ChunksSliding {
            upstream,
            size,
            step,
        })
    }
}

impl<P> Publisher for ChunksSliding<P>
where
    P: Publisher,
    P::Item: Clone,
{
    type Item = Vec<P::Item>;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = Vec<P::Item>, Error = P::Error>,
    {
        let setup = Setup {
            rule: Rule::Sliding {
                size: self.size,
                step: self.step,
            },
            weigh: None,
            clone: Some(<P::Item as Clone>::clone),
            timeout: None,
            ticks: None,
            // Internal statistics (the stage report of `named`), in copies put in windows.
            stats: FlowStats::new(self.size),
            on_drop: None,
        };
        batching::subscribe::<Marker, _, _>(self.upstream, setup, subscriber);
    }
}

impl<P: fmt::Debug> fmt::Debug for ChunksSliding<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunksSliding")
            .field("upstream", &self.upstream)
            .field("size", &self.size)
            .field("step", &self.step)
            .finish()
    }
}
