//! `pairwise`: each item with the one before it, as `(previous, current)`.

use std::fmt;

use spillway_core::{Publisher, Subscriber};

use crate::engine::step::{self, Logic, Step};

/// Publisher for the [`pairwise`](crate::OperatorExt::pairwise) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct Pairwise<P> {
    upstream: P,
}

impl<P> Pairwise<P> {
    pub(crate) fn new(upstream: P) -> Self {
        Pairwise { upstream }
    }
}

impl<P> Publisher for Pairwise<P>
where
    P: Publisher,
    P::Item: Clone,
{
    type Item = (P::Item, P::Item);
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = (P::Item, P::Item), Error = P::Error>,
    {
        step::subscribe(self.upstream, subscriber, PairwiseLogic { previous: None });
    }
}

struct PairwiseLogic<T> {
    previous: Option<T>,
}

impl<T, E> Logic<T, E> for PairwiseLogic<T>
where
    T: Clone + Send + 'static,
{
    type Out = (T, T);
    const STAGE: &'static str = "pairwise";

    fn next(&mut self, item: T) -> Step<(T, T)> {
        // One clone per item: the current item is kept as the next pair's first half.
        match self.previous.replace(item.clone()) {
            Some(previous) => Step::Emit((previous, item)),
            None => Step::Skip, // the first item has no pair: it uses no demand
        }
    }
}

impl<P: fmt::Debug> fmt::Debug for Pairwise<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pairwise")
            .field("upstream", &self.upstream)
            .finish()
    }
}
