//! The subscriber registry shared by `publish`, `replay` and `MulticastProcessor`: one
//! queue of items with a cursor per subscriber, each subscriber served by its own core
//! drain loop.
//!
//! Sequence numbers index the queue: `queue[0]` is item `head`, the last one is
//! `tail - 1`. Items in `pending..tail` have not yet reached every subscriber (they are
//! the "buffered" items of the stats); items in `head..pending` were delivered to all and
//! are only kept for replay. An item is *released* (counted as emitted, and its slot
//! handed back to upstream as new demand) when the slowest subscriber's cursor passes it.
//!
//! Lock order: a subscriber's drain lock, then the hub lock. The hub lock is never held
//! while calling a drain, upstream or a user callback.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Context as TaskContext;

use spillway_core::drain::{self, DrainHandle, Pulled, Source};
use spillway_core::{Context, Error, SharedSubscription, Stage, Subscriber};

use crate::engine::support::{self, Dropper, UpstreamSlot};
use crate::engine::StageName;
use crate::stats::{DropReason, FlowStats};

/// What happens to an item that arrives while the shared queue is full (the slowest
/// subscriber is `capacity` items behind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Full {
    /// Refuse it: the item goes back to the pusher (an upstream that emitted it broke
    /// its demand: `Error::ProtocolViolation`).
    Refuse,
    /// Evict the oldest undelivered item: subscribers that had not seen it lose it.
    DropOldest,
    /// Fail the hub with `Error::Overflow`.
    Fail,
}

/// The configuration of a hub.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HubConfig {
    /// Most undelivered items held.
    pub(crate) capacity: usize,
    /// Items already delivered to all that are kept for late subscribers.
    pub(crate) replay: usize,
    pub(crate) full: Full,
    /// Upstream demand: `Some(n)` requests `n` and replenishes at 75%; `None` requests
    /// unbounded demand.
    pub(crate) prefetch: Option<usize>,
}

/// The outcome of offering an item to the hub.
#[derive(Debug)]
pub(crate) enum Pushed<T> {
    /// Queued for this many subscribers (0: held for the next subscriber).
    Accepted(usize),
    /// The queue is full and the policy refuses: the item comes back.
    Refused(T),
    /// The queue is full and the policy failed the hub: the item comes back.
    Overflow(T),
    /// The hub is terminated or disconnected: the item comes back.
    Closed(T),
}

struct Slot {
    id: u64,
    cursor: u64,
    drain: Option<DrainHandle>,
}

struct Inner<T, E> {
    queue: VecDeque<T>,
    head: u64,
    pending: u64,
    subs: Vec<Slot>,
    next_id: u64,
    /// The drain handles of the subscribers, rebuilt when they change, cloned per push.
    signals: Arc<[DrainHandle]>,
    /// Requested upstream and not yet received (prefetch mode).
    in_flight: u64,
    /// Released since the last replenishing request.
    released: u64,
    /// The terminal signal, delivered to each subscriber after its queued items.
    end: Option<Result<(), Error<E>>>,
    /// The upstream subscription arrived.
    upstream_subscribed: bool,
    /// The hub was connected to an upstream (auto-disconnect applies only then).
    connected: bool,
    /// The context of the first subscriber, for the shared upstream.
    context: Option<Context>,
}

impl<T, E> Inner<T, E> {
    fn tail(&self) -> u64 {
        self.head + self.queue.len() as u64
    }

    fn undelivered(&self) -> usize {
        (self.tail() - self.pending) as usize
    }

    fn rebuild_signals(&mut self) {
        self.signals = self.subs.iter().filter_map(|s| s.drain.clone()).collect();
    }
}

/// The shared state of a hot publisher.
pub(crate) struct Hub<T, E> {
    inner: Mutex<Inner<T, E>>,
    upstream: UpstreamSlot,
    config: HubConfig,
    stage: Stage,
    dropper: Dropper<T>,
    /// Cancel upstream (and close the hub) when the last subscriber leaves (ref count).
    auto_disconnect: AtomicBool,
}

