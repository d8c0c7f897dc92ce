//! `map` and `filter`: demand forwarding, the try_on_next protocol, panics, conformance.

use std::convert::Infallible;

use futures::StreamExt;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::{publisher_factory, verify_publisher_with, TckConfig};
use spillway_testkit::{StepVerifier, TestPublisher, TestSubscriber};

#[test]
fn map_and_filter_pass_the_conformance_suite() {
    verify_publisher_with(
        publisher_factory(|n| range(0, n).map(|x| x + 1)),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
    // A filter that keeps everything, so that n elements come out of n.
    verify_publisher_with(
        publisher_factory(|n| range(0, n).filter(|_| true)),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

#[test]
fn map_forwards_demand_one_to_one() {
    let upstream = TestPublisher::<u32, Infallible>::new();
    let (subscriber, downstream) = TestSubscriber::new(0);
    upstream.publisher().map(|x| x * 2).subscribe(subscriber);
    assert_eq!(upstream.total_requested(), 0);
    downstream.request(2);
    assert_eq!(upstream.total_requested(), 2);
    upstream.next(1).next(2);
    downstream.assert_items(&[2, 4]);
    downstream.cancel();
    upstream.assert_cancelled();
}

#[test]
fn filter_requests_a_replacement_for_each_rejected_item_from_a_counting_source() {
    // TestPublisher counts every on_next against demand, so filter must ask for more.
    let upstream = TestPublisher::<u32, Infallible>::new();
    let (subscriber, downstream) = TestSubscriber::new(1);
    upstream
        .publisher()
        .filter(|x| x % 2 == 0)
        .subscribe(subscriber);
    upstream.next(1); // rejected: a replacement is requested
    assert_eq!(upstream.total_requested(), 2);
    upstream.next(3);
    assert_eq!(upstream.total_requested(), 3);
    upstream.next(4);
    downstream.assert_items(&[4]);
    assert_eq!(
        upstream.total_requested(),
        3,
        "no request after a kept item"
    );
}

#[test]
fn filter_on_a_drain_source_uses_no_demand_for_rejected_items() {
    // range runs on the drain loop, which calls try_on_next: rejected items cost nothing.
    StepVerifier::create(range(0, 10).filter(|x| x % 3 == 0), 2)
        .expect_next_seq([0, 3])
        .then_request(10)
        .expect_next_seq([6, 9])
        .expect_complete()
        .verify();
}

#[test]
fn filter_on_a_settling_source_does_not_lose_demand() {
    // `create` settles demand item by item; rejected items must give it back, or a
    // bounded consumer stalls.
    futures::executor::block_on(async {
        let p = create(
            OverflowStrategy::Buffer(1000),
            |e: Emitter<u32, Infallible>| {
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        e.next(i).unwrap();
                    }
                    e.complete();
                });
            },
        );
        let kept: Vec<u32> = p
            .filter(|x| x % 10 == 0)
            .into_stream(2)
            .map(|r| r.unwrap())
            .collect()
            .await;
        assert_eq!(kept, (0..1000).step_by(10).collect::<Vec<_>>());
    });
}

#[test]
fn a_panicking_closure_fails_the_pipeline_naming_its_stage_and_cancels_upstream() {
    let upstream = TestPublisher::<u32, Infallible>::new();
    let (subscriber, downstream) = TestSubscriber::new(10);
    upstream
        .publisher()
        .map(|x| {
            if x == 2 {
                panic!("two is not allowed")
            } else {
                x
            }
        })
        .subscribe(subscriber);
    upstream.next(1).next(2);
    downstream.assert_items(&[1]);
    downstream.assert_error_matches(
        |e| matches!(e, Error::Panicked { stage: "map", message } if message.contains("two")),
    );
    upstream.assert_cancelled();

    let result = futures::executor::block_on(
        range(0, 5)
            .filter(|x| if *x == 3 { panic!("bad") } else { true })
            .collect(),
    );
    assert!(matches!(
        result,
        Err(Error::Panicked {
            stage: "filter",
            ..
        })
    ));
}

#[test]
fn late_signals_after_a_panic_are_ignored() {
    let upstream = TestPublisher::<u32, Infallible>::non_compliant(&[
        spillway_testkit::Violation::IgnoreCancel,
    ]);
    let (subscriber, downstream) = TestSubscriber::new(10);
    upstream
        .publisher()
        .map(|x| if x == 1 { panic!("boom") } else { x })
        .subscribe(subscriber);
    upstream.next(1).next(2).complete();
    downstream.assert_item_count(0);
    downstream.assert_no_protocol_violations();
    assert!(matches!(downstream.error(), Some(Error::Panicked { .. })));
}
