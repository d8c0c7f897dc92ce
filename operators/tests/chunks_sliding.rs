//! `chunks_sliding(size, step)`: windows of `size` starting every `step` items; demand
//! counts windows, upstream is asked for the items they need (`size`, then `step` per
//! window); partial windows flushed at completion, dropped on error.

#[path = "support/checks.rs"]
mod checks;
#[path = "support/model.rs"]
mod model;

use proptest::prelude::*;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::{TestPublisher, TestSubscriber, TestSubscriberHandle, Violation};

/// The plain model: the window starting at every multiple of `step`, cut at the end.
fn windows(v: &[u32], size: usize, step: usize) -> Vec<Vec<u32>> {
    (0..v.len())
        .step_by(step)
        .map(|s| v[s..(s + size).min(v.len())].to_vec())
        .collect()
}

fn rig(
    tp: &TestPublisher<u32, String>,
    size: usize,
    step: usize,
    initial: u64,
) -> TestSubscriberHandle<Vec<u32>, String> {
    let (sub, down) = TestSubscriber::new(initial);
    tp.publisher()
        .chunks_sliding(size, step)
        .unwrap()
        .subscribe(sub);
    down
}

#[test]
fn config_zero_size_or_step_is_rejected() {
    assert_eq!(
        range(0, 3).chunks_sliding(0, 1).unwrap_err().stage(),
        "chunks_sliding"
    );
    assert_eq!(
        range(0, 3).chunks_sliding(1, 0).unwrap_err().stage(),
        "chunks_sliding"
    );
}

#[test]
fn conformance() {
    // Exactly n windows: one starts at every multiple of step.
    checks::conformance(|n| range(0, n).chunks_sliding(2, 1).unwrap());
    checks::conformance(|n| range(0, 2 * n).chunks_sliding(3, 2).unwrap());
    checks::conformance(|n| range(0, 3 * n).chunks_sliding(2, 3).unwrap());
}

#[test]
fn overlapping_windows_and_the_partial_ones_at_completion() {
    let (sub, down) = TestSubscriber::new(u64::MAX);
    from_iter(1u32..=5)
        .chunks_sliding(3, 1)
        .unwrap()
        .subscribe(sub);
    down.assert_items(&[
        vec![1, 2, 3],
        vec![2, 3, 4],
        vec![3, 4, 5],
        vec![4, 5],
        vec![5],
    ]);
    down.assert_complete();
}

#[test]
fn skipping_windows_let_the_items_between_go() {
    let (sub, down) = TestSubscriber::new(u64::MAX);
    from_iter(1u32..=8)
        .chunks_sliding(2, 3)
        .unwrap()
        .subscribe(sub);
    down.assert_items(&[vec![1, 2], vec![4, 5], vec![7, 8]]);
    down.assert_complete();
}

#[test]
fn overlapping_demand_asks_size_then_step_per_window() {
    let tp = TestPublisher::<u32, String>::new();
    let down = rig(&tp, 3, 1, 0);
    assert_eq!(tp.total_requested(), 0, "nothing without demand");
    down.request(1);
    assert_eq!(tp.total_requested(), 3, "the first window: size items");
    tp.next(1).next(2).next(3);
    down.assert_items(&[vec![1, 2, 3]]);
    assert_eq!(tp.outstanding(), 0, "no prefetch beyond demand");
    down.request(2);
    assert_eq!(tp.total_requested(), 5, "then step = 1 item per window");
    tp.next(4).next(5);
    down.assert_items(&[vec![1, 2, 3], vec![2, 3, 4], vec![3, 4, 5]]);
    assert_eq!(tp.outstanding(), 0);
    down.assert_no_protocol_violations();
}

