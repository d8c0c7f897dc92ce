//! Every source of spillway-core passes the publisher suite, and `FnSubscriber` passes
//! the subscriber suite.

use std::convert::Infallible;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use spillway_core::prelude::*;
use spillway_core::{
    Disposable, Error, FnSubscriber, SharedSubscription, Subscription, ThreadScheduler,
};
use spillway_testkit::tck::{self, Either, Outcome, SubscriberFactory, TckConfig};

fn sync_config() -> TckConfig {
    TckConfig::synchronous()
}

/// `config` for a source that cannot fail: the checks that need a failed publisher are
/// excused.
fn cannot_fail(config: TckConfig, source: &str) -> TckConfig {
    config.cannot_fail(&format!("{source} has no failing form"))
}

/// Every check that ran passed, and the core rules actually ran.
fn assert_conformant(report: &tck::Report, must_pass: &[&str]) {
    report.assert_all_passed();
    for rule in must_pass {
        assert!(
            report.passed(rule),
            "rule {rule} did not run and pass:\n{report}"
        );
    }
}

const FINITE: &[&str] = &[
    "setup", "1.1", "1.2", "1.3", "1.5", "1.7", "1.9", "3.2", "3.3", "3.5", "3.6", "3.7", "3.8",
    "3.9", "3.12", "3.13", "3.15", "3.16", "3.17",
];

#[test]
fn range_passes() {
    let report = tck::verify_publisher_with(
        tck::publisher_factory(|n| range(0, n)),
        cannot_fail(sync_config(), "range"),
    );
    assert_conformant(&report, FINITE);
    assert_eq!(
        report.outcome("1.10"),
        Some(&Outcome::EnforcedByType(
            "subscribe takes the subscriber by value: one subscriber cannot be subscribed twice"
        ))
    );
}

#[test]
fn from_iter_passes() {
    let report = tck::verify_publisher_with(
        tck::publisher_factory(|n| from_iter(0..n)),
        cannot_fail(sync_config(), "from_iter"),
    );
    assert_conformant(&report, FINITE);
}

#[test]
fn just_passes() {
    let factory = tck::publisher_factory(|n| match n {
        0 => Either::Left(empty()),
        _ => Either::Right(just(7u64)),
    })
    .max_elements(1);
    let config = sync_config().excuse("*", "just emits one item and cannot fail");
    let report = tck::verify_publisher_with(factory, config);
    assert_conformant(
        &report,
        &["setup", "1.5", "1.7", "1.9", "3.7", "3.9", "3.15", "3.16"],
    );
    assert!(matches!(report.outcome("1.1"), Some(Outcome::Excused(_))));
}

#[test]
fn empty_passes() {
    let factory = tck::publisher_factory(|_| empty::<u64, Infallible>()).max_elements(0);
    let config = sync_config().excuse("*", "empty emits no item and cannot fail");
    let report = tck::verify_publisher_with(factory, config);
    assert_conformant(&report, &["1.5", "1.9", "3.15", "3.16"]);
}

#[test]
fn generate_passes() {
    let factory = tck::publisher_factory(|n| {
        generate(0u64, move |i: &mut u64| {
            (*i < n).then(|| {
                *i += 1;
                *i - 1
            })
        })
    });
    let config = cannot_fail(sync_config(), "generate");
    assert_conformant(&tck::verify_publisher_with(factory, config), FINITE);
}

type Step = fn(&mut (u64, u64)) -> Result<Option<u64>, String>;

fn count_up(st: &mut (u64, u64)) -> Result<Option<u64>, String> {
    let (i, n) = st;
    if *i < *n {
        *i += 1;
        Ok(Some(*i - 1))
    } else {
        Ok(None)
    }
}

fn fail(_: &mut (u64, u64)) -> Result<Option<u64>, String> {
    Err("boom".to_string())
}

#[test]
fn try_generate_and_its_failure_pass() {
    let factory = tck::publisher_factory(|n| try_generate((0, n), count_up as Step))
        .failed(|| try_generate((0, 0), fail as Step));
    let report = tck::verify_publisher_with(factory, sync_config());
    assert_conformant(&report, FINITE);
    assert!(report.passed("1.4"));
}

