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
use std::sync::Arc;
use std::task::Context as TaskContext;

use spillway_core::drain::{self, DrainHandle, Pulled, Source};
use spillway_core::{Context, Error, Publisher, SharedSubscription, Subscriber};

use crate::engine::queue::{Held, Lifecycle, QueueCore};
use crate::engine::support::Dropper;
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

/// Covered items, then at most one uncovered (pending) item.
type Core<T, E> = QueueCore<VecDeque<T>, (), E>;

/// True if the next item pushed would be covered by downstream's demand.
fn is_covered<T: Send + 'static, E>(core: &Core<T, E>, queue: &VecDeque<T>) -> bool {
    (queue.len() as u64) < core.drain.demand().get()
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
    let dropper = Dropper::new(stats, on_drop);
    let core = Arc::new(QueueCore::new(K::STAGE, VecDeque::new(), (), dropper));
    drain::start(
        GateSource::<G::Out, P::Error, K>(Arc::clone(&core), PhantomData),
        subscriber,
    );
    upstream.subscribe(GateUpstream::<G, P::Error, K> {
        core,
        policy,
        context,
        _stage: PhantomData,
    });
}

/// The downstream side, pulled by the drain loop.
struct GateSource<T: Send + 'static, E, K>(Arc<Core<T, E>>, PhantomData<fn() -> K>);

impl<T: Send + 'static, E: Send + 'static, K: StageName> Source for GateSource<T, E, K> {
    type Item = T;
    type Error = E;
    const STAGE: &'static str = K::STAGE;
    const SETTLES_DEMAND: bool = true;

    fn attach(&mut self, drain: DrainHandle) {
        self.0.drain.set(drain);
    }

    fn pull(&mut self, _cx: &mut TaskContext<'_>) -> Pulled<T, E> {
        let core = &self.0;
        core.pull(|locked| core.hand_out(locked))
    }

    /// Completion waits for demand to flush the pending item. An error does not wait:
    /// without demand, what is left is uncovered, and discarded. The error wins over a
    /// panic in `on_drop` while discarding for it (the stage is ending with upstream's
    /// error already; downstream error handling keys on it).
    fn poll_end(&mut self, _cx: &mut TaskContext<'_>) -> Option<Pulled<T, E>> {
        let core = &self.0;
        let mut locked = core.lock();
        if let Some(failure) = locked.life.take_failure() {
            return Some(failure);
        }
        if locked.held.is_empty() {
            return locked.life.take_end();
        }
        if !locked.life.ends_in_error() {
            return None;
        }
        let end = locked.life.take_end();
        let left = locked.held.take_all();
        core.dropper.stats.set_buffered(0);
        drop(locked);
        core.dropper.discard_quietly(left, DropReason::Discarded);
        end
    }
}

impl<T: Send + 'static, E, K> Drop for GateSource<T, E, K> {
    fn drop(&mut self) {
        self.0.close(|_| {});
    }
}

/// The upstream side: requests unbounded demand and applies the policy.
struct GateUpstream<G: GatePolicy, E, K> {
    core: Arc<Core<G::Out, E>>,
    policy: G,
    context: Context,
    _stage: PhantomData<fn() -> K>,
}

impl<G: GatePolicy, E: Send + 'static, K: StageName> GateUpstream<G, E, K> {
    /// True if the stage no longer takes items.
    fn is_done(&self) -> bool {
        let locked = self.core.lock();
        Self::no_more(&self.core, &locked.life)
    }

    /// True if an item arriving now can no longer be delivered: downstream cancelled
    /// (even if the drain has not dropped its source yet, which closes the stage), the
    /// stage failed, or upstream already ended.
    fn no_more(core: &Core<G::Out, E>, life: &Lifecycle<E>) -> bool {
        !life.is_open() || core.drain.is_cancelled()
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
        self.core.upstream_subscribed(subscription, |_| u64::MAX);
    }

    fn on_next(&mut self, item: G::In) {
        let core = Arc::clone(&self.core);
        let stats = &core.dropper.stats;
        stats.record_received();
        let (covered, pending) = {
            let mut locked = core.lock();
            if Self::no_more(&core, &locked.life) {
                drop(locked);
                // A late item (after a terminal signal or cancel): converted only to be
                // counted and reported.
                return self.late(item);
            }
            if is_covered(&core, &locked.held) {
                (true, None)
            } else {
                let len = locked.held.len() as u64;
                let pending = if len > core.drain.demand().get() {
                    locked.held.pop_back()
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
                return core.fail_panicked(payload, None);
            }
        };
        let mut locked = core.lock();
        // Downstream may have cancelled (or the stage failed) while the policy ran: the
        // cancel has already emptied the queue, so an item kept now would stay held for
        // good. It is discarded instead.
        let open = !Self::no_more(&core, &locked.life);
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
                locked.held.push_back(o);
                None
            }
            other => other,
        };
        stats.set_buffered(locked.held.len());
        drop(locked);
        // `on_drop` is user code: a panic fails the stage (nothing unwinds into upstream).
        let mut outcome = Ok(());
        if let Some(d) = dropped {
            outcome = core.dropper.try_drop_item(d, reason);
        }
        if let Some(o) = late {
            if let Err(payload) = core.dropper.try_drop_item(o, DropReason::Discarded) {
                outcome = outcome.and(Err(payload));
            }
        }
        if let Err(payload) = outcome {
            return core.fail_panicked(payload, None);
        }
        core.drain.signal();
    }

    fn on_error(&mut self, error: Error<E>) {
        self.core.upstream_ended(Err(error), |_| {});
    }

    fn on_complete(&mut self) {
        self.core.upstream_ended(Ok(()), |_| {});
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
            Ok(o) => self.core.discard_late(o),
            Err(_) => self
                .core
                .dropper
                .stats
                .record_dropped(DropReason::Discarded),
        }
        debug_assert!(self.is_done());
    }
}
