//! The machinery shared by the operators that combine several upstreams (`merge`,
//! `flat_map`, `concat_map`, `switch_map`, `zip`, `combine_latest`): one *lane* per inner
//! upstream (a queue plus prefetch credit, replenished once 75% of the prefetch was
//! consumed), an optional *outer* upstream that opens lanes, and a downstream side run by
//! the core drain loop, which serializes the signals coming from all those threads.
//!
//! Each operator only supplies a [`Policy`]: which lane to take the next item from, and
//! when the whole thing is finished. Everything else — requests, cancellation of every
//! upstream, fail-fast errors, protocol checks — lives here once.
//!
//! # Scalar inners
//! An inner publisher that answers [`Publisher::into_scalar`] (`just`, `empty`, `error`)
//! is not subscribed: its item goes straight into a small *scalar queue* (tagged with a
//! lane id of its own, so round robin and oldest-first treat it exactly like a lane that
//! holds one item and has completed), an empty one counts as a completed inner at once,
//! and an error takes the fail-fast path. The outer upstream sends its items in batches
//! when it can (the drain loop fuses a synchronous outer into `on_next_batch`): their
//! scalar items are queued under one lock and the drain is signalled once. The place of a
//! finished scalar inner goes back to the outer upstream in batches (75% of the
//! concurrency, or at once when the outer has nothing outstanding, so it never stalls):
//! the outer's outstanding demand plus queued scalars plus open lanes never exceeds the
//! concurrency, so nothing piles up while downstream has no demand.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Context as TaskContext;

use spillway_core::demand::{replenish_threshold, Prefetch};
use spillway_core::drain::{self, BatchContext, DrainHandle, Pulled, Source};
use spillway_core::{
    ConfigError, Context, Demand, Error, Publisher, Scalar, SharedSubscription, Stage, Subscriber,
};

use crate::engine::support::{self, DrainSlot};
use crate::engine::StageName;

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
/// `concat` hold sources of different types.
pub(crate) type Thunk<S> = Box<dyn FnOnce(S) + Send>;

/// Erases `publisher` into a [`Thunk`].
pub(crate) fn thunk<P, S>(publisher: P) -> Thunk<S>
where
    P: Publisher + Send + 'static,
    S: Subscriber<Item = P::Item, Error = P::Error>,
{
    Box::new(move |inner| publisher.subscribe(inner))
}

/// One inner upstream: its queued items (tagged with their arrival order), its credit,
/// and its subscription while it is active. Lanes live in the slots of a slab; a free
/// slot keeps its (empty) queue, so a new lane reuses its allocation.
struct Lane<T> {
    /// Unique for the life of the operator, in opening order.
    id: u64,
    live: bool,
    queue: VecDeque<(u64, T)>,
    credit: Prefetch,
    done: bool,
    upstream: Option<SharedSubscription>,
}

/// The items of scalar inners waiting for downstream, each under the lane id it would
/// have had. Ids only grow and come in runs (a batch of outer items mapped to scalars
/// gets consecutive ids), so they are kept as runs `(first id, count)` beside the items:
/// queueing a batch is one move of the items and one run, not a tag per item.
struct ScalarQueue<T> {
    items: VecDeque<T>,
    runs: VecDeque<(u64, u64)>,
}

impl<T> Default for ScalarQueue<T> {
    fn default() -> Self {
        ScalarQueue {
            items: VecDeque::new(),
            runs: VecDeque::new(),
        }
    }
}

