//! `delay_elements`: lossless spacing, one item at a time.

mod rate_control;

use std::time::Duration;

use proptest::prelude::*;
use rate_control::*;
use spillway::operators::FlowStats;
use spillway::prelude::*;
use spillway_testkit::tck::TckConfig;
use spillway_testkit::{
    tck, TestPublisher, TestPublisherSource, TestSubscriber, Violation, VirtualScheduler,
};

fn op(
    up: TestPublisherSource<u32, ()>,
    period: u64,
) -> (impl Publisher<Item = u32, Error = ()>, FlowStats) {
    let s = up.delay_elements(ms(period)).unwrap();
    let stats = s.stats();
    (s, stats)
}

fn op10(up: TestPublisherSource<u32, ()>) -> (impl Publisher<Item = u32, Error = ()>, FlowStats) {
    op(up, 10)
}

/// The marble of the method doc: a producer that sends as soon as it is asked.
fn scenario_eager(n: u64, initial: u64) -> (Vec<(u64, u64)>, FlowStats, bool) {
    let vs = VirtualScheduler::new();
    let (sub, h) =
        TestSubscriber::<u64, std::convert::Infallible>::with_scheduler(initial, vs.clone());
    let s = range(0, n).delay_elements(ms(10)).unwrap();
    let stats = s.stats();
    s.subscribe(sub);
    vs.run_until_idle().unwrap();
    let items = h
        .events()
        .into_iter()
        .filter_map(|e| e.signal.as_next().map(|x| (e.at.as_millis() as u64, *x)))
        .collect();
    (items, stats, h.is_complete())
}

#[test]
fn normal() {
    let (items, stats, complete) = scenario_eager(3, u64::MAX);
    assert_eq!(items, vec![(10, 0), (20, 1), (30, 2)]);
    assert!(complete);
    assert_eq!(stats.snapshot().dropped(), 0);
    assert_balanced(&stats);
}

#[test]
fn backpressured_requests_nothing_without_demand() {
    let (vs, tp) = rig();
    let (s, _stats) = op(tp.publisher(), 10);
    let h = subscribe(s, &vs, 0);
    assert_eq!(tp.total_requested(), 0);
    h.request(3);
    assert_eq!(tp.total_requested(), 1, "one at a time");
    tp.next(1);
    assert_eq!(tp.total_requested(), 1);
    vs.advance_by(ms(10));
    assert_eq!(timed_items(&h), vec![(10, 1)]);
    assert_eq!(tp.total_requested(), 2, "the next once the previous is out");
}

#[test]
fn incremental_request() {
    let (items, _stats, complete) = scenario_eager(3, 1);
    assert_eq!(items, vec![(10, 0)]);
    assert!(!complete);
}

#[test]
fn unbounded() {
    let (items, _stats, complete) = scenario_eager(100, u64::MAX);
    assert_eq!(items.len(), 100);
    assert!(items.windows(2).all(|w| w[1].0 - w[0].0 == 10));
    assert!(complete);
}

#[test]
fn cancel_mid_stream() {
    check_cancel(op10);
}

#[test]
fn error_waits_for_the_delayed_item() {
    let (vs, tp) = rig();
    let (s, stats) = op(tp.publisher(), 10);
    let h = subscribe(s, &vs, u64::MAX);
    tp.next(1);
    tp.error(());
    h.assert_not_terminated();
    vs.advance_by(ms(10));
    h.assert_items(&[1]);
    h.assert_error_matches(|e| *e == spillway::Error::User(()));
    assert_balanced(&stats);
}

#[test]
fn error_propagates() {
    check_error(op10);
}

#[test]
fn completion_after_the_delayed_item_and_empty_completion_not_delayed() {
    let (vs, tp) = rig();
    let (s, _stats) = op(tp.publisher(), 10);
    let h = subscribe(s, &vs, u64::MAX);
    tp.next(1);
    tp.complete();
    h.assert_not_terminated();
    vs.advance_by(ms(10));
    h.assert_items(&[1]);
    h.assert_complete();

    let (vs, tp) = rig();
    let (s, _stats) = op(tp.publisher(), 10);
    let h = subscribe(s, &vs, u64::MAX);
    tp.complete();
    h.assert_complete();
    assert_eq!(vs.elapsed(), Duration::ZERO);
}

#[test]
fn request_zero_is_invalid() {
    check_request_zero(op10, "delay_elements");
}

#[test]
fn late_signals_dropped() {
    check_late_signals(op10);
}

