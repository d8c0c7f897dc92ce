//! `within_budget`: requests upstream only what a shared [`Budget`] allows.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, MutexGuard, Weak};
use std::task::Context as TaskContext;

use spillway_core::drain::{self, DrainHandle, Pulled, Source};
use spillway_core::{Context, Error, Publisher, SharedSubscription, Subscriber};

use crate::backpressure::budget::{Budget, BudgetMember, STAGE};
use crate::engine::queue::{Locked, QueueCore};
use crate::engine::support::Dropper;
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

    crate::drop_builders! {
        item: P::Item,
        /// Calls `f` with every dropped item (only items buffered when the pipeline is
        /// cancelled, stopped or fails: [`DropReason::Discarded`]).
        /// A panic in `f` never unwinds into the caller (nor into
        /// [`Budget::emergency_stop`]); the cancel, the stop or the failure that caused the
        /// drop is what downstream sees (see [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
        on_drop,
        /// The live statistics of this stage (shared by all its subscriptions); the budget's
        /// own counters are in [`Budget::stats`].
        stats,
    }
}

/// The budget's units this pipeline holds, besides the queued items' (one each).
struct Units {
    /// Requested upstream, not yet received: each holds one unit.
    in_flight: u64,
    /// Handed to the drain loop for delivery: their units are returned at the next
    /// pull, once downstream's `on_next` has returned.
    delivered: u64,
    /// Upstream's subscription arrived: requests can be made.
    subscribed: bool,
}

type Inner<T, E> = Locked<VecDeque<T>, Units, E>;

/// Every unit held: in flight, delivered and queued.
fn held<T, E>(inner: &Inner<T, E>) -> u64 {
    inner.state.in_flight + inner.state.delivered + inner.held.len() as u64
}

struct Shared<T: Send + 'static, E> {
    core: QueueCore<VecDeque<T>, Units, E>,
    id: u64,
    budget: Budget,
}

impl<T: Send + 'static, E: Send + 'static> Shared<T, E> {
    fn lock(&self) -> MutexGuard<'_, Inner<T, E>> {
        self.core.lock()
    }

    /// Fails the stage: cancels upstream, drops the buffer, returns the units and lets
    /// the drain deliver `error` at once.
    fn fail(&self, error: Error<E>, extra: Option<T>) {
        let core = &self.core;
        let mut inner = self.lock();
        if inner.life.is_closed() || inner.life.has_failed() {
            drop(inner);
            return core.dropper.discard_quietly(extra, DropReason::Discarded);
        }
        let cancel = inner.life.fail(error);
        let delivered = std::mem::take(&mut inner.state.delivered);
        let units = held(&inner) + delivered;
        inner.state.in_flight = 0;
        let left: Vec<T> = inner.held.drain(..).chain(extra).collect();
        core.dropper.stats.set_buffered(0);
        drop(inner);
        self.budget.release(units, delivered);
        if cancel {
            core.upstream.cancel();
        }
        // The stage failed already (emergency stop, protocol violation): that failure wins
        // over a panic in `on_drop` here, which must not unwind into the producer or into
        // `Budget::emergency_stop` either.
        core.dropper.discard_quietly(left, DropReason::Discarded);
        core.drain.signal();
    }

    /// Returns the units of the items delivered since the last pass (their `on_next`
    /// has returned), before asking for more: waiting pipelines are served first.
    fn settle_delivered(&self) {
        let n = std::mem::take(&mut self.lock().state.delivered);
        self.budget.release(n, n);
    }

    /// Asks the budget for units to cover downstream's uncovered demand and requests
    /// what it grants. Runs on the drain loop only, so never concurrently with itself.
    fn replenish(&self) {
        let want = {
            let inner = self.lock();
            if !inner.state.subscribed || !inner.life.is_open() {
                0
            } else {
                self.core.drain.demand().get().saturating_sub(held(&inner))
            }
        };
        let got = self.budget.acquire(self.id, want);
        if got == 0 {
            return;
        }
        let mut inner = self.lock();
        if !inner.life.is_open() {
            drop(inner);
            self.budget.release(got, 0);
            return;
        }
        inner.state.in_flight += got;
        drop(inner);
        self.core.upstream.request(got);
    }
}

