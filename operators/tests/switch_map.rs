//! `switch_map`: STYLE 3.6 checklist, switching cancels the previous inner, demand,
//! cancellation of outer and inner, errors, panics, virtual time, conformance,
//! reference-model proptest.

mod combining;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use combining::*;
use proptest::prelude::*;
use spillway::prelude::*;
use spillway_testkit::tck::{self, TckConfig};
use spillway_testkit::{
    PublisherProbe, TestPublisher, TestPublisherSource, TestSubscriber, Violation, VirtualScheduler,
};

/// `outer.switch_map(..)` where every outer item opens a fresh, recorded `TestPublisher`.
fn rig(outer: &TestPublisher<u32, String>, initial: u64) -> (Handle<u32>, Inners) {
    let inners: Inners = Arc::default();
    let op = outer.publisher().switch_map(recording(&inners));
    (subscribe(op.prefetch(4).unwrap(), initial), inners)
}

#[test]
fn normal() {
    let h = subscribe(numbers(1, 3).switch_map(|n| numbers(0, n)), u64::MAX);
    assert_completed(&h);
    h.assert_items(&[0, 0, 1]);
}

#[test]
fn requests_unbounded_upstream_and_the_prefetch_from_the_inner() {
    let outer = TestPublisher::new();
    let (_h, inners) = rig(&outer, 0);
    assert_eq!(outer.total_requested(), u64::MAX);
    outer.next(1);
    assert_eq!(inner(&inners, 0).total_requested(), 4);
}

#[test]
fn a_new_outer_item_cancels_the_previous_inner_and_discards_its_queue() {
    let outer = TestPublisher::new();
    let (h, inners) = rig(&outer, 0);
    outer.next(1);
    send(&inner(&inners, 0), [1, 2]);
    outer.next(2);
    inner(&inners, 0).assert_cancelled();
    inner(&inners, 1).next(10);
    h.request(5);
    h.assert_items(&[10]);
    inner(&inners, 1).assert_not_cancelled();
}

#[test]
fn backpressured_and_incremental() {
    let outer = TestPublisher::new();
    let (h, inners) = rig(&outer, 0);
    outer.next(1);
    send(&inner(&inners, 0), [1, 2, 3]);
    h.assert_items(&[]);
    h.request(1);
    h.assert_items(&[1]);
    h.request(2);
    h.assert_items(&[1, 2, 3]);
    assert_eq!(inner(&inners, 0).total_requested(), 7);
}

#[test]
fn cancel_reaches_outer_and_the_active_inner() {
    let outer = TestPublisher::new();
    let (h, inners) = rig(&outer, 1);
    outer.next(1);
    outer.next(2);
    h.cancel();
    outer.assert_cancelled();
    inner(&inners, 0).assert_cancelled();
    inner(&inners, 1).assert_cancelled();
}

#[test]
fn cancel_reaches_probed_sources() {
    let (o, outer_probe) = PublisherProbe::wrap(numbers(0, 1));
    let probe: Arc<Mutex<Option<PublisherProbe>>> = Arc::default();
    let slot = probe.clone();
    let h = subscribe(
        o.switch_map(move |_| {
            let (p, pr) = PublisherProbe::wrap(never::<u32, String>());
            *slot.lock().unwrap() = Some(pr);
            p
        }),
        1,
    );
    h.cancel();
    assert!(outer_probe.was_completed() || outer_probe.was_cancelled());
    probe
        .lock()
        .unwrap()
        .as_ref()
        .expect("inner subscribed")
        .assert_cancelled();
}

#[test]
fn error_propagates_and_cancels() {
    let outer = TestPublisher::new();
    let (h, inners) = rig(&outer, 1);
    outer.next(1);
    inner(&inners, 0).error("boom".to_string());
    h.assert_error_matches(|e| is_user(e, "boom"));
    outer.assert_cancelled();
}

