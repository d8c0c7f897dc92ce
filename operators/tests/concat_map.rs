//! `concat_map`: STYLE 3.6 checklist, one inner at a time, order, demand, cancellation
//! of outer and inner, errors, panics, conformance, reference-model proptest.

mod combining;

use std::sync::Arc;

use combining::*;
use proptest::prelude::*;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::{self, TckConfig};
use spillway_testkit::{TestPublisher, TestPublisherSource, TestSubscriber, Violation};

/// `outer.concat_map(..)` where every outer item opens a fresh, recorded `TestPublisher`.
fn rig(outer: &TestPublisher<u32, String>, initial: u64) -> (Handle<u32>, Inners) {
    let inners: Inners = Arc::default();
    let op = outer.publisher().concat_map(recording(&inners));
    (subscribe(op.prefetch(4).unwrap(), initial), inners)
}

#[test]
fn normal_in_order() {
    let h = subscribe(numbers(1, 4).concat_map(|n| numbers(0, n)), u64::MAX);
    assert_completed(&h);
    h.assert_items(&[0, 0, 1, 0, 1, 2]);
}

#[test]
fn one_inner_at_a_time() {
    let outer = TestPublisher::new();
    let (h, inners) = rig(&outer, 0);
    assert_eq!(outer.total_requested(), 1);
    outer.next(1);
    assert_eq!(inner(&inners, 0).total_requested(), 4, "inner prefetch");
    inner(&inners, 0).next(1).complete();
    assert_eq!(
        outer.total_requested(),
        1,
        "no next outer item while the completed inner still holds an undelivered item"
    );
    h.request(1);
    h.assert_items(&[1]);
    assert_eq!(
        outer.total_requested(),
        2,
        "next outer item once the completed inner was drained"
    );
    outer.next(2);
    inner(&inners, 1).next(2);
    h.request(10);
    h.assert_items(&[1, 2]);
}

#[test]
fn backpressured_and_incremental_with_replenish() {
    let outer = TestPublisher::new();
    let (h, inners) = rig(&outer, 0);
    outer.next(1);
    let i0 = inner(&inners, 0);
    send(&i0, [1, 2, 3, 4]);
    h.assert_items(&[]);
    h.request(3);
    h.assert_items(&[1, 2, 3]);
    assert_eq!(i0.total_requested(), 7);
}

#[test]
fn cancel_reaches_outer_and_inner() {
    let outer = TestPublisher::new();
    let (h, inners) = rig(&outer, 1);
    outer.next(1);
    h.cancel();
    outer.assert_cancelled();
    inner(&inners, 0).assert_cancelled();
}

#[test]
fn inner_error_cancels_outer() {
    let outer = TestPublisher::new();
    let (h, inners) = rig(&outer, 1);
    outer.next(1);
    inner(&inners, 0).error("boom".to_string());
    h.assert_error_matches(|e| is_user(e, "boom"));
    outer.assert_cancelled();
}

#[test]
fn mapper_panic_fails() {
    assert_mapper_panic_fails(
        |outer| outer.concat_map(|_| -> TestPublisherSource<u32, String> { panic!("mapper") }),
        "concat_map",
    );
}

#[test]
fn completes_after_outer_and_last_inner() {
    let outer = TestPublisher::new();
    let (h, inners) = rig(&outer, 5);
    outer.next(1);
    outer.complete();
    h.assert_not_terminated();
    inner(&inners, 0).next(3).complete();
    h.assert_items(&[3]);
    h.assert_complete();
}

#[test]
fn late_signals_and_non_compliant_outer() {
    let outer = TestPublisher::<u32, String>::non_compliant(&[Violation::EmitWithoutDemand]);
    let (h, inners) = rig(&outer, 1);
    send(&outer, [1, 2]); // only one requested
    h.assert_error_matches(|e| {
        matches!(
            e,
            Error::ProtocolViolation {
                stage: "concat_map",
                ..
            }
        )
    });
    inner(&inners, 0).assert_cancelled();
    inner(&inners, 0).next(9); // ignored by the cancelled test publisher anyway
    h.assert_items(&[]);
}

#[test]
fn conformance() {
    tck::verify_publisher_with(
        tck::publisher_factory(|n| {
            let n = n as u32;
            tck::Either::Left(
                numbers(0, n.div_ceil(2)).concat_map(move |k| numbers(k * 2, (k * 2 + 2).min(n))),
            )
        })
        .max_elements(3_000)
        .failed(|| {
            tck::Either::Right(error::<u32, String>("boom".into()).concat_map(|_| numbers(0, 1)))
        }),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn matches_the_reference_model(
        sizes in proptest::collection::vec(0u32..8, 0..6),
        prefetch in 1usize..5,
        schedule in proptest::collection::vec(0u64..6, 0..12),
    ) {
        let table = sizes.clone();
        let (sub, h) = TestSubscriber::<(u32, u32), String>::new(0);
        numbers(0, sizes.len() as u32)
            .concat_map(move |k| numbers(0, table[k as usize]).map(move |i| (k, i)))
            .prefetch(prefetch)
            .unwrap()
            .subscribe(sub);
        let total: u32 = sizes.iter().sum();
        let mut asked = 0;
        for &n in &schedule {
            if n > 0 {
                h.request(n);
                asked += n;
            }
            prop_assert_eq!(h.item_count(), asked.min(u64::from(total)));
        }
        let items = drain_with(&h, &[]);
        h.assert_complete();
        let model: Vec<(u32, u32)> = sizes.iter().enumerate().flat_map(|(k, &n)| (0..n).map(move |i| (k as u32, i))).collect();
        prop_assert_eq!(items, model);
    }
}

/// A completed inner whose item waits for demand holds the outer back: at zero demand
/// nothing piles up (before the fix, every outer item was requested and queued).
#[test]
fn zero_demand_holds_the_outer_while_a_completed_inner_is_undrained() {
    let (outer, probe) = spillway_testkit::PublisherProbe::wrap(spillway::prelude::range(1, 7));
    let (subscriber, h) = spillway_testkit::TestSubscriber::<u64, std::convert::Infallible>::new(1);
    outer
        .concat_map(spillway::prelude::just)
        .subscribe(subscriber);
    h.assert_items(&[1]);
    assert_eq!(
        probe.total_requested(),
        2,
        "item 1 delivered, item 2 waiting: no more"
    );
    h.request(10);
    h.assert_items(&[1, 2, 3, 4, 5, 6]);
    h.assert_complete();
}
