//! `skip_until`: drop items until another publisher emits or completes, then pass them.

use std::fmt;

use spillway_core::{Publisher, Subscriber};

use crate::engine::until::{self, Until};

/// Publisher for the [`skip_until`](crate::OperatorExt::skip_until) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct SkipUntil<P, O> {
    upstream: P,
    other: O,
}

impl<P, O> SkipUntil<P, O> {
    pub(crate) fn new(upstream: P, other: O) -> Self {
        SkipUntil { upstream, other }
    }
}

impl<P, O> Publisher for SkipUntil<P, O>
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
        until::subscribe(self.upstream, self.other, subscriber, Until::Skip);
    }
}

impl<P: fmt::Debug, O: fmt::Debug> fmt::Debug for SkipUntil<P, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkipUntil")
            .field("upstream", &self.upstream)
            .field("other", &self.other)
            .finish()
    }
}
