//! `poll_on`: name the executor that runs the async stages above after their wake-ups.

use std::fmt;
use std::sync::Arc;

use spillway_core::drain::BatchContext;
use spillway_core::{Context, Error, Publisher, SharedSubscription, Spawner, Subscriber};

/// Publisher for the [`poll_on`](crate::OperatorExt::poll_on) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct PollOn<P> {
    upstream: P,
    spawner: Arc<dyn Spawner>,
}

impl<P> PollOn<P> {
    pub(crate) fn new(upstream: P, spawner: Arc<dyn Spawner>) -> Self {
        PollOn { upstream, spawner }
    }
}

impl<P: Publisher> Publisher for PollOn<P> {
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        self.upstream.subscribe(PollOnSubscriber {
            downstream: subscriber,
            spawner: self.spawner,
        });
    }
}

impl<P: fmt::Debug> fmt::Debug for PollOn<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PollOn")
            .field("upstream", &self.upstream)
            .field("spawner", &self.spawner)
            .finish()
    }
}

/// Passes every signal through unchanged (batches too); only the context it carries up
/// differs.
struct PollOnSubscriber<S> {
    downstream: S,
    spawner: Arc<dyn Spawner>,
}

impl<S: Subscriber> Subscriber for PollOnSubscriber<S> {
    type Item = S::Item;
    type Error = S::Error;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
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

    #[inline]
    fn accepts_batches(&self) -> bool {
        self.downstream.accepts_batches()
    }

    #[inline]
    fn on_next_batch<I>(&mut self, items: I, batch: &BatchContext) -> u64
    where
        I: Iterator<Item = S::Item>,
    {
        self.downstream.on_next_batch(items, batch)
    }

    fn on_error(&mut self, error: Error<S::Error>) {
        self.downstream.on_error(error);
    }

    fn on_complete(&mut self) {
        self.downstream.on_complete();
    }

    /// Downstream's context with the spawner named; a terminal future's driver (if any)
    /// is dropped, so the spawner, not the future, runs the stages above.
    fn context(&self) -> Context {
        let downstream = self.downstream.context();
        let mut cx = if downstream.has_scheduler() {
            Context::with_scheduler(downstream.scheduler())
        } else {
            Context::default()
        };
        cx = cx.spawn_on(Arc::clone(&self.spawner));
        cx
    }
}
