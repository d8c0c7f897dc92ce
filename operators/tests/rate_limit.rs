//! `rate_limit`: token bucket in shaping (Delay) and enforcing (Fail, Drop) modes.

mod rate_control;

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use rate_control::*;
use spillway::operators::{DropReason, FlowStats, RateLimitMode, TokenBucket};
use spillway::prelude::*;
use spillway_testkit::tck::TckConfig;
use spillway_testkit::{tck, TestPublisherSource, TestSubscriber, Violation, VirtualScheduler};

fn bucket(rate: u64, per_ms: u64, burst: u64) -> TokenBucket {
    TokenBucket {
        rate,
        per: ms(per_ms),
        burst,
    }
}

fn op(
    up: TestPublisherSource<u32, ()>,
    b: TokenBucket,
    mode: RateLimitMode,
) -> (impl Publisher<Item = u32, Error = ()>, FlowStats) {
    let s = up.rate_limit(b, mode).unwrap();
    let stats = s.stats();
    (s, stats)
}

fn drop10(up: TestPublisherSource<u32, ()>) -> (impl Publisher<Item = u32, Error = ()>, FlowStats) {
    op(up, bucket(1, 10, 1), RateLimitMode::Drop)
}

fn delay10(
    up: TestPublisherSource<u32, ()>,
) -> (impl Publisher<Item = u32, Error = ()>, FlowStats) {
    op(up, bucket(1, 10, 1), RateLimitMode::Delay)
}

