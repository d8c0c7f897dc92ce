//! `try_map`, `try_filter`, `try_filter_map`: the first `Err` cancels upstream and fails
//! the stream after the items before it; demand as their infallible twins; the STYLE 3.6
//! checklist for each.

#[path = "support/checks.rs"]
mod checks;

use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::{TestPublisher, TestSubscriber, Violation};

fn parse(x: u32) -> Result<u32, String> {
    if x == 13 {
        Err("unlucky".to_string())
    } else {
        Ok(x * 10)
    }
}

fn odd(x: &u32) -> Result<bool, String> {
    if *x == 13 {
        Err("unlucky".to_string())
    } else {
        Ok(x % 2 == 1)
    }
}

fn odd_times_ten(x: u32) -> Result<Option<u32>, String> {
    odd(&x).map(|keep| keep.then_some(x * 10))
}

/// The first `Err`: items before it delivered, upstream cancelled, the error delivered,
/// and nothing after it (the publisher ignores the cancel on purpose).
fn fails_at_the_first_err<P>(
    build: impl FnOnce(spillway_testkit::TestPublisherSource<u32, String>) -> P,
    before: &[u32],
) where
    P: Publisher<Item = u32, Error = String>,
{
    let tp = TestPublisher::<u32, String>::non_compliant(&[Violation::IgnoreCancel]);
    let (sub, down) = TestSubscriber::new(u64::MAX);
    build(tp.publisher()).subscribe(sub);
    tp.next(1).next(2).next(3).next(13);
    tp.assert_cancelled();
    down.assert_items(before);
    down.assert_error_matches(|e| *e == Error::User("unlucky".to_string()));
    let after = down.event_count();
    tp.next(5).complete();
    assert_eq!(
        down.event_count(),
        after,
        "signals after the error reached downstream"
    );
    down.assert_no_protocol_violations();
}

#[test]
fn try_map_fails_at_the_first_err() {
    fails_at_the_first_err(|p| p.try_map(parse), &[10, 20, 30]);
}

#[test]
fn try_filter_fails_at_the_first_err() {
    fails_at_the_first_err(|p| p.try_filter(odd), &[1, 3]);
}

#[test]
fn try_filter_map_fails_at_the_first_err() {
    fails_at_the_first_err(|p| p.try_filter_map(odd_times_ten), &[10, 30]);
}

#[test]
fn without_errors_they_are_map_filter_and_filter_map() {
    let source = || from_try_stream(futures::stream::iter((0u32..10).map(Ok::<u32, String>)));
    let mapped = futures::executor::block_on(source().try_map(parse).collect()).unwrap();
    assert_eq!(mapped, (0..10).map(|x| x * 10).collect::<Vec<_>>());
    let kept = futures::executor::block_on(source().try_filter(odd).collect()).unwrap();
    assert_eq!(kept, vec![1, 3, 5, 7, 9]);
    let both = futures::executor::block_on(source().try_filter_map(odd_times_ten).collect());
    assert_eq!(both.unwrap(), vec![10, 30, 50, 70, 90]);
}

#[test]
fn demand_is_forwarded_and_rejected_items_are_replaced() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(0);
    tp.publisher().try_filter(odd).subscribe(sub);
    assert_eq!(tp.total_requested(), 0);
    down.request(2);
    assert_eq!(tp.total_requested(), 2);
    tp.next(2); // rejected: replaced by a request(1)
    assert_eq!(tp.total_requested(), 3);
    tp.next(1).next(3);
    down.assert_items(&[1, 3]);
    assert_eq!(tp.outstanding(), 0);
}

#[test]
fn conformance() {
    checks::conformance(|n| {
        range(0, n)
            .map(|x| x as u32)
            .map_error(|never| match never {})
            .try_map(|x| Ok::<u32, String>(x + 1))
    });
}

#[test]
fn callback_panics() {
    checks::callback_panics("try_map", |p| {
        p.try_map(|x| {
            checks::boom(x);
            Ok(x)
        })
    });
    checks::callback_panics("try_filter", |p| {
        p.try_filter(|x| {
            checks::boom(*x);
            Ok(true)
        })
    });
    checks::callback_panics("try_filter_map", |p| {
        p.try_filter_map(|x| {
            checks::boom(x);
            Ok(Some(x))
        })
    });
}

#[test]
fn cancel_mid_stream_reaches_upstream() {
    checks::cancel_reaches_upstream(|p| p.try_map(parse));
    checks::cancel_reaches_upstream(|p| p.try_filter(odd));
    checks::cancel_reaches_upstream(|p| p.try_filter_map(odd_times_ten));
}

#[test]
fn upstream_errors_propagate() {
    checks::error_propagates(|p| p.try_map(parse));
    checks::error_propagates(|p| p.try_filter(odd));
    checks::error_propagates(|p| p.try_filter_map(odd_times_ten));
}

#[test]
fn late_signals_dropped() {
    checks::late_signals_dropped(|p| p.try_map(parse));
    checks::late_signals_dropped(|p| p.try_filter(odd));
    checks::late_signals_dropped(|p| p.try_filter_map(odd_times_ten));
}

#[test]
fn request_zero_fails() {
    checks::request_zero_fails(|p| p.map(|x| x as u32).try_map(Ok));
}
