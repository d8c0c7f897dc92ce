//! `circuit_breaker` and `CircuitBreaker`: stop when the system is overwhelmed.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use spillway::operators::{
    BreakerConfig, BreakerMode, BreakerState, CircuitBreaker, DropReason, FlowStats,
};
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::{self, Either, TckConfig};
use spillway_testkit::{
    TestPublisher, TestSubscriber, TestSubscriberHandle, Violation, VirtualScheduler,
};

type H = TestSubscriberHandle<u32, ()>;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn config() -> BreakerConfig {
    BreakerConfig {
        failure_threshold: 3,
        window: ms(100),
        open_for: ms(50),
        half_open_trials: 2,
    }
}

fn breaker(vs: &Arc<VirtualScheduler>) -> CircuitBreaker {
    CircuitBreaker::new(config()).unwrap().on(vs.clone())
}

fn rig(
    b: &CircuitBreaker,
    mode: BreakerMode,
    vs: &Arc<VirtualScheduler>,
    initial: u64,
) -> (TestPublisher<u32, ()>, H, FlowStats) {
    rig_with(TestPublisher::new(), b, mode, vs, initial)
}

fn rig_with(
    tp: TestPublisher<u32, ()>,
    b: &CircuitBreaker,
    mode: BreakerMode,
    vs: &Arc<VirtualScheduler>,
    initial: u64,
) -> (TestPublisher<u32, ()>, H, FlowStats) {
    let op = tp.publisher().circuit_breaker(b, mode);
    let stats = op.stats();
    let (sub, h) = TestSubscriber::with_scheduler(initial, vs.clone());
    op.subscribe(sub);
    (tp, h, stats)
}

#[track_caller]
fn balanced(stats: &FlowStats) {
    let s = stats.snapshot();
    assert!(s.is_balanced(), "unbalanced: {s}");
}

#[test]
fn bad_config_is_rejected() {
    for c in [
        BreakerConfig {
            failure_threshold: 0,
            ..config()
        },
        BreakerConfig {
            half_open_trials: 0,
            ..config()
        },
        BreakerConfig {
            window: Duration::ZERO,
            ..config()
        },
        BreakerConfig {
            open_for: Duration::ZERO,
            ..config()
        },
    ] {
        assert_eq!(
            CircuitBreaker::new(c).unwrap_err().stage(),
            "circuit_breaker"
        );
    }
}

#[test]
fn normal_closed_is_a_pass_through() {
    let vs = VirtualScheduler::new();
    let b = breaker(&vs);
    let (sub, h) = TestSubscriber::<u64, Infallible>::with_scheduler(u64::MAX, vs.clone());
    range(0, 10)
        .circuit_breaker(&b, BreakerMode::Fail)
        .subscribe(sub);
    h.assert_item_count(10);
    h.assert_complete();
    assert_eq!(b.stats().passed, 10);
}

#[test]
fn backpressured_forwards_demand_one_to_one() {
    let vs = VirtualScheduler::new();
    let b = breaker(&vs);
    let (tp, h, stats) = rig(&b, BreakerMode::Shed, &vs, 0);
    assert_eq!(tp.total_requested(), 0);
    h.request(2);
    assert_eq!(tp.total_requested(), 2);
    tp.next(1);
    h.request(1);
    assert_eq!(tp.total_requested(), 3, "incremental");
    h.assert_items(&[1]);
    balanced(&stats);
}

#[test]
fn failures_in_the_window_open_it_and_it_sheds() {
    let vs = VirtualScheduler::new();
    let b = breaker(&vs);
    let changes = Arc::new(Mutex::new(Vec::new()));
    let c2 = changes.clone();
    b.on_state_change(move |from, to| c2.lock().unwrap().push((from, to)));
    let (tp, h, stats) = rig(&b, BreakerMode::Shed, &vs, 5);
    b.record_failure();
    vs.advance_by(ms(100)); // the first failure leaves the window
    b.record_failure();
    b.record_failure();
    assert_eq!(b.state(), BreakerState::Closed, "only 2 in the window");
    b.record_failure();
    assert_eq!(b.state(), BreakerState::Open);
    tp.next(1);
    tp.next(2);
    h.assert_item_count(0);
    assert_eq!(
        tp.total_requested(),
        7,
        "each shed item is replaced by a request"
    );
    let s = stats.snapshot();
    assert_eq!(s.dropped_for(DropReason::Shed), 2);
    balanced(&stats);
    // Cooldown on virtual time: half-open after 50 ms, two trials, then shed again.
    vs.advance_by(ms(49));
    assert_eq!(b.state(), BreakerState::Open);
    vs.advance_by(ms(1));
    assert_eq!(b.state(), BreakerState::HalfOpen);
    tp.next(3);
    tp.next(4);
    tp.next(5);
    h.assert_items(&[3, 4]);
    b.record_success();
    b.record_success();
    assert_eq!(b.state(), BreakerState::Closed);
    tp.next(6);
    h.assert_items(&[3, 4, 6]);
    assert_eq!(
        *changes.lock().unwrap(),
        vec![
            (BreakerState::Closed, BreakerState::Open),
            (BreakerState::Open, BreakerState::HalfOpen),
            (BreakerState::HalfOpen, BreakerState::Closed),
        ]
    );
    balanced(&stats);
}

