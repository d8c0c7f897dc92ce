//! `default_if_empty`: emit one item if the upstream completes without any.

use std::fmt;
use std::sync::Arc;

use spillway_core::{Publisher, Subscriber};

use crate::engine::sequence::{self, Arbiter, Items, Next};

/// Publisher for the [`default_if_empty`](crate::OperatorExt::default_if_empty) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct DefaultIfEmpty<P: Publisher> {
    upstream: P,
    item: P::Item,
}

impl<P: Publisher> DefaultIfEmpty<P> {
    pub(crate) fn new(upstream: P, item: P::Item) -> Self {
        DefaultIfEmpty { upstream, item }
    }
}

impl<P: Publisher> Publisher for DefaultIfEmpty<P> {
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        sequence::subscribe(self.upstream, subscriber, OrElse(self.item));
    }
}

/// After an empty upstream: the default item, as soon as downstream has demand.
struct OrElse<T>(T);

impl<T: Send + 'static, E: Send + 'static> Next<T, E> for OrElse<T> {
    fn follow<S>(self, seen: bool, downstream: S, arbiter: Arc<Arbiter>) -> Option<S>
    where
        S: Subscriber<Item = T, Error = E>,
    {
        if seen {
            return Some(downstream);
        }
        sequence::then(
            Items::<_, E>::new(std::iter::once(self.0)),
            downstream,
            arbiter,
        );
        None
    }
}

impl<P: Publisher + fmt::Debug> fmt::Debug for DefaultIfEmpty<P>
where
    P::Item: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DefaultIfEmpty")
            .field("upstream", &self.upstream)
            .field("item", &self.item)
            .finish()
    }
}
