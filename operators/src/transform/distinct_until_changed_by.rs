//! `distinct_until_changed_by`: drop an item that a user comparator finds equal to the
//! last item emitted.

use std::fmt;

use spillway_core::{Publisher, Subscriber};

use crate::engine::step::{self, Logic, Step};

/// Publisher for the
/// [`distinct_until_changed_by`](crate::OperatorExt::distinct_until_changed_by) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct DistinctUntilChangedBy<P, F> {
    upstream: P,
    equal: F,
}

impl<P, F> DistinctUntilChangedBy<P, F> {
    pub(crate) fn new(upstream: P, equal: F) -> Self {
        DistinctUntilChangedBy { upstream, equal }
    }
}

impl<P, F> Publisher for DistinctUntilChangedBy<P, F>
where
    P: Publisher,
    P::Item: Clone,
    F: FnMut(&P::Item, &P::Item) -> bool + Send + 'static,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        let logic = DistinctByLogic {
            equal: self.equal,
            last: None,
        };
        step::subscribe(self.upstream, subscriber, logic);
    }
}

struct DistinctByLogic<F, T> {
    equal: F,
    /// The last item emitted (not the last seen: with a comparator that is not
    /// transitive, a run of small changes still emits once the drift is large enough).
    last: Option<T>,
}

impl<T, E, F> Logic<T, E> for DistinctByLogic<F, T>
where
    T: Clone + Send + 'static,
    F: FnMut(&T, &T) -> bool + Send + 'static,
{
    type Out = T;
    const STAGE: &'static str = "distinct_until_changed";

    fn next(&mut self, item: T) -> Step<T> {
        if let Some(last) = &self.last {
            if (self.equal)(last, &item) {
                return Step::Skip;
            }
        }
        self.last = Some(item.clone());
        Step::Emit(item)
    }
}

impl<P: fmt::Debug, F> fmt::Debug for DistinctUntilChangedBy<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DistinctUntilChangedBy")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}
