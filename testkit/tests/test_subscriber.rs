//! TestSubscriber: recording, demand, assertions that fail clearly, protocol checks.

use std::convert::Infallible;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use spillway_core::prelude::*;
use spillway_core::{Error, NoopSubscription, Subscriber};
use spillway_testkit::{Signal, TestSubscriber, VirtualScheduler};

fn panic_message(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("the assertion should have failed");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap()
}

#[test]
fn records_signals_and_demand_in_order() {
    let (sub, h) = TestSubscriber::<u64, Infallible>::new(2);
    range(0, 3).subscribe(sub);
    h.assert_items(&[0, 1]);
    assert_eq!(h.outstanding_demand(), 0);
    h.request(5);
    let kinds: Vec<&str> = h.events().iter().map(|e| e.signal.kind()).collect();
    assert_eq!(
        kinds,
        [
            "subscribe",
            "request",
            "next",
            "next",
            "request",
            "next",
            "complete"
        ]
    );
    assert_eq!(h.outstanding_demand(), 4);
    h.assert_complete();
    h.assert_no_error();
    h.assert_no_protocol_violations();
}

#[test]
fn virtual_timestamps_and_context() {
    let vs = VirtualScheduler::new();
    let (sub, h) = TestSubscriber::<u64, Infallible>::with_scheduler(3, vs.clone());
    assert!(sub.context().has_scheduler());
    interval(Duration::from_millis(250)).unwrap().subscribe(sub);
    vs.advance_by(Duration::from_secs(1));
    let nexts: Vec<Duration> = h
        .events()
        .into_iter()
        .filter(|e| matches!(e.signal, Signal::Next(_)))
        .map(|e| e.at)
        .collect();
    assert_eq!(nexts, [250, 500, 750].map(Duration::from_millis));
    // The fourth tick found no demand: interval's documented overflow.
    h.assert_error_matches(|e| {
        matches!(
            e,
            Error::Overflow {
                stage: "interval",
                ..
            }
        )
    });
    assert_eq!(h.error().unwrap().stage(), Some("interval"));
}

#[test]
fn assert_items_failure_shows_both_lists_and_the_timeline() {
    let (sub, h) = TestSubscriber::<u64, Infallible>::new(2);
    range(0, 5).subscribe(sub);
    let msg = panic_message(|| h.assert_items(&[0, 7]));
    assert!(msg.contains("items differ"), "{msg}");
    assert!(msg.contains("expected: [0, 7]"), "{msg}");
    assert!(msg.contains("actual:   [0, 1]"), "{msg}");
    assert!(msg.contains("recorded timeline:"), "{msg}");
    assert!(msg.contains("next(1)"), "{msg}");
}

#[test]
fn terminal_assertions_fail_clearly() {
    let (sub, h) = TestSubscriber::<u64, Infallible>::new(1);
    range(0, 5).subscribe(sub);
    let msg = panic_message(|| h.assert_complete());
    assert!(msg.contains("expected completion"), "{msg}");
    let msg = panic_message(|| h.assert_error_matches(|_| true));
    assert!(msg.contains("expected an error"), "{msg}");
    let msg = panic_message(|| h.assert_item_count(3));
    assert!(msg.contains("expected 3 item(s), received 1"), "{msg}");

    let (sub, h) = TestSubscriber::<u8, &str>::new(1);
    error("boom").subscribe(sub);
    let msg = panic_message(|| h.assert_no_error());
    assert!(
        msg.contains("expected no error") && msg.contains("boom"),
        "{msg}"
    );
    let msg = panic_message(|| h.assert_not_terminated());
    assert!(msg.contains("not to be terminated"), "{msg}");
    let msg = panic_message(|| h.assert_error_matches(|e| *e == Error::User("other")));
    assert!(msg.contains("does not match"), "{msg}");
    h.assert_error_matches(|e| *e == Error::User("boom"));
}

