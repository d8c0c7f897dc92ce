//! publish_on: thread hand-off, batched demand, delayed errors, cancellation, conformance
//! and a 1,000,000-item cross-thread stress run.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use spillway::prelude::*;
use spillway::{Error, SchedulerExt, SharedSubscription, Worker};
use spillway_testkit::tck::{self, publisher_factory, Either, TckConfig};
use spillway_testkit::{TestPublisher, TestSubscriber, Violation, VirtualScheduler};

const WAIT: Duration = Duration::from_secs(10);

fn thread_name() -> String {
    thread::current().name().unwrap_or("?").to_string()
}

/// Sends `items` one by one (without completing, unlike `TestPublisher::emit`).
fn send<E: Send + 'static>(tp: &TestPublisher<u64, E>, items: std::ops::Range<u64>) {
    for i in items {
        tp.next(i);
    }
}

/// The amounts requested from a test publisher, in order.
fn amounts<T: Send + 'static, E: Send + 'static>(tp: &TestPublisher<T, E>) -> Vec<u64> {
    tp.requests().into_iter().map(|(_, n)| n).collect()
}

#[test]
fn prefetch_zero_is_a_config_error() {
    let err = range(0, 3).publish_on(Worker::new("w"), 0).unwrap_err();
    assert!(err.to_string().contains("publish_on"), "{err}");
}

#[test]
fn on_next_and_complete_run_on_the_worker() {
    let consumer = Worker::new("consumer");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (sub, handle) = TestSubscriber::<(u64, String), Infallible>::new(u64::MAX);
    let l = log.clone();
    range(0, 100)
        .publish_on(consumer.clone(), 8)
        .unwrap()
        .map(|x| (x, thread_name()))
        .do_on_complete(move || l.lock().unwrap().push(thread_name()))
        .subscribe(sub);
    assert!(handle.await_terminal(WAIT));
    handle.assert_complete();
    let items = handle.items();
    assert_eq!(
        items.iter().map(|(x, _)| *x).collect::<Vec<_>>(),
        (0..100).collect::<Vec<_>>()
    );
    assert!(items.iter().all(|(_, t)| t == "consumer"), "{items:?}");
    assert_eq!(*log.lock().unwrap(), vec!["consumer".to_string()]);
}

#[test]
fn with_subscribe_on_the_source_stays_on_its_worker() {
    let (producer, consumer) = (Worker::new("producer"), Worker::new("consumer"));
    let (sub, handle) = TestSubscriber::<(String, String), Infallible>::new(u64::MAX);
    range(0, 1_000)
        .map(|_| thread_name())
        .subscribe_on(producer)
        .publish_on(consumer, 16)
        .unwrap()
        .map(|up| (up, thread_name()))
        .subscribe(sub);
    assert!(handle.await_terminal(WAIT));
    let items = handle.items();
    assert_eq!(items.len(), 1_000);
    // Replenishing requests are made on "consumer" but hop back to "producer".
    assert!(items
        .iter()
        .all(|(up, down)| up == "producer" && down == "consumer"));
}

#[test]
fn without_subscribe_on_replenishment_runs_the_source_on_the_worker() {
    // Documented behaviour: the first `prefetch` items are emitted by the subscribing
    // thread, the rest inside the replenishing requests, made from the worker.
    let (sub, handle) = TestSubscriber::<String, Infallible>::new(0);
    range(0, 20)
        .map(|_| thread_name())
        .publish_on(Worker::new("consumer"), 4)
        .unwrap()
        .subscribe(sub);
    // The first 4 were emitted inside `subscribe`, on this thread.
    handle.request(u64::MAX);
    assert!(handle.await_terminal(WAIT));
    let items = handle.items();
    let me = thread_name();
    assert!(items[..4].iter().all(|t| *t == me), "{items:?}");
    assert!(items[4..].iter().all(|t| t == "consumer"), "{items:?}");
}

