//! `on_backpressure_latest`: STYLE 3.6 checklist, conformance suite, reference-model
//! proptest, non-compliant upstream, stats invariant.

use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use spillway::operators::DropReason;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::{self, TckConfig};
use spillway_testkit::{TestPublisher, TestSubscriber, Violation};

type Dropped = Arc<Mutex<Vec<(u32, DropReason)>>>;

/// Sends each item, without completing (`TestPublisher::emit` completes).
fn send(tp: &TestPublisher<u32, String>, items: impl IntoIterator<Item = u32>) {
    for x in items {
        tp.next(x);
    }
}

/// Subscribes a test subscriber requesting `initial` to `tp.on_backpressure_latest()`.
fn setup(
    tp: &TestPublisher<u32, String>,
    initial: u64,
) -> (
    spillway_testkit::TestSubscriberHandle<u32, String>,
    spillway::operators::FlowStats,
    Dropped,
) {
    let dropped: Dropped = Arc::default();
    let log = dropped.clone();
    let op = tp
        .publisher()
        .on_backpressure_latest()
        .on_drop(move |x, r| log.lock().unwrap().push((x, r)));
    let stats = op.stats();
    let (sub, handle) = TestSubscriber::new(initial);
    op.subscribe(sub);
    (handle, stats, dropped)
}

#[test]
fn normal() {
    let tp = TestPublisher::new();
    let (h, stats, dropped) = setup(&tp, u64::MAX);
    tp.emit([1, 2, 3]);
    h.assert_items(&[1, 2, 3]);
    h.assert_complete();
    assert!(dropped.lock().unwrap().is_empty());
    assert_eq!(stats.snapshot().emitted, 3);
}

#[test]
fn requests_unbounded_upstream_once() {
    let tp = TestPublisher::<u32, String>::new();
    let (h, _, _) = setup(&tp, 0);
    h.request(3);
    h.request(5);
    let asked: Vec<u64> = tp.requests().iter().map(|r| r.1).collect();
    assert_eq!(asked, vec![u64::MAX]);
}

#[test]
fn backpressured_keeps_only_the_latest() {
    let tp = TestPublisher::new();
    let (h, stats, dropped) = setup(&tp, 0);
    send(&tp, [1, 2, 3]);
    h.assert_items(&[]);
    assert_eq!(stats.snapshot().buffered, 1);
    h.request(1);
    h.assert_items(&[3]);
    assert_eq!(
        *dropped.lock().unwrap(),
        vec![(1, DropReason::Superseded), (2, DropReason::Superseded)]
    );
    let s = stats.snapshot();
    assert_eq!((s.received, s.emitted, s.buffered), (3, 1, 0));
    assert!(s.is_balanced());
}

#[test]
fn incremental_request() {
    let tp = TestPublisher::new();
    let (h, stats, _) = setup(&tp, 1);
    send(&tp, [1, 2, 3]);
    h.request(2);
    send(&tp, [4, 5, 6]);
    h.assert_items(&[1, 3, 4]);
    let s = stats.snapshot();
    assert_eq!(
        (s.received, s.emitted, s.dropped(), s.buffered),
        (6, 3, 2, 1)
    );
    assert!(s.is_balanced());
}

#[test]
fn completion_flushes_the_latest_when_demanded() {
    let tp = TestPublisher::new();
    let (h, stats, _) = setup(&tp, 0);
    tp.next(1).next(2).complete();
    h.assert_not_terminated(); // waits for demand to deliver 2
    h.request(1);
    h.assert_items(&[2]);
    h.assert_complete();
    assert!(stats.snapshot().is_balanced());
}

#[test]
fn cancel_mid_stream_reaches_upstream_and_discards_the_latest() {
    let tp = TestPublisher::new();
    let (h, stats, dropped) = setup(&tp, 1);
    tp.next(1).next(2);
    h.cancel();
    tp.assert_cancelled();
    h.assert_items(&[1]);
    assert_eq!(*dropped.lock().unwrap(), vec![(2, DropReason::Discarded)]);
    assert!(stats.snapshot().is_balanced());
}

#[test]
fn error_is_not_held_back_by_the_latest() {
    let tp = TestPublisher::new();
    let (h, stats, dropped) = setup(&tp, 0);
    tp.next(1).error("boom".to_string());
    h.assert_error_matches(|e| *e == Error::User("boom".to_string()));
    assert_eq!(*dropped.lock().unwrap(), vec![(1, DropReason::Discarded)]);
    assert!(stats.snapshot().is_balanced());
}

#[test]
fn drop_callback_panic_unwinds_to_the_pushing_thread() {
    let tp = TestPublisher::<u32, String>::new();
    let op = tp
        .publisher()
        .on_backpressure_latest()
        .on_drop(|_, _| panic!("callback"));
    let (sub, h) = TestSubscriber::new(0);
    op.subscribe(sub);
    tp.next(1);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tp.next(2);
    }));
    assert!(r.is_err());
    h.assert_items(&[]);
}

