//! `retry_when`: the predicate decides; panics in it; conformance.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::TckConfig;
use spillway_testkit::{tck, TestSubscriber};

/// Attempt k emits `k + 1`, then fails with `errors[k]`.
fn attempts(
    errors: &'static [&'static str],
) -> impl Publisher<Item = u64, Error = &'static str> + Clone {
    let k = Arc::new(AtomicU64::new(0));
    defer(move || {
        let k = k.fetch_add(1, Ordering::SeqCst);
        let e = errors[k as usize];
        from_try_stream(futures::stream::iter(vec![Ok(k + 1), Err(e)]))
    })
}

#[test]
fn retries_while_the_predicate_accepts() {
    let (sub, h) = TestSubscriber::new(10);
    attempts(&["transient", "transient", "fatal"])
        .retry_when(|e| *e == Error::User("transient"))
        .subscribe(sub);
    h.assert_items(&[1, 2, 3]);
    h.assert_error_matches(|e| *e == Error::User("fatal"));
}

#[test]
fn backpressured_demand_carries_over() {
    let (sub, h) = TestSubscriber::new(0);
    attempts(&["transient", "transient", "fatal"])
        .retry_when(|e| *e == Error::User("transient"))
        .subscribe(sub);
    h.request(1);
    h.assert_items(&[1]);
    h.request(1);
    h.assert_items(&[1, 2]);
    h.assert_not_terminated();
    h.request(1);
    h.assert_items(&[1, 2, 3]);
    h.request(1); // from_try_stream pulls its error only with demand
    h.assert_error_matches(|e| *e == Error::User("fatal"));
}

#[test]
fn panic_in_predicate_fails_with_the_stage() {
    let (sub, h) = TestSubscriber::new(10);
    attempts(&["x"])
        .retry_when(|_| panic!("predicate broke"))
        .subscribe(sub);
    h.assert_error_matches(|e| {
        matches!(
            e,
            Error::Panicked {
                stage: "retry_when",
                ..
            }
        )
    });
}

#[test]
fn cancel_stops_retrying() {
    let (sub, h) = TestSubscriber::<u64, &str>::new(2);
    attempts(&["a", "b", "c", "d"])
        .retry_when(|_| true)
        .subscribe(sub);
    h.assert_items(&[1, 2]);
    h.cancel();
    h.assert_not_terminated();
}

#[test]
fn conformance() {
    tck::verify_publisher_with(
        tck::publisher_factory(|n| range(0, n).retry_when(|_| true)).max_elements(1_000),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}
