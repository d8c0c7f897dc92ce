//! `on_backpressure_reduce`: STYLE 3.6 checklist, conformance suite, reference-model
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

/// Subscribes a test subscriber requesting `initial` to `tp.on_backpressure_reduce(|a, b| a.wrapping_add(b))`.
fn setup(tp: &TestPublisher<u32, String>, initial: u64) -> (Handle<u32>, FlowStats, Dropped) {
    let dropped: Dropped = Arc::default();
    let log = dropped.clone();
    let op = tp
        .publisher()
        .on_backpressure_reduce(|a, b| a.wrapping_add(b))
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
    let s = stats.snapshot();
    assert_eq!((s.emitted, s.merged), (3, 0));
}

#[test]
fn backpressured_merges_instead_of_dropping() {
    let tp = TestPublisher::new();
    let (h, stats, dropped) = setup(&tp, 0);
    send(&tp, [1, 2, 3]);
    h.assert_items(&[]);
    h.request(1);
    h.assert_items(&[6]);
    assert!(dropped.lock().unwrap().is_empty());
    let s = stats.snapshot();
    assert_eq!((s.received, s.emitted, s.merged, s.dropped()), (3, 1, 2, 0));
    assert!(s.is_balanced());
    assert_eq!(tp.requests().len(), 1); // unbounded, once
}

#[test]
fn incremental_request() {
    let tp = TestPublisher::new();
    let (h, stats, _) = setup(&tp, 1);
    send(&tp, [1, 2, 3]);
    h.request(2);
    send(&tp, [4, 5, 6]);
    h.assert_items(&[1, 5, 4]);
    let s = stats.snapshot();
    assert_eq!((s.received, s.emitted, s.merged, s.buffered), (6, 3, 2, 1));
    assert!(s.is_balanced());
}

#[test]
fn completion_flushes_the_merged_item() {
    let tp = TestPublisher::new();
    let (h, _, _) = setup(&tp, 0);
    tp.next(1).next(2).complete();
    h.assert_not_terminated();
    h.request(1);
    h.assert_items(&[3]);
    h.assert_complete();
}

#[test]
fn cancel_mid_stream_reaches_upstream() {
    let tp = TestPublisher::new();
    let (h, stats, dropped) = setup(&tp, 1);
    tp.next(1).next(2).next(3);
    h.cancel();
    tp.assert_cancelled();
    assert_eq!(*dropped.lock().unwrap(), vec![(5, DropReason::Discarded)]);
    assert!(stats.snapshot().is_balanced());
}

#[test]
fn error_is_not_held_back() {
    let tp = TestPublisher::new();
    let (h, stats, _) = setup(&tp, 0);
    tp.next(1).error("boom".to_string());
    h.assert_error_matches(|e| *e == Error::User("boom".to_string()));
    assert!(stats.snapshot().is_balanced());
}

#[test]
fn reducer_panic_fails_with_panicked_and_cancels() {
    let tp = TestPublisher::<u32, String>::new();
    let op = tp
        .publisher()
        .on_backpressure_reduce(|_, _| panic!("merge"));
    let stats = op.stats();
    let (sub, h) = TestSubscriber::new(0);
    op.subscribe(sub);
    tp.next(1).next(2);
    h.assert_error_matches(|e| {
        matches!(
            e,
            Error::Panicked {
                stage: "on_backpressure_reduce",
                ..
            }
        )
    });
    tp.assert_cancelled();
    assert!(stats.snapshot().is_balanced());
}

#[test]
fn reduce_with_seed_changes_the_type() {
    let tp = TestPublisher::<u32, String>::new();
    let op = tp.publisher().on_backpressure_reduce_with(
        |x| vec![x],
        |mut acc: Vec<u32>, x| {
            acc.push(x);
            acc
        },
    );
    let (sub, h) = TestSubscriber::new(1);
    op.subscribe(sub);
    tp.emit([1, 2, 3]);
    h.request(1);
    h.assert_items(&[vec![1], vec![2, 3]]);
    h.assert_complete();
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
        tck::publisher_factory(|n| range(0, n).on_backpressure_reduce(|a, b| a + b)),
        silent(|up| up.on_backpressure_reduce(|a, b| a + b)),
    );
}

proptest! {
    #[test]
    fn matches_reference_model(initial in 0u64..3, ops in ops()) {
        let tp = TestPublisher::new();
        let (h, stats, dropped) = setup(&tp, initial);
        let (mut demand, mut pending, mut delivered, mut merged) = (initial, None::<u32>, Vec::new(), 0u64);
        for op in &ops {
            match *op {
                Op::Emit(x) => {
                    tp.next(x);
                    if demand > 0 { demand -= 1; delivered.push(x) }
                    else if let Some(p) = pending { pending = Some(p.wrapping_add(x)); merged += 1 }
                    else { pending = Some(x) }
                }
                Op::Request(n) => {
                    h.request(n);
                    demand += n;
                    if let Some(p) = pending.take() { demand -= 1; delivered.push(p) }
                }
            }
            let s = stats.snapshot();
            prop_assert!(s.is_balanced());
            prop_assert_eq!(s.merged, merged);
            prop_assert_eq!(s.dropped(), 0);
        }
        prop_assert_eq!(h.items(), delivered);
        prop_assert!(dropped.lock().unwrap().is_empty());
        h.assert_no_protocol_violations();
    }
}
