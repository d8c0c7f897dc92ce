//! The lossy stages in the conformance suite's lossy mode: a source that sends an item
//! every millisecond whatever the demand below the stage, so the stage really drops by
//! its policy, while items still arrive for the checks that need some. The count-independent rules (demand, serial signals, terminal once, cancel,
//! `request(0)`, release) are checked exactly; the exact-count checks accept fewer items
//! followed by `on_complete`; every check ends on the stage's accounting invariant
//! (`received = emitted + dropped + buffered`, and `emitted` is what arrived). The lossless
//! runs of the same operators (a paced source, so nothing is dropped) are in
//! `conformance_every_operator.rs`.

use std::time::Duration;

use spillway::operators::{
    BufferOverflow, FlowStats, OperatorExt, RateLimitMode, ThrottleMode, TokenBucket,
};
use spillway::prelude::*;
use spillway_testkit::tck::{self, Accounting, TckConfig};

/// The failed form of a source: `n` is this in a factory's `failed` publisher.
const FAILED: u64 = u64::MAX;

type Src = spillway::BoxPublisher<u64, String>;

/// `0..n`, one item per millisecond (the stages under test ask for everything at once),
/// or (for `n == FAILED`) a source that fails at once. The first item comes after 20 ms:
/// the checks that act right after subscribing (`request(0)` for 3.9) do so before a
/// stage could drop everything and complete, even on a loaded machine.
fn src(n: u64) -> Src {
    if n == FAILED {
        error("boom".to_string()).boxed()
    } else {
        interval(Duration::from_millis(1))
            .unwrap()
            .first_after(Duration::from_millis(20))
            .map_error(|e| match e {})
            .take(n)
            .boxed()
    }
}

fn ticks() -> impl Publisher<Item = u64, Error = String> + Send + 'static {
    interval(Duration::from_millis(1))
        .unwrap()
        .map_error(|e| match e {})
}

/// The stage's counters, as the suite reads them.
fn accounting(stats: FlowStats) -> impl Fn() -> Accounting + Send + Sync + 'static {
    move || {
        let s = stats.snapshot();
        Accounting {
            received: s.received,
            emitted: s.emitted,
            dropped: s.dropped(),
            buffered: s.buffered,
        }
    }
}

/// Runs the suite in lossy mode on `make(src(n))`, `stats` reading the stage's counters.
fn verify_lossy<P, M, S>(name: &str, make: M, stats: S)
where
    P: Publisher<Item = u64, Error = String> + 'static,
    M: Fn(Src) -> P + Send + Sync + Clone + 'static,
    S: Fn(&P) -> FlowStats + Send + Sync + 'static,
{
    let failed = make.clone();
    let factory = tck::publisher_factory(move |n| make(src(n)))
        .failed(move || failed(src(FAILED)))
        .lossy(move |p| accounting(stats(p)));
    let config = TckConfig::default().timeout(Duration::from_secs(5));
    let report = tck::verify_publisher_with(factory, config);
    assert!(
        report.failures().next().is_none() && report.unexcused_skips().next().is_none(),
        "{name} in lossy mode:\n{report}"
    );
}

#[test]
fn the_backpressure_strategies() {
    verify_lossy(
        "on_backpressure_drop",
        |s| s.on_backpressure_drop(),
        |p| p.stats(),
    );
    verify_lossy(
        "on_backpressure_latest",
        |s| s.on_backpressure_latest(),
        |p| p.stats(),
    );
    for policy in [
        BufferOverflow::DropNewest,
        BufferOverflow::DropOldest,
        BufferOverflow::DropBuffer,
        BufferOverflow::KeepLatest,
    ] {
        verify_lossy(
            &format!("on_backpressure_buffer(2, {policy:?})"),
            move |s| s.on_backpressure_buffer(2, policy).unwrap(),
            |p| p.stats(),
        );
    }
    verify_lossy(
        "load_shed",
        |s| s.load_shed(2, |x| *x).unwrap(),
        |p| p.stats(),
    );
}

#[test]
fn the_rate_stages() {
    verify_lossy(
        "rate_limit(Drop)",
        |s| {
            s.rate_limit(TokenBucket::per_second(1000), RateLimitMode::Drop)
                .unwrap()
        },
        |p| p.stats(),
    );
    verify_lossy(
        "sample_first",
        |s| s.sample_first(Duration::from_millis(1)).unwrap(),
        |p| p.stats(),
    );
    verify_lossy(
        "throttle(Trailing)",
        |s| {
            s.throttle(Duration::from_millis(1), ThrottleMode::Trailing)
                .unwrap()
        },
        |p| p.stats(),
    );
}

#[test]
fn the_sampling_stages() {
    verify_lossy(
        "sample",
        |s| s.sample(Duration::from_millis(1)).unwrap(),
        |p| p.stats(),
    );
    verify_lossy(
        "throttle_latest",
        |s| s.throttle_latest(Duration::from_millis(1)).unwrap(),
        |p| p.stats(),
    );
    verify_lossy(
        "audit",
        |s| s.audit(Duration::from_millis(1)).unwrap(),
        |p| p.stats(),
    );
    verify_lossy(
        "debounce",
        |s| s.debounce(Duration::from_millis(1)).unwrap(),
        |p| p.stats(),
    );
}

#[test]
fn the_signal_driven_stages() {
    verify_lossy("sample_with", |s| s.sample_with(ticks()), |p| p.stats());
    verify_lossy(
        "sample_first_with",
        |s| s.sample_first_with(|_| ticks().take(1)),
        |p| p.stats(),
    );
}

/// The mode is not a blanket pass: counters that do not balance fail every check that
/// ran, and the same stage without the mode fails the exact-count checks it drops under.
#[test]
fn lossy_mode_still_fails_what_is_wrong() {
    let config = || TckConfig::default().timeout(Duration::from_secs(5));
    // Counters that forget the drops.
    let forgetful = tck::publisher_factory(|n| src(n).on_backpressure_drop()).lossy(|p| {
        let stats = p.stats();
        move || {
            let s = stats.snapshot();
            Accounting {
                received: s.received,
                emitted: s.emitted,
                dropped: 0,
                buffered: s.buffered,
            }
        }
    });
    let report = tck::verify_publisher_with(forgetful, config());
    let unbalanced = report
        .failures()
        .filter(|r| format!("{r:?}").contains("lossy stage accounting"))
        .count();
    assert!(unbalanced > 0, "{report}");

    // No mode: a dropping stage fails the checks that count items.
    let exact = tck::publisher_factory(|n| src(n).on_backpressure_drop());
    let report = tck::verify_publisher_with(exact, config());
    assert!(report.failures().next().is_some(), "{report}");
}
