//! `zip_all`: the n-ary zip, one item from every publisher of a list at a time.

use std::fmt;

use spillway_core::{ConfigError, Publisher, Subscriber};

use crate::engine::fan_in::{self, Fan, Input, LanePolicy, Lanes, State};

const STAGE: &str = "zip_all";

/// Publisher for the [`zip_all`] function.
#[must_use = "publishers do nothing until subscribed"]
pub struct ZipAll<T, E> {
    sources: Vec<Input<T, E>>,
    prefetch: usize,
}

/// A source as an input subscribed to the next lane, so that lane `i` is source `i`
/// (never the scalar path: a scalar source would leave its lane number unused and shift
/// the others).
pub(crate) fn lane<P>(publisher: P) -> Input<P::Item, P::Error>
where
    P: Publisher + Send + 'static,
{
    Box::new(move |fan| {
        if let Some(lane) = fan.open_lane() {
            publisher.subscribe(lane);
        }
    })
}

/// Zips every publisher of `sources`: the first item of each as one `Vec` (in the
/// order of `sources`), then the second of each, and so on. The n-ary form of
/// [`zip`](crate::OperatorExt::zip), for three or more inputs without nesting (RxJS
/// `zip([a, b, c])`, Reactor `Flux.zip(Iterable, ...)`); the sources have one type, so
/// box sources of different types first ([`boxed`](spillway_core::PublisherExt::boxed)).
///
/// Demand: requests a prefetch of 32 from every source up front (see
/// [`ZipAll::prefetch`]) and replenishes a source in one batch once 75% of it was
/// zipped and delivered, so at zero downstream demand each source has at most the
/// prefetch queued. Completes as soon as one source has completed and its queue is
/// empty (no more tuple can be made), cancelling **every other source at that same
/// instant** (nested binary zips would cancel the inner pair first and the outer input
/// only when the inner zip's completion reaches it); an error from any source is
/// delivered at once and cancels the others. No sources: completes at once.
///
/// ```text
/// a:        -1---2---3-|
/// b:        ---x---y-|
/// c:        -----p---q---r-|
/// zip_all:  -----A---B|      A=[1,x,p] B=[2,y,q]; b ended and drained: a, c cancelled
/// ```
///
/// # Examples
/// ```
/// use spillway::prelude::*;
/// use spillway::operators::zip_all;
/// # futures::executor::block_on(async {
/// let rows = zip_all(vec![range(0, 3), range(10, 20), range(100, 102)]);
/// assert_eq!(rows.collect().await.unwrap(), vec![vec![0, 10, 100], vec![1, 11, 101]]);
/// # });
/// ```
pub fn zip_all<P, I>(sources: I) -> ZipAll<P::Item, P::Error>
where
    I: IntoIterator<Item = P>,
    P: Publisher + Send + 'static,
{
    ZipAll {
        sources: sources.into_iter().map(lane).collect(),
        prefetch: fan_in::DEFAULT_PREFETCH,
    }
}

impl<T, E> ZipAll<T, E> {
    /// Sets how many items are requested from each source ahead of downstream demand
    /// (default 32); a source is replenished once 75% of it was zipped and delivered.
    ///
    /// ```
    /// use spillway::operators::zip_all;
    /// use spillway::prelude::*;
    /// assert!(zip_all(vec![range(0, 3), range(0, 3)]).prefetch(0).is_err());
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

/// Lane `i` is source `i`; a row is ready when every lane has an item.
struct Rows {
    lanes: u64,
}

impl<T: Send + 'static, E> LanePolicy<T, E> for Rows {
    type Out = Vec<T>;
    type Stage = Named;

    fn next(&mut self, state: &mut State<T, E>) -> Option<Vec<T>> {
        if self.lanes == 0 || (0..self.lanes).any(|i| state.head(i).is_none()) {
            return None;
        }
        (0..self.lanes).map(|i| state.pop_lane(i)).collect()
    }

    fn finished(&self, state: &State<T, E>) -> bool {
        self.lanes == 0 || (0..self.lanes).any(|i| state.is_ended(i))
    }
}

impl<T: Send + 'static, E: Send + 'static> Publisher for ZipAll<T, E> {
    type Item = Vec<T>;
    type Error = E;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = Vec<T>, Error = E>,
    {
        let fan = Fan::new(self.prefetch, STAGE, subscriber.context(), Lanes::Fixed);
        let lanes = self.sources.len() as u64;
        fan.start(Rows { lanes }, subscriber);
        fan_in::subscribe_inputs(&fan, self.sources);
    }
}

impl<T, E> fmt::Debug for ZipAll<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZipAll")
            .field("sources", &self.sources.len())
            .field("prefetch", &self.prefetch)
            .finish()
    }
}
