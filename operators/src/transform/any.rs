//! `any(predicate)`: one `bool`, whether some item matches; decided at the first match.

use std::fmt;

use spillway_core::{Publisher, Subscriber};

use crate::engine::step::{self, Logic, RequestPolicy, Step};

/// Publisher for the [`any`](crate::OperatorExt::any) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct Any<P, F> {
    upstream: P,
    predicate: F,
}

impl<P, F> Any<P, F> {
    pub(crate) fn new(upstream: P, predicate: F) -> Self {
        Any {
            upstream,
            predicate,
        }
    }
}

impl<P, F> Publisher for Any<P, F>
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
        let logic = Verdict::<F, false>(self.predicate);
        step::subscribe(self.upstream, subscriber, logic);
    }
}

impl<P: fmt::Debug, F> fmt::Debug for Any<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Any")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

/// `any` (`ALL = false`) and `all` (`ALL = true`): the first item whose predicate
/// answers `!ALL` settles the verdict (`true` for `any`, `false` for `all`) and cancels
/// upstream; completion without one answers `ALL`.
pub(crate) struct Verdict<F, const ALL: bool>(pub(crate) F);

impl<T, E, F, const ALL: bool> Logic<T, E> for Verdict<F, ALL>
where
    T: Send + 'static,
    F: FnMut(&T) -> bool + Send + 'static,
{
    type Out = bool;
    const STAGE: &'static str = if ALL { "all" } else { "any" };

    fn policy(&self) -> RequestPolicy {
        RequestPolicy::Aggregate
    }

    fn next(&mut self, item: T) -> Step<bool> {
        if (self.0)(&item) == ALL {
            Step::Skip
        } else {
            Step::Last(!ALL)
        }
    }

    fn complete(&mut self) -> Option<bool> {
        Some(ALL)
    }
}
