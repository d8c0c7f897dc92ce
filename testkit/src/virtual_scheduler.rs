//! `VirtualScheduler`: a clock that moves only when the test moves it.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use spillway_core::{Scheduler, Task};

/// How many tasks may run at one virtual instant before [`VirtualScheduler::advance_to`]
/// gives up: more means a task keeps rescheduling itself with zero delay (a livelock).
pub const SAME_INSTANT_LIMIT: u64 = 1_000_000;

/// How many tasks [`VirtualScheduler::run_until_idle`] runs before it reports that the
/// scheduler never becomes idle (a periodic task that is never cancelled).
pub const DEFAULT_IDLE_LIMIT: u64 = 100_000;

/// A [`Scheduler`] on virtual time: nothing runs and the clock does not move until the test
/// calls [`advance_by`](Self::advance_by), [`advance_to`](Self::advance_to) or
/// [`run_until_idle`](Self::run_until_idle). No thread, no sleeping: a simulated day of
/// timers runs in microseconds, and the same test gives the same timeline every run.
///
/// # Firing order
/// * Tasks run in order of due time; tasks due at the same instant run in the order they
///   were scheduled.
/// * While a task runs, [`now`](Scheduler::now) is its due time.
/// * A periodic task runs once for each period passed: advancing by three periods runs it
///   three times, at each of its due times.
/// * A task scheduled by a running task with a due time inside the window being advanced
///   runs within the same advance (a zero delay runs at the current instant, after the tasks
///   already due then).
/// * Cancelled tasks are skipped and never move the clock.
///
/// Tasks run on the thread that advances the clock, outside any internal lock, so they may
/// schedule more work or cancel themselves.
///
/// # Examples
/// ```
/// use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
/// use std::time::Duration;
/// use spillway_core::SchedulerExt;
/// use spillway_testkit::VirtualScheduler;
///
/// let vs = VirtualScheduler::new();
/// let ticks = Arc::new(AtomicU32::new(0));
/// let t = ticks.clone();
/// let _h = vs.run_every(Duration::from_secs(1), Duration::from_secs(1), move || {
///     t.fetch_add(1, Ordering::SeqCst);
/// });
/// vs.advance_by(Duration::from_millis(3500));
/// assert_eq!(ticks.load(Ordering::SeqCst), 3);
/// assert_eq!(vs.elapsed(), Duration::from_millis(3500));
/// ```
pub struct VirtualScheduler {
    origin: Instant,
    /// The clock in nanoseconds (saturated at `u64::MAX`), so that
    /// [`now`](Scheduler::now), which timed operators call per item, reads it without
    /// locking. Only ever raised (`fetch_max`): under the lock with `state.now`, or
    /// without it when a periodic task runs again at once (see `run_until`), in which
    /// case `state.now` catches up at the next lock (`lock` takes the larger of the two).
    now_nanos: AtomicU64,
    /// Bumped (under the lock) by every task scheduled: a runner that saw the heap
    /// without the lock knows from it that no earlier task has appeared since.
    pushes: AtomicU64,
    state: Mutex<State>,
}

struct State {
    now: Duration,
    seq: u64,
    heap: BinaryHeap<Reverse<Entry>>,
}

/// The heap as a runner last saw it under the lock, times in nanoseconds (saturated).
struct Horizon {
    /// Due time of the heap top (`u64::MAX`: none).
    top: u64,
    /// The end of the window being advanced.
    limit: u64,
    /// `VirtualScheduler::pushes` then.
    pushes: u64,
}

fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

struct Entry {
    due: Duration,
    seq: u64,
    period: Option<Duration>,
    task: Task,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due && self.seq == other.seq
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

/// A timer waiting on a [`VirtualScheduler`], for diagnostics.
///
/// ```
/// use std::time::Duration;
/// use spillway_core::SchedulerExt;
/// use spillway_testkit::VirtualScheduler;
/// let vs = VirtualScheduler::new();
/// let _h = vs.run_after(Duration::from_secs(2), || {});
/// let timers = vs.pending_timers();
/// assert_eq!(timers[0].due, Duration::from_secs(2));
/// assert_eq!(timers[0].to_string(), "once at 2s");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingTimer {
    /// Virtual time (since the scheduler started) at which it is due.
    pub due: Duration,
    /// Its period, for a periodic task.
    pub period: Option<Duration>,
}

