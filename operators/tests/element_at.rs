//! `element_at(i)`: `i + 1` requested once (skipped items not replaced), the item at `i`,
//! then upstream cancelled; `element_at_or(i, d)`: `d` when upstream ends too early.

#[path = "support/checks.rs"]
mod checks;
#[path = "support/model.rs"]
mod model;

use proptest::prelude::*;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::{self, Either, TckConfig};
use spillway_testkit::{TestPublisher, TestSubscriber, Violation};

/// The publisher suite over `make(n)` (`n` is 0 or 1: one item at most).
fn conformance_one<P>(make: impl Fn(u64) -> P + Send + Sync + 'static)
where
    P: Publisher<Error: std::fmt::Debug> + 'static,
{
    let factory = tck::publisher_factory(make).max_elements(1);
    let config = TckConfig::synchronous()
        .excuse("*", "emits at most one item")
        .cannot_fail("no failing form here; checked in conformance_every_operator");
    tck::verify_publisher_with(factory, config).assert_all_passed();
}

#[test]
fn conformance() {
    // n = 0: an upstream too short; n = 1: the item at index 2 of 3.
    conformance_one(|n| range(0, 3 * n).element_at(2));
    // The default cannot make an empty stream: n = 0 is `empty()`, n = 1 the default.
    conformance_one(|n| match n {
        0 => Either::Right(empty()),
        _ => Either::Left(range(0, 2).element_at_or(2, 7)),
    });
}

#[test]
fn emits_the_item_at_index_then_cancels_upstream() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(0);
    tp.publisher().element_at(2).subscribe(sub);
    assert_eq!(
        checks::requests(&tp),
        Vec::<u64>::new(),
        "nothing before demand"
    );
    down.request(1);
    assert_eq!(checks::requests(&tp), vec![3], "index + 1, once");
    tp.next(10).next(11);
    assert_eq!(
        checks::requests(&tp),
        vec![3],
        "skipped items are not replaced"
    );
    down.assert_items(&[]);
    tp.next(12);
    down.assert_items(&[12]);
    down.assert_complete();
    tp.assert_cancelled();
    down.assert_no_protocol_violations();
}

#[test]
fn later_and_larger_requests_do_not_reach_upstream() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(u64::MAX);
    tp.publisher().element_at(1).subscribe(sub);
    down.request(5);
    assert_eq!(checks::requests(&tp), vec![2]);
    tp.next(1).next(2);
    down.assert_items(&[2]);
    down.request(3);
    assert_eq!(checks::requests(&tp), vec![2], "nothing after the end");
}

#[test]
fn upstream_too_short_completes_empty() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(1);
    tp.publisher().element_at(3).subscribe(sub);
    tp.next(1).next(2).complete();
    down.assert_items(&[]);
    down.assert_complete();
}

#[test]
fn element_at_or_emits_the_default_when_upstream_is_too_short() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(0);
    tp.publisher().element_at_or(3, 99).subscribe(sub);
    down.request(1);
    assert_eq!(checks::requests(&tp), vec![4]);
    tp.next(1).next(2).complete();
    down.assert_items(&[99]);
    down.assert_complete();
    down.assert_no_protocol_violations();
}

#[test]
fn element_at_or_default_waits_for_demand() {
    // An upstream completing empty before any request: the default waits for demand.
    let (sub, down) = TestSubscriber::new(0);
    empty::<u32, String>().element_at_or(0, 5).subscribe(sub);
    down.assert_items(&[]);
    down.assert_not_terminated();
    down.request(1);
    down.assert_items(&[5]);
    down.assert_complete();
    down.assert_no_protocol_violations();
}

#[test]
fn element_at_or_found_ignores_the_default() {
    let (sub, down) = TestSubscriber::new(u64::MAX);
    range(0, 10).element_at_or(4, 99).subscribe(sub);
    down.assert_items(&[4]);
    down.assert_complete();
}

#[test]
fn error_before_index_is_passed_on() {
    for or in [false, true] {
        let tp = TestPublisher::<u32, String>::new();
        let (sub, down) = TestSubscriber::new(1);
        if or {
            tp.publisher().element_at_or(3, 99).subscribe(sub);
        } else {
            tp.publisher().element_at(3).subscribe(sub);
        }
        tp.next(1).next(2).error("boom".to_string());
        down.assert_items(&[]);
        down.assert_error_matches(|e| *e == Error::User("boom".to_string()));
        down.assert_no_protocol_violations();
    }
}

#[test]
fn error_propagates() {
    checks::error_propagates(|p| p.element_at(5));
    checks::error_propagates(|p| p.element_at_or(5, 0));
}

#[test]
fn cancel_mid_stream_reaches_upstream() {
    checks::cancel_reaches_upstream(|p| p.element_at(5));
    checks::cancel_reaches_upstream(|p| p.element_at_or(5, 0));
}

#[test]
fn request_zero_fails() {
    checks::request_zero_fails(|p| p.element_at(5));
    checks::request_zero_fails(|p| p.element_at_or(5, 0));
}

#[test]
fn non_compliant_upstream_extra_items_are_ignored() {
    let tp = TestPublisher::<u32, String>::non_compliant(&[
        Violation::EmitWithoutDemand,
        Violation::IgnoreCancel,
    ]);
    let (sub, down) = TestSubscriber::new(1);
    tp.publisher().element_at(1).subscribe(sub);
    tp.next(1).next(2).next(3).complete();
    down.assert_items(&[2]);
    down.assert_complete();
    tp.assert_cancelled();
    down.assert_no_protocol_violations();
}

#[test]
fn late_signals_dropped() {
    checks::late_signals_dropped(|p| p.element_at(5));
}

proptest! {
    #[test]
    fn matches_vec_model((input, schedule) in model::input_and_schedule(), i in 0u64..12) {
        let tp = model::check_model!(input, schedule, |p| p.element_at(i), |v: &[u32]| {
            v.get(i as usize).copied().into_iter().collect::<Vec<_>>()
        });
        prop_assert!(tp.total_requested() <= i + 1, "requested {}", tp.total_requested());
    }

    #[test]
    fn or_matches_vec_model((input, schedule) in model::input_and_schedule(), i in 0u64..12) {
        model::check_model!(input, schedule, |p| p.element_at_or(i, 99), |v: &[u32]| {
            vec![v.get(i as usize).copied().unwrap_or(99)]
        });
    }
}
