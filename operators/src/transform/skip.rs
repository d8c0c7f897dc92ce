//! `skip(n)`: drop the first `n` items.

use spillway_core::{Publisher, Subscriber};

use crate::engine::step::{self, Logic, Step};

/// Publisher for the [`skip`](crate::OperatorExt::skip) method.
#[derive(Clone, Debug)]
#[must_use = "publishers do nothing until subscribed"]
pub struct Skip<P> {
    upstream: P,
    n: u64,
}

impl<P> Skip<P> {
    pub(crate) fn new(upstream: P, n: u64) -> Self {
        Skip { upstream, n }
    }
}

impl<P: Publisher> Publisher for Skip<P> {
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        step::subscribe(self.upstream, subscriber, SkipLogic(self.n));
    }
}

/// How many items are still to be skipped.
struct SkipLogic(u64);

impl<T: Send + 'static, E> Logic<T, E> for SkipLogic {
    type Out = T;
    const STAGE: &'static str = "skip";

    fn next(&mut self, item: T) -> Step<T> {
        if self.0 == 0 {
            Step::Emit(item)
        } else {
            self.0 -= 1;
            Step::Skip
        }
    }
}
