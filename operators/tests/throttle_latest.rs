//! `throttle_latest`: checklist, virtual time, reference model, conformance.

mod rate_control;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use rate_control::*;
use spillway::operators::{DropReason, FlowStats};
use spillway::prelude::*;
use spillway_testkit::{tck, TestPublisherSource};

fn op(
    up: TestPublisherSource<u32, ()>,
    period: u64,
) -> (impl Publisher<Item = u32, Error = ()>, FlowStats) {
    let s = up.throttle_latest(ms(period)).unwrap();
    let stats = s.stats();
    (s, stats)
}

fn op10(up: TestPublisherSource<u32, ()>) -> (impl Publisher<Item = u32, Error = ()>, FlowStats) {
    op(up, 10)
}

/// The marble of the method doc, as a virtual-time scenario.
fn scenario_normal() -> (Vec<(u64, u32)>, FlowStats, bool) {
    let (vs, tp) = rig();
    let (s, stats) = op(tp.publisher(), 10);
    let h = subscribe(s, &vs, u64::MAX);
    vs.advance_to(ms(0));
    tp.next(1);
    vs.advance_to(ms(3));
    tp.next(2);
    vs.advance_to(ms(6));
    tp.next(3);
    vs.advance_to(ms(15));
    tp.next(4);
    vs.advance_to(ms(30));
    tp.next(5);
    vs.advance_to(ms(35));
    tp.complete();
    (timed_items(&h), stats, h.is_complete())
}

#[test]
fn normal() {
    let (items, stats, complete) = scenario_normal();
    assert_eq!(items, vec![(0, 1), (10, 3), (20, 4), (30, 5)]);
    assert!(complete);
    assert_eq!(stats.snapshot().dropped_for(DropReason::Throttled), 1);
    assert_balanced(&stats);
}

/// A timer that fires while downstream has no demand drops (and counts) the item
/// instead of emitting it.
#[test]
fn timer_without_demand_drops_and_counts() {
    let (vs, tp) = rig();
    let (s, stats) = op(tp.publisher(), 10);
    let h = subscribe(s, &vs, 1);
    tp.next(1); // leading: emitted at once
    tp.next(2); // pending
    vs.advance_by(ms(10)); // the window ends without demand
    assert_eq!(h.items(), vec![1]);
    assert_eq!(stats.snapshot().dropped_for(DropReason::NoDemand), 1);
    h.request(1);
    tp.next(3); // the window closed: emitted at once
    assert_eq!(timed_items(&h), vec![(0, 1), (10, 3)]);
    h.assert_no_protocol_violations();
    assert_balanced(&stats);
}

#[test]
fn backpressured() {
    // Starts at request(0): nothing is emitted, upstream is asked for unbounded demand.
    let (vs, tp) = rig();
    let (s, stats) = op(tp.publisher(), 10);
    let h = subscribe(s, &vs, 0);
    assert_eq!(tp.total_requested(), u64::MAX);
    for t in 0..50 {
        vs.advance_to(ms(t));
        tp.next(t as u32);
    }
    assert!(h.items().is_empty());
    assert_balanced(&stats);
}

#[test]
fn incremental_request() {
    let (vs, tp) = rig();
    let (s, stats) = op(tp.publisher(), 10);
    let h = subscribe(s, &vs, 0);
    let mut expected = 0;
    for round in 0..5u32 {
        h.request(1);
        tp.next(round);
        vs.advance_by(ms(25));
        expected += 1;
        assert_eq!(h.item_count(), expected);
    }
    assert_balanced(&stats);
}

#[test]
fn unbounded() {
    let (vs, tp) = rig();
    let (s, _stats) = op(tp.publisher(), 1);
    let h = subscribe(s, &vs, u64::MAX);
    for i in 0..100 {
        tp.next(i);
        vs.advance_by(ms(3));
    }
    assert_eq!(h.item_count(), 100);
}

#[test]
fn cancel_mid_stream() {
    check_cancel(op10);
}

#[test]
fn error_propagates() {
    check_error(op10);
}