#[test]
fn skipping_demand_asks_for_the_items_between_windows_too() {
    let tp = TestPublisher::<u32, String>::new();
    let down = rig(&tp, 2, 3, 0);
    down.request(1);
    assert_eq!(tp.total_requested(), 2);
    tp.next(1).next(2);
    down.assert_items(&[vec![1, 2]]);
    down.request(1);
    assert_eq!(
        tp.total_requested(),
        5,
        "the item between and the next window"
    );
    tp.next(3).next(4);
    down.assert_items(&[vec![1, 2]]);
    tp.next(5);
    down.assert_items(&[vec![1, 2], vec![4, 5]]);
    assert_eq!(tp.outstanding(), 0);
    down.assert_no_protocol_violations();
}

#[test]
fn a_request_for_several_windows_at_once() {
    let tp = TestPublisher::<u32, String>::new();
    let down = rig(&tp, 4, 2, 0);
    down.request(3);
    // Windows at 0, 2, 4: the third closes at item 4 + 4 = 8.
    assert_eq!(tp.total_requested(), 8);
    for i in 1..=8 {
        tp.next(i);
    }
    down.assert_items(&[vec![1, 2, 3, 4], vec![3, 4, 5, 6], vec![5, 6, 7, 8]]);
    assert_eq!(tp.outstanding(), 0);
}

#[test]
fn unbounded_demand_is_requested_in_bounded_steps() {
    let tp = TestPublisher::<u32, String>::new();
    let down = rig(&tp, 3, 1, u64::MAX);
    // Never unbounded: at least 256 in flight, recomputed as windows go out.
    assert_eq!(tp.total_requested(), 256);
    for i in 0..300 {
        tp.next(i);
    }
    assert!(tp.total_requested() >= 300 + 256 - 3, "replenished");
    assert_eq!(down.item_count(), 298);
    down.assert_no_protocol_violations();
}

#[test]
fn completion_flushes_partial_windows_as_demand_allows() {
    let tp = TestPublisher::<u32, String>::new();
    let down = rig(&tp, 3, 1, 1);
    tp.next(1).next(2).next(3);
    tp.complete();
    down.assert_items(&[vec![1, 2, 3]]);
    down.assert_not_terminated();
    down.request(5);
    down.assert_items(&[vec![1, 2, 3], vec![2, 3], vec![3]]);
    down.assert_complete();
    down.assert_no_protocol_violations();
}

#[test]
fn error_after_full_windows_drops_the_partial_ones() {
    let tp = TestPublisher::<u32, String>::new();
    let down = rig(&tp, 2, 1, u64::MAX);
    tp.next(1).next(2).next(3).error("boom".to_string());
    down.assert_items(&[vec![1, 2], vec![2, 3]]);
    down.assert_error_matches(|e| *e == Error::User("boom".to_string()));
    down.assert_no_protocol_violations();
}

#[test]
fn error_propagates() {
    checks::error_propagates(|p| p.chunks_sliding(3, 1).unwrap());
}

#[test]
fn cancel_mid_stream_reaches_upstream() {
    checks::cancel_reaches_upstream(|p| p.chunks_sliding(3, 1).unwrap());
}

#[test]
fn request_zero_fails() {
    checks::request_zero_fails(|p| p.chunks_sliding(3, 1).unwrap());
}

#[test]
fn late_signals_dropped() {
    checks::late_signals_dropped(|p| p.chunks_sliding(3, 1).unwrap());
}

#[test]
fn non_compliant_upstream_is_a_protocol_violation() {
    let tp = TestPublisher::non_compliant(&[Violation::EmitWithoutDemand]);
    let down = rig(&tp, 2, 1, 1);
    tp.next(1).next(2); // requested
    tp.next(3); // never requested
    down.assert_items(&[vec![1, 2]]);
    down.assert_error_matches(|e| {
        matches!(
            e,
            Error::ProtocolViolation {
                stage: "chunks_sliding",
                ..
            }
        )
    });
    tp.assert_cancelled();
    down.assert_no_protocol_violations();
}

proptest! {
    #[test]
    fn matches_vec_model(
        (input, schedule) in model::input_and_schedule(),
        size in 1usize..5,
        step in 1usize..5,
    ) {
        model::check_model!(
            input,
            schedule,
            |p| p.chunks_sliding(size, step).unwrap(),
            |v: &[u32]| windows(v, size, step)
        );
    }
}
