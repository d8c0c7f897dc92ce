//! `map_error` and its panics; pass-through demand; conformance.

use proptest::prelude::*;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::TckConfig;
use spillway_testkit::{tck, TestPublisher, TestSubscriber};

#[test]
fn maps_the_user_error_and_keeps_flow_errors() {
    let (sub, h) = TestSubscriber::<u8, String>::new(1);
    error::<u8, &str>("io")
        .map_error(|e| format!("wrapped {e}"))
        .subscribe(sub);
    h.assert_error_matches(|e| *e == Error::User("wrapped io".to_string()));

    let tp = TestPublisher::<u8, &str>::new();
    let (sub, h) = TestSubscriber::<u8, String>::new(1);
    tp.publisher().map_error(|e| e.to_string()).subscribe(sub);
    tp.error_with(Error::Overflow {
        stage: "x",
        capacity: 3,
    });
    h.assert_error_matches(|e| {
        matches!(
            e,
            Error::Overflow {
                stage: "x",
                capacity: 3
            }
        )
    });
}

#[test]
fn demand_is_passed_through_and_cancel_reaches_upstream() {
    let tp = TestPublisher::<u8, &str>::new();
    let (sub, h) = TestSubscriber::<u8, String>::new(0);
    tp.publisher().map_error(|e| e.to_string()).subscribe(sub);
    h.request(2);
    assert_eq!(tp.total_requested(), 2);
    tp.next(1).next(2);
    h.assert_items(&[1, 2]);
    h.cancel();
    tp.assert_cancelled();
}

#[test]
fn completion_and_panic() {
    let (sub, h) = TestSubscriber::<u64, String>::new(u64::MAX);
    range(0, 3)
        .map_error(|never: std::convert::Infallible| -> String { match never {} })
        .subscribe(sub);
    h.assert_items(&[0, 1, 2]);
    h.assert_complete();

    let (sub, h) = TestSubscriber::<u8, String>::new(1);
    error::<u8, &str>("io")
        .map_error(|_| -> String { panic!("mapper broke") })
        .subscribe(sub);
    h.assert_error_matches(|e| {
        matches!(
            e,
            Error::Panicked {
                stage: "map_error",
                ..
            }
        )
    });
}

#[test]
fn conformance() {
    tck::verify_publisher_with(
        tck::publisher_factory(|n| {
            from_try_stream(futures::stream::iter((0..n).map(Ok::<u64, &str>)))
                .map_error(|e| e.len())
        })
        .max_elements(1_000),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

proptest! {
    /// Items pass unchanged, any request schedule; the error maps once.
    #[test]
    fn reference_model(n in 0u64..10, requests in proptest::collection::vec(1u64..4, 1..10)) {
        let (sub, h) = TestSubscriber::<u64, usize>::new(0);
        from_try_stream(futures::stream::iter((0..n).map(Ok).chain(std::iter::once(Err("abc")))))
            .map_error(|e: &str| e.len())
            .subscribe(sub);
        let mut requested = 0;
        for r in requests {
            requested += r;
            h.request(r);
            prop_assert_eq!(h.item_count(), requested.min(n));
        }
        h.request(u64::MAX);
        prop_assert_eq!(h.items(), (0..n).collect::<Vec<_>>());
        prop_assert_eq!(h.error(), Some(Error::User(3)));
    }
}
