//! The publisher suite catches deliberately broken publishers, each failing the rule
//! it breaks; a well-behaved twin built on the same code passes.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use spillway_core::{Error, Publisher, SharedSubscription, Subscriber, Subscription};
use spillway_testkit::tck::{self, Report, TckConfig};

/// What is wrong with a [`Flawed`] publisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flaw {
    None,
    /// Grants one item more than the first request asked for (1.1).
    EmitsExtra,
    /// Never sends on_complete (1.5).
    NeverCompletes,
    /// Sends on_error right after on_complete (1.7).
    ErrorAfterComplete,
    /// Treats request(0) as a NOP (3.9).
    AcceptsZero,
    /// cancel does nothing (3.6, 3.12).
    IgnoresCancel,
    /// cancel stops signals but keeps the subscriber (3.13).
    KeepsSubscriber,
    /// One item beyond demand, once, after 16 items (1.1): the old suite looked at the
    /// first 15 items only.
    ExtraAfter16,
    /// Sends up to 14 more items after cancel (3.12): the old suite allowed 16.
    FourteenAfterCancel,
}

/// A synchronous publisher of `0..n` with a trampolined emit loop (no recursion), and
/// one flaw.
struct Flawed {
    n: u64,
    flaw: Flaw,
}

struct State<S> {
    subscriber: Option<S>,
    next: u64,
    demand: u64,
    bonus_given: bool,
    /// Items sent after cancel (`FourteenAfterCancel`).
    after_cancel: u64,
    bad_request: bool,
    cancelled: bool,
    done: bool,
}

struct Shared<S> {
    n: u64,
    flaw: Flaw,
    state: Mutex<State<S>>,
    wip: AtomicUsize,
}

impl<S: Subscriber<Item = u64, Error = Infallible>> Shared<S> {
    fn drain(&self) {
        if self.wip.fetch_add(1, Ordering::AcqRel) != 0 {
            return;
        }
        loop {
            self.pass();
            if self.wip.fetch_sub(1, Ordering::AcqRel) == 1 {
                return;
            }
        }
    }

    /// Emits what the demand allows. The subscriber is taken out of the lock while it
    /// is called, so that its re-entrant requests only record demand.
    fn pass(&self) {
        loop {
            let mut st = self.state.lock().unwrap();
            if st.done {
                return;
            }
            let late = self.flaw == Flaw::FourteenAfterCancel && st.after_cancel < 14;
            if st.cancelled && self.flaw != Flaw::IgnoresCancel && !late {
                if self.flaw != Flaw::KeepsSubscriber {
                    st.subscriber = None;
                }
                return;
            }
            if st.cancelled && late {
                st.after_cancel += 1;
            }
            let Some(mut sub) = st.subscriber.take() else {
                return;
            };
            if st.bad_request {
                st.done = true;
                drop(st);
                sub.on_error(Error::InvalidRequest { stage: "flawed" });
                return;
            }
            if st.next == self.n {
                st.done = true;
                drop(st);
                if self.flaw != Flaw::NeverCompletes {
                    sub.on_complete();
                }
                if self.flaw == Flaw::ErrorAfterComplete {
                    sub.on_error(Error::Rejected {
                        stage: "flawed",
                        reason: "error after complete",
                    });
                }
                if self.flaw == Flaw::NeverCompletes {
                    self.state.lock().unwrap().subscriber = Some(sub);
                }
                return;
            }
            if st.demand == 0 {
                st.subscriber = Some(sub);
                return;
            }
            st.demand -= 1;
            if self.flaw == Flaw::ExtraAfter16 && st.next == 16 && !st.bonus_given {
                st.bonus_given = true;
                st.demand += 1;
            }
            let item = st.next;
            st.next += 1;
            drop(st);
            sub.on_next(item);
            self.state.lock().unwrap().subscriber = Some(sub);
        }
    }
}

impl<S: Subscriber<Item = u64, Error = Infallible>> Subscription for Shared<S> {
    fn request(&self, n: u64) {
        let mut st = self.state.lock().unwrap();
        let late = self.flaw == Flaw::FourteenAfterCancel && st.after_cancel < 14;
        if st.cancelled && self.flaw != Flaw::IgnoresCancel && !late {
            return;
        }
        if n == 0 && self.flaw != Flaw::AcceptsZero {
            st.bad_request = true;
        }
        st.demand = st.demand.saturating_add(n);
        if self.flaw == Flaw::EmitsExtra && !st.bonus_given {
            st.bonus_given = true;
            st.demand = st.demand.saturating_add(1);
        }
        drop(st);
        self.drain();
    }

