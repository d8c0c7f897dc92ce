//! `default_if_empty`: 1:1 demand; the default waits for downstream demand.

#[path = "support/checks.rs"]
mod checks;

use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::Either;
use spillway_testkit::{TestPublisher, TestSubscriber};

#[test]
fn conformance() {
    // Never empty: `n == 1` takes the default path, `n == 0` cannot be built from it.
    checks::conformance(|n| match n {
        0 => Either::Right(empty()),
        1 => Either::Left(range(0, 0).default_if_empty(0)),
        n => Either::Left(range(0, n).default_if_empty(0)),
    });
}

#[test]
fn non_empty_passes_through_one_to_one() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(0);
    tp.publisher().default_if_empty(9).subscribe(sub);
    assert_eq!(tp.total_requested(), 0);
    down.request(2);
    assert_eq!(tp.total_requested(), 2);
    tp.next(1).complete();
    down.assert_items(&[1]);
    down.assert_complete();
}

#[test]
fn empty_with_demand_emits_default() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(1);
    tp.publisher().default_if_empty(9).subscribe(sub);
    tp.complete();
    down.assert_items(&[9]);
    down.assert_complete();
}

#[test]
fn empty_without_demand_waits_for_a_request() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(0);
    tp.publisher().default_if_empty(9).subscribe(sub);
    tp.complete();
    down.assert_items(&[]);
    down.assert_not_terminated();
    down.request(1);
    down.assert_items(&[9]);
    down.assert_complete();
    down.assert_no_protocol_violations();
}

#[test]
fn error_gets_no_default() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(1);
    tp.publisher().default_if_empty(9).subscribe(sub);
    tp.error("boom".into());
    down.assert_items(&[]);
    down.assert_error_matches(|e| *e == Error::User("boom".into()));
}

#[test]
fn cancel_mid_stream_reaches_upstream() {
    checks::cancel_reaches_upstream(|p| p.default_if_empty(0));
}

#[test]
fn error_propagates() {
    checks::error_propagates(|p| p.default_if_empty(0));
}

#[test]
fn late_signals_dropped() {
    checks::late_signals_dropped(|p| p.default_if_empty(0));
}

#[test]
fn request_zero_fails() {
    checks::request_zero_fails(|p| p.default_if_empty(0));
}
