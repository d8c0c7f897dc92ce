//! `map_async`, `map_async_unordered`, `then`, `try_map_async`: the seed's Example 2
//! (fast producer, variable-time async transform, slow consumer) on tokio's paused clock,
//! futures completed out of order by hand, the checklist, a reference model, conformance.
//!
//! The `tokio::time::sleep` calls below never wait: every test using them runs with
//! `start_paused = true`, tokio's virtual clock, on purpose: they check that tokio timers
//! work inside async stages (which poll their futures without an executor of their own).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::oneshot;
use proptest::prelude::*;
use spillway::operators::Budget;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::TckConfig;
use spillway_testkit::{
    tck, PublisherProbe, TestPublisher, TestSubscriber, TestSubscriberHandle, Violation,
    VirtualScheduler,
};

/// Deterministic pseudo-random processing time in 100..=300 ms for item `i` (xorshift).
fn processing_time(i: u64) -> Duration {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    Duration::from_millis(100 + x % 201)
}

const N: u64 = 40;
const CONCURRENCY: usize = 4;

/// Seed Example 2: a fast producer, a transform whose processing time varies (100-300 ms
/// on the paused clock), a slow consumer (200 ms per item, one at a time). Every item
/// arrives in order, completion is reported, and the producer is never asked for more
/// than `concurrency + queue` items beyond what the consumer has taken.
#[tokio::test(start_paused = true)]
async fn seed_example_2_fast_producer_variable_transform_slow_consumer() {
    let (producer, probe) = PublisherProbe::wrap(range(0, N));
    let probe = Arc::new(probe);
    let started = tokio::time::Instant::now();
    let pipeline = producer
        .map_async(CONCURRENCY, |x| async move {
            tokio::time::sleep(processing_time(x)).await;
            x * 2
        })
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let max_ahead = Arc::new(AtomicU64::new(0));
    let (seen2, probe2, ahead2) = (seen.clone(), probe.clone(), max_ahead.clone());
    let outcome = pipeline
        .for_each_async(1, move |x| {
            let mut seen = seen2.lock().unwrap();
            seen.push(x);
            // Emitted so far = items consumed (the one in hand included).
            let emitted = seen.len() as u64;
            ahead2.fetch_max(probe2.total_requested() - emitted, Ordering::SeqCst);
            async move { tokio::time::sleep(Duration::from_millis(200)).await }
        })
        .await;
    assert_eq!(outcome, Ok(()), "completion reported");
    let expected: Vec<u64> = (0..N).map(|x| x * 2).collect();
    assert_eq!(*seen.lock().unwrap(), expected, "every item, in order");
    let bound = (CONCURRENCY * 2) as u64; // concurrency + default queue
    assert!(
        max_ahead.load(Ordering::SeqCst) <= bound,
        "producer asked for {} items ahead of the consumer, bound {bound}",
        max_ahead.load(Ordering::SeqCst)
    );
    assert!(probe.total_requested() <= N + bound);
    // The consumer is the bottleneck (200 ms/item); the transform runs in parallel with it.
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(200 * N), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_millis(200 * N + 1_000),
        "{elapsed:?}"
    );
}

/// The same pipeline with a failure injected in the transform at item 7: the consumer
/// sees items 0..7 in order, then the error naming the stage; the producer is cancelled.
#[tokio::test(start_paused = true)]
async fn seed_example_2_error_in_transform_reports_its_stage() {
    let (producer, probe) = PublisherProbe::wrap(range(0, N));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let outcome = producer
        .map_async(CONCURRENCY, |x| async move {
            tokio::time::sleep(processing_time(x)).await;
            assert!(x != 7, "transform failed on item {x}");
            x
        })
        .unwrap()
        .for_each_async(1, move |x| {
            seen2.lock().unwrap().push(x);
            async { tokio::time::sleep(Duration::from_millis(200)).await }
        })
        .await;
    match outcome {
        Err(Error::Panicked { stage, message }) => {
            assert_eq!(stage, "map_async");
            assert!(message.contains("item 7"), "{message}");
        }
        other => panic!("expected Panicked from map_async, got {other:?}"),
    }
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.len() <= 7 && seen == (0..seen.len() as u64).collect::<Vec<_>>(),
        "{seen:?}"
    );
    assert!(probe.was_cancelled(), "the producer was cancelled");
}

