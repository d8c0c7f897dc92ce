//! `flat_map`: maps each item to a publisher and merges up to `concurrency` of them.

use std::fmt;
use std::marker::PhantomData;

use spillway_core::{ConfigError, Publisher, Subscriber};

use crate::engine::fan_in::{self, Fan, Lanes, OuterSubscriber, RoundRobin};

const STAGE: &str = "flat_map";

/// Publisher for the [`flat_map`](crate::OperatorExt::flat_map) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct FlatMap<P, F> {
    upstream: P,
    f: F,
    concurrency: usize,
    prefetch: usize,
}

impl<P, F> FlatMap<P, F> {
    pub(crate) fn new(
        upstream: P,
        f: F,
        concurrency: usize,
        prefetch: usize,
    ) -> Result<Self, ConfigError> {
        Ok(FlatMap {
            upstream,
            f,
            concurrency: fan_in::at_least_one(
                STAGE,
                "the concurrency must be at least 1",
                concurrency,
            )?,
            prefetch: fan_in::at_least_one(STAGE, "the prefetch must be at least 1", prefetch)?,
        })
    }
}

crate::stage_name!(Named, STAGE);

impl<P, F, Q> Publisher for FlatMap<P, F>
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
        let lanes = Lanes::Bounded {
            concurrency: self.concurrency as u64,
        };
        let fan = Fan::new(self.prefetch, STAGE, subscriber.context(), lanes);
        fan.start(RoundRobin::<Named>(PhantomData), subscriber);
        self.upstream
            .subscribe(OuterSubscriber::new(fan, self.f, lanes));
    }
}

impl<P: fmt::Debug, F> fmt::Debug for FlatMap<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlatMap")
            .field("upstream", &self.upstream)
            .field("concurrency", &self.concurrency)
            .field("prefetch", &self.prefetch)
            .finish_non_exhaustive()
    }
}
