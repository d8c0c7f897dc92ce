//! `distinct_until_changed` and `distinct_until_changed_by_key`: drop an item equal
//! (or of equal key) to the one just before it.

use std::fmt;

use spillway_core::{Publisher, Subscriber};

use crate::engine::step::{self, Logic, Step};

/// Publisher for the [`distinct_until_changed`](crate::OperatorExt::distinct_until_changed)
/// method: [`DistinctUntilChangedByKey`] with the item itself (cloned) as key.
pub type DistinctUntilChanged<P> =
    DistinctUntilChangedByKey<P, fn(&<P as Publisher>::Item) -> <P as Publisher>::Item>;

/// Publisher for the
/// [`distinct_until_changed_by_key`](crate::OperatorExt::distinct_until_changed_by_key)
/// method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct DistinctUntilChangedByKey<P, F> {
    upstream: P,
    key: F,
}

impl<P, F> DistinctUntilChangedByKey<P, F> {
    pub(crate) fn new(upstream: P, key: F) -> Self {
        DistinctUntilChangedByKey { upstream, key }
    }
}

impl<P, F, K> Publisher for DistinctUntilChangedByKey<P, F>
where
    P: Publisher,
    F: FnMut(&P::Item) -> K + Send + 'static,
    K: PartialEq + Send + 'static,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        let logic = DistinctLogic {
            key: self.key,
            last: None,
        };
        step::subscribe(self.upstream, subscriber, logic);
    }
}

struct DistinctLogic<F, K> {
    key: F,
    last: Option<K>,
}

impl<T, E, F, K> Logic<T, E> for DistinctLogic<F, K>
where
    T: Send + 'static,
    F: FnMut(&T) -> K + Send + 'static,
    K: PartialEq + Send + 'static,
{
    type Out = T;
    const STAGE: &'static str = "distinct_until_changed";

    fn next(&mut self, item: T) -> Step<T> {
        let key = (self.key)(&item);
        if self.last.as_ref() == Some(&key) {
            return Step::Skip;
        }
        self.last = Some(key);
        Step::Emit(item)
    }
}

impl<P: fmt::Debug, F> fmt::Debug for DistinctUntilChangedByKey<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DistinctUntilChangedByKey")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}