impl fmt::Display for PendingTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.period {
            None => write!(f, "once at {:?}", self.due),
            Some(p) => write!(f, "every {:?}, next at {:?}", p, self.due),
        }
    }
}

/// [`VirtualScheduler::run_until_idle`] ran its task budget and timers were still pending.
///
/// ```
/// use std::time::Duration;
/// use spillway_core::SchedulerExt;
/// use spillway_testkit::VirtualScheduler;
/// let vs = VirtualScheduler::new();
/// let _h = vs.run_every(Duration::from_secs(1), Duration::from_secs(1), || {});
/// let err = vs.run_until_idle_bounded(10).unwrap_err();
/// assert_eq!(err.ran, 10);
/// assert!(err.to_string().contains("every 1s"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotIdle {
    /// Tasks run before giving up.
    pub ran: u64,
    /// Virtual time when it gave up.
    pub elapsed: Duration,
    /// The timers still pending.
    pub pending: Vec<PendingTimer>,
}

impl fmt::Display for NotIdle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "virtual scheduler never became idle: ran {} tasks up to {:?} and {} timer(s) are still pending (a periodic task that is never cancelled?): ",
            self.ran,
            self.elapsed,
            self.pending.len()
        )?;
        describe_timers(f, &self.pending)
    }
}

impl std::error::Error for NotIdle {}

fn describe_timers(f: &mut dyn fmt::Write, timers: &[PendingTimer]) -> fmt::Result {
    if timers.is_empty() {
        return f.write_str("none");
    }
    for (i, t) in timers.iter().take(8).enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{t}")?;
    }
    if timers.len() > 8 {
        write!(f, ", and {} more", timers.len() - 8)?;
    }
    Ok(())
}

impl VirtualScheduler {
    /// A new virtual clock at elapsed time zero, shareable as `Arc<dyn Scheduler>`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use spillway_core::Scheduler;
    /// let vs = spillway_testkit::VirtualScheduler::new();
    /// let as_dyn: Arc<dyn Scheduler> = vs.clone();
    /// assert_eq!(as_dyn.now(), vs.now());
    /// ```
    pub fn new() -> Arc<VirtualScheduler> {
        Arc::new(VirtualScheduler {
            origin: Instant::now(),
            now_nanos: AtomicU64::new(0),
            pushes: AtomicU64::new(0),
            state: Mutex::new(State {
                now: Duration::ZERO,
                seq: 0,
                heap: BinaryHeap::new(),
            }),
        })
    }

