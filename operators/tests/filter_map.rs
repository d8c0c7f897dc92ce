//! `filter_map`: demand forwarded, rejected items replaced (counting source) or free
//! (drain source).

#[path = "support/checks.rs"]
mod checks;
#[path = "support/model.rs"]
mod model;

use proptest::prelude::*;
use spillway::prelude::*;
use spillway_testkit::{TestPublisher, TestSubscriber};

fn even_times_ten(x: u32) -> Option<u32> {
    (x % 2 == 0).then_some(x * 10)
}

#[test]
fn conformance() {
    checks::conformance(|n| range(0, 2 * n).filter_map(|x| (x % 2 == 1).then_some(x)));
}

#[test]
fn normal() {
    let (sub, down) = TestSubscriber::new(u64::MAX);
    from_iter(1u32..7).filter_map(even_times_ten).subscribe(sub);
    down.assert_items(&[20, 40, 60]);
    down.assert_complete();
}

#[test]
fn backpressured_and_incremental_with_replacements() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(0);
    tp.publisher().filter_map(even_times_ten).subscribe(sub);
    assert_eq!(tp.total_requested(), 0);
    down.request(1);
    assert_eq!(tp.total_requested(), 1);
    tp.next(1); // rejected: replaced
    assert_eq!(tp.total_requested(), 2);
    tp.next(2);
    down.assert_items(&[20]);
    assert_eq!(tp.outstanding(), 0);
    down.request(2);
    assert_eq!(tp.total_requested(), 4);
    tp.next(4).next(6);
    down.assert_items(&[20, 40, 60]);
}

#[test]
fn unbounded_needs_no_replacements() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, _down) = TestSubscriber::new(u64::MAX);
    tp.publisher().filter_map(even_times_ten).subscribe(sub);
    tp.next(1).next(3);
    assert_eq!(tp.requests().len(), 1);
}

#[test]
fn callback_panics() {
    checks::callback_panics("filter_map", |p| {
        p.filter_map(|x| {
            checks::boom(x);
            Some(x)
        })
    });
}

#[test]
fn cancel_mid_stream_reaches_upstream() {
    checks::cancel_reaches_upstream(|p| p.filter_map(even_times_ten));
}

#[test]
fn error_propagates() {
    checks::error_propagates(|p| p.filter_map(even_times_ten));
}

#[test]
fn late_signals_dropped() {
    checks::late_signals_dropped(|p| p.filter_map(even_times_ten));
}

#[test]
fn request_zero_fails() {
    checks::request_zero_fails(|p| p.filter_map(Some));
}

proptest! {
    #[test]
    fn matches_vec_model((input, schedule) in model::input_and_schedule()) {
        model::check_model!(input, schedule, |p| p.filter_map(even_times_ten), |v: &[u32]| {
            v.iter().copied().filter_map(even_times_ten).collect::<Vec<_>>()
        });
    }
}
