//! `retry`: demand carried over, checklist, reference model, conformance.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::Either;
use spillway_testkit::tck::TckConfig;
use spillway_testkit::{tck, PublisherProbe, TestPublisher, TestSubscriber};

/// A cloneable source that fails after `fail_after[k]` items on its k-th subscription
/// (and completes after `len` items once the list is used up).
fn flaky(
    len: u64,
    fail_after: Vec<u64>,
) -> impl Publisher<Item = u64, Error = &'static str> + Clone {
    let attempt = Arc::new(AtomicU64::new(0));
    defer(move || {
        let k = attempt.fetch_add(1, Ordering::SeqCst) as usize;
        let fail = fail_after.get(k).copied();
        from_try_stream(futures::stream::iter((0..len).map(move |i| {
            if Some(i) == fail {
                Err("flaky")
            } else {
                Ok(i)
            }
        })))
    })
}

/// Demand carried over: 5 requested, 2 delivered before the failure, so the second
/// subscription is asked for exactly the 3 still outstanding.
#[test]
fn demand_carries_over_no_item_requested_twice() {
    let probes = Arc::new(Mutex::new(Vec::new()));
    let p2 = probes.clone();
    let attempt = Arc::new(AtomicU64::new(0));
    let source = defer(move || {
        let k = attempt.fetch_add(1, Ordering::SeqCst);
        let items = (0..10u64).map(move |i| if k == 0 && i == 2 { Err(()) } else { Ok(i) });
        let (probed, probe) = PublisherProbe::wrap(from_try_stream(futures::stream::iter(items)));
        p2.lock().unwrap().push(probe);
        probed
    });
    let (sub, h) = TestSubscriber::new(5);
    source.retry(1).subscribe(sub);
    h.assert_items(&[0, 1, 0, 1, 2]);
    let probes = probes.lock().unwrap();
    assert_eq!(probes.len(), 2);
    assert_eq!(probes[0].total_requested(), 5);
    assert_eq!(probes[1].total_requested(), 3);
    h.request(5);
    assert_eq!(probes[1].total_requested(), 8);
    h.assert_items(&[0, 1, 0, 1, 2, 3, 4, 5, 6, 7]);
}

#[test]
fn backpressured_and_incremental() {
    let (sub, h) = TestSubscriber::new(0);
    flaky(4, vec![2]).retry(1).subscribe(sub);
    h.assert_items(&[]);
    for k in 1..=6 {
        h.request(1);
        assert_eq!(h.item_count(), k);
    }
    h.request(1);
    h.assert_items(&[0, 1, 0, 1, 2, 3]);
    h.assert_complete();
}

#[test]
fn unbounded_and_many_synchronous_retries_do_not_grow_the_stack() {
    let (sub, h) = TestSubscriber::<u8, &str>::new(u64::MAX);
    error("always").retry(100_000).subscribe(sub);
    h.assert_error_matches(|e| *e == Error::User("always"));
}

/// The first subscription fails; cancel reaches the second. (The resubscription runs
/// inside the failing upstream's `on_error`, so the failing one is a core source here:
/// `TestPublisher` holds its subscriber while signalling and cannot be resubscribed from
/// inside its own `error`.)
#[test]
fn cancel_reaches_the_current_upstream() {
    let tp = TestPublisher::<u32, ()>::new();
    let second = tp.publisher();
    let first = Arc::new(AtomicU64::new(0));
    let source = defer(move || {
        if first.fetch_add(1, Ordering::SeqCst) == 0 {
            Either::Left(error(()))
        } else {
            Either::Right(second.clone())
        }
    });
    let (sub, h) = TestSubscriber::new(5);
    source.retry(3).subscribe(sub);
    assert_eq!(tp.outstanding(), 5);
    tp.next(1);
    h.cancel();
    tp.assert_cancelled();
    h.assert_items(&[1]);
}

#[test]
fn invalid_request_is_not_retried() {
    let (sub, h) = TestSubscriber::<u64, std::convert::Infallible>::new(0);
    range(0, 5).retry(3).subscribe(sub);
    h.request(0);
    h.assert_error_matches(|e| matches!(e, Error::InvalidRequest { .. }));
}

#[test]
fn completion_and_late_signals() {
    let tp = TestPublisher::<u32, ()>::new();
    let (sub, h) = TestSubscriber::new(5);
    tp.publisher().retry(3).subscribe(sub);
    tp.next(1).complete();
    h.assert_complete();
    assert_eq!(tp.subscription_count(), 1);
    h.assert_no_protocol_violations();
}

