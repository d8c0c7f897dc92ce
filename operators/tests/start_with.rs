//! `start_with`: the items first, then upstream, subscribed only then, with the
//! outstanding demand carried over.

#[path = "support/checks.rs"]
mod checks;

use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::{TestPublisher, TestSubscriber};

#[test]
fn conformance() {
    checks::conformance(|n| range(2.min(n), n).start_with(0..2.min(n)));
}

#[test]
fn normal() {
    let (sub, down) = TestSubscriber::new(u64::MAX);
    range(3, 5).start_with([1, 2]).subscribe(sub);
    down.assert_items(&[1, 2, 3, 4]);
    down.assert_complete();
}

#[test]
fn demand_is_carried_over_to_upstream() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(0);
    tp.publisher().start_with([1, 2]).subscribe(sub);
    assert_eq!(tp.subscription_count(), 0, "upstream waits for the items");
    down.request(1);
    down.assert_items(&[1]);
    assert_eq!(tp.subscription_count(), 0);
    down.request(4);
    down.assert_items(&[1, 2]);
    assert_eq!(tp.subscription_count(), 1);
    assert_eq!(
        tp.total_requested(),
        3,
        "5 requested, 2 delivered: 3 carried over"
    );
    tp.next(3);
    down.request(1);
    assert_eq!(tp.total_requested(), 4, "then 1:1");
    tp.next(4).next(5).next(6).complete();
    down.assert_items(&[1, 2, 3, 4, 5, 6]);
    down.assert_complete();
    down.assert_no_protocol_violations();
}

#[test]
fn cancel_during_items_never_subscribes_upstream() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(1);
    tp.publisher().start_with([1, 2]).subscribe(sub);
    down.cancel();
    down.request(5);
    assert_eq!(tp.subscription_count(), 0);
    down.assert_items(&[1]);
}

#[test]
fn cancel_mid_stream_reaches_upstream() {
    checks::cancel_reaches_upstream(|p| p.start_with(std::iter::empty()));
}

#[test]
fn error_propagates() {
    checks::error_propagates(|p| p.start_with(std::iter::empty()));
}

#[test]
fn late_signals_dropped() {
    checks::late_signals_dropped(|p| p.start_with(std::iter::empty()));
}

#[test]
fn request_zero_fails() {
    checks::request_zero_fails(|p| p.start_with([9]));
}

#[test]
fn panicking_iterator_fails_with_panicked() {
    let (sub, down) = TestSubscriber::<u64, _>::new(u64::MAX);
    range(0, 2)
        .start_with((0..2).map(|x| if x == 1 { panic!("boom") } else { x }))
        .subscribe(sub);
    down.assert_items(&[0]);
    down.assert_error_matches(|e| matches!(e, Error::Panicked { .. }));
}
