//! Loom models of the demand / cancel / drain state machine, through the public API.
//!
//! Run with:
//! `CARGO_TARGET_DIR=target/loom RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 \
//!  cargo test -p spillway-core --test loom_drain --release`
//!
//! Every model subscribes a hand-written probe subscriber, then races `request` /
//! `cancel` (or a `create` producer) from loom threads and checks, in every interleaving:
//! no more items than requested, items in order, no lost wake-up, signals serial, exactly
//! one terminal signal, nothing (but the one in-flight signal) after `cancel` returned,
//! and the subscriber released after cancellation or termination.
#![cfg(loom)]

use std::convert::Infallible;
use std::sync::{Arc, Weak};

use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use loom::sync::Mutex;
use loom::thread;

use spillway_core::prelude::*;
use spillway_core::{EmitError, Error, SharedSubscription};

/// Runs `f` under loom, with a preemption bound of 3 unless `LOOM_MAX_PREEMPTIONS` says
/// otherwise, so every model finishes in seconds.
fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

#[derive(Debug, Clone, PartialEq)]
enum Ev {
    Next(u64),
    Complete,
    Error(Error<Infallible>),
}

#[derive(Default)]
struct Log {
    events: Mutex<Vec<Ev>>,
    subscription: Mutex<Option<SharedSubscription>>,
    /// Total demand requested so far; bumped *before* each `request` call.
    requested: AtomicU64,
    /// Set right after a `cancel` call returned.
    cancel_returned: AtomicBool,
    /// Signals that started after `cancel` returned.
    after_cancel: AtomicUsize,
    /// Detects overlapping signals (rule 1.3).
    busy: AtomicBool,
}

impl Log {
    fn request(&self, n: u64) {
        self.requested.fetch_add(n, SeqCst);
        let s = self.subscription();
        s.request(n);
    }
    fn cancel(&self) {
        self.subscription().cancel();
        self.cancel_returned.store(true, SeqCst);
    }
    fn subscription(&self) -> SharedSubscription {
        self.subscription
            .lock()
            .unwrap()
            .clone()
            .expect("on_subscribe ran")
    }
    fn events(&self) -> Vec<Ev> {
        self.events.lock().unwrap().clone()
    }
    fn items(&self) -> Vec<u64> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Ev::Next(n) => Some(n),
                _ => None,
            })
            .collect()
    }
    fn terminals(&self) -> Vec<Ev> {
        self.events()
            .into_iter()
            .filter(|e| !matches!(e, Ev::Next(_)))
            .collect()
    }
}

struct Probe {
    log: Arc<Log>,
    initial: u64,
    _alive: Arc<()>,
}

impl Probe {
    fn enter(&self) {
        assert!(
            !self.log.busy.swap(true, SeqCst),
            "overlapping signals (rule 1.3)"
        );
        if self.log.cancel_returned.load(SeqCst) {
            self.log.after_cancel.fetch_add(1, SeqCst);
        }
        let events = self.log.events.lock().unwrap();
        assert!(
            !events.iter().any(|e| !matches!(e, Ev::Next(_))),
            "signal after a terminal signal (rule 1.7): {events:?}"
        );
    }
    fn exit(&self, ev: Ev) {
        self.log.events.lock().unwrap().push(ev);
        self.log.busy.store(false, SeqCst);
    }
}

impl Subscriber for Probe {
    type Item = u64;
    type Error = Infallible;
    fn on_subscribe(&mut self, s: SharedSubscription) {
        *self.log.subscription.lock().unwrap() = Some(s);
        if self.initial > 0 {
            self.log.request(self.initial);
        }
    }
    fn on_next(&mut self, item: u64) {
        self.enter();
        let delivered = self.log.items().len() as u64 + 1;
        let requested = self.log.requested.load(SeqCst);
        assert!(
            delivered <= requested,
            "rule 1.1: item #{delivered} with only {requested} requested"
        );
        self.exit(Ev::Next(item));
    }
    fn on_error(&mut self, e: Error<Infallible>) {
        self.enter();
        self.exit(Ev::Error(e));
    }
    fn on_complete(&mut self) {
        self.enter();
        self.exit(Ev::Complete);
    }
}

