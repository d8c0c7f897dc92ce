//! `on_backpressure_buffer`: a bounded buffer between a producer and a slower consumer,
//! with an overflow policy the user chooses and high/low watermarks.

use std::fmt;

use spillway_core::{ConfigError, Publisher, Stage, Subscriber};

use crate::bounded::{self, Config};
use crate::stats::{DropReason, FlowStats, OnDrop};
use crate::support::{self, Dropper, StageName};

const STAGE: &str = "on_backpressure_buffer";

/// What [`on_backpressure_buffer`](crate::OperatorExt::on_backpressure_buffer) does when
/// an item arrives and the buffer is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BufferOverflow {
    /// Never let it fill: request from upstream only what fits (between the watermarks),
    /// so a compliant upstream is paused instead of overflowing. Lossless.
    Backpressure,
    /// Drop the incoming item ([`DropReason::BufferFull`]).
    DropNewest,
    /// Evict the oldest buffered item to make room ([`DropReason::Evicted`]).
    DropOldest,
    /// Clear the whole buffer, then keep the incoming item ([`DropReason::BufferCleared`]).
    DropBuffer,
    /// Replace the newest buffered item with the incoming one ([`DropReason::Superseded`]).
    KeepLatest,
    /// Fail with [`Error::Overflow`](spillway_core::Error::Overflow) naming the stage and capacity; the buffered items are
    /// dropped as [`DropReason::Discarded`].
    Fail,
}

/// Publisher for the [`on_backpressure_buffer`](crate::OperatorExt::on_backpressure_buffer)
/// method.
#[must_use = "publishers do nothing until subscribed"]
pub struct OnBackpressureBuffer<P: Publisher> {
    upstream: P,
    config: Config,
    stats: FlowStats,
    on_drop: Option<OnDrop<P::Item>>,
}

impl<P: Publisher> OnBackpressureBuffer<P> {
    pub(crate) fn new(
        upstream: P,
        capacity: usize,
        overflow: BufferOverflow,
    ) -> Result<Self, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::new(STAGE, "the capacity must be at least 1"));
        }
        Ok(Self::unchecked(upstream, capacity, overflow))
    }

    pub(crate) fn unbounded(upstream: P) -> Self {
        Self::unchecked(upstream, usize::MAX, BufferOverflow::DropNewest)
    }

    fn unchecked(upstream: P, capacity: usize, overflow: BufferOverflow) -> Self {
        OnBackpressureBuffer {
            upstream,
            config: Config::new(capacity, overflow),
            stats: FlowStats::new(if capacity == usize::MAX { 0 } else { capacity }),
            on_drop: None,
        }
    }

    /// Sets the watermarks of the [`BufferOverflow::Backpressure`] policy: requests stop
    /// once `high` items are buffered or on their way, and resume in one batch (back up to
    /// `high`) when the buffer has drained to `low`. The default is `high = capacity`,
    /// `low = capacity / 4`.
    ///
    /// # Errors
    /// [`ConfigError`] unless `low < high <= capacity`, or if the policy is not
    /// `Backpressure` (the lossy policies request unbounded demand upstream).
    pub fn watermarks(mut self, high: usize, low: usize) -> Result<Self, ConfigError> {
        if self.config.overflow != BufferOverflow::Backpressure {
            return Err(ConfigError::new(
                STAGE,
                "watermarks apply to the Backpressure policy only",
            ));
        }
        self.config = self.config.watermarks(STAGE, high, low)?;
        Ok(self)
    }

    /// Calls `f` with every dropped item and the reason, on the thread that dropped it.
    pub fn on_drop<F>(mut self, f: F) -> Self
    where
        F: Fn(P::Item, DropReason) + Send + Sync + 'static,
    {
        self.on_drop = Some(support::on_drop(f));
        self
    }

    /// The live statistics of this stage (shared by all its subscriptions).
    pub fn stats(&self) -> FlowStats {
        self.stats.clone()
    }
}

struct Named;
impl StageName for Named {
    const STAGE: Stage = STAGE;
}

impl<P> Publisher for OnBackpressureBuffer<P>
where
    P: Publisher,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        let dropper = Dropper::new(self.stats, self.on_drop);
        bounded::subscribe::<_, Named, _>(self.upstream, subscriber, self.config, dropper, None);
    }
}

impl<P: Publisher + fmt::Debug> fmt::Debug for OnBackpressureBuffer<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnBackpressureBuffer")
            .field("upstream", &self.upstream)
            .field("config", &self.config)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
