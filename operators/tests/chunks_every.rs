//! `chunks_every(d)` (and `.max_size(n)`): batches on a fixed clock. Virtual time:
//! the clock's ticks, empty ticks, the size cap, a slow consumer (upstream paused,
//! nothing lost), cancel and error halfway, a non-compliant upstream, a model proptest,
//! and the ways users run it (tokio, block_on). Conformance is in
//! `conformance_every_operator.rs`.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use spillway::operators::{DropReason, FlowStats};
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::{
    TestPublisher, TestSubscriber, TestSubscriberHandle, Violation, VirtualScheduler,
};

const D: Duration = Duration::from_secs(1);

struct Rig {
    vs: Arc<VirtualScheduler>,
    tp: TestPublisher<u32, String>,
    down: TestSubscriberHandle<Vec<u32>, String>,
    stats: FlowStats,
}

fn rig_with(tp: TestPublisher<u32, String>, max: Option<usize>, initial: u64) -> Rig {
    let vs = VirtualScheduler::new();
    let tp = tp.with_scheduler(vs.clone());
    let mut op = tp.publisher().chunks_every(D).unwrap();
    if let Some(max) = max {
        op = op.max_size(max).unwrap();
    }
    let stats = op.stats();
    let (sub, down) = TestSubscriber::with_scheduler(initial, vs.clone());
    op.subscribe(sub);
    Rig {
        vs,
        tp,
        down,
        stats,
    }
}

fn rig(max: Option<usize>, initial: u64) -> Rig {
    rig_with(TestPublisher::new(), max, initial)
}

fn assert_balanced(stats: &FlowStats) {
    let s = stats.snapshot();
    assert!(
        s.is_balanced(),
        "received = emitted + dropped + buffered: {s:?}"
    );
}

#[test]
fn config_errors() {
    assert_eq!(
        range(0, 1)
            .chunks_every(Duration::ZERO)
            .unwrap_err()
            .stage(),
        "chunks_every"
    );
    let err = range(0, 1)
        .chunks_every(D)
        .unwrap()
        .max_size(0)
        .unwrap_err();
    assert_eq!(err.stage(), "chunks_every");
}

#[test]
fn each_tick_closes_what_arrived_and_an_empty_tick_emits_nothing() {
    let r = rig(None, u64::MAX);
    r.tp.next(1).next(2);
    r.vs.advance_by(D / 2);
    r.down.assert_items(&[]);
    r.tp.next(3);
    r.vs.advance_by(D / 2); // the first tick, one period after the subscription
    r.down.assert_items(&[vec![1, 2, 3]]);
    r.vs.advance_by(D * 3); // empty ticks
    r.down.assert_items(&[vec![1, 2, 3]]);
    r.tp.next(4).complete(); // the open batch is flushed
    r.down.assert_items(&[vec![1, 2, 3], vec![4]]);
    r.down.assert_complete();
    assert_eq!(r.vs.pending(), 0, "the clock is stopped at completion");
    assert_balanced(&r.stats);
}

#[test]
fn max_size_closes_early_without_moving_the_clock() {
    let r = rig(Some(2), u64::MAX);
    r.tp.next(1).next(2).next(3);
    r.down.assert_items(&[vec![1, 2]]);
    r.vs.advance_by(D);
    r.down.assert_items(&[vec![1, 2], vec![3]]);
    r.tp.next(4);
    r.vs.advance_by(D);
    r.down.assert_items(&[vec![1, 2], vec![3], vec![4]]);
    assert_balanced(&r.stats);
}

/// A consumer that asks for nothing, under an upstream that sends whatever it is asked:
/// batches close (by size or on the clock) and are kept, upstream is asked for no more
/// than two batches' worth, and every item is delivered once the consumer asks.
#[test]
fn a_slow_consumer_pauses_upstream_and_loses_nothing() {
    for max in [None, Some(3)] {
        let r = rig(max, 0);
        let mut sent = 0u32;
        for _ in 0..20 {
            while r.tp.outstanding() > 0 {
                sent += 1;
                assert!(sent < 1_000_000, "{max:?}: upstream never paused");
                r.tp.next(sent);
            }
            r.vs.advance_by(D);
        }
        let requested = r.tp.total_requested();
        let bound = 2 * max.unwrap_or(spillway::operators::DEFAULT_MAX_SIZE) as u64;
        assert!(
            requested <= bound,
            "{max:?}: upstream paused, asked {requested}"
        );
        r.tp.complete();
        r.down.request(u64::MAX);
        let got: Vec<u32> = r.down.items().into_iter().flatten().collect();
        assert_eq!(
            got,
            (1..=sent).collect::<Vec<_>>(),
            "{max:?}: every item, in order"
        );
        r.down.assert_complete();
        assert_balanced(&r.stats);
    }
}