/// Subscribes a probe that requests `initial` in `on_subscribe`; returns its log and a
/// weak reference that dies when the publisher releases the subscriber (rule 3.13).
fn probe<P: Publisher<Item = u64, Error = Infallible>>(p: P, initial: u64) -> (Arc<Log>, Weak<()>) {
    let log = Arc::new(Log::default());
    let alive = Arc::new(());
    let weak = Arc::downgrade(&alive);
    p.subscribe(Probe {
        log: Arc::clone(&log),
        initial,
        _alive: alive,
    });
    (log, weak)
}

fn spawn(log: &Arc<Log>, f: impl FnOnce(&Log) + Send + 'static) -> thread::JoinHandle<()> {
    let log = Arc::clone(log);
    thread::spawn(move || f(&log))
}

fn assert_in_order_from(items: &[u64], first: u64) {
    let expected: Vec<u64> = (first..first + items.len() as u64).collect();
    assert_eq!(items, expected.as_slice(), "items out of order or lost");
}

// ---------------------------------------------------------------------------------------
// Concurrent requests: never more than requested, nothing lost.

fn concurrent_requests<P, F>(make: F)
where
    P: Publisher<Item = u64, Error = Infallible>,
    F: Fn() -> P + Sync + Send + 'static,
{
    model(move || {
        let (log, alive) = probe(make(), 0);
        let t1 = spawn(&log, |l| l.request(1));
        let t2 = spawn(&log, |l| l.request(2));
        t1.join().unwrap();
        t2.join().unwrap();
        // No lost wake-up: all 3 requested items arrived, and no more.
        assert_eq!(log.items(), vec![0, 1, 2]);
        assert!(log.terminals().is_empty(), "{:?}", log.events());
        assert!(alive.upgrade().is_some(), "released a live subscriber");
    });
}

#[test]
fn concurrent_requests_range() {
    concurrent_requests(|| range(0, 10));
}

#[test]
fn concurrent_requests_from_iter() {
    concurrent_requests(|| from_iter(0..10u64));
}

#[test]
fn concurrent_requests_generate() {
    concurrent_requests(|| {
        generate(0u64, |n| {
            *n += 1;
            Some(*n - 1)
        })
    });
}

/// A request made inside `on_subscribe` (served only after it returns, rule 1.3) racing a
/// request from a thread spawned inside `on_subscribe`.
#[test]
fn request_in_on_subscribe_racing_request() {
    struct Racer {
        probe: Probe,
        spawned: Arc<Mutex<Option<thread::JoinHandle<()>>>>,
    }
    impl Subscriber for Racer {
        type Item = u64;
        type Error = Infallible;
        fn on_subscribe(&mut self, s: SharedSubscription) {
            *self.probe.log.subscription.lock().unwrap() = Some(s);
            *self.spawned.lock().unwrap() = Some(spawn(&self.probe.log, |l| l.request(2)));
            self.probe.log.request(1);
        }
        fn on_next(&mut self, item: u64) {
            self.probe.on_next(item)
        }
        fn on_error(&mut self, e: Error<Infallible>) {
            self.probe.on_error(e)
        }
        fn on_complete(&mut self) {
            self.probe.on_complete()
        }
    }
    model(|| {
        let log = Arc::new(Log::default());
        let alive = Arc::new(());
        let weak = Arc::downgrade(&alive);
        let spawned = Arc::new(Mutex::new(None));
        range(0, 10).subscribe(Racer {
            probe: Probe {
                log: Arc::clone(&log),
                initial: 0,
                _alive: alive,
            },
            spawned: Arc::clone(&spawned),
        });
        let t = spawned.lock().unwrap().take().expect("spawned");
        t.join().unwrap();
        assert_eq!(log.items(), vec![0, 1, 2]);
        assert!(weak.upgrade().is_some());
    });
}

// ---------------------------------------------------------------------------------------
// Request racing completion: exactly one terminal signal.