/// What a terminal or failure left to do once the lock is released.
struct Aftermath<T> {
    discarded: Vec<T>,
    reason: DropReason,
    signals: Option<Arc<[DrainHandle]>>,
    cancel_upstream: bool,
}

impl<T> Aftermath<T> {
    fn none() -> Self {
        Aftermath {
            discarded: Vec::new(),
            reason: DropReason::Discarded,
            signals: None,
            cancel_upstream: false,
        }
    }
}

impl<T, E> Hub<T, E>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    pub(crate) fn new(stage: Stage, config: HubConfig, dropper: Dropper<T>) -> Arc<Self> {
        Arc::new(Hub {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                head: 0,
                pending: 0,
                subs: Vec::new(),
                next_id: 0,
                signals: Arc::from(Vec::new()),
                in_flight: 0,
                released: 0,
                end: None,
                upstream_subscribed: false,
                connected: false,
                context: None,
            }),
            upstream: UpstreamSlot::default(),
            config,
            stage,
            dropper,
            auto_disconnect: AtomicBool::new(false),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T, E>> {
        support::lock(&self.inner)
    }

    pub(crate) fn stats(&self) -> FlowStats {
        self.dropper.stats.clone()
    }

    /// Number of subscribers now.
    pub(crate) fn subscriber_count(&self) -> usize {
        self.lock().subs.len()
    }

    /// True once the hub has a terminal signal (completed, failed or disconnected).
    pub(crate) fn is_terminated(&self) -> bool {
        self.lock().end.is_some()
    }

    /// The context to give the shared upstream: the first subscriber's.
    pub(crate) fn context(&self) -> Context {
        self.lock().context.clone().unwrap_or_default()
    }

    /// From now on, the last subscriber leaving disconnects the hub (ref count).
    pub(crate) fn set_auto_disconnect(&self) {
        self.auto_disconnect.store(true, Ordering::Release);
    }

    /// Marks the hub connected (before subscribing it upstream).
    pub(crate) fn mark_connected(&self) {
        self.lock().connected = true;
    }

    /// Adds a subscriber; returns how many subscribers there are now.
    pub(crate) fn subscribe<K, S>(self: &Arc<Self>, subscriber: S) -> usize
    where
        K: StageName,
        S: Subscriber<Item = T, Error = E>,
    {
        let id = {
            let mut inner = self.lock();
            if inner.context.is_none() {
                inner.context = Some(subscriber.context());
            }
            let tail = inner.tail();
            let replay_from = tail
                .saturating_sub(self.config.replay as u64)
                .max(inner.head);
            // Alone, a subscriber also gets what was held while nobody listened; otherwise
            // only what arrives from now on (plus the replayed items).
            let live_from = if inner.subs.is_empty() {
                inner.pending
            } else {
                tail
            };
            let id = inner.next_id;
            inner.next_id += 1;
            inner.subs.push(Slot {
                id,
                cursor: live_from.min(replay_from),
                drain: None,
            });
            id
        };
        let handle = drain::start(
            HubSource::<T, E, K> {
                hub: Arc::clone(self),
                id,
                marker: std::marker::PhantomData,
            },
            subscriber,
        );
        let count = {
            let mut inner = self.lock();
            if let Some(slot) = inner.subs.iter_mut().find(|s| s.id == id) {
                slot.drain = Some(handle.clone());
                inner.rebuild_signals();
            }
            inner.subs.len()
        };
        handle.signal();
        count
    }

