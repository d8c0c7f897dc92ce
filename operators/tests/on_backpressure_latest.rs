//! `on_backpressure_latest`: STYLE 3.6 checklist, conformance suite, reference-model
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

/// Subscribes a test subscriber requesting `initial` to `tp.on_backpressure_latest()`.
fn setup(tp: &TestPublisher<u32, String>, initial: u64) -> (Handle<u32>, FlowStats, Dropped) {
    let dropped: Dropped = Arc::default();
    let log = dropped.clone();
    let op = tp
        .publisher()
        .on_backpressure_latest()
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
fn backpressured_keeps_only_the_latest() {
    let tp = TestPublisher::new();
    let (h, stats, dropped) = setup(&tp, 0);
    send(&tp, [1, 2, 3]);
    h.assert_items(&[]);
    assert_eq!(stats.snapshot().buffered, 1);
    h.request(1);
    h.assert_items(&[3]);
    assert_eq!(
        *dropped.lock().unwrap(),
        vec![(1, DropReason::Superseded), (2, DropReason::Superseded)]
    );
    let s = stats.snapshot();
    assert_eq!((s.received, s.emitted, s.buffered), (3, 1, 0));
    assert!(s.is_balanced());
}

#[test]
fn incremental_request() {
    let tp = TestPublisher::new();
    let (h, stats, _) = setup(&tp, 1);
    send(&tp, [1, 2, 3]);
    h.request(2);
    send(&tp, [4, 5, 6]);
    h.assert_items(&[1, 3, 4]);
    let s = stats.snapshot();
    assert_eq!(
        (s.received, s.emitted, s.dropped(), s.buffered),
        (6, 3, 2, 1)
    );
    assert!(s.is_balanced());
}

#[test]
fn completion_flushes_the_latest_when_demanded() {
    let tp = TestPublisher::new();
    let (h, stats, _) = setup(&tp, 0);
    tp.next(1).next(2).complete();
    h.assert_not_terminated(); // waits for demand to deliver 2
    h.request(1);
    h.assert_items(&[2]);
    h.assert_complete();
    assert!(stats.snapshot().is_balanced());
}

#[test]
fn cancel_mid_stream_reaches_upstream_and_discards_the_latest() {
    let tp = TestPublisher::new();
    let (h, stats, dropped) = setup(&tp, 1);
    tp.next(1).next(2);
    h.cancel();
    tp.assert_cancelled();
    h.assert_items(&[1]);
    assert_eq!(*dropped.lock().unwrap(), vec![(2, DropReason::Discarded)]);
    assert!(stats.snapshot().is_balanced());
}

#[test]
fn error_is_not_held_back_by_the_latest() {
    let tp = TestPublisher::new();
    let (h, stats, dropped) = setup(&tp, 0);
    tp.next(1).error("boom".to_string());
    h.assert_error_matches(|e| *e == Error::User("boom".to_string()));
    assert_eq!(*dropped.lock().unwrap(), vec![(1, DropReason::Discarded)]);
    assert!(stats.snapshot().is_balanced());
}

#[test]
fn drop_callback_panic_fails_the_stage_and_returns_to_the_pushing_thread() {
    // Issue 11 §2: the panic used to unwind into `tp.next(2)`, and downstream never got a
    // terminal signal. Now the stage cancels upstream and fails with Panicked; the held
    // item (2) is discarded (counted, the callback is not called again).
    let tp = TestPublisher::<u32, String>::new();
    let op = tp
        .publisher()
        .on_backpressure_latest()
        .on_drop(|_, _| panic!("callback"));
    let stats = op.stats();
    let (sub, h) = TestSubscriber::new(0);
    op.subscribe(sub);
    tp.next(1);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tp.next(2);
    }));
    assert!(r.is_ok(), "the panic must not unwind into upstream");
    h.assert_items(&[]);
    h.assert_error_matches(|e| {
        matches!(e, Error::Panicked { stage: "on_backpressure_latest", message }
            if message == "callback")
    });
    tp.assert_cancelled();
    let s = stats.snapshot();
    assert_eq!(
        (
            s.received,
            s.dropped_for(DropReason::Superseded),
            s.dropped_for(DropReason::Discarded),
            s.buffered
        ),
        (2, 1, 1, 0)
    );
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
        tck::publisher_factory(|n| range(0, n).on_backpressure_latest()),
        silent(|up| up.on_backpressure_latest()),
    );
}

proptest! {
    #[test]
    fn matches_reference_model(initial in 0u64..3, ops in ops()) {
        let tp = TestPublisher::new();
        let (h, stats, dropped) = setup(&tp, initial);
        let (mut demand, mut pending, mut delivered, mut lost) = (initial, None, Vec::new(), Vec::new());
        for op in &ops {
            match *op {
                Op::Emit(x) => {
                    tp.next(x);
                    if demand > 0 { demand -= 1; delivered.push(x) }
                    else if let Some(old) = pending.replace(x) { lost.push(old) }
                }
                Op::Request(n) => {
                    h.request(n);
                    demand += n;
                    if let Some(p) = pending.take() { demand -= 1; delivered.push(p) }
                }
            }
            prop_assert!(stats.snapshot().is_balanced());
        }
        tp.complete();
        prop_assert_eq!(h.items(), delivered);
        let got: Vec<u32> = dropped.lock().unwrap().iter().map(|d| d.0).collect();
        prop_assert_eq!(got, lost);
        prop_assert_eq!(h.is_complete(), pending.is_none());
        h.request(1);
        prop_assert!(h.is_complete());
        h.assert_no_protocol_violations();
    }
}
