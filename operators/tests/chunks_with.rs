//! `chunks_with(boundary)`: batches closed by a boundary publisher's items. Both sides'
//! terminal signals, the size cap, a slow consumer (upstream paused, nothing lost),
//! cancel, a model proptest, and the ways users run it (tokio, block_on). Conformance
//! is in `conformance_every_operator.rs`.

use std::time::Duration;

use proptest::prelude::*;
use spillway::operators::{DropReason, FlowStats};
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::{TestPublisher, TestSubscriber, TestSubscriberHandle};

struct Rig {
    tp: TestPublisher<u32, String>,
    boundary: TestPublisher<(), String>,
    down: TestSubscriberHandle<Vec<u32>, String>,
    stats: FlowStats,
}

fn rig(max: Option<usize>, initial: u64) -> Rig {
    let tp = TestPublisher::new();
    let boundary = TestPublisher::new();
    let mut op = tp.publisher().chunks_with(boundary.publisher());
    if let Some(max) = max {
        op = op.max_size(max).unwrap();
    }
    let stats = op.stats();
    let (sub, down) = TestSubscriber::new(initial);
    op.subscribe(sub);
    Rig {
        tp,
        boundary,
        down,
        stats,
    }
}

fn assert_balanced(stats: &FlowStats) {
    let s = stats.snapshot();
    assert!(
        s.is_balanced(),
        "received = emitted + dropped + buffered: {s:?}"
    );
}

#[test]
fn each_boundary_item_closes_the_open_batch() {
    let r = rig(None, u64::MAX);
    assert_eq!(
        r.boundary.total_requested(),
        u64::MAX,
        "the boundary is asked unbounded"
    );
    r.tp.next(1).next(2);
    r.boundary.next(());
    r.boundary.next(()); // nothing new: nothing emitted
    r.tp.next(3);
    r.boundary.next(());
    r.down.assert_items(&[vec![1, 2], vec![3]]);
    r.tp.complete();
    r.down.assert_complete();
    assert!(
        r.boundary.is_cancelled(),
        "upstream's end cancels the boundary"
    );
    assert_balanced(&r.stats);
}

#[test]
fn the_boundarys_end_ends_the_stream() {
    let r = rig(None, u64::MAX);
    r.tp.next(1);
    r.boundary.complete();
    r.down.assert_items(&[vec![1]]);
    r.down.assert_complete();
    assert!(r.tp.is_cancelled());

    let r = rig(None, u64::MAX);
    r.tp.next(1);
    r.boundary.error("boundary".to_string());
    r.down.assert_items(&[]);
    r.down
        .assert_error_matches(|e| matches!(e, Error::User(m) if m == "boundary"));
    assert!(r.tp.is_cancelled());
    assert_eq!(r.stats.snapshot().dropped_for(DropReason::Discarded), 1);
    assert_balanced(&r.stats);
}

#[test]
fn upstreams_error_cancels_the_boundary() {
    let r = rig(None, u64::MAX);
    r.tp.next(1);
    r.boundary.next(());
    r.tp.next(2).error("boom".to_string());
    r.down.assert_items(&[vec![1]]);
    r.down
        .assert_error_matches(|e| matches!(e, Error::User(m) if m == "boom"));
    assert!(r.boundary.is_cancelled());
}

#[test]
fn cancel_stops_both_sides() {
    let r = rig(None, u64::MAX);
    r.tp.next(1);
    r.down.cancel();
    assert!(r.tp.is_cancelled() && r.boundary.is_cancelled());
    assert_eq!(r.stats.snapshot().dropped_for(DropReason::Discarded), 1);
}

#[test]
fn a_slow_consumer_pauses_upstream_and_loses_nothing() {
    let r = rig(Some(3), 0);
    let mut sent = 0u32;
    for _ in 0..20 {
        while r.tp.outstanding() > 0 {
            sent += 1;
            assert!(sent < 100_000, "upstream never paused");
            r.tp.next(sent);
        }
        r.boundary.next(());
    }
    assert!(r.tp.total_requested() <= 6, "two batches' worth at most");
    r.tp.complete();
    r.down.request(u64::MAX);
    let got: Vec<u32> = r.down.items().into_iter().flatten().collect();
    assert_eq!(got, (1..=sent).collect::<Vec<_>>());
    r.down.assert_complete();
    assert_balanced(&r.stats);
}

#[test]
fn request_zero_is_invalid() {
    let r = rig(None, 0);
    r.down.request(0);
    r.down
        .assert_error_matches(|e| matches!(e, Error::InvalidRequest { .. }));
    assert!(r.tp.is_cancelled() && r.boundary.is_cancelled());
}

/// As users run it: lines flushed whenever a 1 s interval ticks, awaited under tokio.
#[tokio::test(start_paused = true)]
async fn awaited_under_tokio_with_an_interval_boundary() {
    let items = interval(Duration::from_millis(300)).unwrap().take(10);
    let flush = interval(Duration::from_millis(1001)).unwrap();
    let batches = items.chunks_with(flush).collect().await.unwrap();
    // Items at 300 ms · (i + 1); flushes at 1.001 and 2.002 s; the last batch is flushed
    // at completion (3 s), before the third flush.
    assert_eq!(
        batches,
        vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8, 9]]
    );
}

#[test]
fn under_block_on_with_a_boundary_that_never_fires() {
    let batches = futures::executor::block_on(
        range(0, 10)
            .chunks_with(never::<(), _>())
            .max_size(4)
            .unwrap()
            .collect(),
    )
    .unwrap();
    assert_eq!(
        batches,
        vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// Items, boundary items and requests in random order against a model.
    #[test]
    fn matches_a_model(
        events in proptest::collection::vec((0u8..3, 1u64..4), 0..50),
        max in 1usize..4,
    ) {
        let r = rig(Some(max), 0);
        let (mut open, mut closed, mut sent, mut demand) = (Vec::new(), Vec::<Vec<u32>>::new(), 0u32, 0u64);
        for (kind, n) in events {
            match kind {
                0 if r.tp.outstanding() > 0 => {
                    sent += 1;
                    r.tp.next(sent);
                    open.push(sent);
                    if open.len() >= max {
                        closed.push(std::mem::take(&mut open));
                    }
                }
                1 => {
                    r.boundary.next(());
                    if !open.is_empty() {
                        closed.push(std::mem::take(&mut open));
                    }
                }
                2 => {
                    r.down.request(n);
                    demand += n;
                }
                _ => {}
            }
        }
        let expected: Vec<Vec<u32>> = closed.iter().take(demand as usize).cloned().collect();
        prop_assert_eq!(r.down.items(), expected);
        r.boundary.complete();
        r.down.request(u64::MAX);
        if !open.is_empty() {
            closed.push(open);
        }
        prop_assert_eq!(r.down.items(), closed);
        r.down.assert_complete();
        r.down.assert_no_protocol_violations();
        assert_balanced(&r.stats);
    }
}
