//! `try_filter_map`: transforms each item with a fallible function and keeps the
//! `Some` results. The first `Err` cancels upstream and fails the stream with
//! `Error::User`.

use std::fmt;

use spillway_core::{Publisher, Subscriber};

use crate::engine::step::{self, Logic, Step};

/// Publisher for the [`try_filter_map`](crate::OperatorExt::try_filter_map) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct TryFilterMap<P, F> {
    upstream: P,
    f: F,
}

impl<P, F> TryFilterMap<P, F> {
    pub(crate) fn new(upstream: P, f: F) -> Self {
        TryFilterMap { upstream, f }
    }
}

impl<P, F, R> Publisher for TryFilterMap<P, F>
where
    P: Publisher,
    F: FnMut(P::Item) -> Result<Option<R>, P::Error> + Send + 'static,
    R: Send + 'static,
{
    type Item = R;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = R, Error = P::Error>,
    {
        let logic = TryFilterMapLogic {
            f: self.f,
            failure: None,
        };
        step::subscribe(self.upstream, subscriber, logic);
    }
}

/// The stage's logic: the first `Err` is kept for [`Logic::failure`].
struct TryFilterMapLogic<F, E> {
    f: F,
    failure: Option<E>,
}

impl<T, E, F, R> Logic<T, E> for TryFilterMapLogic<F, E>
where
    F: FnMut(T) -> Result<Option<R>, E> + Send + 'static,
    E: Send + 'static,
    R: Send + 'static,
{
    type Out = R;
    const STAGE: &'static str = "try_filter_map";

    fn next(&mut self, item: T) -> Step<R> {
        match (self.f)(item) {
            Ok(Some(out)) => Step::Emit(out),
            Ok(None) => Step::Skip,
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

impl<P: fmt::Debug, F> fmt::Debug for TryFilterMap<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryFilterMap")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}
