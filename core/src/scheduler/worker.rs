//! `Worker`: one named, dedicated OS thread with a task queue, usable wherever a
//! [`Scheduler`] is.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use super::thread::Entry;
use super::{Scheduler, Task};

#[derive(Default)]
struct State {
    /// Tasks to run now, in submission order (no clock read, no heap).
    ready: VecDeque<Task>,
    /// Delayed and periodic tasks, by due time.
    timers: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    /// The thread waits on the condvar: a submission must notify it. While it runs
    /// tasks, submissions only push (no system call).
    sleeping: bool,
    /// The last [`Worker`] handle was dropped: finish the ready tasks and stop.
    shutdown: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wakeup: Condvar,
    /// A hint, written under the lock: `ready` is not empty. The idle thread polls it
    /// instead of taking the lock, so that its spinning does not contend with (and slow
    /// down) the submitters on the other cores.
    has_ready: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Stops the thread when the last [`Worker`] clone is dropped.
struct Owner {
    shared: Arc<Shared>,
    name: String,
    thread: ThreadId,
}

impl Drop for Owner {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.shutdown = true;
        drop(state);
        self.shared.wakeup.notify_one();
    }
}

/// An execution context: one dedicated, named OS thread that runs the tasks given to it
/// one at a time, in submission order (delayed tasks when due). It implements
/// [`Scheduler`], so it goes wherever a scheduler does: `publish_on` / `subscribe_on`,
/// or the time-based operators.
///
/// Hand-off is cheap: a task scheduled with a zero delay goes into a FIFO queue without
/// reading the clock, and the thread is woken (a system call) only if it was idle; the
/// thread takes all queued tasks in one lock. Cloning a `Worker` clones a handle to the
/// same thread; the thread finishes the tasks already queued and ends when the last
/// handle is dropped (pending timers are dropped with it).
///
/// A task that panics is discarded and the thread goes on with the next one. Tasks
/// should not block: a blocked task holds up every task behind it.
///
/// # Examples
/// ```
/// use std::sync::mpsc;
/// use std::time::Duration;
/// use spillway_core::{SchedulerExt, Worker};
///
/// let worker = Worker::new("io");
/// let (tx, rx) = mpsc::channel();
/// worker.run_after(Duration::ZERO, move || {
///     tx.send(std::thread::current().name().map(String::from)).unwrap();
/// });
/// assert_eq!(rx.recv().unwrap().as_deref(), Some("io"));
/// ```
#[derive(Clone)]
pub struct Worker {
    owner: Arc<Owner>,
}

impl Worker {
    /// Starts a thread named `name`.
    ///
    /// # Panics
    /// If the operating system cannot start a thread.
    pub fn new(name: impl Into<String>) -> Worker {
        let name = name.into();
        let shared = Arc::new(Shared::default());
        let for_thread = Arc::clone(&shared);
        let handle = thread::Builder::new()
            .name(name.clone())
            .spawn(move || run(&for_thread))
            .expect("spawning a spillway worker thread");
        Worker {
            owner: Arc::new(Owner {
                shared,
                name,
                thread: handle.thread().id(),
            }),
        }
    }

    /// The thread's name.
    pub fn name(&self) -> &str {
        &self.owner.name
    }

    /// The thread's id.
    pub fn thread_id(&self) -> ThreadId {
        self.owner.thread
    }

    /// True when called from the worker's own thread (from inside one of its tasks).
    ///
    /// ```
    /// let worker = spillway_core::Worker::new("w");
    /// assert!(!worker.is_current());
    /// ```
    pub fn is_current(&self) -> bool {
        thread::current().id() == self.owner.thread
    }

    fn push(&self, delay: Duration, period: Option<Duration>, task: Task) {
        let shared = &self.owner.shared;
        let mut state = shared.lock();
        if delay.is_zero() && period.is_none() {
            state.ready.push_back(task);
            shared.has_ready.store(true, Ordering::Release);
        } else {
            state.seq += 1;
            let seq = state.seq;
            state.timers.push(Reverse(Entry {
                due: Instant::now() + delay,
                seq,
                period,
                task,
            }));
        }
        let wake = state.sleeping;
        drop(state);
        if wake {
            shared.wakeup.notify_one();
        }
    }
}

