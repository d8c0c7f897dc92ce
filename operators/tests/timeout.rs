//! `timeout`: virtual time only; checklist, reference model, conformance.

use std::time::Duration;

use proptest::prelude::*;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::TckConfig;
use spillway_testkit::{tck, Signal, TestPublisher, TestSubscriber, Violation, VirtualScheduler};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn is_timeout(e: &Error<()>) -> bool {
    matches!(e, Error::Timeout { stage: "timeout", after } if *after == ms(100))
}

#[test]
fn first_item_timeout() {
    let vs = VirtualScheduler::new();
    let tp = TestPublisher::<u32, ()>::new();
    let (sub, h) = TestSubscriber::with_scheduler(1, vs.clone());
    tp.publisher().timeout(ms(100)).unwrap().subscribe(sub);
    vs.advance_by(ms(99));
    h.assert_not_terminated();
    vs.advance_by(ms(1));
    h.assert_error_matches(is_timeout);
    tp.assert_cancelled();
    assert_eq!(h.events().last().unwrap().at, ms(100));
}

#[test]
fn between_items_timeout_and_reset_per_item() {
    let vs = VirtualScheduler::new();
    let tp = TestPublisher::<u32, ()>::new();
    let (sub, h) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
    tp.publisher().timeout(ms(100)).unwrap().subscribe(sub);
    for i in 0..5 {
        vs.advance_by(ms(90));
        tp.next(i);
    }
    h.assert_items(&[0, 1, 2, 3, 4]);
    h.assert_not_terminated();
    vs.advance_by(ms(100));
    h.assert_error_matches(is_timeout);
    tp.assert_cancelled();
    assert_eq!(vs.pending(), 0, "no timer left");
}

#[test]
fn backpressured_no_clock_without_demand() {
    let vs = VirtualScheduler::new();
    let tp = TestPublisher::<u32, ()>::new();
    let (sub, h) = TestSubscriber::with_scheduler(0, vs.clone());
    tp.publisher().timeout(ms(100)).unwrap().subscribe(sub);
    vs.advance_by(ms(1_000));
    h.assert_not_terminated(); // a slow consumer never causes a timeout
    h.request(1);
    tp.next(7);
    vs.advance_by(ms(1_000)); // demand used up: no clock
    h.assert_items(&[7]);
    h.assert_not_terminated();
    h.request(1);
    vs.advance_by(ms(100));
    h.assert_error_matches(is_timeout);
}

#[test]
fn completion_and_error_cancel_the_timer() {
    let vs = VirtualScheduler::new();
    let tp = TestPublisher::<u32, ()>::new();
    let (sub, h) = TestSubscriber::with_scheduler(5, vs.clone());
    tp.publisher().timeout(ms(100)).unwrap().subscribe(sub);
    tp.next(1).complete();
    vs.advance_by(ms(500));
    h.assert_items(&[1]);
    h.assert_complete();
    assert_eq!(vs.pending(), 0);

    let tp = TestPublisher::<u32, ()>::new();
    let (sub, h) = TestSubscriber::with_scheduler(5, vs.clone());
    tp.publisher().timeout(ms(100)).unwrap().subscribe(sub);
    tp.error(());
    vs.advance_by(ms(500));
    h.assert_error_matches(|e| *e == Error::User(()));
    assert_eq!(vs.pending(), 0);
}

#[test]
fn cancel_reaches_upstream_and_cancels_the_timer() {
    let vs = VirtualScheduler::new();
    let tp = TestPublisher::<u32, ()>::new();
    let (sub, h) = TestSubscriber::with_scheduler(5, vs.clone());
    tp.publisher().timeout(ms(100)).unwrap().subscribe(sub);
    tp.next(1);
    h.cancel();
    tp.assert_cancelled();
    assert_eq!(vs.pending(), 0);
    vs.advance_by(ms(500));
    h.assert_items(&[1]);
    h.assert_not_terminated();
}

#[test]
fn normal_incremental_unbounded_through_a_core_source() {
    let vs = VirtualScheduler::new();
    let (sub, h) = TestSubscriber::with_scheduler(0, vs.clone());
    range(0, 5).timeout(ms(100)).unwrap().subscribe(sub);
    for k in 1..=5 {
        h.request(1);
        assert_eq!(h.item_count(), k);
    }
    h.request(1);
    h.assert_complete();
    let (sub, h) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
    range(0, 100).timeout(ms(100)).unwrap().subscribe(sub);
    assert_eq!(h.item_count(), 100);
    h.assert_complete();
    assert_eq!(vs.pending(), 0);
}

