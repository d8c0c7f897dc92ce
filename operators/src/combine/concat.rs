//! `concat`: the items of several publishers, one publisher after the other.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Context as TaskContext;

use spillway_core::demand::replenish_threshold;
use spillway_core::drain::{self, DrainHandle, Pulled, Source};
use spillway_core::{Context, Demand, Error, Publisher, SharedSubscription, Subscriber};

use crate::engine::fan_in::{self, Thunk};
use crate::engine::support::{self, DrainSlot};

const STAGE: &str = "concat";

/// The most items requested from the current source and not yet delivered downstream.
const PREFETCH: u64 = 256;

/// Publisher for the [`concat`](crate::concat()) function and the
/// [`concat_with`](crate::OperatorExt::concat_with) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct Concat<T, E> {
    sources: VecDeque<Thunk<ConcatSubscriber<T, E>>>,
}

/// Emits every item of the first publisher in `sources`, then every item of the second,
/// and so on: each publisher is subscribed only once the previous one has completed.
///
/// Demand: requests from the current source what downstream has requested and not yet
/// received, up to 256 at a time (nothing at zero demand; under unbounded demand, 256,
/// topped up each time a quarter of them went out), so a `request` never pulls a
/// synchronous source to its end and a cancel stops it within 256 items; demand the
/// current source did not use when it completes is requested from the next one, so
/// downstream never has to repeat a request. An error ends the whole stream after the
/// items received before it (the remaining sources are never subscribed); cancelling
/// cancels the current source. A source that sends more than requested fails with
/// [`Error::ProtocolViolation`](spillway_core::Error::ProtocolViolation).
///
/// ```text
/// a:       -1-2-|
/// b:              -3-4-|   (subscribed when a completes)
/// concat:  -1-2----3-4-|
/// ```
///
/// # Examples
/// ```
/// use spillway::prelude::*;
/// use spillway::operators::concat;
/// # futures::executor::block_on(async {
/// let all = concat(vec![range(0, 3), range(10, 12)]).collect().await.unwrap();
/// assert_eq!(all, vec![0, 1, 2, 10, 11]);
/// # });
/// ```
pub fn concat<P, I>(sources: I) -> Concat<P::Item, P::Error>
where
    I: IntoIterator<Item = P>,
    P: Publisher + Send + 'static,
{
    Concat {
        sources: sources.into_iter().map(fan_in::thunk).collect(),
    }
}

impl<T: Send + 'static, E: Send + 'static> Concat<T, E> {
    /// Appends one more source (of any publisher type with these items and errors).
    pub fn with<P>(mut self, other: P) -> Self
    where
        P: Publisher<Item = T, Error = E> + Send + 'static,
    {
        self.sources.push_back(fan_in::thunk(other));
        self
    }
}

struct State<T, E> {
    queue: VecDeque<T>,
    /// Requested from the current source and not yet received.
    in_flight: Demand,
    current: Option<SharedSubscription>,
    /// A source is subscribed and has not terminated.
    active: bool,
    /// Which source is current: signals of an older one are ignored.
    generation: u64,
    rest: VecDeque<Thunk<ConcatSubscriber<T, E>>>,
    error: Option<Error<E>>,
    closed: bool,
}

struct Shared<T, E> {
    state: Mutex<State<T, E>>,
    drain: DrainSlot,
    context: Context,
}

impl<T, E> Shared<T, E> {
    fn lock(&self) -> MutexGuard<'_, State<T, E>> {
        support::lock(&self.state)
    }

    fn fail(&self, error: Error<E>) {
        let mut st = self.lock();
        if st.closed {
            return;
        }
        st.closed = true;
        st.error = Some(error);
        st.active = false;
        st.rest.clear();
        let current = st.current.take();
        drop(st);
        if let Some(up) = current {
            up.cancel();
        }
        self.drain.signal();
    }
}

impl<T: Send + 'static, E: Send + 'static> Publisher for Concat<T, E> {
    type Item = T;
    type Error = E;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = T, Error = E>,
    {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                in_flight: Demand::ZERO,
                current: None,
                active: false,
                generation: 0,
                rest: self.sources,
                error: None,
                closed: false,
            }),
            drain: DrainSlot::default(),
            context: subscriber.context(),
        });
        // The first pass (at zero demand) subscribes the first source.
        drain::start(ConcatSource(shared), subscriber);
    }
}

/// The downstream side: hands out queued items and tops up the current source's demand.
struct ConcatSource<T, E>(Arc<Shared<T, E>>);

