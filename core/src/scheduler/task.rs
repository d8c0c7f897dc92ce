//! `Task` and `TaskHandle`: a scheduled job and the handle that cancels it.

use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, TryLockError};

enum Job {
    Once(Box<dyn FnOnce() + Send>),
    Every(Box<dyn FnMut() + Send>),
}

/// A periodic job runs *inside* its lock (one lock per run, not a take and a put back),
/// so `cancel` cannot wait for the lock: it may be called from inside the job, or while
/// the job waits on the cancelling thread. It sets `cancelled` and drops the job if the
/// lock is free; if the lock is held, the runner drops the job as soon as its run ends.
/// No cancel is lost: the runner reads `cancelled` with a read-modify-write after
/// unlocking, and `cancel` sets it with one before `try_lock`, so either the runner sees
/// the flag, or its unlock happened before `cancel`'s `try_lock`, which then succeeds.
struct Slot {
    job: Mutex<Option<Job>>,
    cancelled: AtomicBool,
}

/// A job handed to a [`Scheduler`](super::Scheduler). Cancelling its handle drops the job
/// at once, so whatever it holds (a subscriber, say) is released even if the scheduler
/// keeps its timer entry until the due time.
///
/// ```
/// use spillway_core::Task;
/// let task = Task::once(|| println!("ran"));
/// let handle = task.handle();
/// handle.cancel();
/// assert!(!task.run()); // cancelled: does nothing
/// ```
pub struct Task {
    slot: Arc<Slot>,
}

/// Cancels a scheduled [`Task`]. Cancelling is idempotent and may happen from any
/// thread, including from inside the task.
///
/// ```
/// use spillway_core::Task;
/// let task = Task::periodic(|| {});
/// let handle = task.handle();
/// assert!(!handle.is_cancelled());
/// handle.cancel();
/// handle.cancel();
/// assert!(handle.is_cancelled() && task.is_cancelled());
/// ```
#[derive(Clone)]
pub struct TaskHandle {
    slot: Arc<Slot>,
}

impl Task {
    /// A task that runs once.
    pub fn once<F: FnOnce() + Send + 'static>(f: F) -> Task {
        Task::new(Job::Once(Box::new(f)))
    }

    /// A task that runs each time it is due until cancelled.
    pub fn periodic<F: FnMut() + Send + 'static>(f: F) -> Task {
        Task::new(Job::Every(Box::new(f)))
    }

    fn new(job: Job) -> Task {
        Task {
            slot: Arc::new(Slot {
                job: Mutex::new(Some(job)),
                cancelled: AtomicBool::new(false),
            }),
        }
    }

    /// A handle that cancels this task.
    pub fn handle(&self) -> TaskHandle {
        TaskHandle {
            slot: Arc::clone(&self.slot),
        }
    }

    /// Runs the job (schedulers call this when it is due). Returns true if a periodic
    /// task should be scheduled again. The job runs outside any lock, so it may cancel
    /// itself or schedule more work.
    pub fn run(&self) -> bool {
        let mut first = true;
        self.run_while(|| std::mem::take(&mut first))
    }

    /// Runs the job for each of its firings that `proceed` (called before each run, with
    /// the job's lock held) allows, and returns like [`run`](Self::run): true if the
    /// task should be scheduled again (a live periodic task, or a one-shot task that
    /// `proceed` did not let run). A scheduler that knows several firings of
    /// a periodic task are due in a row (a virtual clock, catching up) runs them under a
    /// single acquisition of the job's lock instead of one per firing. `proceed` must not
    /// call into the task or its handle; it typically moves the clock to the firing's
    /// time. A one-shot job runs at most once; a job cancelled between two runs (from
    /// inside itself or from another thread) is not run again, and is dropped when the
    /// last run ends, as with `run`.
    ///
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
    /// use spillway_core::Task;
    /// let runs = Arc::new(AtomicU32::new(0));
    /// let r = runs.clone();
    /// let task = Task::periodic(move || { r.fetch_add(1, Ordering::Relaxed); });
    /// let mut firings = 0;
    /// // Three firings are due: they run under one lock.
    /// assert!(task.run_while(|| { firings += 1; firings <= 3 }));
    /// assert_eq!(runs.load(Ordering::Relaxed), 3);
    /// task.handle().cancel();
    /// assert!(!task.run_while(|| true));
    /// assert_eq!(runs.load(Ordering::Relaxed), 3);
    /// ```
    pub fn run_while(&self, mut proceed: impl FnMut() -> bool) -> bool {
        let mut guard = lock(&self.slot.job);
        let f = match guard.as_mut() {
            None => return false,
            Some(Job::Every(f)) => f,
            Some(Job::Once(_)) => {
                if !proceed() {
                    return true; // not run yet: still to be scheduled
                }
                let Some(Job::Once(f)) = guard.take() else {
                    unreachable!("matched above")
                };
                drop(guard);
                f();
                return false;
            }
        };
        // A cancel that found the lock taken has set the flag: no run after it. (Only an
        // early stop; the read-modify-write after unlocking is what guarantees the drop.)
        while !self.slot.cancelled.load(Ordering::Acquire) && proceed() {
            // Under the lock, which `cancel` only tries: see `Slot`.
            if let Err(payload) = catch_unwind(AssertUnwindSafe(&mut *f)) {
                // A panicking job is dropped, as a job taken out of the slot would have been.
                let job = guard.take();
                drop(guard);
                drop(job);
                resume_unwind(payload);
            }
        }
        drop(guard);
        // A read-modify-write, not a load: it pairs with `cancel`'s (see `Slot`).
        if self.slot.cancelled.fetch_or(false, Ordering::AcqRel) {
            drop_job(&self.slot);
            return false;
        }
        true
    }

    /// True once the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.slot.cancelled.load(Ordering::Acquire)
    }
}

impl TaskHandle {
    /// Cancels the task and drops its job.
    pub fn cancel(&self) {
        self.slot.cancelled.swap(true, Ordering::AcqRel);
        let job = match self.slot.job.try_lock() {
            Ok(mut guard) => guard.take(),
            Err(TryLockError::Poisoned(p)) => p.into_inner().take(),
            // The job is running (maybe this is it, cancelling itself): its runner drops
            // it when the run ends.
            Err(TryLockError::WouldBlock) => None,
        };
        drop(job); // outside the lock: the job's captures may run arbitrary Drop code
    }

    /// True once cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.slot.cancelled.load(Ordering::Acquire)
    }
}

/// Drops the job of a cancelled slot (outside the lock: its captures may run arbitrary
/// Drop code).
fn drop_job(slot: &Slot) {
    let job = lock(&slot.job).take();
    drop(job);
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl fmt::Debug for TaskHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}
