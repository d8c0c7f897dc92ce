//! `on_error_resume`: fallback with demand carried over; checklist; conformance.

use proptest::prelude::*;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::TckConfig;
use spillway_testkit::{tck, TestPublisher, TestSubscriber};

/// An infallible publisher with `()` as its error type.
fn unit<P>(p: P) -> impl Publisher<Item = P::Item, Error = ()>
where
    P: Publisher<Error = std::convert::Infallible>,
{
    p.map_error(|never| match never {})
}

#[test]
fn switches_to_the_fallback_with_the_outstanding_demand() {
    let main = TestPublisher::<u32, &str>::new();
    let fallback = TestPublisher::<u32, String>::new();
    let (sub, h) = TestSubscriber::new(5);
    let fb = fallback.publisher();
    main.publisher()
        .on_error_resume(move |e| {
            assert_eq!(e, Error::User("down"));
            fb
        })
        .subscribe(sub);
    main.next(1).next(2).error("down");
    assert_eq!(fallback.outstanding(), 3, "the 3 still outstanding, not 5");
    fallback.next(7).complete();
    h.assert_items(&[1, 2, 7]);
    h.assert_complete();
}

#[test]
fn backpressured_incremental_and_completion() {
    let (sub, h) = TestSubscriber::<u64, ()>::new(0);
    spillway::prelude::error::<u64, &str>("x")
        .on_error_resume(|_| unit(range(0, 3)))
        .subscribe(sub);
    h.assert_items(&[]);
    h.request(1);
    h.request(1);
    h.assert_items(&[0, 1]);
    h.request(5);
    h.assert_items(&[0, 1, 2]);
    h.assert_complete();
}

#[test]
fn cancel_reaches_the_current_upstream() {
    let main = TestPublisher::<u32, ()>::new();
    let fallback = TestPublisher::<u32, ()>::new();
    let (sub, h) = TestSubscriber::new(5);
    let fb = fallback.publisher();
    main.publisher().on_error_resume(move |_| fb).subscribe(sub);
    h.cancel();
    main.assert_cancelled();

    let main = TestPublisher::<u32, ()>::new();
    let fallback = TestPublisher::<u32, ()>::new();
    let (sub, h) = TestSubscriber::new(5);
    let fb = fallback.publisher();
    main.publisher().on_error_resume(move |_| fb).subscribe(sub);
    main.error(());
    h.cancel();
    fallback.assert_cancelled();
}

#[test]
fn fallback_error_propagates_and_panic_in_f_is_reported() {
    let (sub, h) = TestSubscriber::<u8, &str>::new(1);
    error::<u8, ()>(())
        .on_error_resume(|_| error::<u8, &str>("fallback down"))
        .subscribe(sub);
    h.assert_error_matches(|e| *e == Error::User("fallback down"));

    let (sub, h) = TestSubscriber::<u8, ()>::new(1);
    error::<u8, ()>(())
        .on_error_resume(|_| -> spillway::Just<u8> { panic!("f broke") })
        .map_error(|never| match never {})
        .subscribe(sub);
    h.assert_error_matches(|e| {
        matches!(
            e,
            Error::Panicked {
                stage: "on_error_resume",
                ..
            }
        )
    });
}

#[test]
fn invalid_request_is_not_resumed() {
    let (sub, h) = TestSubscriber::<u64, std::convert::Infallible>::new(0);
    range(0, 3)
        .on_error_resume(|_| range(10, 20))
        .subscribe(sub);
    h.request(0);
    h.assert_error_matches(|e| matches!(e, Error::InvalidRequest { .. }));
    h.assert_items(&[]);
}

#[test]
fn conformance() {
    tck::verify_publisher_with(
        tck::publisher_factory(|n| {
            let half = n / 2;
            from_try_stream(futures::stream::iter(
                (0..half).map(Ok).chain(std::iter::once(Err(()))),
            ))
            .on_error_resume(move |_| unit(range(half, n)))
        })
        .max_elements(1_000),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any failure point and request schedule: the output is the prefix, then the whole
    /// fallback, never more than requested.
    #[test]
    fn reference_model(fail_at in 0u64..6, fb_len in 0u64..6, requests in proptest::collection::vec(1u64..4, 1..20)) {
        let expected: Vec<u64> = (0..fail_at).chain(100..100 + fb_len).collect();
        let (sub, h) = TestSubscriber::<u64, ()>::new(0);
        from_try_stream(futures::stream::iter((0..fail_at).map(Ok).chain(std::iter::once(Err(())))))
            .on_error_resume(move |_| unit(range(100, 100 + fb_len)))
            .subscribe(sub);
        let mut requested = 0;
        for r in requests {
            requested += r;
            h.request(r);
            prop_assert_eq!(h.item_count(), requested.min(expected.len() as u64));
        }
        h.request(u64::MAX);
        prop_assert_eq!(h.items(), expected);
        prop_assert!(h.is_complete());
    }
}
