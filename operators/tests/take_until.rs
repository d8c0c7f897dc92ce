//! `take_until(other)`: requests go to the main upstream; `other` ends the stream and
//! both sides are cancelled.

#[path = "support/checks.rs"]
mod checks;

use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::{TestPublisher, TestSubscriber};

fn rig(
    initial: u64,
) -> (
    TestPublisher<u32, String>,
    TestPublisher<(), String>,
    spillway_testkit::TestSubscriberHandle<u32, String>,
) {
    let main = TestPublisher::<u32, String>::new();
    let other = TestPublisher::<(), String>::new();
    let (sub, down) = TestSubscriber::new(initial);
    main.publisher()
        .take_until(other.publisher())
        .subscribe(sub);
    (main, other, down)
}

#[test]
fn conformance() {
    checks::conformance(|n| range(0, n).take_until(never::<(), _>()));
}

#[test]
fn other_emitting_completes_and_cancels_both() {
    let (main, other, down) = rig(0);
    assert_eq!(main.total_requested(), 0, "nothing before downstream asks");
    assert_eq!(other.total_requested(), u64::MAX, "other: unbounded");
    down.request(3);
    assert_eq!(
        main.total_requested(),
        3,
        "requests go straight to the main upstream"
    );
    main.next(1).next(2);
    other.next(());
    down.assert_items(&[1, 2]);
    down.assert_complete();
    main.assert_cancelled();
    other.assert_cancelled();
    down.assert_no_protocol_violations();
}

#[test]
fn other_completing_completes() {
    let (main, other, down) = rig(5);
    main.next(1);
    other.complete();
    down.assert_items(&[1]);
    down.assert_complete();
    main.assert_cancelled();
}

#[test]
fn other_error_fails_the_stream() {
    let (main, other, down) = rig(5);
    other.error("stop".into());
    down.assert_error_matches(|e| *e == Error::User("stop".into()));
    main.assert_cancelled();
}

#[test]
fn other_firing_at_once_lets_nothing_through() {
    let (sub, down) = TestSubscriber::<u64, _>::new(u64::MAX);
    range(0, 10).take_until(just(())).subscribe(sub);
    down.assert_items(&[]);
    down.assert_complete();
    down.assert_no_protocol_violations();
}

#[test]
fn main_completing_cancels_other() {
    let (main, other, down) = rig(5);
    main.next(1).complete();
    down.assert_items(&[1]);
    down.assert_complete();
    other.assert_cancelled();
}

#[test]
fn downstream_cancel_reaches_both() {
    let (main, other, down) = rig(1);
    down.cancel();
    main.assert_cancelled();
    other.assert_cancelled();
}

#[test]
fn error_propagates() {
    checks::error_propagates(|p| p.take_until(never::<(), String>()));
}

#[test]
fn late_signals_dropped() {
    checks::late_signals_dropped(|p| p.take_until(never::<(), String>()));
}

#[test]
fn request_zero_fails() {
    checks::request_zero_fails(|p| p.take_until(never::<(), _>()));
}

#[test]
fn other_from_another_thread() {
    let (main, other, down) = rig(u64::MAX);
    main.next(1);
    std::thread::spawn(move || {
        other.next(());
    })
    .join()
    .unwrap();
    main.next(2); // cancelled: not sent
    down.assert_items(&[1]);
    down.assert_complete();
}