/// A recording pipeline whose futures the test completes by hand, in any order.
///
/// A finished future's wake-up only schedules the stage's next pass (a waker never runs
/// pipeline code); the subscriber's virtual scheduler is the executor that runs it, when
/// `finish` calls `run_due`, so every step stays on the test's thread and deterministic.
struct Manual {
    tp: TestPublisher<u32, ()>,
    senders: Arc<Mutex<Vec<Option<oneshot::Sender<u32>>>>>,
    vs: Arc<VirtualScheduler>,
}

impl Manual {
    fn new() -> Manual {
        Manual::with_publisher(TestPublisher::new())
    }

    fn with_publisher(tp: TestPublisher<u32, ()>) -> Manual {
        Manual {
            tp,
            senders: Arc::new(Mutex::new(Vec::new())),
            vs: VirtualScheduler::new(),
        }
    }

    /// A test subscriber whose context schedules the stage's passes on `vs`.
    fn subscriber(&self, initial: u64) -> (TestSubscriber<u32, ()>, TestSubscriberHandle<u32, ()>) {
        TestSubscriber::with_scheduler(initial, self.vs.clone())
    }

    /// `f`: item i -> a future finished by `finish(i)` with the value `i * 10`.
    fn f(&self) -> impl FnMut(u32) -> futures::future::BoxFuture<'static, u32> + Send + 'static {
        let senders = self.senders.clone();
        move |i| {
            let (tx, rx) = oneshot::channel();
            let mut s = senders.lock().unwrap();
            if s.len() <= i as usize {
                s.resize_with(i as usize + 1, || None);
            }
            s[i as usize] = Some(tx);
            Box::pin(async move { rx.await.unwrap_or(u32::MAX) })
        }
    }

    /// Finishes future `i`, then runs the pass its wake-up scheduled.
    fn finish(&self, i: u32) {
        let tx = self.senders.lock().unwrap()[i as usize]
            .take()
            .expect("started");
        let _ = tx.send(i * 10);
        self.vs.run_due();
    }

    /// Finishes future `i` without running the scheduled pass.
    fn finish_unrun(&self, i: u32) {
        let tx = self.senders.lock().unwrap()[i as usize]
            .take()
            .expect("started");
        let _ = tx.send(i * 10);
    }

    /// Sends the items without completing (unlike `TestPublisher::emit`).
    fn send(&self, items: impl IntoIterator<Item = u32>) {
        for x in items {
            self.tp.next(x);
        }
    }

    fn started(&self) -> usize {
        self.senders.lock().unwrap().len()
    }

    fn dropped(&self, i: u32) -> bool {
        self.senders.lock().unwrap()[i as usize]
            .as_ref()
            .is_some_and(|tx| tx.is_canceled())
    }
}

#[test]
fn normal_out_of_order_completion_keeps_input_order() {
    let m = Manual::new();
    let (sub, h) = m.subscriber(u64::MAX);
    m.tp.publisher().map_async(3, m.f()).unwrap().subscribe(sub);
    assert_eq!(m.tp.total_requested(), 3);
    m.send([0, 1, 2]);
    m.finish(2);
    m.finish(1);
    h.assert_items(&[]); // 0 is still running: 1 and 2 wait behind it
                         // Two futures finished: their concurrency slots are free, the results use queue room.
    assert_eq!(m.tp.total_requested(), 5);
    m.finish(0);
    h.assert_items(&[0, 10, 20]);
    assert_eq!(m.tp.total_requested(), 6);
    h.assert_not_terminated();
    m.tp.complete();
    h.assert_complete();
}

#[test]
fn unordered_emits_in_completion_order() {
    let m = Manual::new();
    let (sub, h) = m.subscriber(u64::MAX);
    m.tp.publisher()
        .map_async_unordered(3, m.f())
        .unwrap()
        .subscribe(sub);
    m.send([0, 1, 2]);
    m.finish(2);
    h.assert_items(&[20]);
    m.finish(0);
    m.finish(1);
    h.assert_items(&[20, 0, 10]);
    m.tp.complete();
    h.assert_complete();
}

