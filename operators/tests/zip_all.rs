//! `zip_all` and `combine_latest_all`, the n-ary combiners: rows in source order,
//! prefetch demand per source, the completion rules, every other source cancelled at the
//! same instant, errors, more than 64 sources, no sources, non-compliant sources,
//! conformance and reference-model proptests.

mod combining;

use combining::*;
use proptest::prelude::*;
use spillway::operators::{combine_latest_all, concat, zip_all};
use spillway::prelude::*;
use spillway::{BoxPublisher, Error};
use spillway_testkit::tck::{self, TckConfig};
use spillway_testkit::{TestPublisher, TestSubscriber, Violation};

type Tp = TestPublisher<u32, String>;

fn publishers(n: usize) -> Vec<Tp> {
    (0..n).map(|_| TestPublisher::new()).collect()
}

fn zipped(tps: &[Tp], prefetch: usize, initial: u64) -> Handle<Vec<u32>> {
    let sources: Vec<_> = tps.iter().map(|tp| tp.publisher()).collect();
    subscribe(zip_all(sources).prefetch(prefetch).unwrap(), initial)
}

fn combined(tps: &[Tp], initial: u64) -> Handle<Vec<u32>> {
    let sources: Vec<_> = tps.iter().map(|tp| tp.publisher()).collect();
    subscribe(combine_latest_all(sources), initial)
}

// ---- zip_all ----------------------------------------------------------------------

#[test]
fn zip_all_rows_in_source_order_until_the_shortest_ends() {
    let h = subscribe(
        zip_all(vec![numbers(0, 5), numbers(10, 13), numbers(100, 104)]),
        u64::MAX,
    );
    assert_completed(&h);
    h.assert_items(&[vec![0, 10, 100], vec![1, 11, 101], vec![2, 12, 102]]);
}

#[test]
fn zip_all_requests_the_prefetch_from_every_source_and_replenishes() {
    let tps = publishers(3);
    let h = zipped(&tps, 4, 0);
    for tp in &tps {
        assert_eq!(tp.total_requested(), 4);
    }
    for tp in &tps {
        send(tp, 0..4);
    }
    h.assert_items(&[]);
    h.request(2);
    assert_eq!(tps[0].total_requested(), 4, "2 of 4 zipped: not yet");
    h.request(1);
    for tp in &tps {
        assert_eq!(tp.total_requested(), 7, "3 of 4 zipped: +3 each");
    }
}

#[test]
fn zip_all_waits_for_the_slowest_source() {
    let tps = publishers(3);
    let h = zipped(&tps, 8, u64::MAX);
    send(&tps[0], [1, 2]);
    send(&tps[2], [100]);
    h.assert_items(&[]);
    tps[1].next(10);
    h.assert_items(&[vec![1, 10, 100]]);
}

#[test]
fn zip_all_ends_when_a_finished_source_is_drained_cancelling_every_other_at_once() {
    let tps = publishers(4);
    let h = zipped(&tps, 8, 0);
    send(&tps[1], [1]);
    tps[1].complete();
    h.assert_not_terminated(); // source 1 still holds an item
    for (i, tp) in tps.iter().enumerate() {
        if i != 1 {
            tp.next(i as u32 * 10);
        }
    }
    h.request(1);
    h.assert_items(&[vec![0, 1, 20, 30]]);
    // One signal ended it: the row that drained source 1. Every other source was
    // cancelled by it (nested binary zips would cancel the outer inputs only later).
    h.assert_complete();
    for (i, tp) in tps.iter().enumerate() {
        if i != 1 {
            tp.assert_cancelled();
        }
    }
}

#[test]
fn zip_all_with_an_empty_source_completes_at_once() {
    let tps = publishers(3);
    let h = zipped(&tps, 8, 0);
    tps[2].complete();
    h.assert_complete();
    tps[0].assert_cancelled();
    tps[1].assert_cancelled();
}

#[test]
fn zip_all_error_fails_fast_and_cancels_every_other_source() {
    let tps = publishers(3);
    let h = zipped(&tps, 4, 0);
    tps[0].next(1);
    tps[1].error("boom".to_string());
    h.assert_error_matches(|e| is_user(e, "boom"));
    tps[0].assert_cancelled();
    tps[2].assert_cancelled();
}

#[test]
fn zip_all_cancel_reaches_every_source() {
    let tps = publishers(3);
    let h = zipped(&tps, 4, 1);
    h.cancel();
    for tp in &tps {
        tp.assert_cancelled();
    }
}