/// Shaping: an upstream that sends whenever it is asked, paced by the bucket.
fn shaped(
    n: u64,
    b: TokenBucket,
    vs: &Arc<VirtualScheduler>,
) -> (Vec<(u64, u64)>, FlowStats, bool) {
    let (sub, h) =
        TestSubscriber::<u64, std::convert::Infallible>::with_scheduler(u64::MAX, vs.clone());
    let s = range(0, n).rate_limit(b, RateLimitMode::Delay).unwrap();
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
fn delay_mode_paces_and_never_drops() {
    let vs = VirtualScheduler::new();
    // 1 per 10 ms, burst 3: three at once, then one every 10 ms.
    let (items, stats, complete) = shaped(6, bucket(1, 10, 3), &vs);
    assert_eq!(
        items,
        vec![(0, 0), (0, 1), (0, 2), (10, 3), (20, 4), (30, 5)]
    );
    assert!(complete);
    assert_eq!(stats.snapshot().dropped(), 0);
    assert_balanced(&stats);
}

#[test]
fn delay_mode_pauses_upstream_by_demand() {
    let (vs, tp) = rig();
    let (s, stats) = op(tp.publisher(), bucket(1, 10, 2), RateLimitMode::Delay);
    let h = subscribe(s, &vs, 0);
    assert_eq!(
        tp.total_requested(),
        0,
        "no downstream demand: nothing requested"
    );
    h.request(5);
    assert_eq!(tp.total_requested(), 2, "only what the tokens allow");
    tp.next(1);
    tp.next(2);
    assert_eq!(tp.total_requested(), 2, "bucket empty: paused");
    vs.advance_by(ms(10));
    assert_eq!(tp.total_requested(), 3, "one token refilled: one more");
    tp.next(3);
    assert_eq!(timed_items(&h), vec![(0, 1), (0, 2), (10, 3)]);
    assert_eq!(stats.snapshot().paused, 0);
    h.assert_no_protocol_violations();
    assert_balanced(&stats);
}

#[test]
fn delay_mode_holds_costly_items_until_tokens_refill() {
    let (vs, tp) = rig();
    let s = tp
        .publisher()
        .rate_limit(bucket(1, 10, 4), RateLimitMode::Delay)
        .unwrap()
        .cost(|x| u64::from(*x));
    let stats = s.stats();
    let h = subscribe(s, &vs, u64::MAX);
    tp.next(3); // pays 3 of 4
    tp.next(3); // held: needs 2 more tokens, 20 ms
    assert_eq!(h.items(), vec![3]);
    assert_eq!(stats.snapshot().buffered, 1);
    vs.advance_by(ms(19));
    assert_eq!(h.item_count(), 1);
    vs.advance_by(ms(1));
    assert_eq!(timed_items(&h), vec![(0, 3), (20, 3)]);
    tp.complete();
    h.assert_complete();
    assert_balanced(&stats);
}

#[test]
fn fail_mode_rejects_over_the_limit() {
    let (vs, tp) = rig();
    let (s, stats) = op(tp.publisher(), bucket(1, 10, 2), RateLimitMode::Fail);
    let h = subscribe(s, &vs, u64::MAX);
    tp.next(1);
    tp.next(2);
    tp.next(3); // over the limit
    h.assert_items(&[1, 2]);
    h.assert_error_matches(|e| {
        matches!(
            e,
            spillway::Error::Rejected {
                stage: "rate_limit",
                ..
            }
        )
    });
    tp.assert_cancelled();
    assert_eq!(stats.snapshot().dropped_for(DropReason::Throttled), 1);
    assert_balanced(&stats);
}

#[test]
fn drop_mode_drops_over_the_limit() {
    let (vs, tp) = rig();
    let (s, stats) = op(tp.publisher(), bucket(1, 10, 2), RateLimitMode::Drop);
    let h = subscribe(s, &vs, u64::MAX);
    for t in 0..31 {
        vs.advance_to(ms(t));
        tp.next(t as u32);
    }
    tp.complete();
    assert_eq!(
        timed_items(&h),
        vec![(0, 0), (1, 1), (10, 10), (20, 20), (30, 30)]
    );
    h.assert_complete();
    assert_eq!(stats.snapshot().dropped_for(DropReason::Throttled), 26);
    assert_balanced(&stats);
}

#[test]
fn enforcing_without_demand_drops_as_no_demand_and_keeps_the_tokens() {
    let (vs, tp) = rig();
    let (s, stats) = op(tp.publisher(), bucket(1, 10, 1), RateLimitMode::Drop);
    let h = subscribe(s, &vs, 0);
    tp.next(1); // no demand: NoDemand, token kept
    h.request(1);
    tp.next(2); // the token is still there
    assert_eq!(h.items(), vec![2]);
    let snap = stats.snapshot();
    assert_eq!(snap.dropped_for(DropReason::NoDemand), 1);
    assert_eq!(snap.dropped_for(DropReason::Throttled), 0);
}

#[test]
fn cost_above_burst() {
    for mode in [
        RateLimitMode::Delay,
        RateLimitMode::Fail,
        RateLimitMode::Drop,
    ] {
        let (vs, tp) = rig();
        let s = tp
            .publisher()
            .rate_limit(bucket(1, 10, 2), mode)
            .unwrap()
            .cost(|x| u64::from(*x));
        let stats = s.stats();
        let h = subscribe(s, &vs, u64::MAX);
        tp.next(5);
        assert_eq!(stats.snapshot().dropped_for(DropReason::Throttled), 1);
        if mode == RateLimitMode::Drop {
            h.assert_not_terminated();
        } else {
            h.assert_error_matches(|e| matches!(e, spillway::Error::Rejected { reason, .. } if reason.contains("burst")));
        }
    }
}

#[test]
fn config_errors() {
    for b in [bucket(0, 10, 1), bucket(1, 0, 1), bucket(1, 10, 0)] {
        let err = range(0, 1).rate_limit(b, RateLimitMode::Delay).unwrap_err();
        assert_eq!(err.stage(), "rate_limit");
    }
}

#[test]
fn cancel_mid_stream() {
    check_cancel(drop10);
    check_cancel(delay10);
}

#[test]
fn error_propagates() {
    check_error(drop10);
    check_error(delay10);
}

#[test]
fn error_waits_for_held_items_in_delay_mode() {
    let (vs, tp) = rig();
    let s = tp
        .publisher()
        .rate_limit(bucket(1, 10, 2), RateLimitMode::Delay)
        .unwrap()
        .cost(|_| 2);
    let h = subscribe(s, &vs, u64::MAX);
    tp.next(1);
    tp.next(2); // held for 20 ms
    tp.error(());
    h.assert_not_terminated();
    vs.advance_by(ms(20));
    h.assert_items(&[1, 2]);
    h.assert_error_matches(|e| *e == spillway::Error::User(()));
}

#[test]
fn request_zero_is_invalid() {
    check_request_zero(drop10, "rate_limit");
    check_request_zero(delay10, "rate_limit");
}

#[test]
fn late_signals_dropped() {
    check_late_signals(drop10);
}

#[test]
fn callback_panics_fail_the_pipeline() {
    let (vs, tp) = rig();
    let s = tp
        .publisher()
        .rate_limit(bucket(1, 10, 1), RateLimitMode::Delay)
        .unwrap()
        .cost(|x| if *x == 2 { panic!("bad cost") } else { 1 });
    let stats = s.stats();
    let h = subscribe(s, &vs, u64::MAX);
    tp.next(1);
    vs.advance_by(ms(10));
    tp.next(2);
    h.assert_items(&[1]);
    h.assert_error_matches(|e| matches!(e, spillway::Error::Panicked { stage: "rate_limit", message } if message == "bad cost"));
    tp.assert_cancelled();
    assert_eq!(vs.pending(), 0);
    assert_balanced(&stats);
}

#[test]
fn non_compliant_upstream_in_delay_mode_is_a_protocol_violation() {
    let vs = VirtualScheduler::new();
    let tp =
        spillway_testkit::TestPublisher::<u32, ()>::non_compliant(&[Violation::EmitWithoutDemand])
            .with_scheduler(vs.clone());
    let (s, stats) = op(tp.publisher(), bucket(1, 10, 1), RateLimitMode::Delay);
    let h = subscribe(s, &vs, 1);
    tp.next(1); // requested
    tp.next(2); // not requested
    h.assert_items(&[1]);
    h.assert_error_matches(|e| {
        matches!(
            e,
            spillway::Error::ProtocolViolation {
                stage: "rate_limit",
                ..
            }
        )
    });
    tp.assert_cancelled();
    assert_balanced(&stats);
}

/// Headline: one item per hour (burst 1) over a simulated day, in every mode.
#[test]
fn one_per_hour_over_a_simulated_day() {
    let started = std::time::Instant::now();
    let hour = Duration::from_secs(3600);
    let per_hour = TokenBucket {
        rate: 1,
        per: hour,
        burst: 1,
    };
    // Shaping a producer with 1000 items ready: 0 at once, then one every hour.
    let vs = VirtualScheduler::new();
    let (sub, h) =
        TestSubscriber::<u64, std::convert::Infallible>::with_scheduler(u64::MAX, vs.clone());
    let shaped = range(0, 1000)
        .rate_limit(per_hour, RateLimitMode::Delay)
        .unwrap();
    let stats = shaped.stats();
    shaped.subscribe(sub);
    vs.advance_by(hour * 24);
    let times: Vec<(Duration, u64)> = h
        .events()
        .into_iter()
        .filter_map(|e| e.signal.as_next().map(|x| (e.at, *x)))
        .collect();
    assert_eq!(
        times,
        (0..=24).map(|i| (hour * i as u32, i)).collect::<Vec<_>>()
    );
    assert_eq!(stats.snapshot().dropped(), 0);
    assert_balanced(&stats);
    h.cancel();
    assert_eq!(vs.pending(), 0);

    // Enforcing on a per-minute source: one per hour gets through, the rest is dropped.
    let vs = VirtualScheduler::new();
    let (sub, h) =
        TestSubscriber::<u64, std::convert::Infallible>::with_scheduler(u64::MAX, vs.clone());
    let minutes = interval(Duration::from_secs(60)).unwrap();
    let limited = minutes.rate_limit(per_hour, RateLimitMode::Drop).unwrap();
    let stats = limited.stats();
    limited.subscribe(sub);
    vs.advance_by(hour * 24);
    let items = h.items();
    // Tick k comes at (k + 1) minutes: ticks 0, 60, 120, ... find a token.
    assert_eq!(items, (0..24).map(|i| i * 60).collect::<Vec<u64>>());
    assert_eq!(
        stats.snapshot().dropped_for(DropReason::Throttled),
        24 * 60 - 24
    );
    assert_balanced(&stats);
    h.cancel();
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn conformance_delay_mode() {
    let report = tck::verify_publisher_with(
        tck::publisher_factory(|n| {
            range(0, n)
                .rate_limit(
                    TokenBucket {
                        rate: 1_000_000,
                        per: Duration::from_secs(1),
                        burst: 1000,
                    },
                    RateLimitMode::Delay,
                )
                .unwrap()
        })
        .max_elements(2000),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    );
    report.assert_all_passed();
}

/// Checks a shaped timeline against the bucket: every emission was paid for.
/// (`items` at virtual times in nanoseconds; `per` in milliseconds.)
fn conforms(items: &[(u64, u64)], rate: u64, per: u64, burst: u64) -> bool {
    let (rate, per_ns, burst) = (rate as u128, per as u128 * 1_000_000, burst as u128);
    let mut credit = burst * per_ns;
    let mut last = 0u64;
    items.iter().all(|&(t, _)| {
        credit = (credit + (t - last) as u128 * rate).min(burst * per_ns);
        last = t;
        if credit >= per_ns {
            credit -= per_ns;
            true
        } else {
            false
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// Drop mode against the reference model, random timings and request schedules.
    #[test]
    fn drop_mode_matches_the_reference_model(sc in scenarios(), rate in 1u64..4, per in 1u64..30, burst in 1u64..4) {
        let (vs, tp) = rig();
        let (s, stats) = op(tp.publisher(), bucket(rate, per, burst), RateLimitMode::Drop);
        let got = run(s, stats, &vs, &tp, &sc);
        prop_assert_eq!(got, model(Model::RateDrop { rate, per, burst }, 0, &sc));
    }

    /// Delay mode under random request schedules: lossless, in order, never beyond
    /// demand, and every emission paid for by the bucket.
    #[test]
    fn delay_mode_is_lossless_and_conforms(
        requests in proptest::collection::vec((0u64..200, 1u64..5), 1..15),
        rate in 1u64..4, per in 1u64..30, burst in 1u64..4,
    ) {
        let vs = VirtualScheduler::new();
        let (sub, h) = TestSubscriber::<u64, std::convert::Infallible>::with_scheduler(0, vs.clone());
        let total: u64 = requests.iter().map(|r| r.1).sum();
        let s = range(0, 1000).rate_limit(bucket(rate, per, burst), RateLimitMode::Delay).unwrap();
        let stats = s.stats();
        s.subscribe(sub);
        let mut sorted = requests.clone();
        sorted.sort();
        for (t, n) in sorted {
            vs.advance_to(ms(t));
            h.request(n);
        }
        vs.advance_by(ms(per * total + 1000));
        let items: Vec<(u64, u64)> = h.events().into_iter().filter_map(|e| e.signal.as_next().map(|x| (e.at.as_nanos() as u64, *x))).collect();
        prop_assert_eq!(items.iter().map(|i| i.1).collect::<Vec<_>>(), (0..total).collect::<Vec<_>>());
        prop_assert!(conforms(&items, rate, per, burst), "{:?}", items);
        prop_assert_eq!(stats.snapshot().dropped(), 0);
        prop_assert!(h.violations().is_empty());
        assert_balanced(&stats);
    }
}
