//! `retry_backoff`: virtual time only; reproducible jitter; cancel during a delay.

use std::time::Duration;

use proptest::prelude::*;
use spillway::operators::Backoff;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::TckConfig;
use spillway_testkit::{tck, Signal, TestPublisher, TestSubscriber, VirtualScheduler};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn no_jitter(max_retries: u64) -> Backoff {
    Backoff {
        first: ms(100),
        max: ms(1_000),
        factor: 2.0,
        jitter: 0.0,
        max_retries,
        ..Backoff::default()
    }
}

/// A test publisher behind `retry_backoff(no_jitter(3))`, 10 requested, on virtual time.
fn rig() -> (
    std::sync::Arc<VirtualScheduler>,
    TestPublisher<u32, ()>,
    spillway_testkit::TestSubscriberHandle<u32, ()>,
) {
    let vs = VirtualScheduler::new();
    let tp = TestPublisher::<u32, ()>::new();
    let (sub, h) = TestSubscriber::with_scheduler(10, vs.clone());
    tp.publisher()
        .retry_backoff(no_jitter(3))
        .unwrap()
        .subscribe(sub);
    (vs, tp, h)
}

#[test]
fn exponential_delays_on_virtual_time_with_demand_carried_over() {
    let (vs, tp, h) = rig();
    tp.next(1).error(());
    assert_eq!(tp.subscription_count(), 1);
    vs.advance_by(ms(99));
    assert_eq!(tp.subscription_count(), 1, "still waiting");
    vs.advance_by(ms(1));
    assert_eq!(tp.subscription_count(), 2);
    assert_eq!(tp.outstanding(), 9, "outstanding demand carried over");
    tp.error(());
    vs.advance_by(ms(200));
    assert_eq!(tp.subscription_count(), 3);
    tp.error(());
    vs.advance_by(ms(400));
    assert_eq!(tp.subscription_count(), 4);
    tp.error(());
    h.assert_items(&[1]);
    h.assert_error_matches(|e| *e == Error::User(()));
    assert_eq!(h.events().last().unwrap().at, ms(700));
}

#[test]
fn cancel_during_a_delay_cancels_the_timer() {
    let (vs, tp, h) = rig();
    tp.error(());
    assert_eq!(vs.pending(), 1);
    h.cancel();
    assert_eq!(vs.pending(), 0, "timer cancelled");
    vs.advance_by(ms(1_000));
    assert_eq!(tp.subscription_count(), 1, "never resubscribed");
    h.assert_not_terminated();
}

#[test]
fn cancel_reaches_the_current_upstream() {
    let (vs, tp, h) = rig();
    tp.error(());
    vs.advance_by(ms(100));
    h.cancel();
    tp.assert_cancelled();
}

#[test]
fn jitter_is_reproducible_and_bounded() {
    let b = Backoff {
        max_retries: 10,
        ..Backoff::default()
    };
    let a: Vec<_> = b.delays().collect();
    assert_eq!(a, b.delays().collect::<Vec<_>>(), "same seed, same delays");
    let other = Backoff { seed: 42, ..b };
    assert_ne!(a, other.delays().collect::<Vec<_>>());
    let plain: Vec<_> = Backoff { jitter: 0.0, ..b }.delays().collect();
    for (d, p) in a.iter().zip(&plain) {
        assert!(
            d.as_secs_f64() >= p.as_secs_f64() * 0.5 - 1e-9 && *d <= b.max,
            "{d:?} vs {p:?}"
        );
    }
}

#[test]
fn bad_config_is_rejected() {
    let bad = [
        Backoff {
            first: Duration::ZERO,
            ..Backoff::default()
        },
        Backoff {
            max: ms(1),
            ..Backoff::default()
        },
        Backoff {
            factor: 0.5,
            ..Backoff::default()
        },
        Backoff {
            jitter: 1.5,
            ..Backoff::default()
        },
    ];
    for b in bad {
        assert!(range(0, 1).retry_backoff(b).is_err(), "{b:?}");
    }
}

#[test]
fn conformance() {
    tck::verify_publisher_with(
        tck::publisher_factory(|n| range(0, n).retry_backoff(no_jitter(2)).unwrap())
            .max_elements(1_000),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The resubscriptions happen exactly at the cumulative delays `Backoff::delays`
    /// promises, for any seed and jitter.
    #[test]
    fn resubscribes_at_the_documented_delays(seed in any::<u64>(), jitter in 0.0f64..=1.0, retries in 0u64..5) {
        let backoff = Backoff { first: ms(10), max: ms(200), jitter, max_retries: retries, seed, ..Backoff::default() };
        let vs = VirtualScheduler::new();
        let (sub, h) = TestSubscriber::<u8, &str>::with_scheduler(1, vs.clone());
        error("down").retry_backoff(backoff).unwrap().subscribe(sub);
        vs.run_until_idle().unwrap();
        let total: Duration = backoff.delays().sum();
        let last = h.events().last().cloned().unwrap();
        let failed = matches!(last.signal, Signal::Error(Error::User("down")));
        prop_assert!(failed);
        // Virtual time has nanosecond resolution; allow rounding per delay.
        let diff = last.at.as_secs_f64() - total.as_secs_f64();
        prop_assert!(diff.abs() < 1e-6 * (retries as f64 + 1.0), "{:?} vs {:?}", last.at, total);
    }
}
