//! `map_async_unordered`: run an async function per item, `concurrency` at a time,
//! results emitted as they finish.

use std::fmt;
use std::future::Future;

use spillway_core::{ConfigError, Publisher, Subscriber};

use crate::backpressure::budget_permits::Permits;
use crate::engine::async_map::{self, Limits, Order};

const STAGE: &str = "map_async_unordered";

/// Publisher for the [`map_async_unordered`](crate::OperatorExt::map_async_unordered)
/// method.
#[must_use = "publishers do nothing until subscribed"]
pub struct MapAsyncUnordered<P: Publisher, F> {
    upstream: P,
    f: F,
    permits: Option<Permits<P::Item>>,
    limits: Limits,
}

impl<P: Publisher, F> MapAsyncUnordered<P, F> {
    pub(crate) fn new(upstream: P, concurrency: usize, f: F) -> Result<Self, ConfigError> {
        Ok(MapAsyncUnordered {
            upstream,
            f,
            permits: None,
            limits: Limits::new(STAGE, concurrency)?,
        })
    }

    crate::async_builders! {
        item: P::Item,
        /// Sets how many finished results may wait for downstream demand (default: the
        /// concurrency). `0` is allowed: finished results then occupy a concurrency slot until
        /// they are emitted.
        max_queued,
        /// On an upstream error, drops the futures in flight and sends the error at once.
        /// By default they finish first and their results go out ahead of the error, as
        /// [`MapAsync::abort_on_error`](crate::MapAsync::abort_on_error) shows.
        abort_on_error,
        /// Takes the stage's permits from a shared [`Budget`](crate::Budget): each future holds one unit from
        /// its creation until its result has been delivered downstream, as
        /// [`MapAsync::permits_from`](crate::MapAsync::permits_from) describes. With
        /// `.for_each(..)` (or `.count()`) after it, this is a budgeted `for_each_async`: each
        /// future holds its unit until it completes.
        ///
        /// ```
        /// use std::sync::atomic::{AtomicU64, Ordering};
        /// use std::sync::Arc;
        /// use spillway::operators::Budget;
        /// use spillway::prelude::*;
        /// # futures::executor::block_on(async {
        /// let budget = Budget::new(2)?;
        /// let total = Arc::new(AtomicU64::new(0));
        /// let t = total.clone();
        /// // `for_each_async(4, f)`, with at most 2 futures at once across the budget.
        /// range(0, 10)
        ///     .map_async_unordered(4, move |x| {
        ///         let t = t.clone();
        ///         async move {
        ///             t.fetch_add(x, Ordering::SeqCst);
        ///         }
        ///     })?
        ///     .permits_from(&budget)
        ///     .for_each(drop)
        ///     .await
        ///     .unwrap();
        /// assert_eq!(total.load(Ordering::SeqCst), 45);
        /// let s = budget.stats();
        /// assert!(s.peak_in_use <= 2);
        /// assert_eq!((s.in_use, s.passed), (0, 10));
        /// # Ok::<(), spillway::ConfigError>(())
        /// # }).unwrap();
        /// ```
        permits_from,
        /// Takes `weigh(&item)` units per future from a shared [`Budget`](crate::Budget), as
        /// [`MapAsync::permits_from_weighted`](crate::MapAsync::permits_from_weighted)
        /// describes (strict FIFO; a weight of 0 counts as 1; an item heavier than the budget
        /// fails the stage with `Error::Rejected`).
        ///
        /// ```
        /// use spillway::operators::Budget;
        /// use spillway::prelude::*;
        /// # futures::executor::block_on(async {
        /// let budget = Budget::new(8)?;
        /// let mut out = from_iter(vec!["abc", "defgh", "ij"])
        ///     .map_async_unordered(3, |s| async move { s.len() })?
        ///     .permits_from_weighted(&budget, |s: &&str| s.len() as u64)
        ///     .collect()
        ///     .await
        ///     .unwrap();
        /// out.sort();
        /// assert_eq!(out, vec![2, 3, 5]);
        /// assert!(budget.stats().peak_in_use <= 8);
        /// # Ok::<(), spillway::ConfigError>(())
        /// # }).unwrap();
        /// ```
        permits_from_weighted,
    }
}

crate::stage_name!(Named, STAGE);

impl<P, F, Fut> Publisher for MapAsyncUnordered<P, F>
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
            Order::Completion,
            Ok,
            subscriber,
        );
    }
}

impl<P: Publisher + fmt::Debug, F> fmt::Debug for MapAsyncUnordered<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapAsyncUnordered")
            .field("upstream", &self.upstream)
            .field("permits", &self.permits)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}
