//! `all(predicate)`: one `bool`, whether every item matches; decided at the first miss.

use std::fmt;

use spillway_core::{Publisher, Subscriber};

use crate::engine::step;
use crate::transform::any::Verdict;

/// Publisher for the [`all`](crate::OperatorExt::all) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct All<P, F> {
    upstream: P,
    predicate: F,
}

impl<P, F> All<P, F> {
    pub(crate) fn new(upstream: P, predicate: F) -> Self {
        All {
            upstream,
            predicate,
        }
    }
}

impl<P, F> Publisher for All<P, F>
where
    P: Publisher,
    F: FnMut(&P::Item) -> bool + Send + 'static,
{
    type Item = bool;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = bool, Error = P::Error>,
    {
        step::subscribe(
            self.upstream,
            subscriber,
            Verdict::<F, true>(self.predicate),
        );
    }
}

impl<P: fmt::Debug, F> fmt::Debug for All<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("All")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}
