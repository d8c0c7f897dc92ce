//! `limit_rate`: exact upstream request sequences, strict mode, conformance suite,
//! reference-model proptest, non-compliant upstream, stats invariant.

mod backpressure_kit;

use backpressure_kit::*;
use proptest::prelude::*;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::{self, TckConfig};
use spillway_testkit::{TestPublisher, TestSubscriber, TestSubscriberHandle, Violation};

fn setup(
    tp: &TestPublisher<u64, String>,
    high: usize,
    low: usize,
    strict: bool,
    initial: u64,
) -> (
    TestSubscriberHandle<u64, String>,
    spillway::operators::FlowStats,
) {
    let mut op = tp.publisher().limit_rate_with(high, low).unwrap();
    if strict {
        op = op.strict();
    }
    let stats = op.stats();
    let (sub, handle) = TestSubscriber::new(initial);
    op.subscribe(sub);
    (handle, stats)
}

fn asked(tp: &TestPublisher<u64, String>) -> Vec<u64> {
    tp.requests().iter().map(|r| r.1).collect()
}

/// Sends `k` more items, each within upstream's outstanding request.
fn send(tp: &TestPublisher<u64, String>, next: &mut u64, k: u64) {
    for _ in 0..k {
        assert!(
            tp.outstanding() > 0,
            "the operator did not request item {next}"
        );
        tp.next(*next);
        *next += 1;
    }
}

#[test]
fn config_errors() {
    assert!(range(0, 1).limit_rate(0).is_err());
    assert!(range(0, 1).limit_rate_with(4, 4).is_err());
    assert!(range(0, 1).limit_rate_with(4, 5).is_err());
    assert!(range(0, 1).limit_rate_with(4, 3).is_ok());
    assert!(range(0, 1).limit_rate(1).is_ok()); // low = 0
}

#[test]
fn normal_unbounded_downstream_gets_capped_batches() {
    let tp = TestPublisher::new();
    let (h, stats) = setup(&tp, 4, 1, false, u64::MAX);
    let mut n = 0;
    send(&tp, &mut n, 6);
    // 4 at first, then 3 (= high - low) each time in-flight falls to 1.
    assert_eq!(asked(&tp), vec![4, 3, 3]);
    assert!(asked(&tp).iter().all(|&r| r <= 4));
    assert_eq!(h.item_count(), n);
    assert!(stats.snapshot().is_balanced());
}

#[test]
fn default_low_is_a_quarter() {
    let tp = TestPublisher::<u64, String>::new();
    let (sub, _h) = TestSubscriber::new(u64::MAX);
    tp.publisher().limit_rate(8).unwrap().subscribe(sub);
    let mut n = 0;
    send(&tp, &mut n, 6);
    assert_eq!(asked(&tp), vec![8, 6]);
}

#[test]
fn backpressured_prefetches_high_and_pauses() {
    let tp = TestPublisher::new();
    let (h, stats) = setup(&tp, 4, 1, false, 0);
    assert_eq!(asked(&tp), vec![4]); // prefetch at subscription
    let mut n = 0;
    send(&tp, &mut n, 4);
    h.assert_items(&[]);
    assert_eq!(stats.snapshot().buffered, 4);
    assert_eq!(asked(&tp), vec![4]); // paused: nothing more until delivered
    h.request(3);
    h.assert_items(&[0, 1, 2]);
    assert_eq!(asked(&tp), vec![4, 3]);
    assert!(stats.snapshot().is_balanced());
}

#[test]
fn incremental_request_strict_never_runs_ahead() {
    let tp = TestPublisher::new();
    let (h, _) = setup(&tp, 10, 5, true, 0);
    assert_eq!(asked(&tp), Vec::<u64>::new());
    h.request(3);
    assert_eq!(asked(&tp), vec![3]);
    let mut n = 0;
    send(&tp, &mut n, 3);
    h.request(100);
    assert_eq!(asked(&tp), vec![3, 10]);
    send(&tp, &mut n, 10);
    assert_eq!(asked(&tp), vec![3, 10, 5, 5]);
    assert!(tp.total_requested() <= 103);
    h.assert_item_count(n);
}

#[test]
fn cancel_mid_stream_reaches_upstream() {
    let tp = TestPublisher::new();
    let (h, stats) = setup(&tp, 4, 1, false, 1);
    tp.next(0).next(1);
    h.cancel();
    tp.assert_cancelled();
    let s = stats.snapshot();
    assert_eq!(s.dropped(), 1); // the prefetched item, discarded
    assert!(s.is_balanced());
}

