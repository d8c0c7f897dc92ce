//! `load_shed`: a bounded buffer that sheds the lowest-priority item when full.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use spillway::operators::{DropReason, FlowStats};
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::{self, Either, TckConfig};
use spillway_testkit::{TestPublisher, TestSubscriber, TestSubscriberHandle, Violation};

type H = TestSubscriberHandle<u32, ()>;
type Rig = (TestPublisher<u32, ()>, H, FlowStats, Arc<Mutex<Vec<u32>>>);

fn rig(cap: usize, initial: u64) -> Rig {
    rig_with(TestPublisher::new(), cap, initial)
}

fn rig_with(tp: TestPublisher<u32, ()>, cap: usize, initial: u64) -> Rig {
    let shed = Arc::new(Mutex::new(Vec::new()));
    let s2 = shed.clone();
    let op = tp
        .publisher()
        .load_shed(cap, |x: &u32| *x)
        .unwrap()
        .on_drop(move |x, r| {
            if r == DropReason::Shed {
                s2.lock().unwrap().push(x)
            }
        });
    let stats = op.stats();
    let (sub, h) = TestSubscriber::new(initial);
    op.subscribe(sub);
    (tp, h, stats, shed)
}

#[track_caller]
fn balanced(stats: &FlowStats) {
    let s = stats.snapshot();
    assert!(s.is_balanced(), "unbalanced: {s}");
}

#[test]
fn zero_capacity_is_a_config_error() {
    assert_eq!(
        range(0, 1).load_shed(0, |x| *x).unwrap_err().stage(),
        "load_shed"
    );
}

#[test]
fn normal_passes_everything_with_demand() {
    let (sub, h) = TestSubscriber::<u64, Infallible>::new(u64::MAX);
    range(0, 100).load_shed(4, |x| *x).unwrap().subscribe(sub);
    h.assert_item_count(100);
    h.assert_complete();
}

#[test]
fn backpressured_sheds_the_lowest_priority_and_keeps_arrival_order() {
    let (tp, h, stats, shed) = rig(3, 0);
    assert_eq!(tp.total_requested(), u64::MAX, "unbounded upstream");
    for x in [5, 1, 7] {
        tp.next(x);
    }
    tp.next(3); // full: 1 is the lowest -> evicted
    tp.next(2); // 2 is lower than 3,5,7 -> the incoming item is shed
    tp.next(9); // 3 evicted
    assert_eq!(*shed.lock().unwrap(), vec![1, 2, 3]);
    h.request(10);
    h.assert_items(&[5, 7, 9]);
    assert_eq!(stats.snapshot().dropped_for(DropReason::Shed), 3);
    balanced(&stats);
}

#[test]
fn ties_keep_the_older_item() {
    let (tp, h, _, shed) = rig(2, 0);
    for x in [4, 4, 4] {
        tp.next(x);
    }
    assert_eq!(
        *shed.lock().unwrap(),
        vec![4],
        "the incoming equal item is shed"
    );
    h.request(5);
    h.assert_item_count(2);
}

#[test]
fn incremental_request() {
    let (tp, h, stats, _) = rig(10, 1);
    for x in [1, 2, 3] {
        tp.next(x);
    }
    h.assert_items(&[1]);
    h.request(1);
    h.assert_items(&[1, 2]);
    assert_eq!(stats.snapshot().buffered, 1);
    balanced(&stats);
}

#[test]
fn cancel_mid_stream_cancels_upstream_and_discards_the_buffer() {
    let (tp, h, stats, _) = rig(5, 0);
    for x in [1, 2] {
        tp.next(x);
    }
    h.cancel();
    tp.assert_cancelled();
    let s = stats.snapshot();
    assert_eq!(s.dropped_for(DropReason::Discarded), 2);
    balanced(&stats);
}

#[test]
fn error_propagates_after_the_buffer() {
    let (tp, h, _, _) = rig(5, 0);
    tp.next(1);
    tp.error(());
    h.assert_not_terminated();
    h.request(1);
    h.assert_items(&[1]);
    h.assert_error_matches(|e| matches!(e, Error::User(())));
}

#[test]
fn complete_flushes_the_buffer() {
    let (tp, h, stats, _) = rig(5, 0);
    for x in [1, 2] {
        tp.next(x);
    }
    tp.complete();
    h.assert_not_terminated();
    h.request(2);
    h.assert_items(&[1, 2]);
    h.assert_complete();
    balanced(&stats);
}