#[test]
fn completion_waits_for_running_futures() {
    let m = Manual::new();
    let (sub, h) = m.subscriber(u64::MAX);
    m.tp.publisher().map_async(2, m.f()).unwrap().subscribe(sub);
    m.send([0, 1]);
    m.tp.complete();
    h.assert_not_terminated();
    m.finish(1);
    m.finish(0);
    h.assert_items(&[0, 10]);
    h.assert_complete();
}

/// Starts at request(0): futures run and finish, results wait (bounded), upstream is
/// asked for no more than concurrency + queue; each request releases one result and
/// one more upstream request.
#[test]
fn backpressured_results_wait_and_the_full_queue_stops_requests() {
    let m = Manual::new();
    let (sub, h) = m.subscriber(0);
    m.tp.publisher()
        .map_async(2, m.f())
        .unwrap()
        .max_queued(1)
        .subscribe(sub);
    assert_eq!(m.tp.total_requested(), 2);
    m.send([0, 1]);
    m.finish(0);
    m.finish(1);
    // Two results waiting, queue of 1: one slot used by a waiting result.
    h.assert_items(&[]);
    assert_eq!(m.tp.total_requested(), 3, "concurrency 2 + queue 1");
    m.tp.next(2);
    m.finish(2);
    assert_eq!(m.tp.total_requested(), 3, "a full queue stops requests");
    h.request(1);
    h.assert_items(&[0]);
    assert_eq!(m.tp.total_requested(), 4, "one emitted, one more requested");
    h.request(5);
    h.assert_items(&[0, 10, 20]);
    assert_eq!(
        m.tp.total_requested(),
        5,
        "two running or requested, none waiting"
    );
}

#[test]
fn incremental_request() {
    let (sub, h) = TestSubscriber::new(0);
    range(0, 10)
        .map_async(3, |x| async move { x + 1 })
        .unwrap()
        .subscribe(sub);
    for k in 1..=10u64 {
        h.request(1);
        assert_eq!(h.item_count(), k);
    }
    h.request(1);
    h.assert_items(&(1..=10).collect::<Vec<_>>());
    h.assert_complete();
}

#[test]
fn unbounded() {
    let (sub, h) = TestSubscriber::new(u64::MAX);
    range(0, 1000)
        .map_async(8, |x| async move { x })
        .unwrap()
        .subscribe(sub);
    h.assert_items(&(0..1000).collect::<Vec<_>>());
    h.assert_complete();
}

#[test]
fn cancel_mid_stream_reaches_upstream_and_drops_running_futures() {
    let m = Manual::new();
    let (sub, h) = m.subscriber(u64::MAX);
    m.tp.publisher().map_async(2, m.f()).unwrap().subscribe(sub);
    m.send([0, 1]);
    m.finish(0);
    h.assert_items(&[0]);
    h.cancel();
    m.tp.assert_cancelled();
    assert!(m.dropped(1), "the running future was dropped");
}

#[test]
fn upstream_error_waits_for_running_futures_and_delivers_their_results_first() {
    let m = Manual::new();
    let (sub, h) = m.subscriber(u64::MAX);
    m.tp.publisher().map_async(2, m.f()).unwrap().subscribe(sub);
    m.send([0, 1]);
    m.tp.error(());
    h.assert_not_terminated(); // two futures still running
    assert!(!m.dropped(0) && !m.dropped(1), "in-flight work is kept");
    m.finish(1);
    h.assert_items(&[]); // ordered: 1 waits behind 0
    m.finish(0);
    h.assert_items(&[0, 10]);
    h.assert_error_matches(|e| matches!(e, Error::User(())));
}

