//! Loom models of `create`'s lock-free "nothing to pull" check: the drain returns
//! `Pending` without the queue lock when the `work` flag is down, so every item, terminal
//! or overflow must raise it before the drain is signalled, and the drain must lower it
//! only when nothing is left. A lost raise (or a lowering too eager) leaves an accepted
//! item in the queue with demand outstanding: the models below check that every accepted
//! item within demand is delivered, without a terminal signal to flush it.
//!
//! Run with:
//! `CARGO_TARGET_DIR=target/loom RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
//!  cargo test -p spillway-core --test loom_create_work --release`
#![cfg(loom)]

use std::convert::Infallible;
use std::sync::Arc;

use loom::sync::Mutex;
use loom::thread;

use spillway_core::prelude::*;
use spillway_core::{Error, SharedSubscription};

fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

#[derive(Default)]
struct Log {
    items: Mutex<Vec<u64>>,
    subscription: Mutex<Option<SharedSubscription>>,
}

impl Log {
    fn request(&self, n: u64) {
        let s = self
            .subscription
            .lock()
            .unwrap()
            .clone()
            .expect("subscribed");
        s.request(n);
    }
    fn items(&self) -> Vec<u64> {
        self.items.lock().unwrap().clone()
    }
}

struct Probe {
    log: Arc<Log>,
    initial: u64,
}

impl Subscriber for Probe {
    type Item = u64;
    type Error = Infallible;
    fn on_subscribe(&mut self, s: SharedSubscription) {
        *self.log.subscription.lock().unwrap() = Some(s.clone());
        if self.initial > 0 {
            s.request(self.initial);
        }
    }
    fn on_next(&mut self, item: u64) {
        self.log.items.lock().unwrap().push(item);
    }
    fn on_error(&mut self, e: Error<Infallible>) {
        panic!("unexpected error: {e:?}");
    }
    fn on_complete(&mut self) {
        panic!("unexpected completion");
    }
}

type Producer = Arc<Mutex<Option<thread::JoinHandle<Vec<bool>>>>>;

/// A `create` whose producer thread pushes `items` (Buffer(4): all accepted) and reports
/// which were accepted.
fn source(items: u64) -> (Producer, impl Publisher<Item = u64, Error = Infallible>) {
    let producer: Producer = Arc::default();
    let slot = Arc::clone(&producer);
    let p = create(
        OverflowStrategy::Buffer(4),
        move |e: Emitter<u64, Infallible>| {
            *slot.lock().unwrap() = Some(thread::spawn(move || {
                (0..items).map(|i| e.next(i).is_ok()).collect()
            }));
        },
    );
    (producer, p)
}

/// Items pushed before and while the demand arrives: all are delivered once both sides
/// are done (the drain never sleeps on a queued item).
#[test]
fn items_racing_the_request_are_all_delivered() {
    model(|| {
        let (producer, p) = source(2);
        let log = Arc::new(Log::default());
        p.subscribe(Probe {
            log: Arc::clone(&log),
            initial: 0,
        });
        let l = Arc::clone(&log);
        let t = thread::spawn(move || l.request(2));
        t.join().unwrap();
        let accepted = producer.lock().unwrap().take().unwrap().join().unwrap();
        assert_eq!(accepted, [true, true]);
        assert_eq!(log.items(), [0, 1]);
    });
}

/// Demand already outstanding, items pushed while more demand arrives from another thread:
/// the drain that ran dry (flag down) must see each later item.
#[test]
fn items_pushed_while_the_drain_runs_dry_are_delivered() {
    model(|| {
        let (producer, p) = source(2);
        let log = Arc::new(Log::default());
        p.subscribe(Probe {
            log: Arc::clone(&log),
            initial: 1,
        });
        let l = Arc::clone(&log);
        let t = thread::spawn(move || l.request(1));
        t.join().unwrap();
        let accepted = producer.lock().unwrap().take().unwrap().join().unwrap();
        assert_eq!(accepted, [true, true]);
        assert_eq!(log.items(), [0, 1]);
    });
}

/// A `create` whose producer thread waits with `wait` (blocking or async) and then pushes
/// one item, and a request of 1 from another thread: the producer must be woken and the
/// item delivered in every interleaving. loom's condvar never times out, so a lost
/// wake-up is a deadlock the model reports. The request's drain pass may run between the
/// producer's check and its registration as a waiter, and find nothing to do: the waiter
/// then runs one more pass itself (the fix of a producer that once waited out its whole
/// timeout with demand there).
fn producer_woken_by_a_request(wait: fn(&Emitter<u64, Infallible>) -> bool) {
    model(move || {
        let producer: Producer = Arc::default();
        let slot = Arc::clone(&producer);
        let p = create(
            OverflowStrategy::Buffer(4),
            move |e: Emitter<u64, Infallible>| {
                *slot.lock().unwrap() = Some(thread::spawn(move || {
                    let ready = wait(&e);
                    vec![ready && e.next(7).is_ok()]
                }));
            },
        );
        let log = Arc::new(Log::default());
        p.subscribe(Probe {
            log: Arc::clone(&log),
            initial: 0,
        });
        let l = Arc::clone(&log);
        let t = thread::spawn(move || l.request(1));
        t.join().unwrap();
        let accepted = producer.lock().unwrap().take().unwrap().join().unwrap();
        assert_eq!(accepted, [true]);
        assert_eq!(log.items(), [7]);
        // The log holds the subscription, which holds the probe, which holds the log:
        // cancel and let go, so that loom sees every loom object (a waker) dropped.
        let subscription = log.subscription.lock().unwrap().take().unwrap();
        subscription.cancel();
    });
}

#[test]
fn a_producer_waiting_for_demand_is_woken_by_a_request() {
    producer_woken_by_a_request(|e| e.wait_for_demand(std::time::Duration::from_secs(3600)));
}

/// The async form: the waker is registered, then one more drain pass runs.
#[test]
fn a_producer_awaiting_demand_ready_is_woken_by_a_request() {
    producer_woken_by_a_request(|e| loom::future::block_on(e.demand_ready()));
}
