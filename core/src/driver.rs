//! Who runs an async stage after a wake-up. **A `Waker` only schedules**: waking an async
//! source (`from_stream`, the `map_async` family, ...) never runs pipeline code on the
//! waking thread. It hands the stage's next pass to one of two places:
//!
//! 1. the [`Driver`] of the pipeline's terminal future (`collect`, `count`, `fold`,
//!    `for_each_async`, `into_stream`, ...), when the pipeline ends in one: the wake-up
//!    wakes that future's task, and the future's own `poll` runs the pass, on its task's
//!    thread and inside its cooperative budget (tokio's, when it runs on tokio);
//! 2. otherwise an executor: the [`Spawner`] named in the subscriber's
//!    [`Context`] (see [`Context::spawn_on`]), or
//!    else the context's [`Scheduler`] with a zero delay (tokio's runtime inside one; the
//!    shared timer thread outside; the virtual clock in tests).
//!
//! The place is chosen once, at subscribe time. A driver whose future completed or was
//! dropped hands what it still has, and whatever comes later, to the executor.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use futures_util::task::AtomicWaker;

use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{lock, Mutex};
use crate::{Context, Scheduler, Task};

/// A boxed future, as a [`Spawner`] receives it.
pub type BoxTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// An executor that async stages can use to run their passes after a wake-up, when no
/// terminal future drives them. Implemented by tokio's `runtime::Handle` (with the
/// `tokio` feature) and by `futures::executor::ThreadPool` (with the `thread-pool`
/// feature); a user's own executor implements its one method.
///
/// # Examples
/// A spawner that runs each task on a fresh thread (for illustration):
/// ```
/// use std::sync::Arc;
/// use spillway_core::{BoxTask, Context, Spawner};
///
/// #[derive(Debug)]
/// struct ThreadPerTask;
/// impl Spawner for ThreadPerTask {
///     fn spawn_task(&self, task: BoxTask) {
///         std::thread::spawn(move || futures::executor::block_on(task));
///     }
/// }
/// let cx = Context::default().spawn_on(Arc::new(ThreadPerTask));
/// assert!(cx.spawner().is_some());
/// ```
pub trait Spawner: Send + Sync + fmt::Debug + 'static {
    /// Runs `task` to completion, soon, and never inside this call.
    fn spawn_task(&self, task: BoxTask);
}

#[cfg(feature = "tokio")]
impl Spawner for tokio::runtime::Handle {
    fn spawn_task(&self, task: BoxTask) {
        drop(self.spawn(task));
    }
}

#[cfg(feature = "thread-pool")]
impl Spawner for futures_executor::ThreadPool {
    fn spawn_task(&self, task: BoxTask) {
        self.spawn_ok(task);
    }
}

impl<S: Spawner + ?Sized> Spawner for Arc<S> {
    fn spawn_task(&self, task: BoxTask) {
        (**self).spawn_task(task)
    }
}

/// A stage with a pass to run after a wake-up (the drain loop of an async source).
pub(crate) trait Wakeable: Send + Sync + 'static {
    /// Runs the stage's pass now, on this thread.
    fn run(self: Arc<Self>);
    /// Schedules the pass again: the driver that had it let go of it before running it.
    fn reschedule(self: Arc<Self>);
}

/// The part of a terminal future that runs the async stages upstream of it.
///
/// A terminal future (one that a pipeline ends in) creates a driver, puts it in the
/// [`Context`] its subscriber carries up the pipeline
/// ([`Context::driven_by`]), and in each `poll`
/// [`register`](Self::register)s its task and calls [`run_ready`](Self::run_ready). When it
/// completes or is dropped it calls [`detach`](Self::detach). The sinks of this crate do
/// this; a hand-written terminal future can do the same.
///
/// # Examples
/// ```
/// use spillway_core::driver::Driver;
/// use spillway_core::Context;
///
/// let driver = Driver::new();
/// let cx = Context::default().driven_by(driver.clone());
/// assert!(cx.driver().is_some());
/// // In the terminal future's poll:
/// driver.register(futures::task::noop_waker_ref());
/// assert_eq!(driver.run_ready(), 0); // nothing was woken
/// driver.detach(); // done: later wake-ups go to each stage's executor
/// ```
#[derive(Clone)]
pub struct Driver {
    inner: Arc<DriverInner>,
}

struct DriverInner {
    queue: Mutex<DriverQueue>,
    /// True while `queue.ready` may be non-empty: lets `run_ready` skip the lock.
    has_ready: AtomicBool,
    task: AtomicWaker,
}

