//! `GracefulDrain`: stop taking input, let the work in flight finish and be delivered,
//! abort what is still running at a deadline — for the pipelines of a service that shuts
//! down (and for axum's `with_graceful_shutdown`, which waits for every response body).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use spillway_core::{Scheduler, SchedulerExt};

use crate::engine::support::lock;
use crate::KillSwitch;

/// The reason of the `Error::Aborted` of a pipeline still running at the deadline.
pub const DEADLINE_PASSED: &str = "graceful drain: deadline passed";

/// Graceful shutdown for many pipelines: two [`KillSwitch`]es and a deadline.
///
/// Place [`input`](Self::input) right after each pipeline's source and
/// [`output`](Self::output) at its end (`.kill_switch(drain.input())` ...
/// `.kill_switch(drain.output())`). [`drain(deadline)`](Self::drain) then
/// 1. shuts the input switch down: the sources are cancelled, no new item enters, and a
///    pipeline subscribed from now on completes at once;
/// 2. waits until every pipeline under the output switch has ended: the items already
///    taken go through the rest of the pipeline (buffers drain, async work finishes,
///    consumers receive them), then each pipeline completes;
/// 3. at the deadline, aborts the output switch: what is still running fails with
///    `Error::Aborted { stage: "kill_switch", reason: DEADLINE_PASSED }`.
///
/// With axum: `axum::serve(listener, app).with_graceful_shutdown(async move {
/// shutdown_signal.await; drain.drain(Duration::from_secs(10)).await; })` — streaming
/// responses end, so the server's own graceful shutdown can finish. A pipeline has
/// finished when its last item has passed the output switch: for a response body, when
/// hyper took it; a client that stopped reading can still hold bytes in the socket, and
/// axum waits for its connection, so bound the server future too when clients are not
/// trusted (the guide's chapter "Spillway in a tokio service").
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use spillway::prelude::*;
/// use spillway::operators::GracefulDrain;
/// # futures::executor::block_on(async {
/// let drain = GracefulDrain::new();
/// // An endless pipeline with work in flight.
/// let pipeline = generate(0u64, |n| { *n += 1; Some(*n) })
///     .kill_switch(drain.input())
///     .map_async(4, |n| async move { n })?
///     .kill_switch(drain.output())
///     .take(1_000_000)
///     .count();
/// // The pipeline is polled first (it starts), then the drain.
/// let (counted, report) = futures::join!(pipeline, drain.drain(Duration::from_secs(5)));
/// assert!(counted.is_ok()); // completed, not aborted
/// assert_eq!((report.finished, report.aborted), (1, 0));
/// # Ok::<(), spillway::ConfigError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, Default)]
pub struct GracefulDrain {
    input: KillSwitch,
    output: KillSwitch,
    scheduler: Option<Arc<dyn Scheduler>>,
}

/// What [`GracefulDrain::drain`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DrainReport {
    /// Pipelines (under the output switch) that ended by themselves before the deadline.
    pub finished: usize,
    /// Pipelines still running at the deadline, aborted.
    pub aborted: usize,
}

impl GracefulDrain {
    /// A drain with its two switches untriggered; the deadline runs on the default
    /// scheduler (tokio's timer inside a runtime, the shared timer thread otherwise).
    ///
    /// ```
    /// use spillway::operators::{GracefulDrain, SwitchState};
    /// let drain = GracefulDrain::new();
    /// assert_eq!(drain.input().state(), SwitchState::Active);
    /// ```
    pub fn new() -> GracefulDrain {
        GracefulDrain::default()
    }

    /// Runs the deadline on `scheduler` (a `VirtualScheduler` in tests).
    ///
    /// ```
    /// use spillway::operators::GracefulDrain;
    /// use spillway::ThreadScheduler;
    /// let drain = GracefulDrain::new().on(ThreadScheduler::global());
    /// # drop(drain);
    /// ```
    pub fn on(mut self, scheduler: Arc<dyn Scheduler>) -> GracefulDrain {
        self.scheduler = Some(scheduler);
        self
    }

    /// The switch to place right after each pipeline's source.
    pub fn input(&self) -> &KillSwitch {
        &self.input
    }

    /// The switch to place at the end of each pipeline: what the drain waits for, and
    /// aborts at the deadline.
    pub fn output(&self) -> &KillSwitch {
        &self.output
    }

    /// Stops the input, waits for the pipelines to finish, aborts them at `deadline`; see
    /// the type's documentation. Nothing happens until the future is first polled. Calling it again (or concurrently) waits again; the
    /// switches' first commands stand.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway::prelude::*;
    /// use spillway::operators::GracefulDrain;
    /// use spillway::Error;
    /// # futures::executor::block_on(async {
    /// let drain = GracefulDrain::new();
    /// // A stuck pipeline: its source never ends and has nothing in flight to finish,
    /// // but a stage below never completes either.
    /// let stuck = just(1u64)
    ///     .kill_switch(drain.input())
    ///     .concat_with(never())
    ///     .kill_switch(drain.output())
    ///     .count();
    /// let (outcome, report) = futures::join!(stuck, drain.drain(Duration::from_millis(20)));
    /// assert_eq!((report.finished, report.aborted), (0, 1));
    /// assert!(matches!(outcome, Err(Error::Aborted { .. })));
    /// # });
    /// ```
    pub fn drain(&self, deadline: Duration) -> impl Future<Output = DrainReport> + Send + 'static {
        let this = self.clone();
        // Nothing happens before the first poll: the drain starts when it is awaited.
        async move { this.run(deadline).await }
    }

    async fn run(self, deadline: Duration) -> DrainReport {
        let output = self.output.clone();
        let running = output.active();
        self.input.shutdown();
        let scheduler = self
            .scheduler
            .clone()
            .unwrap_or_else(spillway_core::default_scheduler);
        let timer = Arc::new(Timer::default());
        let ring = Arc::clone(&timer);
        let handle = scheduler.run_after(deadline, move || ring.fire());
        let mut idle: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(output.until_idle());
        std::future::poll_fn(move |cx| {
            if idle.as_mut().poll(cx).is_ready() {
                handle.cancel();
                return Poll::Ready(DrainReport {
                    finished: running,
                    aborted: 0,
                });
            }
            if timer.expired(cx.waker()) {
                let aborted = output.active();
                output.abort(DEADLINE_PASSED);
                return Poll::Ready(DrainReport {
                    finished: running.saturating_sub(aborted),
                    aborted,
                });
            }
            Poll::Pending
        })
        .await
    }
}

/// The deadline: fired by the scheduler, waking the drain's task.
#[derive(Default)]
struct Timer {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Timer {
    fn fire(&self) {
        self.fired.store(true, Ordering::SeqCst);
        if let Some(w) = lock(&self.waker).take() {
            w.wake();
        }
    }

    /// True once fired; otherwise keeps `waker` for the firing.
    fn expired(&self, waker: &Waker) -> bool {
        *lock(&self.waker) = Some(waker.clone());
        self.fired.load(Ordering::SeqCst)
    }
}
