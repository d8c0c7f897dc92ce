//! `pairwise`: `(previous, current)` pairs; the first item uses no demand (replaced on a
//! counting source), then 1:1.

#[path = "support/checks.rs"]
mod checks;
#[path = "support/model.rs"]
mod model;

use proptest::prelude::*;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::{TestPublisher, TestSubscriber};

#[test]
fn conformance() {
    checks::conformance(|n| range(0, n + 1).pairwise());
}

#[test]
fn pairs_each_item_with_the_one_before() {
    let (sub, down) = TestSubscriber::new(u64::MAX);
    from_iter([1, 2, 2, 5]).pairwise().subscribe(sub);
    down.assert_items(&[(1, 2), (2, 2), (2, 5)]);
    down.assert_complete();
}

#[test]
fn zero_or_one_item_completes_empty() {
    for input in [vec![], vec![7]] {
        let (sub, down) = TestSubscriber::new(u64::MAX);
        from_iter(input).pairwise().subscribe(sub);
        down.assert_items(&[]);
        down.assert_complete();
    }
}

#[test]
fn the_first_item_is_replaced_upstream_then_one_to_one() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(0);
    tp.publisher().pairwise().subscribe(sub);
    assert_eq!(
        checks::requests(&tp),
        Vec::<u64>::new(),
        "nothing before demand"
    );
    down.request(2);
    assert_eq!(checks::requests(&tp), vec![2]);
    tp.next(1);
    assert_eq!(
        checks::requests(&tp),
        vec![2, 1],
        "the first item is replaced"
    );
    tp.next(2).next(3);
    down.assert_items(&[(1, 2), (2, 3)]);
    assert_eq!(tp.outstanding(), 0, "2 pairs took exactly 3 items");
    down.request(1);
    assert_eq!(checks::requests(&tp), vec![2, 1, 1], "then 1:1");
    tp.next(4);
    down.assert_items(&[(1, 2), (2, 3), (3, 4)]);
    down.assert_no_protocol_violations();
}

#[test]
fn unbounded_demand_needs_no_replacement() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(u64::MAX);
    tp.publisher().pairwise().subscribe(sub);
    tp.next(1).next(2);
    assert_eq!(checks::requests(&tp), vec![u64::MAX]);
    down.assert_items(&[(1, 2)]);
}

#[test]
fn error_after_items_is_passed_on() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(u64::MAX);
    tp.publisher().pairwise().subscribe(sub);
    tp.next(1).next(2).next(3).error("boom".to_string());
    down.assert_items(&[(1, 2), (2, 3)]);
    down.assert_error_matches(|e| *e == Error::User("boom".to_string()));
    down.assert_no_protocol_violations();
}

#[test]
fn error_propagates() {
    checks::error_propagates(|p| p.pairwise());
}

#[test]
fn cancel_mid_stream_reaches_upstream() {
    checks::cancel_reaches_upstream(|p| p.pairwise());
}

#[test]
fn request_zero_fails() {
    checks::request_zero_fails(|p| p.pairwise());
}

#[test]
fn late_signals_dropped() {
    // A non-compliant upstream (emits and terminates after completing).
    checks::late_signals_dropped(|p| p.pairwise());
}

proptest! {
    #[test]
    fn matches_vec_model((input, schedule) in model::input_and_schedule()) {
        model::check_model!(input, schedule, |p| p.pairwise(), |v: &[u32]| {
            v.windows(2).map(|w| (w[0], w[1])).collect::<Vec<_>>()
        });
    }
}