#[test]
fn zip_all_of_no_sources_completes_at_once() {
    let h = subscribe(zip_all(Vec::<BoxPublisher<u32, String>>::new()), 1);
    h.assert_complete();
    h.assert_items(&[]);
}

#[test]
fn zip_all_takes_more_sources_than_64() {
    // The old fan-in kept the ended lanes in a 64-bit mask; 100 lanes must still end.
    let sources: Vec<_> = (0..100u32).map(|i| numbers(i, i + 2 + i % 3)).collect();
    let h = subscribe(zip_all(sources), u64::MAX);
    assert_completed(&h);
    let rows: Vec<Vec<u32>> = (0..2).map(|r| (0..100).map(|i| i + r).collect()).collect();
    h.assert_items(&rows);
    let h = subscribe(
        zip_all((0..70u32).map(|i| numbers(0, if i == 69 { 1 } else { 5 }))),
        u64::MAX,
    );
    assert_completed(&h);
    assert_eq!(h.item_count(), 1, "lane 69 ended after one row");
}

#[test]
fn zip_all_non_compliant_source_fails_with_protocol_violation() {
    let bad = TestPublisher::<u32, String>::non_compliant(&[Violation::EmitWithoutDemand]);
    let good = TestPublisher::<u32, String>::new();
    let h = subscribe(
        zip_all(vec![good.publisher(), bad.publisher()])
            .prefetch(1)
            .unwrap(),
        0,
    );
    send(&bad, [1, 2]);
    h.assert_error_matches(|e| {
        matches!(
            e,
            Error::ProtocolViolation {
                stage: "zip_all",
                ..
            }
        )
    });
    good.assert_cancelled();
}

#[test]
fn zip_all_request_zero_fails() {
    let tps = publishers(2);
    let h = zipped(&tps, 4, 0);
    h.request(0);
    h.assert_error_matches(|e| matches!(e, Error::InvalidRequest { .. }));
    tps[0].assert_cancelled();
    tps[1].assert_cancelled();
}