#[test]
fn callback_panics_fail_the_pipeline() {
    let tp = TestPublisher::<u32, ()>::new();
    let op = tp
        .publisher()
        .load_shed(
            4,
            |x: &u32| if *x == 2 { panic!("bad priority") } else { *x },
        )
        .unwrap();
    let stats = op.stats();
    let (sub, h) = TestSubscriber::new(0);
    op.subscribe(sub);
    tp.next(1);
    tp.next(2);
    tp.assert_cancelled();
    h.assert_error_matches(|e| {
        matches!(
            e,
            Error::Panicked {
                stage: "load_shed",
                ..
            }
        )
    });
    assert_eq!(stats.snapshot().dropped_for(DropReason::Discarded), 2);
    balanced(&stats);
}

#[test]
fn late_signals_after_terminal_are_dropped() {
    let tp = TestPublisher::<u32, ()>::non_compliant(&[
        Violation::EmitAfterTerminate,
        Violation::TerminateTwice,
    ]);
    let (tp, h, stats, _) = rig_with(tp, 3, 5);
    tp.complete();
    tp.next(1);
    tp.error(());
    h.assert_complete();
    h.assert_item_count(0);
    assert_eq!(stats.snapshot().dropped_for(DropReason::Discarded), 1);
    balanced(&stats);
}

#[test]
fn non_compliant_upstream_cannot_overflow_it() {
    // It requests unbounded demand, so "more than requested" is impossible; an upstream
    // ignoring cancel has its late items discarded.
    let tp = TestPublisher::<u32, ()>::non_compliant(&[Violation::IgnoreCancel]);
    let (tp, h, stats, _) = rig_with(tp, 3, 0);
    h.cancel();
    tp.next(1);
    assert_eq!(stats.snapshot().dropped_for(DropReason::Discarded), 1);
    balanced(&stats);
}

#[test]
fn conformance() {
    let factory = tck::publisher_factory(|n| range(0, n).load_shed(1 << 20, |x| *x).unwrap())
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
fn conformance_failed_publisher() {
    let factory = tck::publisher_factory(|n| {
        Either::Left(
            range(0, n)
                .map_error(|_: Infallible| "x".to_string())
                .load_shed(1 << 20, |x| *x)
                .unwrap(),
        )
    })
    .max_elements(100_000)
    .failed(|| {
        Either::Right(
            error::<u64, String>("boom".into())
                .load_shed(4, |x| *x)
                .unwrap(),
        )
    });
    tck::verify_publisher_with(
        factory,
        TckConfig::synchronous().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

#[derive(Debug, Clone)]
enum Step {
    Item(u32),
    Request(u64),
}

/// The reference model: a Vec in arrival order; when full, shed the minimum (incoming on
/// ties), oldest first among equals.
fn model(cap: usize, steps: &[Step]) -> (Vec<u32>, Vec<u32>) {
    let mut buf: Vec<u32> = Vec::new();
    let mut demand = 0u64;
    let (mut out, mut shed) = (Vec::new(), Vec::new());
    for s in steps {
        match s {
            Step::Item(x) => {
                if buf.len() < cap {
                    buf.push(*x);
                } else {
                    let (i, m) = buf
                        .iter()
                        .enumerate()
                        .min_by(|a, b| a.1.cmp(b.1).then(a.0.cmp(&b.0)))
                        .unwrap();
                    if x <= m {
                        shed.push(*x);
                    } else {
                        shed.push(buf.remove(i));
                        buf.push(*x);
                    }
                }
            }
            Step::Request(n) => demand += n,
        }
        while demand > 0 && !buf.is_empty() {
            out.push(buf.remove(0));
            demand -= 1;
        }
    }
    (out, shed)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn matches_the_reference_model(
        cap in 1usize..5,
        steps in proptest::collection::vec(prop_oneof![
            3 => (0u32..10).prop_map(Step::Item),
            1 => (1u64..4).prop_map(Step::Request),
        ], 0..60),
    ) {
        let (tp, h, stats, shed) = rig(cap, 0);
        for s in &steps {
            match s {
                Step::Item(x) => { tp.next(*x); }
                Step::Request(n) => h.request(*n),
            }
        }
        let (out, model_shed) = model(cap, &steps);
        prop_assert_eq!(h.items(), out);
        prop_assert_eq!(shed.lock().unwrap().clone(), model_shed);
        h.assert_no_protocol_violations();
        prop_assert!(stats.snapshot().is_balanced());
        prop_assert!(stats.snapshot().peak_buffered <= cap as u64);
    }
}
