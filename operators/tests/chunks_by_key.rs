//! `chunks_by_key(key)`: runs of consecutive items with the same key; demand as
//! `chunks_weighted` (at most one closed batch beyond demand); the last run flushed at
//! completion, the open one dropped on error.

#[path = "support/checks.rs"]
mod checks;
#[path = "support/model.rs"]
mod model;

use proptest::prelude::*;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::{TestPublisher, TestSubscriber, TestSubscriberHandle, Violation};

/// The plain model: `slice::chunk_by` on equal keys.
fn runs(v: &[u32], key: impl Fn(u32) -> u32) -> Vec<Vec<u32>> {
    v.chunk_by(|a, b| key(*a) == key(*b))
        .map(<[u32]>::to_vec)
        .collect()
}

fn parity(x: &u32) -> u32 {
    x % 2
}

fn rig(tp: &TestPublisher<u32, String>, initial: u64) -> TestSubscriberHandle<Vec<u32>, String> {
    let (sub, down) = TestSubscriber::new(initial);
    tp.publisher().chunks_by_key(parity).subscribe(sub);
    down
}

#[test]
fn conformance() {
    // Alternating parity: every item is a run of its own.
    checks::conformance(|n| range(0, n).chunks_by_key(|x| x % 2));
    // Pairs: 2n items make n runs.
    checks::conformance(|n| range(0, 2 * n).chunks_by_key(|x| x / 2));
}

#[test]
fn runs_of_the_same_key_and_the_last_at_completion() {
    let (sub, down) = TestSubscriber::new(u64::MAX);
    from_iter([1u32, 3, 2, 4, 6, 5, 1])
        .chunks_by_key(parity)
        .subscribe(sub);
    down.assert_items(&[vec![1, 3], vec![2, 4, 6], vec![5, 1]]);
    down.assert_complete();
}

#[test]
fn a_key_coming_back_starts_a_new_run() {
    let (sub, down) = TestSubscriber::new(u64::MAX);
    from_iter([1u32, 2, 1]).chunks_by_key(|x| *x).subscribe(sub);
    down.assert_items(&[vec![1], vec![2], vec![1]]);
}

#[test]
fn empty_upstream_emits_nothing() {
    let (sub, down) = TestSubscriber::new(u64::MAX);
    from_iter(Vec::<u32>::new())
        .chunks_by_key(parity)
        .subscribe(sub);
    down.assert_items(&[]);
    down.assert_complete();
}

#[test]
fn requests_in_steps_within_demand_plus_one_batch() {
    let tp = TestPublisher::<u32, String>::new();
    let down = rig(&tp, 0);
    assert_eq!(tp.total_requested(), 1, "one item of prefetch");
    tp.next(1);
    assert_eq!(tp.total_requested(), 1, "the open run counts as a batch");
    down.request(1);
    // demand 1 + 1 batches, one of them open: one more item.
    assert_eq!(tp.total_requested(), 2);
    tp.next(3);
    assert_eq!(tp.total_requested(), 3, "the run goes on: one more");
    tp.next(2); // closes [1, 3], delivered; [2] open
    down.assert_items(&[vec![1, 3]]);
    assert_eq!(
        tp.outstanding(),
        0,
        "no demand: the open run is the batch beyond it"
    );
    down.request(1);
    assert_eq!(tp.total_requested(), 4);
    tp.next(5); // closes [2], delivered; [5] open
    down.assert_items(&[vec![1, 3], vec![2]]);
    assert_eq!(tp.outstanding(), 0);
    down.assert_no_protocol_violations();
}

#[test]
fn unbounded_demand_is_requested_in_bounded_steps() {
    let tp = TestPublisher::<u32, String>::new();
    let down = rig(&tp, u64::MAX);
    assert_eq!(tp.total_requested(), 256, "bounded, never unbounded");
    tp.next(1).next(2).complete();
    down.assert_items(&[vec![1], vec![2]]);
    down.assert_complete();
}

#[test]
fn error_drops_the_open_run_after_the_closed_ones() {
    let tp = TestPublisher::<u32, String>::new();
    let down = rig(&tp, u64::MAX);
    tp.next(1).next(3).next(2).next(4).error("boom".to_string());
    down.assert_items(&[vec![1, 3]]);
    down.assert_error_matches(|e| *e == Error::User("boom".to_string()));
    down.assert_no_protocol_violations();
}

#[test]
fn callback_panics() {
    checks::callback_panics("chunks_by_key", |p| {
        p.chunks_by_key(|x| {
            checks::boom(*x);
            *x
        })
    });
}

#[test]
fn error_propagates() {
    checks::error_propagates(|p| p.chunks_by_key(parity));
}

#[test]
fn cancel_mid_stream_reaches_upstream() {
    checks::cancel_reaches_upstream(|p| p.chunks_by_key(parity));
}

#[test]
fn request_zero_fails() {
    checks::request_zero_fails(|p| p.chunks_by_key(|x| x % 2));
}

#[test]
fn late_signals_dropped() {
    checks::late_signals_dropped(|p| p.chunks_by_key(parity));
}

#[test]
fn non_compliant_upstream_is_a_protocol_violation() {
    let tp = TestPublisher::non_compliant(&[Violation::EmitWithoutDemand]);
    let down = rig(&tp, 0);
    tp.next(1).next(2); // only one was requested
    down.assert_error_matches(|e| {
        matches!(
            e,
            Error::ProtocolViolation {
                stage: "chunks_by_key",
                ..
            }
        )
    });
    tp.assert_cancelled();
    down.assert_no_protocol_violations();
}

proptest! {
    #[test]
    fn matches_vec_model((input, schedule) in model::input_and_schedule(), d in 1u32..4) {
        model::check_model!(
            input,
            schedule,
            |p| p.chunks_by_key(move |x| x / d),
            |v: &[u32]| runs(v, |x| x / d)
        );
    }
}
