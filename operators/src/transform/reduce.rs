//! `reduce`: combine all items into one, delivered at completion.

use std::fmt;

use spillway_core::{Publisher, Subscriber};

use crate::engine::step::{self, Logic, RequestPolicy, Step};

/// Publisher for the [`reduce`](crate::OperatorExt::reduce) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct Reduce<P, F> {
    upstream: P,
    f: F,
}

impl<P, F> Reduce<P, F> {
    pub(crate) fn new(upstream: P, f: F) -> Self {
        Reduce { upstream, f }
    }
}

impl<P, F> Publisher for Reduce<P, F>
where
    P: Publisher,
    F: FnMut(P::Item, P::Item) -> P::Item + Send + 'static,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        let logic = ReduceLogic {
            f: self.f,
            acc: None,
        };
        step::subscribe(self.upstream, subscriber, logic);
    }
}

struct ReduceLogic<T, F> {
    f: F,
    acc: Option<T>,
}

impl<T, E, F> Logic<T, E> for ReduceLogic<T, F>
where
    T: Send + 'static,
    F: FnMut(T, T) -> T + Send + 'static,
{
    type Out = T;
    const STAGE: &'static str = "reduce";

    fn policy(&self) -> RequestPolicy {
        RequestPolicy::Aggregate
    }

    fn next(&mut self, item: T) -> Step<T> {
        self.acc = Some(match self.acc.take() {
            Some(acc) => (self.f)(acc, item),
            None => item,
        });
        Step::Skip
    }

    fn complete(&mut self) -> Option<T> {
        self.acc.take()
    }
}

impl<P: fmt::Debug, F> fmt::Debug for Reduce<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reduce")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}
