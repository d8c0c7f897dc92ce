//! `distinct_until_changed_by(equal)`: items `equal` to the last one emitted use no
//! demand or are replaced; the comparison is with the last item *emitted*.

#[path = "support/checks.rs"]
mod checks;
#[path = "support/model.rs"]
mod model;

use proptest::prelude::*;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::{TestPublisher, TestSubscriber};

/// Not transitive: shows that the comparison is with the last item emitted.
fn near(a: &u32, b: &u32) -> bool {
    a.abs_diff(*b) <= 1
}

#[test]
fn conformance() {
    checks::conformance(|n| range(0, n).distinct_until_changed_by(|a, b| a == b));
    checks::conformance(|n| range(0, 2 * n).distinct_until_changed_by(|a, b| a / 2 == b / 2));
}

#[test]
fn compares_with_the_last_item_emitted() {
    let (sub, down) = TestSubscriber::new(u64::MAX);
    from_iter([1u32, 2, 3, 4, 4, 9, 8, 1])
        .distinct_until_changed_by(near)
        .subscribe(sub);
    // 2 is near 1 (dropped), 3 is not near 1 (emitted), 4 near 3, 9 far, 8 near 9, 1 far.
    down.assert_items(&[1, 3, 9, 1]);
    down.assert_complete();
}

#[test]
fn the_comparator_gets_last_then_current() {
    let (sub, down) = TestSubscriber::new(u64::MAX);
    // "Equal" when the new item is not larger: keeps a strictly increasing run.
    from_iter([1u32, 3, 2, 3, 5, 4])
        .distinct_until_changed_by(|last, item| item <= last)
        .subscribe(sub);
    down.assert_items(&[1, 3, 5]);
}

#[test]
fn dropped_items_are_replaced_upstream() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(0);
    tp.publisher()
        .distinct_until_changed_by(near)
        .subscribe(sub);
    down.request(2);
    assert_eq!(checks::requests(&tp), vec![2]);
    tp.next(5).next(6);
    assert_eq!(checks::requests(&tp), vec![2, 1], "one replacement for 6");
    tp.next(9);
    down.assert_items(&[5, 9]);
    assert_eq!(tp.outstanding(), 0);
    down.assert_no_protocol_violations();
}

#[test]
fn error_after_items_is_passed_on() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(u64::MAX);
    tp.publisher()
        .distinct_until_changed_by(near)
        .subscribe(sub);
    tp.next(1).next(2).next(5).error("boom".to_string());
    down.assert_items(&[1, 5]);
    down.assert_error_matches(|e| *e == Error::User("boom".to_string()));
}

#[test]
fn callback_panics() {
    checks::callback_panics("distinct_until_changed", |p| {
        p.distinct_until_changed_by(|_, x| {
            checks::boom(*x);
            false
        })
    });
}

#[test]
fn cancel_mid_stream_reaches_upstream() {
    checks::cancel_reaches_upstream(|p| p.distinct_until_changed_by(near));
}

#[test]
fn error_propagates() {
    checks::error_propagates(|p| p.distinct_until_changed_by(near));
}

#[test]
fn request_zero_fails() {
    checks::request_zero_fails(|p| p.distinct_until_changed_by(|a, b| a == b));
}

#[test]
fn late_signals_dropped() {
    // A non-compliant upstream (emits and terminates after completing).
    checks::late_signals_dropped(|p| p.distinct_until_changed_by(near));
}

proptest! {
    #[test]
    fn matches_vec_model((input, schedule) in model::input_and_schedule()) {
        model::check_model!(input, schedule, |p| p.distinct_until_changed_by(near), |v: &[u32]| {
            let mut out: Vec<u32> = Vec::new();
            for &x in v {
                if out.last().is_none_or(|last| !near(last, &x)) {
                    out.push(x);
                }
            }
            out
        });
    }
}