impl<T: Send + 'static, E: Send + 'static> ConcatSource<T, E> {
    fn step(&mut self, with_item: bool) -> Option<Pulled<T, E>> {
        let shared = &self.0;
        let mut st = shared.lock();
        if with_item {
            if let Some(item) = st.queue.pop_front() {
                shared.drain.produced_one();
                let top_up = Self::top_up(shared, &mut st);
                drop(st);
                if let Some((up, n)) = top_up {
                    up.request(n);
                }
                return Some(Pulled::Item(item));
            }
        } else if !st.queue.is_empty() {
            return None; // items wait for demand, and an error waits behind them
        }
        // The queue is empty: what was received before an error has gone out.
        if let Some(e) = st.error.take() {
            return Some(Pulled::Error(e));
        }
        if !st.active {
            let Some(next) = st.rest.pop_front() else {
                return Some(Pulled::Complete);
            };
            st.active = true;
            st.generation += 1;
            st.in_flight = Demand::ZERO;
            let inner = ConcatSubscriber {
                shared: Arc::clone(shared),
                generation: st.generation,
            };
            drop(st);
            next(inner); // its on_subscribe re-runs the drain, which then requests
            return None;
        }
        if !with_item {
            return None;
        }
        let top_up = Self::top_up(shared, &mut st);
        drop(st);
        if let Some((up, n)) = top_up {
            up.request(n);
        }
        None
    }

    /// What to request from the current source now: enough to keep up to
    /// `min(outstanding demand, PREFETCH)` items requested or queued, asked for once a
    /// quarter of that has gone out. Never unbounded: a synchronous source emits inside
    /// `request`, so an unbounded request would pull it to its end (or forever) before
    /// the first item went downstream, and a cancel could not stop it.
    fn top_up(shared: &Shared<T, E>, st: &mut State<T, E>) -> Option<(SharedSubscription, u64)> {
        let up = st.current.clone()?;
        // Exact: this source settles demand item by item.
        let demand = shared.drain.demand();
        let cap = if demand.is_unbounded() {
            PREFETCH
        } else {
            demand.get().min(PREFETCH)
        };
        let held = st.in_flight.get().saturating_add(st.queue.len() as u64);
        if held > replenish_threshold(cap) {
            return None;
        }
        let want = cap.saturating_sub(held);
        if want == 0 {
            return None;
        }
        st.in_flight = st.in_flight.add(want);
        Some((up, want))
    }
}

impl<T: Send + 'static, E: Send + 'static> Source for ConcatSource<T, E> {
    type Item = T;
    type Error = E;
    const STAGE: &'static str = STAGE;
    const SETTLES_DEMAND: bool = true;

    fn attach(&mut self, drain: DrainHandle) {
        self.0.drain.set(drain);
    }

    fn pull(&mut self, _cx: &mut TaskContext<'_>) -> Pulled<T, E> {
        self.step(true).unwrap_or(Pulled::Pending)
    }

    fn poll_end(&mut self, _cx: &mut TaskContext<'_>) -> Option<Pulled<T, E>> {
        // At zero demand: errors at once; completed sources are still stepped over (the
        // next is subscribed, nothing requested), and the end is signalled when reached.
        self.step(false)
    }
}

impl<T, E> Drop for ConcatSource<T, E> {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.closed = true;
        st.rest.clear();
        let current = st.current.take();
        drop(st);
        if let Some(up) = current {
            up.cancel();
        }
    }
}

/// Subscribes to one source; signals of a source that is no longer current are ignored.
pub(crate) struct ConcatSubscriber<T, E> {
    shared: Arc<Shared<T, E>>,
    generation: u64,
}

impl<T: Send + 'static, E: Send + 'static> Subscriber for ConcatSubscriber<T, E> {
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let mut st = self.shared.lock();
        if st.closed || st.generation != self.generation || !st.active || st.current.is_some() {
            drop(st);
            subscription.cancel();
            return;
        }
        st.current = Some(subscription);
        drop(st);
        self.shared.drain.signal();
    }

    fn on_next(&mut self, item: T) {
        let mut st = self.shared.lock();
        if st.closed || st.generation != self.generation || !st.active {
            return; // late: dropped
        }
        if st.in_flight.is_zero() {
            drop(st);
            self.shared.fail(Error::ProtocolViolation {
                stage: STAGE,
                what: "a source sent more items than requested",
            });
            return;
        }
        st.in_flight = st.in_flight.produced(1);
        st.queue.push_back(item);
        drop(st);
        self.shared.drain.signal();
    }

    fn on_error(&mut self, error: Error<E>) {
        let current = {
            let mut st = self.shared.lock();
            let current = st.generation == self.generation && st.active;
            if current {
                st.current = None; // it terminated: nothing to cancel
            }
            current
        };
        if current {
            self.shared.fail(error);
        }
    }

    fn on_complete(&mut self) {
        let mut st = self.shared.lock();
        if st.closed || st.generation != self.generation || !st.active {
            return;
        }
        // Demand this source did not use goes to the next one.
        st.active = false;
        st.current = None;
        st.in_flight = Demand::ZERO;
        drop(st);
        self.shared.drain.signal();
    }

    fn context(&self) -> Context {
        self.shared.context.clone()
    }
}

impl<T, E> fmt::Debug for Concat<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Concat")
            .field("sources", &self.sources.len())
            .finish()
    }
}

impl<T, E> fmt::Debug for ConcatSubscriber<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcatSubscriber")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}
