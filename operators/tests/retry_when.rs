//! `retry_when`: the predicate decides; panics in it; conformance.

use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::{tck, TestPublisher, TestSubscriber};

#[test]
fn retries_while_the_predicate_accepts() {
    let tp = TestPublisher::<u32, &str>::new();
    let (sub, h) = TestSubscriber::new(10);
    tp.publisher()
        .retry_when(|e| *e == Error::User("transient"))
        .subscribe(sub);
    tp.next(1).error("transient");
    tp.next(2).error("transient");
    tp.next(3).error("fatal");
    h.assert_items(&[1, 2, 3]);
    h.assert_error_matches(|e| *e == Error::User("fatal"));
    assert_eq!(tp.subscription_count(), 3);
    assert_eq!(
        tp.total_requested(),
        10 + 9 + 8,
        "outstanding demand carried over"
    );
}

#[test]
fn panic_in_predicate_fails_with_the_stage() {
    let tp = TestPublisher::<u32, &str>::new();
    let (sub, h) = TestSubscriber::new(10);
    tp.publisher()
        .retry_when(|_| panic!("predicate broke"))
        .subscribe(sub);
    tp.error("x");
    h.assert_error_matches(|e| {
        matches!(
            e,
            Error::Panicked {
                stage: "retry_when",
                ..
            }
        )
    });
}

#[test]
fn cancel_reaches_upstream() {
    let tp = TestPublisher::<u32, &str>::new();
    let (sub, h) = TestSubscriber::new(10);
    tp.publisher().retry_when(|_| true).subscribe(sub);
    tp.error("x");
    h.cancel();
    tp.assert_cancelled();
}

#[test]
fn conformance() {
    tck::verify_publisher(
        tck::publisher_factory(|n| range(0, n).retry_when(|_| true)).max_elements(1_000),
    )
    .assert_all_passed();
}