impl<T> ScalarQueue<T> {
    fn len(&self) -> usize {
        self.items.len()
    }

    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Queues every item of `buf` under ids `first..`, leaving `buf` empty (when the
    /// queue is empty the two swap allocations instead of copying).
    fn push(&mut self, first: u64, buf: &mut Vec<T>) {
        let n = buf.len() as u64;
        if n == 0 {
            return;
        }
        if self.items.is_empty() {
            let spare = std::mem::replace(&mut self.items, VecDeque::from(std::mem::take(buf)));
            *buf = Vec::from(spare);
        } else {
            self.items.extend(buf.drain(..));
        }
        match self.runs.back_mut() {
            Some((start, count)) if *start + *count == first => *count += n,
            _ => self.runs.push_back((first, n)),
        }
    }

    fn front_id(&self) -> Option<u64> {
        self.runs.front().map(|&(first, _)| first)
    }

    /// The id of the item at `at`.
    fn id_at(&self, at: usize) -> Option<u64> {
        let mut at = at as u64;
        for &(first, count) in &self.runs {
            if at < count {
                return Some(first + at);
            }
            at -= count;
        }
        None
    }

    /// How many items have an id up to `bound` (they come first).
    fn count_up_to(&self, bound: u64) -> usize {
        let mut n = 0;
        for &(first, count) in &self.runs {
            if first > bound {
                break;
            }
            if first + (count - 1) <= bound {
                n += count;
            } else {
                n += bound - first + 1;
                break;
            }
        }
        n as usize
    }

    /// Removes the item at `at`.
    fn remove(&mut self, at: usize) -> Option<T> {
        let item = if at == 0 {
            self.items.pop_front()?
        } else {
            self.items.remove(at)?
        };
        let mut k = at as u64;
        for i in 0..self.runs.len() {
            let (first, count) = self.runs[i];
            if k < count {
                if count == 1 {
                    self.runs.remove(i);
                } else if k == 0 {
                    self.runs[i] = (first + 1, count - 1);
                } else if k == count - 1 {
                    self.runs[i].1 -= 1;
                } else {
                    self.runs[i].1 = k;
                    self.runs.insert(i + 1, (first + k + 1, count - k - 1));
                }
                break;
            }
            k -= count;
        }
        Some(item)
    }

    /// Moves the first `n` items (there are that many) to the back of `out`; returns the
    /// id of the last one.
    fn take_front(&mut self, n: usize, out: &mut VecDeque<T>) -> u64 {
        if n == self.items.len() && out.is_empty() {
            std::mem::swap(&mut self.items, out);
        } else {
            out.extend(self.items.drain(..n));
        }
        let mut left = n as u64;
        let mut last = 0;
        while left > 0 {
            let Some(run) = self.runs.front_mut() else {
                break;
            };
            let k = left.min(run.1);
            last = run.0 + k - 1;
            run.0 += k;
            run.1 -= k;
            left -= k;
            if run.1 == 0 {
                self.runs.pop_front();
            }
        }
        last
    }

    fn clear(&mut self) {
        self.items.clear();
        self.runs.clear();
    }
}

/// Where an inner subscriber finds its lane: the slot, checked against the lane id (the
/// slot may since have been freed and reused by a newer lane).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LaneKey {
    slot: u32,
    id: u64,
}

/// Sends requests collected under the lock, after it was released (a request may deliver
/// synchronously, into this same operator).
fn send_requests(requests: Vec<(SharedSubscription, u64)>) {
    for (up, n) in requests {
        up.request(n);
    }
}

/// Everything behind the lock; policies read and pop lanes through its methods.
pub(crate) struct State<T, E> {
    /// The slab of lanes: live ones and free slots.
    slots: Vec<Lane<T>>,
    /// Free slots, reused before the slab grows.
    free: Vec<u32>,
    /// The slots of the live lanes in lane-id (opening) order: the order of round robin
    /// and of `concat_map`.
    order: Vec<u32>,
    next_id: u64,
    /// Arrival counter: items are tagged with it, so a policy can follow arrival order.
    seq: u64,
    /// The id of the lane served last by the round-robin policy.
    cursor: u64,
    /// Lanes 0 to 63 that completed and were drained (bit `id`): `zip` and
    /// `combine_latest` ask about lanes 0 and 1; no other policy asks.
    ended: u64,
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
    /// `flat_map` family: one more outer item is requested when an inner has completed
    /// AND its queue was drained, so nothing piles up while downstream has no demand.
    refill_outer: bool,
    /// The policy only looks at lanes that have items and at [`all_done`]: a lane that
    /// completes while others remain (or more may open) needs no drain pass.
    ///
    /// [`all_done`]: State::all_done
    quiet_lane_end: bool,
    /// The items of scalar inners not delivered yet, each with the lane id it would have
    /// had, in id order: each stands for a lane holding one item that has completed.
    scalars: ScalarQueue<T>,
    /// `flat_map` family: scalar inners that finished (delivered, or empty) whose places
    /// were not handed back to the outer upstream yet.
    outer_refill: u64,
    /// Hand them back once this many gathered (75% of the concurrency), or as soon as the
    /// outer upstream has nothing outstanding.
    refill_limit: u64,
}

impl<T, E> State<T, E> {
    /// The live lane of `key`, if it is still there.
    fn lane_mut(&mut self, key: LaneKey) -> Option<&mut Lane<T>> {
        self.slots
            .get_mut(key.slot as usize)
            .filter(|l| l.live && l.id == key.id)
    }

    /// The slot of live lane `id`.
    fn slot_of(&self, id: u64) -> Option<u32> {
        let slots = &self.slots;
        let at = self
            .order
            .binary_search_by_key(&id, |&s| slots[s as usize].id)
            .ok()?;
        Some(self.order[at])
    }