#[test]
fn upstream_error_after_in_flight_results_waits_for_demand() {
    let m = Manual::new();
    let (sub, h) = m.subscriber(0);
    m.tp.publisher()
        .map_async_unordered(2, m.f())
        .unwrap()
        .subscribe(sub);
    m.send([0, 1]);
    m.tp.error(());
    m.finish(0);
    m.finish(1);
    h.assert_items(&[]);
    h.assert_not_terminated(); // results wait for demand, the error behind them
    h.request(1);
    h.assert_items(&[0]);
    h.assert_not_terminated();
    h.request(1);
    h.assert_items(&[0, 10]);
    h.assert_error_matches(|e| matches!(e, Error::User(())));
}

#[test]
fn abort_on_error_delivers_the_error_at_once_dropping_running_futures() {
    let m = Manual::new();
    let (sub, h) = m.subscriber(u64::MAX);
    m.tp.publisher()
        .map_async(2, m.f())
        .unwrap()
        .abort_on_error()
        .subscribe(sub);
    m.send([0, 1]);
    m.tp.error(());
    h.assert_error_matches(|e| matches!(e, Error::User(())));
    assert!(m.dropped(0) && m.dropped(1));
}

/// One item in flight when upstream fails: it finishes and goes out before the error,
/// or, when aborting, is dropped and only the error goes out.
fn check_in_flight_on_error(abort: bool, subscribe: impl FnOnce(&Manual, TestSubscriber<u32, ()>)) {
    let m = Manual::new();
    let (sub, h) = m.subscriber(u64::MAX);
    subscribe(&m, sub);
    m.send([0]);
    m.tp.error(());
    if abort {
        h.assert_items(&[]);
        assert!(m.dropped(0), "aborting drops the running future");
    } else {
        h.assert_not_terminated();
        m.finish(0);
        h.assert_items(&[0]);
    }
    h.assert_error_matches(|e| matches!(e, Error::User(())));
}

#[test]
fn every_async_stage_finishes_in_flight_work_on_upstream_error_unless_aborting() {
    for abort in [false, true] {
        check_in_flight_on_error(abort, |m, sub| {
            let p = m.tp.publisher().map_async(2, m.f()).unwrap();
            if abort {
                p.abort_on_error().subscribe(sub)
            } else {
                p.subscribe(sub)
            }
        });
        check_in_flight_on_error(abort, |m, sub| {
            let p = m.tp.publisher().map_async_unordered(2, m.f()).unwrap();
            if abort {
                p.abort_on_error().subscribe(sub)
            } else {
                p.subscribe(sub)
            }
        });
        check_in_flight_on_error(abort, |m, sub| {
            let p = m.tp.publisher().then(m.f());
            if abort {
                p.abort_on_error().subscribe(sub)
            } else {
                p.subscribe(sub)
            }
        });
        check_in_flight_on_error(abort, |m, sub| {
            let mut f = m.f();
            let p =
                m.tp.publisher()
                    .try_map_async(2, move |x| {
                        let fut = f(x);
                        async move { Ok::<_, ()>(fut.await) }
                    })
                    .unwrap();
            if abort {
                p.abort_on_error().subscribe(sub)
            } else {
                p.subscribe(sub)
            }
        });
    }
}

#[test]
fn panic_in_f_fails_with_the_stage_and_drops_late_signals() {
    let tp = TestPublisher::<u32, ()>::new();
    let (sub, h) = TestSubscriber::new(u64::MAX);
    tp.publisher()
        .map_async(2, |x| {
            assert!(x != 1, "f broke");
            async move { x }
        })
        .unwrap()
        .subscribe(sub);
    tp.next(0).next(1);
    h.assert_error_matches(|e| {
        matches!(
            e,
            Error::Panicked {
                stage: "map_async",
                ..
            }
        )
    });
    tp.assert_cancelled();
    let events = h.event_count();
    tp.complete(); // late: ignored
    assert_eq!(h.event_count(), events);
    h.assert_no_protocol_violations();
}

#[test]
fn panic_in_future_fails_with_the_stage() {
    let (sub, h) = TestSubscriber::new(u64::MAX);
    range(0, 10)
        .map_async_unordered(2, |x| async move {
            assert!(x != 3, "future broke");
            x
        })
        .unwrap()
        .subscribe(sub);
    h.assert_items(&[0, 1, 2]);
    h.assert_error_matches(|e| {
        matches!(e, Error::Panicked { stage: "map_async_unordered", message } if message == "future broke")
    });
}

