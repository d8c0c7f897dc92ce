//! `chunks_weighted(max, weigh)`: the STYLE 3.6 checklist, the conformance suite, a
//! reference-model proptest, a panicking `weigh`, a non-compliant upstream and the stats
//! invariant.

use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use spillway::operators::{DropReason, FlowStats};
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::{self, TckConfig};
use spillway_testkit::{TestPublisher, TestSubscriber, TestSubscriberHandle, Violation};

type Dropped = Arc<Mutex<Vec<(u32, DropReason)>>>;

struct Rig {
    tp: TestPublisher<u32, String>,
    down: TestSubscriberHandle<Vec<u32>, String>,
    stats: FlowStats,
    dropped: Dropped,
}

/// Items weigh their own value (a 0 weighs 0; 99 panics).
fn rig_with(tp: TestPublisher<u32, String>, max: u64, initial: u64) -> Rig {
    let dropped: Dropped = Arc::default();
    let d = dropped.clone();
    let op = tp
        .publisher()
        .chunks_weighted(max, |x: &u32| {
            assert!(*x != 99, "cannot weigh 99");
            u64::from(*x)
        })
        .unwrap()
        .on_drop(move |item, reason| d.lock().unwrap().push((item, reason)));
    let stats = op.stats();
    let (sub, down) = TestSubscriber::new(initial);
    op.subscribe(sub);
    Rig {
        tp,
        down,
        stats,
        dropped,
    }
}

fn rig(max: u64, initial: u64) -> Rig {
    rig_with(TestPublisher::new(), max, initial)
}

fn assert_balanced(stats: &FlowStats) {
    let s = stats.snapshot();
    assert!(s.is_balanced(), "stats not balanced: {s}");
}

#[test]
fn config_zero_weight_is_rejected() {
    assert_eq!(
        range(0, 1).chunks_weighted(0, |_| 1).unwrap_err().stage(),
        "chunks_weighted"
    );
}

#[test]
fn conformance() {
    // Every item weighs the maximum, so n items make n batches.
    let factory = tck::publisher_factory(|n: u64| range(0, n).chunks_weighted(5, |_| 5).unwrap())
        .max_elements(100_000);
    tck::verify_publisher_with(
        factory,
        TckConfig::synchronous().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

#[test]
fn normal_and_oversize_item_alone() {
    let (sub, down) = TestSubscriber::<Vec<u64>, _>::new(u64::MAX);
    from_iter([4u64, 3, 5, 9, 1, 2, 0])
        .chunks_weighted(8, |x| *x)
        .unwrap()
        .subscribe(sub);
    // 4+3 (+5 would exceed) | 5 (+9 would exceed) | 9 alone (heavier than 8) | 1+2+0 flushed
    down.assert_items(&[vec![4, 3], vec![5], vec![9], vec![1, 2, 0]]);
    down.assert_complete();
}

#[test]
fn batch_closes_as_soon_as_it_reaches_max() {
    let r = rig(5, 1);
    r.tp.next(2).next(3);
    r.down.assert_items(&[vec![2, 3]]);
}

#[test]
fn backpressured_at_most_one_closed_batch_beyond_demand() {
    let r = rig(5, 0);
    assert_eq!(r.tp.total_requested(), 1, "one item of prefetch");
    r.tp.next(5); // closes a batch at once: held
    assert_eq!(r.tp.outstanding(), 0);
    r.down.assert_items(&[]);
    r.down.request(1);
    r.down.assert_items(&[vec![5]]);
    assert!(r.tp.outstanding() >= 1);
    assert_balanced(&r.stats);
}

#[test]
fn incremental_request() {
    let r = rig(10, 0);
    r.down.request(3);
    assert_eq!(
        r.tp.total_requested(),
        4,
        "demand + 1 batches, one item each at most"
    );
    r.tp.next(6).next(6).next(6).next(6);
    r.down.assert_items(&[vec![6], vec![6], vec![6]]);
    r.down.request(1);
    r.down.assert_items(&[vec![6], vec![6], vec![6]]);
    r.tp.next(6);
    r.down.assert_items(&[vec![6], vec![6], vec![6], vec![6]]);
}

#[test]
fn unbounded() {
    let r = rig(10, u64::MAX);
    assert_eq!(r.tp.total_requested(), 256, "bounded, never unbounded");
    r.tp.next(7).next(7).complete();
    r.down.assert_items(&[vec![7], vec![7]]);
    r.down.assert_complete();
}

#[test]
fn cancel_mid_stream_reaches_upstream_and_discards_open() {
    let r = rig(10, 1);
    r.tp.next(3);
    r.down.cancel();
    r.tp.assert_cancelled();
    assert_eq!(*r.dropped.lock().unwrap(), vec![(3, DropReason::Discarded)]);
    assert_balanced(&r.stats);
}

#[test]
fn error_propagates_and_drops_open_batch() {
    let r = rig(10, 2);
    r.tp.next(3).next(9); // [3] closed (3+9 > 10), [9] open
    r.tp.error("boom".to_string());
    r.down.assert_items(&[vec![3]]);
    r.down
        .assert_error_matches(|e| *e == Error::User("boom".to_string()));
    assert_eq!(*r.dropped.lock().unwrap(), vec![(9, DropReason::Discarded)]);
    assert_balanced(&r.stats);
}

#[test]
fn complete_flushes_partial() {
    let r = rig(10, 1);
    r.tp.next(3).complete();
    r.down.assert_items(&[vec![3]]);
    r.down.assert_complete();
}

#[test]
fn callback_panics_in_weigh() {
    let r = rig(10, 3);
    r.tp.next(2).next(99);
    r.tp.assert_cancelled();
    r.down.assert_error_matches(|e| {
        matches!(e, Error::Panicked { stage: "chunks_weighted", message } if message.contains("cannot weigh 99"))
    });
    let dropped: Vec<u32> = r.dropped.lock().unwrap().iter().map(|d| d.0).collect();
    assert_eq!(dropped, vec![2, 99]);
    assert_balanced(&r.stats);
}

#[test]
fn late_signals_after_terminal_are_dropped() {
    let tp =
        TestPublisher::non_compliant(&[Violation::EmitAfterTerminate, Violation::TerminateTwice]);
    let r = rig_with(tp, 10, 10);
    r.tp.next(1).complete();
    r.tp.next(2).error("late".to_string());
    r.down.assert_items(&[vec![1]]);
    r.down.assert_complete();
    r.down.assert_no_protocol_violations();
    assert_eq!(*r.dropped.lock().unwrap(), vec![(2, DropReason::Discarded)]);
    assert_balanced(&r.stats);
}

#[test]
fn request_zero_fails_with_invalid_request() {
    let r = rig(3, 0);
    r.down.request(0);
    r.down.assert_error_matches(|e| {
        matches!(
            e,
            Error::InvalidRequest {
                stage: "chunks_weighted"
            }
        )
    });
}

#[test]
fn non_compliant_upstream_is_a_protocol_violation() {
    let tp = TestPublisher::non_compliant(&[Violation::EmitWithoutDemand]);
    let r = rig_with(tp, 10, 0);
    r.tp.next(1).next(2);
    r.down
        .assert_error_matches(|e| matches!(e, Error::ProtocolViolation { .. }));
    r.tp.assert_cancelled();
    let dropped: Vec<u32> = r.dropped.lock().unwrap().iter().map(|d| d.0).collect();
    assert_eq!(dropped, vec![1, 2]);
    assert_balanced(&r.stats);
}

#[derive(Debug, Clone)]
enum Op {
    Request(u64),
    Emit(Vec<u32>),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            (1u64..3).prop_map(Op::Request),
            prop::collection::vec(0u32..15, 1..6).prop_map(Op::Emit),
        ],
        0..40,
    )
}

