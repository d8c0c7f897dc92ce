//! `Budget`: a pool of units shared by many pipelines (global backpressure): items in
//! transit (`within_budget`) or work in progress (async stages with permits), with fair
//! (FIFO) hand-out and an emergency stop.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use spillway_core::ConfigError;

use crate::engine::support;

/// The stage name of [`within_budget`](crate::OperatorExt::within_budget), used in its
/// errors, and in the emergency stop's error of every stage taking units from a budget.
pub(crate) const STAGE: &str = "budget";

/// A pool of units shared by many pipelines: the Rust counterpart of the seed document's
/// *global backpressure* ("coordinate across multiple streams") and its `emergencyStop()`.
/// What a unit bounds depends on the stage that takes it:
///
/// * [`within_budget`](crate::OperatorExt::within_budget): **items in transit** through
///   that stage. A unit is taken when the stage requests an item from its upstream and
///   returned when that item is delivered downstream (or can no longer arrive:
///   completion, cancellation, failure). It bounds the items *it* asked for, not the work
///   above it: three `map_async(4)` stages above a `within_budget` of 2 still run 12
///   futures at once.
/// * An async stage with permits ([`MapAsync::permits_from`](crate::MapAsync::permits_from),
///   and likewise on `map_async_unordered`, `then`, `try_map_async`): **work in
///   progress**. Each future holds one unit from its creation until its result has been
///   delivered downstream, so the futures started and not yet delivered, across every
///   pipeline sharing the budget, never exceed the capacity.
/// * The weighted form ([`MapAsync::permits_from_weighted`](crate::MapAsync::permits_from_weighted)):
///   **weighted work in progress** (bytes, cost). Each future holds `weigh(&item)` units
///   (at least one) over the same span.
///
/// One pool serves all three: [`stats`](Self::stats) counts every unit in use, whoever
/// holds it. For a budgeted `for_each_async`, end the pipeline with
/// `.map_async_unordered(n, f)?.permits_from(&budget).for_each(drop)`: each future then
/// holds its unit until it completes.
///
/// Fairness: a stage that wants units while none are free joins a FIFO queue of waiters,
/// and a newcomer never overtakes a waiting stage. `within_budget` stages are served
/// round-robin, one unit per waiter per turn. An async stage waits for all the units of
/// its next future at once, strict FIFO as tokio's `Semaphore::acquire_many`: while it
/// heads the queue it gets every returned unit until it has enough, and nobody behind it
/// gets any, so a heavy item is never starved by light ones.
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
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct BudgetStats {
    /// The capacity: the most units in use at once.
    pub capacity: u64,
    /// Units in use now: items requested upstream and not yet delivered downstream
    /// (`within_budget`), futures started and not yet delivered (async stages with
    /// permits), plus units granted to a waiting stage and not yet picked up (an async
    /// stage keeps the units it was granted until it has all its next future needs).
    pub in_use: u64,
    /// The most units ever in use at once (never above `capacity`).
    pub peak_in_use: u64,
    /// Stages waiting for units now.
    pub waiting: usize,
    /// Stages currently subscribed through the budget (one per subscription).
    pub active: usize,
    /// Items delivered downstream by all stages, in total (for async stages: results).
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
    /// Its want is all-or-nothing (the units of one future of an async stage): while it
    /// heads the queue, it gets every unit returned until it has them all, and nobody
    /// behind it gets any (strict FIFO, as tokio's `Semaphore::acquire_many`). Otherwise
    /// (`within_budget`) its want is divisible and served round-robin, one unit a turn.
    exact: bool,
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

    /// Hands free units to the waiters and returns the members to wake: a divisible want
    /// gets one unit a turn (round-robin), or all that fits when it is alone in the
    /// queue; an exact want at the head gets all that fits and keeps the head until it is
    /// complete (strict FIFO: later waiters, small or not, wait behind it). An exact
    /// member is woken only once it has all it wants.
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
            let n = if m.exact || self.waiters.is_empty() {
                m.want.min(free)
            } else {
                1
            };
            m.want -= n;
            m.granted += n;
            if m.want > 0 {
                m.queued = true;
                if m.exact {
                    // Every free unit went to it: it keeps its place at the head.
                    self.waiters.push_front(id);
                } else {
                    self.waiters.push_back(id);
                }
            }
            if !m.exact || m.want == 0 {
                if let Some(h) = m.hooks.upgrade() {
                    if !woken.iter().any(|(w, _)| *w == id) {
                        woken.push((id, h));
                    }
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

    /// Stops every participating pipeline: each stage taking units from the budget is
    /// cancelled upstream, and its subscriber receives
    /// `Error::Rejected { stage: "budget", reason: "emergency stop" }` at once (even
    /// without demand). A `within_budget` stage drops its buffered items as
    /// [`DropReason::Discarded`](crate::DropReason::Discarded) and returns its units
    /// here; an async stage with permits drops its running futures and waiting items, and
    /// returns its units, in its next pass, which this call schedules (on the pipeline's
    /// driver or executor: it never runs pipeline code here). No unit is handed out until
    /// [`resume`](Self::resume), and pipelines subscribing through the budget meanwhile
    /// fail the same way at subscription.
    ///
    /// ```
    /// use spillway::operators::Budget;
    /// use spillway::prelude::*;
    /// use spillway::Error;
    /// # futures::executor::block_on(async {
    /// let budget = Budget::new(2)?;
    /// budget.emergency_stop();
    /// let stopped = range(0, 3)
    ///     .map_async(2, |x| async move { x })?
    ///     .permits_from(&budget)
    ///     .collect()
    ///     .await;
    /// assert_eq!(stopped, Err(Error::Rejected { stage: "budget", reason: "emergency stop" }));
    /// budget.resume();
    /// let resumed = range(0, 3).map_async(2, |x| async move { x })?.permits_from(&budget);
    /// assert_eq!(resumed.collect().await, Ok(vec![0, 1, 2]));
    /// # Ok::<(), spillway::ConfigError>(())
    /// # }).unwrap();
    /// ```
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
    /// stopped pipelines stay failed), and hands out units again.
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
                exact: false,
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

    /// The stage needs `need` units at once (one future's): true if it has them now (its
    /// earlier grants, topped up with free units if nobody waits ahead of it), and they
    /// are its own from now on. Otherwise it waits in line (holding what it was granted
    /// so far, counted in use) and is woken once it has them all; it calls again then.
    /// `need` must not exceed the capacity. Everything happens under the budget's lock,
    /// so a grant made between this call's "not enough" and the wait is never lost.
    pub(crate) fn acquire_exact(&self, id: u64, need: u64) -> bool {
        let (woken, got) = {
            let mut s = self.lock();
            let stopped = s.stopped;
            let Some(m) = s.members.get_mut(&id) else {
                return false;
            };
            if stopped {
                return false; // the stage is being failed
            }
            m.exact = true;
            m.want = need.saturating_sub(m.granted);
            if m.want > 0 && !m.queued {
                m.queued = true;
                s.waiters.push_back(id);
            }
            let mut woken = s.distribute();
            woken.retain(|(w, _)| *w != id);
            let got = match s.members.get_mut(&id) {
                Some(m) if m.granted >= need => {
                    m.granted -= need;
                    true
                }
                _ => false,
            };
            (woken, got)
        };
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