/// The thread's loop: take every ready task (and every due timer) in one lock, run them
/// outside the lock, repeat; sleep on the condvar when there is nothing to do.
fn run(shared: &Shared) {
    let mut batch: VecDeque<Task> = VecDeque::new();
    let mut due: Vec<Entry> = Vec::new();
    let mut idle_rounds = 0;
    let mut idle_since = None;
    loop {
        let mut state = shared.lock();
        loop {
            if !state.timers.is_empty() {
                let now = Instant::now();
                while state.timers.peek().is_some_and(|Reverse(e)| e.due <= now) {
                    let Reverse(entry) = state.timers.pop().expect("peeked");
                    due.push(entry);
                }
            }
            if !state.ready.is_empty() || !due.is_empty() {
                idle_rounds = 0;
                idle_since = None;
                std::mem::swap(&mut state.ready, &mut batch);
                shared.has_ready.store(false, Ordering::Relaxed);
                break;
            }
            if state.shutdown {
                return;
            }
            let since = *idle_since.get_or_insert_with(Instant::now);
            if idle_rounds < IDLE_SPINS || since.elapsed() < IDLE_SPIN_TIME {
                // Work often follows work within microseconds (a producer replenished,
                // a batch handed over): look again before paying for a sleep and the
                // submitter's wake-up system call.
                // Without timers, only a submission (which sets the hint) ends the wait:
                // poll the hint, not the lock.
                let timers = !state.timers.is_empty();
                drop(state);
                loop {
                    idle_rounds += 1;
                    backoff(idle_rounds);
                    if timers
                        || shared.has_ready.load(Ordering::Acquire)
                        || (idle_rounds >= IDLE_SPINS && since.elapsed() >= IDLE_SPIN_TIME)
                    {
                        break;
                    }
                }
                state = shared.lock();
                continue;
            }
            idle_rounds = 0;
            idle_since = None;
            state.sleeping = true;
            state = match state.timers.peek() {
                Some(Reverse(e)) => {
                    let wait = e.due.saturating_duration_since(Instant::now());
                    shared
                        .wakeup
                        .wait_timeout(state, wait)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
                None => shared.wakeup.wait(state).unwrap_or_else(|p| p.into_inner()),
            };
            state.sleeping = false;
        }
        drop(state);
        for mut entry in due.drain(..) {
            if run_task(&entry.task) {
                if let Some(period) = entry.period {
                    let mut state = shared.lock();
                    entry.due += period;
                    state.seq += 1;
                    entry.seq = state.seq;
                    state.timers.push(Reverse(entry));
                }
            }
        }
        while let Some(task) = batch.pop_front() {
            run_task(&task);
        }
    }
}

/// How many times an idle worker looks for work again (with growing pauses: spins, then
/// yields) before it sleeps, and for at least how long. A two-thread pipeline (a
/// `publish_on` hand-off with its replenishing requests) hands work back and forth every
/// few microseconds: a worker that went to sleep in between would cost the other side a
/// wake-up system call and itself the wake-up latency (several microseconds in a VM) on
/// every batch, and the two threads would end up taking turns instead of running at
/// once. The yields keep the spinning polite to other threads on the same core.
const IDLE_SPINS: u32 = 10;
const IDLE_SPIN_TIME: Duration = Duration::from_micros(50);

/// A pause instruction costs ~47 ns in this kind of VM: past a few of them, yielding lets a
/// producer that shares this core run instead (measured on the `handoff` bench: 5.0-7.4 ms
/// against 8.1-10.7 ms per million items with spins up to round 6, when the OS put both
/// workers on one CPU).
fn backoff(round: u32) {
    if round <= 3 {
        for _ in 0..(1u32 << round) {
            std::hint::spin_loop();
        }
    } else {
        thread::yield_now();
    }
}

/// Runs a task, discarding a panic so that the thread survives it.
fn run_task(task: &Task) -> bool {
    catch_unwind(AssertUnwindSafe(|| task.run())).unwrap_or(false)
}

impl Scheduler for Worker {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn schedule(&self, delay: Duration, task: Task) {
        self.push(delay, None, task);
    }

    fn schedule_periodic(&self, initial_delay: Duration, period: Duration, task: Task) {
        self.push(initial_delay, Some(period), task);
    }
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.owner.shared.lock();
        f.debug_struct("Worker")
            .field("name", &self.owner.name)
            .field("ready", &state.ready.len())
            .field("timers", &state.timers.len())
            .finish()
    }
}
