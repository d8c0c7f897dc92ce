//! `within_budget`: requests upstream only what a shared [`Budget`] allows.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::Context as TaskContext;

use spillway_core::drain::{self, DrainHandle, Pulled, Source};
use spillway_core::{Context, Error, Publisher, SharedSubscription, Subscriber};

use crate::budget::{Budget, BudgetMember, STAGE};
use crate::engine::support::{self, DrainSlot, Dropper, UpstreamSlot};
use crate::stats::{DropReason, FlowStats, OnDrop};

/// Publisher for the [`within_budget`](crate::OperatorExt::within_budget) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct WithinBudget<P: Publisher> {
    upstream: P,
    budget: Budget,
    stats: FlowStats,
    on_drop: Option<OnDrop<P::Item>>,
}

impl<P: Publisher> WithinBudget<P> {
    pub(crate) fn new(upstream: P, budget: &Budget) -> Self {
        WithinBudget {
            upstream,
            budget: budget.clone(),
            stats: FlowStats::new(0),
            on_drop: None,
        }
    }

    /// Calls `f` with every dropped item (only items buffered when the pipeline is
    /// cancelled, stopped or fails: [`DropReason::Discarded`]).
    /// A panic in `f` never unwinds into the caller (nor into
    /// [`Budget::emergency_stop`]); the cancel, the stop or the failure that caused the
    /// drop is what downstream sees (see [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
    pub fn on_drop<F>(mut self, f: F) -> Self
    where
        F: Fn(P::Item, DropReason) + Send + Sync + 'static,
    {
        self.on_drop = Some(support::on_drop(f));
        self
    }

    /// The live statistics of this stage (shared by all its subscriptions); the budget's
    /// own counters are in [`Budget::stats`].
    pub fn stats(&self) -> FlowStats {
        self.stats.clone()
    }
}

struct Inner<T, E> {
    queue: VecDeque<T>,
    /// Requested upstream, not yet received: each holds one unit.
    in_flight: u64,
    /// Handed to the drain loop for delivery: their units are returned at the next
    /// pull, once downstream's `on_next` has returned.
    delivered: u64,
    end: Option<Result<(), Error<E>>>,
    failed: Option<Error<E>>,
    closed: bool,
    subscribed: bool,
    upstream_done: bool,
}

impl<T, E> Inner<T, E> {
    fn held(&self) -> u64 {
        self.in_flight + self.delivered + self.queue.len() as u64
    }
}

struct Shared<T, E> {
    inner: Mutex<Inner<T, E>>,
    id: u64,
    budget: Budget,
    upstream: UpstreamSlot,
    drain: DrainSlot,
    dropper: Dropper<T>,
}

impl<T: Send + 'static, E: Send + 'static> Shared<T, E> {
    fn lock(&self) -> MutexGuard<'_, Inner<T, E>> {
        support::lock(&self.inner)
    }

    /// Fails the stage: cancels upstream, drops the buffer, returns the units and lets
    /// the drain deliver `error` at once.
    fn fail(&self, error: Error<E>, extra: Option<T>) {
        let mut inner = self.lock();
        if inner.closed || inner.failed.is_some() {
            drop(inner);
            self.dropper.discard_quietly(extra, DropReason::Discarded);
            return;
        }
        inner.failed = Some(error);
        let cancel = !inner.upstream_done;
        inner.upstream_done = true;
        inner.end = None;
        let delivered = std::mem::take(&mut inner.delivered);
        let held = inner.held() + delivered;
        inner.in_flight = 0;
        let left: Vec<T> = inner.queue.drain(..).chain(extra).collect();
        self.dropper.stats.set_buffered(0);
        drop(inner);
        self.budget.release(held, delivered);
        if cancel {
            self.upstream.cancel();
        }
        // The stage failed already (emergency stop, protocol violation): that failure wins
        // over a panic in `on_drop` here, which must not unwind into the producer or into
        // `Budget::emergency_stop` either.
        self.dropper.discard_quietly(left, DropReason::Discarded);
        self.drain.signal();
    }

    /// Returns the units of the items delivered since the last pass (their `on_next`
    /// has returned), before asking for more: waiting pipelines are served first.
    fn settle_delivered(&self) {
        let n = std::mem::take(&mut self.lock().delivered);
        self.budget.release(n, n);
    }

    /// Asks the budget for units to cover downstream's uncovered demand and requests
    /// what it grants. Runs on the drain loop only, so never concurrently with itself.
    fn replenish(&self) {
        let want = {
            let inner = self.lock();
            if !inner.subscribed || inner.closed || inner.upstream_done || inner.failed.is_some() {
                0
            } else {
                self.drain.demand().get().saturating_sub(inner.held())
            }
        };
        let got = self.budget.acquire(self.id, want);
        if got == 0 {
            return;
        }
        let mut inner = self.lock();
        if inner.closed || inner.upstream_done || inner.failed.is_some() {
            drop(inner);
            self.budget.release(got, 0);
            return;
        }
        inner.in_flight += got;
        drop(inner);
        self.upstream.request(got);
    }
}

impl<T: Send + 'static, E: Send + 'static> BudgetMember for Shared<T, E> {
    fn wake(&self) {
        self.drain.signal();
    }

    fn stop(&self) {
        self.fail(
            Error::Rejected {
                stage: STAGE,
                reason: "emergency stop",
            },
            None,
        );
    }
}

