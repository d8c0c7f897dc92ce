//! `throttle_latest`: checklist, virtual time, reference model (conformance, with
//! its timer running in real time, is in `conformance_every_operator.rs`).

mod rate_control;

use std::time::Duration;

use proptest::prelude::*;
use rate_control::*;
use spillway::operators::DropReason;
use spillway::prelude::*;

operator_under_test!(ThrottleLatest, throttle_latest);

/// The marble of the method doc, as a virtual-time scenario.
#[test]
fn normal() {
    let timeline = [(0, 1), (3, 2), (6, 3), (15, 4), (30, 5)];
    let (items, stats, complete) = run_timeline(op10, &timeline, 35);
    assert_eq!(items, vec![(0, 1), (10, 3), (20, 4), (30, 5)]);
    assert!(complete);
    assert_eq!(stats.snapshot().dropped_for(DropReason::Throttled), 1);
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
    check_backpressured(op10);
}

#[test]
fn incremental_request() {
    check_incremental_request(op10);
}

#[test]
fn unbounded() {
    check_unbounded(|up| op(up, 1), ms(3));
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
    // The leading item 1 is emitted at once and uses the demand; 2 is pending.
    check_complete_flushes_pending(op10, 1, &[1, 2]);
}

#[test]
fn complete_without_flush_discards_pending() {
    // The leading item 1 is emitted at once; the pending 2 is discarded.
    check_complete_without_flush(|up| op_with(up, 10, |s| s.flush_on_complete(false)), 1);
}

#[test]
fn callback_panics_fail_the_pipeline() {
    check_on_drop_panic_fails(
        |up| op_with(up, 10, |s| s.on_drop(|_, _| panic!("boom"))),
        "throttle_latest",
    );
}

#[test]
fn on_drop_sees_every_drop() {
    check_on_drop_sees_every_throttled(|up, record| op_with(up, 10, |s| s.on_drop(record)));
}

#[test]
fn zero_period_is_a_config_error() {
    let err = range(0, 1).throttle_latest(Duration::ZERO).unwrap_err();
    assert_eq!(err.stage(), "throttle_latest");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// Random item timings and random request schedules against the reference model.
    #[test]
    fn matches_the_reference_model(sc in scenarios(), period in 1u64..40) {
        let (vs, tp) = rig();
        let model = Model::ThrottleLatest;
        check_against_model(op(tp.publisher(), period), &vs, &tp, model, period, &sc)?;
    }
}
