//! A scheduler on one background thread: the fallback outside a tokio runtime.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::{Scheduler, Task};

/// A timer entry, ordered by due time then scheduling order (shared with the worker).
pub(super) struct Entry {
    pub(super) due: Instant,
    pub(super) seq: u64,
    pub(super) period: Option<Duration>,
    pub(super) task: Task,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

#[derive(Default)]
struct Queue {
    entries: BinaryHeap<Reverse<Entry>>,
    seq: u64,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    wakeup: Condvar,
}

/// Runs tasks on one dedicated thread, in due order (ties in scheduling order). Tasks
/// should be short: a slow task delays the ones behind it.
///
/// ```
/// use std::sync::mpsc;
/// use std::time::Duration;
/// use spillway_core::{SchedulerExt, ThreadScheduler};
/// let (tx, rx) = mpsc::channel();
/// let h = ThreadScheduler::global().run_every(Duration::ZERO, Duration::from_millis(1), move || { let _ = tx.send(()); });
/// rx.recv().unwrap();
/// rx.recv().unwrap();
/// h.cancel();
/// ```
#[derive(Clone)]
pub struct ThreadScheduler {
    shared: Arc<Shared>,
}

impl ThreadScheduler {
    /// Starts a new timer thread. It ends when the last clone of the scheduler is dropped
    /// and no task is pending.
    pub fn new() -> ThreadScheduler {
        let shared = Arc::new(Shared::default());
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("spillway-timer".into())
            .spawn(move || run_timer(weak))
            .expect("spawning the spillway timer thread");
        ThreadScheduler { shared }
    }

    /// The process-wide timer thread, started on first use.
    pub fn global() -> Arc<dyn Scheduler> {
        static GLOBAL: OnceLock<Arc<ThreadScheduler>> = OnceLock::new();
        GLOBAL
            .get_or_init(|| Arc::new(ThreadScheduler::new()))
            .clone()
    }

    fn push(&self, due: Instant, period: Option<Duration>, task: Task) {
        let mut q = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.seq += 1;
        let seq = q.seq;
        q.entries.push(Reverse(Entry {
            due,
            seq,
            period,
            task,
        }));
        self.shared.wakeup.notify_one();
    }
}

fn run_timer(shared: std::sync::Weak<Shared>) {
    loop {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let mut q = shared.queue.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match q.entries.peek() {
            Some(Reverse(e)) if e.due <= now => {
                let Reverse(mut entry) = q.entries.pop().expect("peeked");
                drop(q);
                if entry.task.run() {
                    if let Some(period) = entry.period {
                        let mut q = shared.queue.lock().unwrap_or_else(|p| p.into_inner());
                        entry.due += period;
                        q.seq += 1;
                        entry.seq = q.seq;
                        q.entries.push(Reverse(entry));
                    }
                }
            }
            Some(Reverse(e)) => {
                let wait = e.due - now;
                let _ = shared.wakeup.wait_timeout(q, wait);
            }
            None => {
                // Wake up now and then to notice that the scheduler was dropped.
                let _ = shared.wakeup.wait_timeout(q, Duration::from_millis(200));
            }
        }
    }
}

impl Scheduler for ThreadScheduler {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn schedule(&self, delay: Duration, task: Task) {
        self.push(Instant::now() + delay, None, task);
    }

    fn schedule_periodic(&self, initial_delay: Duration, period: Duration, task: Task) {
        self.push(Instant::now() + initial_delay, Some(period), task);
    }
}

impl fmt::Debug for ThreadScheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pending = self
            .shared
            .queue
            .lock()
            .map(|q| q.entries.len())
            .unwrap_or(0);
        f.debug_struct("ThreadScheduler")
            .field("pending", &pending)
            .finish()
    }
}