    fn cancel(&self) {
        self.state.lock().unwrap().cancelled = true;
        self.drain();
    }
}

impl Publisher for Flawed {
    type Item = u64;
    type Error = Infallible;
    fn subscribe<S: Subscriber<Item = u64, Error = Infallible>>(self, mut subscriber: S) {
        let shared = Arc::new(Shared {
            n: self.n,
            flaw: self.flaw,
            state: Mutex::new(State {
                subscriber: None,
                next: 0,
                demand: 0,
                bonus_given: false,
                after_cancel: 0,
                bad_request: false,
                cancelled: false,
                done: false,
            }),
            // Held during on_subscribe: requests made in it are served afterwards.
            wip: AtomicUsize::new(1),
        });
        let subscription: SharedSubscription = shared.clone();
        subscriber.on_subscribe(subscription);
        shared.state.lock().unwrap().subscriber = Some(subscriber);
        if shared.wip.fetch_sub(1, Ordering::AcqRel) != 1 {
            shared.wip.fetch_add(1, Ordering::AcqRel);
            loop {
                shared.pass();
                if shared.wip.fetch_sub(1, Ordering::AcqRel) == 1 {
                    break;
                }
            }
        }
    }
}

const NO_FAILED_FORM: &str = "the flawed publisher has no failing form";

fn config() -> TckConfig {
    TckConfig::synchronous()
        .timeout(Duration::from_millis(200))
        .cannot_fail(NO_FAILED_FORM)
}

fn verify(flaw: Flaw) -> Report {
    let factory = tck::publisher_factory(move |n| Flawed { n, flaw });
    tck::verify_publisher_with(factory, config())
}

fn assert_fails(report: &Report, rule: &str) {
    assert!(
        report.failed(rule),
        "rule {rule} was not reported failed:\n{report}"
    );
}

#[test]
fn the_well_behaved_twin_passes() {
    verify(Flaw::None).assert_all_passed();
}

#[test]
fn emitting_more_than_requested_fails_1_1() {
    let report = verify(Flaw::EmitsExtra);
    assert_fails(&report, "1.1");
    assert!(report
        .outcome("1.1")
        .unwrap()
        .to_string()
        .contains("rule 1.1"));
}

#[test]
fn never_completing_fails_1_5() {
    let report = verify(Flaw::NeverCompletes);
    assert_fails(&report, "1.5");
    assert_fails(&report, "1.2");
}

#[test]
fn error_after_complete_fails_1_7() {
    let report = verify(Flaw::ErrorAfterComplete);
    assert_fails(&report, "1.7");
    assert!(report
        .outcome("1.7")
        .unwrap()
        .to_string()
        .contains("on_error after on_complete"));
}

#[test]
fn accepting_request_zero_fails_3_9() {
    let report = verify(Flaw::AcceptsZero);
    assert_fails(&report, "3.9");
    assert!(
        report.passed("1.1"),
        "only the request(0) rule is broken:\n{report}"
    );
}

#[test]
fn ignoring_cancel_fails_3_6_and_3_12() {
    let report = verify(Flaw::IgnoresCancel);
    assert_fails(&report, "3.6");
    assert_fails(&report, "3.12");
}

#[test]
fn keeping_the_subscriber_after_cancel_fails_3_13() {
    let report = verify(Flaw::KeepsSubscriber);
    assert_fails(&report, "3.13");
    assert!(report.passed("3.6"), "signals do stop:\n{report}");
}

/// The naive publisher: `request` emits while holding the subscriber's lock. In safe
/// Rust a publisher cannot call `on_next` recursively on the same subscriber (that
/// needs two `&mut` to it), so the "unbounded recursion" of a publisher without a drain
/// loop shows up as a re-entrant lock: a deadlock, or a panic. The suite must report
/// it, not hang or crash.
struct Naive {
    n: u64,
}