#[test]
fn request_before_subscribe_is_deferred_and_cancel_before_subscribe_applies() {
    let (sub, h) = TestSubscriber::<u64, Infallible>::new(0);
    h.request(2);
    range(0, 10).subscribe(sub);
    h.assert_items(&[0, 1]);

    let (sub, h) = TestSubscriber::<u64, Infallible>::new(5);
    h.cancel();
    range(0, 10).subscribe(sub);
    h.assert_items(&[]);
    assert!(h.is_cancelled());
}

#[test]
fn request_zero_reaches_the_publisher() {
    let (sub, h) = TestSubscriber::<u64, Infallible>::new(0);
    range(0, 10).subscribe(sub);
    h.request(0);
    h.assert_error_matches(|e| matches!(e, Error::InvalidRequest { .. }));
}

/// Drives a subscriber by hand, breaking the rules.
#[test]
fn protocol_violations_are_recorded() {
    let (mut sub, h) = TestSubscriber::<u8, ()>::new(1);
    sub.on_next(1); // before on_subscribe
    sub.on_subscribe(NoopSubscription::shared());
    sub.on_next(2); // the requested one
    sub.on_next(3); // beyond demand
    sub.on_subscribe(NoopSubscription::shared()); // second on_subscribe
    sub.on_complete();
    sub.on_error(Error::User(())); // after terminal
    let rules: Vec<&str> = h.violations().iter().map(|v| v.rule).collect();
    assert_eq!(rules, ["1.9", "1.1", "1.1", "2.5", "1.7"]);
    let whats: Vec<String> = h.violations().iter().map(|v| v.what.clone()).collect();
    assert!(whats[0].contains("on_next before on_subscribe"));
    assert!(whats[2].contains("beyond demand"));
    assert!(whats[4].contains("after a terminal signal"));
    let msg = panic_message(|| h.assert_no_protocol_violations());
    assert!(msg.contains("found 5"), "{msg}");
    assert!(msg.contains("protocol violations:"), "{msg}");
}

#[test]
fn compliant_publishers_produce_no_violations() {
    let (sub, h) = TestSubscriber::<u64, Infallible>::new(1);
    range(0, 100).subscribe(sub);
    for _ in 0..10 {
        h.request(3);
    }
    h.assert_item_count(31);
    h.assert_no_protocol_violations();
}

#[test]
fn drop_recorder_adds_to_the_timeline() {
    let vs = VirtualScheduler::new();
    let (_sub, h) = TestSubscriber::<u8, ()>::with_scheduler(0, vs.clone());
    vs.advance_by(Duration::from_secs(2));
    let mut on_drop = h.drop_recorder().on_drop::<u8>("on_backpressure_drop");
    on_drop(&9);
    assert_eq!(h.dropped(), vec![("on_backpressure_drop", "9".to_string())]);
    assert_eq!(
        h.events()[0],
        spillway_testkit::Event::new(
            Duration::from_secs(2),
            Signal::Dropped {
                stage: "on_backpressure_drop",
                item: "9".into()
            }
        )
    );
    assert!(h.timeline().contains("dropped[on_backpressure_drop](9)"));
}

#[test]
fn waits_for_signals_from_other_threads_without_sleeping() {
    let (sub, h) = TestSubscriber::<u32, Infallible>::new(u64::MAX);
    create(
        OverflowStrategy::Buffer(16),
        |em: Emitter<u32, Infallible>| {
            std::thread::spawn(move || {
                for i in 0..5 {
                    em.next(i).unwrap();
                }
                em.complete();
            });
        },
    )
    .subscribe(sub);
    assert!(h.await_terminal(Duration::from_secs(30)));
    h.assert_items(&[0, 1, 2, 3, 4]);
    let (sub, h) = TestSubscriber::<u32, Infallible>::new(1);
    never().subscribe(sub);
    assert!(!h.await_terminal(Duration::from_millis(5)));
}
