//! Checks shared by the tests of the backpressure operators (`on_backpressure_drop`,
//! `_latest`, `_reduce`, `limit_rate`, `pressure`): each test file passes a `setup`
//! that subscribes a `TestSubscriber` requesting `initial` through its operator to a
//! `TestPublisher`, and returns the subscriber's handle and the stage's stats.
#![allow(dead_code)] // each test crate uses its own subset

use std::fmt::Debug;

use proptest::prelude::*;
use spillway::operators::FlowStats;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::{self, PublisherFactory, TckConfig};
use spillway_testkit::{TestPublisher, TestSubscriberHandle, Violation};

pub(crate) type Handle<T> = TestSubscriberHandle<T, String>;

/// Sends each item, without completing (`TestPublisher::emit` completes).
pub(crate) fn send<T: Debug + Send + 'static>(
    tp: &TestPublisher<T, String>,
    items: impl IntoIterator<Item = T>,
) {
    for x in items {
        tp.next(x);
    }
}

/// Rule 1.7 broken upstream: what arrives after `on_complete` is discarded and counted.
pub(crate) fn check_late_signals_discarded<T, F>(setup: F)
where
    T: From<u8> + Clone + Debug + PartialEq + Send + 'static,
    F: FnOnce(&TestPublisher<T, String>, u64) -> (Handle<T>, FlowStats),
{
    let tp = TestPublisher::non_compliant(&[Violation::EmitAfterTerminate]);
    let (h, stats) = setup(&tp, 10);
    tp.next(T::from(0)).complete().next(T::from(1));
    h.assert_items(&[T::from(0)]);
    h.assert_complete();
    h.assert_no_protocol_violations();
    let s = stats.snapshot();
    assert_eq!(s.emitted, 1);
    assert!(s.is_balanced(), "{s:?}");
}

/// Rule 3.6 broken upstream: items sent after cancel are discarded and counted.
pub(crate) fn check_ignored_cancel_discarded<T, F>(setup: F)
where
    T: From<u8> + Clone + Debug + PartialEq + Send + 'static,
    F: FnOnce(&TestPublisher<T, String>, u64) -> (Handle<T>, FlowStats),
{
    let tp = TestPublisher::non_compliant(&[Violation::IgnoreCancel]);
    let (h, stats) = setup(&tp, 1);
    tp.next(T::from(0));
    h.cancel();
    tp.assert_cancelled();
    tp.next(T::from(1)).next(T::from(2));
    h.assert_items(&[T::from(0)]);
    h.assert_no_protocol_violations();
    let s = stats.snapshot();
    assert_eq!(s.dropped(), 2);
    assert!(s.is_balanced(), "{s:?}");
}

/// Rule 3.9: `request(0)` ends with `Error::InvalidRequest` and cancels upstream.
pub(crate) fn check_request_zero<T, F>(setup: F)
where
    T: Debug + Send + 'static,
    F: FnOnce(&TestPublisher<T, String>, u64) -> (Handle<T>, FlowStats),
{
    let tp = TestPublisher::new();
    let (h, _) = setup(&tp, 0);
    h.request(0);
    h.assert_error_matches(|e| matches!(e, Error::InvalidRequest { .. }));
    tp.assert_cancelled();
}

/// The publisher suite over a lossy stage fed by `range(0, n)`. The stage requests
/// unbounded demand and `range` emits at once, before the probe asks, so the probes see
/// items *dropped*: a lossy stage cannot pass the element-count checks. Those may fail
/// only by receiving fewer items than expected; every protocol check that does not
/// depend on the element count must pass. Rule 3.9 is then checked over `never()`.
pub(crate) fn check_lossy_conformance<F, G>(lossy: F, silent: G)
where
    F: PublisherFactory,
    G: PublisherFactory,
{
    let report = tck::verify_publisher_with(lossy, TckConfig::synchronous());
    let count_rules = [
        "setup", "1.1", "1.2", "1.3", "1.5", "1.7", "3.2", "3.3", "3.5", "3.8", "3.9", "3.12",
        "3.17",
    ];
    for r in report.results() {
        if r.outcome.is_failed() {
            let why = format!("{:?}", r.outcome);
            assert!(count_rules.contains(&r.rule), "rule {}: {why}", r.rule);
            assert!(why.contains("expected"), "{}: {why}", r.rule);
            assert!(!why.contains("violation"), "{}: {why}", r.rule);
        }
    }
    for rule in ["1.9", "3.6", "3.7", "3.13", "3.15", "3.16"] {
        assert!(
            report.passed(rule),
            "rule {rule}: {:?}",
            report.outcome(rule)
        );
    }
    let report = tck::verify_publisher_with(silent, TckConfig::synchronous());
    assert!(report.passed("3.9"), "{:?}", report.outcome("3.9"));
}

/// A silent upstream (`never`) through a stage, for the suite's 3.9 check.
pub(crate) fn silent<P, F>(stage: F) -> impl PublisherFactory
where
    P: Publisher<Error: Debug> + 'static,
    F: Fn(spillway::Never<u64, ()>) -> P + Send + Sync + 'static,
{
    tck::publisher_factory(move |_| stage(never::<u64, ()>())).max_elements(u64::MAX)
}

/// One step of a random schedule: an upstream item or a downstream request.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Emit(u32),
    Request(u64),
}

/// Random schedules, emissions three times as likely as requests.
pub(crate) fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            3 => any::<u32>().prop_map(Op::Emit),
            1 => (1u64..4).prop_map(Op::Request),
        ],
        0..60,
    )
}