#[test]
fn pinned_scheduler_wins_over_the_context() {
    let vs = VirtualScheduler::new();
    let other = VirtualScheduler::new();
    let (sub, h) = TestSubscriber::<u32, ()>::with_scheduler(1, other.clone());
    never()
        .timeout(ms(100))
        .unwrap()
        .on(vs.clone())
        .subscribe(sub);
    other.advance_by(ms(500));
    h.assert_not_terminated();
    vs.advance_by(ms(100));
    h.assert_error_matches(is_timeout);
}

#[test]
fn late_signals_after_timeout_are_dropped() {
    let vs = VirtualScheduler::new();
    let tp = TestPublisher::<u32, ()>::non_compliant(&[Violation::IgnoreCancel]);
    let (sub, h) = TestSubscriber::with_scheduler(5, vs.clone());
    tp.publisher().timeout(ms(100)).unwrap().subscribe(sub);
    vs.advance_by(ms(100));
    tp.next(1).complete();
    assert_eq!(h.item_count(), 0);
    h.assert_error_matches(is_timeout);
    h.assert_no_protocol_violations();
}

#[test]
fn non_compliant_upstream_is_a_protocol_violation() {
    let vs = VirtualScheduler::new();
    let tp = TestPublisher::<u32, ()>::non_compliant(&[Violation::EmitWithoutDemand]);
    let (sub, h) = TestSubscriber::with_scheduler(1, vs.clone());
    tp.publisher().timeout(ms(100)).unwrap().subscribe(sub);
    tp.next(1).next(2);
    h.assert_items(&[1]);
    h.assert_error_matches(|e| {
        matches!(
            e,
            Error::ProtocolViolation {
                stage: "timeout",
                ..
            }
        )
    });
    tp.assert_cancelled();
}

#[test]
fn zero_duration_is_a_config_error() {
    assert!(range(0, 1).timeout(Duration::ZERO).is_err());
}

