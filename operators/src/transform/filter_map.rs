//! `filter_map`: transform each item and keep the `Some`s.

use std::fmt;

use spillway_core::{Publisher, Subscriber};

use crate::engine::step::{self, Logic, Step};

/// Publisher for the [`filter_map`](crate::OperatorExt::filter_map) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct FilterMap<P, F> {
    upstream: P,
    f: F,
}

impl<P, F> FilterMap<P, F> {
    pub(crate) fn new(upstream: P, f: F) -> Self {
        FilterMap { upstream, f }
    }
}

impl<P, F, R> Publisher for FilterMap<P, F>
where
    P: Publisher,
    F: FnMut(P::Item) -> Option<R> + Send + 'static,
    R: Send + 'static,
{
    type Item = R;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = R, Error = P::Error>,
    {
        step::subscribe(self.upstream, subscriber, FilterMapLogic(self.f));
    }
}

struct FilterMapLogic<F>(F);

impl<T, E, F, R> Logic<T, E> for FilterMapLogic<F>
where
    F: FnMut(T) -> Option<R> + Send + 'static,
    R: Send + 'static,
{
    type Out = R;
    const STAGE: &'static str = "filter_map";

    fn next(&mut self, item: T) -> Step<R> {
        (self.0)(item).map_or(Step::Skip, Step::Emit)
    }
}

impl<P: fmt::Debug, F> fmt::Debug for FilterMap<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FilterMap")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}