#[test]
fn non_compliant_upstream_is_a_protocol_violation() {
    let m = Manual::with_publisher(TestPublisher::non_compliant(&[
        Violation::EmitWithoutDemand,
    ]));
    let tp = &m.tp;
    let (sub, h) = m.subscriber(u64::MAX);
    tp.publisher()
        .map_async(1, m.f())
        .unwrap()
        .max_queued(0)
        .subscribe(sub);
    tp.next(0).next(1); // requested 1: the second is extra
    h.assert_error_matches(|e| {
        matches!(
            e,
            Error::ProtocolViolation {
                stage: "map_async",
                ..
            }
        )
    });
    tp.assert_cancelled();
}

#[test]
fn request_zero_is_invalid() {
    let (sub, h) = TestSubscriber::new(0);
    range(0, 5)
        .map_async(2, |x| async move { x })
        .unwrap()
        .subscribe(sub);
    h.request(0);
    h.assert_error_matches(|e| matches!(e, Error::InvalidRequest { stage: "map_async" }));
}

#[test]
fn zero_concurrency_is_a_config_error() {
    assert!(range(0, 1).map_async(0, |x| async move { x }).is_err());
    assert!(range(0, 1)
        .map_async_unordered(0, |x| async move { x })
        .is_err());
    assert!(range(0, 1)
        .try_map_async(0, |x| async move { Ok(x) })
        .is_err());
}

#[test]
fn then_runs_one_at_a_time() {
    let m = Manual::new();
    let (sub, h) = m.subscriber(u64::MAX);
    m.tp.publisher().then(m.f()).subscribe(sub);
    assert_eq!(m.tp.total_requested(), 1);
    m.tp.next(0);
    assert_eq!(m.tp.total_requested(), 1);
    m.finish(0);
    h.assert_items(&[0]);
    assert_eq!(m.tp.total_requested(), 2);
}

#[test]
fn try_map_async_err_is_a_user_error() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, h) = TestSubscriber::new(u64::MAX);
    tp.publisher()
        .try_map_async(2, |x| async move {
            if x == 1 {
                Err(format!("bad {x}"))
            } else {
                Ok(x)
            }
        })
        .unwrap()
        .subscribe(sub);
    tp.next(0).next(1);
    h.assert_items(&[0]);
    h.assert_error_matches(|e| e == &Error::User("bad 1".to_string()));
    tp.assert_cancelled();
}

/// With tokio timers, results arrive in input order even when later items are faster.
#[tokio::test(start_paused = true)]
async fn tokio_timers_out_of_order() {
    let out = range(0, 6)
        .map_async(6, |x| async move {
            tokio::time::sleep(Duration::from_millis(60 - 10 * x)).await;
            x
        })
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(out, vec![0, 1, 2, 3, 4, 5]);
}

