//! `batch_while_busy(max)`: the STYLE 3.6 checklist, the conformance suite, a
//! reference-model proptest, a non-compliant upstream and the stats invariant.

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

fn rig_with(tp: TestPublisher<u32, String>, max: usize, initial: u64) -> Rig {
    let dropped: Dropped = Arc::default();
    let d = dropped.clone();
    let op = tp
        .publisher()
        .batch_while_busy(max)
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

fn rig(max: usize, initial: u64) -> Rig {
    rig_with(TestPublisher::new(), max, initial)
}

fn assert_balanced(stats: &FlowStats) {
    let s = stats.snapshot();
    assert!(s.is_balanced(), "stats not balanced: {s}");
}

#[test]
fn config_zero_max_is_rejected() {
    assert_eq!(
        range(0, 1).batch_while_busy(0).unwrap_err().stage(),
        "batch_while_busy"
    );
}

#[test]
fn conformance() {
    // With max = 1 every batch holds one item, so n batches come from n items.
    let factory = tck::publisher_factory(|n: u64| range(0, n).batch_while_busy(1).unwrap())
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
fn normal_passes_items_through_while_downstream_keeps_up() {
    let (sub, down) = TestSubscriber::<Vec<u64>, _>::new(u64::MAX);
    range(0, 4).batch_while_busy(8).unwrap().subscribe(sub);
    down.assert_items(&[vec![0], vec![1], vec![2], vec![3]]);
    down.assert_complete();
}

#[test]
fn backpressured_collects_then_emits_one_batch() {
    let r = rig(4, 0);
    assert_eq!(r.tp.total_requested(), 4, "requests max at first");
    r.tp.next(1).next(2).next(3).next(4);
    assert_eq!(r.tp.outstanding(), 0, "max collected: upstream paused");
    r.down.assert_items(&[]);
    assert_eq!(r.stats.snapshot().buffered, 4);
    r.down.request(1);
    r.down.assert_items(&[vec![1, 2, 3, 4]]);
    assert_eq!(r.tp.total_requested(), 8, "replenished");
    assert_balanced(&r.stats);
}

#[test]
fn incremental_request() {
    let r = rig(10, 1);
    r.tp.next(1);
    r.tp.next(2).next(3);
    r.down.request(2);
    r.down.assert_items(&[vec![1], vec![2, 3]]);
    r.tp.next(4);
    r.down.assert_items(&[vec![1], vec![2, 3], vec![4]]);
    r.down.assert_no_protocol_violations();
}

#[test]
fn unbounded_downstream_still_bounds_upstream_to_max() {
    let r = rig(3, u64::MAX);
    assert_eq!(r.tp.total_requested(), 3);
    r.tp.next(1).next(2).next(3);
    r.down.assert_items(&[vec![1], vec![2], vec![3]]);
    assert_eq!(r.tp.outstanding(), 3);
}

#[test]
fn cancel_mid_stream_reaches_upstream_and_discards_collected() {
    let r = rig(5, 1);
    r.tp.next(1).next(2).next(3);
    r.down.cancel();
    r.tp.assert_cancelled();
    r.down.assert_items(&[vec![1]]);
    let dropped: Vec<_> = r.dropped.lock().unwrap().clone();
    assert_eq!(
        dropped,
        vec![(2, DropReason::Discarded), (3, DropReason::Discarded)]
    );
    assert_balanced(&r.stats);
}

#[test]
fn error_propagates_at_once_and_drops_collected() {
    let r = rig(5, 0);
    r.tp.next(1).next(2).error("boom".to_string());
    r.down.assert_items(&[]);
    r.down
        .assert_error_matches(|e| *e == Error::User("boom".to_string()));
    assert_eq!(r.stats.snapshot().dropped_for(DropReason::Discarded), 2);
    assert_balanced(&r.stats);
}

#[test]
fn complete_flushes_collected_when_requested() {
    let r = rig(5, 0);
    r.tp.next(1).next(2).complete();
    r.down.assert_not_terminated();
    r.down.request(1);
    r.down.assert_items(&[vec![1, 2]]);
    r.down.assert_complete();
    assert!(r.dropped.lock().unwrap().is_empty());
}

#[test]
fn callback_panics_downstream_cancel_upstream() {
    // No per-item user closure; a subscriber panicking in on_next (rule 2.13) is
    // cancelled by the drain loop, and the cancel reaches upstream.
    let tp = TestPublisher::<u32, String>::new();
    tp.publisher()
        .batch_while_busy(2)
        .unwrap()
        .subscribe(PanicOnNext::default());
    tp.assert_not_cancelled();
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tp.next(1);
    }));
    tp.assert_cancelled();
}

