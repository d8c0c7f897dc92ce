//! `try_map`: transforms each item with a fallible function. The first `Err` cancels upstream and fails the stream with
//! `Error::User`.

use std::fmt;

use spillway_core::{Publisher, Subscriber};

use crate::engine::step::{self, Logic, Step};

/// Publisher for the [`try_map`](crate::OperatorExt::try_map) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct TryMap<P, F> {
    upstream: P,
    f: F,
}

impl<P, F> TryMap<P, F> {
    pub(crate) fn new(upstream: P, f: F) -> Self {
        TryMap { upstream, f }
    }
}

impl<P, F, R> Publisher for TryMap<P, F>
where
    P: Publisher,
    F: FnMut(P::Item) -> Result<R, P::Error> + Send + 'static,
    R: Send + 'static,
{
    type Item = R;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = R, Error = P::Error>,
    {
        let logic = TryMapLogic {
            f: self.f,
            failure: None,
        };
        step::subscribe(self.upstream, subscriber, logic);
    }
}

/// The stage's logic: the first `Err` is kept for [`Logic::failure`].
struct TryMapLogic<F, E> {
    f: F,
    failure: Option<E>,
}

impl<T, E, F, R> Logic<T, E> for TryMapLogic<F, E>
where
    F: FnMut(T) -> Result<R, E> + Send + 'static,
    E: Send + 'static,
    R: Send + 'static,
{
    type Out = R;
    const STAGE: &'static str = "try_map";

    fn next(&mut self, item: T) -> Step<R> {
        match (self.f)(item) {
            Ok(out) => Step::Emit(out),
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

impl<P: fmt::Debug, F> fmt::Debug for TryMap<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryMap")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}