#[test]
fn conformance() {
    tck::verify_publisher_with(
        tck::publisher_factory(|n| range(0, n).map_async(3, |x| async move { x }).unwrap())
            .max_elements(1_000),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
    tck::verify_publisher_with(
        tck::publisher_factory(|n| {
            range(0, n)
                .map_async_unordered(3, |x| async move { x })
                .unwrap()
        })
        .max_elements(1_000),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

#[derive(Debug, Clone)]
enum Op {
    Request(u64),
    /// Finish the k-th (mod count) running future.
    Finish(usize),
    /// Emit one item if the stage has requested one.
    Emit,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u64..4).prop_map(Op::Request),
        (0usize..8).prop_map(Op::Finish),
        Just(Op::Emit),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Under random completion orders and request schedules: ordered output is exactly the
    /// input, unordered output is the completion order; never more emitted than
    /// requested; upstream never asked for more than concurrency + queue beyond emitted.
    /// The same with permits from a budget (`budget` > 0: its capacity), which only
    /// delays the starts: never more futures running than the capacity, every unit back.
    #[test]
    fn reference_model(ops in proptest::collection::vec(op(), 1..80), concurrency in 1usize..4, queue in 0usize..3, ordered in any::<bool>(), budget in 0u64..4) {
        let m = Manual::new();
        let (sub, h) = m.subscriber(0);
        let f = m.f();
        let permits = (budget > 0).then(|| Budget::new(budget).unwrap());
        if ordered {
            let stage = m.tp.publisher().map_async(concurrency, f).unwrap().max_queued(queue);
            match &permits {
                Some(b) => stage.permits_from(b).subscribe(sub),
                None => stage.subscribe(sub),
            }
        } else {
            let stage = m.tp.publisher().map_async_unordered(concurrency, f).unwrap().max_queued(queue);
            match &permits {
                Some(b) => stage.permits_from(b).subscribe(sub),
                None => stage.subscribe(sub),
            }
        }
        let mut next = 0u32;
        let mut finished_order = Vec::new();
        let mut requested = 0u64;
        let running = |m: &Manual| -> Vec<u32> {
            m.senders.lock().unwrap().iter().enumerate()
                .filter(|(_, s)| s.is_some()).map(|(i, _)| i as u32).collect()
        };
        for op in ops {
            match op {
                Op::Request(n) => { requested += n; h.request(n); }
                Op::Emit => if m.tp.outstanding() > 0 { m.tp.next(next); next += 1; },
                Op::Finish(k) => {
                    let r = running(&m);
                    if !r.is_empty() { let i = r[k % r.len()]; finished_order.push(i * 10); m.finish(i); }
                }
            }
            let items = h.items();
            prop_assert!(items.len() as u64 <= requested);
            prop_assert!(m.tp.total_requested() <= items.len() as u64 + (concurrency + queue) as u64);
            let expected: Vec<u32> = if ordered {
                (0..items.len() as u32).map(|i| i * 10).collect()
            } else {
                finished_order[..items.len()].to_vec()
            };
            prop_assert_eq!(items, expected);
            if permits.is_some() {
                prop_assert!(running(&m).len() as u64 <= budget);
            }
        }
        // Drain: complete, request all, finish everything (with permits, the waiting items
        // start as units come back).
        m.tp.complete();
        h.request(u64::MAX);
        loop {
            let r = running(&m);
            if r.is_empty() { break; }
            for i in r { m.finish(i); }
        }
        prop_assert_eq!(h.item_count(), u64::from(next));
        prop_assert!(h.is_complete());
        prop_assert!(m.started() as u32 == next);
        h.assert_no_protocol_violations();
        if let Some(b) = &permits {
            let s = b.stats();
            prop_assert_eq!((s.in_use, s.active, s.passed), (0, 0, u64::from(next)));
        }
    }
}

#[test]
fn stats_free_stage_counts_nothing_lost() {
    // Not lossy: every item requested upstream comes out (no stats handle to balance).
    let delivered = Arc::new(AtomicUsize::new(0));
    let d = delivered.clone();
    let (sub, h) = TestSubscriber::new(u64::MAX);
    range(0, 50)
        .map_async_unordered(5, move |x| {
            d.fetch_add(1, Ordering::SeqCst);
            async move { x }
        })
        .unwrap()
        .subscribe(sub);
    assert_eq!(delivered.load(Ordering::SeqCst), 50);
    assert_eq!(h.item_count(), 50);
    h.assert_complete();
}

/// The waker of a finished future runs no pipeline code: it schedules one pass on the
/// executor (here the subscriber's virtual scheduler), and the item arrives when that runs.
#[test]
fn a_wake_up_only_schedules_the_next_pass() {
    let m = Manual::new();
    let (sub, h) = m.subscriber(u64::MAX);
    m.tp.publisher().map_async(2, m.f()).unwrap().subscribe(sub);
    m.send([0, 1]);
    m.finish_unrun(0); // wakes the stage on this thread...
    m.finish_unrun(1);
    h.assert_items(&[]); // ...which delivered nothing
    assert_eq!(m.vs.pending(), 1, "two wake-ups, one pass scheduled");
    m.vs.run_due();
    h.assert_items(&[0, 10]);
}