struct NaiveSubscription<S> {
    subscriber: Mutex<Option<S>>,
    next: Mutex<u64>,
    n: u64,
}

impl<S: Subscriber<Item = u64, Error = Infallible>> Subscription for NaiveSubscription<S> {
    fn request(&self, k: u64) {
        for _ in 0..k {
            let mut guard = self.subscriber.lock().unwrap();
            let Some(sub) = guard.as_mut() else { return };
            let mut next = self.next.lock().unwrap();
            if *next == self.n {
                sub.on_complete();
                *guard = None;
                return;
            }
            *next += 1;
            let item = *next - 1;
            drop(next);
            sub.on_next(item); // re-entrant request: locks `subscriber` again
        }
    }
    fn cancel(&self) {
        if let Ok(mut guard) = self.subscriber.try_lock() {
            *guard = None;
        }
    }
}

impl Publisher for Naive {
    type Item = u64;
    type Error = Infallible;
    fn subscribe<S: Subscriber<Item = u64, Error = Infallible>>(self, mut subscriber: S) {
        let s = Arc::new(NaiveSubscription {
            subscriber: Mutex::new(None),
            next: Mutex::new(0),
            n: self.n,
        });
        subscriber.on_subscribe(Arc::clone(&s) as SharedSubscription);
        *s.subscriber.lock().unwrap() = Some(subscriber);
    }
}

#[test]
fn recursing_on_reentrant_request_fails_3_3_without_crashing() {
    let mut config = config();
    config.check_timeout = Duration::from_millis(500);
    let report = tck::verify_publisher_with(tck::publisher_factory(|n| Naive { n }), config);
    assert_fails(&report, "3.3");
    assert_fails(&report, "3.2");
    // Checks without re-entrant requests still run and pass after the deadlocks.
    let plain = report
        .results()
        .iter()
        .find(|r| r.check.starts_with("no more on_next than requested"))
        .expect("the short 1.1 check");
    assert_eq!(plain.outcome, tck::Outcome::Passed, "{report}");
}

// The hardening: each publisher below passed the suite before it (the short 1.1 checks
// saw 15 items, 16 items after cancel were accepted, a synchronous run watched for
// nothing, the settle time was 10 ms, a skipped check counted as a pass).

#[test]
fn one_item_beyond_demand_after_16_items_fails_1_1() {
    let report = verify(Flaw::ExtraAfter16);
    assert_fails(&report, "1.1");
    let long = report
        .results()
        .iter()
        .find(|r| r.check.starts_with("long run"))
        .expect("the long 1.1 run");
    assert!(long.outcome.to_string().contains("rule 1.1"), "{report}");
}

#[test]
fn fourteen_items_after_cancel_fail_3_12() {
    let report = verify(Flaw::FourteenAfterCancel);
    assert_fails(&report, "3.12");
    assert!(report.passed("1.1"), "demand is respected:\n{report}");
}

#[test]
fn ignoring_cancel_fails_every_3_12_check() {
    let report = verify(Flaw::IgnoresCancel);
    let of_3_12: Vec<_> = report
        .results()
        .iter()
        .filter(|r| r.rule == "3.12")
        .collect();
    assert!(of_3_12.len() >= 3, "{report}");
    for r in of_3_12 {
        assert!(r.outcome.is_failed(), "{r}");
    }
}

#[test]
fn a_skipped_check_is_not_a_pass() {
    // A publisher that can only be asked for one item skips most checks...
    let factory = tck::publisher_factory(|n| Flawed {
        n,
        flaw: Flaw::EmitsExtra,
    })
    .max_elements(1);
    let report = tck::verify_publisher_with(factory, config());
    let skipped: Vec<&str> = report.unexcused_skips().map(|r| r.rule).collect();
    for rule in ["1.1", "1.3", "3.2", "3.12"] {
        assert!(skipped.contains(&rule), "{rule} not skipped:\n{report}");
    }
    // ...and is not reported green for it.
    let verdict = std::panic::catch_unwind(|| report.assert_all_passed());
    let message = *verdict
        .expect_err("a skip must fail")
        .downcast::<String>()
        .unwrap();
    assert!(message.contains("skipped without an excuse"), "{message}");
    // Declared skips are excused, and named as such.
    let mut config = config();
    for rule in [
        "setup", "1.1", "1.2", "1.3", "1.5", "3.2", "3.3", "3.5", "3.8", "3.9", "3.12", "3.17",
    ] {
        config = config.excuse(rule, "a one-item publisher");
    }
    let factory = tck::publisher_factory(|n| Flawed {
        n,
        flaw: Flaw::None,
    })
    .max_elements(1);
    let report = tck::verify_publisher_with(factory, config);
    report.assert_all_passed();
    assert!(report.counts().excused >= 8, "{report}");
}

