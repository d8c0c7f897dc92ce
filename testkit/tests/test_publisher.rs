//! TestPublisher and PublisherProbe.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use spillway_core::prelude::*;
use spillway_core::Error;
use spillway_testkit::{
    PublisherProbe, TestPublisher, TestSubscriber, Violation, VirtualScheduler,
};

fn panic_message(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("should have panicked");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap()
}

#[test]
fn records_requests_with_virtual_time_and_cancel() {
    let vs = VirtualScheduler::new();
    let tp = TestPublisher::<u8, ()>::new().with_scheduler(vs.clone());
    let (sub, h) = TestSubscriber::new(1);
    tp.publisher().subscribe(sub);
    vs.advance_by(Duration::from_secs(3));
    h.request(4);
    assert_eq!(
        tp.requests(),
        vec![(Duration::ZERO, 1), (Duration::from_secs(3), 4)]
    );
    assert_eq!(tp.total_requested(), 5);
    tp.assert_requested_at_least(5);
    tp.assert_requested_at_most(5);
    tp.assert_was_requested();
    tp.assert_not_cancelled();
    vs.advance_by(Duration::from_secs(1));
    h.cancel();
    tp.assert_cancelled();
    assert_eq!(tp.cancels(), vec![Duration::from_secs(4)]);
    tp.next(1); // after cancel: silently not sent
    h.assert_items(&[]);
}

#[test]
fn assertions_fail_with_the_request_log() {
    let tp = TestPublisher::<u8, ()>::new();
    let msg = panic_message(|| tp.assert_subscribed());
    assert!(msg.contains("nothing subscribed"), "{msg}");
    let msg = panic_message(|| tp.assert_was_requested());
    assert!(msg.contains("nothing was requested"), "{msg}");
    let (sub, h) = TestSubscriber::new(2);
    tp.publisher().subscribe(sub);
    let msg = panic_message(|| tp.assert_requested_at_least(3));
    assert!(
        msg.contains("expected at least 3 requested, got 2"),
        "{msg}"
    );
    assert!(msg.contains("requests: 2 at"), "{msg}");
    let msg = panic_message(|| tp.assert_requested_at_most(1));
    assert!(msg.contains("expected at most 1 requested, got 2"), "{msg}");
    let msg = panic_message(|| tp.assert_cancelled());
    assert!(msg.contains("not cancelled"), "{msg}");
    h.cancel();
    let msg = panic_message(|| tp.assert_not_cancelled());
    assert!(msg.contains("was cancelled"), "{msg}");
}

#[test]
fn compliant_by_default() {
    let tp = TestPublisher::<u8, ()>::new();
    let msg = panic_message(|| {
        tp.next(1);
    });
    assert!(msg.contains("nothing has subscribed"), "{msg}");
    let (sub, h) = TestSubscriber::new(1);
    tp.publisher().subscribe(sub);
    tp.next(1);
    let msg = panic_message(|| {
        tp.next(2);
    });
    assert!(msg.contains("next(2) without demand"), "{msg}");
    assert!(msg.contains("Violation::EmitWithoutDemand"), "{msg}");
    tp.complete();
    let msg = panic_message(|| {
        tp.complete();
    });
    assert!(msg.contains("after a terminal signal"), "{msg}");
    h.request(1);
    let msg = panic_message(|| {
        tp.next(3);
    });
    assert!(msg.contains("after a terminal signal"), "{msg}");
    h.assert_items(&[1]);
    h.assert_complete();
    h.assert_no_protocol_violations();
}

#[test]
fn non_compliant_modes_break_the_rules_and_the_subscriber_notices() {
    let tp = TestPublisher::<u8, ()>::non_compliant(&[
        Violation::EmitWithoutDemand,
        Violation::EmitAfterTerminate,
        Violation::TerminateTwice,
    ]);
    let (sub, h) = TestSubscriber::new(0);
    tp.publisher().subscribe(sub);
    tp.next(1).complete().next(2).error(());
    let rules: Vec<&str> = h.violations().iter().map(|v| v.rule).collect();
    assert_eq!(rules, ["1.1", "1.7", "1.1", "1.7"]);
    h.assert_items(&[1, 2]);
}