fn requests_racing_completion<P, F>(make: F)
where
    P: Publisher<Item = u64, Error = Infallible>,
    F: Fn() -> P + Sync + Send + 'static,
{
    model(move || {
        let (log, alive) = probe(make(), 0);
        let t1 = spawn(&log, |l| l.request(2));
        let t2 = spawn(&log, |l| l.request(2));
        t1.join().unwrap();
        t2.join().unwrap();
        let events = log.events();
        assert_eq!(
            events,
            vec![Ev::Next(0), Ev::Next(1), Ev::Next(2), Ev::Complete]
        );
        assert!(
            alive.upgrade().is_none(),
            "subscriber kept after completion"
        );
    });
}

#[test]
fn requests_racing_completion_range() {
    requests_racing_completion(|| range(0, 3));
}

#[test]
fn requests_racing_completion_from_iter() {
    requests_racing_completion(|| from_iter(vec![0u64, 1, 2]));
}

#[test]
fn requests_racing_completion_generate() {
    requests_racing_completion(|| {
        generate(0u64, |n| {
            *n += 1;
            (*n <= 3).then_some(*n - 1)
        })
    });
}

// ---------------------------------------------------------------------------------------
// Request racing cancel.

#[test]
fn request_racing_cancel() {
    model(|| {
        let (log, alive) = probe(range(0, 10), 1);
        assert_eq!(log.items(), vec![0]);
        let t1 = spawn(&log, |l| l.request(3));
        let t2 = spawn(&log, |l| l.cancel());
        t1.join().unwrap();
        t2.join().unwrap();
        let items = log.items();
        assert!(items.len() <= 4);
        assert_in_order_from(&items, 0);
        assert!(log.terminals().is_empty(), "{:?}", log.events());
        assert!(
            log.after_cancel.load(SeqCst) <= 1,
            "more than the in-flight signal after cancel returned"
        );
        // Rule 3.13: released.
        assert!(alive.upgrade().is_none(), "subscriber kept after cancel");
        // Rule 3.6: request after cancel is a NOP.
        let before = log.events().len();
        log.request(5);
        assert_eq!(log.events().len(), before);
    });
}

#[test]
fn concurrent_cancel_is_idempotent() {
    model(|| {
        let (log, alive) = probe(range(0, 10), 0);
        let t1 = spawn(&log, |l| l.cancel());
        let t2 = spawn(&log, |l| l.cancel());
        log.request(2); // racing both cancels
        t1.join().unwrap();
        t2.join().unwrap();
        let items = log.items();
        assert!(items.len() <= 2);
        assert_in_order_from(&items, 0);
        assert!(log.terminals().is_empty(), "{:?}", log.events());
        assert!(alive.upgrade().is_none(), "subscriber kept after cancel");
        let before = log.events().len();
        log.subscription().cancel();
        log.request(1);
        assert_eq!(log.events().len(), before);
    });
}

// ---------------------------------------------------------------------------------------
// request(0) racing request(n): exactly one on_error(InvalidRequest).

#[test]
fn bad_request_racing_request() {
    model(|| {
        let (log, alive) = probe(range(0, 10), 0);
        let t1 = spawn(&log, |l| l.request(0));
        let t2 = spawn(&log, |l| l.request(2));
        t1.join().unwrap();
        t2.join().unwrap();
        let events = log.events();
        assert_eq!(
            log.terminals(),
            vec![Ev::Error(Error::InvalidRequest { stage: "range" })],
            "{events:?}"
        );
        assert_eq!(
            events.last(),
            Some(&Ev::Error(Error::InvalidRequest { stage: "range" }))
        );
        let items = log.items();
        assert!(items.len() <= 2);
        assert_in_order_from(&items, 0);
        assert!(alive.upgrade().is_none(), "subscriber kept after the error");
    });
}

#[test]
fn bad_request_racing_cancel() {
    model(|| {
        let (log, alive) = probe(range(0, 10), 0);
        let t1 = spawn(&log, |l| l.request(0));
        let t2 = spawn(&log, |l| l.cancel());
        t1.join().unwrap();
        t2.join().unwrap();
        // Either the error won (before the cancel) or nothing at all was signalled.
        let terminals = log.terminals();
        assert!(
            terminals.is_empty()
                || terminals == vec![Ev::Error(Error::InvalidRequest { stage: "range" })],
            "{terminals:?}"
        );
        assert!(log.after_cancel.load(SeqCst) <= 1);
        assert!(alive.upgrade().is_none());
    });
}

