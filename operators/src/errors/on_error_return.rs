//! `on_error_return`: on an upstream error, emit one item made from it, then complete.

use std::convert::Infallible;
use std::fmt;

use spillway_core::prelude::just;
use spillway_core::{Error, Publisher, Subscriber};

use crate::errors::map_error::MapError;
use crate::errors::on_error_resume;

const STAGE: &str = "on_error_return";

/// Publisher for the [`on_error_return`](crate::OperatorExt::on_error_return) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct OnErrorReturn<P, F> {
    upstream: P,
    f: F,
}

impl<P, F> OnErrorReturn<P, F> {
    pub(crate) fn new(upstream: P, f: F) -> Self {
        OnErrorReturn { upstream, f }
    }
}

fn never<E>(never: Infallible) -> E {
    match never {}
}

impl<P, F> Publisher for OnErrorReturn<P, F>
where
    P: Publisher,
    F: FnOnce(Error<P::Error>) -> P::Item + Send + 'static,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        let f = self.f;
        on_error_resume::subscribe(
            self.upstream,
            move |e| MapError::new(just(f(e)), never::<P::Error>),
            STAGE,
            subscriber,
        );
    }
}

impl<P: fmt::Debug, F> fmt::Debug for OnErrorReturn<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnErrorReturn")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}
