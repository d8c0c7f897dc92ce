//! `map`: transform each item.
//!
//! One of the two fused exceptions (with `filter`): written by hand rather than as a
//! `engine::step::Logic`, because it is on the hot path of nearly every pipeline (see
//! the `sync_chain` benchmark) and needs no demand policy at all: downstream's
//! subscription is upstream's, passed through untouched. To write a new item-by-item
//! operator, copy a `step` one (`skip_while.rs`, `take.rs`), not this file.

use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};

use spillway_core::drain::BatchContext;
use spillway_core::{Context, Error, Publisher, SharedSubscription, Subscriber};

/// Publisher for the [`map`](crate::OperatorExt::map) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct Map<P, F> {
    upstream: P,
    f: F,
}

impl<P, F> Map<P, F> {
    pub(crate) fn new(upstream: P, f: F) -> Self {
        Map { upstream, f }
    }
}

impl<P, F, R> Publisher for Map<P, F>
where
    P: Publisher,
    F: FnMut(P::Item) -> R + Send + 'static,
    R: Send + 'static,
{
    type Item = R;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = R, Error = P::Error>,
    {
        self.upstream.subscribe(MapSubscriber {
            downstream: subscriber,
            f: self.f,
            upstream: None,
            done: false,
            _item: PhantomData,
        });
    }
}

struct MapSubscriber<S, F, T> {
    downstream: S,
    f: F,
    upstream: Option<SharedSubscription>,
    /// Set after a panic in `f`: late signals from upstream are ignored.
    done: bool,
    _item: PhantomData<fn(T)>,
}

impl<S, F, T, R> Subscriber for MapSubscriber<S, F, T>
where
    S: Subscriber<Item = R>,
    F: FnMut(T) -> R + Send + 'static,
    T: 'static,
{
    type Item = T;
    type Error = S::Error;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        // 1:1 stage: downstream's requests go straight upstream.
        self.upstream = Some(subscription.clone());
        self.downstream.on_subscribe(subscription);
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        // From an upstream that counts every item against demand: an item a filtering
        // stage below discarded needs a replacement request, or the demand it used is
        // lost and the pipeline stalls under bounded demand.
        if !self.try_on_next(item) && !self.done {
            if let Some(up) = &self.upstream {
                up.request(1);
            }
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        if self.done {
            return true;
        }
        let f = &mut self.f;
        match catch_unwind(AssertUnwindSafe(|| f(item))) {
            Ok(mapped) => self.downstream.try_on_next(mapped),
            Err(payload) => {
                self.done = true;
                if let Some(up) = self.upstream.take() {
                    up.cancel();
                }
                self.downstream.on_error(Error::from_panic("map", payload));
                true
            }
        }
    }

    #[inline]
    fn accepts_batches(&self) -> bool {
        self.downstream.accepts_batches()
    }

    /// Fused: the batch goes on downstream as `items.map(f)`; a panic in `f` unwinds to
    /// the source's drain loop, which reports it against "map" (noted in `stage`).
    #[inline]
    fn on_next_batch<I>(&mut self, items: I, batch: &BatchContext) -> u64
    where
        I: Iterator<Item = T>,
    {
        if self.done {
            items.for_each(drop);
            return 0;
        }
        let f = &mut self.f;
        self.downstream
            .on_next_batch(items.map(|item| batch.run("map", || f(item))), batch)
    }

    fn on_error(&mut self, error: Error<S::Error>) {
        if !self.done {
            self.done = true;
            self.upstream = None;
            self.downstream.on_error(error);
        }
    }

    fn on_complete(&mut self) {
        if !self.done {
            self.done = true;
            self.upstream = None;
            self.downstream.on_complete();
        }
    }

    fn context(&self) -> Context {
        self.downstream.context()
    }
}

impl<P: fmt::Debug, F> fmt::Debug for Map<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}
