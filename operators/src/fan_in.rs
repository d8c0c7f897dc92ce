//! The machinery shared by the operators that combine several upstreams (`merge`,
//! `flat_map`, `concat_map`, `switch_map`, `zip`, `combine_latest`): one *lane* per inner
//! upstream (a queue plus prefetch credit, replenished once 75% of the prefetch was
//! consumed), an optional *outer* upstream that opens lanes, and a downstream side run by
//! the core drain loop, which serializes the signals coming from all those threads.
//!
//! Each operator only supplies a [`Policy`]: which lane to take the next item from, and
//! when the whole thing is finished. Everything else — requests, cancellation of every
//! upstream, fail-fast errors, protocol checks — lives here once.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Context as TaskContext;

use spillway_core::drain::{self, DrainHandle, Pulled, Source};
use spillway_core::{
    ConfigError, Context, Demand, Error, Publisher, SharedSubscription, Stage, Subscriber,
};

use crate::support::{self, DrainSlot, StageName};

/// The prefetch of the combining operators unless configured otherwise.
pub(crate) const DEFAULT_PREFETCH: usize = 32;

/// Checks a prefetch or concurrency setting: at least 1.
pub(crate) fn at_least_one(
    stage: Stage,
    what: &'static str,
    n: usize,
) -> Result<usize, ConfigError> {
    if n == 0 {
        return Err(ConfigError::new(stage, what));
    }
    Ok(n)
}

/// One of two item types: lets `zip` and `combine_latest` run two upstreams of different
/// item types through lanes of one type.
#[derive(Debug)]
pub(crate) enum Either<A, B> {
    Left(A),
    Right(B),
}

/// A publisher with its type erased down to "subscribe this subscriber `S`": lets
/// `merge` and `concat` hold sources of different types.
pub(crate) type Thunk<S> = Box<dyn FnOnce(S) + Send>;

/// Erases `publisher` into a [`Thunk`].
pub(crate) fn thunk<P, S>(publisher: P) -> Thunk<S>
where
    P: Publisher + Send + 'static,
    S: Subscriber<Item = P::Item, Error = P::Error>,
{
    Box::new(move |inner| publisher.subscribe(inner))
}

/// Prefetch credit of one upstream: requests `prefetch` up front, then, each time 75% of
/// it has been consumed, that many again; counts what is outstanding to catch an
/// upstream that sends more than it was asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Credit {
    prefetch: u64,
    limit: u64,
    consumed: u64,
    outstanding: u64,
}

impl Credit {
    pub(crate) fn new(prefetch: usize) -> Credit {
        let prefetch = prefetch as u64;
        Credit {
            prefetch,
            limit: (prefetch - prefetch / 4).max(1),
            consumed: 0,
            outstanding: 0,
        }
    }

    /// The first request.
    fn initial(&mut self) -> u64 {
        self.outstanding += self.prefetch;
        self.prefetch
    }

    /// An item arrived; false if none was outstanding (a protocol violation).
    fn received(&mut self) -> bool {
        if self.outstanding == 0 {
            return false;
        }
        self.outstanding -= 1;
        true
    }

    /// An item was handed downstream; returns how much to request now (0 or the limit).
    fn consumed(&mut self) -> u64 {
        self.consumed += 1;
        if self.consumed < self.limit {
            return 0;
        }
        let n = std::mem::take(&mut self.consumed);
        self.outstanding += n;
        n
    }
}

/// One inner upstream: its queued items (tagged with their arrival order), its credit,
/// and its subscription while it is active.
struct Lane<T> {
    queue: VecDeque<(u64, T)>,
    credit: Credit,
    done: bool,
    upstream: Option<SharedSubscription>,
}