#[test]
fn conformance() {
    tck::verify_publisher_with(
        tck::publisher_factory(|n| range(0, n).timeout(Duration::from_secs(3600)).unwrap())
            .max_elements(1_000),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random gaps between items (demand unbounded): the reference model times out at the
    /// first gap of 100 ms or more, at (time of previous item + 100).
    #[test]
    fn reference_model(gaps in proptest::collection::vec(0u64..150, 1..20)) {
        let vs = VirtualScheduler::new();
        let tp = TestPublisher::<u32, ()>::new();
        let (sub, h) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
        tp.publisher().timeout(ms(100)).unwrap().subscribe(sub);
        let mut t = 0;
        let mut expected_items = 0;
        let mut timed_out_at = None;
        for (i, gap) in gaps.iter().enumerate() {
            if *gap >= 100 { timed_out_at = Some(t + 100); break; }
            t += gap;
            expected_items = i + 1;
        }
        for (i, gap) in gaps.iter().enumerate() {
            vs.advance_by(ms(*gap));
            if h.is_terminated() { break; }
            tp.next(i as u32);
        }
        vs.advance_by(ms(1_000));
        prop_assert_eq!(h.item_count(), expected_items as u64);
        let last = h.events().last().cloned().unwrap();
        let timed_out = matches!(last.signal, Signal::Error(Error::Timeout { .. }));
        prop_assert!(timed_out);
        if let Some(at) = timed_out_at { prop_assert_eq!(last.at, ms(at)); }
        prop_assert_eq!(vs.pending(), 0);
    }
}

// ---- timeout_first ----------------------------------------------------------------

#[test]
fn timeout_first_gives_the_first_item_its_own_deadline() {
    let vs = VirtualScheduler::new();
    let tp = TestPublisher::<u32, ()>::new();
    let (sub, h) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
    tp.publisher()
        .timeout_first(ms(500), ms(100))
        .unwrap()
        .subscribe(sub);
    vs.advance_by(ms(400)); // past `each`, within `first`
    h.assert_not_terminated();
    tp.next(1);
    vs.advance_by(ms(90));
    tp.next(2);
    h.assert_not_terminated();
    vs.advance_by(ms(100)); // `each` from item 2
    h.assert_items(&[1, 2]);
    h.assert_error_matches(
        |e| matches!(e, Error::Timeout { stage: "timeout", after } if *after == ms(100)),
    );
    tp.assert_cancelled();
}

#[test]
fn timeout_first_reports_the_first_deadline_when_it_runs_out() {
    let vs = VirtualScheduler::new();
    let (sub, h) = TestSubscriber::<u32, ()>::with_scheduler(1, vs.clone());
    never::<u32, ()>()
        .timeout_first(ms(500), ms(100))
        .unwrap()
        .subscribe(sub);
    vs.advance_by(ms(499));
    h.assert_not_terminated();
    vs.advance_by(ms(1));
    h.assert_error_matches(|e| matches!(e, Error::Timeout { after, .. } if *after == ms(500)));
}

#[test]
fn timeout_first_config_errors() {
    assert!(never::<u32, ()>().timeout_first(ms(0), ms(1)).is_err());
    assert!(never::<u32, ()>().timeout_first(ms(1), ms(0)).is_err());
}

// ---- timeout_with -----------------------------------------------------------------

#[test]
fn timeout_with_switches_to_the_fallback_with_the_demand_still_outstanding() {
    let vs = VirtualScheduler::new();
    let up = TestPublisher::<u32, ()>::non_compliant(&[Violation::IgnoreCancel]);
    let fallback = TestPublisher::<u32, ()>::new();
    let (sub, h) = TestSubscriber::with_scheduler(5, vs.clone());
    up.publisher()
        .timeout_with(ms(100), fallback.publisher())
        .unwrap()
        .subscribe(sub);
    up.next(1).next(2);
    assert_eq!(fallback.subscription_count(), 0, "not before the timeout");
    vs.advance_by(ms(100));
    up.assert_cancelled();
    assert_eq!(
        fallback.total_requested(),
        3,
        "5 asked, 2 delivered: 3 outstanding"
    );
    up.next(99); // late, from the upstream it switched away from: ignored
    fallback.next(7);
    h.request(2);
    assert_eq!(fallback.total_requested(), 5, "then 1:1");
    // The fallback's items have no deadline.
    vs.advance_by(ms(10_000));
    fallback.next(8).complete();
    h.assert_items(&[1, 2, 7, 8]);
    h.assert_complete();
}

#[test]
fn timeout_with_never_subscribes_the_fallback_when_upstream_is_in_time() {
    let vs = VirtualScheduler::new();
    let fallback = TestPublisher::<u64, ()>::new();
    let (sub, h) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
    from_try_stream(futures::stream::iter(vec![Ok(1u64), Err(())]))
        .timeout_with(ms(100), fallback.publisher())
        .unwrap()
        .subscribe(sub);
    vs.advance_by(ms(1_000));
    h.assert_items(&[1]);
    h.assert_error_matches(|e| matches!(e, Error::User(())));
    assert_eq!(fallback.subscription_count(), 0);
}

#[test]
fn timeout_with_cancel_after_the_switch_reaches_the_fallback() {
    let vs = VirtualScheduler::new();
    let fallback = TestPublisher::<u32, ()>::new();
    let (sub, h) = TestSubscriber::with_scheduler(1, vs.clone());
    never::<u32, ()>()
        .timeout_with(ms(100), fallback.publisher())
        .unwrap()
        .first(ms(300))
        .unwrap()
        .subscribe(sub);
    vs.advance_by(ms(299));
    assert_eq!(
        fallback.subscription_count(),
        0,
        "the first deadline applies"
    );
    vs.advance_by(ms(1));
    assert_eq!(fallback.total_requested(), 1);
    h.cancel();
    fallback.assert_cancelled();
}

#[test]
fn timeout_with_conformance() {
    tck::verify_publisher_with(
        tck::publisher_factory(|n| {
            // Upstream never answers: every item comes from the fallback, after 1 ms.
            never::<u64, ()>()
                .timeout_with(ms(1), range(0, n).map_error(|e| match e {}))
                .unwrap()
        })
        .max_elements(100_000),
        TckConfig::default().cannot_fail("no failing form here; timeout's suites cover errors"),
    )
    .assert_all_passed();
}
