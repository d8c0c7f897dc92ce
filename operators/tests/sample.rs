//! `sample`: checklist, virtual time, reference model (conformance, with
//! its timer running in real time, is in `conformance_every_operator.rs`).

mod rate_control;

use std::time::Duration;

use proptest::prelude::*;
use rate_control::*;
use spillway::operators::DropReason;
use spillway::prelude::*;

operator_under_test!(Sample, sample);

/// The marble of the method doc, as a virtual-time scenario.
#[test]
fn normal() {
    let timeline = [(0, 1), (3, 2), (12, 3), (15, 4), (33, 5)];
    let (items, stats, complete) = run_timeline(op10, &timeline, 35);
    assert_eq!(items, vec![(10, 2), (20, 4), (35, 5)]);
    assert!(complete);
    assert_eq!(stats.snapshot().dropped_for(DropReason::Throttled), 2);
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
    check_request_zero(op10, "sample");
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
        "sample",
    );
}

#[test]
fn on_drop_sees_every_drop() {
    check_on_drop_sees_every_throttled(|up, record| op_with(up, 10, |s| s.on_drop(record)));
}

#[test]
fn zero_period_is_a_config_error() {
    let err = range(0, 1).sample(Duration::ZERO).unwrap_err();
    assert_eq!(err.stage(), "sample");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// Random item timings and random request schedules against the reference model.
    #[test]
    fn matches_the_reference_model(sc in scenarios(), period in 1u64..40) {
        let (vs, tp) = rig();
        check_against_model(op(tp.publisher(), period), &vs, &tp, Model::Sample, period, &sc)?;
    }
}

/// Headline: hourly sampling of a per-minute source over a simulated day, on virtual time.
#[test]
fn one_hour_sample_over_a_simulated_day() {
    // Ticks at 30 s, 90 s, 150 s, ... (never on the hour), one a minute.
    let (items, stats) = run_over_a_simulated_day(Duration::from_secs(30), |minutes| {
        let s = minutes.sample(Duration::from_secs(3600)).unwrap();
        let stats = s.stats();
        (s, stats)
    });
    // Hour h ends at h * 3600 s; its latest tick is number 60h - 1 (at h * 3600 - 30 s).
    let expected: Vec<(Duration, u64)> = (1..=24)
        .map(|hr| (Duration::from_secs(hr * 3600), hr * 60 - 1))
        .collect();
    assert_eq!(items, expected);
    assert_eq!(
        stats.snapshot().dropped_for(DropReason::Throttled),
        24 * 60 - 24
    );
}
