//! The machinery shared by the operators that request unbounded demand upstream and
//! decide, item by item, what to do when downstream has no demand: `on_backpressure_drop`
//! (drop it), `on_backpressure_latest` (keep only the latest) and `on_backpressure_reduce`
//! (merge it into the pending one).
//!
//! The downstream side is a drain [`Source`] that settles demand item by item, so the
//! upstream side always knows exactly how much demand is outstanding. The queue holds the
//! items already *covered* by downstream's demand (in the same thread they are delivered
//! at once; a queue forms only while another thread is draining) followed by at most one
//! *uncovered* item, the pending one, that waits for the next request.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Context as TaskContext;

use spillway_core::drain::{self, DrainHandle, Pulled, Source};
use spillway_core::{Context, Error, Publisher, SharedSubscription, Subscriber};

use crate::engine::support::{self, DrainSlot, Dropper, Panic, UpstreamSlot};
use crate::engine::StageName;
use crate::stats::{DropReason, FlowStats, OnDrop};

/// What to do with an item that arrives while downstream has no demand left.
pub(crate) enum Uncovered<O> {
    /// Keep it as the pending item (there was none).
    Keep(O),
    /// Keep it as the pending item; the previous pending item is dropped as superseded.
    Replace { keep: O, superseded: O },
    /// Keep the merge of the previous pending item and the new one.
    Merged(O),
    /// Drop the incoming item.
    Reject(O),
}

/// The strategy of a gate operator. Its methods may run user code: the gate calls them
/// outside its lock and catches their panics.
pub(crate) trait GatePolicy: Send + 'static {
    type In: Send + 'static;
    type Out: Send + 'static;
    /// The item to deliver for an incoming item that downstream's demand covers.
    fn covered(&mut self, item: Self::In) -> Self::Out;
    /// An item arrived without demand; `pending` is the undelivered pending item, if any.
    fn uncovered(&mut self, pending: Option<Self::Out>, item: Self::In) -> Uncovered<Self::Out>;
}

struct Inner<T, E> {
    /// Covered items, then at most one uncovered (pending) item.
    queue: VecDeque<T>,
    /// Upstream's terminal signal: delivered after the queue (a pending item is flushed
    /// on completion when demanded; on error it is discarded).
    end: Option<Result<(), Error<E>>>,
    /// A failure of the stage itself (a panic in user code), delivered at once.
    failed: Option<Error<E>>,
    /// Downstream cancelled or the stage terminated.
    closed: bool,
    /// Upstream has signalled its end (kept after `end` is delivered, so cleanup never
    /// cancels an upstream that already finished).
    upstream_done: bool,
}

struct Shared<T, E> {
    inner: Mutex<Inner<T, E>>,
    upstream: UpstreamSlot,
    drain: DrainSlot,
    dropper: Dropper<T>,
}

impl<T, E> Shared<T, E> {
    fn lock(&self) -> MutexGuard<'_, Inner<T, E>> {
        support::lock(&self.inner)
    }

    /// True if the next item pushed would be covered by downstream's demand.
    fn is_covered(&self, inner: &Inner<T, E>) -> bool {
        (inner.queue.len() as u64) < self.drain.demand().get()
    }
}

/// Subscribes `subscriber` to `upstream` through a gate with `policy`.
pub(crate) fn subscribe<P, G, K, S>(
    upstream: P,
    subscriber: S,
    policy: G,
    stats: FlowStats,
    on_drop: Option<OnDrop<G::Out>>,
) where
    P: Publisher<Item = G::In>,
    G: GatePolicy,
    K: StageName,
    S: Subscriber<Item = G::Out, Error = P::Error>,
{
    let subscriber = crate::named::attach(K::STAGE, Some(&stats), subscriber);
    let context = subscriber.context();
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            queue: VecDeque::new(),
            end: None,
            upstream_done: false,
            failed: None,
            closed: false,
        }),
        upstream: UpstreamSlot::default(),
        drain: DrainSlot::default(),
        dropper: Dropper::new(stats, on_drop),
    });
    drain::start(
        GateSource::<G::Out, P::Error, K>(Arc::clone(&shared), PhantomData),
        subscriber,
    );
    upstream.subscribe(GateUpstream::<G, P::Error, K> {
        shared,
        policy,
        context,
        _stage: PhantomData,
    });
}

/// The downstream side, pulled by the drain loop.
struct GateSource<T, E, K>(Arc<Shared<T, E>>, PhantomData<fn() -> K>);