    /// Releases what every subscriber has seen, trims the replay window, and returns
    /// how much to request upstream (prefetch mode).
    fn settle(&self, inner: &mut Inner<T, E>) -> u64 {
        if let Some(min) = inner.subs.iter().map(|s| s.cursor).min() {
            if min > inner.pending {
                let n = min - inner.pending;
                inner.pending = min;
                inner.released += n;
                self.dropper.stats.record_emitted(n);
            }
        }
        let min_cursor = inner
            .subs
            .iter()
            .map(|s| s.cursor)
            .min()
            .unwrap_or(u64::MAX);
        let keep_from = min_cursor
            .min(inner.pending)
            .min(inner.tail().saturating_sub(self.config.replay as u64));
        while inner.head < keep_from {
            inner.queue.pop_front();
            inner.head += 1;
        }
        self.dropper.stats.set_buffered(inner.undelivered());
        self.replenish(inner)
    }

    fn replenish(&self, inner: &mut Inner<T, E>) -> u64 {
        let Some(prefetch) = self.config.prefetch else {
            return 0;
        };
        if !inner.upstream_subscribed || inner.end.is_some() {
            return 0;
        }
        let limit = spillway_core::demand::replenish_threshold(prefetch as u64);
        if inner.released < limit {
            return 0;
        }
        let n = std::mem::take(&mut inner.released);
        inner.in_flight += n;
        n
    }

    fn pull(&self, id: u64) -> Pulled<T, E> {
        let mut inner = self.lock();
        let (head, tail) = (inner.head, inner.tail());
        let pending = inner.pending;
        let Some(slot) = inner.subs.iter_mut().find(|s| s.id == id) else {
            return Pulled::Pending;
        };
        slot.cursor = slot.cursor.max(head);
        if slot.cursor < tail {
            let at = slot.cursor;
            slot.cursor += 1;
            let item = inner.queue[(at - head) as usize].clone();
            let request = if at <= pending {
                self.settle(&mut inner)
            } else {
                0
            };
            drop(inner);
            self.upstream.request(request);
            return Pulled::Item(item);
        }
        match &inner.end {
            None => Pulled::Pending,
            Some(Ok(())) => Pulled::Complete,
            Some(Err(e)) => Pulled::Error(e.clone()),
        }
    }

    fn poll_end(&self, id: u64) -> Option<Pulled<T, E>> {
        let inner = self.lock();
        let tail = inner.tail();
        let slot = inner.subs.iter().find(|s| s.id == id)?;
        if slot.cursor.max(inner.head) < tail {
            return None;
        }
        match &inner.end {
            None => None,
            Some(Ok(())) => Some(Pulled::Complete),
            Some(Err(e)) => Some(Pulled::Error(e.clone())),
        }
    }

    /// A subscriber left (cancelled or terminated).
    fn remove(&self, id: u64) {
        let mut inner = self.lock();
        let before = inner.subs.len();
        inner.subs.retain(|s| s.id != id);
        if inner.subs.len() == before {
            return;
        }
        inner.rebuild_signals();
        if self.auto_disconnect.load(Ordering::Acquire) && inner.subs.is_empty() && inner.connected
        {
            // The last one out ends the connection: what no one will receive is discarded
            // (and counted), even when upstream has already finished; a later subscriber
            // gets the terminal signal, never items of the old connection.
            let after = if inner.end.is_none() {
                self.close(&mut inner, disconnected(self.stage))
            } else {
                self.discard_undelivered(&mut inner)
            };
            drop(inner);
            self.finish(after);
            return;
        }
        let request = if inner.subs.is_empty() {
            0
        } else {
            self.settle(&mut inner)
        };
        drop(inner);
        self.upstream.request(request);
    }

    /// Sets the terminal signal and discards the undelivered items, so that subscribers
    /// see it at once; the caller runs the returned aftermath outside the lock.
    fn close(&self, inner: &mut Inner<T, E>, error: Error<E>) -> Aftermath<T> {
        inner.end = Some(Err(error));
        Aftermath {
            cancel_upstream: true,
            ..self.discard_undelivered(inner)
        }
    }

