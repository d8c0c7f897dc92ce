//! `never`: no signal after `on_subscribe`.

use std::fmt;
use std::marker::PhantomData;
use std::task::Context;

use crate::drain::{self, Pulled, Source};
use crate::{Publisher, Subscriber};

/// Publisher for [`never()`](fn@never).
#[must_use = "publishers do nothing until subscribed"]
pub struct Never<T, E> {
    _types: PhantomData<fn() -> (T, E)>,
}

/// A publisher that never emits and never terminates; cancelling it releases the
/// subscriber. Useful as a placeholder and in tests of timeouts.
///
/// ```
/// use spillway_core::prelude::*;
/// let handle = never::<u8, std::convert::Infallible>().subscribe_fn(|_| unreachable!());
/// handle.cancel();
/// ```
pub fn never<T, E>() -> Never<T, E> {
    Never {
        _types: PhantomData,
    }
}

struct NeverSource<T, E>(PhantomData<fn() -> (T, E)>);

impl<T: Send + 'static, E: Send + 'static> Source for NeverSource<T, E> {
    type Item = T;
    type Error = E;
    const STAGE: &'static str = "never";
    fn pull(&mut self, _cx: &mut Context<'_>) -> Pulled<T, E> {
        Pulled::Pending
    }
}

impl<T: Send + 'static, E: Send + 'static> Publisher for Never<T, E> {
    type Item = T;
    type Error = E;
    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = T, Error = E>,
    {
        drain::start(NeverSource(PhantomData), subscriber);
    }
}

impl<T, E> Clone for Never<T, E> {
    fn clone(&self) -> Self {
        never()
    }
}

impl<T, E> fmt::Debug for Never<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Never")
    }
}
