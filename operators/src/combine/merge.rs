//! `merge`: the items of several publishers, interleaved fairly as they arrive.

use std::fmt;
use std::marker::PhantomData;

use spillway_core::{ConfigError, Publisher, Subscriber};

use crate::engine::fan_in::{self, Fan, Input, Lanes, RoundRobin};

const STAGE: &str = "merge";

/// Publisher for the [`merge`](crate::merge()) function and the
/// [`merge_with`](crate::OperatorExt::merge_with) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct Merge<T, E> {
    sources: Vec<Input<T, E>>,
    prefetch: usize,
}

/// A source as an input: at subscribe time it either opens a lane and subscribes to it,
/// or, if it is a scalar, hands its signal over directly (see
/// [`Publisher::into_scalar`]).
fn source<P>(publisher: P) -> Input<P::Item, P::Error>
where
    P: Publisher + Send + 'static,
{
    Box::new(move |fan| match publisher.into_scalar() {
        Ok(scalar) => fan.take_scalar(scalar),
        Err(publisher) => {
            if let Some(lane) = fan.open_lane() {
                publisher.subscribe(lane);
            }
        }
    })
}

/// Merges the items of every publisher in `sources` into one stream: all of them are
/// subscribed at once, and whenever downstream has demand the next item is taken round
/// robin from the sources that have one queued, so a fast source cannot starve a slow one.
///
/// Demand: requests `prefetch` (default 32) from each source up front and replenishes a
/// source in one batch once 75% of its prefetch has been delivered downstream; each source
/// has at most `prefetch` items requested or queued, so at zero downstream demand the
/// sources are paused, never overflowed, and downstream never receives more than it
/// requested. An error from any source is delivered at once (queued items are discarded)
/// and cancels every other source; the merge completes when every source has completed
/// and its queue is drained. Cancelling cancels every source. A source that sends more
/// than requested fails the merge with
/// [`Error::ProtocolViolation`](spillway_core::Error::ProtocolViolation). A scalar source
/// (`just`, `empty`, `error`: see
/// [`Publisher::into_scalar`](spillway_core::Publisher::into_scalar)) is not subscribed:
/// its item is queued as that of a source that completed at once.
///
/// `merge` is n-ary and takes publishers of one type; for two publishers of different
/// types use [`merge_with`](crate::OperatorExt::merge_with).
///
/// ```text
/// a:      -1---3---5-|
/// b:      ---2---4-----6-|
/// merge:  -1-2-3-4-5---6-|
/// ```
///
/// # Examples
/// ```
/// use spillway::prelude::*;
/// use spillway::operators::merge;
/// # futures::executor::block_on(async {
/// let mut all = merge(vec![range(0, 3), range(10, 13)]).collect().await.unwrap();
/// all.sort();
/// assert_eq!(all, vec![0, 1, 2, 10, 11, 12]);
/// # });
/// ```
#[doc(alias = "merge_all")]
pub fn merge<P, I>(sources: I) -> Merge<P::Item, P::Error>
where
    I: IntoIterator<Item = P>,
    P: Publisher + Send + 'static,
{
    Merge::new(sources.into_iter().map(source).collect())
}

impl<T: Send + 'static, E: Send + 'static> Merge<T, E> {
    fn new(sources: Vec<Input<T, E>>) -> Self {
        Merge {
            sources,
            prefetch: fan_in::DEFAULT_PREFETCH,
        }
    }

    /// Adds one more source (of any publisher type with these items and errors).
    pub fn with<P>(mut self, other: P) -> Self
    where
        P: Publisher<Item = T, Error = E> + Send + 'static,
    {
        self.sources.push(source(other));
        self
    }

    /// Sets how many items are requested from each source ahead of downstream demand
    /// (default 32); a source is replenished once 75% of it was delivered.
    ///
    /// # Errors
    /// [`ConfigError`] if `prefetch` is 0.
    pub fn prefetch(mut self, prefetch: usize) -> Result<Self, ConfigError> {
        self.prefetch = fan_in::at_least_one(STAGE, "the prefetch must be at least 1", prefetch)?;
        Ok(self)
    }
}

crate::stage_name!(Named, STAGE);

impl<T: Send + 'static, E: Send + 'static> Publisher for Merge<T, E> {
    type Item = T;
    type Error = E;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = T, Error = E>,
    {
        let fan = Fan::new(self.prefetch, STAGE, subscriber.context(), Lanes::Fixed);
        fan.start(RoundRobin::<Named>(PhantomData), subscriber);
        fan_in::subscribe_inputs(&fan, self.sources);
    }
}

impl<T, E> fmt::Debug for Merge<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Merge")
            .field("sources", &self.sources.len())
            .field("prefetch", &self.prefetch)
            .finish()
    }
}
