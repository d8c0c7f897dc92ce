//! `element_at(index)`: only the item at `index`, then complete and cancel upstream;
//! `element_at_or(index, default)`: the same, with `default` if upstream ends too early.

use spillway_core::{Publisher, Subscriber};

use crate::engine::step::{self, Logic, RequestPolicy, Step};

/// Publisher for the [`element_at`](crate::OperatorExt::element_at) method.
#[derive(Clone, Debug)]
#[must_use = "publishers do nothing until subscribed"]
pub struct ElementAt<P> {
    upstream: P,
    index: u64,
}

/// Publisher for the [`element_at_or`](crate::OperatorExt::element_at_or) method:
/// [`ElementAt`] followed by [`DefaultIfEmpty`](crate::DefaultIfEmpty), which emits
/// the default when upstream completed before `index`.
pub type ElementAtOr<P> = crate::DefaultIfEmpty<ElementAt<P>>;

impl<P> ElementAt<P> {
    pub(crate) fn new(upstream: P, index: u64) -> Self {
        ElementAt { upstream, index }
    }
}

impl<P: Publisher> Publisher for ElementAt<P> {
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        step::subscribe(
            self.upstream,
            subscriber,
            ElementAtLogic {
                index: self.index,
                left: self.index,
            },
        );
    }
}

struct ElementAtLogic {
    index: u64,
    /// Items still to skip before the one emitted.
    left: u64,
}

impl<T: Send + 'static, E> Logic<T, E> for ElementAtLogic {
    type Out = T;
    const STAGE: &'static str = "element_at";

    fn policy(&self) -> RequestPolicy {
        // The skipped items and the one emitted, requested once: a skipped item uses a
        // unit of this request, so it needs no replacement.
        RequestPolicy::Once(self.index.saturating_add(1))
    }

    fn next(&mut self, item: T) -> Step<T> {
        if self.left == 0 {
            return Step::Last(item);
        }
        self.left -= 1;
        Step::Skip
    }
}
