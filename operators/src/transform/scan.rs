//! `scan`: a running accumulation, emitted at every item.

use std::fmt;

use spillway_core::{Publisher, Subscriber};

use crate::engine::step::{self, Logic, Step};

/// Publisher for the [`scan`](crate::OperatorExt::scan) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct Scan<P, A, F> {
    upstream: P,
    initial: A,
    f: F,
}

impl<P, A, F> Scan<P, A, F> {
    pub(crate) fn new(upstream: P, initial: A, f: F) -> Self {
        Scan {
            upstream,
            initial,
            f,
        }
    }
}

impl<P, A, F> Publisher for Scan<P, A, F>
where
    P: Publisher,
    A: Clone + Send + 'static,
    F: FnMut(&A, P::Item) -> A + Send + 'static,
{
    type Item = A;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = A, Error = P::Error>,
    {
        let logic = ScanLogic {
            acc: self.initial,
            f: self.f,
        };
        step::subscribe(self.upstream, subscriber, logic);
    }
}

struct ScanLogic<A, F> {
    acc: A,
    f: F,
}

impl<T, E, A, F> Logic<T, E> for ScanLogic<A, F>
where
    A: Clone + Send + 'static,
    F: FnMut(&A, T) -> A + Send + 'static,
{
    type Out = A;
    const STAGE: &'static str = "scan";

    fn next(&mut self, item: T) -> Step<A> {
        self.acc = (self.f)(&self.acc, item);
        Step::Emit(self.acc.clone())
    }
}

impl<P: fmt::Debug, A: fmt::Debug, F> fmt::Debug for Scan<P, A, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scan")
            .field("upstream", &self.upstream)
            .field("initial", &self.initial)
            .finish_non_exhaustive()
    }
}
