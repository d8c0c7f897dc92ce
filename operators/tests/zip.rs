//! `zip`: STYLE 3.6 checklist, prefetch demand, completion rule, cancellation of both
//! sides, errors, conformance, reference-model proptest, non-compliant side.

mod combining;

use combining::*;
use proptest::prelude::*;
use spillway::operators::concat;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::{self, TckConfig};
use spillway_testkit::{PublisherProbe, TestPublisher, TestSubscriber, Violation};

type Tp = TestPublisher<u32, String>;
type Rig = (Tp, Tp, Handle<(u32, u32)>);

fn rig(prefetch: usize, initial: u64) -> Rig {
    let (a, b) = (TestPublisher::new(), TestPublisher::new());
    let h = subscribe(
        a.publisher().zip(b.publisher()).prefetch(prefetch).unwrap(),
        initial,
    );
    (a, b, h)
}

#[test]
fn normal() {
    let h = subscribe(numbers(0, 5).zip(numbers(10, 13)), u64::MAX);
    assert_completed(&h);
    h.assert_items(&[(0, 10), (1, 11), (2, 12)]);
}

#[test]
fn requests_the_prefetch_from_both_sides_and_replenishes() {
    let (a, b, h) = rig(4, 0);
    assert_eq!(a.total_requested(), 4);
    assert_eq!(b.total_requested(), 4);
    send(&a, 0..4);
    send(&b, 0..4);
    h.assert_items(&[]);
    h.request(2);
    assert_eq!(a.total_requested(), 4);
    h.request(1);
    assert_eq!(
        (a.total_requested(), b.total_requested()),
        (7, 7),
        "3 of 4 paired: +3 each"
    );
}

#[test]
fn backpressured_and_incremental() {
    let (a, b, h) = rig(8, 0);
    send(&a, [1, 2, 3]);
    send(&b, [10]);
    h.request(5);
    h.assert_items(&[(1, 10)]);
    send(&b, [20, 30]);
    h.assert_items(&[(1, 10), (2, 20), (3, 30)]);
}

#[test]
fn completes_when_a_finished_side_is_drained_and_cancels_the_other() {
    let (a, b, h) = rig(8, 0);
    send(&a, [1, 2]);
    a.complete();
    h.assert_not_terminated(); // a still has queued items
    b.next(10);
    h.request(1);
    h.assert_items(&[(1, 10)]);
    h.assert_not_terminated();
    b.next(20);
    h.request(1);
    h.assert_items(&[(1, 10), (2, 20)]);
    h.assert_complete();
    b.assert_cancelled();
}

#[test]
fn an_empty_side_completes_at_once() {
    let (a, b, h) = rig(8, 0);
    b.complete();
    h.assert_complete();
    a.assert_cancelled();
}

#[test]
fn cancel_reaches_both_sides() {
    let (a, b, h) = rig(4, 1);
    h.cancel();
    a.assert_cancelled();
    b.assert_cancelled();
    let (pa, probe) = PublisherProbe::wrap(numbers(0, 100));
    let h = subscribe(pa.zip(numbers(0, 100)), 2);
    h.cancel();
    probe.assert_cancelled();
}

#[test]
fn error_fails_fast_and_cancels_the_other() {
    let (a, b, h) = rig(4, 0);
    a.next(1);
    b.error("boom".to_string());
    h.assert_error_matches(|e| is_user(e, "boom"));
    a.assert_cancelled();
}

#[test]
fn non_compliant_side_fails_with_protocol_violation() {
    let a = TestPublisher::<u32, String>::non_compliant(&[Violation::EmitWithoutDemand]);
    let b = TestPublisher::<u32, String>::new();
    let h = subscribe(a.publisher().zip(b.publisher()).prefetch(1).unwrap(), 0);
    send(&a, [1, 2]);
    h.assert_error_matches(|e| matches!(e, Error::ProtocolViolation { stage: "zip", .. }));
    b.assert_cancelled();
}

#[test]
fn late_signals_after_terminal_are_dropped() {
    let a = TestPublisher::<u32, String>::non_compliant(&[
        Violation::IgnoreCancel,
        Violation::EmitAfterTerminate,
    ]);
    let b = TestPublisher::<u32, String>::new();
    let h = subscribe(a.publisher().zip(b.publisher()), u64::MAX);
    b.complete();
    h.assert_complete();
    a.next(1).complete();
    h.assert_items(&[]);
    h.assert_no_protocol_violations();
}

#[test]
fn config_error() {
    assert!(numbers(0, 1).zip(numbers(0, 1)).prefetch(0).is_err());
}

#[test]
fn conformance() {
    tck::verify_publisher_with(
        tck::publisher_factory(|n| numbers(0, n as u32).zip(concat(vec![numbers(0, u32::MAX)])))
            .max_elements(10_000)
            .failed(|| {
                numbers(0, 1)
                    .zip(concat(vec![numbers(0, 0)]).with(error::<u32, String>("boom".into())))
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
        left in 0u32..30,
        right in 0u32..30,
        prefetch in 1usize..6,
        schedule in proptest::collection::vec(0u64..6, 0..12),
    ) {
        let (sub, h) = TestSubscriber::<(u32, u32), String>::new(0);
        numbers(0, left).zip(numbers(100, 100 + right)).prefetch(prefetch).unwrap().subscribe(sub);
        let mut asked = 0;
        for &n in &schedule {
            if n > 0 {
                h.request(n);
                asked += n;
            }
            prop_assert_eq!(h.item_count(), asked.min(u64::from(left.min(right))));
        }
        let items = drain_with(&h, &[]);
        h.assert_complete();
        let model: Vec<(u32, u32)> = (0..left).zip(100..100 + right).collect();
        prop_assert_eq!(items, model);
    }
}