    /// Discards the items that have not reached every subscriber (those kept only for
    /// replay stay); the caller runs the returned aftermath outside the lock.
    fn discard_undelivered(&self, inner: &mut Inner<T, E>) -> Aftermath<T> {
        let pending = inner.pending;
        let keep = (pending - inner.head) as usize;
        let discarded: Vec<T> = inner.queue.drain(keep..).collect();
        let tail = inner.tail();
        inner.pending = tail;
        for s in &mut inner.subs {
            s.cursor = s.cursor.max(tail);
        }
        self.dropper.stats.set_buffered(0);
        Aftermath {
            discarded,
            reason: DropReason::Discarded,
            signals: Some(inner.signals.clone()),
            cancel_upstream: false,
        }
    }

    fn finish(&self, after: Aftermath<T>) {
        if after.cancel_upstream {
            self.upstream.cancel();
        }
        // The hub's end is decided: a panic in `on_drop` has nobody left to go to.
        self.dropper.discard_quietly(after.discarded, after.reason);
        if let Some(signals) = after.signals {
            signal_all(&signals);
        }
    }

    /// A panic in `on_drop` while the hub runs: it fails (upstream cancelled, every
    /// subscriber gets `Error::Panicked` naming the stage), unless it has already ended.
    fn fail_with_panic(&self, payload: Box<dyn std::any::Any + Send>) {
        let mut inner = self.lock();
        if inner.end.is_some() {
            return;
        }
        let after = self.close(&mut inner, Error::from_panic(self.stage, payload));
        drop(inner);
        self.finish(after);
    }

    /// Offers an item. `from_upstream`: it was requested upstream (prefetch mode).
    pub(crate) fn push(&self, item: T, from_upstream: bool) -> Pushed<T> {
        let mut inner = self.lock();
        if inner.end.is_some() {
            return Pushed::Closed(item);
        }
        if from_upstream && self.config.prefetch.is_some() {
            if inner.in_flight == 0 {
                let after = self.close(
                    &mut inner,
                    Error::ProtocolViolation {
                        stage: self.stage,
                        what: "upstream emitted more items than requested",
                    },
                );
                drop(inner);
                self.finish(after);
                return Pushed::Overflow(item);
            }
            inner.in_flight -= 1;
        }
        let mut after = Aftermath::none();
        if inner.undelivered() >= self.config.capacity {
            match self.config.full {
                Full::Refuse if !from_upstream => return Pushed::Refused(item),
                Full::Refuse | Full::Fail => {
                    let capacity = self.config.capacity;
                    let after = self.close(
                        &mut inner,
                        Error::Overflow {
                            stage: self.stage,
                            capacity,
                        },
                    );
                    drop(inner);
                    self.finish(after);
                    return Pushed::Overflow(item);
                }
                Full::DropOldest => {
                    let oldest = inner.pending;
                    let at = (oldest - inner.head) as usize;
                    let evicted = inner.queue.remove(at).expect("a full queue has items");
                    // Shift the sequence numbers above the hole down by one: subscribers
                    // that had passed the evicted item keep their place.
                    for s in &mut inner.subs {
                        if s.cursor > oldest {
                            s.cursor -= 1;
                        }
                    }
                    after.discarded.push(evicted);
                    after.reason = DropReason::Evicted;
                }
            }
        }
        inner.queue.push_back(item);
        self.dropper.stats.record_received();
        self.dropper.stats.set_buffered(inner.undelivered());
        let listeners = inner.subs.len();
        let signals = inner.signals.clone();
        drop(inner);
        if let Err(payload) = self.dropper.try_drop_all(after.discarded, after.reason) {
            self.fail_with_panic(payload);
        }
        signal_all(&signals);
        Pushed::Accepted(listeners)
    }

    /// Ends the hub with `end` (ignored if it already ended); queued items are still
    /// delivered before it.
    pub(crate) fn terminate(&self, end: Result<(), Error<E>>, cancel_upstream: bool) -> bool {
        let mut inner = self.lock();
        if inner.end.is_some() {
            return false;
        }
        inner.end = Some(end);
        let signals = inner.signals.clone();
        drop(inner);
        if cancel_upstream {
            self.upstream.cancel();
        }
        signal_all(&signals);
        true
    }

