//! `sample_first`: checklist, virtual time, reference model (conformance, with
//! its timer running in real time, is in `conformance_every_operator.rs`).

mod rate_control;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use rate_control::*;
use spillway::operators::DropReason;
use spillway::prelude::*;

operator_under_test!(SampleFirst, sample_first);

#[test]
fn normal() {
    let (vs, tp) = rig();
    let (s, stats) = op(tp.publisher(), 10);
    let h = subscribe(s, &vs, u64::MAX);
    for t in 0..25 {
        vs.advance_to(ms(t));
        tp.next(t as u32);
    }
    tp.complete();
    assert_eq!(timed_items(&h), vec![(0, 0), (10, 10), (20, 20)]);
    h.assert_complete();
    let snap = stats.snapshot();
    assert_eq!(snap.dropped_for(DropReason::Throttled), 22);
    assert_balanced(&stats);
}

#[test]
fn backpressured_leading_item_without_demand_is_dropped_and_opens_no_window() {
    let (vs, tp) = rig();
    let (s, stats) = op(tp.publisher(), 10);
    let h = subscribe(s, &vs, 0);
    tp.next(1); // no demand: NoDemand, no window
    h.request(1);
    vs.advance_by(ms(1));
    tp.next(2); // passes: no window was opened by 1
    tp.next(3); // inside 2's window
    assert_eq!(h.items(), vec![2]);
    let snap = stats.snapshot();
    assert_eq!(snap.dropped_for(DropReason::NoDemand), 1);
    assert_eq!(snap.dropped_for(DropReason::Throttled), 1);
    assert_eq!(
        tp.total_requested(),
        u64::MAX,
        "requests unbounded upstream"
    );
}

#[test]
fn incremental_request() {
    let (vs, tp) = rig();
    let (s, _stats) = op(tp.publisher(), 10);
    let h = subscribe(s, &vs, 1);
    tp.next(1);
    vs.advance_by(ms(10));
    tp.next(2); // window open again, but no demand
    h.request(1);
    vs.advance_by(ms(1));
    tp.next(3);
    assert_eq!(h.items(), vec![1, 3]);
}

#[test]
fn unbounded() {
    check_unbounded(|up| op(up, 1), ms(1));
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
fn completion_passes_through_at_once() {
    let (vs, tp) = rig();
    let (s, _stats) = op(tp.publisher(), 10);
    let h = subscribe(s, &vs, 0); // no demand needed: nothing is ever held
    tp.next(1);
    tp.complete();
    h.assert_complete();
    assert_eq!(vs.pending(), 0);
}

#[test]
fn request_zero_is_invalid() {
    check_request_zero(op10, "sample_first");
}

#[test]
fn late_signals_dropped() {
    check_late_signals(op10);
}

#[test]
fn callback_panics_fail_the_pipeline() {
    let (vs, tp) = rig();
    let (s, stats) = op_with(tp.publisher(), 10, |s| s.on_drop(|_, _| panic!("boom")));
    let h = subscribe(s, &vs, u64::MAX);
    tp.next(1);
    tp.next(2); // throttled: on_drop panics
    h.assert_items(&[1]);
    h.assert_error_matches(|e| matches!(e, spillway::Error::Panicked { stage: "sample_first", message } if message == "boom"));
    tp.assert_cancelled();
    tp.next(3); // ignored after cancel
    assert_balanced(&stats);
}

#[test]
fn on_drop_sees_every_drop_with_its_reason() {
    let (vs, tp) = rig();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let (s, _stats) = op_with(tp.publisher(), 10, |s| {
        s.on_drop(move |x, r| s2.lock().unwrap().push((x, r)))
    });
    let h = subscribe(s, &vs, 0);
    tp.next(1);
    h.request(1);
    tp.next(2);
    tp.next(3);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(1, DropReason::NoDemand), (3, DropReason::Throttled)]
    );
}

#[test]
fn zero_period_is_a_config_error() {
    let err = range(0, 1).sample_first(Duration::ZERO).unwrap_err();
    assert_eq!(err.stage(), "sample_first");
}

#[test]
fn pinned_scheduler_wins_over_the_context() {
    let (vs, tp) = rig();
    let pinned = spillway_testkit::VirtualScheduler::new();
    let s = tp
        .publisher()
        .sample_first(ms(10))
        .unwrap()
        .on(pinned.clone());
    let h = subscribe(s, &vs, u64::MAX);
    tp.next(1);
    vs.advance_by(ms(20)); // the context's clock: irrelevant
    tp.next(2);
    pinned.advance_by(ms(10));
    tp.next(3);
    assert_eq!(h.items(), vec![1, 3]);
}

/// The headline case: a one-hour throttle over a simulated day, on virtual time.
#[test]
fn one_hour_throttle_over_a_simulated_day() {
    // One event a minute, for a day; at most one per hour gets through.
    let (items, stats) = run_over_a_simulated_day(Duration::from_secs(60), |minutes| {
        let s = minutes.sample_first(Duration::from_secs(3600)).unwrap();
        let stats = s.stats();
        (s, stats)
    });
    // Ticks come at 1 min, 2 min, ...; tick k (at k+1 minutes) passes every 60 ticks.
    let expected: Vec<(Duration, u64)> = (0..24)
        .map(|hr| (Duration::from_secs(60 + hr * 3600), hr * 60))
        .collect();
    assert_eq!(items, expected);
    let snap = stats.snapshot();
    assert_eq!(snap.received, 24 * 60);
    assert_eq!(snap.dropped_for(DropReason::Throttled), 24 * 60 - 24);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn matches_the_reference_model(sc in scenarios(), period in 1u64..40) {
        let (vs, tp) = rig();
        let model = Model::SampleFirst;
        let got = check_against_model(op(tp.publisher(), period), &vs, &tp, model, period, &sc)?;
        prop_assert_eq!(got.discarded, 0);
    }
}

#[test]
fn counts_are_visible_while_running() {
    let (vs, tp) = rig();
    let (s, stats) = op(tp.publisher(), 10);
    let count = Arc::new(AtomicU64::new(0));
    let _h = subscribe(s, &vs, u64::MAX);
    for i in 0..5 {
        tp.next(i);
        count.fetch_add(1, Ordering::Relaxed);
    }
    let snap = stats.snapshot();
    assert_eq!((snap.received, snap.emitted, snap.dropped()), (5, 1, 4));
}