    /// Opens a lane with `credit`.
    fn open(&mut self, credit: Prefetch) -> LaneKey {
        let id = self.next_id;
        self.next_id += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                let lane = &mut self.slots[slot as usize];
                lane.id = id;
                lane.live = true;
                lane.credit = credit;
                lane.done = false;
                lane.upstream = None;
                slot
            }
            None => {
                self.slots.push(Lane {
                    id,
                    live: true,
                    queue: VecDeque::new(),
                    credit,
                    done: false,
                    upstream: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        // Ids only grow: the new lane goes last.
        self.order.push(slot);
        LaneKey { slot, id }
    }

    /// Frees the slot of a live lane (its queue must be empty or is discarded); returns
    /// its subscription, if it still had one.
    fn remove(&mut self, slot: u32) -> Option<SharedSubscription> {
        let lane = &mut self.slots[slot as usize];
        let id = lane.id;
        lane.live = false;
        lane.queue.clear();
        let up = lane.upstream.take();
        let slots = &self.slots;
        if let Ok(at) = self
            .order
            .binary_search_by_key(&id, |&s| slots[s as usize].id)
        {
            self.order.remove(at);
        }
        self.free.push(slot);
        up
    }

    /// A completed lane was drained: it goes, is remembered as ended, and (`flat_map`
    /// family) frees its place for one more outer item.
    fn end(&mut self, slot: u32) {
        let id = self.slots[slot as usize].id;
        self.remove(slot);
        if id < 64 {
            self.ended |= 1 << id;
        }
        if self.refill_outer && self.outer_open && !self.closed {
            if let Some(outer) = &self.outer {
                self.outer_outstanding = self.outer_outstanding.add(1);
                self.requests.push((outer.clone(), 1));
            }
        }
    }

    /// Removes every lane and queued scalar, returning the lanes' subscriptions (queued
    /// items are discarded).
    fn remove_all(&mut self) -> Vec<SharedSubscription> {
        self.scalars.clear();
        let mut ups = Vec::new();
        for slot in std::mem::take(&mut self.order) {
            let lane = &mut self.slots[slot as usize];
            lane.live = false;
            lane.queue.clear();
            ups.extend(lane.upstream.take());
            self.free.push(slot);
        }
        ups
    }

    /// Pops the head of the lane in `slot`, scheduling its replenishment; removes the
    /// lane once it is completed and drained.
    #[inline(always)] // the per-item path of every fan-in operator
    fn pop_slot(&mut self, slot: u32) -> Option<T> {
        let lane = &mut self.slots[slot as usize];
        let (_, item) = lane.queue.pop_front()?;
        if lane.done {
            if lane.queue.is_empty() {
                self.end(slot);
            }
        } else {
            let n = lane.credit.consumed();
            if let (true, Some(up)) = (n > 0, &lane.upstream) {
                self.requests.push((up.clone(), n));
            }
        }
        Some(item)
    }

    /// Pops the head of lane `id`, scheduling its replenishment; removes the lane once it
    /// is completed and drained.
    pub(crate) fn pop_lane(&mut self, id: u64) -> Option<T> {
        let slot = self.slot_of(id)?;
        self.pop_slot(slot)
    }

    /// Takes the queued scalar at `at`: its inner has finished.
    fn pop_scalar(&mut self, at: usize) -> Option<T> {
        let item = self.scalars.remove(at)?;
        if self.refill_outer {
            self.outer_refill += 1;
        }
        Some(item)
    }

    /// Hands the places of finished scalar inners back to the outer upstream in one
    /// request, once 75% of the concurrency gathered or when the outer has nothing
    /// outstanding (holding them back then would stall it with free places).
    fn flush_refill(&mut self) {
        if self.outer_refill == 0
            || (self.outer_refill < self.refill_limit && !self.outer_outstanding.is_zero())
        {
            return;
        }
        let n = std::mem::take(&mut self.outer_refill);
        if self.outer_open && !self.closed {
            if let Some(outer) = &self.outer {
                self.outer_outstanding = self.outer_outstanding.add(n);
                self.requests.push((outer.clone(), n));
            }
        }
    }

    /// Moves the queued scalars that come next in line, up to `max` outputs in `out`, in
    /// one go: those before the oldest lane (`oldest`, for `concat_map`), or, for a round
    /// robin, all of them when no lane is open and the first one comes after the cursor
    /// (then they are all in line, in id order). The common case of a `flat_map` over
    /// `just`s; anything else is left to item-by-item popping.
    fn take_scalar_run(&mut self, out: &mut VecDeque<T>, max: usize, oldest: bool) {
        let room = max.saturating_sub(out.len());
        let n = if oldest {
            match self.order.first() {
                None => self.scalars.len(),
                Some(&slot) => match self.slots[slot as usize].id.checked_sub(1) {
                    Some(bound) => self.scalars.count_up_to(bound),
                    None => 0,
                },
            }
        } else {
            match self.scalars.front_id() {
                Some(id) if self.order.is_empty() && id > self.cursor => self.scalars.len(),
                _ => 0,
            }
        };
        let n = n.min(room);
        if n == 0 {
            return;
        }
        self.cursor = self.scalars.take_front(n, out);
        if self.refill_outer {
            self.outer_refill += n as u64;
        }
    }

    /// Round robin over the lanes that have items and the queued scalars, in lane-id
    /// order, starting after the last one served.
    pub(crate) fn pop_round_robin(&mut self) -> Option<T> {
        if !self.scalars.is_empty() {
            return self.pop_round_robin_with_scalars();
        }
        let slots = &self.slots;
        let cursor = self.cursor;
        let start = self
            .order
            .partition_point(|&s| slots[s as usize].id <= cursor);
        let has_items = |s: &u32| !slots[*s as usize].queue.is_empty();
        let slot = *self.order[start..]
            .iter()
            .find(|s| has_items(s))
            .or_else(|| self.order[..start].iter().find(|s| has_items(s)))?;
        self.cursor = self.slots[slot as usize].id;
        self.pop_slot(slot)
    }

    /// [`pop_round_robin`](Self::pop_round_robin) with scalars queued (kept apart so that
    /// the lanes-only path stays as tight as it was).
    #[inline(never)]
    fn pop_round_robin_with_scalars(&mut self) -> Option<T> {
        let cursor = self.cursor;
        // Only scalars, the next one after the cursor first in line: the common case of a
        // `flat_map` over `just`s.
        if self.order.is_empty() {
            let id = self.scalars.front_id()?;
            if id > cursor {
                self.cursor = id;
                return self.pop_scalar(0);
            }
        }
        let slots = &self.slots;
        let start = self
            .order
            .partition_point(|&s| slots[s as usize].id <= cursor);
        let has_items = |s: &u32| !slots[*s as usize].queue.is_empty();
        let lane_id = |s: u32| slots[s as usize].id;
        // The first lane or scalar after the cursor; else, wrapping, the first of all.
        let after = self.scalars.count_up_to(cursor);
        let (lane, scalar_at) = match self.order[start..].iter().find(|s| has_items(s)) {
            Some(&slot) => (Some(slot), after),
            None if after < self.scalars.len() => (None, after),
            None => (
                self.order[..start].iter().find(|s| has_items(s)).copied(),
                0,
            ),
        };
        match (lane, self.scalars.id_at(scalar_at)) {
            (Some(slot), Some(id)) if id < lane_id(slot) => {
                self.cursor = id;
                self.pop_scalar(scalar_at)
            }
            (Some(slot), _) => {
                self.cursor = lane_id(slot);
                self.pop_slot(slot)
            }
            (None, Some(id)) => {
                self.cursor = id;
                self.pop_scalar(scalar_at)
            }
            (None, None) => None,
        }
    }

    /// The oldest lane or scalar only: items in subscription order (`concat_map`).
    pub(crate) fn pop_oldest(&mut self) -> Option<T> {
        match (self.order.first(), self.scalars.front_id()) {
            (Some(&slot), Some(id)) if id < self.slots[slot as usize].id => self.pop_scalar(0),
            (Some(&slot), _) => self.pop_slot(slot),
            (None, Some(_)) => self.pop_scalar(0),
            (None, None) => None,
        }
    }

    /// The arrival number of lane `id`'s head item.
    pub(crate) fn head(&self, id: u64) -> Option<u64> {
        let slot = self.slot_of(id)?;
        self.slots[slot as usize].queue.front().map(|(seq, _)| *seq)
    }

    /// True once lane `id` (one of the first 64) completed and was drained.
    pub(crate) fn is_ended(&self, id: u64) -> bool {
        debug_assert!(id < 64, "only the first 64 lanes are tracked");
        id < 64 && self.ended & (1 << id) != 0
    }

    /// No lane or scalar left and none to come.
    pub(crate) fn all_done(&self) -> bool {
        !self.outer_open && self.order.is_empty() && self.scalars.is_empty()
    }
}

/// What a combining operator decides: the next output, and when it is over.
pub(crate) trait Policy<T, E>: Send + 'static {
    type Out: Send + 'static;
    type Stage: StageName;
    /// True if `next` only depends on which lanes have items and `finished` only on
    /// [`State::all_done`]: then a lane that completes needs no drain pass unless it was
    /// the last one.
    const QUIET_LANE_END: bool = false;
    /// The next item for downstream, popped from the lanes (called under the lock).
    fn next(&mut self, state: &mut State<T, E>) -> Option<Self::Out>;
    /// Pops outputs into `out` until it holds `max` (false), nothing is left (true), or
    /// right after an output whose lane asked for replenishment (false), so that the
    /// request is made where item-by-item popping would make it.
    fn next_batch(
        &mut self,
        state: &mut State<T, E>,
        out: &mut VecDeque<Self::Out>,
        max: usize,
    ) -> bool {
        next_each(self, state, out, max)
    }
    /// True when nothing more can be emitted: complete.
    fn finished(&self, state: &State<T, E>) -> bool;
}

/// [`Policy::next_batch`] item by item.
fn next_each<T, E, P: Policy<T, E> + ?Sized>(
    policy: &mut P,
    state: &mut State<T, E>,
    out: &mut VecDeque<P::Out>,
    max: usize,
) -> bool {
    while out.len() < max {
        match policy.next(state) {
            Some(item) => {
                out.push_back(item);
                if !state.requests.is_empty() {
                    return false;
                }
            }
            None => return true,
        }
    }
    false
}

/// Round robin between the lanes that have items; finished when every lane is.
pub(crate) struct RoundRobin<K>(pub(crate) PhantomData<fn() -> K>);

impl<T: Send + 'static, E, K: StageName> Policy<T, E> for RoundRobin<K> {
    type Out = T;
    type Stage = K;
    const QUIET_LANE_END: bool = true;
    fn next(&mut self, state: &mut State<T, E>) -> Option<T> {
        state.pop_round_robin()
    }
    fn next_batch(&mut self, state: &mut State<T, E>, out: &mut VecDeque<T>, max: usize) -> bool {
        state.take_scalar_run(out, max, false);
        next_each(self, state, out, max)
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
    fn next_batch(&mut self, state: &mut State<T, E>, out: &mut VecDeque<T>, max: usize) -> bool {
        state.take_scalar_run(out, max, true);
        next_each(self, state, out, max)
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
                slots: Vec::new(),
                free: Vec::new(),
                order: Vec::new(),
                next_id: 0,
                seq: 0,
                cursor: u64::MAX,
                ended: 0,
                error: None,
                closed: false,
                outer_open: true,
                outer: None,
                outer_outstanding: Demand::ZERO,
                requests: Vec::new(),
                quiet_lane_end: false,
                refill_outer,
                scalars: ScalarQueue::default(),
                outer_refill: 0,
                refill_limit: 1,
            }),
            drain: DrainSlot::default(),
            prefetch,
            stage,
            context,
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
        self.lock().quiet_lane_end = P::QUIET_LANE_END;
        drain::start(
            FanSource {
                fan: Arc::clone(self),
                policy,
                requests: Vec::new(),
                out: VecDeque::new(),
                idle: false,
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
        let key = st.open(Prefetch::new(self.prefetch as u64));
        drop(st);
        Some(InnerSubscriber {
            fan: Arc::clone(self),
            key,
            buf: Vec::new(),
        })
    }

    /// True once failed, cancelled or terminated.
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Takes the signal of one scalar inner (outside a batch): queues its item, counts an
    /// empty one as finished, fails with its error.
    pub(crate) fn take_scalar(&self, scalar: Scalar<T, E>) {
        match scalar {
            Scalar::Item(x) => {
                self.push_scalars(0, &mut vec![x], 0);
            }
            Scalar::Empty => {
                self.push_scalars(0, &mut Vec::new(), 1);
            }
            Scalar::Error(e) => self.fail(e),
        }
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
        ups.extend(st.remove_all());
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

    /// `switch_map`: cancels every open lane and discards its queued items (and any
    /// queued scalar).
    pub(crate) fn cancel_lanes(&self) {
        let mut st = self.lock();
        let ups = st.remove_all();
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
        st.refill_limit = replenish_threshold(initial);
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
        // The outer ran dry: places of finished scalar inners held back go now.
        st.flush_refill();
        let requests = std::mem::take(&mut st.requests);
        drop(st);
        send_requests(requests);
        true
    }

    /// Takes scalar inners: `outer_items` outer items not yet accounted for (checked
    /// against what the outer upstream may send), the scalar `items` they mapped to
    /// (moved out, under new lane ids in this order), and
    /// `empties` empty scalar inners (completed at once). Queues the items under one lock
    /// and signals the drain once. False if the operator is closed (the items are
    /// dropped) or the outer upstream sent more than requested (then it has failed).
    pub(crate) fn push_scalars(&self, outer_items: u64, items: &mut Vec<T>, empties: u64) -> bool {
        let mut st = self.lock();
        if st.closed {
            return false;
        }
        if outer_items > 0 {
            if st.outer_outstanding.get() < outer_items {
                drop(st);
                self.violation("the outer publisher sent more items than requested");
                return false;
            }
            st.outer_outstanding = st.outer_outstanding.produced(outer_items);
        }
        let was_empty = st.scalars.is_empty();
        let first = st.next_id;
        st.next_id += items.len() as u64;
        st.scalars.push(first, items);
        let wake = was_empty && !st.scalars.is_empty();
        if empties > 0 && st.refill_outer {
            st.outer_refill += empties;
        }
        st.flush_refill();
        let requests = std::mem::take(&mut st.requests);
        drop(st);
        send_requests(requests);
        if wake {
            self.drain.signal();
        }
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
struct FanSource<T, E, P: Policy<T, E>> {
    fan: Arc<Fan<T, E>>,
    policy: P,
    /// The replenishing requests taken from the state (kept for its allocation).
    requests: Vec<(SharedSubscription, u64)>,
    /// Outputs popped under one lock for a batch, and those the sink left (kept for its
    /// allocation).
    out: VecDeque<P::Out>,
    /// Set by `pull_batch` when, under the lock, the policy had nothing to give and was
    /// not finished: the `pull` that follows in the same pass answers `Pending` without
    /// locking again. Sound because anything that could change that answer (an item in
    /// an empty lane, a lane's end, an error, the outer end) signals the drain, which
    /// then runs another pass.
    idle: bool,
}

impl<T, E, P> FanSource<T, E, P>
where
    T: Send + 'static,
    E: Send + 'static,
    P: Policy<T, E>,
{
    /// Makes the replenishing requests gathered under the lock, once it is released.
    fn make_requests(&mut self) {
        for (up, n) in self.requests.drain(..) {
            up.request(n);
        }
    }

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
        // Outputs popped for a batch and left by the sink still have to go out.
        let finished = out.is_none() && self.out.is_empty() && self.policy.finished(&st);
        st.flush_refill();
        std::mem::swap(&mut st.requests, &mut self.requests);
        drop(st);
        self.make_requests();
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
        if let Some(item) = self.out.pop_front() {
            return Pulled::Item(item);
        }
        if std::mem::take(&mut self.idle) {
            return Pulled::Pending;
        }
        self.step(true).unwrap_or(Pulled::Pending)
    }

    /// Pops outputs under one lock (up to the outstanding demand) and hands them over as
    /// one batch. The batch ends early right after an output whose lane asked for
    /// replenishment, so the request is made (and a synchronous upstream refills its
    /// lane) exactly where item-by-item pulling would make it: the order of the outputs
    /// does not change. Outputs a sink leaves are kept and handed out first next time.
    fn pull_batch<S>(&mut self, sink: &mut S, batch: &BatchContext) -> Option<u64>
    where
        S: Subscriber<Item = P::Out, Error = E>,
    {
        if self.out.is_empty() {
            if self.idle {
                return None; // `pull` answers
            }
            let max = usize::try_from(batch.limit().min(batch.max_items())).unwrap_or(usize::MAX);
            let mut st = self.fan.lock();
            if st.error.is_some() {
                return None; // `pull` delivers it
            }
            let policy = &mut self.policy;
            let out = &mut self.out;
            let exhausted = batch.run(Self::STAGE, || policy.next_batch(&mut st, out, max));
            let finished = exhausted && self.policy.finished(&st);
            st.flush_refill();
            std::mem::swap(&mut st.requests, &mut self.requests);
            drop(st);
            self.idle = exhausted && !finished;
            self.make_requests();
            if self.out.is_empty() {
                return None;
            }
        }
        let out = &mut self.out;
        Some(sink.on_next_batch(std::iter::from_fn(|| out.pop_front()), batch))
    }

    fn poll_end(&mut self, _cx: &mut TaskContext<'_>) -> Option<Pulled<P::Out, E>> {
        self.idle = false;
        // No demand: an error is delivered at once (fail fast), completion as soon as
        // nothing is left.
        self.step(false)
    }
}

impl<T, E, P: Policy<T, E>> Drop for FanSource<T, E, P> {
    fn drop(&mut self) {
        // Cancelled downstream, or terminated: every upstream still running is cancelled.
        self.fan.shutdown();
    }
}

/// Subscribes to one inner upstream and feeds its lane.
pub(crate) struct InnerSubscriber<T, E> {
    fan: Arc<Fan<T, E>>,
    key: LaneKey,
    /// A batch from upstream, gathered outside the lock (its iterator may run user code).
    buf: Vec<T>,
}

impl<T: Send + 'static, E: Send + 'static> InnerSubscriber<T, E> {
    /// Queues `items` in this lane under one lock; signals the drain only if the lane was
    /// empty (a lane that already had items changes nothing a policy can see: the drain
    /// either has a pass on its way or waits for downstream demand).
    fn push(&mut self, items: impl Iterator<Item = T>) {
        let mut guard = self.fan.lock();
        let st = &mut *guard;
        let mut seq = st.seq;
        let Some(lane) = st.lane_mut(self.key) else {
            return; // late: cancelled, switched away or failed; the items are dropped
        };
        if lane.done {
            return; // after on_complete: dropped
        }
        let was_empty = lane.queue.is_empty();
        let mut violated = false;
        for item in items {
            if !lane.credit.received() {
                violated = true;
                break;
            }
            lane.queue.push_back((seq, item));
            seq += 1;
        }
        let pushed = !lane.queue.is_empty();
        st.seq = seq;
        drop(guard);
        if violated {
            self.fan
                .violation("an inner publisher sent more items than requested");
        } else if was_empty && pushed {
            self.fan.drain.signal();
        }
    }
}

impl<T: Send + 'static, E: Send + 'static> Subscriber for InnerSubscriber<T, E> {
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let mut st = self.fan.lock();
        let n = match st.lane_mut(self.key) {
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
        self.push(std::iter::once(item));
    }

    fn accepts_batches(&self) -> bool {
        true
    }

    fn on_next_batch<I>(&mut self, items: I, batch: &BatchContext) -> u64
    where
        I: Iterator<Item = T>,
    {
        // Gathered first, outside the lock: the iterator may run upstream user code.
        // Never more than requested: what is left stays with the source.
        let limit = if batch.counts_used() {
            usize::try_from(batch.limit()).unwrap_or(usize::MAX)
        } else {
            usize::MAX
        };
        let mut buf = std::mem::take(&mut self.buf);
        buf.extend(items.take(limit));
        let n = buf.len() as u64;
        self.push(buf.drain(..));
        self.buf = buf;
        n
    }

    fn on_error(&mut self, error: Error<E>) {
        // The lane's subscription ended with this signal: not cancelled (rule 2.3).
        let live = match self.fan.lock().lane_mut(self.key) {
            Some(lane) => {
                lane.upstream = None;
                true
            }
            None => false,
        };
        if live {
            self.fan.fail(error);
        }
    }

    fn on_complete(&mut self) {
        let mut st = self.fan.lock();
        let Some(lane) = st.lane_mut(self.key) else {
            return;
        };
        lane.done = true;
        lane.upstream = None;
        let drained = lane.queue.is_empty();
        if drained {
            // Ends the lane and (flat_map family) asks the outer for one more item; a lane
            // with items left does both when the drain pops its last item.
            st.end(self.key.slot);
        }
        let requests = std::mem::take(&mut st.requests);
        // A lane with items left is removed by the drain when it pops the last one; an
        // empty one that goes matters to a round robin only if it was the last.
        let wake = !st.quiet_lane_end || (drained && st.all_done());
        drop(st);
        send_requests(requests);
        if wake {
            self.fan.drain.signal();
        }
    }

    fn context(&self) -> Context {
        self.fan.context.clone()
    }
}

/// The outer subscriber of `flat_map`, `concat_map` and `switch_map`: maps each outer
/// item to an inner publisher and opens a lane for it, or takes its signal directly if
/// it is a scalar (see the module docs).
pub(crate) struct OuterSubscriber<T, E, F, In> {
    fan: Arc<Fan<T, E>>,
    f: F,
    /// Requested from the outer upstream at subscribe time.
    initial: u64,
    /// `switch_map`: each new inner cancels the previous ones.
    switch: bool,
    done: bool,
    /// The scalar items of one batch of outer items (kept for its allocation).
    scalars: Vec<T>,
    _in: PhantomData<fn(In)>,
}

impl<T, E, F, In> OuterSubscriber<T, E, F, In> {
    /// `initial`: the concurrency (requested from the outer upstream at subscribe time);
    /// `switch`: each new inner cancels the previous ones.
    pub(crate) fn new(fan: Arc<Fan<T, E>>, f: F, initial: u64, switch: bool) -> Self {
        OuterSubscriber {
            fan,
            f,
            initial,
            switch,
            done: false,
            scalars: Vec::new(),
            _in: PhantomData,
        }
    }
}

impl<T, E, F, In, Q> OuterSubscriber<T, E, F, In>
where
    T: Send + 'static,
    E: Send + 'static,
    In: Send + 'static,
    F: FnMut(In) -> Q + Send + 'static,
    Q: Publisher<Item = T, Error = E>,
{
    /// Maps an outer item to its inner publisher, or to that publisher's one signal if
    /// it is a scalar. A panic in the user code becomes the error to fail with.
    fn map(&mut self, item: In) -> Result<Scalar<T, E>, Q> {
        let f = &mut self.f;
        catch_unwind(AssertUnwindSafe(|| f(item).into_scalar()))
            .unwrap_or_else(|payload| Ok(Scalar::Error(Error::from_panic(self.fan.stage, payload))))
    }

    /// Subscribes a non-scalar inner publisher to a new lane.
    fn open(&self, inner: Q) {
        if self.switch {
            self.fan.cancel_lanes();
        }
        if let Some(lane) = self.fan.open_lane() {
            inner.subscribe(lane);
        }
    }
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
        match self.map(item) {
            Err(inner) => self.open(inner),
            Ok(scalar) => {
                if self.switch {
                    self.fan.cancel_lanes();
                }
                match scalar {
                    Scalar::Item(x) => {
                        self.scalars.push(x);
                        self.fan.push_scalars(0, &mut self.scalars, 0);
                        self.scalars.clear(); // closed: dropped
                    }
                    Scalar::Empty => {
                        self.fan.push_scalars(0, &mut Vec::new(), 1);
                    }
                    Scalar::Error(e) => {
                        self.done = true;
                        self.fan.fail(e);
                    }
                }
            }
        }
    }

    /// A synchronous outer upstream hands its items over in batches: the scalar inners of
    /// a batch are queued under one lock, with one signal to the drain. A non-scalar inner
    /// or an error first hands over the scalars before it, so the order and what is
    /// delivered before an error are those of item-by-item delivery. Not for
    /// `switch_map`, where each new inner discards what the previous one left.
    fn accepts_batches(&self) -> bool {
        !self.switch
    }

    fn on_next_batch<I>(&mut self, items: I, batch: &BatchContext) -> u64
    where
        I: Iterator<Item = In>,
    {
        let limit = if batch.counts_used() {
            batch.limit()
        } else {
            u64::MAX
        };
        let mut items = items;
        let mut buf = std::mem::take(&mut self.scalars);
        // Outer items taken, and those not yet accounted for with the fan.
        let mut used = 0u64;
        let mut pending = 0u64;
        let mut empties = 0u64;
        while used < limit && !self.done {
            let Some(item) = items.next() else { break };
            used += 1;
            pending += 1;
            match self.map(item) {
                Ok(Scalar::Item(x)) => buf.push(x),
                Ok(Scalar::Empty) => empties += 1,
                Ok(Scalar::Error(e)) => {
                    self.done = true;
                    if self.fan.push_scalars(pending, &mut buf, empties) {
                        self.fan.fail(e);
                    }
                    pending = 0;
                }
                Err(inner) => {
                    let open = self.fan.push_scalars(pending, &mut buf, empties);
                    (pending, empties) = (0, 0);
                    if !open {
                        self.done = true;
                        break;
                    }
                    self.open(inner);
                }
            }
        }
        if pending > 0 && !self.done && !self.fan.push_scalars(pending, &mut buf, empties) {
            self.done = true;
        }
        buf.clear();
        self.scalars = buf;
        used
    }

    fn on_error(&mut self, error: Error<E>) {
        if !std::mem::replace(&mut self.done, true) {
            // The outer subscription ended with this signal: not cancelled (rule 2.3).
            self.fan.lock().outer = None;
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
    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::ScalarQueue;

    #[derive(Debug, Clone)]
    enum Op {
        /// Skip `gap` ids (lanes opened meanwhile), then queue `n` items.
        Push {
            gap: u64,
            n: usize,
        },
        Remove(usize),
        TakeFront(usize),
        CountUpTo(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u64..3, 0usize..5).prop_map(|(gap, n)| Op::Push { gap, n }),
            (0usize..8).prop_map(Op::Remove),
            (0usize..8).prop_map(Op::TakeFront),
            (0u64..40).prop_map(Op::CountUpTo),
        ]
    }

    proptest! {
        /// The run-length queue against a queue of `(id, item)` pairs.
        #[test]
        fn scalar_queue_matches_a_tagged_queue(ops in prop::collection::vec(op(), 0..60)) {
            let mut q = ScalarQueue::default();
            let mut model: VecDeque<(u64, u64)> = VecDeque::new();
            let mut next_id = 0u64;
            let mut buf = Vec::new();
            let mut out = VecDeque::new();
            for op in ops {
                match op {
                    Op::Push { gap, n } => {
                        next_id += gap;
                        for k in 0..n as u64 {
                            buf.push(next_id * 10 + k);
                            model.push_back((next_id + k, next_id * 10 + k));
                        }
                        q.push(next_id, &mut buf);
                        prop_assert!(buf.is_empty());
                        next_id += n as u64;
                    }
                    Op::Remove(at) => {
                        let want = model.remove(at).map(|(_, x)| x);
                        prop_assert_eq!(q.remove(at), want);
                    }
                    Op::TakeFront(n) => {
                        let n = n.min(model.len());
                        if n > 0 {
                            let last = q.take_front(n, &mut out);
                            let taken: Vec<(u64, u64)> = model.drain(..n).collect();
                            prop_assert_eq!(last, taken[n - 1].0);
                            let got: Vec<u64> = out.drain(..).collect();
                            prop_assert_eq!(got, taken.iter().map(|&(_, x)| x).collect::<Vec<_>>());
                        }
                    }
                    Op::CountUpTo(bound) => {
                        let want = model.iter().filter(|&&(id, _)| id <= bound).count();
                        prop_assert_eq!(q.count_up_to(bound), want);
                    }
                }
                prop_assert_eq!(q.len(), model.len());
                prop_assert_eq!(q.front_id(), model.front().map(|&(id, _)| id));
                for (at, &(id, _)) in model.iter().enumerate() {
                    prop_assert_eq!(q.id_at(at), Some(id));
                }
                prop_assert_eq!(q.id_at(model.len()), None);
            }
            q.clear();
            prop_assert!(q.is_empty());
        }
    }
}
