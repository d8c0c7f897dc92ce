//! `try_map_async`: `map_async` with fallible futures; the first `Err` fails the stage.

use std::fmt;
use std::future::Future;

use spillway_core::{ConfigError, Error, Publisher, Subscriber};

use crate::backpressure::budget_permits::Permits;
use crate::engine::async_map::{self, Limits, Order};

const STAGE: &str = "try_map_async";

/// Publisher for the [`try_map_async`](crate::OperatorExt::try_map_async) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct TryMapAsync<P: Publisher, F> {
    upstream: P,
    f: F,
    permits: Option<Permits<P::Item>>,
    limits: Limits,
}

impl<P: Publisher, F> TryMapAsync<P, F> {
    pub(crate) fn new(upstream: P, concurrency: usize, f: F) -> Result<Self, ConfigError> {
        Ok(TryMapAsync {
            upstream,
            f,
            permits: None,
            limits: Limits::new(STAGE, concurrency)?,
        })
    }

    crate::async_builders! {
        item: P::Item,
        /// Sets how many finished results may wait for downstream demand (default: the
        /// concurrency), as [`MapAsync::max_queued`](crate::MapAsync::max_queued).
        max_queued,
        /// On an upstream error, drops the futures in flight and sends the error at once.
        /// By default they finish first and their results go out ahead of the error, as
        /// [`MapAsync::abort_on_error`](crate::MapAsync::abort_on_error) shows.
        abort_on_error,
        /// Takes the stage's permits from a shared [`Budget`](crate::Budget): each future holds one unit from
        /// its creation until its result has been delivered downstream, as
        /// [`MapAsync::permits_from`](crate::MapAsync::permits_from) describes. The first
        /// `Err` fails the stage and every unit goes back.
        ///
        /// ```
        /// use spillway::operators::Budget;
        /// use spillway::prelude::*;
        /// # futures::executor::block_on(async {
        /// let budget = Budget::new(2)?;
        /// let out = from_try_stream(futures::stream::iter((1..5).map(Ok::<u64, String>)))
        ///     .try_map_async(3, |x| async move {
        ///         if x == 3 { Err("bad".to_string()) } else { Ok(x) }
        ///     })?
        ///     .permits_from(&budget)
        ///     .collect()
        ///     .await;
        /// assert_eq!(out, Err(spillway::Error::User("bad".to_string())));
        /// assert_eq!(budget.stats().in_use, 0);
        /// # Ok::<(), spillway::ConfigError>(())
        /// # }).unwrap();
        /// ```
        permits_from,
        /// Takes `weigh(&item)` units per future from a shared [`Budget`](crate::Budget), as
        /// [`MapAsync::permits_from_weighted`](crate::MapAsync::permits_from_weighted)
        /// describes.
        ///
        /// ```
        /// use spillway::operators::Budget;
        /// use spillway::prelude::*;
        /// # futures::executor::block_on(async {
        /// let budget = Budget::new(5)?;
        /// let out = from_try_stream(futures::stream::iter((1..5).map(Ok::<u64, String>)))
        ///     .try_map_async(2, |x| async move { Ok(x * 10) })?
        ///     .permits_from_weighted(&budget, |x: &u64| *x)
        ///     .collect()
        ///     .await;
        /// assert_eq!(out, Ok(vec![10, 20, 30, 40]));
        /// assert!(budget.stats().peak_in_use <= 5);
        /// # Ok::<(), spillway::ConfigError>(())
        /// # }).unwrap();
        /// ```
        permits_from_weighted,
    }
}

crate::stage_name!(Named, STAGE);

impl<P, F, Fut, R> Publisher for TryMapAsync<P, F>
where
    P: Publisher,
    F: FnMut(P::Item) -> Fut + Send + 'static,
    Fut: Future<Output = Result<R, P::Error>> + Send + 'static,
    R: Send + 'static,
{
    type Item = R;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = R, Error = P::Error>,
    {
        async_map::subscribe::<_, _, _, _, Named, _>(
            self.upstream,
            self.f,
            self.limits,
            self.permits,
            Order::Input,
            |out: Result<R, P::Error>| out.map_err(Error::User),
            subscriber,
        );
    }
}

impl<P: Publisher + fmt::Debug, F> fmt::Debug for TryMapAsync<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryMapAsync")
            .field("upstream", &self.upstream)
            .field("permits", &self.permits)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}
