//! The machinery shared by the operators that combine several upstreams (`merge`,
//! `flat_map`, `concat_map`, `switch_map`, `zip`, `combine_latest`): one *lane* per inner
//! upstream (a queue plus prefetch credit, replenished once 75% of the prefetch was
//! consumed), an optional *outer* upstream that opens lanes, and a downstream side run by
//! the core drain loop, which serializes the signals coming from all those threads.
//!
//! Each operator only supplies a [`LanePolicy`]: which lane to take the next item from, and
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

mod inner;
mod lanes;
mod outer;
mod policy;
mod source;

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use spillway_core::demand::{replenish_threshold, Prefetch};
use spillway_core::drain::{self};
use spillway_core::{
    ConfigError, Context, Demand, Error, Publisher, Scalar, SharedSubscription, Stage, Subscriber,
};

use crate::engine::support::{self, DrainSlot};

/// Where a combining operator's lanes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lanes {
    /// A fixed set, opened by the operator itself (`merge`, `zip`, `combine_latest`).
    Fixed,
    /// One per item of an outer upstream, at most `concurrency` at a time: one more outer
    /// item is requested when an inner has finished and its lane was drained
    /// (`flat_map`, `concat_map`).
    Bounded { concurrency: u64 },
    /// One per item of an outer upstream, all requested at once; each new lane cancels the
    /// previous ones (`switch_map`).
    Switching,
}

pub(crate) use inner::InnerSubscriber;
use lanes::*;
pub(crate) use lanes::{LaneKey, State};
pub(crate) use outer::OuterSubscriber;
pub(crate) use policy::{LanePolicy, Oldest, RoundRobin};
use source::FanSource;

/// The prefetch of the combining operators unless configured otherwise.
pub(crate) const DEFAULT_PREFETCH: usize = 32;

/// One input of a fixed set of lanes (`merge`, `zip_all`, `combine_latest_all`) with its
/// type erased: at subscribe time it opens its lane (or, for `merge`, may hand over a
/// scalar signal instead) and subscribes to it.
pub(crate) type Input<T, E> = Box<dyn FnOnce(&Arc<Fan<T, E>>) + Send>;

/// Subscribes `inputs` in order (lane 0, 1, ...; the rest are skipped once the operator
/// closed meanwhile), then closes the set of lanes.
pub(crate) fn subscribe_inputs<T, E>(fan: &Arc<Fan<T, E>>, inputs: Vec<Input<T, E>>) {
    for input in inputs {
        if fan.is_closed() {
            break; // cancelled or failed meanwhile: the rest are not subscribed
        }
        input(fan);
    }
    fan.close_outer();
}

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

/// The shared core of one subscription to a combining operator.
pub(crate) struct Fan<T, E> {
    state: Mutex<State<T, E>>,
    drain: DrainSlot,
    prefetch: usize,
    stage: Stage,
    context: Context,
}

impl<T, E> Fan<T, E> {
    pub(crate) fn new(prefetch: usize, stage: Stage, context: Context, lanes: Lanes) -> Arc<Self> {
        Arc::new(Fan {
            state: Mutex::new(State {
                slots: Vec::new(),
                free: Vec::new(),
                order: Vec::new(),
                next_id: 0,
                seq: 0,
                cursor: u64::MAX,
                error: None,
                closed: false,
                outer_open: true,
                outer: None,
                outer_outstanding: Demand::ZERO,
                requests: Vec::new(),
                quiet_lane_end: false,
                refill_outer: matches!(lanes, Lanes::Bounded { .. }),
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
        P: LanePolicy<T, E>,
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

impl<T, E> fmt::Debug for Fan<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fan")
            .field("stage", &self.stage)
            .field("prefetch", &self.prefetch)
            .finish_non_exhaustive()
    }
}