#[test]
fn callback_panics_fail_the_pipeline() {
    // delay_elements calls no user code on items; its on_drop only runs on cancel or
    // failure. A panic there (on a protocol violation) still fails the pipeline once.
    let vs = VirtualScheduler::new();
    let tp = TestPublisher::<u32, ()>::non_compliant(&[Violation::EmitWithoutDemand])
        .with_scheduler(vs.clone());
    let s = tp
        .publisher()
        .delay_elements(ms(10))
        .unwrap()
        .on_drop(|_, _| panic!("boom"));
    let stats = s.stats();
    let h = subscribe(s, &vs, 1);
    tp.next(1);
    tp.next(2);
    h.assert_error_matches(|e| {
        matches!(
            e,
            spillway::Error::ProtocolViolation { .. } | spillway::Error::Panicked { .. }
        )
    });
    assert_eq!(vs.pending(), 0);
    assert_balanced(&stats);
}

#[test]
fn non_compliant_upstream_is_a_protocol_violation() {
    let vs = VirtualScheduler::new();
    let tp = TestPublisher::<u32, ()>::non_compliant(&[Violation::EmitWithoutDemand])
        .with_scheduler(vs.clone());
    let (s, stats) = op(tp.publisher(), 10);
    let h = subscribe(s, &vs, 5);
    tp.next(1); // requested
    tp.next(2); // only one was requested
    h.assert_error_matches(|e| {
        matches!(
            e,
            spillway::Error::ProtocolViolation {
                stage: "delay_elements",
                ..
            }
        )
    });
    tp.assert_cancelled();
    assert!(h.items().is_empty());
    assert_eq!(
        stats
            .snapshot()
            .dropped_for(spillway::operators::DropReason::Discarded),
        2
    );
    assert_balanced(&stats);
}

#[test]
fn zero_period_is_a_config_error() {
    assert_eq!(
        range(0, 1)
            .delay_elements(Duration::ZERO)
            .unwrap_err()
            .stage(),
        "delay_elements"
    );
}

#[test]
fn conformance() {
    let report = tck::verify_publisher_with(
        tck::publisher_factory(|n| {
            range(0, n)
                .delay_elements(Duration::from_micros(10))
                .unwrap()
        })
        .max_elements(200),
        TckConfig::default()
            .cannot_fail(
                "no failing form here; every operator's is checked in conformance_every_operator",
            )
            // Real time: a shorter long run keeps the suite quick.
            .long_run(80),
    );
    report.assert_all_passed();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// Random request schedules and random producer timings against the reference model:
    /// item k is requested when k-1 is out and demand remains, sent by the producer at
    /// max(request time, its ready time), and emitted `period` later.
    #[test]
    fn matches_the_reference_model(
        ready in proptest::collection::vec(0u64..100, 1..12),
        requests in proptest::collection::vec((0u64..150, 1u64..4), 1..10),
        period in 1u64..20,
    ) {
        let mut ready = ready;
        ready.sort();
        let mut requests = requests;
        requests.sort();
        let (vs, tp) = rig();
        let (s, stats) = op(tp.publisher(), period);
        let h = subscribe(s, &vs, 0);
        // Drive: at each instant of interest, send the next ready item if it is asked for.
        let mut sent = 0usize;
        let mut ri = 0usize;
        let horizon = 400u64;
        for t in 0..=horizon {
            vs.advance_to(ms(t));
            while ri < requests.len() && requests[ri].0 == t {
                h.request(requests[ri].1);
                ri += 1;
            }
            while sent < ready.len() && ready[sent] <= t && tp.outstanding() > 0 {
                tp.next(sent as u32);
                sent += 1;
            }
        }
        // The model.
        let mut expected = Vec::new();
        let mut demand = 0u64;
        let mut ri = 0usize;
        let mut busy_until: Option<u64> = None; // an item is in the operator
        let mut requested_at: Option<u64> = None;
        let mut k = 0usize;
        for t in 0..=horizon {
            if busy_until == Some(t) {
                expected.push((t, (k - 1) as u32));
                demand -= 1;
                busy_until = None;
            }
            while ri < requests.len() && requests[ri].0 == t {
                demand += requests[ri].1;
                ri += 1;
            }
            if busy_until.is_none() && requested_at.is_none() && demand > 0 && k < ready.len() {
                requested_at = Some(t);
            }
            if requested_at.is_some() && ready[k] <= t {
                busy_until = Some(t + period);
                requested_at = None;
                k += 1;
            }
        }
        prop_assert_eq!(timed_items(&h), expected);
        prop_assert!(h.violations().is_empty());
        assert_balanced(&stats);
    }
}
