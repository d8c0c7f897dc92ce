//! `pressure`: level changes, pausing, conformance suite, reference-model proptest,
//! non-compliant upstream, callback panics, stats invariant.

use std::sync::{Arc, Mutex};

mod backpressure_kit;

use backpressure_kit::*;
use proptest::prelude::*;
use spillway::operators::{Pressure, PressureChange, PressureGauge, PressureLevels};
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::{self, TckConfig};
use spillway_testkit::{TestPublisher, TestSubscriber, TestSubscriberHandle, Violation};

type Changes = Arc<Mutex<Vec<PressureChange>>>;

fn setup(
    tp: &TestPublisher<u32, String>,
    capacity: usize,
    initial: u64,
) -> (
    TestSubscriberHandle<u32, String>,
    spillway::operators::FlowStats,
    PressureGauge,
    Changes,
) {
    let changes: Changes = Arc::default();
    let log = changes.clone();
    let op = tp
        .publisher()
        .pressure(capacity, PressureLevels::seed(), move |c| {
            log.lock().unwrap().push(c)
        })
        .unwrap();
    let (stats, gauge) = (op.stats(), op.gauge());
    let (sub, handle) = TestSubscriber::new(initial);
    op.subscribe(sub);
    (handle, stats, gauge, changes)
}

fn send(tp: &TestPublisher<u32, String>, k: u32) {
    for i in 0..k {
        tp.next(i);
    }
}

fn levels(changes: &Changes) -> Vec<Pressure> {
    changes.lock().unwrap().iter().map(|c| c.to).collect()
}

#[test]
fn config_errors() {
    assert!(range(0, 1)
        .pressure(0, PressureLevels::seed(), |_| {})
        .is_err());
    assert!(PressureLevels::new(0.5, 0.5, 0.9).is_err());
    assert!(PressureLevels::new(0.0, 0.5, 0.9).is_err());
    assert!(PressureLevels::new(0.2, 0.5, 1.1).is_err());
    assert!(PressureLevels::new(0.2, 0.5, 1.0).is_ok());
    assert_eq!(PressureLevels::default(), PressureLevels::seed());
}

#[test]
fn seed_thresholds() {
    let l = PressureLevels::seed();
    let got: Vec<Pressure> = [0.0, 0.49, 0.5, 0.69, 0.7, 0.89, 0.9, 1.0]
        .iter()
        .map(|&u| l.classify(u))
        .collect();
    use Pressure::*;
    assert_eq!(
        got,
        [Low, Low, Medium, Medium, High, High, Critical, Critical]
    );
}

#[test]
fn normal_with_demand_stays_low() {
    let tp = TestPublisher::new();
    let (h, stats, gauge, changes) = setup(&tp, 10, u64::MAX);
    tp.emit(0..20);
    assert_eq!(h.item_count(), 20);
    h.assert_complete();
    assert!(changes.lock().unwrap().is_empty());
    assert_eq!(gauge.level(), Pressure::Low);
    assert!(stats.snapshot().is_balanced());
}

#[test]
fn backpressured_rises_through_levels_then_pauses() {
    let tp = TestPublisher::new();
    let (h, stats, gauge, changes) = setup(&tp, 10, 0);
    assert_eq!(tp.total_requested(), 10);
    send(&tp, 10);
    h.assert_items(&[]);
    use Pressure::*;
    assert_eq!(levels(&changes), [Medium, High, Critical]);
    let at: Vec<usize> = changes.lock().unwrap().iter().map(|c| c.buffered).collect();
    assert_eq!(at, [5, 7, 9]);
    assert_eq!(gauge.level(), Critical);
    assert_eq!(gauge.utilisation(), 1.0);
    assert_eq!(tp.outstanding(), 0); // paused
    assert_eq!(stats.snapshot().paused, 1);
}

#[test]
fn incremental_request_lowers_the_level_and_resumes() {
    let tp = TestPublisher::new();
    let (h, _, gauge, changes) = setup(&tp, 10, 0);
    send(&tp, 10);
    h.request(4); // 6 left: medium
    assert_eq!(gauge.level(), Pressure::Medium);
    assert_eq!(tp.total_requested(), 10);
    h.request(4); // 2 left (<= low watermark 2): low, and upstream resumes
    assert_eq!(gauge.level(), Pressure::Low);
    assert_eq!(tp.total_requested(), 18);
    use Pressure::*;
    assert_eq!(
        levels(&changes),
        [Medium, High, Critical, High, Medium, Low]
    );
}

#[test]
fn cancel_mid_stream_reaches_upstream() {
    let tp = TestPublisher::new();
    let (h, stats, gauge, _) = setup(&tp, 10, 0);
    send(&tp, 6);
    h.cancel();
    tp.assert_cancelled();
    assert_eq!(gauge.level(), Pressure::Low);
    let s = stats.snapshot();
    assert_eq!(s.dropped(), 6);
    assert!(s.is_balanced());
}

#[test]
fn error_and_completion_follow_the_buffered_items() {
    let tp = TestPublisher::new();
    let (h, _, _, _) = setup(&tp, 4, 0);
    tp.next(1).error("boom".to_string());
    h.assert_not_terminated();
    h.request(1);
    h.assert_items(&[1]);
    h.assert_error_matches(|e| *e == Error::User("boom".to_string()));

    let tp = TestPublisher::new();
    let (h, _, _, _) = setup(&tp, 4, 0);
    tp.emit([1, 2]);
    h.assert_not_terminated();
    h.request(2);
    h.assert_complete();
}

