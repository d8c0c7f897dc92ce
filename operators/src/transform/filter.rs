//! `filter`: keep the items that pass a predicate.
//!
//! One of the two fused exceptions (with `map`): written by hand rather than as a
//! `engine::step::Logic`, because it is the hottest stage of most pipelines (see the
//! `sync_chain` benchmark) and its whole demand policy is pass-through, one flag and one
//! replacement request. To write a new item-by-item operator, copy a `step` one
//! (`skip_while.rs`, `take.rs`), not this file.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use spillway_core::drain::BatchContext;
use spillway_core::{
    Context, Demand, Error, Publisher, SharedSubscription, Subscriber, Subscription,
};

/// Publisher for the [`filter`](crate::OperatorExt::filter) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct Filter<P, F> {
    upstream: P,
    predicate: F,
}

impl<P, F> Filter<P, F> {
    pub(crate) fn new(upstream: P, predicate: F) -> Self {
        Filter {
            upstream,
            predicate,
        }
    }
}

impl<P, F> Publisher for Filter<P, F>
where
    P: Publisher,
    F: FnMut(&P::Item) -> bool + Send + 'static,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        self.upstream.subscribe(FilterSubscriber {
            downstream: subscriber,
            predicate: self.predicate,
            link: None,
            done: false,
        });
    }
}

/// Downstream's view of the subscription: it notes unbounded demand, so that a rejected
/// item needs no replacement request when the source cannot be told through
/// `try_on_next`.
struct FilterSubscription {
    upstream: SharedSubscription,
    unbounded: AtomicBool,
}

impl Subscription for FilterSubscription {
    fn request(&self, n: u64) {
        if Demand::new(n).is_unbounded() {
            self.unbounded.store(true, Ordering::Relaxed);
        }
        self.upstream.request(n);
    }

    fn cancel(&self) {
        self.upstream.cancel();
    }
}

struct FilterSubscriber<S, F> {
    downstream: S,
    predicate: F,
    link: Option<Arc<FilterSubscription>>,
    done: bool,
}

impl<S, F> FilterSubscriber<S, F> {
    fn cancel_upstream(&mut self) {
        if let Some(link) = self.link.take() {
            link.upstream.cancel();
        }
    }
}

impl<S, F> Subscriber for FilterSubscriber<S, F>
where
    S: Subscriber,
    S::Item: 'static,
    F: FnMut(&S::Item) -> bool + Send + 'static,
{
    type Item = S::Item;
    type Error = S::Error;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let link = Arc::new(FilterSubscription {
            upstream: subscription,
            unbounded: AtomicBool::new(false),
        });
        self.link = Some(Arc::clone(&link));
        self.downstream.on_subscribe(link);
    }

    #[inline]
    fn on_next(&mut self, item: S::Item) {
        // Called by a source that counts every item against demand: a rejected item
        // needs a replacement request (unless downstream's demand is unbounded).
        if !self.try_on_next(item) {
            if let Some(link) = &self.link {
                if !link.unbounded.load(Ordering::Relaxed) {
                    link.upstream.request(1);
                }
            }
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: S::Item) -> bool {
        if self.done {
            return true;
        }
        let predicate = &mut self.predicate;
        match catch_unwind(AssertUnwindSafe(|| predicate(&item))) {
            Ok(true) => self.downstream.try_on_next(item),
            Ok(false) => false,
            Err(payload) => {
                self.done = true;
                self.cancel_upstream();
                self.downstream
                    .on_error(Error::from_panic("filter", payload));
                true
            }
        }
    }

    #[inline]
    fn accepts_batches(&self) -> bool {
        self.downstream.accepts_batches()
    }

    /// Fused: the batch goes on downstream as `items.filter(predicate)`; rejected items
    /// simply are not counted as used.
    #[inline]
    fn on_next_batch<I>(&mut self, items: I, batch: &BatchContext) -> u64
    where
        I: Iterator<Item = S::Item>,
    {
        if self.done {
            items.for_each(drop);
            return 0;
        }
        let predicate = &mut self.predicate;
        self.downstream.on_next_batch(
            items.filter(|item| batch.run("filter", || predicate(item))),
            batch,
        )
    }

    fn on_error(&mut self, error: Error<S::Error>) {
        if !self.done {
            self.done = true;
            self.link = None;
            self.downstream.on_error(error);
        }
    }

    fn on_complete(&mut self) {
        if !self.done {
            self.done = true;
            self.link = None;
            self.downstream.on_complete();
        }
    }

    fn context(&self) -> Context {
        self.downstream.context()
    }
}

impl<P: fmt::Debug, F> fmt::Debug for Filter<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filter")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}
