//! `merge` / `merge_with`: STYLE 3.6 checklist, demand (prefetch and replenish),
//! cancellation of every source, fail fast, fairness, virtual time, conformance,
//! reference-model proptest, non-compliant source, threaded stress test.

mod combining;

use std::collections::HashMap;
use std::time::Duration;

use combining::*;
use proptest::prelude::*;
use spillway::operators::merge;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::{self, TckConfig};
use spillway_testkit::{
    PublisherProbe, TestPublisher, TestSubscriber, Violation, VirtualScheduler,
};

fn three() -> [TestPublisher<u32, String>; 3] {
    [
        TestPublisher::new(),
        TestPublisher::new(),
        TestPublisher::new(),
    ]
}

fn merged(tps: &[TestPublisher<u32, String>], prefetch: usize, initial: u64) -> Handle<u32> {
    let m = merge(tps.iter().map(|tp| tp.publisher()))
        .prefetch(prefetch)
        .unwrap();
    subscribe(m, initial)
}

#[test]
fn normal() {
    let h = subscribe(merge(vec![numbers(0, 3), numbers(10, 13)]), u64::MAX);
    assert_completed(&h);
    let mut items = h.items();
    items.sort();
    assert_eq!(items, vec![0, 1, 2, 10, 11, 12]);
}

#[test]
fn merge_with_takes_another_publisher_type() {
    let h = subscribe(
        numbers(0, 2)
            .merge_with(numbers(7, 8).map(|x| x))
            .with(numbers(5, 6)),
        u64::MAX,
    );
    assert_completed(&h);
    let mut items = h.items();
    items.sort();
    assert_eq!(items, vec![0, 1, 5, 7]);
}

#[test]
fn requests_the_prefetch_from_every_source_and_replenishes_at_three_quarters() {
    let tps = three();
    let h = merged(&tps, 8, 0);
    for tp in &tps {
        assert_eq!(
            tp.requests().iter().map(|r| r.1).collect::<Vec<_>>(),
            vec![8]
        );
    }
    send(&tps[0], 0..8);
    h.assert_items(&[]); // backpressured: queued, not delivered
    h.request(5);
    assert_eq!(tps[0].total_requested(), 8, "5 delivered: below 75% of 8");
    h.request(1);
    assert_eq!(
        tps[0].total_requested(),
        14,
        "6 delivered: replenish 6 in one batch"
    );
    assert_eq!(
        tps[1].total_requested(),
        8,
        "an idle source is not asked again"
    );
}

#[test]
fn backpressured_then_incremental() {
    let tps = three();
    let h = merged(&tps, 4, 0);
    send(&tps[0], [1, 2]);
    send(&tps[1], [10]);
    h.assert_items(&[]);
    h.request(1);
    assert_eq!(h.item_count(), 1);
    h.request(2);
    assert_eq!(h.item_count(), 3);
    h.assert_no_protocol_violations();
}

#[test]
fn round_robin_between_sources_with_items() {
    let tps = three();
    let h = merged(&tps, 8, 0);
    send(&tps[0], [1, 2, 3]);
    send(&tps[1], [10, 20]);
    send(&tps[2], [100]);
    h.request(6);
    h.assert_items(&[1, 10, 100, 2, 20, 3]);
}

#[test]
fn unbounded() {
    let tps = three();
    let h = merged(&tps, 2, u64::MAX);
    for i in 0..10 {
        tps[i % 3].next(i as u32);
    }
    assert_eq!(h.item_count(), 10);
    for tp in &tps {
        tp.complete();
    }
    assert_completed(&h);
}

#[test]
fn cancel_reaches_every_source() {
    let tps = three();
    let h = merged(&tps, 4, 1);
    tps[1].next(5);
    h.cancel();
    for tp in &tps {
        tp.assert_cancelled();
    }
    h.assert_items(&[5]);
}

#[test]
fn cancel_reaches_probed_core_sources() {
    let (a, pa) = PublisherProbe::wrap(never::<u32, String>());
    let (b, pb) = PublisherProbe::wrap(numbers(0, 1_000));
    let h = subscribe(merge(vec![a.merge_with(b)]), 3);
    assert_eq!(h.item_count(), 3);
    h.cancel();
    pa.assert_cancelled();
    pb.assert_cancelled();
}

#[test]
fn error_fails_fast_and_cancels_the_others() {
    let tps = three();
    let h = merged(&tps, 4, 0);
    send(&tps[0], [1, 2]); // queued, no demand
    tps[1].error("boom".to_string());
    h.assert_error_matches(|e| is_user(e, "boom")); // at once, without demand
    h.assert_items(&[]);
    tps[0].assert_cancelled();
    tps[2].assert_cancelled();
}

#[test]
fn completes_when_all_complete_and_drained() {
    let tps = three();
    let h = merged(&tps, 4, 0);
    tps[0].next(1).complete();
    tps[1].complete();
    h.assert_not_terminated();
    tps[2].complete();
    h.assert_not_terminated(); // 1 still queued
    h.request(1);
    h.assert_items(&[1]);
    h.assert_complete();
}

#[test]
fn empty_merge_completes_at_once() {
    let h = subscribe(merge(Vec::<TestPublisherSourceOf>::new()), 0);
    h.assert_complete();
}

type TestPublisherSourceOf = spillway_testkit::TestPublisherSource<u32, String>;

#[test]
fn late_signals_after_terminal_are_dropped() {
    let tps: [TestPublisher<u32, String>; 2] = [
        TestPublisher::non_compliant(&[Violation::IgnoreCancel, Violation::EmitAfterTerminate]),
        TestPublisher::new(),
    ];
    let h = merged(&tps, 4, u64::MAX);
    tps[1].error("first".to_string());
    tps[0].next(9).complete();
    h.assert_error_matches(|e| is_user(e, "first"));
    h.assert_items(&[]);
    assert_eq!(
        h.event_count(),
        3,
        "subscribe, request, error only: {}",
        h.timeline()
    );
}

