//! Loom model of a wake-up racing a pass: an async source is woken from another thread
//! while the terminal's driver may be running its pass. In every interleaving the item is
//! delivered exactly once, then completion, no wake-up is lost, and the waking thread never
//! runs the source (a waker only schedules).
//!
//! Run with:
//! `CARGO_TARGET_DIR=target/loom RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
//!  cargo test -p spillway-core --test loom_wake --release`
#![cfg(loom)]

use std::cell::Cell;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context as TaskContext, Waker};
use std::time::{Duration, Instant};

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::Mutex;
use loom::thread;

use spillway_core::drain::{self, Pulled, Source};
use spillway_core::driver::Driver;
use spillway_core::{Context, Error, Scheduler, SharedSubscription, Subscriber, Task};

loom::thread_local! {
    static IN_WAKER: Cell<bool> = Cell::new(false);
}

struct Shared {
    ready: AtomicBool,
    waker: Mutex<Option<Waker>>,
    pulls: AtomicUsize,
}

/// One item, available once `ready` is set; registers its waker before looking.
struct OneItem {
    shared: Arc<Shared>,
    done: bool,
}

impl Source for OneItem {
    type Item = u8;
    type Error = Infallible;
    const STAGE: &'static str = "one_item";
    const ASYNC: bool = true;

    fn pull(&mut self, cx: &mut TaskContext<'_>) -> Pulled<u8, Infallible> {
        assert!(
            !IN_WAKER.with(Cell::get),
            "the waking thread ran the source"
        );
        self.shared.pulls.fetch_add(1, SeqCst);
        if self.done {
            return Pulled::Complete;
        }
        *self.shared.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.shared.ready.load(SeqCst) {
            self.done = true;
            return Pulled::Item(7);
        }
        Pulled::Pending
    }
}

#[derive(Default)]
struct Log {
    items: AtomicUsize,
    completed: AtomicBool,
}

struct Recorder {
    log: Arc<Log>,
    context: Context,
}

impl Subscriber for Recorder {
    type Item = u8;
    type Error = Infallible;
    fn on_subscribe(&mut self, s: SharedSubscription) {
        s.request(2);
    }
    fn on_next(&mut self, _: u8) {
        self.log.items.fetch_add(1, SeqCst);
    }
    fn on_error(&mut self, e: Error<Infallible>) {
        panic!("unexpected {e:?}");
    }
    fn on_complete(&mut self) {
        assert!(
            !self.log.completed.swap(true, SeqCst),
            "one terminal signal"
        );
    }
    fn context(&self) -> Context {
        self.context.clone()
    }
}

/// The executor behind the driver: never used while the driver is attached.
#[derive(Debug)]
struct Unused;
impl Scheduler for Unused {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn schedule(&self, _: Duration, _: Task) {
        panic!("the driver is attached: nothing goes to the executor");
    }
    fn schedule_periodic(&self, _: Duration, _: Duration, _: Task) {
        unreachable!()
    }
}

#[test]
fn a_wake_up_racing_a_pass_is_never_lost_and_never_runs_the_source() {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(|| {
        let driver = Driver::new();
        let shared = Arc::new(Shared {
            ready: AtomicBool::new(false),
            waker: Mutex::new(None),
            pulls: AtomicUsize::new(0),
        });
        let log = Arc::new(Log::default());
        let context = Context::with_scheduler(Arc::new(Unused)).driven_by(driver.clone());
        drain::start(
            OneItem {
                shared: shared.clone(),
                done: false,
            },
            Recorder {
                log: log.clone(),
                context,
            },
        );
        // The first pass found nothing and left its waker; a first wake-up queues a pass
        // on the driver, which the terminal's task runs below while another thread makes
        // the item ready and wakes the source again: a wake-up during a pass.
        let first = shared
            .waker
            .lock()
            .unwrap()
            .clone()
            .expect("the first pass registered");
        first.wake_by_ref();
        drop(first);
        let waker_side = shared.clone();
        let t = thread::spawn(move || {
            waker_side.ready.store(true, SeqCst);
            let waker = waker_side.waker.lock().unwrap().take();
            if let Some(w) = waker {
                IN_WAKER.with(|c| c.set(true));
                w.wake();
                IN_WAKER.with(|c| c.set(false));
            }
        });
        // The terminal's task polls while the other thread wakes.
        assert_eq!(driver.run_ready(), 1, "the first wake-up queued one pass");
        t.join().unwrap();
        let mut rounds = 0;
        while driver.run_ready() > 0 {
            rounds += 1;
            assert!(rounds < 4, "passes keep being scheduled");
        }
        assert_eq!(log.items.load(SeqCst), 1, "the item, exactly once");
        assert!(log.completed.load(SeqCst), "then completion");
        // Two pulls while subscribing (the request made in `on_subscribe` is served by a
        // second pass), then at most: one that finds nothing, the item, the end.
        assert!(
            shared.pulls.load(SeqCst) <= 5,
            "pulls: {}",
            shared.pulls.load(SeqCst)
        );
    });
}