    /// Disconnects: cancels upstream; subscribers get `Error::Rejected` at once.
    pub(crate) fn disconnect(&self) {
        let mut inner = self.lock();
        if inner.end.is_some() {
            drop(inner);
            self.upstream.cancel();
            return;
        }
        let after = self.close(&mut inner, disconnected(self.stage));
        drop(inner);
        self.finish(after);
    }

    /// Upstream's subscription arrived: request the prefetch (or unbounded demand).
    pub(crate) fn on_upstream_subscribe(&self, subscription: SharedSubscription) {
        if self.upstream.is_set() {
            subscription.cancel(); // rule 2.5
            return;
        }
        let mut inner = self.lock();
        if inner.end.is_some() {
            drop(inner);
            subscription.cancel();
            return;
        }
        inner.upstream_subscribed = true;
        let n = match self.config.prefetch {
            Some(p) => {
                inner.in_flight += p as u64;
                p as u64
            }
            None => u64::MAX,
        };
        drop(inner);
        // Before `set`: the first request and the drain's reach upstream one by one.
        self.upstream.request(n);
        self.upstream.set(subscription);
    }

    /// An item from upstream; a late or excess one is dropped as `Discarded`.
    pub(crate) fn on_upstream_next(&self, item: T) {
        match self.push(item, true) {
            Pushed::Accepted(_) => {}
            Pushed::Refused(item) | Pushed::Overflow(item) | Pushed::Closed(item) => {
                self.dropper.stats.record_received();
                if let Err(payload) = self.dropper.try_drop_item(item, DropReason::Discarded) {
                    self.fail_with_panic(payload);
                }
            }
        }
    }
}

/// Runs every subscriber's drain loop. A hand-written subscriber that panics has already
/// been cancelled and released by its drain loop; the panic stops there, so that it
/// reaches neither the shared upstream nor the pusher nor the other subscribers (it is
/// re-raised only to a caller of that subscriber's own `request`).
fn signal_all(signals: &[DrainHandle]) {
    for s in signals {
        let _ = catch_unwind(AssertUnwindSafe(|| s.signal()));
    }
}

fn disconnected<E>(stage: Stage) -> Error<E> {
    Error::Rejected {
        stage,
        reason: "disconnected: the shared upstream was cancelled",
    }
}

/// The downstream side of one subscriber: a drain-loop source reading at its cursor.
/// Dropping it (cancel or terminal) removes the subscriber from the hub.
struct HubSource<T, E, K>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    hub: Arc<Hub<T, E>>,
    id: u64,
    marker: std::marker::PhantomData<fn() -> K>,
}

impl<T, E, K> Source for HubSource<T, E, K>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
    K: StageName,
{
    type Item = T;
    type Error = E;
    const STAGE: Stage = K::STAGE;

    fn pull(&mut self, _cx: &mut TaskContext<'_>) -> Pulled<T, E> {
        self.hub.pull(self.id)
    }

    fn poll_end(&mut self, _cx: &mut TaskContext<'_>) -> Option<Pulled<T, E>> {
        self.hub.poll_end(self.id)
    }
}

impl<T, E, K> Drop for HubSource<T, E, K>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    fn drop(&mut self) {
        self.hub.remove(self.id);
    }
}

/// The upstream side: a subscriber feeding the hub.
pub(crate) struct HubUpstream<T, E>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    pub(crate) hub: Arc<Hub<T, E>>,
}

impl<T, E> Subscriber for HubUpstream<T, E>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.hub.on_upstream_subscribe(subscription);
    }

    fn on_next(&mut self, item: T) {
        self.hub.on_upstream_next(item);
    }

    fn on_error(&mut self, error: Error<E>) {
        self.hub.terminate(Err(error), false);
    }

    fn on_complete(&mut self) {
        self.hub.terminate(Ok(()), false);
    }

    fn context(&self) -> Context {
        self.hub.context()
    }
}
