//! `load_shed`: a bounded buffer that, when full, sheds its lowest-priority item.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Context as TaskContext;

use spillway_core::drain::{self, DrainHandle, Pulled, Source};
use spillway_core::{ConfigError, Context, Error, Publisher, SharedSubscription, Subscriber};

use crate::engine::support::{self, DrainSlot, Dropper, Panic, UpstreamSlot};
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

    /// Calls `f` with every dropped item and the reason, on the thread that dropped it.
    /// A panic in `f` never unwinds into the caller: the stage cancels upstream and fails
    /// with [`Error::Panicked`](spillway_core::Error::Panicked), unless it was ending
    /// already (see [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
    pub fn on_drop<G>(mut self, f: G) -> Self
    where
        G: Fn(P::Item, DropReason) + Send + Sync + 'static,
    {
        self.on_drop = Some(support::on_drop(f));
        self
    }

    /// The live statistics of this stage (shared by all its subscriptions).
    pub fn stats(&self) -> FlowStats {
        self.stats.clone()
    }
}

struct Inner<K, T, E> {
    /// In arrival order, each with its priority.
    queue: VecDeque<(K, T)>,
    end: Option<Result<(), Error<E>>>,
    failed: Option<Error<E>>,
    closed: bool,
    upstream_done: bool,
}

struct Shared<K, T, E> {
    inner: Mutex<Inner<K, T, E>>,
    capacity: usize,
    upstream: UpstreamSlot,
    drain: DrainSlot,
    dropper: Dropper<T>,
}

impl<K, T, E> Shared<K, T, E> {
    fn lock(&self) -> MutexGuard<'_, Inner<K, T, E>> {
        support::lock(&self.inner)
    }

    /// A panic in user code (`priority`, the priority's `Ord`, `on_drop`): fails the stage
    /// with `Error::Panicked` delivered at once, discards the buffer and `extra` (counted;
    /// `on_drop` is not called again if it is the culprit) and cancels upstream. Nothing
    /// to fail if downstream is gone (its cancel stopped upstream) or upstream already
    /// ended (the items are only discarded).
    fn fail(&self, payload: Panic, extra: Option<T>) {
        let mut inner = self.lock();
        let live = !inner.upstream_done && !inner.closed;
        if live {
            inner.upstream_done = true;
            inner.failed = Some(Error::from_panic(STAGE, payload));
        }
        let left: Vec<T> = inner.queue.drain(..).map(|(_, t)| t).chain(extra).collect();
        self.dropper.stats.set_buffered(0);
        drop(inner);
        if live {
            self.upstream.cancel();
        }
        self.dropper.discard_quietly(left, DropReason::Discarded);
        self.drain.signal();
    }
}

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
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                end: None,
                failed: None,
                closed: false,
                upstream_done: false,
            }),
            capacity: self.capacity,
            upstream: UpstreamSlot::default(),
            drain: DrainSlot::default(),
            dropper: Dropper::new(self.stats, self.on_drop),
        });
        drain::start(ShedSource(Arc::clone(&shared)), subscriber);
        self.upstream.subscribe(ShedUpstream {
            shared,
            priority: self.priority,
            context,
        });
    }
}

struct ShedSource<K, T, E>(Arc<Shared<K, T, E>>);

impl<K: Send + 'static, T: Send + 'static, E: Send + 'static> Source for ShedSource<K, T, E> {
    type Item = T;
    type Error = E;
    const STAGE: &'static str = STAGE;

    fn attach(&mut self, drain: DrainHandle) {
        self.0.drain.set(drain);
    }

    fn pull(&mut self, _cx: &mut TaskContext<'_>) -> Pulled<T, E> {
        let shared = &self.0;
        let mut inner = shared.lock();
        if let Some(e) = inner.failed.take() {
            return Pulled::Error(e);
        }
        if let Some((_, item)) = inner.queue.pop_front() {
            shared.dropper.stats.record_emitted(1);
            shared.dropper.stats.set_buffered(inner.queue.len());
            return Pulled::Item(item);
        }
        match inner.end.take() {
            Some(Ok(())) => Pulled::Complete,
            Some(Err(e)) => Pulled::Error(e),
            None => Pulled::Pending,
        }
    }

    fn poll_end(&mut self, _cx: &mut TaskContext<'_>) -> Option<Pulled<T, E>> {
        let mut inner = self.0.lock();
        if let Some(e) = inner.failed.take() {
            return Some(Pulled::Error(e));
        }
        if !inner.queue.is_empty() {
            return None;
        }
        match inner.end.take() {
            Some(Ok(())) => Some(Pulled::Complete),
            Some(Err(e)) => Some(Pulled::Error(e)),
            None => None,
        }
    }
}

