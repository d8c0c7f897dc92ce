//! `count_items`: one `u64`, the number of items, at completion.

use spillway_core::{Publisher, Subscriber};

use crate::engine::step::{self, Logic, RequestPolicy, Step};

/// Publisher for the [`count_items`](crate::OperatorExt::count_items) method.
#[derive(Clone, Debug)]
#[must_use = "publishers do nothing until subscribed"]
pub struct CountItems<P> {
    upstream: P,
}

impl<P> CountItems<P> {
    pub(crate) fn new(upstream: P) -> Self {
        CountItems { upstream }
    }
}

impl<P: Publisher> Publisher for CountItems<P> {
    type Item = u64;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = u64, Error = P::Error>,
    {
        step::subscribe(self.upstream, subscriber, CountLogic(0));
    }
}

/// Items seen so far (saturating: a count past `u64::MAX` stays there).
struct CountLogic(u64);

impl<T: Send + 'static, E> Logic<T, E> for CountLogic {
    type Out = u64;
    const STAGE: &'static str = "count_items";

    fn policy(&self) -> RequestPolicy {
        RequestPolicy::Aggregate
    }

    fn next(&mut self, _item: T) -> Step<u64> {
        self.0 = self.0.saturating_add(1);
        Step::Skip
    }

    fn complete(&mut self) -> Option<u64> {
        Some(self.0)
    }
}