impl<P: Publisher> Publisher for WithinBudget<P> {
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        let subscriber = crate::named::attach(STAGE, Some(&self.stats), subscriber);
        let context = subscriber.context();
        let id = self.budget.next_id();
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                in_flight: 0,
                delivered: 0,
                end: None,
                failed: None,
                closed: false,
                subscribed: false,
                upstream_done: false,
            }),
            id,
            budget: self.budget,
            upstream: UpstreamSlot::default(),
            drain: DrainSlot::default(),
            dropper: Dropper::new(self.stats, self.on_drop),
        });
        let member: Arc<dyn BudgetMember> = shared.clone();
        let weak: Weak<dyn BudgetMember> = Arc::downgrade(&member);
        drop(member);
        if !shared.budget.join(id, weak) {
            // Stopped: fail at once; upstream is never subscribed.
            shared.lock().failed = Some(Error::Rejected {
                stage: STAGE,
                reason: "emergency stop",
            });
            shared.lock().upstream_done = true;
            drain::start(BudgetSource(shared), subscriber);
            return;
        }
        drain::start(BudgetSource(Arc::clone(&shared)), subscriber);
        self.upstream.subscribe(BudgetUpstream { shared, context });
    }
}

/// The downstream side, run by the drain loop.
struct BudgetSource<T: Send + 'static, E: Send + 'static>(Arc<Shared<T, E>>);

impl<T: Send + 'static, E: Send + 'static> Source for BudgetSource<T, E> {
    type Item = T;
    type Error = E;
    const STAGE: &'static str = STAGE;
    const SETTLES_DEMAND: bool = true;

    fn attach(&mut self, drain: DrainHandle) {
        self.0.drain.set(drain);
    }

    fn pull(&mut self, _cx: &mut TaskContext<'_>) -> Pulled<T, E> {
        let shared = &self.0;
        shared.settle_delivered();
        let mut inner = shared.lock();
        if let Some(e) = inner.failed.take() {
            return Pulled::Error(e);
        }
        if let Some(item) = inner.queue.pop_front() {
            shared.drain.produced_one();
            shared.dropper.stats.record_emitted(1);
            shared.dropper.stats.set_buffered(inner.queue.len());
            inner.delivered += 1;
            drop(inner);
            shared.replenish();
            return Pulled::Item(item);
        }
        if let Some(end) = inner.end.take() {
            return match end {
                Ok(()) => Pulled::Complete,
                Err(e) => Pulled::Error(e),
            };
        }
        drop(inner);
        shared.replenish();
        Pulled::Pending
    }

    fn poll_end(&mut self, _cx: &mut TaskContext<'_>) -> Option<Pulled<T, E>> {
        self.0.settle_delivered();
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
            None => {
                drop(inner);
                // Units granted while downstream's demand was being used up.
                self.0.replenish();
                None
            }
        }
    }
}

impl<T: Send + 'static, E: Send + 'static> Drop for BudgetSource<T, E> {
    fn drop(&mut self) {
        let shared = &self.0;
        let mut inner = shared.lock();
        inner.closed = true;
        let delivered = std::mem::take(&mut inner.delivered);
        let held = inner.held();
        inner.in_flight = 0;
        let left: Vec<T> = inner.queue.drain(..).collect();
        let cancel = !inner.upstream_done && inner.end.is_none();
        inner.upstream_done = true;
        shared.dropper.stats.set_buffered(0);
        drop(inner);
        shared.budget.release(0, delivered);
        shared.budget.leave(shared.id, held + delivered);
        if cancel {
            shared.upstream.cancel();
        }
        // Nobody is left to tell of a panic in `on_drop` here: caught and ignored.
        shared.dropper.discard_quietly(left, DropReason::Discarded);
    }
}

/// The upstream side: receives the requested items.
struct BudgetUpstream<T, E> {
    shared: Arc<Shared<T, E>>,
    context: Context,
}

impl<T: Send + 'static, E: Send + 'static> Subscriber for BudgetUpstream<T, E> {
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let shared = &self.shared;
        if !shared.upstream.set(subscription.clone()) {
            return; // rule 2.5
        }
        let mut inner = shared.lock();
        if inner.closed || inner.upstream_done {
            drop(inner);
            subscription.cancel();
            return;
        }
        inner.subscribed = true;
        drop(inner);
        shared.drain.signal();
    }

    fn on_next(&mut self, item: T) {
        let shared = &self.shared;
        shared.dropper.stats.record_received();
        let mut inner = shared.lock();
        if inner.closed || inner.upstream_done || inner.failed.is_some() {
            // Late (the stage is over): a panic in `on_drop` has nobody to go to.
            drop(inner);
            shared
                .dropper
                .discard_quietly(Some(item), DropReason::Discarded);
            return;
        }
        if inner.in_flight == 0 {
            // Non-compliant upstream: an item nobody paid a unit for.
            drop(inner);
            shared.fail(
                Error::ProtocolViolation {
                    stage: STAGE,
                    what: "an item arrived without demand",
                },
                Some(item),
            );
            return;
        }
        inner.in_flight -= 1;
        inner.queue.push_back(item);
        shared.dropper.stats.set_buffered(inner.queue.len());
        drop(inner);
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

impl<T: Send + 'static, E: Send + 'static> BudgetUpstream<T, E> {
    fn end(&mut self, end: Result<(), Error<E>>) {
        let shared = &self.shared;
        let mut inner = shared.lock();
        if inner.upstream_done {
            return;
        }
        inner.upstream_done = true;
        inner.end = Some(end);
        // Requested items that will never come give their units back now.
        let unused = std::mem::take(&mut inner.in_flight);
        drop(inner);
        shared.budget.release(unused, 0);
        shared.drain.signal();
    }
}

impl<P: Publisher + fmt::Debug> fmt::Debug for WithinBudget<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithinBudget")
            .field("upstream", &self.upstream)
            .field("budget", &self.budget)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
