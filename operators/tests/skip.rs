//! `skip(n)`: forwarded demand with one replacement request per skipped item.

#[path = "support/checks.rs"]
mod checks;
#[path = "support/model.rs"]
mod model;

use proptest::prelude::*;
use spillway::prelude::*;
use spillway_testkit::{TestPublisher, TestSubscriber};

#[test]
fn conformance() {
    checks::conformance(|n| range(0, n + 3).skip(3));
}

#[test]
fn normal() {
    let (sub, down) = TestSubscriber::new(u64::MAX);
    range(0, 5).skip(2).subscribe(sub);
    down.assert_items(&[2, 3, 4]);
    down.assert_complete();
}

#[test]
fn request_one_then_one_replacement_per_skipped_item() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(0);
    tp.publisher().skip(2).subscribe(sub);
    assert_eq!(tp.total_requested(), 0, "nothing before downstream asks");
    down.request(1);
    assert_eq!(checks::requests(&tp), vec![1]);
    tp.next(10);
    assert_eq!(
        checks::requests(&tp),
        vec![1, 1],
        "a replacement for the skipped item"
    );
    tp.next(11);
    assert_eq!(checks::requests(&tp), vec![1, 1, 1]);
    tp.next(12);
    down.assert_items(&[12]);
    assert_eq!(tp.outstanding(), 0, "no prefetch beyond demand");
    down.request(2);
    assert_eq!(
        checks::requests(&tp),
        vec![1, 1, 1, 2],
        "after the skipping: 1:1"
    );
}

#[test]
fn unbounded_needs_no_replacements() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(u64::MAX);
    tp.publisher().skip(2).subscribe(sub);
    tp.next(1).next(2).next(3);
    assert_eq!(checks::requests(&tp), vec![u64::MAX]);
    down.assert_items(&[3]);
}

#[test]
fn drain_source_uses_no_demand_for_skipped_items() {
    let (sub, down) = TestSubscriber::new(1);
    range(0, 10).skip(4).subscribe(sub);
    down.assert_items(&[4]);
    down.request(2);
    down.assert_items(&[4, 5, 6]);
    down.assert_not_terminated();
}

#[test]
fn completion_while_skipping_completes_empty() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(1);
    tp.publisher().skip(5).subscribe(sub);
    tp.next(1).complete();
    down.assert_items(&[]);
    down.assert_complete();
}

#[test]
fn cancel_mid_stream_reaches_upstream() {
    checks::cancel_reaches_upstream(|p| p.skip(1));
}

#[test]
fn error_propagates() {
    checks::error_propagates(|p| p.skip(1));
}

#[test]
fn late_signals_dropped() {
    checks::late_signals_dropped(|p| p.skip(1));
}

#[test]
fn request_zero_fails() {
    checks::request_zero_fails(|p| p.skip(1));
}

proptest! {
    #[test]
    fn matches_vec_model((input, schedule) in model::input_and_schedule(), n in 0u64..8) {
        let tp = model::check_model!(input, schedule, |p| p.skip(n), |v: &[u32]| {
            v.iter().copied().skip(n as usize).collect::<Vec<_>>()
        });
        prop_assert!(tp.total_requested() >= 1 || input.is_empty() || schedule.is_empty());
    }
}
