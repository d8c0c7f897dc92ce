//! `error`: fails at once.

use std::fmt;
use std::marker::PhantomData;
use std::task::Context;

use crate::drain::{self, Pulled, Source};
use crate::{Error, Publisher, Scalar, Subscriber};

/// Publisher for [`error`].
#[must_use = "publishers do nothing until subscribed"]
pub struct Fail<T, E> {
    error: E,
    _item: PhantomData<fn() -> T>,
}

/// A publisher that fails with `Error::User(error)` right after `on_subscribe`, without
/// waiting for a request.
///
/// ```
/// use spillway_core::{prelude::*, Error};
/// # futures::executor::block_on(async {
/// let result = error::<u8, _>("boom").collect().await;
/// assert!(matches!(result, Err(Error::User("boom"))));
/// # });
/// ```
pub fn error<T, E>(error: E) -> Fail<T, E> {
    Fail {
        error,
        _item: PhantomData,
    }
}

struct FailSource<T, E>(Option<Error<E>>, PhantomData<fn() -> T>);

/// Delivers `on_subscribe` and then `on_error(error)`: how stages that fail before they
/// could subscribe upstream (a panicking `defer` factory, a bad configuration) report it.
pub(crate) fn fail_with<S>(error: Error<S::Error>, subscriber: S)
where
    S: Subscriber,
    S::Item: Send + 'static,
    S::Error: Send + 'static,
{
    drain::start(
        FailSource::<S::Item, S::Error>(Some(error), PhantomData),
        subscriber,
    );
}

impl<T: Send + 'static, E: Send + 'static> FailSource<T, E> {
    fn fail(&mut self) -> Pulled<T, E> {
        match self.0.take() {
            Some(e) => Pulled::Error(e),
            None => Pulled::Pending,
        }
    }
}

impl<T: Send + 'static, E: Send + 'static> Source for FailSource<T, E> {
    type Item = T;
    type Error = E;
    const STAGE: &'static str = "error";
    fn pull(&mut self, _cx: &mut Context<'_>) -> Pulled<T, E> {
        self.fail()
    }
    fn poll_end(&mut self, _cx: &mut Context<'_>) -> Option<Pulled<T, E>> {
        Some(self.fail())
    }
}

impl<T: Send + 'static, E: Send + 'static> Publisher for Fail<T, E> {
    type Item = T;
    type Error = E;
    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = T, Error = E>,
    {
        drain::start(
            FailSource(Some(Error::User(self.error)), PhantomData),
            subscriber,
        );
    }

    /// Always `Ok(Scalar::Error(Error::User(error)))`.
    #[inline]
    fn into_scalar(self) -> Result<Scalar<T, E>, Self> {
        Ok(Scalar::Error(Error::User(self.error)))
    }
}

impl<T, E: Clone> Clone for Fail<T, E> {
    fn clone(&self) -> Self {
        error(self.error.clone())
    }
}

impl<T, E: fmt::Debug> fmt::Debug for Fail<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fail").field("error", &self.error).finish()
    }
}
