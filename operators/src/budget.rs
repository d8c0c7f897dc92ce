//! `Budget`: a pool of in-transit units shared by many pipelines (global backpressure),
//! with fair (FIFO, round-robin) hand-out and an emergency stop.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use spillway_core::ConfigError;

use crate::support;

/// The stage name of [`within_budget`](crate::OperatorExt::within_budget), used in its
/// errors.
pub(crate) const STAGE: &str = "budget";

/// A budget of in-transit items shared by every pipeline that uses it through
/// [`within_budget`](crate::OperatorExt::within_budget): the Rust counterpart of the seed
/// document's *global backpressure* ("coordinate across multiple streams") and its
/// `emergencyStop()`.
///
/// A unit is taken when a stage requests an item from its upstream and returned when
/// that item is delivered downstream (or when it can no longer arrive: completion,
/// cancellation, failure). So at any moment the items requested-but-not-yet-delivered
/// across **all** pipelines sharing the budget never exceed its capacity.
///
/// Fairness: a pipeline that wants units while none are free joins a FIFO queue of
/// waiters; returned units are handed out round-robin, one unit per waiter per turn, and
/// a newcomer never overtakes a waiting pipeline.
///
/// The handle is cheap to clone and can be used from any thread.
///
/// # Examples
/// ```
/// use spillway::prelude::*;
/// use spillway::operators::Budget;
/// # futures::executor::block_on(async {
/// let budget = Budget::new(4)?;
/// let a = range(0, 100).within_budget(&budget).count();
/// let b = range(0, 50).within_budget(&budget).count();
/// let (a, b) = futures::join!(a, b);
/// assert_eq!((a.unwrap(), b.unwrap()), (100, 50));
/// let s = budget.stats();
/// assert_eq!((s.passed, s.in_use), (150, 0));
/// assert!(s.peak_in_use <= 4);
/// # Ok::<(), spillway::ConfigError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Budget {
    shared: Arc<BudgetShared>,
}

/// A snapshot of a [`Budget`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BudgetStats {
    /// The capacity: the most units in use at once.
    pub capacity: u64,
    /// Units in use now (items requested upstream and not yet delivered downstream,
    /// plus units granted to a waiting pipeline and not yet picked up).
    pub in_use: u64,
    /// The most units ever in use at once (never above `capacity`).
    pub peak_in_use: u64,
    /// Pipelines waiting for units now.
    pub waiting: usize,
    /// Pipelines currently subscribed through the budget.
    pub active: usize,
    /// Items delivered downstream by all pipelines, in total.
    pub passed: u64,
    /// True after [`Budget::emergency_stop`] until [`Budget::resume`].
    pub stopped: bool,
}

impl fmt::Display for BudgetStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "in use {}/{} (peak {}) active {} waiting {} passed {}{}",
            self.in_use,
            self.capacity,
            self.peak_in_use,
            self.active,
            self.waiting,
            self.passed,
            if self.stopped { " STOPPED" } else { "" }
        )
    }
}

/// What the budget needs of a participating stage. Called without the budget's lock.
pub(crate) trait BudgetMember: Send + Sync {
    /// Units were granted to it: pick them up (with [`Budget::acquire`]).
    fn wake(&self);
    /// The budget was stopped: fail the pipeline.
    fn stop(&self);
}

struct Member {
    /// Units it still wants.
    want: u64,
    /// Units granted while it waited, not yet picked up (counted in `in_use`).
    granted: u64,
    /// In the waiters queue.
    queued: bool,
    hooks: Weak<dyn BudgetMember>,
}

struct State {
    capacity: u64,
    in_use: u64,
    peak: u64,
    waiters: VecDeque<u64>,
    members: HashMap<u64, Member>,
    passed: u64,
    stopped: bool,
}

struct BudgetShared {
    state: Mutex<State>,
    next_id: AtomicU64,
}

type Woken = Vec<(u64, Arc<dyn BudgetMember>)>;

impl State {
    fn take(&mut self, n: u64) {
        self.in_use += n;
        self.peak = self.peak.max(self.in_use);
    }

    /// Hands free units to the waiters, round-robin; returns the members to wake.
    fn distribute(&mut self) -> Woken {
        let mut woken: Woken = Vec::new();
        while self.in_use < self.capacity && !self.stopped {
            let Some(id) = self.waiters.pop_front() else {
                break;
            };
            let Some(m) = self.members.get_mut(&id) else {
                continue; // it left
            };
            m.queued = false;
            if m.want == 0 {
                continue;
            }
            let free = self.capacity - self.in_use;
            // Alone in the queue: no one to be fair to, take what fits at once.
            let n = if self.waiters.is_empty() {
                m.want.min(free)
            } else {
                1
            };
            m.want -= n;
            m.granted += n;
            if m.want > 0 {
                m.queued = true;
                self.waiters.push_back(id);
            }
            if let Some(h) = m.hooks.upgrade() {
                if !woken.iter().any(|(w, _)| *w == id) {
                    woken.push((id, h));
                }
            }
            self.take(n);
        }
        woken
    }
}