    /// The state, with `state.now` caught up with a clock moved without the lock.
    fn lock(&self) -> MutexGuard<'_, State> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.catch_up(&mut state);
        state
    }

    fn catch_up(&self, state: &mut State) {
        let nanos = self.now_nanos.load(AtomicOrdering::Acquire);
        if nanos != u64::MAX {
            let mirrored = Duration::from_nanos(nanos);
            if mirrored > state.now {
                state.now = mirrored;
            }
        }
    }

    /// Moves the clock (under the state lock) and publishes it to lock-free readers.
    fn set_now(&self, state: &mut State, now: Duration) {
        if now != state.now {
            state.now = now;
            let nanos = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
            self.now_nanos.fetch_max(nanos, AtomicOrdering::AcqRel);
        }
    }

    /// Virtual time since the scheduler was created.
    ///
    /// ```
    /// use std::time::Duration;
    /// let vs = spillway_testkit::VirtualScheduler::new();
    /// vs.advance_by(Duration::from_secs(5));
    /// assert_eq!(vs.elapsed(), Duration::from_secs(5));
    /// ```
    pub fn elapsed(&self) -> Duration {
        match self.now_nanos.load(AtomicOrdering::Acquire) {
            // Beyond what the mirror holds (~584 years): ask the state.
            u64::MAX => self.lock().now,
            nanos => Duration::from_nanos(nanos),
        }
    }

    /// The fixed instant that virtual time counts from: `now() == origin() + elapsed()`.
    ///
    /// ```
    /// use spillway_core::Scheduler;
    /// let vs = spillway_testkit::VirtualScheduler::new();
    /// assert_eq!(vs.now(), vs.origin());
    /// ```
    pub fn origin(&self) -> Instant {
        self.origin
    }

    /// Moves the clock forward by `d`, running every task due up to the new time.
    /// Returns the number of tasks run.
    ///
    /// # Panics
    /// If more than [`SAME_INSTANT_LIMIT`] tasks run at a single instant (a task that keeps
    /// rescheduling itself with zero delay); the message lists the pending timers.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_core::SchedulerExt;
    /// let vs = spillway_testkit::VirtualScheduler::new();
    /// let _h = vs.run_after(Duration::from_secs(1), || {});
    /// assert_eq!(vs.advance_by(Duration::from_millis(999)), 0);
    /// assert_eq!(vs.advance_by(Duration::from_millis(1)), 1);
    /// ```
    pub fn advance_by(&self, d: Duration) -> u64 {
        let target = self.elapsed().saturating_add(d);
        self.advance_to(target)
    }

    /// Moves the clock to `t` (virtual time since creation), running every task due up to
    /// it. Time never goes back: a `t` in the past only runs the tasks due now. Returns the
    /// number of tasks run.
    ///
    /// # Panics
    /// As [`advance_by`](Self::advance_by).
    ///
    /// ```
    /// use std::time::Duration;
    /// let vs = spillway_testkit::VirtualScheduler::new();
    /// vs.advance_to(Duration::from_secs(60));
    /// vs.advance_to(Duration::from_secs(10)); // in the past: the clock stays put
    /// assert_eq!(vs.elapsed(), Duration::from_secs(60));
    /// ```
    pub fn advance_to(&self, t: Duration) -> u64 {
        match self.run_until(Some(t), u64::MAX) {
            Ok(ran) => ran,
            Err(e) => panic!("{e}"),
        }
    }

    /// Runs the tasks due now, without moving the clock. Returns the number run.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_core::SchedulerExt;
    /// let vs = spillway_testkit::VirtualScheduler::new();
    /// let _h = vs.run_after(Duration::ZERO, || {});
    /// assert_eq!(vs.run_due(), 1);
    /// ```
    pub fn run_due(&self) -> u64 {
        self.advance_by(Duration::ZERO)
    }

    /// Runs everything due now, then advances to each next due time until no timer is
    /// pending, running at most [`DEFAULT_IDLE_LIMIT`] tasks. Returns the number of tasks
    /// run.
    ///
    /// # Errors
    /// [`NotIdle`] (with the pending timers) when the budget ran out: typically a periodic
    /// task that nothing cancels.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_core::SchedulerExt;
    /// let vs = spillway_testkit::VirtualScheduler::new();
    /// let _a = vs.run_after(Duration::from_secs(3), || {});
    /// let _b = vs.run_after(Duration::from_secs(1), || {});
    /// assert_eq!(vs.run_until_idle(), Ok(2));
    /// assert_eq!(vs.elapsed(), Duration::from_secs(3));
    /// assert_eq!(vs.pending(), 0);
    /// ```
    pub fn run_until_idle(&self) -> Result<u64, NotIdle> {
        self.run_until_idle_bounded(DEFAULT_IDLE_LIMIT)
    }

    /// [`run_until_idle`](Self::run_until_idle) with a budget of `max_tasks` task runs.
    ///
    /// # Errors
    /// [`NotIdle`] when the budget ran out with timers pending.
    ///
    /// ```
    /// let vs = spillway_testkit::VirtualScheduler::new();
    /// assert_eq!(vs.run_until_idle_bounded(1), Ok(0));
    /// ```
    pub fn run_until_idle_bounded(&self, max_tasks: u64) -> Result<u64, NotIdle> {
        self.run_until(None, max_tasks)
    }

    /// Runs due tasks up to `target` (or until idle for `None`), at most `budget` of them.
    ///
    /// At most one lock per task run: a periodic task that ran is carried to the next turn
    /// of the loop and re-queued under the same lock that picks the next task (with the
    /// sequence number it would have had, since nothing else is queued in between), and
    /// when it is due before everything in the heap it runs again without going through
    /// the heap. It even runs again without the lock while nothing was scheduled since the
    /// lock was released (`pushes` unchanged) and it is still due strictly before the heap
    /// top seen then (taking the lock would pick it: its fresh sequence number loses ties)
    /// and within the window: an `interval` ticks between the firings of other timers at
    /// the cost of the task run alone.
    fn run_until(&self, target: Option<Duration>, budget: u64) -> Result<u64, NotIdle> {
        let mut ran: u64 = 0;
        let mut same_instant: u64 = 0;
        let mut instant = Duration::MAX;
        let mut again: Option<Entry> = None;
        loop {
            let mut guard = self.lock();
            let state = &mut *guard;
            if let Some(mut entry) = again.take() {
                entry.seq = state.seq;
                state.seq += 1;
                again = Some(entry);
            }
            let limit = target.map_or(Duration::MAX, |t| t.max(state.now));
            // The next task: the carried periodic one if it comes first, else the heap's.
            let carried_first = match (&again, state.heap.peek()) {
                (Some(e), Some(Reverse(top))) => e < top,
                (Some(_), None) => true,
                (None, _) => false,
            };
            let entry = if carried_first {
                let e = again.take().expect("carried");
                if e.due > limit {
                    state.heap.push(Reverse(e));
                    None
                } else {
                    Some(e)
                }
            } else {
                if let Some(e) = again.take() {
                    state.heap.push(Reverse(e));
                }
                match state.heap.peek() {
                    Some(Reverse(top)) if top.due <= limit => {
                        Some(state.heap.pop().expect("peeked").0)
                    }
                    _ => None,
                }
            };
            let Some(entry) = entry else {
                if let Some(t) = target {
                    let now = state.now.max(t);
                    self.set_now(state, now);
                }
                return Ok(ran);
            };
            let due = entry.due;
            if entry.task.is_cancelled() {
                continue; // never moves the clock
            }
            if ran >= budget {
                state.heap.push(Reverse(entry));
                let pending = pending_of(state);
                return Err(NotIdle {
                    ran,
                    elapsed: state.now,
                    pending,
                });
            }
            let now = state.now.max(due);
            self.set_now(state, now);
            if due == instant {
                same_instant += 1;
                if same_instant > SAME_INSTANT_LIMIT {
                    let pending = pending_of(state);
                    drop(guard);
                    let mut text = String::new();
                    let _ = describe_timers(&mut text, &pending);
                    panic!(
                        "virtual scheduler livelock: more than {SAME_INSTANT_LIMIT} tasks ran at {due:?} \
                         (a task rescheduling itself with zero delay?); pending timers: {text}"
                    );
                }
            } else {
                instant = due;
                same_instant = 1;
            }
            // What the lock-free re-runs below must not pass, in nanoseconds (a bound
            // beyond what a u64 holds is as good as none, since the clock mirror stops
            // there).
            let horizon = Horizon {
                top: state
                    .heap
                    .peek()
                    .map_or(u64::MAX, |Reverse(top)| saturating_nanos(top.due)),
                limit: saturating_nanos(limit),
                pushes: self.pushes.load(AtomicOrdering::Relaxed),
            };
            drop(guard);
            let Some(period) = entry.period else {
                ran += 1;
                entry.task.run();
                continue;
            };
            // The firing decided above, then those that may follow it at once, all under
            // one acquisition of the task's lock. Re-runs need the due time and period in
            // nanoseconds below the mirror's ceiling; otherwise only the locked path runs.
            let fast = match (
                u64::try_from(entry.due.as_nanos()),
                u64::try_from(period.as_nanos()),
            ) {
                (Ok(due), Ok(period)) => Some((due, period)),
                _ => None,
            };
            let (mut due_nanos, period_nanos) = fast.unwrap_or((u64::MAX, u64::MAX));
            let mut reruns = 0u64;
            let mut first = true;
            let periodic = entry.task.run_while(|| {
                if first {
                    first = false;
                    ran += 1;
                    return true;
                }
                let next = due_nanos.saturating_add(period_nanos);
                // Out of turn, out of the window or beyond what the mirror holds: the
                // locked path decides.
                if ran >= budget || next == u64::MAX || !self.runs_first(next, &horizon) {
                    return false;
                }
                self.now_nanos.fetch_max(next, AtomicOrdering::AcqRel);
                ran += 1;
                reruns += 1;
                due_nanos = next;
                true
            });
            let due = if reruns > 0 {
                let due = Duration::from_nanos(due_nanos);
                instant = due;
                same_instant = 1;
                due
            } else {
                entry.due
            };
            if periodic {
                again = Some(Entry {
                    due: due.saturating_add(period),
                    ..entry
                });
            }
        }
    }

    /// True if a periodic task that just ran (not queued), due next at `due` (in
    /// nanoseconds), is the next task to run and within the window, judged without the
    /// lock against what was seen under it: due strictly before the heap top (taking the
    /// lock would pick it then, its fresh sequence number losing ties) and nothing
    /// scheduled since.
    #[inline]
    fn runs_first(&self, due: u64, horizon: &Horizon) -> bool {
        due <= horizon.limit
            && due < horizon.top
            && self.pushes.load(AtomicOrdering::Acquire) == horizon.pushes
    }

    /// The number of live (not cancelled) timers.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_core::SchedulerExt;
    /// let vs = spillway_testkit::VirtualScheduler::new();
    /// let h = vs.run_after(Duration::from_secs(1), || {});
    /// assert_eq!(vs.pending(), 1);
    /// h.cancel();
    /// assert_eq!(vs.pending(), 0);
    /// ```
    pub fn pending(&self) -> usize {
        let state = self.lock();
        state
            .heap
            .iter()
            .filter(|Reverse(e)| !e.task.is_cancelled())
            .count()
    }

    /// The live timers in firing order, for diagnostics.
    ///
    /// ```
    /// let vs = spillway_testkit::VirtualScheduler::new();
    /// assert!(vs.pending_timers().is_empty());
    /// ```
    pub fn pending_timers(&self) -> Vec<PendingTimer> {
        pending_of(&self.lock())
    }

    /// A one-line description of the pending timers (`"none"` when there is none).
    ///
    /// ```
    /// let vs = spillway_testkit::VirtualScheduler::new();
    /// assert_eq!(vs.describe_pending(), "none");
    /// ```
    pub fn describe_pending(&self) -> String {
        let mut text = String::new();
        let _ = describe_timers(&mut text, &self.pending_timers());
        text
    }

    /// The due time of the next live timer.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_core::SchedulerExt;
    /// let vs = spillway_testkit::VirtualScheduler::new();
    /// let _h = vs.run_after(Duration::from_secs(4), || {});
    /// assert_eq!(vs.next_due(), Some(Duration::from_secs(4)));
    /// ```
    pub fn next_due(&self) -> Option<Duration> {
        let mut state = self.lock();
        while let Some(Reverse(top)) = state.heap.peek() {
            if !top.task.is_cancelled() {
                return Some(top.due);
            }
            // Cancelled: its job is already dropped, so dropping the entry under the lock
            // runs no user code.
            state.heap.pop();
        }
        None
    }

    fn push(&self, delay: Duration, period: Option<Duration>, task: Task) {
        let mut state = self.lock();
        let seq = state.seq;
        state.seq += 1;
        // Under the lock: a plain increment is enough.
        let pushes = self.pushes.load(AtomicOrdering::Relaxed);
        self.pushes
            .store(pushes.wrapping_add(1), AtomicOrdering::Release);
        let due = state.now.saturating_add(delay);
        state.heap.push(Reverse(Entry {
            due,
            seq,
            period,
            task,
        }));
    }
}

