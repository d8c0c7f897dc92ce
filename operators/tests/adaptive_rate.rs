//! `adaptive_rate`: AIMD pacing of upstream requests, on virtual time.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use spillway::operators::{AdaptiveRateConfig, DropReason, FlowStats};
use spillway::prelude::*;
use spillway::{Error, FnSubscriber, SchedulerExt};
use spillway_testkit::tck::{self, TckConfig};
use spillway_testkit::{
    Signal, TestPublisher, TestSubscriber, TestSubscriberHandle, Violation, VirtualScheduler,
};

type H = TestSubscriberHandle<u32, ()>;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn aimd() -> AdaptiveRateConfig {
    AdaptiveRateConfig {
        min: 1.0,
        max: 1000.0,
        initial: 100.0,
        increase: 10.0,
        decrease_factor: 0.5,
        window: ms(100),
    }
}

fn rig(initial: u64) -> (Arc<VirtualScheduler>, TestPublisher<u32, ()>, H, FlowStats) {
    rig_with(TestPublisher::new(), initial)
}

fn rig_with(
    tp: TestPublisher<u32, ()>,
    initial: u64,
) -> (Arc<VirtualScheduler>, TestPublisher<u32, ()>, H, FlowStats) {
    let vs = VirtualScheduler::new();
    let tp = tp.with_scheduler(vs.clone());
    let op = tp.publisher().adaptive_rate(aimd()).unwrap();
    let stats = op.stats();
    let (sub, h) = TestSubscriber::with_scheduler(initial, vs.clone());
    op.subscribe(sub);
    (vs, tp, h, stats)
}

#[track_caller]
fn balanced(stats: &FlowStats) {
    let s = stats.snapshot();
    assert!(s.is_balanced(), "unbalanced: {s}");
}

#[test]
fn bad_config_is_rejected() {
    let bad = [
        AdaptiveRateConfig { min: 0.0, ..aimd() },
        AdaptiveRateConfig {
            initial: 2000.0,
            ..aimd()
        },
        AdaptiveRateConfig {
            increase: 0.0,
            ..aimd()
        },
        AdaptiveRateConfig {
            decrease_factor: 1.0,
            ..aimd()
        },
        AdaptiveRateConfig {
            window: Duration::ZERO,
            ..aimd()
        },
        AdaptiveRateConfig {
            max: f64::INFINITY,
            ..aimd()
        },
    ];
    for c in bad {
        assert_eq!(
            range(0, 1).adaptive_rate(c).unwrap_err().stage(),
            "adaptive_rate"
        );
    }
    let ok = range(0, 1).adaptive_rate(aimd()).unwrap();
    assert!(ok.watch_pressure(FlowStats::new(1), 0.5, 0.2).is_err());
}

#[test]
fn normal_paces_requests_at_the_rate() {
    // 100/s: the banked token goes at once, then one request every 10 ms.
    let (vs, tp, h, stats) = rig(3);
    assert_eq!(tp.total_requested(), 1);
    tp.next(1);
    vs.advance_by(ms(10));
    assert_eq!(tp.total_requested(), 2);
    tp.next(2);
    vs.advance_by(ms(10));
    tp.next(3);
    let times: Vec<_> = tp
        .requests()
        .iter()
        .map(|(t, n)| (t.as_millis(), *n))
        .collect();
    assert_eq!(times, vec![(0, 1), (10, 1), (20, 1)]);
    h.assert_items(&[1, 2, 3]);
    balanced(&stats);
}

#[test]
fn backpressured_requests_nothing_without_demand() {
    let (vs, tp, h, _) = rig(0);
    vs.advance_by(ms(500));
    assert_eq!(tp.total_requested(), 0);
    h.request(1);
    assert_eq!(tp.total_requested(), 1, "the banked token");
}

#[test]
fn a_consumer_without_demand_lowers_the_rate_gradually() {
    let vs = VirtualScheduler::new();
    let op = range(0, 10).adaptive_rate(aimd()).unwrap();
    let rate = op.rate();
    let (sub, _h) = TestSubscriber::<u64, Infallible>::with_scheduler(0, vs.clone());
    op.subscribe(sub);
    vs.advance_by(ms(100));
    assert_eq!(rate.current(), 50.0, "halved after one window");
    vs.advance_by(ms(100));
    assert_eq!(rate.current(), 25.0);
    vs.advance_by(ms(5000));
    assert_eq!(rate.current(), 1.0, "floored at min");
}

