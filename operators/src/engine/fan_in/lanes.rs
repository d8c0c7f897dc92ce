//! The lanes behind a combining operator's lock: one queue and credit per inner
//! upstream, the scalar queue, and the outer upstream's bookkeeping.

use std::collections::VecDeque;

use spillway_core::demand::Prefetch;
use spillway_core::{Demand, Error, SharedSubscription};

/// One inner upstream: its queued items (tagged with their arrival order), its credit,
/// and its subscription while it is active. Lanes live in the slots of a slab; a free
/// slot keeps its (empty) queue, so a new lane reuses its allocation.
pub(super) struct Lane<T> {
    /// Unique for the life of the operator, in opening order.
    pub(super) id: u64,
    pub(super) live: bool,
    pub(super) queue: VecDeque<(u64, T)>,
    pub(super) credit: Prefetch,
    pub(super) done: bool,
    pub(super) upstream: Option<SharedSubscription>,
}

/// The items of scalar inners waiting for downstream, each under the lane id it would
/// have had. Ids only grow and come in runs (a batch of outer items mapped to scalars
/// gets consecutive ids), so they are kept as runs `(first id, count)` beside the items:
/// queueing a batch is one move of the items and one run, not a tag per item.
pub(super) struct ScalarQueue<T> {
    pub(super) items: VecDeque<T>,
    pub(super) runs: VecDeque<(u64, u64)>,
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
    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Queues every item of `buf` under ids `first..`, leaving `buf` empty (when the
    /// queue is empty the two swap allocations instead of copying).
    pub(super) fn push(&mut self, first: u64, buf: &mut Vec<T>) {
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

    pub(super) fn front_id(&self) -> Option<u64> {
        self.runs.front().map(|&(first, _)| first)
    }

    /// The id of the item at `at`.
    pub(super) fn id_at(&self, at: usize) -> Option<u64> {
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
    pub(super) fn count_up_to(&self, bound: u64) -> usize {
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
    pub(super) fn remove(&mut self, at: usize) -> Option<T> {
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
    pub(super) fn take_front(&mut self, n: usize, out: &mut VecDeque<T>) -> u64 {
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

    pub(super) fn clear(&mut self) {
        self.items.clear();
        self.runs.clear();
    }
}

/// Where an inner subscriber finds its lane: the slot, checked against the lane id (the
/// slot may since have been freed and reused by a newer lane).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LaneKey {
    pub(super) slot: u32,
    pub(super) id: u64,
}

/// Sends requests collected under the lock, after it was released (a request may deliver
/// synchronously, into this same operator).
pub(super) fn send_requests(requests: Vec<(SharedSubscription, u64)>) {
    for (up, n) in requests {
        up.request(n);
    }
}

/// Everything behind the lock; policies read and pop lanes through its methods.
pub(crate) struct State<T, E> {
    /// The slab of lanes: live ones and free slots.
    pub(super) slots: Vec<Lane<T>>,
    /// Free slots, reused before the slab grows.
    pub(super) free: Vec<u32>,
    /// The slots of the live lanes in lane-id (opening) order: the order of round robin
    /// and of `concat_map`.
    pub(super) order: Vec<u32>,
    pub(super) next_id: u64,
    /// Arrival counter: items are tagged with it, so a policy can follow arrival order.
    pub(super) seq: u64,
    /// The id of the lane served last by the round-robin policy.
    pub(super) cursor: u64,
    pub(super) error: Option<Error<E>>,
    /// Failed, cancelled or terminated: no more lanes, late signals dropped.
    pub(super) closed: bool,
    /// More lanes may still open (the outer upstream has not completed).
    pub(super) outer_open: bool,
    pub(super) outer: Option<SharedSubscription>,
    /// What the outer upstream may still send (unbounded for `switch_map`).
    pub(super) outer_outstanding: Demand,
    /// Replenishing requests to make once the lock is released.
    pub(super) requests: Vec<(SharedSubscription, u64)>,
    /// `flat_map` family: one more outer item is requested when an inner has completed
    /// AND its queue was drained, so nothing piles up while downstream has no demand.
    pub(super) refill_outer: bool,
    /// The policy only looks at lanes that have items and at [`all_done`]: a lane that
    /// completes while others remain (or more may open) needs no drain pass.
    ///
    /// [`all_done`]: State::all_done
    pub(super) quiet_lane_end: bool,
    /// The items of scalar inners not delivered yet, each with the lane id it would have
    /// had, in id order: each stands for a lane holding one item that has completed.
    pub(super) scalars: ScalarQueue<T>,
    /// `flat_map` family: scalar inners that finished (delivered, or empty) whose places
    /// were not handed back to the outer upstream yet.
    pub(super) outer_refill: u64,
    /// Hand them back once this many gathered (75% of the concurrency), or as soon as the
    /// outer upstream has nothing outstanding.
    pub(super) refill_limit: u64,
}

impl<T, E> State<T, E> {
    /// The live lane of `key`, if it is still there.
    pub(super) fn lane_mut(&mut self, key: LaneKey) -> Option<&mut Lane<T>> {
        self.slots
            .get_mut(key.slot as usize)
            .filter(|l| l.live && l.id == key.id)
    }

    /// The slot of live lane `id`.
    pub(super) fn slot_of(&self, id: u64) -> Option<u32> {
        let slots = &self.slots;
        let at = self
            .order
            .binary_search_by_key(&id, |&s| slots[s as usize].id)
            .ok()?;
        Some(self.order[at])
    }

    /// Opens a lane with `credit`.
    pub(super) fn open(&mut self, credit: Prefetch) -> LaneKey {
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
    pub(super) fn remove(&mut self, slot: u32) -> Option<SharedSubscription> {
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

    /// A completed lane was drained: it goes, and (`flat_map` family) frees its place for
    /// one more outer item.
    pub(super) fn end(&mut self, slot: u32) {
        self.remove(slot);
        if self.refill_outer && self.outer_open && !self.closed {
            if let Some(outer) = &self.outer {
                self.outer_outstanding = self.outer_outstanding.add(1);
                self.requests.push((outer.clone(), 1));
            }
        }
    }

    /// Removes every lane and queued scalar, returning the lanes' subscriptions (queued
    /// items are discarded).
    pub(super) fn remove_all(&mut self) -> Vec<SharedSubscription> {
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
    pub(super) fn pop_slot(&mut self, slot: u32) -> Option<T> {
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
    pub(super) fn pop_scalar(&mut self, at: usize) -> Option<T> {
        let item = self.scalars.remove(at)?;
        if self.refill_outer {
            self.outer_refill += 1;
        }
        Some(item)
    }

    /// Hands the places of finished scalar inners back to the outer upstream in one
    /// request, once 75% of the concurrency gathered or when the outer has nothing
    /// outstanding (holding them back then would stall it with free places).
    pub(super) fn flush_refill(&mut self) {
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
    pub(super) fn take_scalar_run(&mut self, out: &mut VecDeque<T>, max: usize, oldest: bool) {
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
    pub(super) fn pop_round_robin_with_scalars(&mut self) -> Option<T> {
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

    /// True once lane `id` was opened and is gone: for the fixed lanes of `zip` and
    /// `combine_latest` (never cancelled one by one), completed and drained.
    pub(crate) fn is_ended(&self, id: u64) -> bool {
        id < self.next_id && self.slot_of(id).is_none()
    }

    /// No lane or scalar left and none to come.
    pub(crate) fn all_done(&self) -> bool {
        !self.outer_open && self.order.is_empty() && self.scalars.is_empty()
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
