//! `delay_subscription`: upstream subscribed exactly after the delay (virtual time),
//! demand kept meanwhile and passed on in one request, cancel before the delay (upstream
//! never subscribed, timer gone), request(0) before and after, errors and completion,
//! conformance, and awaited inside a tokio runtime.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::{self, TckConfig};
use spillway_testkit::{PublisherProbe, TestPublisher, TestSubscriber, VirtualScheduler};

const DELAY: Duration = Duration::from_secs(30);

/// A test publisher behind `delay_subscription(DELAY)` on a virtual clock.
fn rig(
    initial: u64,
) -> (
    Arc<VirtualScheduler>,
    TestPublisher<u32, String>,
    spillway_testkit::TestSubscriberHandle<u32, String>,
) {
    let vs = VirtualScheduler::new();
    let tp = TestPublisher::new();
    let (sub, h) = TestSubscriber::with_scheduler(initial, vs.clone());
    tp.publisher().delay_subscription(DELAY).subscribe(sub);
    (vs, tp, h)
}

#[test]
fn upstream_is_subscribed_exactly_after_the_delay() {
    let (vs, tp, h) = rig(u64::MAX);
    h.assert_subscribed();
    vs.advance_by(DELAY - Duration::from_nanos(1));
    assert_eq!(tp.subscription_count(), 0, "not before the delay");
    vs.advance_by(Duration::from_nanos(1));
    assert_eq!(tp.subscription_count(), 1, "at the delay");
    tp.emit([1, 2]);
    h.assert_items(&[1, 2]);
    h.assert_complete();
}

#[test]
fn demand_made_during_the_delay_is_passed_on_in_one_request_then_one_to_one() {
    let (vs, tp, h) = rig(2);
    h.request(3);
    vs.advance_by(DELAY);
    assert_eq!(
        tp.requests()
            .into_iter()
            .map(|(_, n)| n)
            .collect::<Vec<_>>(),
        vec![5]
    );
    h.request(4);
    assert_eq!(tp.total_requested(), 9);
    tp.next(1).next(2);
    h.assert_items(&[1, 2]);
}

#[test]
fn cancel_before_the_delay_never_subscribes_upstream() {
    let (vs, tp, h) = rig(4);
    vs.advance_by(DELAY / 2);
    h.cancel();
    assert_eq!(vs.pending(), 0, "the timer is cancelled");
    vs.advance_by(DELAY);
    assert_eq!(tp.subscription_count(), 0);
    // The same through a probe on a core source.
    let vs = VirtualScheduler::new();
    let (probed, probe) = PublisherProbe::wrap(range(0, 3));
    let (sub, h) = TestSubscriber::<u64, Infallible>::with_scheduler(1, vs.clone());
    probed.delay_subscription(DELAY).subscribe(sub);
    h.cancel();
    vs.advance_by(DELAY * 2);
    probe.assert_not_subscribed();
}

#[test]
fn cancel_after_the_delay_reaches_upstream() {
    let (vs, tp, h) = rig(4);
    vs.advance_by(DELAY);
    tp.next(1);
    h.cancel();
    tp.assert_cancelled();
    h.assert_items(&[1]);
}

#[test]
fn request_zero_during_the_delay_fails_at_the_delay_without_subscribing() {
    let (vs, tp, h) = rig(0);
    h.request(0);
    h.assert_not_terminated();
    vs.advance_by(DELAY);
    h.assert_error_matches(|e| {
        matches!(
            e,
            Error::InvalidRequest {
                stage: "delay_subscription"
            }
        )
    });
    assert_eq!(tp.subscription_count(), 0);
}

#[test]
fn request_zero_after_the_delay_is_answered_by_upstream() {
    let vs = VirtualScheduler::new();
    let (sub, h) = TestSubscriber::<u64, Infallible>::with_scheduler(0, vs.clone());
    range(0, 10).delay_subscription(DELAY).subscribe(sub);
    vs.advance_by(DELAY);
    h.request(0);
    h.assert_error_matches(|e| matches!(e, Error::InvalidRequest { .. }));
}

#[test]
fn errors_and_completion_pass_unchanged() {
    let (vs, tp, h) = rig(10);
    vs.advance_by(DELAY);
    tp.next(7);
    tp.error("boom".to_string());
    h.assert_items(&[7]);
    h.assert_error_matches(|e| matches!(e, Error::User(s) if s == "boom"));
}

#[test]
fn a_scheduler_given_with_on_is_used() {
    let vs = VirtualScheduler::new();
    let (sub, h) = TestSubscriber::<u64, Infallible>::new(u64::MAX);
    range(0, 2)
        .delay_subscription(DELAY)
        .on(vs.clone())
        .subscribe(sub);
    h.assert_items(&[]);
    vs.advance_by(DELAY);
    h.assert_items(&[0, 1]);
    h.assert_complete();
}

#[test]
fn conformance() {
    tck::verify_publisher_with(
        tck::publisher_factory(|n| range(0, n).delay_subscription(Duration::from_micros(300)))
            .max_elements(100_000),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

#[test]
fn awaited_in_a_tokio_runtime_with_its_timer() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let out = rt.block_on(async {
        let started = tokio::time::Instant::now();
        let items = range(0, 3)
            .delay_subscription(Duration::from_secs(3600))
            .collect()
            .await
            .unwrap();
        (items, started.elapsed())
    });
    assert_eq!(out.0, vec![0, 1, 2]);
    assert!(out.1 >= Duration::from_secs(3600), "{:?}", out.1);
}
