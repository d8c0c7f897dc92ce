//! Rule 2.7: an operator's calls on its upstream subscription (`request`, `cancel`) are
//! serial, even when its downstream side runs on another thread.
//!
//! The upstream here emits synchronously *inside* `request`, on the requesting thread (as
//! a range source does), and stays in each call a little, so that a call from a second
//! thread meanwhile is seen rather than missed by nanoseconds. The stages that could
//! overlap are those whose drain or driver runs on another thread than upstream: the
//! drain requests more for the items it took while upstream is still inside the first
//! request, a timer requests while the drain does, or downstream cancels on the drain's
//! thread while upstream's thread requests. The conformance suite checks the same rule for
//! every operator with its puppet subscription (`conformance_every_operator`); this file
//! adds the emitting-inside-request shape, which the puppet does not have.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use spillway::operators::{AdaptiveRateConfig, Budget, BufferOverflow};
use spillway::prelude::*;
use spillway::{BoxPublisher, Error, SharedSubscription, Subscription, Worker};

/// How many times each call on the recording subscription hands the processor to other
/// threads before it returns: a call from another thread meanwhile is then seen. A count
/// of scheduler turns, not a duration: nothing here waits on the wall clock.
const DWELL: u32 = 200;
/// The turns that emitting one item inside a request takes (a request that emits many
/// lasts).
const PER_ITEM: u32 = 20;

/// Lets other threads run `turns` times.
fn dwell(turns: u32) {
    for _ in 0..turns {
        thread::yield_now();
    }
}
const ITEMS: u64 = 600;
const WAIT: Duration = Duration::from_secs(30);

/// What the upstream saw of the calls on its subscription.
#[derive(Default)]
struct Record {
    in_call: Mutex<Option<ThreadId>>,
    overlaps: Mutex<Vec<String>>,
    cancelled: AtomicBool,
    /// Notified when `cancelled` is set.
    cancel_seen: (Mutex<()>, Condvar),
}

impl Record {
    /// Enters a call; true if this is the outermost call on this thread.
    fn enter(&self, call: &str) -> bool {
        let me = thread::current().id();
        let mut in_call = self.in_call.lock().unwrap();
        let outermost = match *in_call {
            Some(other) if other != me => {
                self.overlaps
                    .lock()
                    .unwrap()
                    .push(format!("{call} on {me:?} overlapped a call on {other:?}"));
                false
            }
            Some(_) => false, // re-entrant, on the same thread: allowed (rule 3.3)
            None => {
                *in_call = Some(me);
                true
            }
        };
        drop(in_call);
        dwell(DWELL);
        outermost
    }

    fn exit(&self, outermost: bool) {
        if outermost {
            *self.in_call.lock().unwrap() = None;
        }
    }

    fn overlaps(&self) -> Vec<String> {
        self.overlaps.lock().unwrap().clone()
    }

    /// Waits until upstream was cancelled; false if it was not within `WAIT` (a watchdog:
    /// woken by the cancel itself, not polled).
    fn wait_cancelled(&self) -> bool {
        let (lock, changed) = &self.cancel_seen;
        let guard = lock.lock().unwrap();
        let (_guard, _) = changed
            .wait_timeout_while(guard, WAIT, |_| !self.cancelled.load(Ordering::Acquire))
            .unwrap();
        self.cancelled.load(Ordering::Acquire)
    }
}

/// `0..ITEMS`, emitted inside `request` on the requesting thread.
struct EmittingInRequest(Arc<Record>);

#[derive(Default)]
struct State {
    demand: u64,
    next: u64,
    emitting: bool,
    done: bool,
}

struct Upstream<S> {
    record: Arc<Record>,
    state: Mutex<State>,
    /// Only the thread that set `emitting` touches it.
    subscriber: Mutex<Option<S>>,
}