/// Everything behind the lock; policies read and pop lanes through its methods.
pub(crate) struct State<T, E> {
    lanes: BTreeMap<u64, Lane<T>>,
    next_id: u64,
    /// Arrival counter: items are tagged with it, so a policy can follow arrival order.
    seq: u64,
    /// The lane served last by the round-robin policy.
    cursor: u64,
    /// Lanes that completed and were drained.
    ended: BTreeSet<u64>,
    error: Option<Error<E>>,
    /// Failed, cancelled or terminated: no more lanes, late signals dropped.
    closed: bool,
    /// More lanes may still open (the outer upstream has not completed).
    outer_open: bool,
    outer: Option<SharedSubscription>,
    /// What the outer upstream may still send (unbounded for `switch_map`).
    outer_outstanding: Demand,
    /// Replenishing requests to make once the lock is released.
    requests: Vec<(SharedSubscription, u64)>,
}

impl<T, E> State<T, E> {
    /// Pops the head of lane `id`, scheduling its replenishment; removes the lane once it
    /// is completed and drained.
    pub(crate) fn pop_lane(&mut self, id: u64) -> Option<T> {
        let lane = self.lanes.get_mut(&id)?;
        let (_, item) = lane.queue.pop_front()?;
        if lane.done {
            if lane.queue.is_empty() {
                self.lanes.remove(&id);
                self.ended.insert(id);
            }
        } else {
            let n = lane.credit.consumed();
            if let (true, Some(up)) = (n > 0, &lane.upstream) {
                self.requests.push((up.clone(), n));
            }
        }
        Some(item)
    }

    /// Round robin over the lanes that have items, starting after the last one served.
    pub(crate) fn pop_round_robin(&mut self) -> Option<T> {
        let has_items = |(id, lane): (&u64, &Lane<T>)| (!lane.queue.is_empty()).then_some(*id);
        let id = self
            .lanes
            .range(self.cursor.saturating_add(1)..)
            .find_map(has_items)
            .or_else(|| self.lanes.range(..=self.cursor).find_map(has_items))?;
        self.cursor = id;
        self.pop_lane(id)
    }

    /// The oldest lane only: items in subscription order (`concat_map`).
    pub(crate) fn pop_oldest(&mut self) -> Option<T> {
        let id = *self.lanes.keys().next()?;
        self.pop_lane(id)
    }

    /// The arrival number of lane `id`'s head item.
    pub(crate) fn head(&self, id: u64) -> Option<u64> {
        self.lanes.get(&id)?.queue.front().map(|(seq, _)| *seq)
    }

    /// True once lane `id` completed and was drained.
    pub(crate) fn is_ended(&self, id: u64) -> bool {
        self.ended.contains(&id)
    }

    /// No lane left and none to come.
    pub(crate) fn all_done(&self) -> bool {
        !self.outer_open && self.lanes.is_empty()
    }
}

/// What a combining operator decides: the next output, and when it is over.
pub(crate) trait Policy<T, E>: Send + 'static {
    type Out: Send + 'static;
    type Stage: StageName;
    /// The next item for downstream, popped from the lanes (called under the lock).
    fn next(&mut self, state: &mut State<T, E>) -> Option<Self::Out>;
    /// True when nothing more can be emitted: complete.
    fn finished(&self, state: &State<T, E>) -> bool;
}

/// Round robin between the lanes that have items; finished when every lane is.
pub(crate) struct RoundRobin<K>(pub(crate) PhantomData<fn() -> K>);

impl<T: Send + 'static, E, K: StageName> Policy<T, E> for RoundRobin<K> {
    type Out = T;
    type Stage = K;
    fn next(&mut self, state: &mut State<T, E>) -> Option<T> {
        state.pop_round_robin()
    }
    fn finished(&self, state: &State<T, E>) -> bool {
        state.all_done()
    }
}

/// The oldest lane first, to its end; finished when every lane is.
pub(crate) struct Oldest<K>(pub(crate) PhantomData<fn() -> K>);

impl<T: Send + 'static, E, K: StageName> Policy<T, E> for Oldest<K> {
    type Out = T;
    type Stage = K;
    fn next(&mut self, state: &mut State<T, E>) -> Option<T> {
        state.pop_oldest()
    }
    fn finished(&self, state: &State<T, E>) -> bool {
        state.all_done()
    }
}