// ---------------------------------------------------------------------------------------
// create: a producer thread racing the subscriber's requests.

#[test]
fn create_producer_racing_request_loses_no_wakeup() {
    model(|| {
        let producer: Arc<Mutex<Option<thread::JoinHandle<()>>>> = Arc::default();
        let slot = Arc::clone(&producer);
        let p = create(
            OverflowStrategy::Buffer(4),
            move |e: Emitter<u64, Infallible>| {
                *slot.lock().unwrap() = Some(thread::spawn(move || {
                    e.next(0).unwrap();
                    e.next(1).unwrap();
                    e.complete();
                    let stats = e.stats();
                    assert_eq!(
                        stats.pushed,
                        stats.delivered + stats.refused + stats.evicted + stats.queued
                    );
                }));
            },
        );
        let (log, alive) = probe(p, 0);
        let t = spawn(&log, |l| l.request(2));
        t.join().unwrap();
        producer.lock().unwrap().take().unwrap().join().unwrap();
        assert_eq!(log.events(), vec![Ev::Next(0), Ev::Next(1), Ev::Complete]);
        assert!(alive.upgrade().is_none());
    });
}

#[test]
fn create_producer_racing_cancel() {
    model(|| {
        let producer: Arc<Mutex<Option<thread::JoinHandle<Vec<bool>>>>> = Arc::default();
        let slot = Arc::clone(&producer);
        let p = create(
            OverflowStrategy::Buffer(4),
            move |e: Emitter<u64, Infallible>| {
                *slot.lock().unwrap() = Some(thread::spawn(move || {
                    let accepted = vec![e.next(0).is_ok(), e.next(1).is_ok()];
                    let stats = e.stats();
                    assert_eq!(
                        stats.pushed,
                        stats.delivered + stats.refused + stats.evicted + stats.queued
                    );
                    accepted
                }));
            },
        );
        let (log, alive) = probe(p, 2);
        let t = spawn(&log, |l| l.cancel());
        t.join().unwrap();
        let accepted = producer.lock().unwrap().take().unwrap().join().unwrap();
        let items = log.items();
        assert_in_order_from(&items, 0);
        // Only accepted items can have been delivered.
        assert!(items.len() <= accepted.iter().filter(|a| **a).count());
        assert!(log.terminals().is_empty());
        assert!(log.after_cancel.load(SeqCst) <= 1);
        assert!(alive.upgrade().is_none());
    });
}

/// Two producer threads, one item of demand, `OverflowStrategy::Error`: exactly one item
/// is accepted; the other is refused with `EmitError::Overflow` and the pipeline fails
/// with `Error::Overflow` (delivered at once, so the accepted item may be evicted).
/// Regression: the emitter used to read demand the drain had not settled yet mid-pass and
/// accepted both items; the second then sat in the queue forever, with no error.
#[test]
fn create_error_strategy_two_producers() {
    model(|| {
        type Producers = Arc<Mutex<Vec<thread::JoinHandle<Result<(), EmitError<u64>>>>>>;
        let producers: Producers = Arc::default();
        let slot = Arc::clone(&producers);
        let p = create(
            OverflowStrategy::Error,
            move |e: Emitter<u64, Infallible>| {
                let mut v = slot.lock().unwrap();
                for i in 0..2 {
                    let e = e.clone();
                    v.push(thread::spawn(move || e.next(i)));
                }
            },
        );
        let (log, _alive) = probe(p, 1);
        let handles = std::mem::take(&mut *producers.lock().unwrap());
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let ok = results.iter().filter(|r| r.is_ok()).count();
        let overflowed = results
            .iter()
            .filter(|r| matches!(r, Err(EmitError::Overflow(_))))
            .count();
        assert_eq!((ok, overflowed), (1, 1), "{results:?} / {:?}", log.events());
        assert!(log.items().len() <= 1);
        assert_eq!(
            log.terminals(),
            vec![Ev::Error(Error::Overflow {
                stage: "create",
                capacity: 0
            })]
        );
    });
}
