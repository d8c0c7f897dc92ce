//! `chunks(n)`: the STYLE 3.6 checklist, the conformance suite, a reference-model
//! proptest, a non-compliant upstream and the stats invariant.

use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use spillway::operators::{DropReason, FlowStats};
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::{self, Either, TckConfig};
use spillway_testkit::{TestPublisher, TestSubscriber, TestSubscriberHandle, Violation};

type Dropped = Arc<Mutex<Vec<(u32, DropReason)>>>;

struct Rig {
    tp: TestPublisher<u32, String>,
    down: TestSubscriberHandle<Vec<u32>, String>,
    stats: FlowStats,
    dropped: Dropped,
}

fn rig_with(tp: TestPublisher<u32, String>, size: usize, initial: u64) -> Rig {
    let dropped: Dropped = Arc::default();
    let d = dropped.clone();
    let op = tp
        .publisher()
        .chunks(size)
        .unwrap()
        .on_drop(move |item, reason| d.lock().unwrap().push((item, reason)));
    let stats = op.stats();
    let (sub, down) = TestSubscriber::new(initial);
    op.subscribe(sub);
    Rig {
        tp,
        down,
        stats,
        dropped,
    }
}

fn rig(size: usize, initial: u64) -> Rig {
    rig_with(TestPublisher::new(), size, initial)
}

fn assert_balanced(stats: &FlowStats) {
    let s = stats.snapshot();
    assert!(s.is_balanced(), "stats not balanced: {s}");
}

#[test]
fn config_zero_size_is_rejected() {
    let err = range(0, 3).chunks(0).unwrap_err();
    assert_eq!(err.stage(), "chunks");
}