#[test]
fn error_follows_the_delivered_items() {
    let tp = TestPublisher::new();
    let (h, _) = setup(&tp, 4, 1, false, 0);
    tp.next(0).error("boom".to_string());
    h.assert_not_terminated();
    h.request(1);
    h.assert_items(&[0]);
    h.assert_error_matches(|e| *e == Error::User("boom".to_string()));
}

#[test]
fn completion_flushes_prefetched_items() {
    let tp = TestPublisher::new();
    let (h, _) = setup(&tp, 4, 1, false, 0);
    tp.emit([0, 1]);
    h.assert_not_terminated();
    h.request(2);
    h.assert_items(&[0, 1]);
    h.assert_complete();
}

#[test]
fn request_zero_is_invalid() {
    check_request_zero(|tp, n| setup(tp, 4, 1, false, n));
}

#[test]
fn non_compliant_upstream_fills_then_overflows() {
    let tp = TestPublisher::non_compliant(&[Violation::EmitWithoutDemand]);
    let (h, stats) = setup(&tp, 4, 1, true, 1);
    for i in 0..6 {
        tp.next(i); // 0 delivered, 1..=4 fill the buffer of `high`, 5 overflows it
    }
    h.assert_items(&[0]);
    h.assert_error_matches(|e| {
        matches!(
            e,
            Error::Overflow {
                stage: "limit_rate",
                capacity: 4
            }
        )
    });
    tp.assert_cancelled();
    assert!(stats.snapshot().is_balanced());
}

#[test]
fn late_signals_after_terminal_are_discarded() {
    check_late_signals_discarded(|tp, n| setup(tp, 4, 1, false, n));
}

#[test]
fn conformance_suite() {
    tck::verify_publisher_with(
        tck::publisher_factory(|n| range(0, n).limit_rate_with(4, 1).unwrap()),
        TckConfig::synchronous().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
    tck::verify_publisher_with(
        tck::publisher_factory(|n| range(0, n).limit_rate(3).unwrap().strict()),
        TckConfig::synchronous().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

/// The reference model: upstream requests and deliveries under a schedule of downstream
/// requests and upstream emissions (an upstream sending up to what was requested).
struct Model {
    high: u64,
    low: u64,
    strict: bool,
    queue: u64,
    in_flight: u64,
    demand: u64,
    delivered: u64,
    requests: Vec<u64>,
}

impl Model {
    fn replenish(&mut self) {
        let out = self.queue + self.in_flight;
        if out > self.low {
            return;
        }
        let mut n = self.high - out;
        if self.strict {
            n = n.min(self.demand.saturating_sub(out));
        }
        if n > 0 {
            self.in_flight += n;
            self.requests.push(n);
        }
    }
    /// The drain: pulls while downstream has demand, replenishing on each pull.
    fn drain(&mut self) {
        while self.demand > 0 {
            let popped = self.queue > 0;
            if popped {
                self.queue -= 1;
                self.demand -= 1;
                self.delivered += 1;
            }
            self.replenish();
            if !popped {
                break;
            }
        }
    }
}

proptest! {
    #[test]
    fn matches_reference_model(
        high in 1usize..8,
        low_frac in 0usize..8,
        strict in any::<bool>(),
        initial in 0u64..4,
        ops in prop::collection::vec((any::<bool>(), 1u64..6), 0..40),
    ) {
        let low = low_frac % high;
        let tp = TestPublisher::new();
        let (h, stats) = setup(&tp, high, low, strict, initial);
        let mut m = Model {
            high: high as u64, low: low as u64, strict, queue: 0, in_flight: 0,
            demand: initial, delivered: 0, requests: Vec::new(),
        };
        m.replenish(); // on_subscribe (downstream requested first)
        let mut next = 0;
        for (emit, n) in ops {
            if emit {
                for _ in 0..n.min(m.in_flight) {
                    tp.next(next);
                    next += 1;
                    m.in_flight -= 1;
                    m.queue += 1;
                    m.drain();
                }
            } else {
                h.request(n);
                m.demand += n;
                m.drain();
            }
            prop_assert_eq!(asked(&tp), m.requests.clone());
            prop_assert_eq!(h.item_count(), m.delivered);
            prop_assert!(stats.snapshot().is_balanced());
            if strict {
                prop_assert!(tp.total_requested() <= m.delivered + m.demand);
            }
        }
        h.assert_no_protocol_violations();
    }
}
