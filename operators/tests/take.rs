//! `take(n)`: demand capped at `n` in total, cancel after the n-th, `take(0)`.

#[path = "support/checks.rs"]
mod checks;
#[path = "support/model.rs"]
mod model;

use proptest::prelude::*;
use spillway::prelude::*;
use spillway_testkit::{TestPublisher, TestSubscriber, Violation};

#[test]
fn conformance() {
    checks::conformance(|n| range(0, n + 5).take(n));
}

#[test]
fn normal() {
    let (sub, down) = TestSubscriber::new(u64::MAX);
    range(0, 1_000).take(3).subscribe(sub);
    down.assert_items(&[0, 1, 2]);
    down.assert_complete();
}

#[test]
fn caps_downstream_request_to_n() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(10);
    tp.publisher().take(3).subscribe(sub);
    assert_eq!(
        checks::requests(&tp),
        vec![3],
        "request(10) downstream asks exactly 3 upstream"
    );
    tp.next(1).next(2);
    tp.assert_not_cancelled();
    tp.next(3);
    tp.assert_cancelled();
    down.assert_items(&[1, 2, 3]);
    down.assert_complete();
    down.assert_no_protocol_violations();
}

#[test]
fn backpressured_from_zero_and_incremental() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(0);
    tp.publisher().take(3).subscribe(sub);
    assert_eq!(tp.total_requested(), 0, "nothing requested without demand");
    down.request(1);
    assert_eq!(checks::requests(&tp), vec![1]);
    tp.next(7);
    down.assert_items(&[7]);
    down.request(5);
    assert_eq!(
        checks::requests(&tp),
        vec![1, 2],
        "the rest of the cap, not 5"
    );
    down.request(5);
    assert_eq!(tp.total_requested(), 3, "never more than n in total");
    tp.next(8).next(9);
    down.assert_items(&[7, 8, 9]);
    down.assert_complete();
}

#[test]
fn unbounded_downstream_requests_n() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, _down) = TestSubscriber::new(u64::MAX);
    tp.publisher().take(4).subscribe(sub);
    assert_eq!(checks::requests(&tp), vec![4]);
}

#[test]
fn take_zero_completes_at_once_and_cancels() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(5);
    tp.publisher().take(0).subscribe(sub);
    down.assert_items(&[]);
    down.assert_complete();
    tp.assert_cancelled();
    assert_eq!(tp.total_requested(), 0);
}

#[test]
fn completes_before_upstream_does() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(2);
    tp.publisher().take(2).subscribe(sub);
    tp.next(1).next(2);
    down.assert_complete();
    tp.complete(); // not sent: cancelled
    down.assert_no_protocol_violations();
}

#[test]
fn cancel_mid_stream_reaches_upstream() {
    checks::cancel_reaches_upstream(|p| p.take(5));
}

#[test]
fn error_propagates() {
    checks::error_propagates(|p| p.take(5));
}

#[test]
fn late_signals_dropped() {
    checks::late_signals_dropped(|p| p.take(5));
}

#[test]
fn request_zero_fails() {
    checks::request_zero_fails(|p| p.take(5));
}

#[test]
fn non_compliant_upstream_extra_items_are_ignored() {
    let tp = TestPublisher::<u32, String>::non_compliant(&[
        Violation::EmitWithoutDemand,
        Violation::IgnoreCancel,
    ]);
    let (sub, down) = TestSubscriber::new(1);
    tp.publisher().take(2).subscribe(sub);
    tp.next(1).next(2).next(3);
    down.assert_items(&[1, 2]);
    down.assert_complete();
    tp.assert_cancelled();
}

proptest! {
    #[test]
    fn matches_vec_model((input, schedule) in model::input_and_schedule(), n in 0u64..8) {
        let tp = model::check_model!(input, schedule, |p| p.take(n), |v: &[u32]| {
            v.iter().copied().take(n as usize).collect::<Vec<_>>()
        });
        prop_assert!(tp.total_requested() <= n, "requested {} > {n}", tp.total_requested());
    }
}
