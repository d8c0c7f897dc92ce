//! `zip`: pairs the items of two publishers, one from each.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use spillway_core::{ConfigError, Publisher, Subscriber};

use crate::engine::fan_in::{self, Either, Fan, LanePolicy, Lanes, State};
use crate::Map;

const STAGE: &str = "zip";

/// Publisher for the [`zip`](crate::OperatorExt::zip) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct Zip<P, Q> {
    left: P,
    right: Q,
    prefetch: usize,
}

impl<P, Q> Zip<P, Q> {
    pub(crate) fn new(left: P, right: Q) -> Self {
        Zip {
            left,
            right,
            prefetch: fan_in::DEFAULT_PREFETCH,
        }
    }

    /// Sets how many items are requested from each side ahead of downstream demand
    /// (default 32); a side is replenished once 75% of it was paired and delivered.
    ///
    /// # Errors
    /// [`ConfigError`] if `prefetch` is 0.
    pub fn prefetch(mut self, prefetch: usize) -> Result<Self, ConfigError> {
        self.prefetch = fan_in::at_least_one(STAGE, "the prefetch must be at least 1", prefetch)?;
        Ok(self)
    }
}

crate::stage_name!(Named, STAGE);

/// Lane 0 is the left side, lane 1 the right one.
struct Pairs<A, B>(PhantomData<fn() -> (A, B)>);

impl<A: Send + 'static, B: Send + 'static, E> LanePolicy<Either<A, B>, E> for Pairs<A, B> {
    type Out = (A, B);
    type Stage = Named;

    fn next(&mut self, state: &mut State<Either<A, B>, E>) -> Option<(A, B)> {
        state.head(0)?;
        state.head(1)?;
        match (state.pop_lane(0), state.pop_lane(1)) {
            (Some(Either::Left(a)), Some(Either::Right(b))) => Some((a, b)),
            _ => unreachable!("lane 0 holds left items, lane 1 right ones"),
        }
    }

    fn finished(&self, state: &State<Either<A, B>, E>) -> bool {
        state.is_ended(0) || state.is_ended(1)
    }
}

/// The shared core of `zip` and `combine_latest`: lane 0 is the left side, lane 1 the right.
pub(crate) type PairFan<A, B, E> = Arc<Fan<Either<A, B>, E>>;

/// Subscribes the two sides of `zip` or `combine_latest` to lanes 0 and 1.
pub(crate) fn subscribe_pair<P, Q>(fan: &PairFan<P::Item, Q::Item, P::Error>, left: P, right: Q)
where
    P: Publisher,
    Q: Publisher<Error = P::Error>,
{
    if let Some(lane) = fan.open_lane() {
        Map::new(left, Either::<P::Item, Q::Item>::Left).subscribe(lane);
    }
    if let Some(lane) = fan.open_lane() {
        Map::new(right, Either::<P::Item, Q::Item>::Right).subscribe(lane);
    }
    fan.close_outer();
}

impl<P, Q> Publisher for Zip<P, Q>
where
    P: Publisher,
    Q: Publisher<Error = P::Error>,
{
    type Item = (P::Item, Q::Item);
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = (P::Item, Q::Item), Error = P::Error>,
    {
        let fan = Fan::new(self.prefetch, STAGE, subscriber.context(), Lanes::Fixed);
        fan.start(Pairs(PhantomData), subscriber);
        subscribe_pair(&fan, self.left, self.right);
    }
}

impl<P: fmt::Debug, Q: fmt::Debug> fmt::Debug for Zip<P, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Zip")
            .field("left", &self.left)
            .field("right", &self.right)
            .field("prefetch", &self.prefetch)
            .finish()
    }
}
