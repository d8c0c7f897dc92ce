//! `delay_elements`: lossless spacing: each item is delayed by a period, one at a time.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use spillway_core::{ConfigError, Publisher, Scheduler, Subscriber};

use crate::stats::{DropReason, FlowStats};
use crate::timed::{self, Kind, Settings, StageName};

const STAGE: &str = "delay_elements";

struct DelayElementsStage;

impl StageName for DelayElementsStage {
    const NAME: &'static str = STAGE;
}

/// Publisher for the [`delay_elements`](crate::OperatorExt::delay_elements) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct DelayElements<P: Publisher> {
    upstream: P,
    period: Duration,
    settings: Settings<P::Item>,
}

impl<P: Publisher> DelayElements<P> {
    pub(crate) fn new(upstream: P, period: Duration) -> Result<Self, ConfigError> {
        if period.is_zero() {
            return Err(ConfigError::new(
                STAGE,
                "the period must be greater than zero",
            ));
        }
        Ok(DelayElements {
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

    /// Calls `f` with every item discarded by a cancel or a failure, on the thread that
    /// dropped it (this stage itself never drops an item). A panic in `f` fails the
    /// pipeline with [`Error::Panicked`](spillway_core::Error::Panicked).
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

impl<P: Publisher> Publisher for DelayElements<P> {
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        timed::subscribe::<DelayElementsStage, _, _>(
            self.upstream,
            Kind::DelayElements,
            self.period,
            self.settings,
            None,
            subscriber,
        );
    }
}

impl<P: Publisher + fmt::Debug> fmt::Debug for DelayElements<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DelayElements")
            .field("upstream", &self.upstream)
            .field("period", &self.period)
            .field("settings", &self.settings)
            .finish()
    }
}
