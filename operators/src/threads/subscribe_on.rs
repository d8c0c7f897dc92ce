//! `subscribe_on`: subscribes to upstream, and requests from it, on another execution
//! context.

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use spillway_core::drain::BatchContext;
use spillway_core::{
    Context, Error, Publisher, Scheduler, SharedSubscription, Subscriber, Subscription, Task,
};

/// Publisher for the [`subscribe_on`](crate::OperatorExt::subscribe_on) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct SubscribeOn<P, S> {
    upstream: P,
    scheduler: S,
}

impl<P, S> SubscribeOn<P, S> {
    pub(crate) fn new(upstream: P, scheduler: S) -> Self {
        SubscribeOn {
            upstream,
            scheduler,
        }
    }
}

impl<P: fmt::Debug, S: fmt::Debug> fmt::Debug for SubscribeOn<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscribeOn")
            .field("upstream", &self.upstream)
            .field("scheduler", &self.scheduler)
            .finish()
    }
}

impl<P, S> Publisher for SubscribeOn<P, S>
where
    P: Publisher + Send + 'static,
    S: Scheduler,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<D>(self, downstream: D)
    where
        D: Subscriber<Item = P::Item, Error = P::Error>,
    {
        let context = downstream.context();
        let hop = Arc::new_cyclic(|me| Hop {
            scheduler: self.scheduler,
            upstream: OnceLock::new(),
            cancelled: AtomicBool::new(false),
            me: me.clone(),
        });
        let upstream = self.upstream;
        let on_context = Arc::clone(&hop);
        // A named pipeline being subscribed here goes on subscribing over there.
        let scope = crate::named::Scope::capture();
        hop.scheduler.schedule(
            Duration::ZERO,
            Task::once(move || {
                let _scope = scope.enter();
                let hop = Arc::clone(&on_context);
                hop.enter(|| {
                    upstream.subscribe(SubscribeOnSubscriber {
                        downstream,
                        hop: on_context,
                        context,
                    })
                });
            }),
        );
    }
}

/// The subscription downstream sees: requests hop to the scheduler, cancel goes
/// straight upstream.
struct Hop<S> {
    scheduler: S,
    upstream: OnceLock<SharedSubscription>,
    cancelled: AtomicBool,
    me: std::sync::Weak<Hop<S>>,
}

thread_local! {
    /// The `Hop` whose task this thread is running (its address), if any: a request made
    /// from inside one of its tasks (from `on_subscribe` or `on_next`) is already on the
    /// right context and goes upstream directly, without a task.
    static RUNNING: Cell<usize> = const { Cell::new(0) };
}

impl<S> Hop<S> {
    fn id(&self) -> usize {
        self as *const Self as usize
    }

    /// Runs `f` marked as running on this hop's context.
    fn enter<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Restore(usize);
        impl Drop for Restore {
            fn drop(&mut self) {
                RUNNING.with(|r| r.set(self.0));
            }
        }
        let _restore = Restore(RUNNING.with(|r| r.replace(self.id())));
        f()
    }
}

impl<S: Scheduler> Subscription for Hop<S> {
    fn request(&self, n: u64) {
        let Some(upstream) = self.upstream.get() else {
            return; // downstream cannot hold this subscription before it is set
        };
        if self.cancelled.load(Ordering::Acquire) {
            return;
        }
        if RUNNING.with(Cell::get) == self.id() {
            upstream.request(n);
        } else if let Some(me) = self.me.upgrade() {
            self.scheduler.schedule(
                Duration::ZERO,
                Task::once(move || {
                    if let Some(upstream) = me.upstream.get() {
                        me.enter(|| upstream.request(n));
                    }
                }),
            );
        }
    }

    fn cancel(&self) {
        if !self.cancelled.swap(true, Ordering::AcqRel) {
            if let Some(upstream) = self.upstream.get() {
                upstream.cancel();
            }
        }
    }
}

struct SubscribeOnSubscriber<D, S> {
    downstream: D,
    hop: Arc<Hop<S>>,
    context: Context,
}

impl<D, S> Subscriber for SubscribeOnSubscriber<D, S>
where
    D: Subscriber,
    S: Scheduler,
{
    type Item = D::Item;
    type Error = D::Error;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if self.hop.upstream.set(subscription.clone()).is_err() {
            subscription.cancel(); // rule 2.5: a second subscription is refused
            return;
        }
        let hop: SharedSubscription = self.hop.clone();
        self.downstream.on_subscribe(hop);
    }

    #[inline]
    fn on_next(&mut self, item: D::Item) {
        self.downstream.on_next(item);
    }

    #[inline]
    fn try_on_next(&mut self, item: D::Item) -> bool {
        self.downstream.try_on_next(item)
    }

    /// Fused batches go through unchanged: the stage only moves where upstream runs.
    #[inline]
    fn accepts_batches(&self) -> bool {
        self.downstream.accepts_batches()
    }

    #[inline]
    fn on_next_batch<I>(&mut self, items: I, batch: &BatchContext) -> u64
    where
        I: Iterator<Item = D::Item>,
    {
        self.downstream.on_next_batch(items, batch)
    }

    fn on_error(&mut self, error: Error<D::Error>) {
        self.downstream.on_error(error);
    }

    fn on_complete(&mut self) {
        self.downstream.on_complete();
    }

    fn context(&self) -> Context {
        self.context.clone()
    }
}