#[test]
fn a_cancelled_inners_late_error_is_ignored() {
    let outer = TestPublisher::new();
    let (h, inners) = rig(&outer, 1);
    outer.next(1);
    let first = inner(&inners, 0);
    outer.next(2);
    first.assert_cancelled();
    first.error("late".to_string()); // ignored by the cancelled publisher, and by us
    h.assert_not_terminated();
}

#[test]
fn late_signals_after_terminal_are_dropped() {
    let outer = TestPublisher::<u32, String>::non_compliant(&[
        Violation::IgnoreCancel,
        Violation::EmitAfterTerminate,
        Violation::TerminateTwice,
    ]);
    let (h, inners) = rig(&outer, 5);
    outer.error("first".to_string());
    outer.next(1).complete();
    assert!(inners.lock().unwrap().is_empty());
    h.assert_error_matches(|e| is_user(e, "first"));
}

#[test]
fn mapper_panic_fails() {
    assert_mapper_panic_fails(
        |outer| outer.switch_map(|_| -> TestPublisherSource<u32, String> { panic!("mapper") }),
        "switch_map",
    );
}

#[test]
fn completes_after_outer_and_last_inner() {
    let outer = TestPublisher::new();
    let (h, inners) = rig(&outer, 5);
    outer.next(1).complete();
    h.assert_not_terminated();
    inner(&inners, 0).next(4).complete();
    h.assert_items(&[4]);
    h.assert_complete();
}

/// The marble of the doc on virtual time: outer ticks every 30 ms, each inner every
/// 12 ms; the inner of the first tick is cut off at 60 ms.
type Timeline = Vec<(Duration, (u64, u64))>;

fn scenario_switching_intervals() -> (Timeline, usize) {
    let vs = VirtualScheduler::new();
    let op = interval(Duration::from_millis(30))
        .unwrap()
        .switch_map(|o| {
            interval(Duration::from_millis(12))
                .unwrap()
                .map(move |i| (o, i))
        });
    let (sub, h) = TestSubscriber::<(u64, u64), std::convert::Infallible>::with_scheduler(
        u64::MAX,
        vs.clone(),
    );
    op.subscribe(sub);
    vs.advance_to(Duration::from_millis(75));
    let timeline = next_timeline(&h);
    h.cancel();
    (timeline, vs.pending())
}

#[test]
fn virtual_time_switching() {
    let (timeline, pending) = scenario_switching_intervals();
    let ms = Duration::from_millis;
    assert_eq!(
        timeline,
        vec![(ms(42), (0, 0)), (ms(54), (0, 1)), (ms(72), (1, 0))]
    );
    assert_eq!(pending, 0, "cancel released the outer and the inner timers");
}

#[test]
fn conformance() {
    tck::verify_publisher_with(
        tck::publisher_factory(|n| {
            tck::Either::Left(numbers(0, 1).switch_map(move |_| numbers(0, n as u32)))
        })
        .max_elements(10_000)
        .failed(|| {
            tck::Either::Right(error::<u32, String>("boom".into()).switch_map(|_| numbers(0, 1)))
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
    fn synchronous_inners_are_never_switched_away(
        sizes in proptest::collection::vec(0u32..8, 0..6),
        schedule in proptest::collection::vec(0u64..6, 0..12),
    ) {
        // With synchronous inners each one is subscribed, and completes, before the next
        // outer item only if downstream keeps up; under backpressure later outer items
        // switch queued items away. Model: whatever is delivered is a subsequence of the
        // concatenation, in order, ending with the whole last inner.
        let table = sizes.clone();
        let (sub, h) = TestSubscriber::<(u32, u32), String>::new(0);
        numbers(0, sizes.len() as u32)
            .switch_map(move |k| numbers(0, table[k as usize]).map(move |i| (k, i)))
            .subscribe(sub);
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
        let mut sorted = items.clone();
        sorted.sort();
        prop_assert_eq!(&sorted, &items, "in order, no duplicates");
        if let Some(last) = sizes.len().checked_sub(1) {
            let tail: Vec<(u32, u32)> = (0..sizes[last]).map(|i| (last as u32, i)).collect();
            prop_assert!(items.ends_with(&tail), "the last inner is delivered in full");
        }
    }
}
