//! `try_filter`: keeps the items a fallible predicate accepts. The first `Err` cancels upstream and fails the stream with
//! `Error::User`.

use std::fmt;

use spillway_core::{Publisher, Subscriber};

use crate::engine::step::{self, Logic, Step};

/// Publisher for the [`try_filter`](crate::OperatorExt::try_filter) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct TryFilter<P, F> {
    upstream: P,
    f: F,
}

impl<P, F> TryFilter<P, F> {
    pub(crate) fn new(upstream: P, f: F) -> Self {
        TryFilter { upstream, f }
    }
}

impl<P, F> Publisher for TryFilter<P, F>
where
    P: Publisher,
    F: FnMut(&P::Item) -> Result<bool, P::Error> + Send + 'static,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        let logic = TryFilterLogic {
            f: self.f,
            failure: None,
        };
        step::subscribe(self.upstream, subscriber, logic);
    }
}

/// The stage's logic: the first `Err` is kept for [`Logic::failure`].
struct TryFilterLogic<F, E> {
    f: F,
    failure: Option<E>,
}

impl<T, E, F> Logic<T, E> for TryFilterLogic<F, E>
where
    F: FnMut(&T) -> Result<bool, E> + Send + 'static,
    E: Send + 'static,
    T: Send + 'static,
{
    type Out = T;
    const STAGE: &'static str = "try_filter";

    fn next(&mut self, item: T) -> Step<T> {
        match (self.f)(&item) {
            Ok(true) => Step::Emit(item),
            Ok(false) => Step::Skip,
            Err(e) => {
                self.failure = Some(e);
                Step::Fail
            }
        }
    }

    fn failure(&mut self) -> Option<E> {
        self.failure.take()
    }
}

impl<P: fmt::Debug, F> fmt::Debug for TryFilter<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryFilter")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}