#[test]
fn demand_prefetch_then_replenish_at_75_percent() {
    let vs = VirtualScheduler::new();
    let tp = TestPublisher::<u64, Infallible>::new();
    let (sub, handle) = TestSubscriber::new(0);
    tp.publisher()
        .publish_on(vs.clone(), 8)
        .unwrap()
        .subscribe(sub);
    vs.run_until_idle().unwrap();
    assert_eq!(amounts(&tp), vec![8]);
    send(&tp, 0..8);
    vs.run_until_idle().unwrap();
    handle.assert_items(&[]); // backpressured: nothing without demand, upstream paused
    assert_eq!(tp.outstanding(), 0);

    handle.request(5);
    vs.run_until_idle().unwrap();
    handle.assert_items(&[0, 1, 2, 3, 4]);
    assert_eq!(
        amounts(&tp),
        vec![8],
        "no replenish before 6 (75 %) were delivered"
    );
    handle.request(1);
    vs.run_until_idle().unwrap();
    assert_eq!(
        amounts(&tp),
        vec![8, 6],
        "replenish prefetch - prefetch/4 = 6"
    );

    handle.request(100);
    vs.run_until_idle().unwrap();
    assert_eq!(handle.item_count(), 8);
    send(&tp, 8..14);
    vs.run_until_idle().unwrap();
    assert_eq!(handle.items(), (0..14).collect::<Vec<_>>());
    assert_eq!(amounts(&tp), vec![8, 6, 6]);
    assert_eq!(tp.total_requested(), 20);
    tp.complete();
    vs.run_until_idle().unwrap();
    handle.assert_complete();
    handle.assert_no_protocol_violations();
}

#[test]
fn small_prefetches_replenish_by_at_least_one() {
    for (prefetch, limit) in [(1, 1), (2, 2), (3, 3), (4, 3), (256, 192)] {
        let vs = VirtualScheduler::new();
        let tp = TestPublisher::<u64, Infallible>::new();
        let (sub, handle) = TestSubscriber::new(u64::MAX);
        tp.publisher()
            .publish_on(vs.clone(), prefetch)
            .unwrap()
            .subscribe(sub);
        vs.run_until_idle().unwrap();
        send(&tp, 0..prefetch as u64);
        vs.run_until_idle().unwrap();
        assert_eq!(handle.item_count(), prefetch as u64);
        assert_eq!(
            amounts(&tp),
            vec![prefetch as u64, limit],
            "prefetch {prefetch}"
        );
    }
}

#[test]
fn nothing_is_delivered_before_the_scheduler_runs() {
    let vs = VirtualScheduler::new();
    let (sub, handle) = TestSubscriber::<u64, Infallible>::new(u64::MAX);
    range(0, 3)
        .publish_on(vs.clone(), 4)
        .unwrap()
        .subscribe(sub);
    handle.assert_subscribed();
    handle.assert_items(&[]);
    vs.run_until_idle().unwrap();
    handle.assert_items(&[0, 1, 2]);
    handle.assert_complete();
}

#[test]
fn error_is_delivered_after_the_queued_items() {
    let vs = VirtualScheduler::new();
    let tp = TestPublisher::<u64, &str>::new();
    let (sub, handle) = TestSubscriber::new(0);
    tp.publisher()
        .publish_on(vs.clone(), 4)
        .unwrap()
        .subscribe(sub);
    tp.next(1).next(2).error("boom");
    vs.run_until_idle().unwrap();
    handle.assert_not_terminated(); // waits behind the items: delay-error
    handle.request(1);
    vs.run_until_idle().unwrap();
    handle.assert_items(&[1]);
    handle.assert_not_terminated();
    handle.request(1);
    vs.run_until_idle().unwrap();
    handle.assert_items(&[1, 2]);
    assert_eq!(handle.error(), Some(Error::User("boom")));
}

#[test]
fn completion_of_an_empty_queue_needs_no_demand() {
    let vs = VirtualScheduler::new();
    let tp = TestPublisher::<u64, Infallible>::new();
    let (sub, handle) = TestSubscriber::new(0);
    tp.publisher()
        .publish_on(vs.clone(), 4)
        .unwrap()
        .subscribe(sub);
    tp.complete();
    vs.run_until_idle().unwrap();
    handle.assert_complete();
}

