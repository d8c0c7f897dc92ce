//! `skip_while`: drop items while a predicate holds, then pass everything.

use std::fmt;

use spillway_core::{Publisher, Subscriber};

use crate::engine::step::{self, Logic, Step};

/// Publisher for the [`skip_while`](crate::OperatorExt::skip_while) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct SkipWhile<P, F> {
    upstream: P,
    predicate: F,
}

impl<P, F> SkipWhile<P, F> {
    pub(crate) fn new(upstream: P, predicate: F) -> Self {
        SkipWhile {
            upstream,
            predicate,
        }
    }
}

impl<P, F> Publisher for SkipWhile<P, F>
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
        let logic = SkipWhileLogic {
            predicate: self.predicate,
            skipping: true,
        };
        step::subscribe(self.upstream, subscriber, logic);
    }
}

struct SkipWhileLogic<F> {
    predicate: F,
    skipping: bool,
}

impl<T, E, F> Logic<T, E> for SkipWhileLogic<F>
where
    T: Send + 'static,
    F: FnMut(&T) -> bool + Send + 'static,
{
    type Out = T;
    const STAGE: &'static str = "skip_while";

    fn next(&mut self, item: T) -> Step<T> {
        if self.skipping && (self.predicate)(&item) {
            return Step::Skip;
        }
        self.skipping = false;
        Step::Emit(item)
    }
}

impl<P: fmt::Debug, F> fmt::Debug for SkipWhile<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkipWhile")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}
