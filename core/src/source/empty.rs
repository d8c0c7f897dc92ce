//! `empty`: completes at once.

use std::fmt;
use std::marker::PhantomData;
use std::task::Context;

use crate::drain::{self, Pulled, Source};
use crate::{Publisher, Scalar, Subscriber};

/// Publisher for [`empty`].
#[must_use = "publishers do nothing until subscribed"]
pub struct Empty<T, E> {
    _types: PhantomData<fn() -> (T, E)>,
}

/// A publisher that completes without items, without waiting for a request.
///
/// ```
/// use spillway_core::prelude::*;
/// # futures::executor::block_on(async {
/// let items: Vec<u8> = empty::<u8, std::convert::Infallible>().collect().await.unwrap();
/// assert!(items.is_empty());
/// # });
/// ```
pub fn empty<T, E>() -> Empty<T, E> {
    Empty {
        _types: PhantomData,
    }
}

struct EmptySource<T, E>(PhantomData<fn() -> (T, E)>);

impl<T: Send + 'static, E: Send + 'static> Source for EmptySource<T, E> {
    type Item = T;
    type Error = E;
    const STAGE: &'static str = "empty";
    fn pull(&mut self, _cx: &mut Context<'_>) -> Pulled<T, E> {
        Pulled::Complete
    }
    fn poll_end(&mut self, _cx: &mut Context<'_>) -> Option<Pulled<T, E>> {
        Some(Pulled::Complete)
    }
}

impl<T: Send + 'static, E: Send + 'static> Publisher for Empty<T, E> {
    type Item = T;
    type Error = E;
    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = T, Error = E>,
    {
        drain::start(EmptySource(PhantomData), subscriber);
    }

    /// Always `Ok(Scalar::Empty)`.
    #[inline]
    fn into_scalar(self) -> Result<Scalar<T, E>, Self> {
        Ok(Scalar::Empty)
    }
}

impl<T, E> Clone for Empty<T, E> {
    fn clone(&self) -> Self {
        empty()
    }
}

impl<T, E> fmt::Debug for Empty<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Empty")
    }
}
