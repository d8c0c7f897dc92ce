//! `take_until`: pass items until another publisher emits or completes.

use std::fmt;

use spillway_core::{Publisher, Subscriber};

use crate::engine::until::{self, Until};

/// Publisher for the [`take_until`](crate::OperatorExt::take_until) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct TakeUntil<P, O> {
    upstream: P,
    other: O,
}

impl<P, O> TakeUntil<P, O> {
    pub(crate) fn new(upstream: P, other: O) -> Self {
        TakeUntil { upstream, other }
    }
}

impl<P, O> Publisher for TakeUntil<P, O>
where
    P: Publisher,
    O: Publisher<Error = P::Error>,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        until::subscribe(self.upstream, self.other, subscriber, Until::Take);
    }
}

impl<P: fmt::Debug, O: fmt::Debug> fmt::Debug for TakeUntil<P, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TakeUntil")
            .field("upstream", &self.upstream)
            .field("other", &self.other)
            .finish()
    }
}