struct DriverQueue {
    ready: VecDeque<Arc<dyn Wakeable>>,
    detached: bool,
}

impl Driver {
    /// A driver with nothing to run, attached to no task yet.
    pub fn new() -> Driver {
        Driver {
            inner: Arc::new(DriverInner {
                queue: Mutex::new(DriverQueue {
                    ready: VecDeque::new(),
                    detached: false,
                }),
                has_ready: AtomicBool::new(false),
                task: AtomicWaker::new(),
            }),
        }
    }

    /// The task to wake when a stage it drives has a pass to run. Call it in every poll,
    /// before [`run_ready`](Self::run_ready).
    pub fn register(&self, waker: &Waker) {
        self.inner.task.register(waker);
    }

    /// Runs, on this thread, the passes scheduled before this call, and returns how many
    /// ran. A pass scheduled while they run (a stage woken again during its own pass)
    /// waits for the next call: the task was woken, so the caller returns to its executor
    /// and is polled again, instead of looping here.
    pub fn run_ready(&self) -> usize {
        if !self.inner.has_ready.load(Ordering::Acquire) {
            return 0;
        }
        let ready = {
            let mut queue = lock(&self.inner.queue);
            self.inner.has_ready.store(false, Ordering::Release);
            std::mem::take(&mut queue.ready)
        };
        let n = ready.len();
        for stage in ready {
            stage.run();
        }
        n
    }

    /// Stops driving: the passes still scheduled, and all later wake-ups, go to each
    /// stage's executor. Called when the terminal future completes or is dropped, so that a
    /// stage that outlives it (the upstream of a `share`, say) is not left waiting for a
    /// poll that never comes.
    pub fn detach(&self) {
        let ready = {
            let mut queue = lock(&self.inner.queue);
            queue.detached = true;
            self.inner.has_ready.store(false, Ordering::Release);
            std::mem::take(&mut queue.ready)
        };
        for stage in ready {
            stage.reschedule();
        }
    }

    /// True once [`detach`](Self::detach) was called.
    pub fn is_detached(&self) -> bool {
        lock(&self.inner.queue).detached
    }

    /// Queues a pass and wakes the task; gives the stage back if detached.
    fn schedule(&self, stage: Arc<dyn Wakeable>) -> Result<(), Arc<dyn Wakeable>> {
        {
            let mut queue = lock(&self.inner.queue);
            if queue.detached {
                return Err(stage);
            }
            queue.ready.push_back(stage);
            self.inner.has_ready.store(true, Ordering::Release);
        }
        self.inner.task.wake();
        Ok(())
    }
}

impl Default for Driver {
    fn default() -> Self {
        Driver::new()
    }
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let queue = lock(&self.inner.queue);
        f.debug_struct("Driver")
            .field("ready", &queue.ready.len())
            .field("detached", &queue.detached)
            .finish()
    }
}

/// Where one stage's wake-ups go, chosen at subscribe time from the subscriber's context.
#[derive(Clone)]
pub(crate) struct Dispatch {
    driver: Option<Driver>,
    executor: Executor,
}

#[derive(Clone)]
enum Executor {
    Spawner(Arc<dyn Spawner>),
    Scheduler(Arc<dyn Scheduler>),
}

impl Dispatch {
    /// The driver of the context, if any, with the context's executor behind it. The
    /// executor is resolved now, on the subscribing thread (tokio's runtime is found from
    /// there), not later on whatever thread wakes the stage.
    pub(crate) fn for_context(cx: &Context) -> Dispatch {
        let executor = match cx.spawner() {
            Some(spawner) => Executor::Spawner(spawner),
            None => Executor::Scheduler(cx.scheduler()),
        };
        Dispatch {
            driver: cx.driver().cloned(),
            executor,
        }
    }

    /// Hands the stage's next pass to the driver, or else to the executor. Never runs it.
    pub(crate) fn dispatch(&self, stage: Arc<dyn Wakeable>) {
        let stage = match &self.driver {
            Some(driver) => match driver.schedule(stage) {
                Ok(()) => return,
                Err(stage) => stage,
            },
            None => stage,
        };
        match &self.executor {
            Executor::Spawner(spawner) => spawner.spawn_task(Box::pin(async move { stage.run() })),
            Executor::Scheduler(scheduler) => {
                scheduler.schedule(Duration::ZERO, Task::once(move || stage.run()))
            }
        }
    }
}