#[test]
fn ignore_cancel_keeps_sending() {
    let tp = TestPublisher::<u8, ()>::non_compliant(&[
        Violation::IgnoreCancel,
        Violation::EmitWithoutDemand,
    ]);
    let (sub, h) = TestSubscriber::new(1);
    tp.publisher().subscribe(sub);
    h.cancel();
    tp.next(1).next(2);
    h.assert_items(&[1, 2]);
    tp.assert_cancelled();
}

#[test]
fn emit_sends_then_completes_and_error_with_flow_control() {
    let tp = TestPublisher::<u8, ()>::new();
    let (sub, h) = TestSubscriber::new(u64::MAX);
    tp.publisher().subscribe(sub);
    tp.emit([1, 2, 3]);
    h.assert_items(&[1, 2, 3]);
    h.assert_complete();

    let tp = TestPublisher::<u8, ()>::new();
    let (sub, h) = TestSubscriber::new(0);
    tp.publisher().subscribe(sub);
    tp.error_with(Error::Timeout {
        stage: "upstream",
        after: Duration::from_secs(1),
    });
    h.assert_error_matches(|e| matches!(e, Error::Timeout { .. }));
}

#[test]
fn one_subscriber_at_a_time_then_resubscription() {
    let tp = TestPublisher::<u8, ()>::new();
    let (sub, _h) = TestSubscriber::new(1);
    tp.publisher().subscribe(sub);
    let (sub2, h2) = TestSubscriber::new(1);
    tp.publisher().subscribe(sub2);
    h2.assert_error_matches(|e| matches!(e, Error::Rejected { .. }));
    tp.complete();
    let (sub3, h3) = TestSubscriber::new(2);
    tp.publisher().subscribe(sub3);
    assert_eq!(tp.subscription_count(), 2);
    assert_eq!(tp.outstanding(), 2);
    tp.next(7);
    h3.assert_items(&[7]);
    assert_eq!(tp.total_requested(), 3);
}

#[test]
fn reentrant_use_from_inside_a_signal_panics_instead_of_deadlocking() {
    use spillway_core::{SharedSubscription, Subscriber};
    struct Evil(TestPublisher<u8, ()>);
    impl Subscriber for Evil {
        type Item = u8;
        type Error = ();
        fn on_subscribe(&mut self, s: SharedSubscription) {
            s.request(5);
        }
        fn on_next(&mut self, item: u8) {
            self.0.next(item + 1);
        }
        fn on_error(&mut self, _: Error<()>) {}
        fn on_complete(&mut self) {}
    }
    let tp = TestPublisher::<u8, ()>::new();
    tp.publisher().subscribe(Evil(tp.clone()));
    let msg = panic_message(|| {
        tp.next(1);
    });
    assert!(msg.contains("re-entrantly"), "{msg}");
}

#[test]
fn probe_tells_subscribed_requested_cancelled_completed() {
    let (p, probe) = PublisherProbe::wrap(range(0, 10));
    probe.assert_not_subscribed();
    let (sub, h) = TestSubscriber::new(2);
    p.subscribe(sub);
    h.request(3);
    probe.assert_subscribed();
    assert!(probe.was_requested());
    assert_eq!(probe.total_requested(), 5);
    assert_eq!(probe.items_emitted(), 5);
    probe.assert_not_cancelled();
    h.cancel();
    probe.assert_cancelled();
    assert!(!probe.was_completed() && !probe.was_errored());

    let (p, probe) = PublisherProbe::wrap(just(1u8));
    let msg = panic_message(|| probe.assert_subscribed());
    assert!(
        msg.contains("expected the publisher to be subscribed"),
        "{msg}"
    );
    let (sub, h) = TestSubscriber::new(1);
    p.subscribe(sub);
    h.assert_complete();
    assert!(probe.was_completed());
    let msg = panic_message(|| probe.assert_cancelled());
    assert!(msg.contains("to be cancelled"), "{msg}");
}

#[test]
fn probe_forwards_the_context() {
    let vs = VirtualScheduler::new();
    let (p, probe) = PublisherProbe::wrap(interval(Duration::from_secs(1)).unwrap());
    let (sub, h) = TestSubscriber::with_scheduler(2, vs.clone());
    p.subscribe(sub);
    vs.advance_by(Duration::from_secs(2));
    h.assert_items(&[0, 1]);
    assert_eq!(probe.items_emitted(), 2);
    h.cancel();
}