impl<S: Subscriber<Item = u64, Error = String>> Upstream<S> {
    /// Emits while there is demand; a request re-entering from `on_next`, or arriving
    /// from another thread meanwhile, only adds demand for this loop.
    fn emit(&self) {
        {
            let mut st = self.state.lock().unwrap();
            if st.emitting {
                return;
            }
            st.emitting = true;
        }
        let mut slot = self.subscriber.lock().unwrap();
        loop {
            let next = {
                let mut st = self.state.lock().unwrap();
                let Some(_) = slot.as_ref() else {
                    st.emitting = false;
                    return;
                };
                if st.done || self.record.cancelled.load(Ordering::Acquire) {
                    st.emitting = false;
                    return;
                }
                if st.next == ITEMS {
                    st.done = true;
                    None
                } else if st.demand > 0 {
                    st.demand -= 1;
                    st.next += 1;
                    Some(st.next - 1)
                } else {
                    st.emitting = false;
                    return;
                }
            };
            let subscriber = slot.as_mut().expect("checked above");
            dwell(PER_ITEM);
            match next {
                Some(item) => subscriber.on_next(item),
                None => subscriber.on_complete(),
            }
        }
    }
}

impl<S: Subscriber<Item = u64, Error = String>> Subscription for Upstream<S> {
    fn request(&self, n: u64) {
        let outermost = self.record.enter("request");
        {
            let mut st = self.state.lock().unwrap();
            st.demand = st.demand.saturating_add(n);
        }
        self.emit();
        self.record.exit(outermost);
    }

    fn cancel(&self) {
        let outermost = self.record.enter("cancel");
        {
            let (lock, changed) = &self.record.cancel_seen;
            let _guard = lock.lock().unwrap();
            self.record.cancelled.store(true, Ordering::Release);
            changed.notify_all();
        }
        self.record.exit(outermost);
    }
}

impl Publisher for EmittingInRequest {
    type Item = u64;
    type Error = String;
    fn subscribe<S: Subscriber<Item = u64, Error = String>>(self, mut subscriber: S) {
        let up = Arc::new(Upstream {
            record: self.0,
            state: Mutex::default(),
            subscriber: Mutex::new(None),
        });
        // Requests made inside `on_subscribe` wait for the subscriber to be stored.
        subscriber.on_subscribe(Arc::clone(&up) as SharedSubscription);
        *up.subscriber.lock().unwrap() = Some(subscriber);
        up.emit();
    }
}

/// What the consumer saw.
enum Seen {
    Items(u64),
    Ended(u64, Result<(), Error<String>>),
}

/// Requests `batch` at a time from `on_next` (serially, on whatever thread delivers). At
/// item `cancel_at` it cancels from `on_next`, or stops requesting and hands the
/// subscription to the test's thread, which cancels (its calls stay serial).
struct Consumer {
    subscription: Option<SharedSubscription>,
    batch: u64,
    received: u64,
    cancel_at: Option<u64>,
    cancel_elsewhere: Option<mpsc::Sender<SharedSubscription>>,
    report: mpsc::Sender<Seen>,
}

impl Subscriber for Consumer {
    type Item = u64;
    type Error = String;
    fn on_subscribe(&mut self, s: SharedSubscription) {
        s.request(self.batch);
        self.subscription = Some(s);
    }
    fn on_next(&mut self, _item: u64) {
        self.received += 1;
        let s = self.subscription.as_ref().expect("subscribed");
        if Some(self.received) == self.cancel_at {
            match self.cancel_elsewhere.take() {
                Some(elsewhere) => {
                    let _ = elsewhere.send(Arc::clone(s));
                }
                None => s.cancel(),
            }
            let _ = self.report.send(Seen::Items(self.received));
        } else if self.received > self.cancel_at.unwrap_or(u64::MAX) {
            // Items in flight after the cancel: no more requests.
        } else if self.received % self.batch == 0 {
            s.request(self.batch);
        }
    }
    fn on_error(&mut self, e: Error<String>) {
        let _ = self.report.send(Seen::Ended(self.received, Err(e)));
    }
    fn on_complete(&mut self) {
        let _ = self.report.send(Seen::Ended(self.received, Ok(())));
    }
}

type Stage = fn(BoxPublisher<u64, String>) -> BoxPublisher<u64, String>;