#[test]
fn request_zero_is_invalid() {
    check_request_zero(op10, "throttle_latest");
}

#[test]
fn late_signals_dropped() {
    check_late_signals(op10);
}

#[test]
fn complete_flushes_pending_waiting_for_demand() {
    let (vs, tp) = rig();
    let (s, stats) = op(tp.publisher(), 10);
    let h = subscribe(s, &vs, 1);
    tp.next(1); // leading: emitted at once, uses the demand
    tp.next(2); // pending
    tp.complete();
    assert_eq!(vs.pending(), 0, "timers cancelled at completion");
    h.assert_not_terminated(); // the pending item waits for demand
    assert_eq!(stats.snapshot().buffered, 1);
    h.request(1);
    h.assert_items(&[1, 2]);
    h.assert_complete();
    assert_balanced(&stats);
}

#[test]
fn complete_without_flush_discards_pending() {
    let (vs, tp) = rig();
    let s = tp
        .publisher()
        .throttle_latest(ms(10))
        .unwrap()
        .flush_on_complete(false);
    let stats = s.stats();
    let h = subscribe(s, &vs, u64::MAX);
    tp.next(1);
    tp.next(2);
    tp.complete();
    h.assert_complete();
    assert_eq!(
        h.items().len(),
        usize::from("throttle_latest" == "throttle_latest")
    );
    assert_eq!(stats.snapshot().dropped_for(DropReason::Discarded), 1);
    assert_balanced(&stats);
}

#[test]
fn callback_panics_fail_the_pipeline() {
    let (vs, tp) = rig();
    let s = tp
        .publisher()
        .throttle_latest(ms(10))
        .unwrap()
        .on_drop(|_, _| panic!("boom"));
    let stats = s.stats();
    let h = subscribe(s, &vs, u64::MAX);
    tp.next(1);
    tp.next(2);
    tp.next(3); // at least one of these is throttled: on_drop panics
    h.assert_error_matches(|e| {
        matches!(
            e,
            spillway::Error::Panicked {
                stage: "throttle_latest",
                ..
            }
        )
    });
    tp.assert_cancelled();
    assert_eq!(vs.pending(), 0);
    vs.advance_by(ms(100));
    assert!(h.item_count() <= 1);
    assert_balanced(&stats);
}

#[test]
fn on_drop_sees_every_drop() {
    let (vs, tp) = rig();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let s = tp
        .publisher()
        .throttle_latest(ms(10))
        .unwrap()
        .on_drop(move |x, r| s2.lock().unwrap().push((x, r)));
    let stats = s.stats();
    let _h = subscribe(s, &vs, u64::MAX);
    for i in 0..5 {
        tp.next(i);
    }
    vs.advance_by(ms(100));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len() as u64, stats.snapshot().dropped());
    assert!(seen.iter().all(|(_, r)| *r == DropReason::Throttled));
}

#[test]
fn zero_period_is_a_config_error() {
    let err = range(0, 1).throttle_latest(Duration::ZERO).unwrap_err();
    assert_eq!(err.stage(), "throttle_latest");
}

#[test]
fn conformance() {
    // Lossy, and the leading item is not held: the suite runs with n = 0 or 1, the
    // element coming a little after subscription (a synchronous source would find the
    // probe without demand yet and the leading item would be dropped, as documented).
    let report = tck::verify_publisher(
        tck::publisher_factory(|n| {
            range(0, n)
                .delay_elements(Duration::from_millis(20))
                .unwrap()
                .throttle_latest(Duration::from_secs(3600))
                .unwrap()
        })
        .max_elements(1),
    );
    report.assert_all_passed();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// Random item timings and random request schedules against the reference model.
    #[test]
    fn matches_the_reference_model(sc in scenarios(), period in 1u64..40) {
        let (vs, tp) = rig();
        let (s, stats) = op(tp.publisher(), period);
        let got = run(s, stats, &vs, &tp, &sc);
        prop_assert_eq!(got, model(Model::ThrottleLatest, period, &sc));
    }
}
