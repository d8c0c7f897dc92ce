//! `retry_when`: resubscribe to a cloneable upstream after each error the predicate accepts.

use std::fmt;
use std::time::Duration;

use spillway_core::{Error, Publisher, Stage, Subscriber};

use crate::errors::retry::{self, Decision, RetryPolicy};

const STAGE: &str = "retry_when";

/// Publisher for the [`retry_when`](crate::OperatorExt::retry_when) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct RetryWhen<P, F> {
    upstream: P,
    predicate: F,
}

impl<P, F> RetryWhen<P, F> {
    pub(crate) fn new(upstream: P, predicate: F) -> Self {
        RetryWhen {
            upstream,
            predicate,
        }
    }
}

struct When<F>(F);

impl<E, F> RetryPolicy<E> for When<F>
where
    F: FnMut(&Error<E>) -> bool + Send + 'static,
{
    const STAGE: Stage = STAGE;
    fn decide(&mut self, error: &Error<E>) -> Decision {
        if (self.0)(error) {
            Decision::After(Duration::ZERO)
        } else {
            Decision::GiveUp
        }
    }
}

impl<P, F> Publisher for RetryWhen<P, F>
where
    P: Publisher + Clone + Send + 'static,
    F: FnMut(&Error<P::Error>) -> bool + Send + 'static,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        retry::subscribe(self.upstream, When(self.predicate), None, subscriber);
    }
}

impl<P: fmt::Debug, F> fmt::Debug for RetryWhen<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryWhen")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}
