//! `just`: one item, then completion.

use std::convert::Infallible;
use std::task::Context;

use crate::drain::{self, Pulled, Source};
use crate::{Publisher, Scalar, Subscriber};

/// Publisher for [`just`].
#[derive(Debug, Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct Just<T> {
    item: T,
}

/// A publisher of exactly one item; it completes as soon as the item is delivered.
///
/// ```
/// use spillway_core::prelude::*;
/// # futures::executor::block_on(async {
/// assert_eq!(just("hi").collect().await.unwrap(), vec!["hi"]);
/// # });
/// ```
pub fn just<T: Send + 'static>(item: T) -> Just<T> {
    Just { item }
}

struct JustSource<T>(Option<T>);

impl<T: Send + 'static> Source for JustSource<T> {
    type Item = T;
    type Error = Infallible;
    const STAGE: &'static str = "just";
    fn pull(&mut self, _cx: &mut Context<'_>) -> Pulled<T, Infallible> {
        match self.0.take() {
            Some(item) => Pulled::Item(item),
            None => Pulled::Complete,
        }
    }
    fn poll_end(&mut self, _cx: &mut Context<'_>) -> Option<Pulled<T, Infallible>> {
        self.0.is_none().then_some(Pulled::Complete)
    }
}

impl<T: Send + 'static> Publisher for Just<T> {
    type Item = T;
    type Error = Infallible;
    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = T, Error = Infallible>,
    {
        drain::start(JustSource(Some(self.item)), subscriber);
    }

    /// Always `Ok(Scalar::Item(item))`: `flat_map` and friends take the item without
    /// subscribing.
    #[inline]
    fn into_scalar(self) -> Result<Scalar<T, Infallible>, Self> {
        Ok(Scalar::Item(self.item))
    }
}
