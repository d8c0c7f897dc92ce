//! `map_async`: run an async function per item, `concurrency` at a time, results in input
//! order (on the async engine, `engine::async_map`).

use std::fmt;
use std::future::Future;

use spillway_core::{ConfigError, Publisher, Subscriber};

use crate::backpressure::budget_permits::Permits;
use crate::engine::async_map::{self, Limits, Order};

const STAGE: &str = "map_async";

/// Publisher for the [`map_async`](crate::OperatorExt::map_async) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct MapAsync<P: Publisher, F> {
    upstream: P,
    f: F,
    limits: Limits,
    permits: Option<Permits<P::Item>>,
}

impl<P: Publisher, F> MapAsync<P, F> {
    pub(crate) fn new(upstream: P, concurrency: usize, f: F) -> Result<Self, ConfigError> {
        Ok(MapAsync {
            upstream,
            f,
            limits: Limits::new(STAGE, concurrency)?,
            permits: None,
        })
    }

    crate::async_builders! {
        item: P::Item,
        /// Sets how many finished results may wait for downstream demand (default: the
        /// concurrency). In ordered mode this includes results that finished ahead of an
        /// earlier, slower one. `0` is allowed: finished results then occupy a concurrency
        /// slot until they are emitted.
        max_queued,
        /// On an upstream error, drops the futures in flight and sends the error at once.
        /// By default they finish first and their results go out ahead of the error (so a
        /// future that never finishes holds the error back: abort, or bound it with a timeout).
        ///
        /// ```
        /// use futures::StreamExt;
        /// use spillway::prelude::*;
        /// # futures::executor::block_on(async {
        /// let never_done = |x: u32| async move {
        ///     futures::future::pending::<()>().await;
        ///     x
        /// };
        /// let source = from_try_stream(futures::stream::iter(vec![Ok(1), Err("bad")]));
        /// let results: Vec<_> = source
        ///     .map_async(2, never_done)
        ///     .unwrap()
        ///     .abort_on_error()
        ///     .into_stream(4)
        ///     .collect()
        ///     .await;
        /// // Item 1's future was in flight when the error came: dropped, the error at once.
        /// assert_eq!(results.len(), 1);
        /// assert!(results[0].is_err());
        /// # });
        /// ```
        abort_on_error,
        /// Takes the stage's permits from a shared [`Budget`](crate::Budget): each future holds one unit
        /// from the moment it is created (`f` is called) until its result has been delivered
        /// downstream (downstream's `on_next` for it returned), so the futures started and not
        /// yet delivered, across **every** stage and pipeline sharing the budget, never exceed
        /// its capacity. Each stage still runs at most `concurrency` futures.
        ///
        /// An item received while no unit is free waits, unmapped, in the stage (it counts
        /// towards `concurrency`, so the stage requests at most `concurrency` items ahead);
        /// `f` is called on the stage's drain loop once its unit is granted. Stages waiting for
        /// units are served in FIFO order across pipelines, and items within a stage in arrival
        /// order. A grant only schedules the stage's next pass (as a future's wake-up does); it
        /// never runs the stage on the thread that returned the units.
        ///
        /// Every unit comes back when the stage completes, fails or is cancelled.
        /// [`Budget::emergency_stop`](crate::Budget::emergency_stop) fails the stage at once with `Error::Rejected { stage:
        /// "budget", reason: "emergency stop" }` (upstream cancelled, running futures dropped);
        /// a stage subscribing while the budget is stopped fails the same way.
        ///
        /// Take a budget's units in one stage per pipeline: two stages of one pipeline that
        /// share a budget (or a `within_budget` on it below this stage) can wait on each other.
        /// For weights (bytes, cost) instead of one unit per future, see
        /// [`permits_from_weighted`](Self::permits_from_weighted).
        ///
        /// # Examples
        /// Two pipelines of 4 concurrent fetches each, at most 3 fetches at once in all:
        /// ```
        /// use std::sync::atomic::{AtomicU64, Ordering};
        /// use std::sync::Arc;
        /// use spillway::operators::Budget;
        /// use spillway::prelude::*;
        /// # futures::executor::block_on(async {
        /// let budget = Budget::new(3)?;
        /// let (now, peak) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        /// let pipeline = |n: u64| {
        ///     let (now, peak, done) = (now.clone(), peak.clone(), now.clone());
        ///     range(0, n)
        ///         .map_async(4, move |x| {
        ///             peak.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
        ///             async move { x }
        ///         })
        ///         .unwrap()
        ///         .permits_from(&budget)
        ///         .map(move |x| {
        ///             done.fetch_sub(1, Ordering::SeqCst); // delivered
        ///             x
        ///         })
        ///         .count()
        /// };
        /// let (a, b) = futures::join!(pipeline(20), pipeline(30));
        /// assert_eq!((a.unwrap(), b.unwrap()), (20, 30));
        /// assert!(peak.load(Ordering::SeqCst) <= 3);
        /// let s = budget.stats();
        /// assert_eq!((s.in_use, s.active, s.passed), (0, 0, 50));
        /// # Ok::<(), spillway::ConfigError>(())
        /// # }).unwrap();
        /// ```
        permits_from,
        /// [`permits_from`](Self::permits_from) with weights: each future holds
        /// `weigh(&item)` units (bytes, cost) from its creation until its result has been
        /// delivered, so the total weight of the work in progress across every stage sharing
        /// the budget never exceeds its capacity.
        ///
        /// Fairness is strict FIFO, as tokio's `Semaphore::acquire_many`: the stage at the
        /// head of the budget's queue gets every unit returned until it has all its item
        /// needs, and later waiters, however light, wait behind it, so a heavy item is never
        /// starved by light ones. Units it was granted while waiting count as in use.
        ///
        /// A weight of 0 counts as 1: every future holds at least one unit, so the budget
        /// also bounds how many futures run. `weigh` runs on the stage's drain loop, when the
        /// item is taken in, before any unit is asked for.
        ///
        /// # Errors
        /// An item heavier than the whole budget could never start: the stage cancels
        /// upstream and fails at once with `Error::Rejected { stage, reason: "item weight
        /// above the budget's capacity" }` (`stage` is this stage's name). A panic in `weigh`
        /// fails it with [`Error::Panicked`](spillway_core::Error::Panicked), likewise.
        ///
        /// # Examples
        /// At most 10 bytes being uploaded at once:
        /// ```
        /// use spillway::operators::Budget;
        /// use spillway::prelude::*;
        /// # futures::executor::block_on(async {
        /// let budget = Budget::new(10)?;
        /// let sizes = from_iter(vec![4u64, 7, 2, 10, 1])
        ///     .map_async(3, |len| async move { len })?
        ///     .permits_from_weighted(&budget, |len: &u64| *len)
        ///     .collect()
        ///     .await
        ///     .unwrap();
        /// assert_eq!(sizes, vec![4, 7, 2, 10, 1]);
        /// assert!(budget.stats().peak_in_use <= 10);
        ///
        /// // 11 bytes can never fit: a typed error, not a hang.
        /// let too_big = just(11u64)
        ///     .map_async(1, |len| async move { len })?
        ///     .permits_from_weighted(&budget, |len: &u64| *len)
        ///     .collect()
        ///     .await;
        /// assert!(matches!(too_big, Err(spillway::Error::Rejected { stage: "map_async", .. })));
        /// assert_eq!(budget.stats().in_use, 0);
        /// # Ok::<(), spillway::ConfigError>(())
        /// # }).unwrap();
        /// ```
        permits_from_weighted,
    }
}

crate::stage_name!(Named, STAGE);

impl<P, F, Fut> Publisher for MapAsync<P, F>
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

impl<P: Publisher + fmt::Debug, F> fmt::Debug for MapAsync<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapAsync")
            .field("upstream", &self.upstream)
            .field("limits", &self.limits)
            .field("permits", &self.permits)
            .finish_non_exhaustive()
    }
}
