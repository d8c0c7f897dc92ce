//! Deterministic checks of who runs an async source's pass after a wake-up: a wake-up
//! during a pass schedules the next one on the driver instead of looping, a pass hands
//! control back after a bounded number of pulls, and a detached driver hands its work to
//! the executor behind it.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Context as TaskContext;
use std::time::{Duration, Instant};

use spillway_core::drain::{self, Pulled, Source, ASYNC_PASS_PULLS};
use spillway_core::driver::Driver;
use spillway_core::{Context, Error, Scheduler, SharedSubscription, Subscriber, Task};

/// Emits `0..n`; before each item it is pending once, waking itself from inside `pull`
/// (as a tokio resource does when the task's budget is spent).
struct WakesItselfDuringPull {
    next: u64,
    n: u64,
    pending_first: bool,
    pulls: Arc<AtomicU64>,
}

impl Source for WakesItselfDuringPull {
    type Item = u64;
    type Error = Infallible;
    const STAGE: &'static str = "wakes_itself";
    const ASYNC: bool = true;

    fn pull(&mut self, cx: &mut TaskContext<'_>) -> Pulled<u64, Infallible> {
        self.pulls.fetch_add(1, Ordering::SeqCst);
        if self.next == self.n {
            return Pulled::Complete;
        }
        if self.pending_first {
            self.pending_first = false;
            cx.waker().wake_by_ref();
            return Pulled::Pending;
        }
        self.pending_first = true;
        self.next += 1;
        Pulled::Item(self.next - 1)
    }
}

/// Always ready: an endless async source.
struct AlwaysReady {
    next: u64,
    pulls: Arc<AtomicU64>,
}

impl Source for AlwaysReady {
    type Item = u64;
    type Error = Infallible;
    const STAGE: &'static str = "always_ready";
    const ASYNC: bool = true;

    fn pull(&mut self, _cx: &mut TaskContext<'_>) -> Pulled<u64, Infallible> {
        self.pulls.fetch_add(1, Ordering::SeqCst);
        self.next += 1;
        Pulled::Item(self.next - 1)
    }
}

#[derive(Default)]
struct Log {
    items: Mutex<Vec<u64>>,
    completed: Mutex<bool>,
    subscription: Mutex<Option<SharedSubscription>>,
}

impl Log {
    /// Requests from outside any signal, so the pass it runs is the only one.
    fn request_unbounded(&self) {
        let s = self
            .subscription
            .lock()
            .unwrap()
            .clone()
            .expect("subscribed");
        s.request(u64::MAX);
    }
}

/// Records; its context carries the driver (and a scheduler standing for the executor
/// behind it). The test requests through [`Log::request_unbounded`].
struct Recorder {
    log: Arc<Log>,
    context: Context,
}

impl Subscriber for Recorder {
    type Item = u64;
    type Error = Infallible;
    fn on_subscribe(&mut self, s: SharedSubscription) {
        *self.log.subscription.lock().unwrap() = Some(s);
    }
    fn on_next(&mut self, item: u64) {
        self.log.items.lock().unwrap().push(item);
    }
    fn on_error(&mut self, e: Error<Infallible>) {
        panic!("unexpected {e:?}");
    }
    fn on_complete(&mut self) {
        *self.log.completed.lock().unwrap() = true;
    }
    fn context(&self) -> Context {
        self.context.clone()
    }
}

/// An executor that only queues what it is given, run by hand.
#[derive(Debug, Default)]
struct ManualExecutor {
    tasks: Mutex<Vec<Task>>,
}

impl ManualExecutor {
    fn run_all(&self) -> usize {
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap());
        let n = tasks.len();
        for t in tasks {
            t.run();
        }
        n
    }
}

impl Scheduler for ManualExecutor {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn schedule(&self, delay: Duration, task: Task) {
        assert_eq!(delay, Duration::ZERO, "a pass is scheduled without delay");
        self.tasks.lock().unwrap().push(task);
    }
    fn schedule_periodic(&self, _: Duration, _: Duration, _: Task) {
        unreachable!("no periodic tasks here")
    }
}

fn setup(driver: &Driver) -> (Arc<Log>, Arc<ManualExecutor>, Recorder) {
    let log = Arc::new(Log::default());
    let executor = Arc::new(ManualExecutor::default());
    let context = Context::with_scheduler(executor.clone()).driven_by(driver.clone());
    let sub = Recorder {
        log: log.clone(),
        context,
    };
    (log, executor, sub)
}

#[test]
fn a_wake_up_during_a_pass_is_served_by_a_later_pass_not_a_loop() {
    let driver = Driver::new();
    let (log, executor, sub) = setup(&driver);
    let pulls = Arc::new(AtomicU64::new(0));
    let source = WakesItselfDuringPull {
        next: 0,
        n: 3,
        pending_first: true,
        pulls: pulls.clone(),
    };
    drain::start(source, sub);
    log.request_unbounded();
    // The first pass pulled once, got Pending with a wake-up from inside, and returned.
    assert_eq!(
        pulls.load(Ordering::SeqCst),
        1,
        "the pass looped on its own wake-up"
    );
    assert!(log.items.lock().unwrap().is_empty());
    // Each driver run is one pass: an item, then the next self-wake ends it (the last
    // pass finds the end right after the last item).
    for expected in 1..=3u64 {
        assert!(!*log.completed.lock().unwrap());
        assert_eq!(driver.run_ready(), 1, "one pass scheduled");
        assert_eq!(log.items.lock().unwrap().len() as u64, expected);
    }
    assert!(*log.completed.lock().unwrap());
    assert_eq!(driver.run_ready(), 0, "nothing left to run");
    assert_eq!(executor.run_all(), 0, "the executor was never needed");
}

#[test]
fn an_always_ready_source_hands_back_control_after_a_bounded_pass() {
    let driver = Driver::new();
    let (log, _executor, sub) = setup(&driver);
    let pulls = Arc::new(AtomicU64::new(0));
    drain::start(
        AlwaysReady {
            next: 0,
            pulls: pulls.clone(),
        },
        sub,
    );
    log.request_unbounded();
    let per_pass = u64::from(ASYNC_PASS_PULLS);
    assert_eq!(pulls.load(Ordering::SeqCst), per_pass);
    assert_eq!(log.items.lock().unwrap().len() as u64, per_pass);
    for pass in 2..=5u64 {
        assert_eq!(driver.run_ready(), 1, "the continuation was scheduled");
        assert_eq!(pulls.load(Ordering::SeqCst), pass * per_pass);
    }
    let items = log.items.lock().unwrap().clone();
    assert!(
        items.iter().copied().eq(0..5 * per_pass),
        "in order, none lost"
    );
}

#[test]
fn a_detached_driver_hands_scheduled_and_later_passes_to_the_executor() {
    let driver = Driver::new();
    let (log, executor, sub) = setup(&driver);
    let pulls = Arc::new(AtomicU64::new(0));
    let source = WakesItselfDuringPull {
        next: 0,
        n: 2,
        pending_first: true,
        pulls,
    };
    drain::start(source, sub);
    log.request_unbounded();
    // One pass is queued on the driver; its terminal future goes away.
    driver.detach();
    assert_eq!(driver.run_ready(), 0);
    // The queued pass moved to the executor, and so does every later one.
    let mut runs = 0;
    while executor.run_all() > 0 {
        runs += 1;
        assert!(runs < 10, "passes keep coming");
    }
    assert_eq!(*log.items.lock().unwrap(), vec![0, 1]);
    assert!(*log.completed.lock().unwrap());
}