#[test]
fn error_passes_as_the_failed_publisher() {
    let factory = tck::publisher_factory(|_| Either::Left(empty::<u64, String>()))
        .failed(|| Either::Right(error("boom".to_string())))
        .max_elements(0);
    let config = sync_config().excuse("*", "error emits no item");
    let report = tck::verify_publisher_with(factory, config);
    assert_conformant(&report, &["1.4", "1.7", "1.9", "3.15", "3.16"]);
}

#[test]
fn never_passes_the_rules_that_need_no_items() {
    let mut config = cannot_fail(sync_config(), "never").excuse("*", "never completes");
    for rule in ["1.1", "1.3", "3.2", "3.3", "3.5", "3.8", "3.12", "3.17"] {
        config = config.skip(rule, "never emits: the check needs items");
    }
    let factory = tck::publisher_factory(|_| never::<u64, Infallible>()).max_elements(u64::MAX);
    let report = tck::verify_publisher_with(factory, config);
    assert_conformant(
        &report,
        &["1.9", "3.6", "3.7", "3.9", "3.13", "3.15", "3.16"],
    );
}

#[test]
fn defer_passes() {
    let factory = tck::publisher_factory(|n| defer(move || range(0, n)));
    let config = cannot_fail(sync_config(), "defer over range");
    assert_conformant(&tck::verify_publisher_with(factory, config), FINITE);
}

#[test]
fn from_stream_over_iter_passes() {
    let factory = tck::publisher_factory(|n| from_stream(futures::stream::iter(0..n)));
    // Asynchronous even over an iterator: past its cooperative budget a pass continues
    // on the scheduler (the synchronous mode reports that as an asynchronous signal).
    let config = cannot_fail(TckConfig::default(), "from_stream over an iterator");
    assert_conformant(&tck::verify_publisher_with(factory, config), FINITE);
}

#[test]
fn from_stream_over_async_stream_passes() {
    let factory = tck::publisher_factory(|n| {
        from_stream(async_stream::stream! {
            for i in 0..n {
                yield i;
            }
        })
    });
    // The generator is polled on whichever thread requests: use the default waits.
    let config = cannot_fail(TckConfig::default(), "from_stream over a generator");
    assert_conformant(&tck::verify_publisher_with(factory, config), FINITE);
}

/// Rings when the subscriber requests or cancels, so that a producer thread can wait
/// for demand instead of polling `Emitter::requested`.
#[derive(Default)]
struct Bell {
    rung: Mutex<u64>,
    cv: Condvar,
}

impl Bell {
    fn ring(&self) {
        *self.rung.lock().unwrap() += 1;
        self.cv.notify_all();
    }
    fn generation(&self) -> u64 {
        *self.rung.lock().unwrap()
    }
    /// Waits (bounded) for a ring after `seen`; false on timeout.
    fn wait_after(&self, seen: u64) -> bool {
        let g = self.rung.lock().unwrap();
        let (g, _) = self
            .cv
            .wait_timeout_while(g, Duration::from_secs(10), |g| *g == seen)
            .unwrap();
        *g != seen
    }
}

/// Forwards everything; rings the bell after each request and cancel.
struct Belled<P> {
    inner: P,
    bell: Arc<Bell>,
}

struct BelledSubscriber<S> {
    inner: S,
    bell: Arc<Bell>,
}

struct BelledSubscription {
    inner: SharedSubscription,
    bell: Arc<Bell>,
}

impl Subscription for BelledSubscription {
    fn request(&self, n: u64) {
        self.inner.request(n);
        self.bell.ring();
    }
    fn cancel(&self) {
        self.inner.cancel();
        self.bell.ring();
    }
}

