//! `on_backpressure_buffer`: a bounded buffer between a producer and a slower consumer,
//! with an overflow policy the user chooses and high/low watermarks.

use std::fmt;
use std::sync::{Arc, Mutex, Weak};

use spillway_core::{ConfigError, Publisher, Subscriber};

use crate::engine::bounded::{self, Config};
use crate::engine::support::{self, Dropper};
use crate::stats::{FlowStats, OnDrop};

const STAGE: &str = "on_backpressure_buffer";

pub use crate::engine::bounded::BufferOverflow;

/// Publisher for the [`on_backpressure_buffer`](crate::OperatorExt::on_backpressure_buffer)
/// method.
#[must_use = "publishers do nothing until subscribed"]
pub struct OnBackpressureBuffer<P: Publisher> {
    upstream: P,
    config: Config,
    stats: FlowStats,
    on_drop: Option<OnDrop<P::Item>>,
    releaser: BufferRelease,
}

/// Gives up part of an [`OnBackpressureBuffer`]'s buffered items on demand: the seed
/// document's "emergency pressure release". Obtained from
/// [`OnBackpressureBuffer::release_handle`] before subscribing; cheap to clone, usable
/// from any thread, and it acts on every live subscription of the stage.
///
/// Released items are dropped oldest first, counted as [`DropReason::Evicted`](crate::DropReason::Evicted) and passed
/// to the stage's `on_drop`; with the `Backpressure` policy the room made resumes a paused
/// upstream at once. A panic in `on_drop` does not unwind into `release`: that
/// subscription fails with [`Error::Panicked`](spillway_core::Error::Panicked) (see
/// [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
///
/// ```
/// use spillway::prelude::*;
/// use spillway::operators::{BufferOverflow, DropReason};
/// use spillway_testkit::TestSubscriber;
///
/// let buffer = range(0, 100).on_backpressure_buffer(10, BufferOverflow::Backpressure)?;
/// let (stats, release) = (buffer.stats(), buffer.release_handle());
/// let (subscriber, consumer) = TestSubscriber::<u64, std::convert::Infallible>::new(0);
/// buffer.subscribe(subscriber);
/// assert_eq!(stats.snapshot().buffered, 10); // full: the consumer asked for nothing
/// assert_eq!(release.release(0.5), 5); // emergency: drop the oldest half
/// consumer.request(1);
/// consumer.assert_items(&[5]);
/// assert_eq!(stats.snapshot().dropped_for(DropReason::Evicted), 5);
/// # Ok::<(), spillway::ConfigError>(())
/// ```
#[derive(Clone, Default)]
pub struct BufferRelease {
    live: Arc<Mutex<Vec<Weak<dyn bounded::Release>>>>,
}

impl BufferRelease {
    /// Drops the oldest `fraction` (clamped to 0.0..=1.0) of the items buffered in each
    /// live subscription; returns how many were dropped in all.
    pub fn release(&self, fraction: f64) -> usize {
        let live: Vec<_> = {
            let mut subscriptions = support::lock(&self.live);
            subscriptions.retain(|w| w.strong_count() > 0);
            subscriptions.iter().filter_map(Weak::upgrade).collect()
        };
        live.iter().map(|s| s.release(fraction)).sum()
    }
}

impl fmt::Debug for BufferRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferRelease").finish_non_exhaustive()
    }
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
            releaser: BufferRelease::default(),
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

    crate::drop_builders! {
        item: P::Item,
        /// Calls `f` with every dropped item and the reason, on the thread that dropped it.
        /// A panic in `f` never unwinds into the caller: the stage cancels upstream and fails
        /// with [`Error::Panicked`](spillway_core::Error::Panicked), unless it was ending
        /// already (see [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
        on_drop,
        /// The live statistics of this stage (shared by all its subscriptions).
        stats,
    }

    /// A handle that drops part of the buffer on demand (emergency pressure release).
    pub fn release_handle(&self) -> BufferRelease {
        self.releaser.clone()
    }
}

crate::stage_name!(Named, STAGE);

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
        let live = bounded::subscribe::<_, Named, _>(
            self.upstream,
            subscriber,
            self.config,
            dropper,
            None,
        );
        support::lock(&self.releaser.live).push(live);
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