#[test]
fn conformance() {
    let factory = tck::publisher_factory(|n: u64| range(0, n.saturating_mul(3)).chunks(3).unwrap())
        .max_elements(100_000);
    tck::verify_publisher_with(
        factory,
        TckConfig::synchronous().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

#[test]
fn conformance_failed_publisher() {
    let factory = tck::publisher_factory(|n: u64| {
        let mut i = 0u64;
        Either::Left(
            try_generate((), move |_| {
                i += 1;
                Ok::<_, String>((i <= n.saturating_mul(2)).then_some(i))
            })
            .chunks(2)
            .unwrap(),
        )
    })
    .max_elements(100_000)
    .failed(|| Either::Right(error::<u64, String>("boom".to_string()).chunks(2).unwrap()));
    tck::verify_publisher_with(
        factory,
        TckConfig::synchronous().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

#[test]
fn normal() {
    let (sub, down) = TestSubscriber::<Vec<u64>, _>::new(u64::MAX);
    range(1, 8).chunks(3).unwrap().subscribe(sub);
    down.assert_items(&[vec![1, 2, 3], vec![4, 5, 6], vec![7]]);
    down.assert_complete();
    down.assert_no_protocol_violations();
}

#[test]
fn backpressured_starts_at_zero_and_multiplies_requests() {
    let r = rig(3, 0);
    assert_eq!(
        r.tp.total_requested(),
        0,
        "nothing requested without demand"
    );
    r.down.request(1);
    assert_eq!(r.tp.total_requested(), 3, "one batch = 3 items");
    r.tp.next(1).next(2);
    r.down.assert_items(&[]);
    assert_eq!(r.stats.snapshot().buffered, 2);
    r.tp.next(3);
    r.down.assert_items(&[vec![1, 2, 3]]);
    assert_eq!(r.tp.outstanding(), 0, "no prefetch beyond demand");
    assert_balanced(&r.stats);
}

#[test]
fn incremental_request() {
    let r = rig(2, 0);
    r.down.request(2);
    assert_eq!(r.tp.total_requested(), 4);
    r.tp.next(1).next(2).next(3);
    r.down.assert_items(&[vec![1, 2]]);
    r.down.request(1);
    assert_eq!(r.tp.total_requested(), 6);
    r.tp.next(4).next(5).next(6);
    r.down.assert_items(&[vec![1, 2], vec![3, 4], vec![5, 6]]);
    r.down.assert_no_protocol_violations();
}

#[test]
fn unbounded_demand_is_requested_in_bounded_steps() {
    let r = rig(4, 0);
    r.down.request(u64::MAX);
    // Never unbounded: two batches' worth, at least 256, recomputed as items arrive.
    assert_eq!(r.tp.total_requested(), 256);
    for i in 0..8 {
        r.tp.next(i);
    }
    r.down.assert_item_count(2);
    assert_eq!(
        r.tp.total_requested(),
        256 + 8,
        "topped up as batches went out"
    );
    // A huge finite request is bounded the same way.
    let r2 = rig(4, u64::MAX / 2);
    assert_eq!(r2.tp.total_requested(), 256);
}

#[test]
fn cancel_mid_stream_reaches_upstream_and_discards_partial() {
    let r = rig(3, 5);
    r.tp.next(1).next(2).next(3).next(4);
    r.down.cancel();
    r.tp.assert_cancelled();
    r.down.assert_items(&[vec![1, 2, 3]]);
    assert_eq!(*r.dropped.lock().unwrap(), vec![(4, DropReason::Discarded)]);
    let s = r.stats.snapshot();
    assert_eq!(
        (s.received, s.emitted, s.dropped(), s.buffered),
        (4, 3, 1, 0)
    );
}

#[test]
fn error_propagates_and_drops_partial_batch() {
    let r = rig(3, 5);
    r.tp.next(1).next(2).next(3).next(4);
    r.tp.error("boom".to_string());
    r.down.assert_items(&[vec![1, 2, 3]]);
    r.down
        .assert_error_matches(|e| *e == Error::User("boom".to_string()));
    assert_eq!(*r.dropped.lock().unwrap(), vec![(4, DropReason::Discarded)]);
    assert_eq!(r.stats.snapshot().dropped_for(DropReason::Discarded), 1);
    assert_balanced(&r.stats);
}

#[test]
fn complete_flushes_partial() {
    let r = rig(3, 1);
    r.tp.next(1).next(2).complete();
    r.down.assert_items(&[vec![1, 2]]);
    r.down.assert_complete();
    assert!(r.dropped.lock().unwrap().is_empty());
    // Completion with an empty open batch adds no empty batch.
    let r = rig(2, 5);
    r.tp.next(1).next(2).complete();
    r.down.assert_items(&[vec![1, 2]]);
    r.down.assert_complete();
}

#[test]
fn callback_panics_downstream_cancel_upstream() {
    // `chunks` runs no user closure per item (see `chunks_weighted` for a panicking
    // `weigh`); a subscriber that panics in `on_next` (breaking rule 2.13) is cancelled
    // by the drain loop, and the cancel must reach upstream.
    let tp = TestPublisher::<u32, String>::new();
    let op = tp.publisher().chunks(1).unwrap();
    let sub = PanicOnNext::default();
    op.subscribe(sub);
    tp.assert_not_cancelled();
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tp.next(1);
    }));
    tp.assert_cancelled();
}

/// Keeps its subscription (the drain loop lives as long as someone holds it).
#[derive(Default)]
struct PanicOnNext(Option<spillway::SharedSubscription>);
impl Subscriber for PanicOnNext {
    type Item = Vec<u32>;
    type Error = String;
    fn on_subscribe(&mut self, s: spillway::SharedSubscription) {
        s.request(1);
        self.0 = Some(s);
    }
    fn on_next(&mut self, _: Vec<u32>) {
        panic!("subscriber blew up");
    }
    fn on_error(&mut self, _: Error<String>) {}
    fn on_complete(&mut self) {}
}

#[test]
fn late_signals_after_terminal_are_dropped() {
    let tp =
        TestPublisher::non_compliant(&[Violation::EmitAfterTerminate, Violation::TerminateTwice]);
    let r = rig_with(tp, 2, 10);
    r.tp.next(1).complete();
    r.tp.next(2).error("late".to_string()).complete();
    r.down.assert_items(&[vec![1]]);
    r.down.assert_complete();
    r.down.assert_no_protocol_violations();
    assert_eq!(*r.dropped.lock().unwrap(), vec![(2, DropReason::Discarded)]);
    assert_balanced(&r.stats);
}

#[test]
fn request_zero_fails_with_invalid_request() {
    let r = rig(2, 0);
    r.down.request(0);
    r.down
        .assert_error_matches(|e| matches!(e, Error::InvalidRequest { stage: "chunks" }));
    r.tp.assert_cancelled();
}

#[test]
fn non_compliant_upstream_is_a_protocol_violation() {
    let tp = TestPublisher::non_compliant(&[Violation::EmitWithoutDemand]);
    let r = rig_with(tp, 2, 1);
    r.tp.next(1).next(2); // requested
    r.tp.next(3); // never requested
    r.down.assert_items(&[vec![1, 2]]);
    r.down.assert_error_matches(|e| {
        matches!(
            e,
            Error::ProtocolViolation {
                stage: "chunks",
                ..
            }
        )
    });
    r.tp.assert_cancelled();
    r.down.assert_no_protocol_violations();
    assert_eq!(*r.dropped.lock().unwrap(), vec![(3, DropReason::Discarded)]);
    assert_balanced(&r.stats);
}

#[test]
fn stats_invariant_holds_in_items_throughout() {
    let r = rig(3, 0);
    for i in 0..10u32 {
        if r.tp.outstanding() == 0 {
            r.down.request(1);
        }
        r.tp.next(i);
        assert_balanced(&r.stats);
    }
    let s = r.stats.snapshot();
    assert_eq!((s.received, s.emitted, s.buffered), (10, 9, 1));
    r.down.cancel();
    assert_balanced(&r.stats);
}

#[derive(Debug, Clone)]
enum Op {
    Request(u64),
    Emit(u8),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![(1u64..4).prop_map(Op::Request), (1u8..6).prop_map(Op::Emit)],
        0..40,
    )
}

