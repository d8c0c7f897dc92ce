//! `debounce`: checklist, virtual time, reference model (conformance, with
//! its timer running in real time, is in `conformance_every_operator.rs`).

mod rate_control;

use std::time::Duration;

use proptest::prelude::*;
use rate_control::*;
use spillway::operators::DropReason;
use spillway::prelude::*;

operator_under_test!(Debounce, debounce);

/// The marble of the method doc, as a virtual-time scenario.
#[test]
fn normal() {
    let timeline = [(0, 1), (5, 2), (20, 3), (40, 4)];
    let (items, stats, complete) = run_timeline(op10, &timeline, 45);
    assert_eq!(items, vec![(15, 2), (30, 3), (45, 4)]);
    assert!(complete);
    assert_eq!(stats.snapshot().dropped_for(DropReason::Throttled), 1);
}

/// A timer that fires while downstream has no demand drops (and counts) the item
/// instead of emitting it.
#[test]
fn timer_without_demand_drops_and_counts() {
    check_trailing_timer_without_demand(op10);
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
    check_request_zero(op10, "debounce");
}

#[test]
fn late_signals_dropped() {
    check_late_signals(op10);
}

#[test]
fn complete_flushes_pending_waiting_for_demand() {
    check_complete_flushes_pending(op10, 0, &[2]);
}

#[test]
fn complete_without_flush_discards_pending() {
    check_complete_without_flush(|up| op_with(up, 10, |s| s.flush_on_complete(false)), 0);
}

#[test]
fn callback_panics_fail_the_pipeline() {
    check_on_drop_panic_fails(
        |up| op_with(up, 10, |s| s.on_drop(|_, _| panic!("boom"))),
        "debounce",
    );
}

#[test]
fn on_drop_sees_every_drop() {
    check_on_drop_sees_every_throttled(|up, record| op_with(up, 10, |s| s.on_drop(record)));
}

#[test]
fn zero_period_is_a_config_error() {
    let err = range(0, 1).debounce(Duration::ZERO).unwrap_err();
    assert_eq!(err.stage(), "debounce");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// Random item timings and random request schedules against the reference model.
    #[test]
    fn matches_the_reference_model(sc in scenarios(), period in 1u64..40) {
        let (vs, tp) = rig();
        check_against_model(op(tp.publisher(), period), &vs, &tp, Model::Debounce, period, &sc)?;
    }
}
