//! The `Scheduler` abstraction: every time-dependent part of Spillway goes through it,
//! so a virtual clock can replace real time in tests.

mod task;
mod thread;
#[cfg(feature = "tokio")]
mod tokio;
mod worker;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use self::task::{Task, TaskHandle};
pub use self::thread::ThreadScheduler;
#[cfg(feature = "tokio")]
pub use self::tokio::TokioScheduler;
pub use self::worker::Worker;

/// Runs tasks after a delay or periodically, and tells the time.
///
/// Implementations: [`TokioScheduler`] (tokio's timer, and so tokio's paused clock),
/// [`ThreadScheduler`] (one background thread), and the test kit's virtual scheduler,
/// where time moves only when the test moves it.
///
/// # Examples
/// ```
/// use std::sync::mpsc;
/// use std::time::Duration;
/// use spillway_core::{SchedulerExt, ThreadScheduler};
///
/// let scheduler = ThreadScheduler::global();
/// let (tx, rx) = mpsc::channel();
/// let _handle = scheduler.run_after(Duration::from_millis(1), move || tx.send(42).unwrap());
/// assert_eq!(rx.recv().unwrap(), 42);
/// ```
pub trait Scheduler: Send + Sync + fmt::Debug + 'static {
    /// The scheduler's current time.
    fn now(&self) -> Instant;

    /// Runs `task` once, `delay` from now (at once for a zero delay, but never inside
    /// this call).
    fn schedule(&self, delay: Duration, task: Task);

    /// Runs `task` `initial_delay` from now and then every `period` until it is cancelled.
    /// A scheduler that falls behind runs it once for each period passed. `period` is
    /// never zero (callers validate it).
    fn schedule_periodic(&self, initial_delay: Duration, period: Duration, task: Task);
}

/// Convenience methods for every scheduler: closures in, cancel handles out.
pub trait SchedulerExt: Scheduler {
    /// Runs `f` once after `delay`; the handle cancels it.
    fn run_after<F>(&self, delay: Duration, f: F) -> TaskHandle
    where
        F: FnOnce() + Send + 'static,
    {
        let task = Task::once(f);
        let handle = task.handle();
        self.schedule(delay, task);
        handle
    }

    /// Runs `f` every `period`, the first time after `initial_delay`; the handle cancels it.
    fn run_every<F>(&self, initial_delay: Duration, period: Duration, f: F) -> TaskHandle
    where
        F: FnMut() + Send + 'static,
    {
        let task = Task::periodic(f);
        let handle = task.handle();
        self.schedule_periodic(initial_delay, period, task);
        handle
    }
}

impl<S: Scheduler + ?Sized> SchedulerExt for S {}

impl<S: Scheduler + ?Sized> Scheduler for Arc<S> {
    fn now(&self) -> Instant {
        (**self).now()
    }
    fn schedule(&self, delay: Duration, task: Task) {
        (**self).schedule(delay, task)
    }
    fn schedule_periodic(&self, initial_delay: Duration, period: Duration, task: Task) {
        (**self).schedule_periodic(initial_delay, period, task)
    }
}

/// The scheduler used when neither the stage nor the subscriber's [`Context`](crate::Context)
/// names one: tokio's timer when called inside a tokio runtime (with the `tokio`
/// feature), otherwise the process-wide [`ThreadScheduler::global`].
///
/// ```
/// let s = spillway_core::default_scheduler();
/// assert!(s.now() <= std::time::Instant::now());
/// ```
pub fn default_scheduler() -> Arc<dyn Scheduler> {
    #[cfg(feature = "tokio")]
    if let Ok(handle) = ::tokio::runtime::Handle::try_current() {
        return Arc::new(TokioScheduler::new(handle));
    }
    ThreadScheduler::global()
}
