//! `chunks_with`: batches closed by the items of a boundary publisher.

use std::fmt;

use spillway_core::{ConfigError, Publisher, Subscriber};

use crate::batching::chunks_every::DEFAULT_MAX_SIZE;
use crate::engine::batching::{self, Rule, Setup};
use crate::stats::{FlowStats, OnDrop};

const STAGE: &str = "chunks_with";

crate::stage_name!(Marker, STAGE);

/// Publisher for the [`chunks_with`](crate::OperatorExt::chunks_with) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct ChunksWith<P: Publisher, B> {
    upstream: P,
    boundary: B,
    max_size: usize,
    stats: FlowStats,
    on_drop: Option<OnDrop<P::Item>>,
}

impl<P: Publisher, B> ChunksWith<P, B> {
    pub(crate) fn new(upstream: P, boundary: B) -> Self {
        ChunksWith {
            upstream,
            boundary,
            max_size: DEFAULT_MAX_SIZE,
            stats: FlowStats::new(DEFAULT_MAX_SIZE),
            on_drop: None,
        }
    }

    /// Closes a batch when it reaches `max` items, instead of [`DEFAULT_MAX_SIZE`]: at
    /// most `2 * max` items are held or in flight.
    ///
    /// # Errors
    /// [`ConfigError`] if `max` is zero.
    ///
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let batches = range(0, 5).chunks_with(never::<(), _>()).max_size(2)?;
    /// assert_eq!(batches.collect().await.unwrap(), vec![vec![0, 1], vec![2, 3], vec![4]]);
    /// # Ok::<(), spillway::ConfigError>(())
    /// # }).unwrap();
    /// ```
    pub fn max_size(mut self, max: usize) -> Result<Self, ConfigError> {
        if max == 0 {
            return Err(ConfigError::new(
                STAGE,
                "the maximum size must be at least 1",
            ));
        }
        self.max_size = max;
        self.stats = FlowStats::new(max);
        Ok(self)
    }

    crate::drop_builders! {
        item: P::Item,
        /// Calls `f` with every dropped item and the reason, on the thread that dropped it.
        /// Items are dropped only when the stage ends (an error, upstream's or the
        /// boundary's, discards the open batch; a cancel or a failure discards everything
        /// held) or for items arriving after the end: a panic in `f` never unwinds into the
        /// caller (see [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
        on_drop,
        /// The live statistics of this stage, in items (shared by all its subscriptions).
        stats,
    }
}

impl<P, B> Publisher for ChunksWith<P, B>
where
    P: Publisher,
    B: Publisher<Error = P::Error>,
{
    type Item = Vec<P::Item>;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = Vec<P::Item>, Error = P::Error>,
    {
        let setup = Setup {
            rule: Rule::Boundary(self.max_size),
            weigh: None,
            clone: None,
            timeout: None,
            ticks: None,
            stats: self.stats,
            on_drop: self.on_drop,
        };
        batching::subscribe_bounded::<Marker, _, _, _>(
            self.upstream,
            setup,
            Some(self.boundary),
            subscriber,
        );
    }
}

impl<P: Publisher + fmt::Debug, B: fmt::Debug> fmt::Debug for ChunksWith<P, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunksWith")
            .field("upstream", &self.upstream)
            .field("boundary", &self.boundary)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