proptest! {
    /// Against the model "chunks of n of the items, in order": whatever the request
    /// schedule, downstream gets a prefix of the model, never more batches than it asked
    /// for, and upstream is never asked for more than batches * n.
    #[test]
    fn matches_reference_model(size in 1usize..5, schedule in ops(), final_error in any::<bool>()) {
        let r = rig(size, 0);
        let mut sent: Vec<u32> = Vec::new();
        let mut requested = 0u64;
        for op in schedule {
            match op {
                Op::Request(k) => { requested += k; r.down.request(k); }
                Op::Emit(k) => for _ in 0..k {
                    if r.tp.outstanding() == 0 { break; }
                    let v = sent.len() as u32;
                    r.tp.next(v);
                    sent.push(v);
                }
            }
            let got = r.down.items();
            prop_assert!(got.len() as u64 <= requested);
            prop_assert!(r.tp.total_requested() <= requested * size as u64);
            let model: Vec<Vec<u32>> = sent.chunks(size).filter(|c| c.len() == size).map(<[u32]>::to_vec).collect();
            prop_assert_eq!(&got, &model);
            prop_assert!(r.stats.snapshot().is_balanced());
        }
        if final_error {
            r.tp.error("e".to_string());
            let model: Vec<Vec<u32>> = sent.chunks(size).filter(|c| c.len() == size).map(<[u32]>::to_vec).collect();
            prop_assert_eq!(r.down.items(), model);
            prop_assert_eq!(r.stats.snapshot().dropped() as usize, sent.len() % size);
        } else {
            r.tp.complete();
            r.down.request(u64::MAX);
            let model: Vec<Vec<u32>> = sent.chunks(size).map(<[u32]>::to_vec).collect();
            prop_assert_eq!(r.down.items(), model);
            prop_assert!(r.down.is_complete());
            prop_assert_eq!(r.stats.snapshot().dropped(), 0);
        }
        prop_assert!(r.stats.snapshot().is_balanced());
        prop_assert!(r.down.violations().is_empty());
    }
}
