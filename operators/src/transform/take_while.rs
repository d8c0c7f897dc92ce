//! `take_while`: items while a predicate holds, then complete and cancel upstream.

use std::fmt;

use spillway_core::{Publisher, Subscriber};

use crate::engine::step::{self, Logic, Step};

/// Publisher for the [`take_while`](crate::OperatorExt::take_while) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct TakeWhile<P, F> {
    upstream: P,
    predicate: F,
}

impl<P, F> TakeWhile<P, F> {
    pub(crate) fn new(upstream: P, predicate: F) -> Self {
        TakeWhile {
            upstream,
            predicate,
        }
    }
}

impl<P, F> Publisher for TakeWhile<P, F>
where
    P: Publisher,
    F: FnMut(&P::Item) -> bool + Send + 'static,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        step::subscribe(self.upstream, subscriber, TakeWhileLogic(self.predicate));
    }
}

struct TakeWhileLogic<F>(F);

impl<T, E, F> Logic<T, E> for TakeWhileLogic<F>
where
    T: Send + 'static,
    F: FnMut(&T) -> bool + Send + 'static,
{
    type Out = T;
    const STAGE: &'static str = "take_while";

    fn next(&mut self, item: T) -> Step<T> {
        if (self.0)(&item) {
            Step::Emit(item)
        } else {
            Step::Stop
        }
    }
}

impl<P: fmt::Debug, F> fmt::Debug for TakeWhile<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TakeWhile")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}
