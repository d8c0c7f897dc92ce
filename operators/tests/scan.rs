//! `scan`: 1:1 demand, running accumulation.

#[path = "support/checks.rs"]
mod checks;
#[path = "support/model.rs"]
mod model;

use proptest::prelude::*;
use spillway::prelude::*;
use spillway_testkit::{TestPublisher, TestSubscriber};

fn add(acc: &u64, x: u32) -> u64 {
    acc + u64::from(x)
}

#[test]
fn conformance() {
    checks::conformance(|n| range(0, n).scan(0u64, |a, x| a + x));
}

#[test]
fn normal() {
    let (sub, down) = TestSubscriber::new(u64::MAX);
    from_iter(1u32..5).scan(0, add).subscribe(sub);
    down.assert_items(&[1, 3, 6, 10]);
    down.assert_complete();
}

#[test]
fn demand_is_one_to_one() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(0);
    tp.publisher().scan(0, add).subscribe(sub);
    assert_eq!(tp.total_requested(), 0);
    down.request(2);
    assert_eq!(
        tp.requests().iter().map(|r| r.1).collect::<Vec<_>>(),
        vec![2]
    );
    tp.next(5).next(6);
    down.assert_items(&[5, 11]);
    down.request(1);
    tp.next(1);
    down.assert_items(&[5, 11, 12]);
    assert_eq!(tp.total_requested(), 3);
}

#[test]
fn callback_panics() {
    checks::callback_panics("scan", |p| {
        p.scan(0, |a: &u32, x| {
            checks::boom(x);
            a + x
        })
    });
}

#[test]
fn cancel_mid_stream_reaches_upstream() {
    checks::cancel_reaches_upstream(|p| p.scan(0, add));
}

#[test]
fn error_propagates() {
    checks::error_propagates(|p| p.scan(0, add));
}

#[test]
fn late_signals_dropped() {
    checks::late_signals_dropped(|p| p.scan(0, add));
}

#[test]
fn request_zero_fails() {
    checks::request_zero_fails(|p| p.scan(0, |a, x| a + x));
}

proptest! {
    #[test]
    fn matches_vec_model((input, schedule) in model::input_and_schedule()) {
        let tp = model::check_model!(input, schedule, |p| p.scan(0, add), |v: &[u32]| {
            v.iter().scan(0u64, |a, x| { *a = add(a, *x); Some(*a) }).collect::<Vec<_>>()
        });
        prop_assert!(tp.outstanding() == 0 || tp.total_requested() == u64::MAX);
    }
}