#[test]
fn non_compliant_source_fails_with_protocol_violation() {
    let tps: [TestPublisher<u32, String>; 2] = [
        TestPublisher::non_compliant(&[Violation::EmitWithoutDemand]),
        TestPublisher::new(),
    ];
    let h = merged(&tps, 2, 0);
    send(&tps[0], [1, 2, 3]); // prefetch is 2: the third was never requested
    h.assert_error_matches(|e| matches!(e, Error::ProtocolViolation { stage: "merge", .. }));
    tps[1].assert_cancelled();
}

#[test]
fn request_zero_is_invalid() {
    let tps = three();
    let h = merged(&tps, 2, 0);
    h.request(0);
    h.assert_error_matches(|e| matches!(e, Error::InvalidRequest { .. }));
    for tp in &tps {
        tp.assert_cancelled();
    }
}

#[test]
fn callback_panic_in_downstream_is_not_ours() {
    // merge runs no user closure; a panicking prefetch config is a build-time error instead.
    assert!(merge(vec![numbers(0, 1)]).prefetch(0).is_err());
}

/// The marble of the doc, on virtual time: two intervals merge into one deterministic
/// interleaving.
type Timeline = Vec<(Duration, (char, u64))>;

fn scenario_two_intervals() -> (Timeline, bool) {
    let vs = VirtualScheduler::new();
    let a = interval(Duration::from_millis(10))
        .unwrap()
        .map(|i| ('a', i));
    let b = interval(Duration::from_millis(25))
        .unwrap()
        .map(|i| ('b', i));
    let (sub, h) = TestSubscriber::<(char, u64), std::convert::Infallible>::with_scheduler(
        u64::MAX,
        vs.clone(),
    );
    a.merge_with(b).subscribe(sub);
    vs.advance_to(Duration::from_millis(45));
    let timeline = next_timeline(&h);
    h.cancel();
    (timeline, vs.pending() == 0)
}

#[test]
fn virtual_time_two_intervals_interleave_deterministically() {
    let (timeline, timers_released) = scenario_two_intervals();
    let ms = Duration::from_millis;
    assert_eq!(
        timeline,
        vec![
            (ms(10), ('a', 0)),
            (ms(20), ('a', 1)),
            (ms(25), ('b', 0)),
            (ms(30), ('a', 2)),
            (ms(40), ('a', 3)),
        ]
    );
    assert!(timers_released, "cancel reached both intervals");
}

#[test]
fn conformance() {
    tck::verify_publisher_with(
        tck::publisher_factory(|n| {
            let half = (n / 2) as u32;
            merge(vec![numbers(0, half), numbers(half, n as u32)])
        })
        .max_elements(10_000)
        .failed(|| merge(vec![numbers(0, 3)]).with(error::<u32, String>("boom".to_string()))),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

#[test]
fn stress_eight_threaded_sources() {
    const SOURCES: u32 = 8;
    const ITEMS: u32 = 10_000;
    let m = merge((0..SOURCES).map(|t| threaded(t, ITEMS)))
        .prefetch(16)
        .unwrap();
    let (sub, h) = TestSubscriber::<(u32, u32), String>::new(0);
    m.subscribe(sub);
    // Downstream requests in uneven batches from this thread while 8 producers push.
    let total = u64::from(SOURCES * ITEMS);
    let mut requested = 0;
    while requested < total {
        let n = 1 + (requested % 997);
        h.request(n);
        requested += n;
        assert!(
            h.wait_until(DEADLINE, |ev| ev.len() as u64 > requested.min(total)),
            "stalled at {} of {requested} requested",
            h.item_count()
        );
    }
    assert_completed(&h);
    let items = h.items();
    assert_eq!(items.len() as u64, total, "no loss, no duplicate");
    let mut next: HashMap<u32, u32> = HashMap::new();
    for (tag, i) in items {
        let expected = next.entry(tag).or_default();
        assert_eq!(i, *expected, "source {tag} out of order");
        *expected += 1;
    }
    assert!(next.values().all(|&n| n == ITEMS));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn matches_the_reference_model(
        sizes in proptest::collection::vec(0u32..20, 0..5),
        prefetch in 1usize..6,
        schedule in proptest::collection::vec(0u64..7, 0..12),
    ) {
        let sources: Vec<_> = sizes
            .iter()
            .enumerate()
            .map(|(k, &n)| numbers(0, n).map(move |i| (k as u32, i)))
            .collect();
        let (sub, h) = TestSubscriber::<(u32, u32), String>::new(0);
        merge(sources).prefetch(prefetch).unwrap().subscribe(sub);
        let mut delivered = 0u64;
        let mut asked = 0u64;
        for &n in &schedule {
            if n > 0 {
                h.request(n);
                asked += n;
            }
            delivered = h.item_count();
            prop_assert!(delivered <= asked, "more than requested");
        }
        let _ = delivered;
        let items = drain_with(&h, &[]);
        h.assert_complete();
        h.assert_no_protocol_violations();
        // Multiset equality and per-source order.
        for (k, &n) in sizes.iter().enumerate() {
            let from_k: Vec<u32> = items.iter().filter(|(t, _)| *t == k as u32).map(|x| x.1).collect();
            prop_assert_eq!(from_k, (0..n).collect::<Vec<_>>());
        }
        prop_assert_eq!(items.len() as u32, sizes.iter().sum::<u32>());
    }
}
