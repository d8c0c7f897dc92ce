//! `flat_map_iter`: one upstream item at a time, the iterator kept between requests.

#[path = "support/checks.rs"]
mod checks;
#[path = "support/model.rs"]
mod model;

use proptest::prelude::*;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::{TestPublisher, TestSubscriber, Violation};

fn upto(n: u32) -> std::ops::Range<u32> {
    0..n
}

#[test]
fn conformance() {
    checks::conformance(|n| range(0, n).flat_map_iter(|x| [x]));
    checks::conformance(|n| {
        range(0, n.div_ceil(3)).flat_map_iter(move |x| (3 * x..3 * x + 3).filter(move |y| *y < n))
    });
}

#[test]
fn normal() {
    let (sub, down) = TestSubscriber::new(u64::MAX);
    from_iter([1u32, 0, 3]).flat_map_iter(upto).subscribe(sub);
    down.assert_items(&[0, 0, 1, 2]);
    down.assert_complete();
}

#[test]
fn requests_one_upstream_item_at_a_time() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(0);
    tp.publisher().flat_map_iter(upto).subscribe(sub);
    assert_eq!(tp.total_requested(), 0, "nothing without downstream demand");
    down.request(2);
    assert_eq!(tp.total_requested(), 1, "one upstream item");
    tp.next(3);
    down.assert_items(&[0, 1]);
    assert_eq!(
        tp.total_requested(),
        1,
        "the iterator still has an item: no request"
    );
    down.request(1);
    down.assert_items(&[0, 1, 2]);
    assert_eq!(
        tp.total_requested(),
        1,
        "iterator exhausted, but no demand left"
    );
    down.request(1);
    assert_eq!(tp.total_requested(), 2);
    tp.next(0); // empty iterator: the next one is asked at once
    assert_eq!(tp.total_requested(), 3);
    tp.next(1);
    down.assert_items(&[0, 1, 2, 0]);
    assert!(tp.requests().iter().all(|r| r.1 == 1), "always request(1)");
}

#[test]
fn unbounded_downstream_still_requests_one_at_a_time() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(u64::MAX);
    tp.publisher().flat_map_iter(upto).subscribe(sub);
    tp.next(2).next(1).complete();
    down.assert_items(&[0, 1, 0]);
    down.assert_complete();
    assert_eq!(
        tp.requests().iter().map(|r| r.1).collect::<Vec<_>>(),
        vec![1, 1, 1]
    );
}

#[test]
fn completion_waits_for_the_current_iterator() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(1);
    tp.publisher().flat_map_iter(upto).subscribe(sub);
    tp.next(3);
    tp.complete();
    down.assert_items(&[0]);
    down.assert_not_terminated();
    down.request(2);
    down.assert_items(&[0, 1, 2]);
    down.assert_complete();
}

#[test]
fn completion_at_zero_demand_once_exhausted() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(2);
    tp.publisher().flat_map_iter(upto).subscribe(sub);
    tp.next(2);
    tp.complete();
    down.assert_items(&[0, 1]);
    down.assert_complete();
}

#[test]
fn error_is_delivered_at_once() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(1);
    tp.publisher().flat_map_iter(upto).subscribe(sub);
    tp.next(5);
    tp.error("boom".into());
    down.assert_items(&[0]);
    down.assert_error_matches(|e| *e == Error::User("boom".into()));
}

#[test]
fn callback_panics() {
    checks::callback_panics("flat_map_iter", |p| {
        p.flat_map_iter(|x| {
            checks::boom(x);
            [x]
        })
    });
}

#[test]
fn iterator_panics() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(u64::MAX);
    tp.publisher()
        .flat_map_iter(|x| (0..x).map(|y| if y == 1 { panic!("boom") } else { y }))
        .subscribe(sub);
    tp.next(3);
    down.assert_items(&[0]);
    down.assert_error_matches(|e| {
        matches!(
            e,
            Error::Panicked {
                stage: "flat_map_iter",
                ..
            }
        )
    });
    tp.assert_cancelled();
}

#[test]
fn cancel_mid_stream_reaches_upstream() {
    checks::cancel_reaches_upstream(|p| p.flat_map_iter(upto));
}

#[test]
fn error_propagates() {
    checks::error_propagates(|p| p.flat_map_iter(upto));
}

#[test]
fn late_signals_dropped() {
    checks::late_signals_dropped(|p| p.flat_map_iter(upto));
}

#[test]
fn request_zero_fails() {
    checks::request_zero_fails(|p| p.flat_map_iter(|x| [x]));
}

#[test]
fn non_compliant_upstream_is_a_protocol_violation() {
    let tp = TestPublisher::<u32, String>::non_compliant(&[Violation::EmitWithoutDemand]);
    let (sub, down) = TestSubscriber::new(1);
    tp.publisher().flat_map_iter(upto).subscribe(sub);
    tp.next(1).next(1);
    down.assert_error_matches(|e| {
        matches!(
            e,
            Error::ProtocolViolation {
                stage: "flat_map_iter",
                ..
            }
        )
    });
    tp.assert_cancelled();
}

proptest! {
    #[test]
    fn matches_vec_model((input, schedule) in model::input_and_schedule()) {
        let tp = model::check_model!(input, schedule, |p| p.flat_map_iter(upto), |v: &[u32]| {
            v.iter().flat_map(|x| upto(*x)).collect::<Vec<_>>()
        });
        prop_assert!(tp.requests().iter().all(|r| r.1 == 1));
    }
}