impl<K, T, E> Drop for ShedSource<K, T, E> {
    fn drop(&mut self) {
        let shared = &self.0;
        let mut inner = shared.lock();
        inner.closed = true;
        let left: Vec<T> = inner.queue.drain(..).map(|(_, t)| t).collect();
        let cancel = !inner.upstream_done && inner.end.is_none();
        inner.upstream_done = true;
        shared.dropper.stats.set_buffered(0);
        drop(inner);
        if cancel {
            shared.upstream.cancel();
        }
        // Nobody is left to tell of a panic in `on_drop` here: caught and ignored.
        shared.dropper.discard_quietly(left, DropReason::Discarded);
    }
}

struct ShedUpstream<K, T, E, F> {
    shared: Arc<Shared<K, T, E>>,
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
        if !self.shared.upstream.set(subscription.clone()) {
            return;
        }
        if self.shared.lock().closed {
            subscription.cancel();
            return;
        }
        subscription.request(u64::MAX);
    }

    fn on_next(&mut self, item: T) {
        let shared = &self.shared;
        shared.dropper.stats.record_received();
        if shared.lock().upstream_done {
            // Late (the stage is over): a panic in `on_drop` has nobody to go to.
            shared
                .dropper
                .discard_quietly(Some(item), DropReason::Discarded);
            return;
        }
        let priority = &mut self.priority;
        let key = match catch_unwind(AssertUnwindSafe(|| priority(&item))) {
            Ok(k) => k,
            Err(payload) => return shared.fail(payload, Some(item)),
        };
        let mut inner = shared.lock();
        if inner.upstream_done || inner.closed {
            drop(inner);
            shared
                .dropper
                .discard_quietly(Some(item), DropReason::Discarded);
            return;
        }
        let shed = if inner.queue.len() < shared.capacity {
            inner.queue.push_back((key, item));
            None
        } else {
            // The oldest of the lowest-priority buffered items, unless the incoming one is
            // lower still or equal (first come, first kept). The priority's `Ord` is user
            // code too: it runs under the lock but changes nothing, so a panic in it is
            // caught here, before the guard could see it.
            let queue = &inner.queue;
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
                    let evicted = inner.queue.remove(idx).map(|(_, t)| t);
                    inner.queue.push_back((key, item));
                    evicted
                }
                Err(payload) => {
                    drop(inner);
                    return shared.fail(payload, Some(item));
                }
            }
        };
        shared.dropper.stats.set_buffered(inner.queue.len());
        drop(inner);
        if let Some(victim) = shed {
            // `on_drop` is user code: a panic fails the stage instead of unwinding into
            // upstream.
            if let Err(payload) = shared.dropper.try_drop_item(victim, DropReason::Shed) {
                return shared.fail(payload, None);
            }
        }
        shared.drain.signal();
    }

    fn on_error(&mut self, error: Error<E>) {
        self.end(Err(error));
    }

    fn on_complete(&mut self) {
        self.end(Ok(()));
    }

    fn context(&self) -> Context {
        self.context.clone()
    }
}

impl<K, T, E, F> ShedUpstream<K, T, E, F> {
    fn end(&mut self, end: Result<(), Error<E>>) {
        let mut inner = self.shared.lock();
        if inner.upstream_done {
            return;
        }
        inner.upstream_done = true;
        inner.end = Some(end);
        drop(inner);
        self.shared.drain.signal();
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