fn pending_of(state: &State) -> Vec<PendingTimer> {
    let mut live: Vec<&Entry> = state
        .heap
        .iter()
        .map(|Reverse(e)| e)
        .filter(|e| !e.task.is_cancelled())
        .collect();
    live.sort();
    live.into_iter()
        .map(|e| PendingTimer {
            due: e.due,
            period: e.period,
        })
        .collect()
}

impl Scheduler for VirtualScheduler {
    /// Lock-free: reads the clock's atomic mirror.
    fn now(&self) -> Instant {
        self.origin + self.elapsed()
    }

    fn schedule(&self, delay: Duration, task: Task) {
        self.push(delay, None, task);
    }

    fn schedule_periodic(&self, initial_delay: Duration, period: Duration, task: Task) {
        assert!(
            !period.is_zero(),
            "VirtualScheduler::schedule_periodic: the period must not be zero"
        );
        self.push(initial_delay, Some(period), task);
    }
}

impl fmt::Debug for VirtualScheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.state.try_lock() {
            Ok(mut state) => {
                self.catch_up(&mut state);
                f.debug_struct("VirtualScheduler")
                    .field("elapsed", &state.now)
                    .field("timers", &state.heap.len())
                    .finish()
            }
            Err(_) => f.debug_struct("VirtualScheduler").finish_non_exhaustive(),
        }
    }
}
