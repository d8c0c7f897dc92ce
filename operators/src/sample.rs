//! `sample`: emits, every period, the latest item seen in that period.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use spillway_core::{ConfigError, Publisher, Scheduler, Subscriber};

use crate::stats::{DropReason, FlowStats};
use crate::timed::{self, Kind, Settings, StageName};

const STAGE: &str = "sample";

struct SampleStage;

impl StageName for SampleStage {
    const NAME: &'static str = STAGE;
}

/// Publisher for the [`sample`](crate::OperatorExt::sample) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct Sample<P: Publisher> {
    upstream: P,
    period: Duration,
    settings: Settings<P::Item>,
}

impl<P: Publisher> Sample<P> {
    pub(crate) fn new(upstream: P, period: Duration) -> Result<Self, ConfigError> {
        if period.is_zero() {
            return Err(ConfigError::new(
                STAGE,
                "the period must be greater than zero",
            ));
        }
        Ok(Sample {
            upstream,
            period,
            settings: Settings::new(),
        })
    }

    /// Runs its timers on `scheduler` instead of the one in the subscriber's
    /// [`Context`](spillway_core::Context).
    pub fn on(mut self, scheduler: Arc<dyn Scheduler>) -> Self {
        self.settings.scheduler = Some(scheduler);
        self
    }

    /// Whether an item still pending when upstream completes is delivered (waiting for
    /// demand if needed) before `on_complete` (`true`, the default) or dropped as
    /// [`DropReason::Discarded`] (`false`). On an upstream error the pending item is
    /// always dropped as `Discarded`.
    pub fn flush_on_complete(mut self, flush: bool) -> Self {
        self.settings.flush_on_complete = flush;
        self
    }

    /// Calls `f` with every dropped item and its reason, on the thread that dropped it.
    /// A panic in `f` fails the pipeline with [`Error::Panicked`](spillway_core::Error::Panicked).
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

impl<P: Publisher> Publisher for Sample<P> {
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        timed::subscribe::<SampleStage, _, _>(
            self.upstream,
            Kind::Sample,
            self.period,
            self.settings,
            None,
            subscriber,
        );
    }
}

impl<P: Publisher + fmt::Debug> fmt::Debug for Sample<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sample")
            .field("upstream", &self.upstream)
            .field("period", &self.period)
            .field("settings", &self.settings)
            .finish()
    }
}