fn model(items: &[u32], max: u64) -> (Vec<Vec<u32>>, Vec<u32>) {
    let (mut closed, mut open, mut w) = (Vec::new(), Vec::new(), 0u64);
    for &x in items {
        let x64 = u64::from(x);
        if !open.is_empty() && w + x64 > max {
            closed.push(std::mem::take(&mut open));
            w = 0;
        }
        open.push(x);
        w += x64;
        if w >= max {
            closed.push(std::mem::take(&mut open));
            w = 0;
        }
    }
    (closed, open)
}

proptest! {
    /// Against the reference batching model: downstream sees a prefix of the closed
    /// batches, never more than requested, and at most one closed batch is ever held
    /// beyond demand.
    #[test]
    fn matches_reference_model(max in 1u64..20, schedule in ops()) {
        let r = rig(max, 0);
        let mut sent: Vec<u32> = Vec::new();
        let mut requested = 0u64;
        for op in schedule {
            match op {
                Op::Request(k) => { requested += k; r.down.request(k); }
                Op::Emit(xs) => for x in xs {
                    if r.tp.outstanding() == 0 { break; }
                    r.tp.next(x);
                    sent.push(x);
                }
            }
            let (closed, _) = model(&sent, max);
            let got = r.down.items();
            prop_assert!(got.len() as u64 <= requested);
            prop_assert_eq!(&got[..], &closed[..got.len()]);
            prop_assert!(closed.len() as u64 <= requested + 1, "more than one batch beyond demand");
            prop_assert!(r.stats.snapshot().is_balanced());
        }
        r.tp.complete();
        r.down.request(u64::MAX);
        let (mut closed, open) = model(&sent, max);
        if !open.is_empty() { closed.push(open); }
        prop_assert_eq!(r.down.items(), closed);
        prop_assert!(r.down.is_complete());
        prop_assert!(r.down.violations().is_empty());
        prop_assert_eq!(r.stats.snapshot().dropped(), 0);
    }
}