#[test]
fn zip_all_conformance() {
    tck::verify_publisher_with(
        tck::publisher_factory(|n| {
            zip_all(vec![
                numbers(0, n as u32).boxed(),
                concat(vec![numbers(0, u32::MAX)]).boxed(),
                numbers(7, u32::MAX).boxed(),
            ])
        })
        .max_elements(10_000)
        .failed(|| {
            zip_all(vec![
                numbers(0, 1).boxed(),
                concat(vec![numbers(0, 0)])
                    .with(error::<u32, String>("boom".into()))
                    .boxed(),
            ])
        }),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

// ---- combine_latest_all -----------------------------------------------------------

#[test]
fn combine_latest_all_emits_every_update_in_arrival_order() {
    let tps = publishers(3);
    let h = combined(&tps, u64::MAX);
    tps[0].next(1);
    tps[1].next(10);
    h.assert_items(&[]); // source 2 has not emitted
    tps[2].next(100);
    tps[1].next(20);
    tps[0].next(2);
    h.assert_items(&[vec![1, 10, 100], vec![1, 20, 100], vec![2, 20, 100]]);
}

#[test]
fn combine_latest_all_under_no_demand_keeps_every_update_for_later() {
    let tps = publishers(2);
    let h = combined(&tps, 0);
    tps[0].next(1);
    tps[1].next(10);
    tps[0].next(2);
    tps[1].next(20);
    h.request(2);
    h.assert_items(&[vec![1, 10], vec![2, 10]]);
    h.request(5);
    h.assert_items(&[vec![1, 10], vec![2, 10], vec![2, 20]]);
}

#[test]
fn combine_latest_all_completes_when_every_source_completed() {
    let tps = publishers(3);
    let h = combined(&tps, u64::MAX);
    for (i, tp) in tps.iter().enumerate() {
        tp.next(i as u32);
    }
    tps[0].complete();
    tps[1].complete();
    h.assert_not_terminated();
    tps[2].next(7);
    tps[2].complete();
    h.assert_items(&[vec![0, 1, 2], vec![0, 1, 7]]);
    h.assert_complete();
}

#[test]
fn combine_latest_all_completes_at_once_when_a_source_ends_without_emitting() {
    let tps = publishers(3);
    let h = combined(&tps, u64::MAX);
    tps[0].next(1);
    tps[1].complete();
    h.assert_complete();
    tps[0].assert_cancelled();
    tps[2].assert_cancelled();
}

#[test]
fn combine_latest_all_error_fails_fast_and_cancels_the_others() {
    let tps = publishers(3);
    let h = combined(&tps, u64::MAX);
    tps[2].error("boom".to_string());
    h.assert_error_matches(|e| is_user(e, "boom"));
    tps[0].assert_cancelled();
    tps[1].assert_cancelled();
}

#[test]
fn combine_latest_all_of_no_sources_completes_at_once() {
    let h = subscribe(
        combine_latest_all(Vec::<BoxPublisher<u32, String>>::new()),
        1,
    );
    h.assert_complete();
}

#[test]
fn combine_latest_all_takes_more_sources_than_64() {
    let sources: Vec<_> = (0..80u32).map(|i| numbers(i, i + 1)).collect();
    let h = subscribe(combine_latest_all(sources), u64::MAX);
    assert_completed(&h);
    h.assert_items(&[(0..80).collect()]);
    // Source 79 completes without emitting: no row, and the end comes at once.
    let sources: Vec<_> = (0..80u32).map(|i| numbers(0, u32::from(i < 79))).collect();
    let h = subscribe(combine_latest_all(sources), u64::MAX);
    assert_completed(&h);
    h.assert_items(&[]);
}

#[test]
fn combine_latest_all_conformance() {
    tck::verify_publisher_with(
        tck::publisher_factory(|n| {
            combine_latest_all(vec![numbers(0, 1).boxed(), numbers(0, n as u32).boxed()])
        })
        .max_elements(10_000)
        .failed(|| {
            combine_latest_all(vec![
                numbers(0, 1).boxed(),
                error::<u32, String>("boom".into()).boxed(),
            ])
        }),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn zip_all_matches_the_reference_model(
        lengths in proptest::collection::vec(0u32..20, 0..6),
        prefetch in 1usize..6,
        schedule in proptest::collection::vec(0u64..6, 0..12),
    ) {
        let (sub, h) = TestSubscriber::<Vec<u32>, String>::new(0);
        let sources: Vec<_> = lengths.iter().enumerate()
            .map(|(i, &len)| numbers(i as u32 * 100, i as u32 * 100 + len))
            .collect();
        zip_all(sources).prefetch(prefetch).unwrap().subscribe(sub);
        let rows = lengths.iter().copied().min().unwrap_or(0);
        let mut asked = 0;
        for &n in &schedule {
            if n > 0 {
                h.request(n);
                asked += n;
            }
            prop_assert_eq!(h.item_count(), asked.min(u64::from(rows)));
        }
        let items = drain_with(&h, &[]);
        h.assert_complete();
        let model: Vec<Vec<u32>> = (0..rows)
            .map(|r| (0..lengths.len() as u32).map(|i| i * 100 + r).collect())
            .collect();
        prop_assert_eq!(items, model);
    }

    #[test]
    fn combine_latest_all_matches_the_reference_model(
        // The sources emit one after another (0's items, then 1's, ...), synchronously.
        lengths in proptest::collection::vec(1u32..6, 1..5),
        schedule in proptest::collection::vec(0u64..6, 0..12),
    ) {
        let (sub, h) = TestSubscriber::<Vec<u32>, String>::new(0);
        let tps = publishers(lengths.len());
        let sources: Vec<_> = tps.iter().map(|tp| tp.publisher()).collect();
        combine_latest_all(sources).subscribe(sub);
        for (i, (tp, &len)) in tps.iter().zip(&lengths).enumerate() {
            send(tp, (0..len).map(|k| i as u32 * 100 + k));
            tp.complete();
        }
        // Model: once every source has its first item, one row per later arrival.
        let mut latest: Vec<u32> = lengths.iter().enumerate().map(|(i, _)| i as u32 * 100).collect();
        let last = lengths.len() - 1;
        let mut model = vec![];
        for k in 0..lengths[last] {
            latest[last] = last as u32 * 100 + k;
            model.push(latest.clone());
        }
        // Sources before the last had all their items before the last emitted: only
        // their final item is in the rows.
        for (i, &len) in lengths.iter().enumerate().take(last) {
            for row in &mut model {
                row[i] = i as u32 * 100 + len - 1;
            }
        }
        let mut asked = 0;
        for &n in &schedule {
            if n > 0 {
                h.request(n);
                asked += n;
            }
            prop_assert_eq!(h.item_count(), asked.min(model.len() as u64));
        }
        let items = drain_with(&h, &[]);
        h.assert_complete();
        prop_assert_eq!(items, model);
    }
}

#[test]
fn zip_all_cancels_every_source_when_the_row_is_made_where_nested_zips_cancel_early() {
    use spillway_testkit::marble;
    use spillway_testkit::VirtualScheduler;
    let source = |m: &str| {
        marble::cold::<u32, String>(m, &[('1', 1), ('2', 2), ('3', 3), ('5', 5), ('6', 6)], None)
    };
    let (a, b, c) = (source("1|"), source("2-5-6-|"), source("---3-|"));

    // n-ary: a's item waits for c's at frame 3; then a has ended, and b and c are
    // cancelled together.
    let vs = VirtualScheduler::new();
    let (sub, h) = TestSubscriber::<Vec<u32>, String>::with_scheduler(u64::MAX, vs.clone());
    zip_all(vec![
        a.clone().boxed(),
        b.clone().boxed(),
        c.clone().boxed(),
    ])
    .subscribe(sub);
    vs.advance_by(std::time::Duration::from_millis(10));
    h.assert_items(&[vec![1, 2, 3]]);
    a.assert_subscriptions(&vs, &["^!"]);
    b.assert_subscriptions(&vs, &["^--!"]);
    c.assert_subscriptions(&vs, &["^--!"]);

    // Nested binary zips, same sources: the inner zip(a, b) ends at frame 1 (a ended
    // with its item paired) and cancels b there, two frames before the row exists.
    let (a, b, c) = (source("1|"), source("2-5-6-|"), source("---3-|"));
    let vs = VirtualScheduler::new();
    let (sub, h) =
        TestSubscriber::<((u32, u32), u32), String>::with_scheduler(u64::MAX, vs.clone());
    a.clone().zip(b.clone()).zip(c.clone()).subscribe(sub);
    vs.advance_by(std::time::Duration::from_millis(10));
    h.assert_items(&[((1, 2), 3)]);
    b.assert_subscriptions(&vs, &["^!"]);
    c.assert_subscriptions(&vs, &["^--!"]);
}

// ---- hot and cold inputs in one collection ------------------------------------------

/// Cold and hot marble inputs of one test in one `Vec` (`MarbleSource`), each keeping
/// its subscription log: n-ary `zip_all` and `merge` subscribe every input at once and,
/// when one input ends the stream, cancel all the others at the same instant (nested
/// binary zips would cancel the inner pair later).
#[test]
fn hot_and_cold_inputs_in_one_collection_are_cancelled_at_one_instant() {
    use spillway_testkit::marble::{self, MarbleSource};
    use spillway_testkit::VirtualScheduler;
    use std::time::Duration;

    let vs = VirtualScheduler::new();
    let v = [('a', 1), ('b', 2), ('c', 3), ('d', 4)];
    let inputs: Vec<MarbleSource<u32, String>> = vec![
        marble::cold("-a-b|", &v, None).into(),
        marble::hot("^-c-d-a-b-c", &v, None, vs.clone()).into(),
        marble::cold("--a--b--c--d", &v, None).into(),
    ];
    let (sub, h) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
    zip_all(inputs.clone()).subscribe(sub);
    vs.advance_by(Duration::from_millis(20));
    // Rows while every input has an item; the first input completes at frame 4 (its
    // subscription ends there), so the stream ends when the second row can go out
    // (frame 5), and both other inputs are cancelled at that instant.
    h.assert_items(&[vec![1, 3, 1], vec![2, 4, 2]]);
    h.assert_complete();
    inputs[0].assert_subscriptions(&vs, &["^---!"]);
    inputs[1].assert_subscriptions(&vs, &["^----!"]);
    inputs[2].assert_subscriptions(&vs, &["^----!"]);
    assert!(inputs[1].is_hot() && !inputs[0].is_hot());

    let vs = VirtualScheduler::new();
    let merged: Vec<MarbleSource<u32, String>> = vec![
        marble::cold("-a-b-", &v, None).into(),
        marble::hot(
            "^--c#",
            &v,
            Some(spillway::Error::User("hot".to_string())),
            vs.clone(),
        )
        .into(),
    ];
    let (sub, h) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
    spillway::operators::merge(merged.clone()).subscribe(sub);
    vs.advance_by(Duration::from_millis(10));
    // Frame 3 has an item from each (the hot one's first); the hot error at frame 4
    // ends the stream and cancels the cold input at that instant.
    h.assert_items(&[1, 3, 2]);
    h.assert_error_matches(|e| matches!(e, Error::User(m) if m == "hot"));
    merged[0].assert_subscriptions(&vs, &["^---!"]);
    merged[1].assert_subscriptions(&vs, &["^---!"]);
}
