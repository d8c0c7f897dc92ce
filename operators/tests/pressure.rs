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
    setup_with(tp, capacity, initial, PressureLevels::seed())
}

fn setup_with(
    tp: &TestPublisher<u32, String>,
    capacity: usize,
    initial: u64,
    levels: PressureLevels,
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
        .pressure(capacity, levels, move |c| log.lock().unwrap().push(c))
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
fn hysteresis_config_errors_and_defaults() {
    let seed = PressureLevels::seed();
    assert_eq!(seed.hysteresis(), PressureLevels::DEFAULT_HYSTERESIS);
    assert_eq!(PressureLevels::DEFAULT_HYSTERESIS, 0.1);
    for bad in [
        -0.1,
        -f64::MIN_POSITIVE,
        f64::NAN,
        f64::INFINITY,
        0.5,
        0.6,
        1.0,
    ] {
        let err = seed.with_hysteresis(bad).unwrap_err();
        assert!(err.to_string().contains("hysteresis"), "{bad}: {err}");
    }
    assert_eq!(seed.with_hysteresis(0.0).unwrap().hysteresis(), 0.0);
    assert_eq!(seed.with_hysteresis(0.49).unwrap().hysteresis(), 0.49);
    // The bound is the medium threshold of the levels it is set on.
    let low_medium = PressureLevels::new(0.08, 0.5, 0.9).unwrap();
    assert!(low_medium.with_hysteresis(0.08).is_err());
    assert!(low_medium.with_hysteresis(0.07).is_ok());
    // The default margin is 10 points, capped at half of a lower medium threshold.
    assert_eq!(PressureLevels::new(0.5, 0.7, 0.9).unwrap(), seed);
    assert_eq!(
        PressureLevels::new(0.3, 0.6, 0.9).unwrap().hysteresis(),
        0.1
    );
    assert_eq!(low_medium.hysteresis(), 0.04);
    // Setting the margin keeps the thresholds.
    let s = seed.with_hysteresis(0.2).unwrap();
    for u in [0.0, 0.49, 0.5, 0.7, 0.9, 1.0] {
        assert_eq!(s.classify(u), seed.classify(u));
    }
}

/// Up at a threshold, down only below the threshold minus the margin (seed, 10 points).
#[test]
fn hysteresis_rules_at_the_boundaries() {
    use Pressure::*;
    let l = PressureLevels::seed();
    // Going up is unchanged: a level is entered as soon as its threshold is reached.
    assert_eq!(l.next_level(Low, 0.49), Low);
    assert_eq!(l.next_level(Low, 0.5), Medium);
    assert_eq!(l.next_level(Medium, 0.69), Medium);
    assert_eq!(l.next_level(Medium, 0.7), High);
    assert_eq!(l.next_level(High, 0.89), High);
    assert_eq!(l.next_level(High, 0.9), Critical);
    // Going down: left only below threshold - margin (at it, the level holds).
    assert_eq!(l.next_level(Critical, 0.8), Critical);
    assert_eq!(l.next_level(Critical, 0.79), High);
    assert_eq!(l.next_level(High, 0.69), High);
    assert_eq!(l.next_level(High, 0.6), High);
    assert_eq!(l.next_level(High, 0.59), Medium);
    assert_eq!(l.next_level(Medium, 0.4), Medium);
    assert_eq!(l.next_level(Medium, 0.39), Low);
    // Several levels at once, either way.
    assert_eq!(l.next_level(Low, 0.95), Critical);
    assert_eq!(l.next_level(Medium, 1.0), Critical);
    assert_eq!(l.next_level(Critical, 0.0), Low);
    assert_eq!(l.next_level(Critical, 0.59), Medium);
    assert_eq!(l.next_level(Critical, 0.6), High);
    assert_eq!(l.next_level(High, 0.39), Low);
    // The exact boundaries, as a buffer of 10 and of 100 reaches them.
    let cases = [
        (10, High, 6, High),
        (10, High, 5, Medium),
        (100, High, 60, High),
        (100, High, 59, Medium),
        (100, Critical, 80, Critical),
        (100, Critical, 79, High),
        (100, Medium, 40, Medium),
        (100, Medium, 39, Low),
    ];
    for (cap, from, len, to) in cases {
        assert_eq!(
            l.next_level(from, len as f64 / cap as f64),
            to,
            "{from:?} at {len}/{cap}"
        );
    }
}

/// An independent statement of the rule, in exact arithmetic: thresholds and margin in
/// thousandths, utilisation `num / den`. The level is the one utilisation reaches, or the
/// highest level at or below the current one whose exit point (threshold - margin) it has
/// not fallen below, whichever is higher.
fn model_level(milli: [u64; 3], margin: u64, current: Pressure, num: u64, den: u64) -> Pressure {
    use Pressure::*;
    let all = [Low, Medium, High, Critical];
    let threshold = |p: Pressure| if p == Low { 0 } else { milli[p as usize - 1] };
    // u >= x/1000  <=>  num * 1000 >= x * den
    let at_least = |x: u64| num * 1000 >= x * den;
    let reached = all
        .into_iter()
        .filter(|&p| at_least(threshold(p)))
        .max()
        .unwrap_or(Low);
    let held = all
        .into_iter()
        .filter(|&p| p <= current && (p == Low || at_least(threshold(p) - margin)))
        .max()
        .unwrap_or(Low);
    reached.max(held)
}

/// Thresholds closer together than the margin (medium 0.5, high 0.55, margin 0.1): the
/// exit points keep the thresholds' order, so every (level, utilisation) has one next
/// level, an empty buffer is always low, and the rule matches the model everywhere.
#[test]
fn close_thresholds_stay_well_defined() {
    use Pressure::*;
    let l = PressureLevels::new(0.5, 0.55, 0.9)
        .unwrap()
        .with_hysteresis(0.1)
        .unwrap();
    assert_eq!(l.next_level(Medium, 0.55), High);
    assert_eq!(l.next_level(High, 0.45), High); // below medium's threshold, above 45%
    assert_eq!(l.next_level(High, 0.44), Medium);
    assert_eq!(l.next_level(Critical, 0.44), Medium);
    assert_eq!(l.next_level(Medium, 0.39), Low);
    assert_eq!(l.next_level(Critical, 0.0), Low);

    let grids = [
        ([500, 550, 900], 100),
        ([500, 550, 900], 490),
        ([500, 700, 900], 100),
        ([500, 700, 900], 0),
        ([100, 110, 120], 90),
        ([330, 660, 990], 330 - 1),
    ];
    for (t, margin) in grids {
        let milli = |x: u64| x as f64 / 1000.0;
        let l = PressureLevels::new(milli(t[0]), milli(t[1]), milli(t[2]))
            .unwrap()
            .with_hysteresis(milli(margin))
            .unwrap();
        for current in [Low, Medium, High, Critical] {
            assert_eq!(l.next_level(current, 0.0), Low, "{t:?} {margin}");
            for den in [100, 1000, 7] {
                for num in 0..=den {
                    let u = num as f64 / den as f64;
                    let next = l.next_level(current, u);
                    assert_eq!(
                        next,
                        model_level(t, margin, current, num, den),
                        "{t:?} {margin} {current:?} {num}/{den}"
                    );
                    // Stable: applying the same utilisation again changes nothing.
                    assert_eq!(l.next_level(next, u), next);
                    // Never above both the current level and the one utilisation reaches.
                    assert!(next <= current.max(l.classify(u)));
                    assert!(next >= l.classify(u));
                }
            }
        }
    }
}

/// A margin of zero is the old behaviour: the level is `classify`'s, whatever the history.
#[test]
fn margin_zero_is_classify() {
    use Pressure::*;
    let l = PressureLevels::seed().with_hysteresis(0.0).unwrap();
    for current in [Low, Medium, High, Critical] {
        for k in 0..=100 {
            let u = k as f64 / 100.0;
            assert_eq!(l.next_level(current, u), l.classify(u), "{current:?} {u}");
        }
    }
}

/// A buffer of 100 hovering at the high threshold, one item in and one out (70%, 69%,
/// 70%, ...): one change to high, not one per item; leaving high takes falling below 60%.
#[test]
fn hovering_at_a_threshold_changes_the_level_once() {
    let tp = TestPublisher::new();
    let (h, stats, gauge, changes) = setup(&tp, 100, 0);
    send(&tp, 69);
    use Pressure::*;
    assert_eq!(levels(&changes), [Medium]);
    for _ in 0..20 {
        tp.next(0); // 70%
        h.request(1); // 69%
    }
    assert_eq!(levels(&changes), [Medium, High]);
    assert_eq!(changes.lock().unwrap()[1].buffered, 70);
    assert_eq!(gauge.level(), High);
    h.request(9); // 60%: not below 60%
    assert_eq!(gauge.level(), High);
    h.request(1); // 59%
    assert_eq!(gauge.level(), Medium);
    let last = *changes.lock().unwrap().last().unwrap();
    assert_eq!((last.from, last.to, last.buffered), (High, Medium, 59));
    assert!(stats.snapshot().is_balanced());
}

/// The same workload without a margin flaps: every crossing is a change (the issue's
/// `Medium -> High (70%)`, `High -> Medium (69%)`, ...).
#[test]
fn margin_zero_reproduces_the_flapping() {
    let tp = TestPublisher::new();
    let flappy = PressureLevels::seed().with_hysteresis(0.0).unwrap();
    let (h, _, gauge, changes) = setup_with(&tp, 100, 0, flappy);
    send(&tp, 69);
    for _ in 0..20 {
        tp.next(0);
        h.request(1);
    }
    use Pressure::*;
    let got = levels(&changes);
    assert_eq!(got.len(), 1 + 40);
    assert_eq!(got[..5], [Medium, High, Medium, High, Medium]);
    let at: Vec<usize> = changes.lock().unwrap()[1..]
        .iter()
        .map(|c| c.buffered)
        .collect();
    assert!(at.chunks(2).all(|p| p == [70, 69]), "{at:?}");
    assert_eq!(gauge.level(), Medium);
}

/// Several levels at once: cancelling a full buffer discards it, and the level goes from
/// critical straight to low, in one change that starts where the previous one ended.
#[test]
fn a_drained_buffer_jumps_levels_in_one_change() {
    let tp = TestPublisher::new();
    let (h, _, gauge, changes) = setup(&tp, 10, 0);
    send(&tp, 10);
    h.cancel();
    assert_eq!(gauge.level(), Pressure::Low);
    let changes = changes.lock().unwrap().clone();
    use Pressure::*;
    let steps: Vec<(Pressure, Pressure, usize)> =
        changes.iter().map(|c| (c.from, c.to, c.buffered)).collect();
    assert_eq!(
        steps,
        [
            (Low, Medium, 5),
            (Medium, High, 7),
            (High, Critical, 9),
            (Critical, Low, 0)
        ]
    );
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
    h.request(4); // 6 left: 60% is not below 60% (high - margin), still high
    assert_eq!(gauge.level(), Pressure::High);
    h.request(1); // 5 left: below 60%, medium
    assert_eq!(gauge.level(), Pressure::Medium);
    assert_eq!(tp.total_requested(), 10);
    h.request(3); // 2 left (<= low watermark 2): low, and upstream resumes
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
        TckConfig::synchronous().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

proptest! {
    /// Reference model: a buffer of `cap` paced between `cap` and `cap / 4`; the
    /// reported level changes are those of the buffer length after every change, with
    /// the seed's hysteresis.
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
            assert_eq!(lv.hysteresis(), 0.1);
            let l = model_level([500, 700, 900], 100, *level, len, cap as u64);
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

/// A noisy workload on the virtual clock: every 10 ms a producer adds items or a
/// consumer takes them, so that a buffer of 100 follows a target with ±3 items of
/// deterministic jitter: hovering at 70% (the high threshold), a dip to about 55%,
/// hovering at 70% again, at 90% (critical), at about 78%, then a full drain. Returns the
/// level changes with their virtual time.
fn noisy_workload(levels: PressureLevels) -> Vec<(u64, PressureChange)> {
    use spillway_testkit::VirtualScheduler;
    use std::time::Duration;

    let vs = VirtualScheduler::new();
    let tp = TestPublisher::<u32, String>::new().with_scheduler(vs.clone());
    let changes = Arc::new(Mutex::new(Vec::new()));
    let log = changes.clone();
    let clock = vs.clone();
    let op = tp
        .publisher()
        .pressure(100, levels, move |c| {
            log.lock()
                .unwrap()
                .push((clock.elapsed().as_millis() as u64, c))
        })
        .unwrap()
        .watermarks(100, 99) // keep upstream asked up to the capacity
        .unwrap();
    let stats = op.stats();
    let (sub, h) = TestSubscriber::with_scheduler(0, vs.clone());
    op.subscribe(sub);

    // (ticks, base): the target length is base ± 3; ramps are a single tick.
    let phases: [(u64, i64); 8] = [
        (1, 0),
        (30, 70),
        (6, 55),
        (30, 70),
        (25, 90),
        (15, 78),
        (3, 0),
        (1, 0),
    ];
    let mut seed: u32 = 7;
    let mut jitter = move || {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        i64::from((seed >> 16) % 7) - 3
    };
    let (mut tick, mut next) = (0u64, 0u32);
    for (ticks, base) in phases {
        for _ in 0..ticks {
            tick += 1;
            vs.advance_to(Duration::from_millis(10 * tick));
            let noise = if base == 0 { 0 } else { jitter() };
            let target = (base + noise).clamp(0, 100);
            let len = stats.snapshot().buffered as i64;
            if target > len {
                for _ in len..target {
                    assert!(
                        tp.outstanding() > 0,
                        "the producer only sends what was asked"
                    );
                    tp.next(next);
                    next += 1;
                }
            } else if target < len {
                h.request((len - target) as u64);
            }
            assert_eq!(stats.snapshot().buffered as i64, target);
        }
    }
    h.assert_no_protocol_violations();
    assert_eq!(h.item_count(), u64::from(next), "everything was delivered");
    assert!(stats.snapshot().is_balanced());
    let changes = changes.lock().unwrap().clone();
    changes
}

#[test]
fn noisy_workload_level_sequence_on_virtual_time() {
    let levels = PressureLevels::seed();
    let changes = noisy_workload(levels);
    // The order guarantee: each change starts where the previous one ended.
    assert_eq!(changes[0].1.from, Pressure::Low);
    for pair in changes.windows(2) {
        assert_eq!(pair[0].1.to, pair[1].1.from, "{changes:?}");
    }
    // Every change follows the rule: up at a threshold, down below threshold - margin.
    for (_, c) in &changes {
        let u = c.utilisation();
        assert_eq!(levels.next_level(c.from, u), c.to, "{c:?}");
        if c.to > c.from {
            assert_eq!(levels.classify(u), c.to, "{c:?}");
        }
    }
    let flappy = noisy_workload(PressureLevels::seed().with_hysteresis(0.0).unwrap());
    assert!(
        flappy.len() > 2 * changes.len(),
        "{} vs {}",
        flappy.len(),
        changes.len()
    );

    let mut picture = format!(
        "seed levels, capacity 100, margin {}: {} changes (margin 0: {})\n",
        levels.hysteresis(),
        changes.len(),
        flappy.len()
    );
    for (t, c) in &changes {
        picture.push_str(&format!(
            "{t:>5}ms  {:>8} -> {:<8} {:>3}/{}\n",
            c.from.to_string(),
            c.to.to_string(),
            c.buffered,
            c.capacity
        ));
    }
    insta::assert_snapshot!("pressure_noisy_workload_levels", picture);
}
