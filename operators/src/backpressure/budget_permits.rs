//! Permits from a shared [`Budget`] for the async stages (`map_async`, `map_async_unordered`,
//! `then`, `try_map_async`): each future holds its units (one, or its item's weight) from
//! the moment it is created until its result has been delivered downstream.
//!
//! The stage's drain loop owns a [`Gate`]: the items received and waiting for their units,
//! the units its futures hold, and those of the results delivered since its last pass
//! (returned at the next pass, once downstream's `on_next` has returned). The budget only
//! *schedules* a pass of the stage when it grants units ([`WakerSlot`]): it never runs the
//! stage, so no future is polled and no user code runs on the thread that returned them.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, Weak};
use std::task::Waker;

use spillway_core::{Error, Stage};

use crate::backpressure::budget::{Budget, BudgetMember};
use crate::engine::support;

/// The reason of the [`Error::Rejected`] of an item heavier than the whole budget.
pub(crate) const TOO_HEAVY: &str = "item weight above the budget's capacity";

/// The failure of a stage stopped by [`Budget::emergency_stop`] (as `within_budget`'s).
pub(crate) fn stopped<E>() -> Error<E> {
    Error::Rejected {
        stage: crate::backpressure::budget::STAGE,
        reason: "emergency stop",
    }
}

/// A weigher: the units an item's future takes.
type Weigher<T> = Arc<dyn Fn(&T) -> u64 + Send + Sync>;

/// Where an async stage takes its units: the budget, and how many per item (one without a
/// weigher).
pub(crate) struct Permits<T> {
    budget: Budget,
    weigh: Option<Weigher<T>>,
}

impl<T> Permits<T> {
    /// One unit per future.
    pub(crate) fn new(budget: &Budget) -> Self {
        Permits {
            budget: budget.clone(),
            weigh: None,
        }
    }

    /// `weigh(&item)` units per future (a weight of 0 counts as 1).
    pub(crate) fn weighted<W>(budget: &Budget, weigh: W) -> Self
    where
        W: Fn(&T) -> u64 + Send + Sync + 'static,
    {
        Permits {
            budget: budget.clone(),
            weigh: Some(Arc::new(weigh)),
        }
    }
}

impl<T> fmt::Debug for Permits<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permits")
            .field("budget", &self.budget)
            .field("weighted", &self.weigh.is_some())
            .finish()
    }
}

/// The waker of a stage's drain loop, kept for the budget: a grant or an emergency stop
/// wakes it, which only schedules the stage's next pass (on the pipeline's driver or
/// executor).
#[derive(Default)]
pub(crate) struct WakerSlot(Mutex<Option<Waker>>);

impl WakerSlot {
    /// Keeps `waker` (the drain's, the same for every pass). Called at the start of each
    /// pass, before the stage looks at its state or asks for units: whatever happens after
    /// that wakes it.
    pub(crate) fn register(&self, waker: &Waker) {
        let mut slot = support::lock(&self.0);
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }

    /// Schedules the stage's next pass, if a pass ever registered (the first pass, which
    /// every subscription runs, looks at the state anyway).
    pub(crate) fn wake(&self) {
        let waker = support::lock(&self.0).clone();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// One subscription's dealings with the budget, owned by the stage's drain loop.
pub(crate) struct Gate<T> {
    budget: Budget,
    id: u64,
    capacity: u64,
    weigh: Option<Weigher<T>>,
    /// Received items waiting for their units, in arrival order, with their weights.
    waiting: VecDeque<(T, u64)>,
    /// Units of the futures started and not yet delivered.
    held: u64,
    /// Units and count of the results delivered since the last [`settle`](Self::settle).
    delivered_units: u64,
    delivered_items: u64,
}

impl<T> Gate<T> {
    /// Registers a stage with `hooks`; `None` if the budget is stopped.
    pub(crate) fn join(permits: Permits<T>, hooks: Weak<dyn BudgetMember>) -> Option<Gate<T>> {
        let Permits { budget, weigh } = permits;
        let id = budget.next_id();
        if !budget.join(id, hooks) {
            return None;
        }
        Some(Gate {
            capacity: budget.capacity(),
            budget,
            id,
            weigh,
            waiting: VecDeque::new(),
            held: 0,
            delivered_units: 0,
            delivered_items: 0,
        })
    }

    /// Weighs `item` and queues it for its units. A panic in the weigher, or a weight
    /// above the capacity (which could never be granted), is the stage's failure.
    pub(crate) fn push<E>(&mut self, item: T, stage: Stage) -> Result<(), Error<E>> {
        let weight = match &self.weigh {
            None => 1,
            Some(weigh) => catch_unwind(AssertUnwindSafe(|| weigh(&item)))
                .map_err(|payload| Error::from_panic(stage, payload))?
                .max(1),
        };
        if weight > self.capacity {
            return Err(Error::Rejected {
                stage,
                reason: TOO_HEAVY,
            });
        }
        self.waiting.push_back((item, weight));
        Ok(())
    }

    /// The next waiting item and its weight, if its units are granted now (FIFO: a later,
    /// lighter item never overtakes it). Its units are held from now on.
    pub(crate) fn next_granted(&mut self) -> Option<(T, u64)> {
        let weight = self.waiting.front()?.1;
        if !self.budget.acquire_exact(self.id, weight) {
            return None;
        }
        self.held += weight;
        self.waiting.pop_front()
    }

    /// A result holding `weight` units was handed to downstream: its units go back at the
    /// next [`settle`](Self::settle), once downstream's `on_next` has returned.
    pub(crate) fn delivered(&mut self, weight: u64) {
        self.held -= weight;
        self.delivered_units += weight;
        self.delivered_items += 1;
    }

    /// Returns the units of the results delivered since the last call.
    pub(crate) fn settle(&mut self) {
        let units = std::mem::take(&mut self.delivered_units);
        let items = std::mem::take(&mut self.delivered_items);
        self.budget.release(units, items);
    }

    /// Items waiting for their units.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.len()
    }
}

impl<T> Drop for Gate<T> {
    /// The stage is over (completed, failed, cancelled): every unit it holds goes back.
    fn drop(&mut self) {
        self.budget.release(0, self.delivered_items);
        self.budget.leave(self.id, self.held + self.delivered_units);
    }
}

impl<T> fmt::Debug for Gate<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate")
            .field("id", &self.id)
            .field("waiting", &self.waiting.len())
            .field("held", &self.held)
            .finish_non_exhaustive()
    }
}