#[test]
fn unbounded_demand_raises_the_rate_up_to_max() {
    let vs = VirtualScheduler::new();
    let op = range(0, u64::MAX)
        .adaptive_rate(AdaptiveRateConfig {
            max: 200.0,
            ..aimd()
        })
        .unwrap();
    let rate = op.rate();
    let (sub, h) = TestSubscriber::<u64, Infallible>::with_scheduler(u64::MAX, vs.clone());
    op.subscribe(sub);
    vs.advance_by(ms(150));
    assert_eq!(rate.current(), 110.0, "additive increase");
    vs.advance_by(ms(5000));
    assert_eq!(rate.current(), 200.0, "capped at max");
    assert!(rate.increases() > 0 && rate.decreases() == 0);
    h.cancel();
}

/// A consumer handling `per_sec` items per second (one request each `1/per_sec`).
fn converge(per_sec: u64, initial: f64) -> (f64, u64) {
    let vs = VirtualScheduler::new();
    let op = range(0, u64::MAX)
        .adaptive_rate(AdaptiveRateConfig { initial, ..aimd() })
        .unwrap();
    let rate = op.rate();
    let (sub, h) = TestSubscriber::<u64, Infallible>::with_scheduler(1, vs.clone());
    op.subscribe(sub);
    let h2 = h.clone();
    let _consumer = vs.run_every(
        Duration::from_micros(1_000_000 / per_sec),
        Duration::from_micros(1_000_000 / per_sec),
        move || h2.request(1),
    );
    vs.advance_by(Duration::from_secs(20));
    let before = h.item_count();
    // Average the rate over the last 5 s.
    let mut sum = 0.0;
    for _ in 0..50 {
        vs.advance_by(ms(100));
        sum += rate.current();
    }
    let delivered = h.item_count() - before;
    h.cancel();
    (sum / 50.0, delivered)
}

#[test]
fn virtual_time_rate_converges_near_the_consumers_speed() {
    for (speed, initial) in [(100u64, 10.0), (100, 900.0), (300, 50.0)] {
        let (avg, delivered) = converge(speed, initial);
        let s = speed as f64;
        assert!(
            avg > s * 0.5 && avg < s * 1.5,
            "speed {speed} from {initial}: avg rate {avg}"
        );
        // Throughput over 5 s stays close to what the consumer asks for (a little above
        // it while a backlog of demand built up earlier is caught up).
        let per_sec = delivered as f64 / 5.0;
        assert!(
            per_sec > s * 0.6 && per_sec <= s * 1.2,
            "speed {speed}: {per_sec}/s"
        );
    }
}

#[test]
fn watched_pressure_lowers_the_rate() {
    let vs = VirtualScheduler::new();
    let buffer = FlowStats::new(10);
    buffer.set_buffered(9);
    let op = range(0, u64::MAX)
        .adaptive_rate(aimd())
        .unwrap()
        .watch_pressure(buffer.clone(), 0.2, 0.8)
        .unwrap();
    let rate = op.rate();
    let (sub, h) = TestSubscriber::<u64, Infallible>::with_scheduler(u64::MAX, vs.clone());
    op.subscribe(sub);
    vs.advance_by(ms(100));
    assert_eq!(
        rate.current(),
        50.0,
        "high pressure: decrease despite demand"
    );
    buffer.set_buffered(5);
    vs.advance_by(ms(100));
    assert_eq!(rate.current(), 50.0, "between thresholds: hold");
    buffer.set_buffered(0);
    vs.advance_by(ms(100));
    assert_eq!(rate.current(), 60.0, "low pressure: increase");
    h.cancel();
}

#[test]
fn cancel_mid_stream_cancels_upstream_and_the_timer() {
    let (vs, tp, h, _) = rig(5);
    tp.next(1);
    h.cancel();
    tp.assert_cancelled();
    assert_eq!(vs.pending(), 0, "timer cancelled");
}