#[test]
fn cancel_stops_upstream_and_the_clock() {
    let r = rig(None, u64::MAX);
    r.tp.next(1);
    r.down.cancel();
    assert!(r.tp.is_cancelled());
    assert_eq!(r.vs.pending(), 0);
    assert_eq!(r.stats.snapshot().dropped_for(DropReason::Discarded), 1);
}

#[test]
fn an_error_halfway_delivers_closed_batches_and_drops_the_open_one() {
    let r = rig(None, 1);
    r.tp.next(1);
    r.vs.advance_by(D);
    r.tp.next(2).error("boom".to_string());
    r.down.assert_items(&[vec![1]]);
    r.down
        .assert_error_matches(|e| matches!(e, Error::User(m) if m == "boom"));
    assert_eq!(r.stats.snapshot().dropped_for(DropReason::Discarded), 1);
    assert_eq!(r.vs.pending(), 0);
}

#[test]
fn request_zero_is_invalid() {
    let r = rig(None, 0);
    r.down.request(0);
    r.down
        .assert_error_matches(|e| matches!(e, Error::InvalidRequest { .. }));
    assert!(r.tp.is_cancelled());
}

#[test]
fn non_compliant_upstream_is_a_protocol_violation() {
    let r = rig_with(
        TestPublisher::non_compliant(&[Violation::EmitWithoutDemand]),
        Some(1),
        0,
    );
    // Demand 0, max 1: one batch of prefetch (1 item) requested.
    r.tp.next(1).next(2);
    r.down.assert_error_matches(|e| {
        matches!(
            e,
            Error::ProtocolViolation {
                stage: "chunks_every",
                ..
            }
        )
    });
    assert!(r.tp.is_cancelled());
}

/// As users run it: a fast interval batched per second, awaited under tokio.
#[tokio::test(start_paused = true)]
async fn awaited_under_tokio() {
    let items = interval(Duration::from_millis(300)).unwrap().take(10); // 0..10, 300 ms apart
    let batches = items.chunks_every(D).unwrap().collect().await.unwrap();
    // Ticks at 1, 2, 3 s: items at 300·(i+1) ms; the last (3 s) flushed at completion.
    assert_eq!(
        batches,
        vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8], vec![9]]
    );
}

#[test]
fn under_block_on_a_synchronous_source_is_flushed_at_completion() {
    let batches = futures::executor::block_on(
        range(0, 1000)
            .chunks_every(Duration::from_secs(3600))
            .unwrap()
            .collect(),
    )
    .unwrap();
    let flat: Vec<u64> = batches.into_iter().flatten().collect();
    assert_eq!(flat, (0..1000).collect::<Vec<_>>());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// Items, ticks and requests in random order against a model: a tick closes a
    /// non-empty open batch; with a maximum, so does the size; batches go out only
    /// against demand; completion flushes.
    #[test]
    fn matches_a_model(
        events in proptest::collection::vec((0u8..3, 1u64..4), 0..50),
        max in proptest::option::of(1usize..4),
    ) {
        let r = rig(max, 0);
        let (mut open, mut closed, mut sent) = (Vec::new(), Vec::<Vec<u32>>::new(), 0u32);
        let mut demand = 0u64;
        for (kind, n) in events {
            match kind {
                0 if r.tp.outstanding() > 0 => {
                    sent += 1;
                    r.tp.next(sent);
                    open.push(sent);
                    if open.len() >= max.unwrap_or(spillway::operators::DEFAULT_MAX_SIZE) {
                        closed.push(std::mem::take(&mut open));
                    }
                }
                1 => {
                    r.vs.advance_by(D);
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
        r.tp.complete();
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