#[test]
fn callback_panic_fails_the_stage() {
    let tp = TestPublisher::<u32, String>::new();
    let op = tp
        .publisher()
        .pressure(2, PressureLevels::seed(), |_| panic!("callback"))
        .unwrap();
    let stats = op.stats();
    let (sub, h) = TestSubscriber::new(0);
    op.subscribe(sub);
    tp.next(1); // 50%: medium, the callback panics
    h.assert_error_matches(|e| {
        matches!(
            e,
            Error::Panicked {
                stage: "pressure",
                ..
            }
        )
    });
    tp.assert_cancelled();
    assert!(stats.snapshot().is_balanced());
}

#[test]
fn non_compliant_upstream_overflows() {
    let tp = TestPublisher::non_compliant(&[Violation::EmitWithoutDemand]);
    let (h, stats, _, _) = setup(&tp, 2, 0);
    send(&tp, 3);
    h.assert_error_matches(|e| {
        matches!(
            e,
            Error::Overflow {
                stage: "pressure",
                capacity: 2
            }
        )
    });
    tp.assert_cancelled();
    assert!(stats.snapshot().is_balanced());
}

#[test]
fn late_signals_after_terminal_are_discarded() {
    check_late_signals_discarded(|tp, n| {
        let (h, stats, _, _) = setup(tp, 4, n);
        (h, stats)
    });
}

#[test]
fn request_zero_is_invalid() {
    check_request_zero(|tp, n| {
        let (h, stats, _, _) = setup(tp, 4, n);
        (h, stats)
    });
}

#[test]
fn conformance_suite() {
    tck::verify_publisher_with(
        tck::publisher_factory(|n| {
            range(0, n)
                .pressure(4, PressureLevels::seed(), |_| {})
                .unwrap()
        }),
        TckConfig::synchronous(),
    )
    .assert_all_passed();
}

proptest! {
    /// Reference model: a buffer of `cap` paced between `cap` and `cap / 4`; the
    /// reported level changes are those of the buffer length after every change.
    #[test]
    fn matches_reference_model(
        cap in 1usize..12,
        ops in prop::collection::vec((any::<bool>(), 1u64..6), 0..40),
    ) {
        let tp = TestPublisher::new();
        let (h, stats, gauge, changes) = setup(&tp, cap, 0);
        let lv = PressureLevels::seed();
        let (mut queue, mut in_flight, mut demand, mut delivered) = (0u64, cap as u64, 0u64, 0u64);
        let mut level = Pressure::Low;
        let mut expected = Vec::new();
        let mut note = |len: u64, level: &mut Pressure| {
            let l = lv.classify(len as f64 / cap as f64);
            if l != *level { expected.push(l); *level = l; }
        };
        let mut next = 0;
        for (emit, n) in ops {
            if emit {
                for _ in 0..n.min(in_flight) {
                    tp.next(next);
                    next += 1;
                    in_flight -= 1;
                    queue += 1;
                    note(queue, &mut level);
                    if demand > 0 { queue -= 1; demand -= 1; delivered += 1; note(queue, &mut level); }
                    if queue + in_flight <= cap as u64 / 4 { in_flight = cap as u64 - queue; }
                }
            } else {
                h.request(n);
                demand += n;
                while demand > 0 && queue > 0 {
                    queue -= 1; demand -= 1; delivered += 1;
                    note(queue, &mut level);
                    if queue + in_flight <= cap as u64 / 4 { in_flight = cap as u64 - queue; }
                }
            }
            prop_assert_eq!(h.item_count(), delivered);
            prop_assert_eq!(gauge.level(), level);
            prop_assert!(stats.snapshot().is_balanced());
            prop_assert!(stats.snapshot().buffered <= cap as u64);
        }
        prop_assert_eq!(levels(&changes), expected);
        h.assert_no_protocol_violations();
    }
}

/// Level changes are found on two threads (the producer's and the consumer's) but must
/// be reported in order, one at a time: each change starts where the previous one ended.
#[test]
fn reports_stay_in_order_when_producer_and_consumer_race() {
    use spillway_core::{Emitter, OverflowStrategy};
    use std::sync::mpsc;
    use std::time::Duration;

    for _round in 0..20 {
        let changes = Arc::new(Mutex::new(Vec::new()));
        let log = changes.clone();
        let source = spillway_core::create(
            OverflowStrategy::Error,
            |e: Emitter<u32, std::convert::Infallible>| {
                std::thread::spawn(move || {
                    for i in 0..2_000 {
                        if !e.wait_for_demand(Duration::from_secs(10)) {
                            return;
                        }
                        e.next(i).unwrap();
                    }
                    e.complete();
                });
            },
        );
        let (tx, rx) = mpsc::channel();
        let consumer = std::thread::spawn(move || {
            futures::executor::block_on(
                source
                    .pressure(10, PressureLevels::seed(), move |c| {
                        log.lock().unwrap().push(c)
                    })
                    .unwrap()
                    .for_each(|_| std::hint::spin_loop()),
            )
            .unwrap();
            tx.send(()).unwrap();
        });
        rx.recv_timeout(Duration::from_secs(30))
            .expect("the pipeline finishes");
        consumer.join().unwrap();
        let changes = changes.lock().unwrap();
        for pair in changes.windows(2) {
            assert_eq!(pair[0].to, pair[1].from, "out of order: {changes:?}");
        }
    }
}
