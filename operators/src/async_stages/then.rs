//! `then`: run an async function per item, one at a time.

use std::fmt;
use std::future::Future;

use spillway_core::{Publisher, Subscriber};

use crate::backpressure::budget_permits::Permits;
use crate::engine::async_map::{self, Limits, Order};

const STAGE: &str = "then";

/// Publisher for the [`then`](crate::OperatorExt::then) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct Then<P: Publisher, F> {
    upstream: P,
    f: F,
    permits: Option<Permits<P::Item>>,
    limits: Limits,
}

impl<P: Publisher, F> Then<P, F> {
    pub(crate) fn new(upstream: P, f: F) -> Self {
        Then {
            upstream,
            f,
            permits: None,
            limits: Limits::new(STAGE, 1).expect("1 is a valid concurrency"),
        }
    }

    crate::async_builders! {
        item: P::Item,
        /// On an upstream error, drops the future in flight and sends the error at once. By
        /// default it finishes first and its result goes out ahead of the error, as
        /// [`MapAsync::abort_on_error`](crate::MapAsync::abort_on_error) shows.
        abort_on_error,
        /// Takes the stage's permits from a shared [`Budget`](crate::Budget): its one future at a time holds
        /// one unit from its creation until its result has been delivered downstream, as
        /// [`MapAsync::permits_from`](crate::MapAsync::permits_from) describes.
        ///
        /// ```
        /// use spillway::operators::Budget;
        /// use spillway::prelude::*;
        /// # futures::executor::block_on(async {
        /// let budget = Budget::new(1)?;
        /// let a = range(0, 5).then(|x| async move { x }).permits_from(&budget).count();
        /// let b = range(0, 5).then(|x| async move { x }).permits_from(&budget).count();
        /// let (a, b) = futures::join!(a, b);
        /// assert_eq!((a.unwrap(), b.unwrap()), (5, 5));
        /// assert_eq!(budget.stats().peak_in_use, 1); // one future at a time, in all
        /// # Ok::<(), spillway::ConfigError>(())
        /// # }).unwrap();
        /// ```
        permits_from,
        /// Takes `weigh(&item)` units for each future from a shared [`Budget`](crate::Budget), as
        /// [`MapAsync::permits_from_weighted`](crate::MapAsync::permits_from_weighted)
        /// describes.
        ///
        /// ```
        /// use spillway::operators::Budget;
        /// use spillway::prelude::*;
        /// # futures::executor::block_on(async {
        /// let budget = Budget::new(3)?;
        /// let out = from_iter(vec![1u64, 3, 2])
        ///     .then(|x| async move { x })
        ///     .permits_from_weighted(&budget, |x: &u64| *x)
        ///     .collect()
        ///     .await
        ///     .unwrap();
        /// assert_eq!(out, vec![1, 3, 2]);
        /// assert_eq!(budget.stats().peak_in_use, 3);
        /// # Ok::<(), spillway::ConfigError>(())
        /// # }).unwrap();
        /// ```
        permits_from_weighted,
    }
}

crate::stage_name!(Named, STAGE);

impl<P, F, Fut> Publisher for Then<P, F>
where
    P: Publisher,
    F: FnMut(P::Item) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    type Item = Fut::Output;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = Fut::Output, Error = P::Error>,
    {
        async_map::subscribe::<_, _, _, _, Named, _>(
            self.upstream,
            self.f,
            self.limits,
            self.permits,
            Order::Input,
            Ok,
            subscriber,
        );
    }
}

impl<P: Publisher + fmt::Debug, F> fmt::Debug for Then<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Then")
            .field("upstream", &self.upstream)
            .field("permits", &self.permits)
            .finish_non_exhaustive()
    }
}
