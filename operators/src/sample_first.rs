//! `sample_first`: lets an item through, then drops everything else for a period.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use spillway_core::{ConfigError, Publisher, Scheduler, Subscriber};

use crate::stats::{DropReason, FlowStats};
use crate::timed::{self, Kind, Settings, StageName};

const STAGE: &str = "sample_first";

struct SampleFirstStage;

impl StageName for SampleFirstStage {
    const NAME: &'static str = STAGE;
}

/// Publisher for the [`sample_first`](crate::OperatorExt::sample_first) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct SampleFirst<P: Publisher> {
    upstream: P,
    period: Duration,
    settings: Settings<P::Item>,
}

impl<P: Publisher> SampleFirst<P> {
    pub(crate) fn new(upstream: P, period: Duration) -> Result<Self, ConfigError> {
        if period.is_zero() {
            return Err(ConfigError::new(
                STAGE,
                "the period must be greater than zero",
            ));
        }
        Ok(SampleFirst {
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

impl<P: Publisher> Publisher for SampleFirst<P> {
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        timed::subscribe::<SampleFirstStage, _, _>(
            self.upstream,
            Kind::SampleFirst,
            self.period,
            self.settings,
            None,
            subscriber,
        );
    }
}

impl<P: Publisher + fmt::Debug> fmt::Debug for SampleFirst<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SampleFirst")
            .field("upstream", &self.upstream)
            .field("period", &self.period)
            .field("settings", &self.settings)
            .finish()
    }
}
