//! A scheduler on tokio's timer (and so on tokio's paused test clock too).

use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::time::MissedTickBehavior;

use super::{Scheduler, Task};

/// Runs tasks as tokio tasks on the runtime it was made for.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use spillway_core::{SchedulerExt, TokioScheduler};
/// let scheduler = TokioScheduler::current();
/// let (tx, rx) = tokio::sync::oneshot::channel();
/// let _h = scheduler.run_after(std::time::Duration::from_millis(1), move || { let _ = tx.send(7); });
/// assert_eq!(rx.await.unwrap(), 7);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TokioScheduler {
    handle: Handle,
}

impl TokioScheduler {
    /// A scheduler on the given runtime.
    pub fn new(handle: Handle) -> TokioScheduler {
        TokioScheduler { handle }
    }

    /// A scheduler on the runtime of the calling task.
    ///
    /// # Panics
    /// Outside a tokio runtime (use [`default_scheduler`](super::default_scheduler),
    /// which falls back to a timer thread).
    pub fn current() -> TokioScheduler {
        TokioScheduler::new(Handle::current())
    }
}

impl Scheduler for TokioScheduler {
    fn now(&self) -> Instant {
        let _guard = self.handle.enter();
        tokio::time::Instant::now().into_std()
    }

    fn schedule(&self, delay: Duration, task: Task) {
        self.handle.spawn(async move {
            if task.is_cancelled() {
                return;
            }
            // A zero delay (an async stage's next pass, say) needs no timer entry.
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            task.run();
        });
    }

    fn schedule_periodic(&self, initial_delay: Duration, period: Duration, task: Task) {
        self.handle.spawn(async move {
            let start = tokio::time::Instant::now() + initial_delay;
            let mut ticks = tokio::time::interval_at(start, period);
            // One run for each period passed, as the Scheduler contract says.
            ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
            loop {
                ticks.tick().await;
                if !task.run() {
                    return;
                }
            }
        });
    }
}
