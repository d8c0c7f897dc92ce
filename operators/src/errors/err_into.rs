//! `err_into`: convert the user error with `Into`.

use std::fmt;
use std::marker::PhantomData;

use spillway_core::{Publisher, Subscriber};

use crate::errors::map_error::MapError;

/// Publisher for the [`err_into`](crate::OperatorExt::err_into) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct ErrInto<P, E2> {
    upstream: P,
    _error: PhantomData<fn() -> E2>,
}

impl<P, E2> ErrInto<P, E2> {
    pub(crate) fn new(upstream: P) -> Self {
        ErrInto {
            upstream,
            _error: PhantomData,
        }
    }
}

impl<P: Clone, E2> Clone for ErrInto<P, E2> {
    fn clone(&self) -> Self {
        ErrInto::new(self.upstream.clone())
    }
}

impl<P, E2> Publisher for ErrInto<P, E2>
where
    P: Publisher,
    P::Error: Into<E2>,
    E2: Send + 'static,
{
    type Item = P::Item;
    type Error = E2;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = E2>,
    {
        MapError::new(self.upstream, Into::<E2>::into).subscribe(subscriber);
    }
}

impl<P: fmt::Debug, E2> fmt::Debug for ErrInto<P, E2> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrInto")
            .field("upstream", &self.upstream)
            .finish()
    }
}