impl<T: Send + 'static, E: Send + 'static> BudgetMember for Shared<T, E> {
    fn wake(&self) {
        self.core.drain.signal();
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
        let units = Units {
            in_flight: 0,
            delivered: 0,
            subscribed: false,
        };
        let dropper = Dropper::new(self.stats, self.on_drop);
        let shared = Arc::new(Shared {
            core: QueueCore::new(STAGE, VecDeque::new(), units, dropper),
            id,
            budget: self.budget,
        });
        let member: Arc<dyn BudgetMember> = shared.clone();
        let weak: Weak<dyn BudgetMember> = Arc::downgrade(&member);
        drop(member);
        if !shared.budget.join(id, weak) {
            // Stopped: fail at once; upstream is never subscribed.
            shared.lock().life.fail(Error::Rejected {
                stage: STAGE,
                reason: "emergency stop",
            });
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
        self.0.core.drain.set(drain);
    }

    fn pull(&mut self, _cx: &mut TaskContext<'_>) -> Pulled<T, E> {
        let shared = &self.0;
        shared.settle_delivered();
        let core = &shared.core;
        let mut delivered = false;
        let pulled = core.pull(|inner| {
            let item = core.hand_out(inner)?;
            inner.state.delivered += 1;
            delivered = true;
            Some(item)
        });
        if delivered || matches!(pulled, Pulled::Pending) {
            shared.replenish();
        }
        pulled
    }

    fn poll_end(&mut self, _cx: &mut TaskContext<'_>) -> Option<Pulled<T, E>> {
        self.0.settle_delivered();
        let mut inner = self.0.lock();
        if let Some(failure) = inner.life.take_failure() {
            return Some(failure);
        }
        if !inner.held.is_empty() {
            return None;
        }
        if let Some(end) = inner.life.take_end() {
            return Some(end);
        }
        drop(inner);
        // Units granted while downstream's demand was being used up.
        self.0.replenish();
        None
    }
}

impl<T: Send + 'static, E: Send + 'static> Drop for BudgetSource<T, E> {
    fn drop(&mut self) {
        let shared = &self.0;
        let (units, delivered) = shared.core.close(|inner| {
            let delivered = std::mem::take(&mut inner.state.delivered);
            let units = held(inner);
            inner.state.in_flight = 0;
            (units, delivered)
        });
        shared.budget.release(0, delivered);
        shared.budget.leave(shared.id, units + delivered);
    }
}

/// The upstream side: receives the requested items.
struct BudgetUpstream<T: Send + 'static, E> {
    shared: Arc<Shared<T, E>>,
    context: Context,
}

impl<T: Send + 'static, E: Send + 'static> Subscriber for BudgetUpstream<T, E> {
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let core = &self.shared.core;
        // Nothing is requested here: the drain requests what the budget grants.
        let taken = core.upstream_subscribed(subscription, |inner| {
            inner.state.subscribed = true;
            0
        });
        if taken {
            core.drain.signal();
        }
    }

    fn on_next(&mut self, item: T) {
        let shared = &self.shared;
        let core = &shared.core;
        core.dropper.stats.record_received();
        let mut inner = shared.lock();
        if !inner.life.is_open() {
            drop(inner);
            return core.discard_late(item);
        }
        if inner.state.in_flight == 0 {
            // Non-compliant upstream: an item nobody paid a unit for.
            drop(inner);
            return shared.fail(core.unrequested(), Some(item));
        }
        inner.state.in_flight -= 1;
        core.queue(inner, item);
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
        if !inner.life.end_upstream(end) {
            return;
        }
        // Requested items that will never come give their units back now.
        let unused = std::mem::take(&mut inner.state.in_flight);
        drop(inner);
        shared.budget.release(unused, 0);
        shared.core.drain.signal();
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
