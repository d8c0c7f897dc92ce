//! `distinct_until_changed` and `_by_key`: duplicates use no demand or are replaced.

#[path = "support/checks.rs"]
mod checks;
#[path = "support/model.rs"]
mod model;

use proptest::prelude::*;
use spillway::prelude::*;
use spillway_testkit::{TestPublisher, TestSubscriber};

#[test]
fn conformance() {
    checks::conformance(|n| range(0, n).distinct_until_changed());
    checks::conformance(|n| range(0, 2 * n).distinct_until_changed_by_key(|x| x / 2));
}

#[test]
fn normal() {
    let (sub, down) = TestSubscriber::new(u64::MAX);
    from_iter([1, 1, 2, 2, 2, 1, 3, 3])
        .distinct_until_changed()
        .subscribe(sub);
    down.assert_items(&[1, 2, 1, 3]);
    down.assert_complete();
}

#[test]
fn duplicates_are_replaced_upstream() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(0);
    tp.publisher().distinct_until_changed().subscribe(sub);
    down.request(2);
    tp.next(7).next(7);
    assert_eq!(tp.total_requested(), 3, "2 + 1 replacement");
    tp.next(8);
    down.assert_items(&[7, 8]);
    assert_eq!(tp.outstanding(), 0);
}

#[test]
fn by_key() {
    let (sub, down) = TestSubscriber::new(u64::MAX);
    from_iter(["a1", "a2", "b1", "a3"])
        .distinct_until_changed_by_key(|s| s.as_bytes()[0])
        .subscribe(sub);
    down.assert_items(&["a1", "b1", "a3"]);
}

#[test]
fn callback_panics() {
    checks::callback_panics("distinct_until_changed", |p| {
        p.distinct_until_changed_by_key(|x| {
            checks::boom(*x);
            *x
        })
    });
}

#[test]
fn cancel_mid_stream_reaches_upstream() {
    checks::cancel_reaches_upstream(|p| p.distinct_until_changed());
}

#[test]
fn error_propagates() {
    checks::error_propagates(|p| p.distinct_until_changed());
}

#[test]
fn late_signals_dropped() {
    checks::late_signals_dropped(|p| p.distinct_until_changed());
}

proptest! {
    #[test]
    fn matches_vec_model((input, schedule) in model::input_and_schedule()) {
        model::check_model!(input, schedule, |p| p.distinct_until_changed(), |v: &[u32]| {
            let mut out: Vec<u32> = v.to_vec();
            out.dedup();
            out
        });
    }

    #[test]
    fn by_key_matches_vec_model((input, schedule) in model::input_and_schedule()) {
        model::check_model!(input, schedule, |p| p.distinct_until_changed_by_key(|x| x / 2), |v: &[u32]| {
            let mut out: Vec<u32> = v.to_vec();
            out.dedup_by_key(|x| *x / 2);
            out
        });
    }
}