impl<T: Send + 'static, E: Send + 'static, K: StageName> Source for GateSource<T, E, K> {
    type Item = T;
    type Error = E;
    const STAGE: &'static str = K::STAGE;
    const SETTLES_DEMAND: bool = true;

    fn attach(&mut self, drain: DrainHandle) {
        self.0.drain.set(drain);
    }

    fn pull(&mut self, _cx: &mut TaskContext<'_>) -> Pulled<T, E> {
        let shared = &self.0;
        let mut inner = shared.lock();
        if let Some(e) = inner.failed.take() {
            return Pulled::Error(e);
        }
        if let Some(item) = inner.queue.pop_front() {
            shared.drain.produced_one();
            shared.dropper.stats.set_buffered(inner.queue.len());
            shared.dropper.stats.record_emitted(1);
            return Pulled::Item(item);
        }
        match inner.end.take() {
            Some(Ok(())) => Pulled::Complete,
            Some(Err(e)) => Pulled::Error(e),
            None => Pulled::Pending,
        }
    }

    fn poll_end(&mut self, _cx: &mut TaskContext<'_>) -> Option<Pulled<T, E>> {
        let shared = &self.0;
        let mut inner = shared.lock();
        if let Some(e) = inner.failed.take() {
            return Some(Pulled::Error(e));
        }
        match inner.end.take() {
            // Completion waits for demand to flush the pending item.
            Some(Ok(())) if !inner.queue.is_empty() => {
                inner.end = Some(Ok(()));
                None
            }
            Some(Ok(())) => Some(Pulled::Complete),
            // An error does not wait: without demand, what is left is uncovered. It wins
            // over a panic in `on_drop` while discarding for it (the stage is ending with
            // upstream's error already; downstream error handling keys on it).
            Some(Err(e)) => {
                let left: Vec<T> = inner.queue.drain(..).collect();
                shared.dropper.stats.set_buffered(0);
                drop(inner);
                shared.dropper.discard_quietly(left, DropReason::Discarded);
                Some(Pulled::Error(e))
            }
            None => None,
        }
    }
}

impl<T, E, K> Drop for GateSource<T, E, K> {
    fn drop(&mut self) {
        // Downstream cancelled or the stage terminated: stop upstream, account for the rest
        // (a panic in `on_drop` here has nobody left to go to: caught and ignored).
        let mut inner = self.0.lock();
        inner.closed = true;
        let left: Vec<T> = inner.queue.drain(..).collect();
        let upstream_done = inner.upstream_done || inner.end.is_some();
        self.0.dropper.stats.set_buffered(0);
        drop(inner);
        if !upstream_done {
            self.0.upstream.cancel();
        }
        self.0.dropper.discard_quietly(left, DropReason::Discarded);
    }
}

/// The upstream side: requests unbounded demand and applies the policy.
struct GateUpstream<G: GatePolicy, E, K> {
    shared: Arc<Shared<G::Out, E>>,
    policy: G,
    context: Context,
    _stage: PhantomData<fn() -> K>,
}

impl<G: GatePolicy, E: Send + 'static, K: StageName> GateUpstream<G, E, K> {
    /// A panic in user code (the policy or `on_drop`): fail downstream at once, discard
    /// what is held (only counted if `on_drop` is the one that panicked), stop upstream.
    /// If downstream is already gone, there is nobody to fail: upstream was cancelled by
    /// the cancel itself.
    fn fail(&self, payload: Panic) {
        let shared = &self.shared;
        let mut inner = shared.lock();
        if !inner.closed && inner.failed.is_none() {
            inner.failed = Some(Error::from_panic(K::STAGE, payload));
        }
        inner.end = Some(Ok(())); // no further upstream signal is expected
        let cancel = !inner.upstream_done;
        inner.upstream_done = true;
        let left: Vec<G::Out> = inner.queue.drain(..).collect();
        shared.dropper.stats.set_buffered(0);
        drop(inner);
        if cancel {
            shared.upstream.cancel();
        }
        shared.dropper.discard_quietly(left, DropReason::Discarded);
        shared.drain.signal();
    }

    /// True if the stage no longer takes items.
    fn is_done(&self) -> bool {
        let inner = self.shared.lock();
        Self::no_more(&self.shared, &inner)
    }

    /// True if an item arriving now can no longer be delivered: downstream cancelled
    /// (even if the drain has not dropped its source yet, which closes the stage), the
    /// stage failed, or upstream already ended.
    fn no_more(shared: &Shared<G::Out, E>, inner: &Inner<G::Out, E>) -> bool {
        inner.closed || inner.upstream_done || inner.failed.is_some() || shared.drain.is_cancelled()
    }
}

