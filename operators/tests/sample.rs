//! `sample`: checklist, virtual time, reference model, conformance.

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
    let s = up.sample(ms(period)).unwrap();
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
    vs.advance_to(ms(12));
    tp.next(3);
    vs.advance_to(ms(15));
    tp.next(4);
    vs.advance_to(ms(33));
    tp.next(5);
    vs.advance_to(ms(35));
    tp.complete();
    (timed_items(&h), stats, h.is_complete())
}

#[test]
fn normal() {
    let (items, stats, complete) = scenario_normal();
    assert_eq!(items, vec![(10, 2), (20, 4), (35, 5)]);
    assert!(complete);
    assert_eq!(stats.snapshot().dropped_for(DropReason::Throttled), 2);
    assert_balanced(&stats);
}

/// A timer that fires while downstream has no demand drops (and counts) the item
/// instead of emitting it.
#[test]
fn timer_without_demand_drops_and_counts() {
    let (vs, tp) = rig();
    let (s, stats) = op(tp.publisher(), 10);
    let h = subscribe(s, &vs, 0);
    tp.next(1);
    vs.advance_by(ms(10)); // the tick finds no demand
    assert!(h.items().is_empty());
    assert_eq!(stats.snapshot().dropped_for(DropReason::NoDemand), 1);
    h.request(1);
    tp.next(2);
    vs.advance_by(ms(10));
    assert_eq!(timed_items(&h), vec![(20, 2)]);
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
    check_request_zero(op10, "sample");
}

#[test]
fn late_signals_dropped() {
    check_late_signals(op10);
}

#[test]
fn complete_flushes_pending_waiting_for_demand() {
    let (vs, tp) = rig();
    let (s, stats) = op(tp.publisher(), 10);
    let h = subscribe(s, &vs, 0);
    tp.next(1);
    tp.next(2);
    tp.complete();
    assert_eq!(vs.pending(), 0, "timers cancelled at completion");
    h.assert_not_terminated(); // the pending item waits for demand
    assert_eq!(stats.snapshot().buffered, 1);
    h.request(1);
    h.assert_items(&[2]);
    h.assert_complete();
    assert_balanced(&stats);
}

#[test]
fn complete_without_flush_discards_pending() {
    let (vs, tp) = rig();
    let s = tp
        .publisher()
        .sample(ms(10))
        .unwrap()
        .flush_on_complete(false);
    let stats = s.stats();
    let h = subscribe(s, &vs, u64::MAX);
    tp.next(1);
    tp.next(2);
    tp.complete();
    h.assert_complete();
    assert_eq!(h.items().len(), usize::from("sample" == "throttle_latest"));
    assert_eq!(stats.snapshot().dropped_for(DropReason::Discarded), 1);
    assert_balanced(&stats);
}

#[test]
fn callback_panics_fail_the_pipeline() {
    let (vs, tp) = rig();
    let s = tp
        .publisher()
        .sample(ms(10))
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
                stage: "sample",
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
        .sample(ms(10))
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
    let err = range(0, 1).sample(Duration::ZERO).unwrap_err();
    assert_eq!(err.stage(), "sample");
}

#[test]
fn conformance() {
    // Lossy: n items arriving at once leave at most one; the pending one is flushed at
    // completion (waiting for demand), so the suite runs with n = 0 or 1.
    let report = tck::verify_publisher(
        tck::publisher_factory(|n| range(0, n).sample(Duration::from_secs(3600)).unwrap())
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
        prop_assert_eq!(got, model(Model::Sample, period, &sc));
    }
}

/// Headline: hourly sampling of a per-minute source over a simulated day, on virtual time.
#[test]
fn one_hour_sample_over_a_simulated_day() {
    let started = std::time::Instant::now();
    let vs = spillway_testkit::VirtualScheduler::new();
    let (sub, h) =
        spillway_testkit::TestSubscriber::<u64, std::convert::Infallible>::with_scheduler(
            u64::MAX,
            vs.clone(),
        );
    // Ticks at 30 s, 90 s, 150 s, ... (never on the hour), one a minute.
    let minutes = interval(Duration::from_secs(60))
        .unwrap()
        .first_after(Duration::from_secs(30));
    let s = minutes.sample(Duration::from_secs(3600)).unwrap();
    let stats = s.stats();
    s.subscribe(sub);
    vs.advance_by(Duration::from_secs(24 * 3600));
    let items: Vec<(Duration, u64)> = h
        .events()
        .into_iter()
        .filter_map(|e| e.signal.as_next().map(|x| (e.at, *x)))
        .collect();
    // Hour h ends at h * 3600 s; its latest tick is number 60h - 1 (at h * 3600 - 30 s).
    let expected: Vec<(Duration, u64)> = (1..=24)
        .map(|hr| (Duration::from_secs(hr * 3600), hr * 60 - 1))
        .collect();
    assert_eq!(items, expected);
    assert_eq!(
        stats.snapshot().dropped_for(DropReason::Throttled),
        24 * 60 - 24
    );
    assert_balanced(&stats);
    h.cancel();
    assert_eq!(vs.pending(), 0);
    assert!(started.elapsed() < Duration::from_secs(5));
}
