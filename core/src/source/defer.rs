//! `defer`: build the publisher at subscribe time.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::source::error::fail_with;
use crate::{Error, Publisher, Subscriber};

/// Publisher for [`defer`].
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct Defer<F> {
    factory: F,
}

/// Calls `factory` when subscribed and subscribes to the publisher it returns, so each
/// subscription sees fresh state (the current time, a new connection...). A panic in the
/// factory is delivered as [`Error::Panicked`].
///
/// ```
/// use spillway_core::prelude::*;
/// # futures::executor::block_on(async {
/// let p = defer(|| just(std::time::Instant::now()));
/// assert_eq!(p.count().await.unwrap(), 1);
/// # });
/// ```
pub fn defer<F, P>(factory: F) -> Defer<F>
where
    F: FnOnce() -> P,
    P: Publisher,
{
    Defer { factory }
}

impl<F, P> Publisher for Defer<F>
where
    F: FnOnce() -> P,
    P: Publisher,
{
    type Item = P::Item;
    type Error = P::Error;
    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        match catch_unwind(AssertUnwindSafe(self.factory)) {
            Ok(publisher) => publisher.subscribe(subscriber),
            Err(payload) => fail_with(Error::from_panic("defer", payload), subscriber),
        }
    }
}

impl<F> fmt::Debug for Defer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Defer").finish_non_exhaustive()
    }
}
