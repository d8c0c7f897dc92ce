//! `switch_map`: maps each item to a publisher and follows only the latest one.

use std::fmt;
use std::marker::PhantomData;

use spillway_core::{ConfigError, Publisher, Subscriber};

use crate::engine::fan_in::{self, Fan, Lanes, OuterSubscriber, RoundRobin};

const STAGE: &str = "switch_map";

/// Publisher for the [`switch_map`](crate::OperatorExt::switch_map) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct SwitchMap<P, F> {
    upstream: P,
    f: F,
    prefetch: usize,
}

impl<P, F> SwitchMap<P, F> {
    pub(crate) fn new(upstream: P, f: F) -> Self {
        SwitchMap {
            upstream,
            f,
            prefetch: fan_in::DEFAULT_PREFETCH,
        }
    }

    /// Sets how many items are requested from the current inner publisher ahead of
    /// downstream demand (default 32); replenished once 75% of it was delivered.
    ///
    /// # Errors
    /// [`ConfigError`] if `prefetch` is 0.
    pub fn prefetch(mut self, prefetch: usize) -> Result<Self, ConfigError> {
        self.prefetch = fan_in::at_least_one(STAGE, "the prefetch must be at least 1", prefetch)?;
        Ok(self)
    }
}

crate::stage_name!(Named, STAGE);

impl<P, F, Q> Publisher for SwitchMap<P, F>
where
    P: Publisher,
    F: FnMut(P::Item) -> Q + Send + 'static,
    Q: Publisher<Error = P::Error>,
{
    type Item = Q::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = Q::Item, Error = P::Error>,
    {
        let fan = Fan::new(self.prefetch, STAGE, subscriber.context(), Lanes::Switching);
        fan.start(RoundRobin::<Named>(PhantomData), subscriber);
        self.upstream
            .subscribe(OuterSubscriber::new(fan, self.f, Lanes::Switching));
    }
}

impl<P: fmt::Debug, F> fmt::Debug for SwitchMap<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SwitchMap")
            .field("upstream", &self.upstream)
            .field("prefetch", &self.prefetch)
            .finish_non_exhaustive()
    }
}
