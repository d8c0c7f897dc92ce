//! The `do_on_*` taps (one operator, `Tap`): signals pass unchanged, demand is forwarded
//! 1:1, each hook sees its signal, and panics are handled as documented.

#[path = "support/checks.rs"]
mod checks;

use std::sync::{Arc, Mutex};

use spillway::operators::Termination;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::{TestPublisher, TestSubscriber};

type Log = Arc<Mutex<Vec<String>>>;

fn log() -> Log {
    Arc::default()
}

fn push(log: &Log, s: impl Into<String>) {
    log.lock().unwrap().push(s.into());
}

fn entries(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

#[test]
fn conformance() {
    checks::conformance(|n| range(0, n).do_on_next(|_| {}));
    checks::conformance(|n| range(0, n).do_on_request(|_| {}).do_on_cancel(|| {}));
    checks::conformance(|n| range(0, n).do_on_complete(|| {}).do_on_error(|_| {}));
    checks::conformance(|n| range(0, n).do_finally(|_| {}));
}

#[test]
fn every_hook_sees_its_signal_and_demand_is_forwarded() {
    let l = log();
    let (a, b, c, d) = (l.clone(), l.clone(), l.clone(), l.clone());
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(0);
    tp.publisher()
        .do_on_next(move |x| push(&a, format!("next {x}")))
        .do_on_request(move |n| push(&b, format!("request {n}")))
        .do_on_complete(move || push(&c, "complete"))
        .do_finally(move |t| push(&d, format!("finally {t:?}")))
        .subscribe(sub);
    assert_eq!(tp.total_requested(), 0);
    down.request(2);
    assert_eq!(tp.total_requested(), 2, "1:1");
    tp.next(1).next(2).complete();
    down.assert_items(&[1, 2]);
    down.assert_complete();
    assert_eq!(
        entries(&l),
        vec![
            "request 2",
            "next 1",
            "next 2",
            "complete",
            "finally Complete"
        ]
    );
}

#[test]
fn cancel_runs_on_cancel_and_finally_once_and_reaches_upstream() {
    let l = log();
    let (a, b) = (l.clone(), l.clone());
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(1);
    tp.publisher()
        .do_on_cancel(move || push(&a, "cancel"))
        .do_finally(move |t| push(&b, format!("finally {t:?}")))
        .subscribe(sub);
    down.cancel();
    down.cancel();
    tp.assert_cancelled();
    assert_eq!(entries(&l), vec!["finally Cancel", "cancel"]);
}

#[test]
fn on_error_sees_the_error_and_finally_reports_it() {
    let l = log();
    let (a, b) = (l.clone(), l.clone());
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(1);
    tp.publisher()
        .do_on_error(move |e| push(&a, format!("error {e}")))
        .do_finally(move |t| push(&b, format!("finally {t:?}")))
        .subscribe(sub);
    tp.error("boom".into());
    down.assert_error_matches(|e| *e == Error::User("boom".into()));
    assert_eq!(entries(&l), vec!["error boom", "finally Error"]);
}

#[test]
fn on_next_panics() {
    checks::callback_panics("do_on_next", |p| p.do_on_next(|x| checks::boom(*x)));
}

#[test]
fn on_complete_panic_becomes_error() {
    let (sub, down) = TestSubscriber::<u64, _>::new(u64::MAX);
    range(0, 2).do_on_complete(|| panic!("boom")).subscribe(sub);
    down.assert_items(&[0, 1]);
    down.assert_error_matches(|e| {
        matches!(
            e,
            Error::Panicked {
                stage: "do_on_complete",
                ..
            }
        )
    });
}

#[test]
fn on_error_panic_replaces_error() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(1);
    tp.publisher()
        .do_on_error(|_| panic!("boom"))
        .subscribe(sub);
    tp.error("x".into());
    down.assert_error_matches(|e| {
        matches!(
            e,
            Error::Panicked {
                stage: "do_on_error",
                ..
            }
        )
    });
}

#[test]
fn on_request_panic_is_reported_at_next_signal_and_cancels_upstream() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(0);
    tp.publisher()
        .do_on_request(|_| panic!("boom"))
        .subscribe(sub);
    down.request(1); // returns normally (rule 3.15)
    assert_eq!(tp.total_requested(), 1, "the request is still forwarded");
    tp.next(1);
    down.assert_items(&[]);
    down.assert_error_matches(|e| {
        matches!(
            e,
            Error::Panicked {
                stage: "do_on_request",
                ..
            }
        )
    });
    tp.assert_cancelled();
}

#[test]
fn on_cancel_and_finally_panics_are_contained() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(1);
    tp.publisher()
        .do_on_cancel(|| panic!("boom"))
        .do_finally(|_| panic!("boom"))
        .subscribe(sub);
    down.cancel();
    tp.assert_cancelled();
}

#[test]
fn cancel_mid_stream_reaches_upstream() {
    checks::cancel_reaches_upstream(|p| p.do_on_next(|_| {}).do_on_cancel(|| {}));
}

#[test]
fn error_propagates() {
    checks::error_propagates(|p| p.do_on_complete(|| {}).do_finally(|_| {}));
}

#[test]
fn late_signals_dropped() {
    checks::late_signals_dropped(|p| p.do_on_next(|_| {}).do_on_error(|_| {}));
}

#[test]
fn request_zero_fails() {
    checks::request_zero_fails(|p| p.do_on_request(|_| {}));
}

#[test]
fn finally_after_take_runs_once_with_complete() {
    let l = log();
    let a = l.clone();
    let (sub, down) = TestSubscriber::<u64, _>::new(u64::MAX);
    range(0, 10)
        .do_finally(move |t| push(&a, format!("{t:?}")))
        .take(2)
        .subscribe(sub);
    down.assert_items(&[0, 1]);
    // take cancels upstream: for the tap, that is a cancel.
    assert_eq!(entries(&l), vec![format!("{:?}", Termination::Cancel)]);
}
