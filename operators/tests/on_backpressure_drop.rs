//! `on_backpressure_drop`: STYLE 3.6 checklist, conformance suite, reference-model
//! proptest, non-compliant upstream, stats invariant.

use std::sync::{Arc, Mutex};

mod backpressure_kit;

use backpressure_kit::*;
use proptest::prelude::*;
use spillway::operators::DropReason;
use spillway::operators::FlowStats;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck;
use spillway_testkit::{TestPublisher, TestSubscriber};

type Dropped = Arc<Mutex<Vec<(u32, DropReason)>>>;

/// Subscribes a test subscriber requesting `initial` to `tp.on_backpressure_drop()`.
fn setup(tp: &TestPublisher<u32, String>, initial: u64) -> (Handle<u32>, FlowStats, Dropped) {
    let dropped: Dropped = Arc::default();
    let log = dropped.clone();
    let op = tp
        .publisher()
        .on_backpressure_drop()
        .on_drop(move |x, r| log.lock().unwrap().push((x, r)));
    let stats = op.stats();
    let (sub, handle) = TestSubscriber::new(initial);
    op.subscribe(sub);
    (handle, stats, dropped)
}

#[test]
fn normal() {
    let tp = TestPublisher::new();
    let (h, stats, dropped) = setup(&tp, u64::MAX);
    tp.emit([1, 2, 3]);
    h.assert_items(&[1, 2, 3]);
    h.assert_complete();
    assert!(dropped.lock().unwrap().is_empty());
    assert_eq!(stats.snapshot().emitted, 3);
}

#[test]
fn requests_unbounded_upstream_once() {
    let tp = TestPublisher::<u32, String>::new();
    let (h, _, _) = setup(&tp, 0);
    h.request(3);
    h.request(5);
    let asked: Vec<u64> = tp.requests().iter().map(|r| r.1).collect();
    assert_eq!(asked, vec![u64::MAX]);
}

#[test]
fn backpressured_drops_everything_until_requested() {
    let tp = TestPublisher::new();
    let (h, stats, dropped) = setup(&tp, 0);
    send(&tp, [1, 2]);
    h.assert_items(&[]);
    h.request(1);
    tp.next(3);
    h.assert_items(&[3]);
    assert_eq!(
        *dropped.lock().unwrap(),
        vec![(1, DropReason::NoDemand), (2, DropReason::NoDemand)]
    );
    assert_eq!(stats.snapshot().dropped_for(DropReason::NoDemand), 2);
}

#[test]
fn incremental_request() {
    let tp = TestPublisher::new();
    let (h, stats, _) = setup(&tp, 1);
    send(&tp, [1, 2]);
    h.request(2);
    send(&tp, [3, 4, 5]);
    h.assert_items(&[1, 3, 4]);
    let s = stats.snapshot();
    assert_eq!((s.received, s.emitted, s.dropped()), (5, 3, 2));
    assert!(s.is_balanced());
}

#[test]
fn cancel_mid_stream_reaches_upstream() {
    let tp = TestPublisher::new();
    let (h, _, _) = setup(&tp, 5);
    tp.next(1);
    h.cancel();
    tp.assert_cancelled();
    tp.next(2); // ignored by the compliant publisher after cancel
    h.assert_items(&[1]);
}

#[test]
fn error_propagates_at_once() {
    let tp = TestPublisher::new();
    let (h, _, _) = setup(&tp, 0);
    tp.next(1).error("boom".to_string());
    h.assert_error_matches(|e| *e == Error::User("boom".to_string()));
}

#[test]
fn completion_is_not_delayed_by_missing_demand() {
    let tp = TestPublisher::new();
    let (h, stats, _) = setup(&tp, 0);
    tp.next(1).complete();
    h.assert_complete(); // nothing held: nothing to flush
    assert_eq!(stats.snapshot().buffered, 0);
}

#[test]
fn drop_callback_panic_fails_the_stage_and_returns_to_the_pushing_thread() {
    // on_drop is user code run on the upstream thread: its panic fails the stage
    // (issue 11 §2; it used to unwind into the caller that pushed the item).
    let tp = TestPublisher::<u32, String>::new();
    let op = tp
        .publisher()
        .on_backpressure_drop()
        .on_drop(|_, _| panic!("callback"));
    let stats = op.stats();
    let (sub, h) = TestSubscriber::new(0);
    op.subscribe(sub);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tp.next(1);
    }));
    assert!(r.is_ok(), "the panic must not unwind into upstream");
    h.assert_items(&[]);
    h.assert_error_matches(|e| {
        matches!(e, Error::Panicked { stage: "on_backpressure_drop", message }
            if message == "callback")
    });
    tp.assert_cancelled();
    let s = stats.snapshot();
    assert_eq!((s.received, s.dropped(), s.buffered), (1, 1, 0));
    assert!(s.is_balanced(), "{s:?}");
}

fn setup2(tp: &TestPublisher<u32, String>, initial: u64) -> (Handle<u32>, FlowStats) {
    let (h, stats, _) = setup(tp, initial);
    (h, stats)
}

#[test]
fn late_signals_after_terminal_are_discarded() {
    check_late_signals_discarded(setup2);
}

#[test]
fn non_compliant_upstream_ignoring_cancel() {
    check_ignored_cancel_discarded(setup2);
}

#[test]
fn request_zero_is_invalid() {
    check_request_zero(setup2);
}

#[test]
fn conformance_suite() {
    check_lossy_conformance(
        tck::publisher_factory(|n| range(0, n).on_backpressure_drop()),
        silent(|up| up.on_backpressure_drop()),
    );
}

proptest! {
    #[test]
    fn matches_reference_model(initial in 0u64..3, ops in ops()) {
        let tp = TestPublisher::new();
        let (h, stats, dropped) = setup(&tp, initial);
        let (mut demand, mut delivered, mut lost) = (initial, Vec::new(), Vec::new());
        for op in &ops {
            match *op {
                Op::Emit(x) => {
                    tp.next(x);
                    if demand > 0 { demand -= 1; delivered.push(x) } else { lost.push(x) }
                }
                Op::Request(n) => { h.request(n); demand += n; }
            }
            prop_assert!(stats.snapshot().is_balanced());
        }
        tp.complete();
        prop_assert_eq!(h.items(), delivered);
        let got: Vec<u32> = dropped.lock().unwrap().iter().map(|d| d.0).collect();
        prop_assert_eq!(got, lost);
        prop_assert!(h.is_complete());
        h.assert_no_protocol_violations();
    }
}
