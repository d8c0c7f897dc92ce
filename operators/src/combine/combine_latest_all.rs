//! `combine_latest_all`: the n-ary combine_latest, the latest item of every publisher of
//! a list each time one of them emits.

use std::fmt;

use spillway_core::{ConfigError, Publisher, Subscriber};

use crate::combine::zip_all::lane;
use crate::engine::fan_in::{self, Fan, Input, LanePolicy, Lanes, State};

const STAGE: &str = "combine_latest_all";

/// Publisher for the [`combine_latest_all`] function.
#[must_use = "publishers do nothing until subscribed"]
pub struct CombineLatestAll<T, E> {
    sources: Vec<Input<T, E>>,
    prefetch: usize,
}

/// Each time any publisher of `sources` emits (once every one has emitted), emits the
/// latest item of each as one `Vec`, in the order of `sources`. The n-ary form of
/// [`combine_latest`](crate::OperatorExt::combine_latest) (RxJS `combineLatest([a, b,
/// c])`, Reactor `Flux.combineLatest(Iterable, ...)`); the sources have one type, so box
/// sources of different types first ([`boxed`](spillway_core::PublisherExt::boxed)).
/// Items are cloned into each row.
///
/// Demand: requests a prefetch of 32 from every source up front (see
/// [`CombineLatestAll::prefetch`]) and replenishes a source once 75% of it was consumed;
/// the updates are taken in arrival order and only while downstream has demand, so every
/// combination is delivered, none skipped (put a lossy stage after it to keep only the
/// newest). Completes when every source has completed and every update was consumed, or
/// at once when a source completes without ever emitting (no row can ever be made; RxJS
/// and Reactor do the same), cancelling the others; an error from any source is
/// delivered at once and cancels the others. No sources: completes at once.
///
/// ```text
/// a:                   -1-----2-----|
/// b:                   ---x---------|
/// c:                   -----p----q--|
/// combine_latest_all:  -----A-B--C--|   A=[1,x,p] B=[2,x,p] C=[2,x,q]
/// ```
///
/// # Examples
/// ```
/// use spillway::prelude::*;
/// use spillway::operators::combine_latest_all;
/// # futures::executor::block_on(async {
/// // Sources of different types, boxed into one.
/// let rows = combine_latest_all(vec![just(1).boxed(), just(2).boxed(), from_iter([3, 4]).boxed()]);
/// assert_eq!(rows.collect().await.unwrap(), vec![vec![1, 2, 3], vec![1, 2, 4]]);
/// # });
/// ```
pub fn combine_latest_all<P, I>(sources: I) -> CombineLatestAll<P::Item, P::Error>
where
    I: IntoIterator<Item = P>,
    P: Publisher + Send + 'static,
    P::Item: Clone,
{
    CombineLatestAll {
        sources: sources.into_iter().map(lane).collect(),
        prefetch: fan_in::DEFAULT_PREFETCH,
    }
}

impl<T, E> CombineLatestAll<T, E> {
    /// Sets how many items are requested from each source ahead of downstream demand
    /// (default 32); a source is replenished once 75% of it was consumed.
    ///
    /// ```
    /// use spillway::operators::combine_latest_all;
    /// use spillway::prelude::*;
    /// assert!(combine_latest_all(vec![range(0, 3), range(0, 3)]).prefetch(0).is_err());
    /// ```
    ///
    /// # Errors
    /// [`ConfigError`] if `prefetch` is 0.
    pub fn prefetch(mut self, prefetch: usize) -> Result<Self, ConfigError> {
        self.prefetch = fan_in::at_least_one(STAGE, "the prefetch must be at least 1", prefetch)?;
        Ok(self)
    }
}

crate::stage_name!(Named, STAGE);

/// The latest item of each lane; a row once every lane has one.
struct Latest<T> {
    latest: Vec<Option<T>>,
    /// How many lanes have a latest item.
    filled: usize,
}

impl<T: Clone + Send + 'static, E> LanePolicy<T, E> for Latest<T> {
    type Out = Vec<T>;
    type Stage = Named;

    fn next(&mut self, state: &mut State<T, E>) -> Option<Vec<T>> {
        loop {
            // The lane whose head item arrived first: updates go out in arrival order.
            let (lane, _) = (0..self.latest.len() as u64)
                .filter_map(|i| state.head(i).map(|seq| (i, seq)))
                .min_by_key(|&(_, seq)| seq)?;
            let item = state.pop_lane(lane)?;
            let slot = &mut self.latest[lane as usize];
            if slot.is_none() {
                self.filled += 1;
            }
            *slot = Some(item);
            if self.filled == self.latest.len() {
                return Some(self.latest.iter().flatten().cloned().collect());
            }
        }
    }

    fn finished(&self, state: &State<T, E>) -> bool {
        let ended = |i: usize| state.is_ended(i as u64);
        (0..self.latest.len()).all(ended)
            || (0..self.latest.len()).any(|i| ended(i) && self.latest[i].is_none())
    }
}

impl<T: Clone + Send + 'static, E: Send + 'static> Publisher for CombineLatestAll<T, E> {
    type Item = Vec<T>;
    type Error = E;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = Vec<T>, Error = E>,
    {
        let fan = Fan::new(self.prefetch, STAGE, subscriber.context(), Lanes::Fixed);
        let latest = (0..self.sources.len()).map(|_| None).collect();
        fan.start(Latest { latest, filled: 0 }, subscriber);
        fan_in::subscribe_inputs(&fan, self.sources);
    }
}

impl<T, E> fmt::Debug for CombineLatestAll<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CombineLatestAll")
            .field("sources", &self.sources.len())
            .field("prefetch", &self.prefetch)
            .finish()
    }
}
