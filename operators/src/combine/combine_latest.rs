//! `combine_latest`: combines the latest items of two publishers each time either emits.

use std::fmt;

use spillway_core::{ConfigError, Publisher, Subscriber};

use crate::combine::zip::subscribe_pair;
use crate::engine::fan_in::{self, Either, Fan, LanePolicy, Lanes, State};

const STAGE: &str = "combine_latest";

/// Publisher for the [`combine_latest`](crate::OperatorExt::combine_latest) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct CombineLatest<P, Q, F> {
    left: P,
    right: Q,
    f: F,
    prefetch: usize,
}

impl<P, Q, F> CombineLatest<P, Q, F> {
    pub(crate) fn new(left: P, right: Q, f: F) -> Self {
        CombineLatest {
            left,
            right,
            f,
            prefetch: fan_in::DEFAULT_PREFETCH,
        }
    }

    /// Sets how many items are requested from each side ahead of downstream demand
    /// (default 32); a side is replenished once 75% of it was consumed.
    ///
    /// # Errors
    /// [`ConfigError`] if `prefetch` is 0.
    pub fn prefetch(mut self, prefetch: usize) -> Result<Self, ConfigError> {
        self.prefetch = fan_in::at_least_one(STAGE, "the prefetch must be at least 1", prefetch)?;
        Ok(self)
    }
}

crate::stage_name!(Named, STAGE);

/// Takes updates in arrival order; emits once both sides have a latest item.
struct Latest<A, B, F> {
    left: Option<A>,
    right: Option<B>,
    f: F,
}

impl<A, B, E, F, R> LanePolicy<Either<A, B>, E> for Latest<A, B, F>
where
    A: Send + 'static,
    B: Send + 'static,
    F: FnMut(&A, &B) -> R + Send + 'static,
    R: Send + 'static,
{
    type Out = R;
    type Stage = Named;

    fn next(&mut self, state: &mut State<Either<A, B>, E>) -> Option<R> {
        loop {
            let lane = match (state.head(0), state.head(1)) {
                (Some(l), Some(r)) => u64::from(r < l),
                (Some(_), None) => 0,
                (None, Some(_)) => 1,
                (None, None) => return None,
            };
            match state.pop_lane(lane)? {
                Either::Left(a) => self.left = Some(a),
                Either::Right(b) => self.right = Some(b),
            }
            if let (Some(a), Some(b)) = (&self.left, &self.right) {
                // A panic here is caught by the drain loop: Error::Panicked, every
                // upstream cancelled.
                return Some((self.f)(a, b));
            }
        }
    }

    fn finished(&self, state: &State<Either<A, B>, E>) -> bool {
        let (l, r) = (state.is_ended(0), state.is_ended(1));
        (l && (r || self.left.is_none())) || (r && self.right.is_none())
    }
}

impl<P, Q, F, R> Publisher for CombineLatest<P, Q, F>
where
    P: Publisher,
    Q: Publisher<Error = P::Error>,
    F: FnMut(&P::Item, &Q::Item) -> R + Send + 'static,
    R: Send + 'static,
{
    type Item = R;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = R, Error = P::Error>,
    {
        let fan = Fan::new(self.prefetch, STAGE, subscriber.context(), Lanes::Fixed);
        let policy = Latest {
            left: None,
            right: None,
            f: self.f,
        };
        fan.start(policy, subscriber);
        subscribe_pair(&fan, self.left, self.right);
    }
}

impl<P: fmt::Debug, Q: fmt::Debug, F> fmt::Debug for CombineLatest<P, Q, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CombineLatest")
            .field("left", &self.left)
            .field("right", &self.right)
            .field("prefetch", &self.prefetch)
            .finish_non_exhaustive()
    }
}