fn wake_all(woken: Woken) {
    for (_, h) in woken {
        h.wake();
    }
}

impl Budget {
    /// A budget of `capacity` units.
    ///
    /// # Errors
    /// [`ConfigError`] if `capacity` is zero.
    pub fn new(capacity: u64) -> Result<Budget, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::new(STAGE, "the capacity must be at least 1"));
        }
        Ok(Budget {
            shared: Arc::new(BudgetShared {
                state: Mutex::new(State {
                    capacity,
                    in_use: 0,
                    peak: 0,
                    waiters: VecDeque::new(),
                    members: HashMap::new(),
                    passed: 0,
                    stopped: false,
                }),
                next_id: AtomicU64::new(1),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        support::lock(&self.shared.state)
    }

    /// The capacity.
    pub fn capacity(&self) -> u64 {
        self.lock().capacity
    }

    /// The current counters (the seed's `getSystemStats()`).
    pub fn stats(&self) -> BudgetStats {
        let s = self.lock();
        BudgetStats {
            capacity: s.capacity,
            in_use: s.in_use,
            peak_in_use: s.peak,
            waiting: s
                .members
                .values()
                .filter(|m| m.queued && m.want > 0)
                .count(),
            active: s.members.len(),
            passed: s.passed,
            stopped: s.stopped,
        }
    }

    /// Stops every participating pipeline: each is cancelled upstream, its buffered items
    /// are dropped as [`DropReason::Discarded`](crate::DropReason::Discarded), its units
    /// are returned, and its subscriber receives
    /// `Error::Rejected { stage: "budget", reason: "emergency stop" }` at once (even
    /// without demand). Until [`resume`](Self::resume), pipelines subscribing through the
    /// budget fail the same way at subscription.
    pub fn emergency_stop(&self) {
        let members: Vec<Arc<dyn BudgetMember>> = {
            let mut s = self.lock();
            s.stopped = true;
            s.waiters.clear();
            let mut granted = 0;
            let mut members = Vec::new();
            for m in s.members.values_mut() {
                granted += m.granted;
                m.granted = 0;
                m.want = 0;
                m.queued = false;
                members.extend(m.hooks.upgrade());
            }
            s.in_use -= granted;
            members
        };
        for m in members {
            m.stop();
        }
    }

    /// True after [`emergency_stop`](Self::emergency_stop), until [`resume`](Self::resume).
    pub fn is_stopped(&self) -> bool {
        self.lock().stopped
    }

    /// Lets pipelines subscribe through the budget again after an emergency stop (the
    /// stopped pipelines stay failed).
    pub fn resume(&self) {
        self.lock().stopped = false;
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.shared.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers a stage; false if the budget is stopped.
    pub(crate) fn join(&self, id: u64, hooks: Weak<dyn BudgetMember>) -> bool {
        let mut s = self.lock();
        if s.stopped {
            return false;
        }
        s.members.insert(
            id,
            Member {
                want: 0,
                granted: 0,
                queued: false,
                hooks,
            },
        );
        true
    }

    /// The stage wants `want` units in all (on top of those it holds): returns those it
    /// gets now (grants it was waiting for first, then free units if nobody waits ahead
    /// of it); for the rest it waits in line and is woken when some are granted.
    pub(crate) fn acquire(&self, id: u64, want: u64) -> u64 {
        let woken = {
            let mut s = self.lock();
            let Some(m) = s.members.get_mut(&id) else {
                return 0;
            };
            let mut got = std::mem::take(&mut m.granted);
            m.want = want.saturating_sub(got);
            if m.want > 0 && !m.queued {
                m.queued = true;
                s.waiters.push_back(id);
            }
            let mut woken = s.distribute();
            woken.retain(|(w, _)| *w != id);
            if let Some(m) = s.members.get_mut(&id) {
                got += std::mem::take(&mut m.granted);
            }
            drop(s);
            // `got` is returned below; wake the others after releasing the lock.
            (woken, got)
        };
        let (woken, got) = woken;
        wake_all(woken);
        got
    }

    /// Returns `units` and counts `delivered` items as passed.
    pub(crate) fn release(&self, units: u64, delivered: u64) {
        if units == 0 && delivered == 0 {
            return;
        }
        let woken = {
            let mut s = self.lock();
            debug_assert!(units <= s.in_use, "released more units than taken");
            s.in_use -= units.min(s.in_use);
            s.passed += delivered;
            s.distribute()
        };
        wake_all(woken);
    }

    /// The stage is gone: returns the `held` units and any it had been granted.
    pub(crate) fn leave(&self, id: u64, held: u64) {
        let woken = {
            let mut s = self.lock();
            let granted = s.members.remove(&id).map_or(0, |m| m.granted);
            let back = (held + granted).min(s.in_use);
            s.in_use -= back;
            s.distribute()
        };
        wake_all(woken);
    }
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Budget").field(&self.stats()).finish()
    }
}
