//! `take_last(n)`: unbounded demand upstream, nothing before completion, then the last
//! `n` as downstream requests them; an error goes at once. The operator written from the
//! queueing template (`engine::queue`) as the redesign's newcomer test.

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
    checks::conformance(|n| range(0, n + 3).take_last(n as usize));
}

#[test]
fn nothing_before_completion_then_the_last_n_as_requested() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(1);
    tp.publisher().take_last(2).subscribe(sub);
    assert_eq!(checks::requests(&tp), vec![u64::MAX], "unbounded, once");
    tp.next(1).next(2).next(3).next(4);
    down.request(2); // a request before completion runs a drain pass: still nothing
    down.assert_items(&[]);
    tp.complete();
    down.assert_items(&[3, 4]);
    down.assert_complete();
    down.assert_no_protocol_violations();
}

#[test]
fn the_kept_items_wait_for_demand_after_completion() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(1);
    tp.publisher().take_last(2).subscribe(sub);
    tp.next(1).next(2).next(3).next(4);
    tp.complete();
    down.assert_items(&[3]);
    down.assert_not_terminated();
    down.request(5);
    down.assert_items(&[3, 4]);
    down.assert_complete();
    down.assert_no_protocol_violations();
}

#[test]
fn an_error_goes_at_once_and_the_kept_items_with_it() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(u64::MAX);
    tp.publisher().take_last(2).subscribe(sub);
    tp.next(1).next(2).error("boom".to_string());
    down.assert_items(&[]);
    down.assert_error_matches(|e| *e == Error::User("boom".to_string()));
}

#[test]
fn zero_emits_nothing_and_completes_with_upstream() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(u64::MAX);
    tp.publisher().take_last(0).subscribe(sub);
    tp.next(1).next(2);
    down.assert_not_terminated();
    tp.complete();
    down.assert_items(&[]);
    down.assert_complete();
}

#[test]
fn cancel_reaches_upstream() {
    checks::cancel_reaches_upstream(|p| p.take_last(3));
}

#[test]
fn late_signals_are_dropped() {
    checks::late_signals_dropped(|p| p.take_last(3));
}

#[test]
fn request_zero_fails() {
    checks::request_zero_fails(|p| p.take_last(3));
}

#[test]
fn an_endless_upstream_never_emits_and_a_cancel_stops_it() {
    let (sub, down) = TestSubscriber::new(u64::MAX);
    let tp = TestPublisher::<u64, String>::new();
    tp.publisher().take_last(1).subscribe(sub);
    for i in 0..10_000 {
        tp.next(i);
    }
    down.assert_items(&[]);
    down.cancel();
    tp.assert_cancelled();
}

proptest! {
    #[test]
    fn matches_vec_model((input, schedule) in model::input_and_schedule(), n in 0usize..8) {
        model::check_model!(input, schedule, |p| p.take_last(n), |v: &[u32]| {
            v[v.len().saturating_sub(n)..].to_vec()
        });
    }
}