/// The stages whose upstream calls can come from more than one thread. (`subscribe_on`
/// lets a cancel overtake a request running on its worker, on purpose and documented:
/// it is in the first test only.)
fn stages() -> Vec<(&'static str, Stage)> {
    vec![
        ("publish_on", |p| {
            p.publish_on(Worker::new("serial"), 16).unwrap().boxed()
        }),
        ("adaptive_rate", |p| {
            p.adaptive_rate(AdaptiveRateConfig {
                min: 1_000.0,
                max: 100_000.0,
                initial: 20_000.0,
                increase: 1_000.0,
                decrease_factor: 0.5,
                window: Duration::from_millis(10),
            })
            .unwrap()
            .boxed()
        }),
        ("map_async", |p| {
            p.map_async(4, |x| async move { x })
                .unwrap()
                .publish_on(Worker::new("after"), 8)
                .unwrap()
                .boxed()
        }),
        ("on_backpressure_buffer", |p| {
            p.on_backpressure_buffer(ITEMS as usize, BufferOverflow::Fail)
                .unwrap()
                .publish_on(Worker::new("after"), 8)
                .unwrap()
                .boxed()
        }),
        ("limit_rate", |p| {
            p.limit_rate(8)
                .unwrap()
                .publish_on(Worker::new("after"), 4)
                .unwrap()
                .boxed()
        }),
        ("within_budget", |p| {
            p.within_budget(&Budget::new(8).unwrap())
                .publish_on(Worker::new("after"), 4)
                .unwrap()
                .boxed()
        }),
    ]
}

/// Where the consumer cancels.
#[derive(Clone, Copy, Debug)]
enum CancelFrom {
    OnNext,
    AnotherThread,
}

/// Runs `stage` over the emitting source; the report is what the consumer saw.
fn run(stage: Stage, batch: u64, cancel: Option<(u64, CancelFrom)>) -> (Arc<Record>, Seen) {
    let record = Arc::new(Record::default());
    let (tx, rx) = mpsc::channel();
    let (to_cancel, cancel_here) = mpsc::channel();
    let pipeline = stage(EmittingInRequest(Arc::clone(&record)).boxed());
    let consumer = Consumer {
        subscription: None,
        batch,
        received: 0,
        cancel_at: cancel.map(|(at, _)| at),
        cancel_elsewhere: matches!(cancel, Some((_, CancelFrom::AnotherThread)))
            .then_some(to_cancel),
        report: tx,
    };
    // Subscribed from a thread of its own: upstream's first request runs there.
    thread::spawn(move || pipeline.subscribe(consumer));
    if let Ok(subscription) = cancel_here.recv_timeout(WAIT) {
        subscription.cancel();
    }
    let seen = rx
        .recv_timeout(WAIT)
        .expect("the pipeline ended or cancelled in time");
    (record, seen)
}

#[test]
fn every_item_arrives_and_no_upstream_calls_overlap() {
    let subscribe_on: (&str, Stage) = ("subscribe_on+publish_on", |p| {
        p.subscribe_on(Worker::new("up"))
            .publish_on(Worker::new("down"), 8)
            .unwrap()
            .boxed()
    });
    for (name, stage) in stages().into_iter().chain([subscribe_on]) {
        for batch in [1, 7, 64] {
            let (record, seen) = run(stage, batch, None);
            match seen {
                Seen::Ended(n, Ok(())) => assert_eq!(n, ITEMS, "{name}, batch {batch}"),
                Seen::Ended(n, Err(e)) => panic!("{name}, batch {batch}: failed after {n}: {e}"),
                Seen::Items(_) => unreachable!("no cancel asked"),
            }
            assert_eq!(
                record.overlaps(),
                Vec::<String>::new(),
                "{name}, batch {batch}"
            );
        }
    }
}

#[test]
fn a_cancel_does_not_overlap_upstreams_request() {
    let cases = [1, 50, 333]
        .into_iter()
        .flat_map(|at| [(at, CancelFrom::OnNext), (at, CancelFrom::AnotherThread)]);
    for (name, stage) in stages() {
        for (cancel_at, from) in cases.clone() {
            let (record, seen) = run(stage, 7, Some((cancel_at, from)));
            assert!(
                matches!(seen, Seen::Items(n) if n == cancel_at),
                "{name}: cancelled at {cancel_at} from {from:?}"
            );
            // The cancel reaches upstream (a drain that runs later cancels it then).
            assert!(record.wait_cancelled(), "{name}: never cancelled");
            assert_eq!(
                record.overlaps(),
                Vec::<String>::new(),
                "{name}, cancel at {cancel_at} from {from:?}"
            );
        }
    }
}

#[test]
fn the_counter_of_the_emitting_source_is_itself_serial() {
    // The source used above, under a plain consumer on one thread: no overlap is
    // reported, so an overlap above comes from the stage.
    let (record, seen) = run(|p| p, 5, None);
    assert!(matches!(seen, Seen::Ended(n, Ok(())) if n == ITEMS));
    assert!(record.overlaps().is_empty());
}
