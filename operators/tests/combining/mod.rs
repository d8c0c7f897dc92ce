//! Helpers shared by the tests of the combining operators (merge, concat, zip,
//! combine_latest, flat_map, concat_map, switch_map).
#![allow(dead_code)] // each test file uses a different subset

use std::sync::{Arc, Mutex};
use std::time::Duration;

use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::{
    Signal, TestPublisher, TestPublisherSource, TestSubscriber, TestSubscriberHandle,
};

/// Generous bound for the threaded tests: they finish in milliseconds, a deadlock does not.
pub(crate) const DEADLINE: Duration = Duration::from_secs(30);

pub(crate) type Handle<T> = TestSubscriberHandle<T, String>;

/// Subscribes a test subscriber that first requests `initial`.
pub(crate) fn subscribe<P>(p: P, initial: u64) -> Handle<P::Item>
where
    P: Publisher<Error = String>,
{
    let (sub, handle) = TestSubscriber::new(initial);
    p.subscribe(sub);
    handle
}

/// Sends each item without completing.
pub(crate) fn send(tp: &TestPublisher<u32, String>, items: impl IntoIterator<Item = u32>) {
    for x in items {
        tp.next(x);
    }
}

/// A source of `0..n` with a `String` error type (fails nowhere).
pub(crate) fn numbers(
    start: u32,
    end: u32,
) -> impl Publisher<Item = u32, Error = String> + Clone + Send {
    try_generate(start, move |i: &mut u32| {
        if *i >= end {
            return Ok(None);
        }
        *i += 1;
        Ok(Some(*i - 1))
    })
}

/// A source on its own producer thread: `items` tagged with `tag`, pushed only when the
/// subscriber has demand (`OverflowStrategy::Error` would fail the pipeline otherwise).
pub(crate) fn threaded(
    tag: u32,
    items: u32,
) -> impl Publisher<Item = (u32, u32), Error = String> + Send {
    create(
        OverflowStrategy::Error,
        move |e: Emitter<(u32, u32), String>| {
            std::thread::spawn(move || {
                for i in 0..items {
                    if !e.wait_for_demand(DEADLINE) {
                        return;
                    }
                    if e.next((tag, i)).is_err() {
                        return;
                    }
                }
                e.complete();
            });
        },
    )
}

/// Requests the steps of `schedule` one after the other (a zero step is skipped: zero
/// is an invalid request), then unbounded demand, and returns the items once the
/// stream terminated.
pub(crate) fn drain_with<T: Clone + Send + 'static>(
    handle: &Handle<T>,
    schedule: &[u64],
) -> Vec<T> {
    for &n in schedule {
        if n > 0 {
            handle.request(n);
        }
    }
    handle.request(u64::MAX);
    assert!(handle.await_terminal(DEADLINE), "did not terminate");
    handle.items()
}

/// Waits for termination and checks the stream completed without a protocol violation.
pub(crate) fn assert_completed<T: std::fmt::Debug>(handle: &Handle<T>) {
    assert!(handle.await_terminal(DEADLINE), "did not terminate");
    handle.assert_complete();
    handle.assert_no_protocol_violations();
}

/// True if `e` is the user error `what`.
pub(crate) fn is_user(e: &Error<String>, what: &str) -> bool {
    *e == Error::User(what.to_string())
}

/// The inner publishers a mapper under test created, in order.
pub(crate) type Inners = Arc<Mutex<Vec<TestPublisher<u32, String>>>>;

/// A mapper for `flat_map` & co. that opens a fresh `TestPublisher` per outer item and
/// records it in `inners`, so the test can drive and inspect every inner.
pub(crate) fn recording(
    inners: &Inners,
) -> impl FnMut(u32) -> TestPublisherSource<u32, String> + Send + 'static {
    let list = inners.clone();
    move |_| {
        let tp = TestPublisher::new();
        let p = tp.publisher();
        list.lock().unwrap().push(tp);
        p
    }
}

/// The `i`-th inner publisher the mapper opened.
pub(crate) fn inner(inners: &Inners, i: usize) -> TestPublisher<u32, String> {
    inners.lock().unwrap()[i].clone()
}

/// The items of a virtual-time run with the (virtual) time each arrived at.
pub(crate) fn next_timeline<T: Clone, E>(h: &TestSubscriberHandle<T, E>) -> Vec<(Duration, T)> {
    h.with_events(|events| {
        events
            .iter()
            .filter_map(|e| match &e.signal {
                Signal::Next(x) => Some((e.at, x.clone())),
                _ => None,
            })
            .collect()
    })
}

/// A mapper panic (`build` wires `panic!` into the operator) fails with
/// `Error::Panicked` naming `stage` and cancels the outer publisher.
pub(crate) fn assert_mapper_panic_fails<P>(
    build: impl FnOnce(TestPublisherSource<u32, String>) -> P,
    stage: &str,
) where
    P: Publisher<Item = u32, Error = String>,
{
    let outer = TestPublisher::<u32, String>::new();
    let h = subscribe(build(outer.publisher()), 1);
    outer.next(1);
    h.assert_error_matches(|e| matches!(e, Error::Panicked { stage: s, .. } if *s == stage));
    outer.assert_cancelled();
}
