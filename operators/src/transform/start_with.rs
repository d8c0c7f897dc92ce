//! `start_with`: emit some items before the upstream's.

use std::fmt;

use spillway_core::{Publisher, Subscriber};

use crate::engine::sequence::{self, Arbiter, Items, Next};

/// Publisher for the [`start_with`](crate::OperatorExt::start_with) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct StartWith<P, I> {
    upstream: P,
    items: I,
}

impl<P, I> StartWith<P, I> {
    pub(crate) fn new(upstream: P, items: I) -> Self {
        StartWith { upstream, items }
    }
}

impl<P, I> Publisher for StartWith<P, I>
where
    P: Publisher + Send + 'static,
    I: Iterator<Item = P::Item> + Send + 'static,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        sequence::subscribe(Items::new(self.items), subscriber, Then(self.upstream));
    }
}

/// After the items: the upstream, subscribed only now.
struct Then<P>(P);

impl<P: Publisher + Send + 'static> Next<P::Item, P::Error> for Then<P> {
    fn follow<S>(self, _seen: bool, downstream: S, arbiter: std::sync::Arc<Arbiter>) -> Option<S>
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        sequence::then(self.0, downstream, arbiter);
        None
    }
}

impl<P: fmt::Debug, I> fmt::Debug for StartWith<P, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StartWith")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}
