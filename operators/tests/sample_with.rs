//! `sample_with`: a notifier publisher as the sampling clock. Virtual-time scenarios
//! against a model, both sides' terminal signals, cancellation, and the ways users run
//! it (tokio, block_on). Conformance is in `conformance_every_operator.rs`.

mod rate_control;

use std::time::Duration;

use proptest::prelude::*;
use rate_control::*;
use spillway::operators::{DropReason, OperatorExt};
use spillway::prelude::*;
use spillway_testkit::TestPublisher;

#[test]
fn each_notifier_item_emits_the_latest_item() {
    let (vs, tp) = rig();
    let ticks = TestPublisher::<(), ()>::new();
    let op = tp.publisher().sample_with(ticks.publisher());
    let stats = op.stats();
    let h = subscribe(op, &vs, u64::MAX);
    assert_eq!(
        ticks.total_requested(),
        u64::MAX,
        "the notifier is asked unbounded"
    );
    tp.next(1).next(2);
    ticks.next(());
    ticks.next(()); // nothing new since the last emission
    tp.next(3);
    ticks.next(());
    h.assert_items(&[2, 3]);
    assert_eq!(stats.snapshot().dropped_for(DropReason::Throttled), 1);
    tp.complete();
    h.assert_complete();
    assert!(ticks.is_cancelled(), "upstream's end cancels the notifier");
    assert_balanced(&stats);
}

#[test]
fn a_notifier_item_without_demand_drops_the_latest() {
    let (vs, tp) = rig();
    let ticks = TestPublisher::<(), ()>::new();
    let op = tp.publisher().sample_with(ticks.publisher());
    let stats = op.stats();
    let h = subscribe(op, &vs, 0);
    tp.next(1);
    ticks.next(());
    assert_eq!(stats.snapshot().dropped_for(DropReason::NoDemand), 1);
    h.request(1);
    tp.next(2);
    ticks.next(());
    h.assert_items(&[2]);
    assert_balanced(&stats);
}

#[test]
fn the_notifiers_completion_flushes_and_ends_the_stream() {
    for flush in [true, false] {
        let (vs, tp) = rig();
        let ticks = TestPublisher::<(), ()>::new();
        let op = tp
            .publisher()
            .sample_with(ticks.publisher())
            .flush_on_complete(flush);
        let stats = op.stats();
        let h = subscribe(op, &vs, u64::MAX);
        tp.next(1);
        ticks.complete();
        h.assert_complete();
        assert!(tp.is_cancelled(), "the notifier's end cancels upstream");
        if flush {
            h.assert_items(&[1]);
        } else {
            h.assert_items(&[]);
            assert_eq!(stats.snapshot().dropped_for(DropReason::Discarded), 1);
        }
        assert_balanced(&stats);
    }
}

#[test]
fn either_sides_error_fails_the_stream_and_cancels_the_other() {
    let (vs, tp) = rig();
    let ticks = TestPublisher::<(), ()>::new();
    let op = tp.publisher().sample_with(ticks.publisher());
    let h = subscribe(op, &vs, u64::MAX);
    tp.next(1);
    ticks.error(());
    h.assert_error_matches(|e| matches!(e, spillway::Error::User(())));
    assert!(tp.is_cancelled());

    let (vs, tp) = rig();
    let ticks = TestPublisher::<(), ()>::new();
    let op = tp.publisher().sample_with(ticks.publisher());
    let stats = op.stats();
    let h = subscribe(op, &vs, u64::MAX);
    tp.next(1).error(());
    h.assert_error_matches(|e| matches!(e, spillway::Error::User(())));
    assert!(ticks.is_cancelled());
    assert_eq!(stats.snapshot().dropped_for(DropReason::Discarded), 1);
}

#[test]
fn cancel_stops_both_sides() {
    let (vs, tp) = rig();
    let ticks = TestPublisher::<(), ()>::new();
    let op = tp.publisher().sample_with(ticks.publisher());
    let stats = op.stats();
    let h = subscribe(op, &vs, u64::MAX);
    tp.next(1);
    h.cancel();
    assert!(tp.is_cancelled() && ticks.is_cancelled());
    assert_eq!(stats.snapshot().dropped_for(DropReason::Discarded), 1);
}

#[test]
fn request_zero_is_invalid() {
    let (vs, tp) = rig();
    let op = tp.publisher().sample_with(never::<(), ()>());
    let h = subscribe(op, &vs, 0);
    h.request(0);
    h.assert_error_matches(|e| matches!(e, spillway::Error::InvalidRequest { .. }));
    assert!(tp.is_cancelled());
}

/// As users run it: a fast producer sampled by an `interval` notifier, awaited in tokio.
#[tokio::test(start_paused = true)]
async fn awaited_under_tokio_with_an_interval_notifier() {
    let items = interval(Duration::from_millis(10)).unwrap().take(100); // 0..100, 1 s
    let every_255ms = interval(Duration::from_millis(255))
        .unwrap()
        .map_error(|e| match e {});
    let out = items.sample_with(every_255ms).collect().await.unwrap();
    // Items at 10 ms · (i + 1): at 255 ms the latest is 24, then 49 (510 ms) and 75
    // (765 ms); 99 is flushed at completion (1 s), before the fourth tick.
    assert_eq!(out, vec![24, 49, 75, 99]);
}

#[test]
fn under_block_on_with_an_upstream_error_halfway() {
    let source = from_try_stream(futures::stream::iter(vec![Ok(1u32), Err("boom")]));
    let got = futures::executor::block_on(source.sample_with(never::<(), &str>()).collect());
    assert!(matches!(got, Err(spillway::Error::User("boom"))), "{got:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// Items, notifier ticks and requests at random instants against a model: each tick
    /// commits the latest item if there is demand (dropped as no demand otherwise); the
    /// pending item is flushed at completion.
    #[test]
    fn matches_a_model(
        events in proptest::collection::vec((0u8..3, 1u64..4), 0..40),
        final_request in 0u64..3,
    ) {
        let (vs, tp) = rig();
        let ticks = TestPublisher::<(), ()>::new();
        let op = tp.publisher().sample_with(ticks.publisher());
        let stats = op.stats();
        let h = subscribe(op, &vs, 0);
        let (mut demand, mut pending, mut out, mut next) = (0u64, None, Vec::new(), 0u32);
        let (mut throttled, mut no_demand) = (0u64, 0u64);
        for (kind, n) in events {
            match kind {
                0 => {
                    next += 1;
                    tp.next(next);
                    if pending.replace(next).is_some() {
                        throttled += 1;
                    }
                }
                1 => {
                    ticks.next(());
                    if let Some(x) = pending.take() {
                        if demand > 0 {
                            demand -= 1;
                            out.push(x);
                        } else {
                            no_demand += 1;
                        }
                    }
                }
                _ => {
                    h.request(n);
                    demand += n;
                }
            }
        }
        tp.complete();
        if final_request > 0 {
            h.request(final_request);
        }
        demand += final_request;
        let complete = match pending {
            Some(x) if demand > 0 => { out.push(x); true }
            Some(_) => false,
            None => true,
        };
        prop_assert_eq!(h.items(), out);
        prop_assert_eq!(h.is_complete(), complete);
        let s = stats.snapshot();
        prop_assert_eq!(s.dropped_for(DropReason::Throttled), throttled);
        prop_assert_eq!(s.dropped_for(DropReason::NoDemand), no_demand);
        h.assert_no_protocol_violations();
        assert_balanced(&stats);
    }
}