#[test]
fn late_signals_after_terminal_are_discarded() {
    let tp = TestPublisher::non_compliant(&[Violation::EmitAfterTerminate]);
    let (h, stats, _) = setup(&tp, 10);
    tp.next(1).complete().next(2);
    h.assert_items(&[1]);
    h.assert_complete();
    h.assert_no_protocol_violations();
    let s = stats.snapshot();
    assert_eq!(s.dropped(), s.dropped_for(DropReason::Discarded));
    assert!(s.is_balanced());
}

#[test]
fn non_compliant_upstream_ignoring_cancel() {
    let tp = TestPublisher::non_compliant(&[Violation::IgnoreCancel]);
    let (h, stats, dropped) = setup(&tp, 1);
    tp.next(1);
    h.cancel();
    send(&tp, [2, 3]);
    h.assert_items(&[1]);
    h.assert_no_protocol_violations();
    assert_eq!(dropped.lock().unwrap().len(), 2);
    assert!(stats.snapshot().is_balanced());
}

#[test]
fn request_zero_is_invalid() {
    let tp = TestPublisher::new();
    let (h, _, _) = setup(&tp, 0);
    h.request(0);
    h.assert_error_matches(|e| matches!(e, Error::InvalidRequest { .. }));
    tp.assert_cancelled();
}

/// The publisher suite over `range(0, n).on_backpressure_latest()`. The stage requests
/// unbounded demand and `range` emits at once, before the probe asks: the suite's probes
/// see the items *dropped* (a lossy stage cannot pass its element-count checks). Those
/// checks must fail only by receiving fewer items than expected; every protocol check
/// that does not depend on the element count must pass.
fn assert_conformance_of_lossy(report: &tck::Report, lossy_rules: &[&str]) {
    for r in report.results() {
        if r.outcome.is_failed() {
            assert!(
                lossy_rules.contains(&r.rule) || r.rule == "setup",
                "rule {} failed: {:?}",
                r.rule,
                r.outcome
            );
            let why = format!("{:?}", r.outcome);
            assert!(why.contains("expected"), "{}: {why}", r.rule);
            assert!(!why.contains("violation"), "{}: {why}", r.rule);
        }
    }
    for rule in ["1.9", "3.6", "3.7", "3.13", "3.15", "3.16"] {
        assert!(
            report.passed(rule),
            "rule {rule}: {:?}",
            report.outcome(rule)
        );
    }
}

#[test]
fn conformance_suite() {
    let report = tck::verify_publisher_with(
        tck::publisher_factory(|n| range(0, n).on_backpressure_latest()),
        TckConfig::synchronous(),
    );
    let lossy = [
        "1.1", "1.2", "1.3", "1.5", "1.7", "3.2", "3.3", "3.5", "3.8", "3.9", "3.12", "3.17",
    ];
    assert_conformance_of_lossy(&report, &lossy);
}

#[test]
fn conformance_suite_request_zero_with_a_silent_upstream() {
    // 3.9 without losses in the way: an upstream that never emits.
    let report = tck::verify_publisher_with(
        tck::publisher_factory(|_| never::<u64, ()>().on_backpressure_latest())
            .max_elements(u64::MAX),
        TckConfig::synchronous(),
    );
    assert!(report.passed("3.9"), "{:?}", report.outcome("3.9"));
}

#[derive(Debug, Clone)]
enum Op {
    Emit(u32),
    Request(u64),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            3 => any::<u32>().prop_map(Op::Emit),
            1 => (1u64..4).prop_map(Op::Request),
        ],
        0..60,
    )
}

proptest! {
    #[test]
    fn matches_reference_model(initial in 0u64..3, ops in ops()) {
        let tp = TestPublisher::new();
        let (h, stats, dropped) = setup(&tp, initial);
        let (mut demand, mut pending, mut delivered, mut lost) = (initial, None, Vec::new(), Vec::new());
        for op in &ops {
            match *op {
                Op::Emit(x) => {
                    tp.next(x);
                    if demand > 0 { demand -= 1; delivered.push(x) }
                    else if let Some(old) = pending.replace(x) { lost.push(old) }
                }
                Op::Request(n) => {
                    h.request(n);
                    demand += n;
                    if let Some(p) = pending.take() { demand -= 1; delivered.push(p) }
                }
            }
            prop_assert!(stats.snapshot().is_balanced());
        }
        tp.complete();
        prop_assert_eq!(h.items(), delivered);
        let got: Vec<u32> = dropped.lock().unwrap().iter().map(|d| d.0).collect();
        prop_assert_eq!(got, lost);
        prop_assert_eq!(h.is_complete(), pending.is_none());
        h.request(1);
        prop_assert!(h.is_complete());
        h.assert_no_protocol_violations();
    }
}
