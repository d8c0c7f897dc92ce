//! `Task` and `TaskHandle`: a scheduled job and the handle that cancels it.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

enum Job {
    Once(Box<dyn FnOnce() + Send>),
    Every(Box<dyn FnMut() + Send>),
}

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
        let job = lock(&self.slot.job).take();
        match job {
            None => false,
            Some(Job::Once(f)) => {
                f();
                false
            }
            Some(Job::Every(mut f)) => {
                f();
                if self.is_cancelled() {
                    return false;
                }
                let mut slot = lock(&self.slot.job);
                // `cancel` may have run between the check and the lock: check again.
                if self.is_cancelled() {
                    return false;
                }
                *slot = Some(Job::Every(f));
                true
            }
        }
    }

    /// True once the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.slot.cancelled.load(Ordering::Acquire)
    }
}

impl TaskHandle {
    /// Cancels the task and drops its job.
    pub fn cancel(&self) {
        self.slot.cancelled.store(true, Ordering::Release);
        let job = lock(&self.slot.job).take();
        drop(job); // outside the lock: the job's captures may run arbitrary Drop code
    }

    /// True once cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.slot.cancelled.load(Ordering::Acquire)
    }
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
