//! `err_into`: `Into` conversion of the user error.

use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::TckConfig;
use spillway_testkit::{tck, TestSubscriber};

#[derive(Debug, Clone, PartialEq)]
struct AppError(String);

impl From<&str> for AppError {
    fn from(s: &str) -> AppError {
        AppError(s.to_string())
    }
}

#[test]
fn converts_the_user_error() {
    let (sub, h) = TestSubscriber::<u8, AppError>::new(1);
    error::<u8, &str>("io")
        .err_into::<AppError>()
        .subscribe(sub);
    h.assert_error_matches(|e| *e == Error::User(AppError("io".into())));
}

#[test]
fn items_pass_through() {
    let (sub, h) = TestSubscriber::<u64, AppError>::new(2);
    from_try_stream(futures::stream::iter((0..5).map(Ok::<u64, &str>)))
        .err_into()
        .subscribe(sub);
    h.assert_items(&[0, 1]);
    h.cancel();
}

#[test]
fn conformance() {
    tck::verify_publisher_with(
        tck::publisher_factory(|n| {
            from_try_stream(futures::stream::iter((0..n).map(Ok::<u64, &str>)))
                .err_into::<AppError>()
        })
        .max_elements(1_000),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}