#[test]
fn cancel_reaches_upstream_and_releases_the_queue() {
    let vs = VirtualScheduler::new();
    let tp = TestPublisher::<Arc<u64>, Infallible>::new();
    let (sub, handle) = TestSubscriber::new(1);
    tp.publisher()
        .publish_on(vs.clone(), 4)
        .unwrap()
        .subscribe(sub);
    let probe = Arc::new(7);
    tp.next(Arc::new(1)).next(probe.clone()).next(Arc::new(3));
    vs.run_until_idle().unwrap();
    assert_eq!(handle.item_count(), 1);
    handle.cancel();
    tp.assert_cancelled();
    assert_eq!(
        Arc::strong_count(&probe),
        1,
        "queued items released on cancel"
    );
    vs.run_until_idle().unwrap();
    assert_eq!(handle.item_count(), 1);
    handle.assert_not_terminated();
}

#[test]
fn cancel_mid_stream_on_a_worker() {
    let (sub, handle) = TestSubscriber::<u64, Infallible>::new(u64::MAX);
    let cancelled = Arc::new(AtomicBool::new(false));
    let c = cancelled.clone();
    range(0, u64::MAX)
        .do_on_cancel(move || c.store(true, Ordering::SeqCst))
        .subscribe_on(Worker::new("producer"))
        .publish_on(Worker::new("consumer"), 32)
        .unwrap()
        .subscribe(sub);
    assert!(handle.wait_until(WAIT, |events| events.len() > 1_000));
    handle.cancel();
    // The drain cancels upstream (it is the one that requests from it, rule 2.7), at its
    // next turn: after the item in progress.
    let deadline = Instant::now() + WAIT;
    while !cancelled.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "cancel never reached the source");
        thread::yield_now();
    }
    let n = handle.item_count();
    assert!(!handle.await_terminal(Duration::from_millis(20)));
    assert!(
        handle.item_count() <= n + 1,
        "at most the one in-flight item after cancel"
    );
}

#[test]
fn request_zero_fails_and_cancels_upstream() {
    let vs = VirtualScheduler::new();
    let tp = TestPublisher::<u64, Infallible>::new();
    let (sub, handle) = TestSubscriber::new(0);
    tp.publisher()
        .publish_on(vs.clone(), 4)
        .unwrap()
        .subscribe(sub);
    handle.request(0);
    vs.run_until_idle().unwrap();
    handle.assert_error_matches(|e| {
        matches!(
            e,
            Error::InvalidRequest {
                stage: "publish_on"
            }
        )
    });
    tp.assert_cancelled();
}

#[test]
fn non_compliant_upstream_overflows_after_the_queued_items() {
    let vs = VirtualScheduler::new();
    let tp = TestPublisher::<u64, Infallible>::non_compliant(&[Violation::EmitWithoutDemand]);
    let (sub, handle) = TestSubscriber::new(0);
    tp.publisher()
        .publish_on(vs.clone(), 2)
        .unwrap()
        .subscribe(sub);
    tp.next(1).next(2).next(3);
    // The drain cancels upstream at its next pass, before anything is requested.
    vs.run_until_idle().unwrap();
    tp.assert_cancelled();
    handle.request(10);
    vs.run_until_idle().unwrap();
    handle.assert_items(&[1, 2]);
    handle.assert_error_matches(|e| {
        matches!(
            e,
            Error::Overflow {
                stage: "publish_on",
                capacity: 2
            }
        )
    });
}

#[test]
fn late_signals_after_terminal_are_dropped() {
    let vs = VirtualScheduler::new();
    let tp = TestPublisher::<u64, Infallible>::non_compliant(&[
        Violation::EmitAfterTerminate,
        Violation::TerminateTwice,
    ]);
    let (sub, handle) = TestSubscriber::new(u64::MAX);
    tp.publisher()
        .publish_on(vs.clone(), 4)
        .unwrap()
        .subscribe(sub);
    tp.next(1).complete().next(2).complete();
    vs.run_until_idle().unwrap();
    handle.assert_items(&[1]);
    handle.assert_complete();
    handle.assert_no_protocol_violations();
}

