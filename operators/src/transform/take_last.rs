//! `take_last`: the last `n` items, delivered once upstream has completed.
//!
//! Written from the queueing template (`backpressure/load_shed.rs`): the skeleton,
//! `engine::queue::QueueCore`, owns the lifecycle (both slots, the terminal ordering, the
//! release on cancel); this file says only what an arriving item does (it is kept, and
//! the oldest beyond `n` let go) and what may be handed out (nothing before completion).

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::task::Context as TaskContext;

use spillway_core::drain::{self, DrainHandle, Pulled, Source};
use spillway_core::{Context, Error, Publisher, SharedSubscription, Subscriber};

use crate::engine::queue::QueueCore;
use crate::engine::support::Dropper;
use crate::stats::FlowStats;

const STAGE: &str = "take_last";

/// Publisher for the [`take_last`](crate::OperatorExt::take_last) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct TakeLast<P> {
    upstream: P,
    n: usize,
}

impl<P> TakeLast<P> {
    pub(crate) fn new(upstream: P, n: usize) -> Self {
        TakeLast { upstream, n }
    }
}

/// The last `n` items so far, oldest first.
type Core<T, E> = QueueCore<VecDeque<T>, (), E>;

impl<P: Publisher> Publisher for TakeLast<P> {
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        // Internal statistics: they count what a cancel discards (the items let go
        // before completion are the operator's meaning, not drops).
        let stats = FlowStats::new(self.n);
        let subscriber = crate::named::attach(STAGE, Some(&stats), subscriber);
        let context = subscriber.context();
        let core = Arc::new(QueueCore::new(
            STAGE,
            VecDeque::new(),
            (),
            Dropper::new(stats, None),
        ));
        drain::start(LastSource(Arc::clone(&core)), subscriber);
        self.upstream.subscribe(LastUpstream {
            core,
            n: self.n,
            context,
        });
    }
}

/// The downstream side: nothing until upstream has completed, then the kept items.
struct LastSource<T: Send + 'static, E>(Arc<Core<T, E>>);

impl<T: Send + 'static, E: Send + 'static> Source for LastSource<T, E> {
    type Item = T;
    type Error = E;
    const STAGE: &'static str = STAGE;

    fn attach(&mut self, drain: DrainHandle) {
        self.0.drain.set(drain);
    }

    fn pull(&mut self, _cx: &mut TaskContext<'_>) -> Pulled<T, E> {
        self.0.pull(|locked| {
            // Upstream's end is what makes the kept items the last ones.
            if !locked.life.upstream_done() {
                return None;
            }
            locked.held.pop_front()
        })
    }

    fn poll_end(&mut self, _cx: &mut TaskContext<'_>) -> Option<Pulled<T, E>> {
        self.0.poll_end()
    }
}

impl<T: Send + 'static, E> Drop for LastSource<T, E> {
    fn drop(&mut self) {
        self.0.close(|_| {});
    }
}

/// The upstream side: requests everything and keeps the last `n`.
struct LastUpstream<T: Send + 'static, E> {
    core: Arc<Core<T, E>>,
    n: usize,
    context: Context,
}

impl<T: Send + 'static, E: Send + 'static> Subscriber for LastUpstream<T, E> {
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.core.upstream_subscribed(subscription, |_| u64::MAX);
    }

    fn on_next(&mut self, item: T) {
        let mut locked = self.core.lock();
        if !locked.life.is_open() {
            drop(locked);
            return self.core.discard_late(item);
        }
        let held = &mut locked.held;
        held.push_back(item);
        // Let go outside the lock: an item's drop may run user code.
        let older = (held.len() > self.n).then(|| held.pop_front());
        drop(locked);
        drop(older);
    }

    /// The kept items would not be the last ones of a complete stream: the error goes at
    /// once, and they go with it.
    fn on_error(&mut self, error: Error<E>) {
        let mut kept = VecDeque::new();
        self.core
            .upstream_ended(Err(error), |locked| kept = std::mem::take(&mut locked.held));
        drop(kept);
    }

    fn on_complete(&mut self) {
        self.core.upstream_ended(Ok(()), |_| {});
    }

    fn context(&self) -> Context {
        self.context.clone()
    }
}

impl<P: fmt::Debug> fmt::Debug for TakeLast<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TakeLast")
            .field("upstream", &self.upstream)
            .field("n", &self.n)
            .finish()
    }
}