/// The shared core of one subscription to a combining operator.
pub(crate) struct Fan<T, E> {
    state: Mutex<State<T, E>>,
    drain: DrainSlot,
    prefetch: usize,
    stage: Stage,
    context: Context,
    /// `flat_map`: request one more outer item each time a lane completes.
    refill_outer: bool,
}

impl<T, E> Fan<T, E> {
    pub(crate) fn new(
        prefetch: usize,
        stage: Stage,
        context: Context,
        refill_outer: bool,
    ) -> Arc<Self> {
        Arc::new(Fan {
            state: Mutex::new(State {
                lanes: BTreeMap::new(),
                next_id: 0,
                seq: 0,
                cursor: u64::MAX,
                ended: BTreeSet::new(),
                error: None,
                closed: false,
                outer_open: true,
                outer: None,
                outer_outstanding: Demand::ZERO,
                requests: Vec::new(),
            }),
            drain: DrainSlot::default(),
            prefetch,
            stage,
            context,
            refill_outer,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State<T, E>> {
        support::lock(&self.state)
    }

    /// Starts the downstream side: `subscriber` gets `on_subscribe` now.
    pub(crate) fn start<P, S>(self: &Arc<Self>, policy: P, subscriber: S)
    where
        T: Send + 'static,
        E: Send + 'static,
        P: Policy<T, E>,
        S: Subscriber<Item = P::Out, Error = E>,
    {
        drain::start(
            FanSource {
                fan: Arc::clone(self),
                policy,
            },
            subscriber,
        );
    }

    /// Opens a lane and returns the subscriber to subscribe its upstream with; `None`
    /// once the operator is closed (then the upstream is simply not subscribed).
    pub(crate) fn open_lane(self: &Arc<Self>) -> Option<InnerSubscriber<T, E>> {
        let mut st = self.lock();
        if st.closed {
            return None;
        }
        let id = st.next_id;
        st.next_id += 1;
        st.lanes.insert(
            id,
            Lane {
                queue: VecDeque::new(),
                credit: Credit::new(self.prefetch),
                done: false,
                upstream: None,
            },
        );
        Some(InnerSubscriber {
            fan: Arc::clone(self),
            id,
        })
    }

    /// No more lanes will open (`merge` after subscribing its sources, the outer
    /// upstream completed).
    pub(crate) fn close_outer(&self) {
        let mut st = self.lock();
        st.outer_open = false;
        st.outer = None;
        drop(st);
        self.drain.signal();
    }

    /// Fails fast: keeps the first error, cancels every upstream (outer and lanes),
    /// discards what is queued and wakes the drain to deliver the error at once.
    pub(crate) fn fail(&self, error: Error<E>) {
        let mut st = self.lock();
        if st.closed {
            return; // a later error, or one after cancel: dropped
        }
        st.closed = true;
        st.error = Some(error);
        let ups = Self::take_upstreams(&mut st);
        drop(st);
        for up in ups {
            up.cancel();
        }
        self.drain.signal();
    }

    fn take_upstreams(st: &mut State<T, E>) -> Vec<SharedSubscription> {
        st.outer_open = false;
        let mut ups: Vec<SharedSubscription> = st.outer.take().into_iter().collect();
        ups.extend(
            std::mem::take(&mut st.lanes)
                .into_values()
                .filter_map(|l| l.upstream),
        );
        st.requests.clear();
        ups
    }

    /// Downstream cancelled or the operator terminated: cancel every upstream.
    fn shutdown(&self) {
        let mut st = self.lock();
        st.closed = true;
        let ups = Self::take_upstreams(&mut st);
        drop(st);
        for up in ups {
            up.cancel();
        }
    }

    /// `switch_map`: cancels every open lane and discards its queued items.
    pub(crate) fn cancel_lanes(&self) {
        let mut st = self.lock();
        let ups: Vec<SharedSubscription> = std::mem::take(&mut st.lanes)
            .into_values()
            .filter_map(|l| l.upstream)
            .collect();
        drop(st);
        for up in ups {
            up.cancel();
        }
    }

    /// The outer upstream subscribed: keep it and request `initial` from it.
    pub(crate) fn set_outer(&self, subscription: SharedSubscription, initial: u64) {
        let mut st = self.lock();
        if st.closed || st.outer.is_some() || !st.outer_open {
            drop(st);
            subscription.cancel(); // cancelled already, or a second subscription (rule 2.5)
            return;
        }
        st.outer = Some(subscription.clone());
        st.outer_outstanding = st.outer_outstanding.add(initial);
        drop(st);
        subscription.request(initial);
    }

    /// An outer item arrived: false if the outer upstream sent more than requested
    /// (then the operator has failed with `ProtocolViolation`) or the operator is closed.
    pub(crate) fn outer_item(&self) -> bool {
        let mut st = self.lock();
        if st.closed {
            return false;
        }
        if st.outer_outstanding.is_zero() {
            drop(st);
            self.violation("the outer publisher sent more items than requested");
            return false;
        }
        st.outer_outstanding = st.outer_outstanding.produced(1);
        true
    }

    fn violation(&self, what: &'static str) {
        self.fail(Error::ProtocolViolation {
            stage: self.stage,
            what,
        });
    }
}

/// The downstream side, pulled by the drain loop.
struct FanSource<T, E, P> {
    fan: Arc<Fan<T, E>>,
    policy: P,
}

impl<T, E, P> FanSource<T, E, P>
where
    T: Send + 'static,
    E: Send + 'static,
    P: Policy<T, E>,
{
    /// Pops the next output (or the terminal signal) and makes the replenishing
    /// requests once the lock is released.
    fn step(&mut self, want_item: bool) -> Option<Pulled<P::Out, E>> {
        let mut st = self.fan.lock();
        if let Some(e) = st.error.take() {
            return Some(Pulled::Error(e));
        }
        let out = if want_item {
            self.policy.next(&mut st)
        } else {
            None
        };
        let finished = out.is_none() && self.policy.finished(&st);
        let requests = std::mem::take(&mut st.requests);
        drop(st);
        for (up, n) in requests {
            up.request(n);
        }
        match out {
            Some(item) => Some(Pulled::Item(item)),
            None if finished => Some(Pulled::Complete),
            None => None,
        }
    }
}

impl<T, E, P> Source for FanSource<T, E, P>
where
    T: Send + 'static,
    E: Send + 'static,
    P: Policy<T, E>,
{
    type Item = P::Out;
    type Error = E;
    const STAGE: Stage = <P::Stage as StageName>::STAGE;

    fn attach(&mut self, drain: DrainHandle) {
        self.fan.drain.set(drain);
    }

    fn pull(&mut self, _cx: &mut TaskContext<'_>) -> Pulled<P::Out, E> {
        self.step(true).unwrap_or(Pulled::Pending)
    }

    fn poll_end(&mut self, _cx: &mut TaskContext<'_>) -> Option<Pulled<P::Out, E>> {
        // No demand: an error is delivered at once (fail fast), completion as soon as
        // nothing is left.
        self.step(false)
    }
}

impl<T, E, P> Drop for FanSource<T, E, P> {
    fn drop(&mut self) {
        // Cancelled downstream, or terminated: every upstream still running is cancelled.
        self.fan.shutdown();
    }
}

/// Subscribes to one inner upstream and feeds its lane.
pub(crate) struct InnerSubscriber<T, E> {
    fan: Arc<Fan<T, E>>,
    id: u64,
}

impl<T: Send + 'static, E: Send + 'static> Subscriber for InnerSubscriber<T, E> {
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let mut st = self.fan.lock();
        let n = match st.lanes.get_mut(&self.id) {
            Some(lane) if lane.upstream.is_none() && !lane.done => {
                lane.upstream = Some(subscription.clone());
                lane.credit.initial()
            }
            // Closed or switched away meanwhile, or a second subscription (rule 2.5).
            _ => 0,
        };
        drop(st);
        if n == 0 {
            subscription.cancel();
        } else {
            subscription.request(n);
        }
    }

    fn on_next(&mut self, item: T) {
        let mut guard = self.fan.lock();
        let st = &mut *guard;
        let Some(lane) = st.lanes.get_mut(&self.id) else {
            return; // late: cancelled, switched away or failed; the item is dropped
        };
        if lane.done {
            return; // after on_complete: dropped
        }
        if !lane.credit.received() {
            drop(guard);
            self.fan
                .violation("an inner publisher sent more items than requested");
            return;
        }
        lane.queue.push_back((st.seq, item));
        st.seq += 1;
        drop(guard);
        self.fan.drain.signal();
    }

    fn on_error(&mut self, error: Error<E>) {
        let live = self.fan.lock().lanes.contains_key(&self.id);
        if live {
            self.fan.fail(error);
        }
    }

    fn on_complete(&mut self) {
        let mut st = self.fan.lock();
        let Some(lane) = st.lanes.get_mut(&self.id) else {
            return;
        };
        lane.done = true;
        lane.upstream = None;
        if lane.queue.is_empty() {
            st.lanes.remove(&self.id);
            st.ended.insert(self.id);
        }
        let refill = st
            .outer
            .clone()
            .filter(|_| self.fan.refill_outer && st.outer_open);
        if refill.is_some() {
            st.outer_outstanding = st.outer_outstanding.add(1);
        }
        drop(st);
        if let Some(outer) = refill {
            outer.request(1);
        }
        self.fan.drain.signal();
    }

    fn context(&self) -> Context {
        self.fan.context.clone()
    }
}

/// The outer subscriber of `flat_map`, `concat_map` and `switch_map`: maps each outer
/// item to an inner publisher and opens a lane for it.
pub(crate) struct OuterSubscriber<T, E, F, In> {
    pub(crate) fan: Arc<Fan<T, E>>,
    pub(crate) f: F,
    /// Requested from the outer upstream at subscribe time.
    pub(crate) initial: u64,
    /// `switch_map`: each new inner cancels the previous ones.
    pub(crate) switch: bool,
    pub(crate) done: bool,
    pub(crate) _in: PhantomData<fn(In)>,
}

impl<T, E, F, In, Q> Subscriber for OuterSubscriber<T, E, F, In>
where
    T: Send + 'static,
    E: Send + 'static,
    In: Send + 'static,
    F: FnMut(In) -> Q + Send + 'static,
    Q: Publisher<Item = T, Error = E>,
{
    type Item = In;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.fan.set_outer(subscription, self.initial);
    }

    fn on_next(&mut self, item: In) {
        if self.done || !self.fan.outer_item() {
            return;
        }
        let f = &mut self.f;
        match catch_unwind(AssertUnwindSafe(|| f(item))) {
            Ok(inner) => {
                if self.switch {
                    self.fan.cancel_lanes();
                }
                if let Some(lane) = self.fan.open_lane() {
                    inner.subscribe(lane);
                }
            }
            Err(payload) => {
                self.done = true;
                self.fan.fail(Error::from_panic(self.fan.stage, payload));
            }
        }
    }

    fn on_error(&mut self, error: Error<E>) {
        if !std::mem::replace(&mut self.done, true) {
            self.fan.fail(error);
        }
    }

    fn on_complete(&mut self) {
        if !std::mem::replace(&mut self.done, true) {
            self.fan.close_outer();
        }
    }

    fn context(&self) -> Context {
        self.fan.context.clone()
    }
}

impl<T, E> fmt::Debug for Fan<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fan")
            .field("stage", &self.stage)
            .field("prefetch", &self.prefetch)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::Credit;

    #[test]
    fn credit_replenishes_at_three_quarters() {
        let mut c = Credit::new(8);
        assert_eq!(c.initial(), 8);
        let asked: Vec<u64> = (0..12)
            .map(|_| {
                assert!(c.received());
                c.consumed()
            })
            .collect();
        assert_eq!(asked, vec![0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 6]);
        let mut one = Credit::new(1);
        assert_eq!(one.initial(), 1);
        assert!(one.received());
        assert!(!one.received(), "nothing outstanding");
        assert_eq!(one.consumed(), 1);
    }
}
