//! `throttle` in each mode: checklist, virtual time, and the reference models (its
//! `Leading` mode against `sample_first`'s, `LeadingAndTrailing` against
//! `throttle_latest`'s, `Trailing` against its own). Conformance, with its timer running
//! in real time, is in `conformance_every_operator.rs`.

mod rate_control;

use std::time::Duration;

use proptest::prelude::*;
use rate_control::*;
use spillway::operators::{DropReason, FlowStats, Throttle, ThrottleMode};
use spillway::prelude::*;

type Up = spillway_testkit::TestPublisherSource<u32, ()>;

const MODES: [ThrottleMode; 3] = [
    ThrottleMode::Leading,
    ThrottleMode::Trailing,
    ThrottleMode::LeadingAndTrailing,
];

fn op_in(mode: ThrottleMode, period: u64) -> impl Fn(Up) -> (Throttle<Up>, FlowStats) {
    move |up: Up| {
        let s = up.throttle(ms(period), mode).unwrap();
        let stats = s.stats();
        (s, stats)
    }
}

/// The marble of the method doc (period 5), as a virtual-time scenario, in each mode.
#[test]
fn the_doc_marble_in_each_mode() {
    let timeline = [(1, 1), (3, 2), (5, 3), (11, 4), (13, 5)];
    let expected = [
        (ThrottleMode::Leading, vec![(1, 1), (11, 4)]),
        // Timers fire before the item of the same instant here: 4 (at 11) opens a
        // window of its own in the trailing modes.
        (ThrottleMode::Trailing, vec![(6, 3), (15, 5)]),
        (
            ThrottleMode::LeadingAndTrailing,
            vec![(1, 1), (6, 3), (11, 4), (15, 5)],
        ),
    ];
    for (mode, want) in expected {
        let (items, stats, complete) = run_timeline(op_in(mode, 5), &timeline, 15);
        assert_eq!(items, want, "{mode:?}");
        assert!(complete);
        let s = stats.snapshot();
        assert_eq!(s.received, 5);
        assert_eq!(
            s.emitted + s.dropped(),
            5,
            "{mode:?}: every item accounted for"
        );
    }
}

#[test]
fn trailing_emits_the_latest_at_the_window_end_and_reopens() {
    let (vs, tp) = rig();
    let (s, stats) = op_in(ThrottleMode::Trailing, 10)(tp.publisher());
    let h = subscribe(s, &vs, u64::MAX);
    tp.next(1); // held, opens [0, 10)
    vs.advance_by(ms(4));
    tp.next(2); // replaces 1
    vs.advance_by(ms(6)); // 10: 2 emitted, opens [10, 20)
    vs.advance_by(ms(3));
    tp.next(3); // held in the second window
    vs.advance_by(ms(7)); // 20: 3 emitted, opens [20, 30)
    vs.advance_by(ms(10)); // 30: nothing held: the window closes
    tp.next(4); // opens a new window
    vs.advance_by(ms(10));
    assert_eq!(timed_items(&h), vec![(10, 2), (20, 3), (40, 4)]);
    assert_eq!(stats.snapshot().dropped_for(DropReason::Throttled), 1);
    h.assert_no_protocol_violations();
    assert_balanced(&stats);
}

#[test]
fn checklist_in_each_mode() {
    for mode in MODES {
        check_backpressured(op_in(mode, 10));
        check_incremental_request(op_in(mode, 10));
        check_unbounded(op_in(mode, 1), ms(3));
        check_cancel(op_in(mode, 10));
        check_error(op_in(mode, 10));
        check_request_zero(op_in(mode, 10), "throttle");
        check_late_signals(op_in(mode, 10));
    }
}

#[test]
fn completion_flushes_the_trailing_item_unless_told_not_to() {
    // Trailing: 1 and 2 arrive in the first window; 2 is held and flushed at once.
    check_complete_flushes_pending(op_in(ThrottleMode::Trailing, 10), 0, &[2]);
    check_complete_without_flush(
        |up: Up| {
            let s = up
                .throttle(ms(10), ThrottleMode::Trailing)
                .unwrap()
                .flush_on_complete(false);
            let stats = s.stats();
            (s, stats)
        },
        0,
    );
}

#[test]
fn on_drop_panic_fails_and_sees_every_drop() {
    for mode in MODES {
        check_on_drop_panic_fails(
            |up: Up| {
                let s = up
                    .throttle(ms(10), mode)
                    .unwrap()
                    .on_drop(|_, _| panic!("boom"));
                let stats = s.stats();
                (s, stats)
            },
            "throttle",
        );
        check_on_drop_sees_every_throttled(|up: Up, record| {
            let s = up.throttle(ms(10), mode).unwrap().on_drop(record);
            let stats = s.stats();
            (s, stats)
        });
    }
}

#[test]
fn zero_period_is_a_config_error() {
    for mode in MODES {
        let err = range(0, 1).throttle(Duration::ZERO, mode).unwrap_err();
        assert_eq!(err.stage(), "throttle");
    }
}

/// As users run it: awaited in a tokio runtime (paused clock), a fast producer, the
/// latest value of each second reaching a slow consumer.
#[tokio::test(start_paused = true)]
async fn awaited_under_tokio_with_a_fast_producer() {
    let ticks = interval(Duration::from_millis(100)).unwrap().take(25);
    let out = ticks
        .throttle(Duration::from_secs(1), ThrottleMode::Trailing)
        .unwrap()
        .collect()
        .await
        .unwrap();
    // Windows open at the first tick (0, at 100 ms) and at each trailing emission.
    assert_eq!(out, vec![9, 19, 24]);
}

#[test]
fn under_block_on_with_an_error_halfway() {
    let source = from_try_stream(futures::stream::iter(vec![Ok(1u32), Ok(2), Err("boom")]));
    let got = futures::executor::block_on(
        source
            .throttle(Duration::from_secs(1), ThrottleMode::LeadingAndTrailing)
            .unwrap()
            .collect(),
    );
    assert!(matches!(got, Err(spillway::Error::User("boom"))), "{got:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// Random item timings and request schedules: `Leading` follows `sample_first`'s
    /// model, `LeadingAndTrailing` `throttle_latest`'s, `Trailing` its own.
    #[test]
    fn each_mode_matches_its_reference_model(sc in scenarios(), period in 1u64..40) {
        for (mode, model) in [
            (ThrottleMode::Leading, Model::SampleFirst),
            (ThrottleMode::LeadingAndTrailing, Model::ThrottleLatest),
            (ThrottleMode::Trailing, Model::ThrottleTrailing),
        ] {
            let (vs, tp) = rig();
            check_against_model(op_in(mode, period)(tp.publisher()), &vs, &tp, model, period, &sc)?;
        }
    }
}
