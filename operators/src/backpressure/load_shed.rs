//! `load_shed`: a bounded buffer that, when full, sheds its lowest-priority item.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::Context as TaskContext;

use spillway_core::drain::{self, DrainHandle, Pulled, Source};
use spillway_core::{ConfigError, Context, Error, Publisher, SharedSubscription, Subscriber};

use crate::engine::queue::{Held, QueueCore};
use crate::engine::support::Dropper;
use crate::stats::{DropReason, FlowStats, OnDrop};

const STAGE: &str = "load_shed";

/// Publisher for the [`load_shed`](crate::OperatorExt::load_shed) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct LoadShed<P: Publisher, F> {
    upstream: P,
    capacity: usize,
    priority: F,
    stats: FlowStats,
    on_drop: Option<OnDrop<P::Item>>,
}

impl<P: Publisher, F> LoadShed<P, F> {
    pub(crate) fn new(upstream: P, capacity: usize, priority: F) -> Result<Self, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::new(STAGE, "the capacity must be at least 1"));
        }
        Ok(LoadShed {
            upstream,
            capacity,
            priority,
            stats: FlowStats::new(capacity),
            on_drop: None,
        })
    }

    crate::drop_builders! {
        item: P::Item,
        /// Calls `f` with every dropped item and the reason, on the thread that dropped it.
        /// A panic in `f` never unwinds into the caller: the stage cancels upstream and fails
        /// with [`Error::Panicked`](spillway_core::Error::Panicked), unless it was ending
        /// already (see [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
        on_drop,
        /// The live statistics of this stage (shared by all its subscriptions).
        stats,
    }
}

/// The buffer, in arrival order, each item with its priority.
struct ByPriority<K, T>(VecDeque<(K, T)>);

impl<K: Send + 'static, T: Send + 'static> Held for ByPriority<K, T> {
    type Item = T;

    fn len(&self) -> usize {
        self.0.len()
    }

    fn take_all(&mut self) -> Vec<T> {
        self.0.drain(..).map(|(_, t)| t).collect()
    }
}

type Core<K, T, E> = QueueCore<ByPriority<K, T>, (), E>;

impl<P, F, K> Publisher for LoadShed<P, F>
where
    P: Publisher,
    F: FnMut(&P::Item) -> K + Send + 'static,
    K: Ord + Send + 'static,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        let subscriber = crate::named::attach(STAGE, Some(&self.stats), subscriber);
        let context = subscriber.context();
        let held = ByPriority(VecDeque::new());
        let dropper = Dropper::new(self.stats, self.on_drop);
        let core = Arc::new(QueueCore::new(STAGE, held, (), dropper));
        drain::start(ShedSource(Arc::clone(&core)), subscriber);
        self.upstream.subscribe(ShedUpstream {
            core,
            capacity: self.capacity,
            priority: self.priority,
            context,
        });
    }
}

/// The downstream side: hands out the buffer in arrival order.
struct ShedSource<K: Send + 'static, T: Send + 'static, E>(Arc<Core<K, T, E>>);

impl<K: Send + 'static, T: Send + 'static, E: Send + 'static> Source for ShedSource<K, T, E> {
    type Item = T;
    type Error = E;
    const STAGE: &'static str = STAGE;

    fn attach(&mut self, drain: DrainHandle) {
        self.0.drain.set(drain);
    }

    fn pull(&mut self, _cx: &mut TaskContext<'_>) -> Pulled<T, E> {
        let stats = &self.0.dropper.stats;
        self.0.pull(|locked| {
            let (_, item) = locked.held.0.pop_front()?;
            stats.record_emitted(1);
            stats.set_buffered(locked.held.0.len());
            Some(item)
        })
    }

    fn poll_end(&mut self, _cx: &mut TaskContext<'_>) -> Option<Pulled<T, E>> {
        self.0.poll_end()
    }
}

impl<K: Send + 'static, T: Send + 'static, E> Drop for ShedSource<K, T, E> {
    fn drop(&mut self) {
        self.0.close(|_| {});
    }
}

/// The upstream side: requests everything and sheds when the buffer is full.
struct ShedUpstream<K: Send + 'static, T: Send + 'static, E, F> {
    core: Arc<Core<K, T, E>>,
    capacity: usize,
    priority: F,
    context: Context,
}

impl<K, T, E, F> Subscriber for ShedUpstream<K, T, E, F>
where
    K: Ord + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    F: FnMut(&T) -> K + Send + 'static,
{
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.core.upstream_subscribed(subscription, |_| u64::MAX);
    }

    fn on_next(&mut self, item: T) {
        let core = &self.core;
        core.dropper.stats.record_received();
        if core.lock().life.upstream_done() {
            return core.discard_late(item);
        }
        let priority = &mut self.priority;
        let key = match catch_unwind(AssertUnwindSafe(|| priority(&item))) {
            Ok(k) => k,
            Err(payload) => return core.fail_panicked(payload, Some(item)),
        };
        let mut locked = core.lock();
        if !locked.life.is_open() {
            drop(locked);
            return core.discard_late(item);
        }
        let queue = &mut locked.held.0;
        let shed = if queue.len() < self.capacity {
            queue.push_back((key, item));
            None
        } else {
            // The oldest of the lowest-priority buffered items, unless the incoming one is
            // lower still or equal (first come, first kept). The priority's `Ord` is user
            // code too: it runs under the lock but changes nothing, so a panic in it is
            // caught here, before the guard could see it.
            let lowest = catch_unwind(AssertUnwindSafe(|| {
                let (idx, lowest) = queue
                    .iter()
                    .enumerate()
                    .min_by(|(i, a), (j, b)| a.0.cmp(&b.0).then(i.cmp(j)))
                    .map(|(i, (k, _))| (i, k))
                    .expect("a full buffer is not empty");
                (key > *lowest).then_some(idx)
            }));
            match lowest {
                Ok(None) => Some(item),
                Ok(Some(idx)) => {
                    let evicted = queue.remove(idx).map(|(_, t)| t);
                    queue.push_back((key, item));
                    evicted
                }
                Err(payload) => {
                    drop(locked);
                    return core.fail_panicked(payload, Some(item));
                }
            }
        };
        core.dropper.stats.set_buffered(locked.held.0.len());
        drop(locked);
        // `on_drop` is user code: a panic fails the stage instead of unwinding into
        // upstream.
        core.drop_or_fail(shed, DropReason::Shed);
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

impl<P: Publisher + fmt::Debug, F> fmt::Debug for LoadShed<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadShed")
            .field("upstream", &self.upstream)
            .field("capacity", &self.capacity)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