impl<S: Subscriber> Subscriber for BelledSubscriber<S> {
    type Item = S::Item;
    type Error = S::Error;
    fn on_subscribe(&mut self, s: SharedSubscription) {
        let bell = Arc::clone(&self.bell);
        self.inner
            .on_subscribe(Arc::new(BelledSubscription { inner: s, bell }));
    }
    fn on_next(&mut self, item: S::Item) {
        self.inner.on_next(item)
    }
    fn on_error(&mut self, e: Error<S::Error>) {
        self.inner.on_error(e)
    }
    fn on_complete(&mut self) {
        self.inner.on_complete()
    }
}

impl<P: Publisher> Publisher for Belled<P> {
    type Item = P::Item;
    type Error = P::Error;
    fn subscribe<S: Subscriber<Item = P::Item, Error = P::Error>>(self, s: S) {
        self.inner.subscribe(BelledSubscriber {
            inner: s,
            bell: self.bell,
        })
    }
}

/// `create` fed by a producer thread that pushes only what `requested()` allows.
fn create_on_thread(n: u64, fail: bool) -> impl Publisher<Item = u64, Error = String> {
    let bell = Arc::new(Bell::default());
    let producer_bell = Arc::clone(&bell);
    let inner = create(
        OverflowStrategy::Buffer(16),
        move |emitter: Emitter<u64, String>| {
            std::thread::spawn(move || {
                if fail {
                    emitter.error("boom".to_string());
                    return;
                }
                let mut next = 0;
                while next < n && !emitter.is_cancelled() {
                    let seen = producer_bell.generation();
                    let room = emitter.requested().min(n - next);
                    if room == 0 {
                        if !producer_bell.wait_after(seen) {
                            return; // abandoned subscription: stop the thread
                        }
                        continue;
                    }
                    for _ in 0..room {
                        if emitter.next(next).is_err() {
                            return;
                        }
                        next += 1;
                    }
                }
                emitter.complete();
            });
        },
    );
    Belled { inner, bell }
}

#[test]
fn create_with_a_producer_thread_passes() {
    let factory =
        tck::publisher_factory(|n| create_on_thread(n, false)).failed(|| create_on_thread(0, true));
    let report = tck::verify_publisher(factory);
    assert_conformant(&report, FINITE);
    assert!(report.passed("1.4"));
}

#[test]
fn interval_passes_the_rules_it_can() {
    let reason = "interval fails with Overflow when a tick finds no demand; \
                  this check leaves demand at zero while ticks are due";
    let config = cannot_fail(TckConfig::default(), "interval")
        .excuse("*", "interval never completes")
        .skip("1.1", reason)
        .skip("3.2", reason)
        .skip("3.8", reason);
    let factory = tck::publisher_factory(|_| {
        interval(Duration::from_millis(1))
            .expect("a non-zero period")
            .first_after(Duration::from_millis(50))
            .on(ThreadScheduler::global())
    })
    .max_elements(u64::MAX);
    let report = tck::verify_publisher_with(factory, config);
    assert_conformant(
        &report,
        &[
            "1.3", "1.9", "3.3", "3.5", "3.6", "3.7", "3.9", "3.12", "3.13", "3.15", "3.16", "3.17",
        ],
    );
}

type Fns = FnSubscriber<u64, Infallible, fn(u64), fn(Error<Infallible>), fn()>;

struct FnSubscribers;

impl SubscriberFactory for FnSubscribers {
    type Subscriber = Fns;
    type Handle = Disposable;
    fn create_subscriber(&self) -> (Fns, Disposable) {
        FnSubscriber::new(|_| {}, |_| {}, || {})
    }
    fn create_element(&self, index: u64) -> u64 {
        index
    }
    fn cancels_on_handle_drop(&self) -> bool {
        true
    }
}

#[test]
fn fn_subscriber_passes_the_subscriber_suite() {
    let report = tck::verify_subscriber(FnSubscribers);
    report.assert_all_passed();
    for rule in [
        "2.1", "2.3", "2.5", "2.6", "2.7", "2.8", "2.9", "2.10", "2.13",
    ] {
        assert!(report.passed(rule), "rule {rule}:\n{report}");
    }
}
