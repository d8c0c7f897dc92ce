//! The publisher suite catches deliberately broken publishers, each failing the rule
//! it breaks; a well-behaved twin built on the same code passes.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
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
            if st.cancelled && self.flaw != Flaw::IgnoresCancel {
                if self.flaw != Flaw::KeepsSubscriber {
                    st.subscriber = None;
                }
                return;
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
        if st.cancelled && self.flaw != Flaw::IgnoresCancel {
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

fn config() -> TckConfig {
    TckConfig::synchronous().timeout(Duration::from_millis(200))
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
    assert!(report.passed("1.1"), "{report}");
}