#[test]
fn conformance() {
    tck::verify_publisher_with(
        tck::publisher_factory(|n| {
            // The first subscription fails at once, the second emits the n items.
            flaky(n, vec![0]).retry(1)
        })
        .max_elements(1_000),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Random failure points and request schedules: retry(n) delivers exactly the
    /// reference sequence (each failed attempt's prefix, then the full run or the last
    /// error), never more than requested.
    #[test]
    fn reference_model(
        len in 1u64..8,
        fails in proptest::collection::vec(0u64..8, 0..5),
        times in 0u64..5,
        requests in proptest::collection::vec(1u64..4, 1..40),
    ) {
        let fails: Vec<u64> = fails.into_iter().map(|f| f % len).collect();
        // The model.
        let mut expected = Vec::new();
        let mut outcome = Ok(());
        for attempt in 0.. {
            match fails.get(attempt) {
                Some(&f) => {
                    expected.extend(0..f);
                    if attempt as u64 >= times { outcome = Err(()); break; }
                }
                None => { expected.extend(0..len); break; }
            }
        }
        let (sub, h) = TestSubscriber::new(0);
        flaky(len, fails).retry(times).subscribe(sub);
        let mut requested = 0;
        for r in requests {
            requested += r;
            h.request(r);
            prop_assert!(h.item_count() <= requested);
            prop_assert_eq!(h.item_count(), requested.min(expected.len() as u64));
        }
        h.request(u64::MAX);
        prop_assert_eq!(h.items(), expected);
        match outcome {
            Ok(()) => prop_assert!(h.is_complete()),
            Err(()) => prop_assert_eq!(h.error(), Some(Error::User("flaky"))),
        }
        h.assert_no_protocol_violations();
    }
}

/// A `TestPublisher` under `retry`: the resubscription comes from inside the publisher's
/// own `error()` call, on its thread. It is a new subscription, started when that call
/// returns (it used to deadlock on the subscriber slot the call held), with the demand
/// carried over; a second failure past the retries reaches the subscriber.
#[test]
fn a_test_publisher_is_resubscribed_from_inside_its_own_error() {
    let tp = TestPublisher::<u64, &'static str>::new();
    let (sub, handle) = TestSubscriber::new(10);
    tp.publisher().retry(1).subscribe(sub);
    tp.next(1).error("first");
    assert_eq!(tp.subscription_count(), 2);
    assert_eq!(tp.outstanding(), 9); // the demand not yet met, carried over
    tp.next(2).error("second");
    handle.assert_items(&[1, 2]);
    handle.assert_error_matches(|e| *e == Error::User("second"));
    assert_eq!(tp.subscription_count(), 2);
}

/// A subscriber that subscribes again while its subscription is still live is refused
/// (one subscriber at a time), without a deadlock.
#[test]
fn a_test_publisher_refuses_a_second_subscriber_from_inside_a_signal() {
    let tp = TestPublisher::<u64, ()>::new();
    let again = tp.publisher();
    let (second, second_handle) = TestSubscriber::new(1);
    let second = Mutex::new(Some(second));
    let (sub, handle) = TestSubscriber::new(5);
    tp.publisher()
        .do_on_next(move |_| {
            if let Some(s) = second.lock().unwrap().take() {
                again.clone().subscribe(s);
            }
        })
        .subscribe(sub);
    tp.next(7);
    second_handle.assert_error_matches(|e| matches!(e, Error::Rejected { .. }));
    tp.next(8).complete();
    handle.assert_items(&[7, 8]);
    handle.assert_complete();
}

/// Every operator that subscribes again from inside a terminal signal (the retries, a
/// fallback, a concatenation), over one `TestPublisher` whose second subscription starts
/// inside its own `error()`/`complete()` call: none hangs, and each delivers both
/// subscriptions' items.
#[test]
fn every_resubscribing_operator_over_one_test_publisher() {
    type Tp = TestPublisher<u64, &'static str>;
    type Case = (
        &'static str,
        fn(&Tp) -> spillway::BoxPublisher<u64, &'static str>,
    );
    let cases: [Case; 4] = [
        ("retry", |tp| tp.publisher().retry(1).boxed()),
        ("retry_when", |tp| {
            let mut left = 1;
            tp.publisher()
                .retry_when(move |_| {
                    left -= 1;
                    left >= 0
                })
                .boxed()
        }),
        ("on_error_resume", |tp| {
            let again = tp.publisher();
            tp.publisher().on_error_resume(move |_| again).boxed()
        }),
        ("concat_with", |tp| {
            tp.publisher().concat_with(tp.publisher()).boxed()
        }),
    ];
    for (name, build) in cases {
        let tp = Tp::new();
        let (sub, handle) = TestSubscriber::new(10);
        build(&tp).subscribe(sub);
        tp.next(1);
        if name == "concat_with" {
            tp.complete();
        } else {
            tp.error("first");
        }
        assert_eq!(tp.subscription_count(), 2, "{name}");
        tp.next(2).complete();
        handle.assert_items(&[1, 2]);
        handle.assert_complete();
    }
}
