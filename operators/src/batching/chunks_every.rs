//! `chunks_every`: batches closed on a fixed clock (and optionally at a maximum size).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use spillway_core::{ConfigError, Publisher, Scheduler, Subscriber};

use crate::engine::batching::{self, Rule, Setup};
use crate::stats::{FlowStats, OnDrop};

const STAGE: &str = "chunks_every";

/// The batch size at which [`chunks_every`](crate::OperatorExt::chunks_every) and
/// [`chunks_with`](crate::OperatorExt::chunks_with) close a batch before its boundary,
/// unless `max_size` says otherwise: what bounds their memory when upstream is fast.
///
/// ```
/// assert_eq!(spillway::operators::DEFAULT_MAX_SIZE, 4096);
/// ```
pub const DEFAULT_MAX_SIZE: usize = 4096;

crate::stage_name!(Marker, STAGE);

/// Publisher for the [`chunks_every`](crate::OperatorExt::chunks_every) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct ChunksEvery<P: Publisher> {
    upstream: P,
    period: Duration,
    max_size: usize,
    scheduler: Option<Arc<dyn Scheduler>>,
    stats: FlowStats,
    on_drop: Option<OnDrop<P::Item>>,
}

impl<P: Publisher> ChunksEvery<P> {
    pub(crate) fn new(upstream: P, period: Duration) -> Result<Self, ConfigError> {
        if period.is_zero() {
            return Err(ConfigError::new(
                STAGE,
                "the period must be greater than zero",
            ));
        }
        Ok(ChunksEvery {
            upstream,
            period,
            max_size: DEFAULT_MAX_SIZE,
            scheduler: None,
            stats: FlowStats::new(DEFAULT_MAX_SIZE),
            on_drop: None,
        })
    }

    /// Closes a batch when it reaches `max` items (RxJS's `maxBufferSize`), instead of
    /// [`DEFAULT_MAX_SIZE`]; the clock does not restart then. Upstream is asked for at
    /// most one batch more than downstream's demand, so `2 * max` items at most are held or
    /// in flight.
    ///
    /// # Errors
    /// [`ConfigError`] if `max` is zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let batches = range(0, 5).chunks_every(Duration::from_secs(1))?.max_size(2)?;
    /// assert_eq!(batches.collect().await.unwrap(), vec![vec![0, 1], vec![2, 3], vec![4]]);
    /// assert!(range(0, 5).chunks_every(Duration::from_secs(1))?.max_size(0).is_err());
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

    /// Runs the clock on `scheduler` instead of the subscriber's.
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
        /// what downstream sees (see [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
        on_drop,
        /// The live statistics of this stage, in items (shared by all its subscriptions).
        stats,
    }
}

impl<P: Publisher> Publisher for ChunksEvery<P> {
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
            ticks: Some((self.period, self.scheduler)),
            stats: self.stats,
            on_drop: self.on_drop,
        };
        batching::subscribe::<Marker, _, _>(self.upstream, setup, subscriber);
    }
}

impl<P: Publisher + fmt::Debug> fmt::Debug for ChunksEvery<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunksEvery")
            .field("upstream", &self.upstream)
            .field("period", &self.period)
            .field("max_size", &self.max_size)
            .field("scheduler", &self.scheduler)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
