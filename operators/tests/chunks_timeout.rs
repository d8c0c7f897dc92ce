//! `chunks_timeout(n, d)`: the STYLE 3.6 checklist on virtual time, the conformance
//! suite, the slow-consumer test (no overflow, nothing lost), a reference-model proptest
//! under random requests and timings, a non-compliant upstream and the stats invariant.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use spillway::operators::{DropReason, FlowStats};
use spillway::prelude::*;
use spillway::{Error, Scheduler};
use spillway_testkit::tck::{self, TckConfig};
use spillway_testkit::{
    PublisherProbe, TestPublisher, TestSubscriber, TestSubscriberHandle, Violation,
    VirtualScheduler,
};

type Dropped = Arc<Mutex<Vec<(u32, DropReason)>>>;
const D: Duration = Duration::from_secs(1);

struct Rig {
    vs: Arc<VirtualScheduler>,
    tp: TestPublisher<u32, String>,
    down: TestSubscriberHandle<Vec<u32>, String>,
    stats: FlowStats,
    dropped: Dropped,
}

fn rig_with(tp: TestPublisher<u32, String>, size: usize, initial: u64) -> Rig {
    let vs = VirtualScheduler::new();
    let tp = tp.with_scheduler(vs.clone());
    let dropped: Dropped = Arc::default();
    let d = dropped.clone();
    let op = tp
        .publisher()
        .chunks_timeout(size, D)
        .unwrap()
        .on_drop(move |item, reason| d.lock().unwrap().push((item, reason)));
    let stats = op.stats();
    let (sub, down) = TestSubscriber::with_scheduler(initial, vs.clone());
    op.subscribe(sub);
    Rig {
        vs,
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
fn config_errors() {
    assert_eq!(
        range(0, 1).chunks_timeout(0, D).unwrap_err().stage(),
        "chunks_timeout"
    );
    assert!(range(0, 1).chunks_timeout(2, Duration::ZERO).is_err());
}

#[test]
fn conformance() {
    // Full batches close by size; the (real-time) timers of a batch are cancelled when it
    // closes, so they never fire during the suite.
    let factory = tck::publisher_factory(|n: u64| {
        range(0, n.saturating_mul(3))
            .chunks_timeout(3, Duration::from_secs(3600))
            .unwrap()
    })
    .max_elements(100_000);
    tck::verify_publisher_with(
        factory,
        TckConfig::synchronous().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

/// The virtual-time scenario: size closes the first batch, the timer closes the others.
fn scenario_size_then_timer(r: &Rig) {
    r.tp.next(1).next(2); // t=0: full
    r.vs.advance_by(Duration::from_millis(300));
    r.tp.next(3); // t=0.3: timer due at 1.3
    r.vs.advance_by(Duration::from_millis(999));
    r.down.assert_items(&[vec![1, 2]]);
    r.vs.advance_by(Duration::from_millis(1));
    r.down.assert_items(&[vec![1, 2], vec![3]]);
    r.tp.next(4); // t=1.3: a new batch, a new timer
    r.vs.advance_by(D);
    r.tp.complete();
}

#[test]
fn normal_virtual_time() {
    let r = rig(2, u64::MAX);
    scenario_size_then_timer(&r);
    r.down.assert_items(&[vec![1, 2], vec![3], vec![4]]);
    r.down.assert_complete();
    let times: Vec<Duration> = r
        .down
        .events()
        .iter()
        .filter(|e| e.signal.as_next().is_some())
        .map(|e| e.at)
        .collect();
    assert_eq!(
        times,
        vec![
            Duration::ZERO,
            Duration::from_millis(1300),
            Duration::from_millis(2300)
        ]
    );
    assert_eq!(r.vs.pending(), 0, "no timer left behind");
    r.down.assert_no_protocol_violations();
}

#[test]
fn backpressured_holds_closed_batches_and_pauses_upstream() {
    let r = rig(3, 0);
    // Only one batch of prefetch without demand.
    assert_eq!(r.tp.total_requested(), 3);
    r.tp.next(1);
    r.vs.advance_by(D); // the timer closes [1], no demand: held
    r.down.assert_items(&[]);
    assert_eq!(r.stats.snapshot().buffered, 1);
    assert_eq!(r.tp.total_requested(), 3, "upstream paused");
    r.down.request(1);
    r.down.assert_items(&[vec![1]]);
    // Demand 0 again: the prefetch refills to one batch.
    assert_eq!(r.tp.total_requested(), 4);
    assert_balanced(&r.stats);
}

#[test]
fn incremental_request() {
    let r = rig(2, 0);
    r.down.request(2);
    assert_eq!(r.tp.total_requested(), 6, "(2 + 1) batches of 2");
    r.tp.next(1).next(2).next(3);
    r.down.assert_items(&[vec![1, 2]]);
    r.down.request(1);
    r.tp.next(4).next(5).next(6);
    r.down.assert_items(&[vec![1, 2], vec![3, 4], vec![5, 6]]);
    r.down.assert_no_protocol_violations();
}

#[test]
fn unbounded() {
    let r = rig(2, u64::MAX);
    assert_eq!(r.tp.total_requested(), 256, "bounded, never unbounded");
    r.tp.next(1).next(2).next(3);
    r.vs.advance_by(D);
    r.down.assert_items(&[vec![1, 2], vec![3]]);
}

#[test]
fn cancel_mid_stream_reaches_upstream_and_cancels_timer() {
    let r = rig(3, 5);
    r.tp.next(1).next(2).next(3).next(4);
    assert_eq!(r.vs.pending(), 1);
    r.down.cancel();
    r.tp.assert_cancelled();
    assert_eq!(r.vs.pending(), 0, "the batch timer is cancelled");
    r.vs.advance_by(D * 5);
    r.down.assert_items(&[vec![1, 2, 3]]);
    assert_eq!(*r.dropped.lock().unwrap(), vec![(4, DropReason::Discarded)]);
    assert_balanced(&r.stats);
}

#[test]
fn error_propagates_after_closed_batches_and_drops_open_batch() {
    let r = rig(2, 1);
    r.tp.next(1).next(2).next(3); // [1,2] sent, [3] open
    r.vs.advance_by(D); // [3] closed by the timer: held, no demand
    r.tp.next(4); // [4] open
    r.tp.error("boom".to_string());
    r.down.assert_items(&[vec![1, 2]]);
    r.down.assert_not_terminated();
    r.down.request(1);
    r.down.assert_items(&[vec![1, 2], vec![3]]);
    r.down
        .assert_error_matches(|e| *e == Error::User("boom".to_string()));
    assert_eq!(*r.dropped.lock().unwrap(), vec![(4, DropReason::Discarded)]);
    assert_eq!(r.vs.pending(), 0);
    assert_balanced(&r.stats);
}

#[test]
fn complete_flushes_partial_when_demand_allows() {
    let r = rig(3, 0);
    r.tp.next(1).next(2).complete();
    r.down.assert_items(&[]);
    r.down.assert_not_terminated();
    r.down.request(1);
    r.down.assert_items(&[vec![1, 2]]);
    r.down.assert_complete();
    assert_eq!(r.vs.pending(), 0);
}

#[test]
fn callback_panics_downstream_cancel_upstream_and_timer() {
    // No per-item user closure here; a subscriber panicking in on_next (rule 2.13) is
    // cancelled by the drain loop: upstream and the timer must be cancelled too.
    let vs = VirtualScheduler::new();
    let tp = TestPublisher::<u32, String>::new();
    let op = tp.publisher().chunks_timeout(2, D).unwrap().on(vs.clone());
    op.subscribe(PanicOnNext::default());
    tp.next(1);
    assert_eq!(vs.pending(), 1);
    tp.assert_not_cancelled();
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        vs.advance_by(D);
    }));
    tp.assert_cancelled();
    assert_eq!(vs.pending(), 0);
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
    r.tp.next(2).error("late".to_string());
    r.vs.advance_by(D * 3);
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
    r.down.assert_error_matches(|e| {
        matches!(
            e,
            Error::InvalidRequest {
                stage: "chunks_timeout"
            }
        )
    });
    r.tp.assert_cancelled();
}

#[test]
fn non_compliant_upstream_is_a_protocol_violation() {
    let tp = TestPublisher::non_compliant(&[Violation::EmitWithoutDemand]);
    let r = rig_with(tp, 2, 0);
    r.tp.next(1).next(2); // the prefetched batch: held, no demand
    r.tp.next(3); // never requested
    r.down
        .assert_error_matches(|e| matches!(e, Error::ProtocolViolation { .. }));
    r.tp.assert_cancelled();
    r.down.assert_items(&[]);
    let dropped: Vec<u32> = r.dropped.lock().unwrap().iter().map(|d| d.0).collect();
    assert_eq!(dropped, vec![1, 2, 3]);
    assert_balanced(&r.stats);
}

#[test]
fn scheduler_comes_from_context_or_on() {
    // From the subscriber's context: covered by every rig test (timers on `vs`).
    // Pinned with `.on`: the subscriber's context has no virtual scheduler.
    let vs = VirtualScheduler::new();
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(u64::MAX);
    tp.publisher()
        .chunks_timeout(5, D)
        .unwrap()
        .on(vs.clone() as Arc<dyn Scheduler>)
        .subscribe(sub);
    tp.next(7);
    assert_eq!(vs.pending(), 1);
    vs.advance_by(D);
    down.assert_items(&[vec![7]]);
}

/// The Reactor `bufferTimeout` bug: a fast producer and a consumer asking for one batch
/// at a time, with timers firing in between. Never more batches than requested, nothing
/// lost, and upstream is never asked for more than (requested + 1) batches of items.
#[test]
fn slow_consumer_is_never_overflowed() {
    let size = 4;
    let r = rig(size, 1);
    let mut next = 0u32;
    let mut requested_batches = 1u64;
    for round in 0..50 {
        // The fast producer sends everything it is allowed to.
        while r.tp.outstanding() > 0 {
            r.tp.next(next);
            next += 1;
        }
        // Timers fire now and then, while downstream has no demand.
        if round % 3 == 0 {
            r.vs.advance_by(D * 2);
        }
        let got = r.down.item_count();
        assert!(
            got <= requested_batches,
            "overflowed: {got} batches for {requested_batches} requested"
        );
        assert!(
            r.tp.total_requested() <= (requested_batches + 1) * size as u64,
            "upstream asked for {} items for {requested_batches} batches",
            r.tp.total_requested()
        );
        assert_balanced(&r.stats);
        if got == requested_batches {
            r.down.request(1);
            requested_batches += 1;
        }
    }
    r.tp.complete();
    r.down.request(u64::MAX);
    r.vs.advance_by(D * 2);
    let all: Vec<u32> = r.down.items().into_iter().flatten().collect();
    assert_eq!(all, (0..next).collect::<Vec<_>>(), "nothing lost, in order");
    assert!(r
        .down
        .items()
        .iter()
        .all(|b| !b.is_empty() && b.len() <= size));
    r.down.assert_complete();
    r.down.assert_no_protocol_violations();
    assert_eq!(r.stats.snapshot().dropped(), 0);
}

/// The same with an infinite synchronous source: the consumer asks for 1 batch, gets 1.
#[test]
fn slow_consumer_with_infinite_source() {
    let vs = VirtualScheduler::new();
    let (src, probe): (_, PublisherProbe) = PublisherProbe::wrap(range(0, u64::MAX));
    let (sub, down) = TestSubscriber::with_scheduler(1, vs.clone());
    src.chunks_timeout(10, D).unwrap().subscribe(sub);
    down.assert_items(&[(0..10).collect()]);
    vs.advance_by(D * 10);
    down.assert_item_count(1);
    assert!(
        probe.total_requested() <= 20,
        "requested {}",
        probe.total_requested()
    );
    down.request(2);
    down.assert_item_count(3);
    assert!(probe.total_requested() <= 40);
    down.cancel();
    assert!(probe.was_cancelled());
}

#[derive(Debug, Clone)]
enum Op {
    Request(u64),
    Emit(u8),
    Advance(u64),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            (1u64..3).prop_map(Op::Request),
            (1u8..6).prop_map(Op::Emit),
            (1u64..1500).prop_map(Op::Advance),
        ],
        0..50,
    )
}