/// Keeps its subscription (the drain loop lives as long as someone holds it).
#[derive(Default)]
struct PanicOnNext(Option<spillway::SharedSubscription>);
impl Subscriber for PanicOnNext {
    type Item = Vec<u32>;
    type Error = String;
    fn on_subscribe(&mut self, s: spillway::SharedSubscription) {
        s.request(1);
        self.0 = Some(s);
    }
    fn on_next(&mut self, _: Vec<u32>) {
        panic!("subscriber blew up");
    }
    fn on_error(&mut self, _: Error<String>) {}
    fn on_complete(&mut self) {}
}

#[test]
fn late_signals_after_terminal_are_dropped() {
    let tp =
        TestPublisher::non_compliant(&[Violation::EmitAfterTerminate, Violation::TerminateTwice]);
    let r = rig_with(tp, 4, 10);
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
    let r = rig(2, 0);
    r.down.request(0);
    r.down.assert_error_matches(|e| {
        matches!(
            e,
            Error::InvalidRequest {
                stage: "batch_while_busy"
            }
        )
    });
    r.tp.assert_cancelled();
}

#[test]
fn non_compliant_upstream_beyond_max_is_a_protocol_violation() {
    let tp = TestPublisher::non_compliant(&[Violation::EmitWithoutDemand]);
    let r = rig_with(tp, 2, 0);
    r.tp.next(1).next(2).next(3);
    r.down.assert_error_matches(|e| {
        matches!(
            e,
            Error::ProtocolViolation {
                stage: "batch_while_busy",
                ..
            }
        )
    });
    r.tp.assert_cancelled();
    let dropped: Vec<u32> = r.dropped.lock().unwrap().iter().map(|d| d.0).collect();
    assert_eq!(dropped, vec![1, 2, 3]);
    assert_balanced(&r.stats);
}

#[derive(Debug, Clone)]
enum Op {
    Request(u64),
    Emit(u8),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![(1u64..3).prop_map(Op::Request), (1u8..8).prop_map(Op::Emit)],
        0..40,
    )
}

proptest! {
    /// Model: items pass through while there is demand; otherwise they are collected and
    /// the whole collection goes out at the next request. Never more than `max` collected
    /// or requested upstream; nothing lost.
    #[test]
    fn matches_reference_model(max in 1usize..6, schedule in ops()) {
        let r = rig(max, 0);
        let mut demand = 0u64;
        let mut collected: Vec<u32> = Vec::new();
        let mut expect: Vec<Vec<u32>> = Vec::new();
        let mut next = 0u32;
        for op in schedule {
            match op {
                Op::Request(k) => {
                    demand += k;
                    r.down.request(k);
                    if !collected.is_empty() {
                        expect.push(std::mem::take(&mut collected));
                        demand -= 1;
                    }
                }
                Op::Emit(k) => for _ in 0..k {
                    if r.tp.outstanding() == 0 { break; }
                    r.tp.next(next);
                    if demand > 0 { expect.push(vec![next]); demand -= 1; } else { collected.push(next); }
                    next += 1;
                }
            }
            prop_assert_eq!(r.down.items(), expect.clone());
            prop_assert!(collected.len() as u64 + r.tp.outstanding() <= max as u64);
            prop_assert!(r.stats.snapshot().is_balanced());
        }
        r.tp.complete();
        r.down.request(u64::MAX);
        if !collected.is_empty() { expect.push(collected); }
        prop_assert_eq!(r.down.items(), expect);
        prop_assert!(r.down.is_complete());
        prop_assert!(r.down.violations().is_empty());
        let s = r.stats.snapshot();
        prop_assert!(s.is_balanced() && s.dropped() == 0 && s.received == u64::from(next));
    }
}
