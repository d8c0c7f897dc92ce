//! `on_error_return`: one item from the error, emitted only with demand, then completion.

use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::TckConfig;
use spillway_testkit::{tck, TestPublisher, TestSubscriber};

#[test]
fn emits_one_item_then_completes() {
    let tp = TestPublisher::<u32, &str>::new();
    let (sub, h) = TestSubscriber::new(10);
    tp.publisher()
        .on_error_return(|e| if e == Error::User("down") { 99 } else { 0 })
        .subscribe(sub);
    tp.next(1).error("down");
    h.assert_items(&[1, 99]);
    h.assert_complete();
}

#[test]
fn backpressured_the_item_waits_for_demand() {
    let tp = TestPublisher::<u32, ()>::new();
    let (sub, h) = TestSubscriber::new(1);
    tp.publisher().on_error_return(|_| 99).subscribe(sub);
    tp.next(1).error(());
    h.assert_items(&[1]);
    h.assert_not_terminated();
    h.request(1);
    h.assert_items(&[1, 99]);
    h.assert_complete();
}

#[test]
fn completion_passes_and_cancel_reaches_upstream() {
    let tp = TestPublisher::<u32, ()>::new();
    let (sub, h) = TestSubscriber::new(1);
    tp.publisher().on_error_return(|_| 99).subscribe(sub);
    tp.complete();
    h.assert_complete();
    h.assert_items(&[]);

    let tp = TestPublisher::<u32, ()>::new();
    let (sub, h) = TestSubscriber::new(1);
    tp.publisher().on_error_return(|_| 99).subscribe(sub);
    h.cancel();
    tp.assert_cancelled();
}

#[test]
fn panic_in_f_is_reported_with_the_stage() {
    let (sub, h) = TestSubscriber::<u8, ()>::new(1);
    error::<u8, ()>(())
        .on_error_return(|_| panic!("f broke"))
        .subscribe(sub);
    h.assert_error_matches(|e| {
        matches!(
            e,
            Error::Panicked {
                stage: "on_error_return",
                ..
            }
        )
    });
}

#[test]
fn conformance() {
    tck::verify_publisher_with(
        tck::publisher_factory(|n| {
            from_try_stream(futures::stream::iter(
                (0..n.saturating_sub(1))
                    .map(Ok)
                    .chain(std::iter::once(Err(())).take(usize::from(n > 0))),
            ))
            .on_error_return(|_| u64::MAX)
        })
        .max_elements(1_000),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}
