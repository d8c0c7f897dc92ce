//! `take_while`: 1:1 demand; the first failing item completes and cancels upstream.

#[path = "support/checks.rs"]
mod checks;

use spillway::prelude::*;
use spillway_testkit::{TestPublisher, TestSubscriber};

#[test]
fn conformance() {
    checks::conformance(|n| range(0, n + 3).take_while(move |x| *x < n));
}

#[test]
fn stops_at_first_failure_and_cancels_upstream() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(0);
    tp.publisher().take_while(|x| *x < 4).subscribe(sub);
    assert_eq!(tp.total_requested(), 0);
    down.request(2);
    assert_eq!(tp.total_requested(), 2, "1:1");
    tp.next(1).next(2);
    down.request(5);
    tp.next(5);
    down.assert_items(&[1, 2]);
    down.assert_complete();
    tp.assert_cancelled();
    down.assert_no_protocol_violations();
}

#[test]
fn all_pass_completes_with_upstream() {
    let (sub, down) = TestSubscriber::new(u64::MAX);
    range(0, 3).take_while(|_| true).subscribe(sub);
    down.assert_items(&[0, 1, 2]);
    down.assert_complete();
}

#[test]
fn callback_panics() {
    checks::callback_panics("take_while", |p| {
        p.take_while(|x| {
            checks::boom(*x);
            true
        })
    });
}

#[test]
fn cancel_mid_stream_reaches_upstream() {
    checks::cancel_reaches_upstream(|p| p.take_while(|_| true));
}

#[test]
fn error_propagates() {
    checks::error_propagates(|p| p.take_while(|_| true));
}

#[test]
fn late_signals_dropped() {
    checks::late_signals_dropped(|p| p.take_while(|_| true));
}

/// Once it has stopped (and cancelled upstream), later downstream requests are not
/// passed on: upstream sees nothing after its cancel.
#[test]
fn no_requests_reach_upstream_after_it_stopped() {
    let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = requests.clone();
    let upstream = spillway_testkit::TestPublisher::<u32, std::convert::Infallible>::new();
    let (subscriber, downstream) = spillway_testkit::TestSubscriber::new(1);
    upstream
        .publisher()
        .do_on_request(move |n| log.lock().unwrap().push(n))
        .take_while(|x| *x < 4)
        .subscribe(subscriber);
    upstream.next(5); // stops: cancels upstream, completes
    downstream.assert_complete();
    downstream.request(3);
    downstream.request(3);
    assert_eq!(*requests.lock().unwrap(), vec![1]);
}
