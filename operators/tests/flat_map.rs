//! `flat_map`: STYLE 3.6 checklist, demand (outer concurrency, inner prefetch),
//! cancellation of the outer and every inner, fail fast, panics, conformance,
//! reference-model proptest, non-compliant upstreams, threaded stress test.

mod combining;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use combining::*;
use proptest::prelude::*;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::{self, TckConfig};
use spillway_testkit::{
    PublisherProbe, TestPublisher, TestPublisherSource, TestSubscriber, Violation,
};

/// `outer.flat_map(..)` where every outer item opens a fresh, recorded `TestPublisher`.
fn rig(
    outer: &TestPublisher<u32, String>,
    concurrency: usize,
    prefetch: usize,
    initial: u64,
) -> (Handle<u32>, Inners) {
    let inners: Inners = Arc::default();
    let op = outer
        .publisher()
        .flat_map(recording(&inners), concurrency, prefetch)
        .unwrap();
    (subscribe(op, initial), inners)
}

#[test]
fn normal() {
    let h = subscribe(
        numbers(1, 4).flat_map(|n| numbers(0, n), 2, 4).unwrap(),
        u64::MAX,
    );
    assert_completed(&h);
    let mut items = h.items();
    items.sort();
    assert_eq!(items, vec![0, 0, 0, 1, 1, 2]);
}

#[test]
fn requests_concurrency_upstream_then_one_per_completed_inner() {
    let outer = TestPublisher::new();
    let (h, inners) = rig(&outer, 2, 4, 0);
    assert_eq!(outer.total_requested(), 2);
    send(&outer, [1, 2]);
    assert_eq!(inners.lock().unwrap().len(), 2);
    for i in 0..2 {
        assert_eq!(inner(&inners, i).total_requested(), 4, "inner prefetch");
    }
    inner(&inners, 0).complete();
    assert_eq!(outer.total_requested(), 3, "one more per completed inner");
    h.assert_no_protocol_violations();
}

#[test]
fn backpressured_then_incremental_with_replenish() {
    let outer = TestPublisher::new();
    let (h, inners) = rig(&outer, 1, 4, 0);
    outer.next(1);
    let i0 = inner(&inners, 0);
    send(&i0, [1, 2, 3, 4]);
    h.assert_items(&[]);
    h.request(2);
    h.assert_items(&[1, 2]);
    assert_eq!(i0.total_requested(), 4);
    h.request(1);
    assert_eq!(i0.total_requested(), 7, "3 of 4 delivered: replenish 3");
    h.request(10);
    h.assert_items(&[1, 2, 3, 4]);
}

#[test]
fn unbounded() {
    let h = subscribe(
        numbers(0, 50)
            .flat_map(|n| numbers(n * 10, n * 10 + 10), 4, 3)
            .unwrap(),
        u64::MAX,
    );
    assert_completed(&h);
    assert_eq!(h.item_count(), 500);
}

#[test]
fn cancel_reaches_the_outer_and_every_active_inner() {
    let outer = TestPublisher::new();
    let (h, inners) = rig(&outer, 3, 4, 1);
    send(&outer, [1, 2, 3]);
    inner(&inners, 1).next(7);
    h.cancel();
    outer.assert_cancelled();
    for i in 0..3 {
        inner(&inners, i).assert_cancelled();
    }
    h.assert_items(&[7]);
}

#[test]
fn cancel_reaches_probed_core_sources() {
    let probes: Arc<Mutex<Vec<PublisherProbe>>> = Arc::default();
    let list = probes.clone();
    let (outer, outer_probe) = PublisherProbe::wrap(numbers(0, 1_000));
    let op = outer
        .flat_map(
            move |_| {
                let (p, probe) = PublisherProbe::wrap(never::<u32, String>());
                list.lock().unwrap().push(probe);
                p
            },
            2,
            4,
        )
        .unwrap();
    let h = subscribe(op, 1);
    h.cancel();
    outer_probe.assert_cancelled();
    let probes = probes.lock().unwrap();
    assert_eq!(probes.len(), 2);
    for p in probes.iter() {
        p.assert_cancelled();
    }
}

#[test]
fn inner_error_fails_fast_and_cancels_everything() {
    let outer = TestPublisher::new();
    let (h, inners) = rig(&outer, 2, 4, 0);
    send(&outer, [1, 2]);
    inner(&inners, 0).next(1);
    inner(&inners, 1).error("boom".to_string());
    h.assert_error_matches(|e| is_user(e, "boom"));
    h.assert_items(&[]);
    outer.assert_cancelled();
    inner(&inners, 0).assert_cancelled();
}

#[test]
fn outer_error_cancels_the_inners() {
    let outer = TestPublisher::new();
    let (h, inners) = rig(&outer, 2, 4, 0);
    outer.next(1).error("outer".to_string());
    h.assert_error_matches(|e| is_user(e, "outer"));
    inner(&inners, 0).assert_cancelled();
}

