//! `combine_latest`: STYLE 3.6 checklist, arrival order, demand, completion rules,
//! cancellation of both sides, errors, panics, virtual time, conformance, proptest.

mod combining;

use std::time::Duration;

use combining::*;
use proptest::prelude::*;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::{self, TckConfig};
use spillway_testkit::{TestPublisher, TestSubscriber, Violation, VirtualScheduler};

type Tp = TestPublisher<u32, String>;
type Rig = (Tp, Tp, Handle<(u32, u32)>);

fn rig(initial: u64) -> Rig {
    let (a, b) = (TestPublisher::new(), TestPublisher::new());
    let op = a
        .publisher()
        .combine_latest(b.publisher(), |x, y| (*x, *y))
        .prefetch(4)
        .unwrap();
    (a, b, subscribe(op, initial))
}

#[test]
fn normal() {
    let (a, b, h) = rig(u64::MAX);
    a.next(1);
    b.next(10);
    a.next(2);
    b.next(20);
    a.complete();
    b.complete();
    h.assert_items(&[(1, 10), (2, 10), (2, 20)]);
    h.assert_complete();
}

#[test]
fn backpressured_updates_are_queued_in_arrival_order() {
    let (a, b, h) = rig(0);
    a.next(1);
    a.next(2);
    b.next(10);
    a.next(3);
    h.assert_items(&[]);
    h.request(1);
    h.assert_items(&[(2, 10)]);
    h.request(5);
    h.assert_items(&[(2, 10), (3, 10)]);
}

#[test]
fn prefetch_and_replenish() {
    let (a, b, h) = rig(0);
    assert_eq!((a.total_requested(), b.total_requested()), (4, 4));
    b.next(0);
    send(&a, 0..4);
    h.request(3);
    assert_eq!(a.total_requested(), 7, "3 of 4 consumed: +3");
}

#[test]
fn completes_at_once_when_a_side_completes_empty() {
    let (a, b, h) = rig(0);
    a.next(1);
    b.complete();
    h.assert_complete();
    a.assert_cancelled();
}

#[test]
fn cancel_reaches_both_sides() {
    let (a, b, h) = rig(1);
    h.cancel();
    a.assert_cancelled();
    b.assert_cancelled();
}

#[test]
fn error_fails_fast_and_cancels_the_other() {
    let (a, b, h) = rig(0);
    a.next(1);
    b.error("boom".to_string());
    h.assert_error_matches(|e| is_user(e, "boom"));
    a.assert_cancelled();
}

#[test]
fn combiner_panic_fails_and_cancels_both() {
    let (a, b) = (
        TestPublisher::<u32, String>::new(),
        TestPublisher::<u32, String>::new(),
    );
    let op = a
        .publisher()
        .combine_latest(b.publisher(), |_, _| -> u32 { panic!("combiner") });
    let h = subscribe(op, 5);
    a.next(1);
    b.next(2);
    h.assert_error_matches(|e| {
        matches!(
            e,
            Error::Panicked {
                stage: "combine_latest",
                ..
            }
        )
    });
    a.assert_cancelled();
    b.assert_cancelled();
}

#[test]
fn non_compliant_side_and_late_signals() {
    let a = TestPublisher::<u32, String>::non_compliant(&[
        Violation::EmitWithoutDemand,
        Violation::IgnoreCancel,
        Violation::EmitAfterTerminate,
    ]);
    let b = TestPublisher::<u32, String>::new();
    let h = subscribe(
        a.publisher()
            .combine_latest(b.publisher(), |x, y| x + y)
            .prefetch(1)
            .unwrap(),
        0,
    );
    send(&a, [1, 2]);
    h.assert_error_matches(|e| {
        matches!(
            e,
            Error::ProtocolViolation {
                stage: "combine_latest",
                ..
            }
        )
    });
    b.assert_cancelled();
    a.next(3); // late: dropped
    h.assert_items(&[]);
    h.assert_no_protocol_violations();
}

/// The marble of the doc on virtual time.
fn scenario_two_intervals() -> Vec<(Duration, (u64, u64))> {
    let vs = VirtualScheduler::new();
    let a = interval(Duration::from_millis(10)).unwrap();
    let b = interval(Duration::from_millis(25)).unwrap();
    let (sub, h) = TestSubscriber::<(u64, u64), std::convert::Infallible>::with_scheduler(
        u64::MAX,
        vs.clone(),
    );
    a.combine_latest(b, |x, y| (*x, *y)).subscribe(sub);
    vs.advance_to(Duration::from_millis(45));
    let timeline = next_timeline(&h);
    h.cancel();
    timeline
}

#[test]
fn virtual_time_two_intervals() {
    let ms = Duration::from_millis;
    assert_eq!(
        scenario_two_intervals(),
        vec![(ms(25), (1, 0)), (ms(30), (2, 0)), (ms(40), (3, 0))]
    );
}

#[test]
fn conformance() {
    tck::verify_publisher_with(
        tck::publisher_factory(|n| {
            tck::Either::Left(numbers(0, 1).combine_latest(numbers(0, n as u32), |_, y| *y))
        })
        .max_elements(10_000)
        .failed(|| {
            tck::Either::Right(
                numbers(0, 1).combine_latest(error::<u32, String>("boom".into()), |_, y| *y),
            )
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
        events in proptest::collection::vec(any::<bool>(), 0..30),
        schedule in proptest::collection::vec(0u64..6, 0..12),
    ) {
        // Drive both sides by hand in a random interleaving; model: fold the updates.
        let (a, b, h) = rig(0);
        let mut model = Vec::new();
        let (mut la, mut lb) = (None, None);
        for (i, left) in events.iter().enumerate() {
            let side = if *left { &a } else { &b };
            if side.outstanding() == 0 {
                // Make room: consume everything queued so far.
                h.request(u64::MAX / 2);
            }
            side.next(i as u32);
            if *left { la = Some(i as u32) } else { lb = Some(i as u32) }
            if let (Some(x), Some(y)) = (la, lb) {
                model.push((x, y));
            }
        }
        for &n in &schedule {
            if n > 0 {
                h.request(n);
            }
        }
        a.complete();
        b.complete();
        let items = drain_with(&h, &[]);
        prop_assert_eq!(items, model);
    }
}