/// An asynchronous publisher of `0..n`: a thread of its own owns the subscriber and
/// serves requests from a channel. With `extra_after`, it sends one item beyond demand
/// that long after the demand ran out (a late signal).
struct Threaded {
    n: u64,
    extra_after: Option<Duration>,
}

enum Ask {
    Request(u64),
    Cancel,
}

/// The requests travel a channel; the cancel flag is checked before every `on_next`.
struct ThreadedSubscription {
    asks: Mutex<std::sync::mpsc::Sender<Ask>>,
    cancelled: Arc<AtomicBool>,
}

impl Subscription for ThreadedSubscription {
    fn request(&self, n: u64) {
        let _ = self.asks.lock().unwrap().send(Ask::Request(n));
    }
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        let _ = self.asks.lock().unwrap().send(Ask::Cancel);
    }
}

impl Publisher for Threaded {
    type Item = u64;
    type Error = Infallible;
    fn subscribe<S: Subscriber<Item = u64, Error = Infallible>>(self, mut subscriber: S) {
        let (tx, rx) = std::sync::mpsc::channel();
        let cancelled = Arc::new(AtomicBool::new(false));
        subscriber.on_subscribe(Arc::new(ThreadedSubscription {
            asks: Mutex::new(tx),
            cancelled: Arc::clone(&cancelled),
        }));
        std::thread::spawn(move || {
            let (mut demand, mut next, mut extra_sent) = (0u64, 0u64, false);
            let idle = self.extra_after.unwrap_or(Duration::from_secs(3600));
            loop {
                match rx.recv_timeout(idle) {
                    Ok(Ask::Request(0)) => {
                        subscriber.on_error(Error::InvalidRequest { stage: "threaded" });
                        return;
                    }
                    Ok(Ask::Request(k)) => demand = demand.saturating_add(k),
                    Ok(Ask::Cancel) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                        return
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        if next > 0 && demand == 0 && !extra_sent && next < self.n {
                            extra_sent = true;
                            subscriber.on_next(next); // the late signal
                            next += 1;
                        }
                        continue;
                    }
                }
                while demand > 0 && next < self.n && !cancelled.load(Ordering::SeqCst) {
                    demand -= 1;
                    subscriber.on_next(next);
                    next += 1;
                }
                if next == self.n {
                    subscriber.on_complete();
                    return;
                }
            }
        });
    }
}

fn threaded_config() -> TckConfig {
    TckConfig::default().cannot_fail(NO_FAILED_FORM)
}

#[test]
fn a_well_behaved_asynchronous_publisher_passes() {
    let factory = tck::publisher_factory(|n| Threaded {
        n,
        extra_after: None,
    });
    tck::verify_publisher_with(factory, threaded_config()).assert_all_passed();
}

#[test]
fn an_asynchronous_publisher_declared_synchronous_fails() {
    let factory = tck::publisher_factory(|n| Threaded {
        n,
        extra_after: None,
    });
    let config = TckConfig::synchronous().cannot_fail(NO_FAILED_FORM);
    let report = tck::verify_publisher_with(factory, config);
    assert!(report.failures().count() > 5, "{report}");
    assert!(
        report
            .failures()
            .all(|r| r.outcome.to_string().contains("an asynchronous signal")),
        "{report}"
    );
}

#[test]
fn a_signal_15_ms_late_is_seen() {
    let factory = tck::publisher_factory(|n| Threaded {
        n,
        extra_after: Some(Duration::from_millis(15)),
    });
    let report = tck::verify_publisher_with(factory, threaded_config());
    assert_fails(&report, "1.1");
    assert!(
        report
            .outcome("1.1")
            .unwrap()
            .to_string()
            .contains("rule 1.1"),
        "{report}"
    );
}
