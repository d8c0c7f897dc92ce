//! `sample_first_with`: a window per emitted item, closed by a publisher built from it.
//! Checklist on test publishers, a model, the window's error and panic, and the ways
//! users run it. Conformance is in `conformance_every_operator.rs`.

mod rate_control;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use rate_control::*;
use spillway::operators::{DropReason, OperatorExt};
use spillway::prelude::*;
use spillway_testkit::TestPublisher;

/// The windows made so far, in order, each a test publisher the test closes by hand.
#[derive(Clone, Default)]
struct Windows(Arc<Mutex<Vec<TestPublisher<(), ()>>>>);

impl Windows {
    fn make(&self) -> impl Fn(&u32) -> spillway_testkit::TestPublisherSource<(), ()> {
        let all = self.0.clone();
        move |_| {
            let w = TestPublisher::new();
            all.lock().unwrap().push(w.clone());
            w.publisher()
        }
    }

    fn last(&self) -> TestPublisher<(), ()> {
        self.0.lock().unwrap().last().expect("a window").clone()
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

#[test]
fn an_item_opens_a_window_that_its_publisher_closes() {
    for close_by_item in [true, false] {
        let (vs, tp) = rig();
        let windows = Windows::default();
        let op = tp.publisher().sample_first_with(windows.make());
        let stats = op.stats();
        let h = subscribe(op, &vs, u64::MAX);
        tp.next(1).next(2);
        assert_eq!(windows.count(), 1, "one window, for 1");
        let w = windows.last();
        assert_eq!(w.total_requested(), u64::MAX);
        if close_by_item {
            w.next(());
            assert!(w.is_cancelled(), "a window that emitted is cancelled");
        } else {
            w.complete();
        }
        tp.next(3).complete();
        h.assert_items(&[1, 3]);
        h.assert_complete();
        assert!(
            windows.last().is_cancelled(),
            "upstream's end cancels the open window"
        );
        assert_eq!(stats.snapshot().dropped_for(DropReason::Throttled), 1);
        assert_balanced(&stats);
    }
}

#[test]
fn an_item_without_demand_is_dropped_and_opens_no_window() {
    let (vs, tp) = rig();
    let windows = Windows::default();
    let op = tp.publisher().sample_first_with(windows.make());
    let stats = op.stats();
    let h = subscribe(op, &vs, 0);
    tp.next(1);
    assert_eq!(stats.snapshot().dropped_for(DropReason::NoDemand), 1);
    assert_eq!(
        windows.count(),
        0,
        "the window function runs only for items that pass"
    );
    h.request(1);
    tp.next(2);
    h.assert_items(&[2]);
    assert_balanced(&stats);
}

#[test]
fn a_windows_error_fails_the_stream() {
    let (vs, tp) = rig();
    let windows = Windows::default();
    let op = tp.publisher().sample_first_with(windows.make());
    let h = subscribe(op, &vs, u64::MAX);
    tp.next(1);
    windows.last().error(());
    h.assert_items(&[1]);
    h.assert_error_matches(|e| matches!(e, spillway::Error::User(())));
    assert!(tp.is_cancelled());
}

#[test]
fn a_panicking_window_function_fails_the_stream() {
    let (vs, tp) = rig();
    let op = tp.publisher().sample_first_with(
        |_: &u32| -> spillway_testkit::TestPublisherSource<(), ()> { panic!("no window") },
    );
    let stats = op.stats();
    let h = subscribe(op, &vs, u64::MAX);
    tp.next(1);
    h.assert_error_matches(|e| {
        matches!(e, spillway::Error::Panicked { stage: "sample_first_with", message } if message == "no window")
    });
    assert!(tp.is_cancelled());
    assert_eq!(stats.snapshot().dropped_for(DropReason::Discarded), 1);
    assert_balanced(&stats);
}

#[test]
fn cancel_stops_upstream_and_the_open_window() {
    let (vs, tp) = rig();
    let windows = Windows::default();
    let op = tp.publisher().sample_first_with(windows.make());
    let h = subscribe(op, &vs, u64::MAX);
    tp.next(1);
    h.cancel();
    assert!(tp.is_cancelled());
    assert!(windows.last().is_cancelled());
}

#[test]
fn request_zero_is_invalid() {
    let (vs, tp) = rig();
    let windows = Windows::default();
    let h = subscribe(tp.publisher().sample_first_with(windows.make()), &vs, 0);
    h.request(0);
    h.assert_error_matches(|e| matches!(e, spillway::Error::InvalidRequest { .. }));
    assert!(tp.is_cancelled());
}

/// As users run it: windows on tokio's clock (each item's value in ms), awaited.
#[tokio::test(start_paused = true)]
async fn awaited_under_tokio_with_timer_windows() {
    let items = interval(Duration::from_millis(10)).unwrap().take(20); // 0..20, 10 ms apart
    let out = items
        .sample_first_with(|_| interval(Duration::from_millis(35)).unwrap().take(1))
        .collect()
        .await
        .unwrap();
    // 0 at 10 ms closes the gate until 45 ms: 4 (at 50 ms) passes, and so on.
    assert_eq!(out, vec![0, 4, 8, 12, 16]);
}

#[test]
fn under_block_on_with_windows_that_close_at_once() {
    // `empty()` windows close inside their own subscribe: every item passes.
    let out = futures::executor::block_on(
        range(0, 1000)
            .sample_first_with(|_| empty::<(), std::convert::Infallible>())
            .collect(),
    )
    .unwrap();
    assert_eq!(out, (0..1000).collect::<Vec<_>>());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// Items, window closings and requests in random order against a model.
    #[test]
    fn matches_a_model(events in proptest::collection::vec((0u8..3, 1u64..4), 0..40)) {
        let (vs, tp) = rig();
        let windows = Windows::default();
        let op = tp.publisher().sample_first_with(windows.make());
        let stats = op.stats();
        let h = subscribe(op, &vs, 0);
        let (mut demand, mut closed, mut out, mut next) = (0u64, false, Vec::new(), 0u32);
        let (mut throttled, mut no_demand) = (0u64, 0u64);
        for (kind, n) in events {
            match kind {
                0 => {
                    next += 1;
                    tp.next(next);
                    if closed {
                        throttled += 1;
                    } else if demand > 0 {
                        demand -= 1;
                        out.push(next);
                        closed = true;
                    } else {
                        no_demand += 1;
                    }
                }
                1 => {
                    if closed {
                        windows.last().next(());
                        closed = false;
                    }
                }
                _ => {
                    h.request(n);
                    demand += n;
                }
            }
        }
        tp.complete();
        prop_assert_eq!(h.items(), out);
        prop_assert!(h.is_complete());
        let s = stats.snapshot();
        prop_assert_eq!(s.dropped_for(DropReason::Throttled), throttled);
        prop_assert_eq!(s.dropped_for(DropReason::NoDemand), no_demand);
        h.assert_no_protocol_violations();
        assert_balanced(&stats);
    }
}