impl<G, E, K> Subscriber for GateUpstream<G, E, K>
where
    G: GatePolicy,
    E: Send + 'static,
    K: StageName,
{
    type Item = G::In;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if !self.shared.upstream.set(subscription.clone()) {
            return; // rule 2.5
        }
        if self.shared.lock().closed {
            subscription.cancel();
            return;
        }
        self.shared.upstream.request(u64::MAX);
    }

    fn on_next(&mut self, item: G::In) {
        let shared = Arc::clone(&self.shared);
        let stats = &shared.dropper.stats;
        stats.record_received();
        let (covered, pending) = {
            let mut inner = shared.lock();
            if Self::no_more(&shared, &inner) {
                drop(inner);
                // A late item (after a terminal signal or cancel): converted only to be
                // counted and reported.
                return self.late(item);
            }
            if shared.is_covered(&inner) {
                (true, None)
            } else {
                let len = inner.queue.len() as u64;
                let pending = if len > shared.drain.demand().get() {
                    inner.queue.pop_back()
                } else {
                    None
                };
                (false, pending)
            }
        };
        // Items moved into user code: lost (counted, not reported) if it panics.
        let in_hand = 1 + u8::from(pending.is_some());
        let policy = &mut self.policy;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            if covered {
                Uncovered::Keep(policy.covered(item))
            } else {
                policy.uncovered(pending, item)
            }
        }));
        let decision = match outcome {
            Ok(d) => d,
            Err(payload) => {
                for _ in 0..in_hand {
                    stats.record_dropped(DropReason::Discarded);
                }
                return self.fail(payload);
            }
        };
        let mut inner = shared.lock();
        // Downstream may have cancelled (or the stage failed) while the policy ran: the
        // cancel has already emptied the queue, so an item kept now would stay held for
        // good. It is discarded instead.
        let open = !Self::no_more(&shared, &inner);
        let (kept, dropped, reason) = match decision {
            Uncovered::Keep(o) => (Some(o), None, DropReason::Superseded),
            Uncovered::Merged(o) => {
                stats.record_merged();
                (Some(o), None, DropReason::Superseded)
            }
            Uncovered::Replace { keep, superseded } => {
                (Some(keep), Some(superseded), DropReason::Superseded)
            }
            Uncovered::Reject(o) => (None, Some(o), DropReason::NoDemand),
        };
        let late = match kept {
            Some(o) if open => {
                inner.queue.push_back(o);
                None
            }
            other => other,
        };
        stats.set_buffered(inner.queue.len());
        drop(inner);
        // `on_drop` is user code: a panic fails the stage (nothing unwinds into upstream).
        let mut outcome = Ok(());
        if let Some(d) = dropped {
            outcome = shared.dropper.try_drop_item(d, reason);
        }
        if let Some(o) = late {
            if let Err(payload) = shared.dropper.try_drop_item(o, DropReason::Discarded) {
                outcome = outcome.and(Err(payload));
            }
        }
        if let Err(payload) = outcome {
            return self.fail(payload);
        }
        shared.drain.signal();
    }

    fn on_error(&mut self, error: Error<E>) {
        let mut inner = self.shared.lock();
        if !inner.upstream_done {
            inner.upstream_done = true;
            inner.end = Some(Err(error));
        }
        drop(inner);
        self.shared.drain.signal();
    }

    fn on_complete(&mut self) {
        let mut inner = self.shared.lock();
        if !inner.upstream_done {
            inner.upstream_done = true;
            inner.end = Some(Ok(()));
        }
        drop(inner);
        self.shared.drain.signal();
    }

    fn context(&self) -> Context {
        self.context.clone()
    }
}

impl<G: GatePolicy, E: Send + 'static, K: StageName> GateUpstream<G, E, K> {
    /// An item that can no longer be delivered (see [`no_more`](Self::no_more)): dropped
    /// as `Discarded`. The stage is already over, or its cancel is on its way: a panic in
    /// the policy or in `on_drop` here has nowhere to go but the count.
    fn late(&mut self, item: G::In) {
        let policy = &mut self.policy;
        match catch_unwind(AssertUnwindSafe(|| policy.covered(item))) {
            Ok(o) => self
                .shared
                .dropper
                .discard_quietly(Some(o), DropReason::Discarded),
            Err(_) => self
                .shared
                .dropper
                .stats
                .record_dropped(DropReason::Discarded),
        }
        debug_assert!(self.is_done());
    }
}
