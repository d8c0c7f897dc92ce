//! `reduce`: nothing requested before downstream asks; then unbounded once; one item.

#[path = "support/checks.rs"]
mod checks;

use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::{self, TckConfig};
use spillway_testkit::{TestPublisher, TestSubscriber, Violation};

#[test]
fn conformance() {
    // reduce emits at most one item: the suite's n is 0 or 1.
    let factory = tck::publisher_factory(|n| range(1, n + 1).reduce(|a, b| a + b)).max_elements(1);
    let config = TckConfig::synchronous()
        .cannot_fail("over a range")
        .excuse("*", "reduce emits at most one item");
    let report = tck::verify_publisher_with(factory, config);
    report.assert_all_passed();
    for rule in ["setup", "1.5", "1.7", "1.9", "3.9", "3.13", "3.15", "3.16"] {
        assert!(report.passed(rule), "{rule}:\n{report}");
    }
}

#[test]
fn requests_unbounded_once_at_first_request() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(0);
    tp.publisher().reduce(|a, b| a.max(b)).subscribe(sub);
    assert_eq!(tp.total_requested(), 0, "nothing before downstream asks");
    down.request(1);
    down.request(3);
    let asked: Vec<u64> = tp.requests().into_iter().map(|r| r.1).collect();
    assert_eq!(asked, vec![u64::MAX], "one unbounded request");
    tp.next(3).next(9).next(4);
    down.assert_items(&[]);
    tp.complete();
    down.assert_items(&[9]);
    down.assert_complete();
}

#[test]
fn empty_completes_without_item() {
    let (sub, down) = TestSubscriber::<u64, _>::new(1);
    range(0, 0).reduce(|a, b| a + b).subscribe(sub);
    down.assert_items(&[]);
    down.assert_complete();
}

#[test]
fn non_compliant_upstream_without_request_is_a_protocol_violation() {
    let tp = TestPublisher::<u32, String>::non_compliant(&[Violation::EmitWithoutDemand]);
    let (sub, down) = TestSubscriber::new(0);
    tp.publisher().reduce(|a, b| a + b).subscribe(sub);
    tp.next(1).complete();
    down.assert_error_matches(|e| {
        matches!(
            e,
            Error::ProtocolViolation {
                stage: "reduce",
                ..
            }
        )
    });
    down.assert_no_protocol_violations();
}

#[test]
fn callback_panics() {
    checks::callback_panics("reduce", |p| {
        p.reduce(|a, b| {
            checks::boom(b);
            a + b
        })
    });
}

#[test]
fn cancel_mid_stream_reaches_upstream() {
    checks::cancel_reaches_upstream(|p| p.reduce(|a, b| a + b));
}

#[test]
fn error_propagates() {
    checks::error_propagates(|p| p.reduce(|a, b| a + b));
}

#[test]
fn late_signals_dropped() {
    checks::late_signals_dropped(|p| p.reduce(|a, b| a + b));
}

#[test]
fn request_zero_fails() {
    checks::request_zero_fails(|p| p.reduce(|a, b| a + b));
}