#[test]
fn a_failed_trial_reopens_it() {
    let vs = VirtualScheduler::new();
    let b = breaker(&vs);
    b.trip();
    vs.advance_by(ms(50));
    assert_eq!(b.state(), BreakerState::HalfOpen);
    b.record_failure();
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(b.stats().times_opened, 2);
    vs.advance_by(ms(50));
    assert_eq!(b.state(), BreakerState::HalfOpen);
    b.reset();
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn fail_mode_rejects_with_an_error_and_cancels_upstream() {
    let vs = VirtualScheduler::new();
    let b = breaker(&vs);
    let (tp, h, stats) = rig(&b, BreakerMode::Fail, &vs, 5);
    tp.next(1);
    b.trip();
    tp.next(2);
    h.assert_items(&[1]);
    h.assert_error_matches(|e| {
        *e == Error::Rejected {
            stage: "circuit_breaker",
            reason: "circuit open",
        }
    });
    tp.assert_cancelled();
    assert_eq!(stats.snapshot().dropped_for(DropReason::Shed), 1);
    balanced(&stats);
}

#[test]
fn pressure_trips_it_and_a_calm_trial_closes_it() {
    let vs = VirtualScheduler::new();
    let b = breaker(&vs);
    let buffer = FlowStats::new(10);
    b.trip_on_pressure(buffer.clone(), 0.8);
    let (tp, h, _) = rig(&b, BreakerMode::Shed, &vs, 10);
    tp.next(1);
    buffer.set_buffered(9);
    tp.next(2);
    assert_eq!(b.state(), BreakerState::Open);
    buffer.set_buffered(1);
    vs.advance_by(ms(50));
    tp.next(3);
    tp.next(4);
    assert_eq!(b.state(), BreakerState::Closed, "two calm trials");
    h.assert_items(&[1, 3, 4]);
}

#[test]
fn unbounded_demand_needs_no_replacement_requests() {
    let vs = VirtualScheduler::new();
    let b = breaker(&vs);
    b.trip();
    let (tp, _h, stats) = rig(&b, BreakerMode::Shed, &vs, u64::MAX);
    tp.next(1);
    assert_eq!(tp.total_requested(), u64::MAX);
    balanced(&stats);
}

#[test]
fn cancel_mid_stream_reaches_upstream() {
    let vs = VirtualScheduler::new();
    let b = breaker(&vs);
    let (tp, h, _) = rig(&b, BreakerMode::Shed, &vs, 5);
    tp.next(1);
    h.cancel();
    tp.assert_cancelled();
}

#[test]
fn error_and_completion_pass_through() {
    let vs = VirtualScheduler::new();
    let b = breaker(&vs);
    let (tp, h, _) = rig(&b, BreakerMode::Shed, &vs, 5);
    tp.error(());
    h.assert_error_matches(|e| matches!(e, Error::User(())));
    let (tp, h, _) = rig(&b, BreakerMode::Shed, &vs, 5);
    b.trip();
    tp.complete();
    h.assert_complete(); // nothing held, nothing to flush
}

#[test]
fn callback_panics_fail_the_pipeline() {
    let vs = VirtualScheduler::new();
    let b = breaker(&vs);
    b.on_state_change(|_, _| panic!("listener"));
    let b2 = breaker(&vs);
    // A panicking listener on a transition caused by an item (pressure trip).
    let buffer = FlowStats::new(1);
    buffer.set_buffered(1);
    b.trip_on_pressure(buffer, 0.5);
    let (tp, h, stats) = rig(&b, BreakerMode::Shed, &vs, 5);
    tp.next(1);
    h.assert_error_matches(|e| {
        matches!(
            e,
            Error::Panicked {
                stage: "circuit_breaker",
                ..
            }
        )
    });
    tp.assert_cancelled();
    balanced(&stats);
    // A panicking on_drop.
    b2.trip();
    let tp2 = TestPublisher::<u32, ()>::new();
    let (sub, h2) = TestSubscriber::with_scheduler(5, vs.clone());
    tp2.publisher()
        .circuit_breaker(&b2, BreakerMode::Shed)
        .on_drop(|_, _| panic!("drop"))
        .subscribe(sub);
    tp2.next(1);
    h2.assert_error_matches(|e| matches!(e, Error::Panicked { .. }));
    tp2.assert_cancelled();
}

#[test]
fn late_signals_after_terminal_are_dropped() {
    let vs = VirtualScheduler::new();
    let b = breaker(&vs);
    let tp = TestPublisher::<u32, ()>::non_compliant(&[
        Violation::EmitAfterTerminate,
        Violation::TerminateTwice,
    ]);
    let (tp, h, stats) = rig_with(tp, &b, BreakerMode::Shed, &vs, 5);
    tp.complete();
    tp.next(1);
    tp.complete();
    h.assert_complete();
    h.assert_item_count(0);
    h.assert_no_protocol_violations();
    balanced(&stats);
}

#[test]
fn non_compliant_upstream_is_passed_through_unchanged() {
    // A pass-through: it forwards what upstream sends; the excess is downstream's
    // protocol violation to see (as with map/filter).
    let vs = VirtualScheduler::new();
    let b = breaker(&vs);
    b.trip();
    let tp = TestPublisher::<u32, ()>::non_compliant(&[Violation::EmitWithoutDemand]);
    let (tp, h, stats) = rig_with(tp, &b, BreakerMode::Shed, &vs, 0);
    tp.next(1);
    h.assert_item_count(0);
    assert_eq!(stats.snapshot().dropped_for(DropReason::Shed), 1);
    balanced(&stats);
}

#[test]
fn conformance() {
    let b = CircuitBreaker::new(BreakerConfig::default()).unwrap();
    let factory =
        tck::publisher_factory(move |n| range(0, n).circuit_breaker(&b, BreakerMode::Fail))
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
    let b = CircuitBreaker::new(BreakerConfig::default()).unwrap();
    let b2 = b.clone();
    let factory = tck::publisher_factory(move |n| {
        Either::Left(
            range(0, n)
                .map_error(|_: Infallible| "x".to_string())
                .circuit_breaker(&b, BreakerMode::Shed),
        )
    })
    .failed(move || {
        Either::Right(error::<u64, String>("boom".into()).circuit_breaker(&b2, BreakerMode::Shed))
    });
    tck::verify_publisher_with(
        factory,
        TckConfig::synchronous().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

/// Reference model of the state machine on virtual time.
#[derive(Debug, Clone, Copy)]
enum Ev {
    Fail,
    Ok,
    Item,
    Wait(u64),
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn matches_the_reference_model(evs in proptest::collection::vec(prop_oneof![
        2 => Just(Ev::Fail), 2 => Just(Ev::Ok), 3 => Just(Ev::Item), 1 => (1u64..80).prop_map(Ev::Wait),
    ], 0..60)) {
        let vs = VirtualScheduler::new();
        let b = breaker(&vs);
        let (tp, h, stats) = rig(&b, BreakerMode::Shed, &vs, u64::MAX);
        let c = config();
        // model
        let (mut state, mut fails, mut opened_at, mut trials, mut oks) = (BreakerState::Closed, Vec::<u64>::new(), 0u64, 0u32, 0u32);
        let (mut now, mut passed, mut next) = (0u64, Vec::new(), 0u32);
        for ev in evs {
            if state == BreakerState::Open && now - opened_at >= 50 {
                state = BreakerState::HalfOpen; trials = 0; oks = 0;
            }
            match ev {
                Ev::Wait(d) => { vs.advance_by(ms(d)); now += d; continue; }
                Ev::Fail => {
                    b.record_failure();
                    match state {
                        BreakerState::Closed => {
                            fails.push(now);
                            fails.retain(|t| now - t < c.window.as_millis() as u64);
                            if fails.len() >= 3 { state = BreakerState::Open; opened_at = now; fails.clear(); }
                        }
                        BreakerState::HalfOpen => { state = BreakerState::Open; opened_at = now; }
                        BreakerState::Open => {}
                    }
                }
                Ev::Ok => {
                    b.record_success();
                    if state == BreakerState::HalfOpen { oks += 1; if oks >= 2 { state = BreakerState::Closed; fails.clear(); } }
                }
                Ev::Item => {
                    next += 1;
                    let pass = match state {
                        BreakerState::Closed => true,
                        BreakerState::Open => false,
                        BreakerState::HalfOpen => { if trials < 2 { trials += 1; true } else { false } }
                    };
                    if pass { passed.push(next); }
                    tp.next(next);
                }
            }
            prop_assert_eq!(b.state(), state);
        }
        prop_assert_eq!(h.items(), passed);
        prop_assert!(stats.snapshot().is_balanced());
    }
}