#[test]
fn error_propagates_and_completion_flushes() {
    let (vs, tp, h, _) = rig(5);
    tp.next(1);
    tp.error(());
    h.assert_items(&[1]);
    h.assert_error_matches(|e| matches!(e, Error::User(())));
    vs.run_until_idle().unwrap();
    let (vs, tp, h, _) = rig(5);
    tp.complete();
    h.assert_complete();
    assert!(vs.run_until_idle().is_ok(), "no timer left");
}

#[test]
fn callback_panics_none_but_downstream_panics_cancel_upstream() {
    // The stage runs no user callback; a panicking downstream subscriber is handled
    // by the drain loop: upstream cancelled, panic re-raised.
    let vs = VirtualScheduler::new();
    let tp = TestPublisher::<u32, ()>::new().with_scheduler(vs.clone());
    let op = tp.publisher().adaptive_rate(aimd()).unwrap();
    let (sub, _h) = FnSubscriber::new(|_: u32| panic!("consumer"), |_: Error<()>| {}, || {});
    op.subscribe(sub);
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tp.next(1);
    }));
    tp.assert_cancelled();
}

#[test]
fn late_signals_after_terminal_are_dropped() {
    let tp = TestPublisher::<u32, ()>::non_compliant(&[
        Violation::EmitAfterTerminate,
        Violation::TerminateTwice,
    ]);
    let (_vs, tp, h, stats) = rig_with(tp, 5);
    tp.complete();
    tp.next(1);
    tp.complete();
    h.assert_complete();
    h.assert_item_count(0);
    assert_eq!(stats.snapshot().dropped_for(DropReason::Discarded), 1);
    balanced(&stats);
}

#[test]
fn non_compliant_upstream_fails_with_a_protocol_violation() {
    let tp = TestPublisher::<u32, ()>::non_compliant(&[Violation::EmitWithoutDemand]);
    let (_vs, tp, h, stats) = rig_with(tp, 5);
    tp.next(1);
    tp.next(2); // only one requested so far
    h.assert_items(&[1]);
    h.assert_error_matches(|e| {
        matches!(
            e,
            Error::ProtocolViolation {
                stage: "adaptive_rate",
                ..
            }
        )
    });
    tp.assert_cancelled();
    balanced(&stats);
}

#[test]
fn conformance() {
    // Real time: a fast rate keeps the suite quick.
    let factory = tck::publisher_factory(|n| {
        range(0, n)
            .adaptive_rate(AdaptiveRateConfig {
                initial: 10_000.0,
                max: 100_000.0,
                ..aimd()
            })
            .unwrap()
    })
    .max_elements(200);
    tck::verify_publisher_with(
        factory,
        TckConfig::default()
            .cannot_fail(
                "no failing form here; every operator's is checked in conformance_every_operator",
            )
            // Real time: a shorter long run keeps the suite quick.
            .long_run(80),
    )
    .assert_all_passed();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Random request schedules: lossless, in order, never more than requested, at most
    /// one request per tick (so never faster than max), balanced stats.
    #[test]
    fn lossless_and_paced(reqs in proptest::collection::vec((0u64..300, 1u64..5), 0..20)) {
        let vs = VirtualScheduler::new();
        let op = range(0, 1000).adaptive_rate(aimd()).unwrap();
        let stats = op.stats();
        let (sub, h) = TestSubscriber::<u64, Infallible>::with_scheduler(0, vs.clone());
        op.subscribe(sub);
        let mut sorted = reqs.clone();
        sorted.sort();
        let mut total = 0;
        for (t, n) in sorted {
            vs.advance_to(ms(t));
            h.request(n);
            total += n;
        }
        vs.advance_to(ms(10_000));
        let items = h.items();
        prop_assert_eq!(items.clone(), (0..total).collect::<Vec<_>>());
        h.assert_no_protocol_violations();
        let times: Vec<u128> = h.events().iter().filter(|e| matches!(e.signal, Signal::Next(_))).map(|e| e.at.as_micros()).collect();
        // The banked token plus one per 1 ms at most (max = 1000/s).
        for w in times.windows(3) {
            prop_assert!(w[2] - w[0] >= 1000, "too fast: {:?}", w);
        }
        prop_assert!(stats.snapshot().is_balanced());
        h.cancel();
    }
}
