//! `concat_map`: maps each item to a publisher and emits their items one publisher after
//! the other, in order.

use std::fmt;
use std::marker::PhantomData;

use spillway_core::{ConfigError, Publisher, Subscriber};

use crate::engine::fan_in::{self, Fan, Lanes, Oldest, OuterSubscriber};

const STAGE: &str = "concat_map";

/// Publisher for the [`concat_map`](crate::OperatorExt::concat_map) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct ConcatMap<P, F> {
    upstream: P,
    f: F,
    prefetch: usize,
}

impl<P, F> ConcatMap<P, F> {
    pub(crate) fn new(upstream: P, f: F) -> Self {
        ConcatMap {
            upstream,
            f,
            prefetch: fan_in::DEFAULT_PREFETCH,
        }
    }

    /// Sets how many items are requested from each inner publisher ahead of downstream
    /// demand (default 32); replenished once 75% of it was delivered.
    ///
    /// # Errors
    /// [`ConfigError`] if `prefetch` is 0.
    pub fn prefetch(mut self, prefetch: usize) -> Result<Self, ConfigError> {
        self.prefetch = fan_in::at_least_one(STAGE, "the prefetch must be at least 1", prefetch)?;
        Ok(self)
    }
}

crate::stage_name!(Named, STAGE);

impl<P, F, Q> Publisher for ConcatMap<P, F>
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
        // flat_map with concurrency 1, drained oldest inner first: the next outer item
        // is requested when the current inner completes, and its items queue behind the
        // previous inner's leftovers.
        let fan = Fan::new(
            self.prefetch,
            STAGE,
            subscriber.context(),
            Lanes::Bounded { concurrency: 1 },
        );
        fan.start(Oldest::<Named>(PhantomData), subscriber);
        self.upstream.subscribe(OuterSubscriber::new(
            fan,
            self.f,
            Lanes::Bounded { concurrency: 1 },
        ));
    }
}

impl<P: fmt::Debug, F> fmt::Debug for ConcatMap<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcatMap")
            .field("upstream", &self.upstream)
            .field("prefetch", &self.prefetch)
            .finish_non_exhaustive()
    }
}
