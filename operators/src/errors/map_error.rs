//! `map_error`: transform the user error (and so the error type) of a pipeline.

use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};

use spillway_core::{Context, Error, Publisher, SharedSubscription, Subscriber};

const STAGE: &str = "map_error";

/// Publisher for the [`map_error`](crate::OperatorExt::map_error) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct MapError<P, F> {
    upstream: P,
    f: F,
}

impl<P, F> MapError<P, F> {
    pub(crate) fn new(upstream: P, f: F) -> Self {
        MapError { upstream, f }
    }
}

impl<P, F, E2> Publisher for MapError<P, F>
where
    P: Publisher,
    F: FnOnce(P::Error) -> E2 + Send + 'static,
    E2: Send + 'static,
{
    type Item = P::Item;
    type Error = E2;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = E2>,
    {
        self.upstream.subscribe(MapErrorSubscriber {
            downstream: subscriber,
            f: Some(self.f),
            _error: PhantomData,
        });
    }
}

impl<P: fmt::Debug, F> fmt::Debug for MapError<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapError")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

struct MapErrorSubscriber<S, F, E> {
    downstream: S,
    /// Taken by the (single) error.
    f: Option<F>,
    _error: PhantomData<fn(E)>,
}

impl<S, F, E> Subscriber for MapErrorSubscriber<S, F, E>
where
    S: Subscriber,
    F: FnOnce(E) -> S::Error + Send + 'static,
    E: 'static,
{
    type Item = S::Item;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        // 1:1 stage: downstream's requests go straight upstream.
        self.downstream.on_subscribe(subscription);
    }

    #[inline]
    fn on_next(&mut self, item: S::Item) {
        self.downstream.on_next(item);
    }

    #[inline]
    fn try_on_next(&mut self, item: S::Item) -> bool {
        self.downstream.try_on_next(item)
    }

    fn on_error(&mut self, error: Error<E>) {
        let Some(f) = self.f.take() else {
            return; // a second terminal signal: dropped
        };
        let mapped = match catch_unwind(AssertUnwindSafe(|| error.map_user(f))) {
            Ok(mapped) => mapped,
            Err(payload) => Error::from_panic(STAGE, payload),
        };
        self.downstream.on_error(mapped);
    }

    fn on_complete(&mut self) {
        if self.f.take().is_some() {
            self.downstream.on_complete();
        }
    }

    fn context(&self) -> Context {
        self.downstream.context()
    }
}