/// The reference model: batches close at `size` items or `d` after their first item.
struct Model {
    size: usize,
    open: Vec<u32>,
    opened_at: Duration,
    closed: Vec<Vec<u32>>,
}

impl Model {
    fn emit(&mut self, v: u32, now: Duration) {
        if self.open.is_empty() {
            self.opened_at = now;
        }
        self.open.push(v);
        if self.open.len() == self.size {
            self.closed.push(std::mem::take(&mut self.open));
        }
    }
    fn advance(&mut self, now: Duration) {
        if !self.open.is_empty() && now >= self.opened_at + D {
            self.closed.push(std::mem::take(&mut self.open));
        }
    }
}

proptest! {
    #[test]
    fn matches_reference_model(size in 1usize..5, schedule in ops()) {
        let r = rig(size, 0);
        let mut model = Model { size, open: Vec::new(), opened_at: Duration::ZERO, closed: Vec::new() };
        let mut requested = 0u64;
        let mut next = 0u32;
        for op in schedule {
            match op {
                Op::Request(k) => { requested += k; r.down.request(k); }
                Op::Emit(k) => for _ in 0..k {
                    if r.tp.outstanding() == 0 { break; }
                    r.tp.next(next);
                    model.emit(next, r.vs.elapsed());
                    next += 1;
                }
                Op::Advance(ms) => {
                    // Step so that each batch timer is seen at its own instant.
                    r.vs.advance_by(Duration::from_millis(ms));
                    model.advance(r.vs.elapsed());
                }
            }
            let got = r.down.items();
            prop_assert!(got.len() as u64 <= requested, "more batches than requested");
            let expect: Vec<Vec<u32>> = model.closed.iter().take(requested as usize).cloned().collect();
            prop_assert_eq!(&got, &expect);
            prop_assert!(r.tp.total_requested() <= (requested + 1) * size as u64);
            prop_assert!(r.stats.snapshot().is_balanced());
        }
        r.tp.complete();
        r.down.request(u64::MAX);
        if !model.open.is_empty() { model.closed.push(std::mem::take(&mut model.open)); }
        prop_assert_eq!(r.down.items(), model.closed);
        prop_assert!(r.down.is_complete());
        prop_assert_eq!(r.vs.pending(), 0);
        prop_assert!(r.down.violations().is_empty());
        let s = r.stats.snapshot();
        prop_assert!(s.is_balanced() && s.dropped() == 0 && s.received == u64::from(next));
    }
}