#[test]
fn completes_after_outer_and_inners_complete_and_drain() {
    let outer = TestPublisher::new();
    let (h, inners) = rig(&outer, 2, 4, 0);
    outer.next(1).complete();
    h.assert_not_terminated();
    inner(&inners, 0).next(5).complete();
    h.assert_not_terminated();
    h.request(1);
    h.assert_items(&[5]);
    h.assert_complete();
}

#[test]
fn mapper_panic_fails_and_cancels_upstream() {
    assert_mapper_panic_fails(
        |outer| {
            outer
                .flat_map(
                    |_| -> TestPublisherSource<u32, String> { panic!("mapper") },
                    2,
                    2,
                )
                .unwrap()
        },
        "flat_map",
    );
}

#[test]
fn late_signals_after_terminal_are_dropped() {
    let outer = TestPublisher::<u32, String>::non_compliant(&[
        Violation::IgnoreCancel,
        Violation::EmitAfterTerminate,
        Violation::EmitWithoutDemand,
        Violation::TerminateTwice,
    ]);
    let (h, inners) = rig(&outer, 2, 2, u64::MAX);
    outer.error("first".to_string());
    outer.next(1);
    outer.complete();
    assert!(
        inners.lock().unwrap().is_empty(),
        "no inner opened after the error"
    );
    h.assert_error_matches(|e| is_user(e, "first"));
    h.assert_no_protocol_violations();
}

#[test]
fn non_compliant_outer_fails_with_protocol_violation() {
    let outer = TestPublisher::<u32, String>::non_compliant(&[Violation::EmitWithoutDemand]);
    let (h, inners) = rig(&outer, 1, 2, 0);
    send(&outer, [1, 2]); // only 1 requested
    h.assert_error_matches(|e| {
        matches!(
            e,
            Error::ProtocolViolation {
                stage: "flat_map",
                ..
            }
        )
    });
    inner(&inners, 0).assert_cancelled();
}

#[test]
fn config_errors() {
    assert!(numbers(0, 1).flat_map(|_| numbers(0, 1), 0, 1).is_err());
    assert!(numbers(0, 1).flat_map(|_| numbers(0, 1), 1, 0).is_err());
}

#[test]
fn conformance() {
    tck::verify_publisher_with(
        tck::publisher_factory(|n| {
            // n items: n/3 inners of 3 items and a remainder.
            let n = n as u32;
            tck::Either::Left(
                numbers(0, n.div_ceil(3))
                    .flat_map(move |k| numbers(k * 3, (k * 3 + 3).min(n)), 2, 4)
                    .unwrap(),
            )
        })
        .max_elements(3_000)
        .failed(|| {
            tck::Either::Right(
                error::<u32, String>("boom".to_string())
                    .flat_map(|_| numbers(0, 1), 2, 4)
                    .unwrap(),
            )
        }),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

#[test]
fn stress_threaded_inners() {
    const INNERS: u32 = 8;
    const ITEMS: u32 = 10_000;
    let op = numbers(0, INNERS)
        .flat_map(|t| threaded(t, ITEMS), 4, 16)
        .unwrap();
    let (sub, h) = TestSubscriber::<(u32, u32), String>::new(0);
    op.subscribe(sub);
    let total = u64::from(INNERS * ITEMS);
    let mut requested = 0;
    while requested < total {
        let n = 1 + (requested % 1013);
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
        assert_eq!(i, *expected, "inner {tag} out of order");
        *expected += 1;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn matches_the_reference_model(
        sizes in proptest::collection::vec(0u32..12, 0..6),
        concurrency in 1usize..4,
        prefetch in 1usize..5,
        schedule in proptest::collection::vec(0u64..6, 0..10),
    ) {
        let table = sizes.clone();
        let op = numbers(0, sizes.len() as u32)
            .flat_map(move |k| numbers(0, table[k as usize]).map(move |i| (k, i)), concurrency, prefetch)
            .unwrap();
        let (sub, h) = TestSubscriber::<(u32, u32), String>::new(0);
        op.subscribe(sub);
        let mut asked = 0;
        for &n in &schedule {
            if n > 0 {
                h.request(n);
                asked += n;
            }
            prop_assert!(h.item_count() <= asked);
        }
        let items = drain_with(&h, &[]);
        h.assert_complete();
        h.assert_no_protocol_violations();
        for (k, &n) in sizes.iter().enumerate() {
            let from_k: Vec<u32> = items.iter().filter(|(t, _)| *t == k as u32).map(|x| x.1).collect();
            prop_assert_eq!(from_k, (0..n).collect::<Vec<_>>());
        }
        prop_assert_eq!(items.len() as u32, sizes.iter().sum::<u32>());
    }
}
