//! The STYLE 3.6 checks that read the same for every pass-through operator, as functions
//! of the operator: `build` applies it to a `TestPublisher<u32, String>`.
//! Include with `#[path = "support/checks.rs"] mod checks;`.
#![allow(dead_code, unused_imports)]

use std::fmt::Debug;

use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::{self, TckConfig};
use spillway_testkit::{
    TestPublisher, TestPublisherSource, TestSubscriber, TestSubscriberHandle, Violation,
};

type Source = TestPublisherSource<u32, String>;

/// The publisher conformance suite over `make(n)`, a publisher of exactly `n` items.
pub(crate) fn conformance<P>(make: impl Fn(u64) -> P + Send + Sync + 'static)
where
    P: Publisher<Error: Debug> + 'static,
{
    conformance_max(make, 10_000);
}

/// [`conformance`] for a publisher of at most `max` items.
pub(crate) fn conformance_max<P>(make: impl Fn(u64) -> P + Send + Sync + 'static, max: u64)
where
    P: Publisher<Error: Debug> + 'static,
{
    let factory = tck::publisher_factory(make).max_elements(max);
    tck::verify_publisher_with(
        factory,
        TckConfig::synchronous().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

/// The amounts of every `request(n)` the test publisher received, in order.
pub(crate) fn requests<T: Send + 'static, E: Send + 'static>(tp: &TestPublisher<T, E>) -> Vec<u64> {
    tp.requests().into_iter().map(|(_, n)| n).collect()
}

/// Subscribes a `TestSubscriber` requesting `initial` to the operator over `tp`.
fn rig<O, P>(
    tp: &TestPublisher<u32, String>,
    initial: u64,
    build: impl FnOnce(Source) -> P,
) -> TestSubscriberHandle<O, String>
where
    P: Publisher<Item = O, Error = String>,
    O: Debug + Send + 'static,
{
    let (sub, down) = TestSubscriber::<O, String>::new(initial);
    build(tp.publisher()).subscribe(sub);
    down
}

/// Downstream cancels after its first request: the cancel reaches upstream.
pub(crate) fn cancel_reaches_upstream<O, P>(build: impl FnOnce(Source) -> P)
where
    P: Publisher<Item = O, Error = String>,
    O: Debug + Send + 'static,
{
    let tp = TestPublisher::<u32, String>::new();
    let down = rig(&tp, 1, build);
    tp.assert_not_cancelled();
    down.cancel();
    tp.assert_cancelled();
}

/// An upstream error reaches downstream unchanged.
pub(crate) fn error_propagates<O, P>(build: impl FnOnce(Source) -> P)
where
    P: Publisher<Item = O, Error = String>,
    O: Debug + Send + 'static,
{
    let tp = TestPublisher::<u32, String>::new();
    let down = rig(&tp, 1, build);
    tp.error("boom".to_string());
    down.assert_error_matches(|e| *e == Error::User("boom".to_string()));
    down.assert_no_protocol_violations();
}

/// Signals after a terminal signal are dropped: downstream sees one terminal only.
pub(crate) fn late_signals_dropped<O, P>(build: impl FnOnce(Source) -> P)
where
    P: Publisher<Item = O, Error = String>,
    O: Debug + Send + 'static,
{
    let tp = TestPublisher::<u32, String>::non_compliant(&[
        Violation::EmitAfterTerminate,
        Violation::TerminateTwice,
        Violation::EmitWithoutDemand,
    ]);
    let down = rig(&tp, u64::MAX, build);
    tp.complete();
    let after = down.event_count();
    tp.next(1).error("late".to_string()).complete();
    assert_eq!(down.event_count(), after, "late signals reached downstream");
    down.assert_complete();
    down.assert_no_protocol_violations();
}

/// Downstream's `request(0)` ends with `Error::InvalidRequest` (rule 3.9).
pub(crate) fn request_zero_fails<O, P>(build: impl FnOnce(spillway::Range) -> P)
where
    P: Publisher<Item = O, Error = std::convert::Infallible>,
    O: Debug + Send + 'static,
{
    let (sub, down) = TestSubscriber::<O, std::convert::Infallible>::new(0);
    build(range(0, 10)).subscribe(sub);
    down.request(0);
    down.assert_error_matches(|e| matches!(e, Error::InvalidRequest { .. }));
}

/// `build` applies the operator with a callback that panics on the item `2`: downstream
/// fails with `Error::Panicked` naming `stage`, upstream is cancelled, and later items
/// are ignored.
pub(crate) fn callback_panics<O, P>(stage: &str, build: impl FnOnce(Source) -> P)
where
    P: Publisher<Item = O, Error = String>,
    O: Debug + Send + 'static,
{
    let tp = TestPublisher::<u32, String>::non_compliant(&[
        Violation::IgnoreCancel,
        Violation::EmitWithoutDemand,
    ]);
    let down = rig(&tp, u64::MAX, build);
    tp.next(1).next(2);
    down.assert_error_matches(
        |e| matches!(e, Error::Panicked { stage: s, message } if *s == stage && message.contains("boom")),
    );
    tp.assert_cancelled();
    let after = down.event_count();
    tp.next(3).complete();
    assert_eq!(
        down.event_count(),
        after,
        "signals after the panic reached downstream"
    );
    down.assert_no_protocol_violations();
}

/// The one callback that [`callback_panics`] expects: panics on `2`.
pub(crate) fn boom(x: u32) {
    assert!(x != 2, "boom");
}