/// A subscriber that panics on its second item.
struct Panicky(Option<SharedSubscription>);
impl Subscriber for Panicky {
    type Item = u64;
    type Error = Infallible;
    fn on_subscribe(&mut self, s: SharedSubscription) {
        s.request(u64::MAX);
        self.0 = Some(s);
    }
    fn on_next(&mut self, item: u64) {
        assert!(item < 1, "subscriber bug");
    }
    fn on_error(&mut self, _: Error<Infallible>) {}
    fn on_complete(&mut self) {}
}

#[test]
fn a_panicking_subscriber_cancels_upstream_and_the_worker_survives() {
    let worker = Worker::new("consumer");
    let tp = TestPublisher::<u64, Infallible>::new();
    tp.publisher()
        .publish_on(worker.clone(), 4)
        .unwrap()
        .subscribe(Panicky(None));
    tp.next(0).next(1);
    let (tx, rx) = mpsc::channel();
    let deadline = Instant::now() + WAIT;
    while !tp.is_cancelled() && Instant::now() < deadline {
        thread::yield_now();
    }
    tp.assert_cancelled();
    // The worker still runs tasks.
    worker.run_after(Duration::ZERO, move || tx.send(()).unwrap());
    rx.recv_timeout(WAIT).unwrap();
}

#[test]
fn conformance_on_a_worker() {
    let worker = Worker::new("tck");
    let w = worker.clone();
    fn absurd(e: Infallible) {
        match e {}
    }
    tck::verify_publisher_with(
        publisher_factory(move |n| {
            Either::Left(range(0, n).map_error(absurd))
                .publish_on(worker.clone(), 4)
                .unwrap()
        })
        .failed(move || {
            Either::Right(error::<u64, ()>(()))
                .publish_on(w.clone(), 4)
                .unwrap()
        }),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

#[test]
fn conformance_across_two_workers() {
    let (a, b) = (Worker::new("a"), Worker::new("b"));
    tck::verify_publisher_with(
        publisher_factory(move |n| {
            range(0, n)
                .subscribe_on(a.clone())
                .publish_on(b.clone(), 3)
                .unwrap()
        }),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

/// xorshift: deterministic request sizes without a dependency.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Checks order and completeness on the consumer's thread; counts outstanding demand so
/// the requester thread can top it up.
struct Checker {
    expected: u64,
    consumer: std::thread::ThreadId,
    outstanding: Arc<AtomicU64>,
    subscription: mpsc::Sender<SharedSubscription>,
    done: mpsc::Sender<Result<u64, String>>,
    work: u64,
}

impl Subscriber for Checker {
    type Item = u64;
    type Error = Infallible;
    fn on_subscribe(&mut self, s: SharedSubscription) {
        self.subscription.send(s).unwrap();
    }
    fn on_next(&mut self, item: u64) {
        if item != self.expected || thread::current().id() != self.consumer {
            let _ = self
                .done
                .send(Err(format!("expected {}, got {item}", self.expected)));
        }
        self.expected += 1;
        let before = self.outstanding.fetch_sub(1, Ordering::SeqCst);
        if before == 0 {
            let _ = self.done.send(Err("more items than requested".into()));
        }
        // Slow-ish: a little work per item.
        for i in 0..(item % 16) {
            self.work = self.work.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(self.work);
    }
    fn on_error(&mut self, e: Error<Infallible>) {
        let _ = self.done.send(Err(format!("error {e:?}")));
    }
    fn on_complete(&mut self) {
        let _ = self.done.send(Ok(self.expected));
    }
}

#[test]
fn stress_a_million_items_between_two_threads() {
    const N: u64 = 1_000_000;
    let (producer, consumer) = (Worker::new("producer"), Worker::new("consumer"));
    let outstanding = Arc::new(AtomicU64::new(0));
    let (sub_tx, sub_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    range(0, N)
        .subscribe_on(producer)
        .publish_on(consumer.clone(), 256)
        .unwrap()
        .subscribe(Checker {
            expected: 0,
            consumer: consumer.thread_id(),
            outstanding: outstanding.clone(),
            subscription: sub_tx,
            done: done_tx,
            work: 1,
        });
    let subscription = sub_rx.recv_timeout(WAIT).unwrap();
    // The requester: tops demand up in random batches, from a third thread.
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let o = outstanding.clone();
    let requester = thread::spawn(move || {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        while !s.load(Ordering::SeqCst) {
            if o.load(Ordering::SeqCst) < 64 {
                let n = next_random(&mut seed) % 700 + 1;
                o.fetch_add(n, Ordering::SeqCst);
                subscription.request(n);
            } else {
                thread::yield_now();
            }
        }
    });
    let outcome = done_rx.recv_timeout(Duration::from_secs(120));
    stop.store(true, Ordering::SeqCst);
    requester.join().unwrap();
    assert_eq!(
        outcome,
        Ok(Ok(N)),
        "all items, in order, exactly once, then complete"
    );
    assert!(done_rx.try_recv().is_err(), "no signal after completion");
}

#[test]
fn stress_reentrant_random_requests() {
    // The consumer requests its next random batch from inside on_next (re-entrant).
    const N: u64 = 200_000;
    struct Reentrant {
        s: Option<SharedSubscription>,
        left: u64,
        seed: u64,
        next: u64,
        done: mpsc::Sender<Result<u64, u64>>,
    }
    impl Subscriber for Reentrant {
        type Item = u64;
        type Error = Infallible;
        fn on_subscribe(&mut self, s: SharedSubscription) {
            s.request(1);
            self.left = 1;
            self.s = Some(s);
        }
        fn on_next(&mut self, item: u64) {
            if item != self.next || self.left == 0 {
                let _ = self.done.send(Err(item));
            }
            self.next += 1;
            self.left -= 1;
            if self.left == 0 {
                let n = next_random(&mut self.seed) % 300 + 1;
                self.left = n;
                self.s.as_ref().unwrap().request(n);
            }
        }
        fn on_error(&mut self, _: Error<Infallible>) {
            let _ = self.done.send(Err(u64::MAX));
        }
        fn on_complete(&mut self) {
            let _ = self.done.send(Ok(self.next));
        }
    }
    let (tx, rx) = mpsc::channel();
    range(0, N)
        .subscribe_on(Worker::new("producer"))
        .publish_on(Worker::new("consumer"), 64)
        .unwrap()
        .subscribe(Reentrant {
            s: None,
            left: 0,
            seed: 12345,
            next: 0,
            done: tx,
        });
    assert_eq!(rx.recv_timeout(Duration::from_secs(60)), Ok(Ok(N)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Reference model: after each request, exactly min(total requested, n) items have
    /// been delivered, in order; completion once all n are delivered.
    #[test]
    fn delivers_exactly_what_was_requested(
        n in 0u64..60,
        prefetch in 1usize..12,
        requests in proptest::collection::vec(1u64..10, 0..20),
    ) {
        let vs = VirtualScheduler::new();
        let (sub, handle) = TestSubscriber::<u64, Infallible>::new(0);
        range(0, n).publish_on(vs.clone(), prefetch).unwrap().subscribe(sub);
        vs.run_until_idle().unwrap();
        let mut total = 0u64;
        for r in requests {
            handle.request(r);
            total += r;
            vs.run_until_idle().unwrap();
            let expected: Vec<u64> = (0..total.min(n)).collect();
            prop_assert_eq!(handle.items(), expected);
            prop_assert_eq!(handle.is_complete(), total >= n);
        }
        if n == 0 {
            prop_assert!(handle.is_complete());
        }
        handle.assert_no_protocol_violations();
    }
}
