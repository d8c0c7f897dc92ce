//! `MulticastProcessor`: a hot push source shared by many subscribers.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spillway::prelude::*;
use spillway::Error;
use spillway_operators::{DropReason, MulticastOverflow, MulticastProcessor, TryEmitError};
use spillway_testkit::tck::{self, publisher_factory, TckConfig};
use spillway_testkit::{TestPublisher, TestSubscriber, TestSubscriberHandle};

type Hot = MulticastProcessor<u64, Infallible>;

fn hot(policy: MulticastOverflow, capacity: usize) -> Hot {
    MulticastProcessor::new(policy, capacity).unwrap()
}

fn attach(p: &Hot, n: u64) -> TestSubscriberHandle<u64, Infallible> {
    let (s, h) = TestSubscriber::new(n);
    p.clone().subscribe(s);
    h
}

#[test]
fn zero_capacity_is_a_config_error() {
    assert!(Hot::new(MulticastOverflow::Buffer, 0).is_err());
}

#[test]
fn pushes_reach_every_subscriber_as_it_requests() {
    let p = hot(MulticastOverflow::Buffer, 8);
    let a = attach(&p, u64::MAX);
    let b = attach(&p, 1);
    assert_eq!(p.try_next(1), Ok(2));
    assert_eq!(p.try_next(2), Ok(2));
    a.assert_items(&[1, 2]);
    b.assert_items(&[1]);
    b.request(1);
    b.assert_items(&[1, 2]);
    p.complete();
    a.assert_complete();
    b.assert_complete();
    assert!(matches!(p.try_next(3), Err(TryEmitError::Closed(3))));
    let s = p.stats().snapshot();
    assert_eq!((s.received, s.emitted, s.buffered), (2, 2, 0));
    assert!(s.is_balanced());
}

#[test]
fn buffer_policy_is_lossless_and_paced_by_the_slowest() {
    let p = hot(MulticastOverflow::Buffer, 3);
    let fast = attach(&p, u64::MAX);
    let slow = attach(&p, 0);
    for i in 0..3 {
        p.try_next(i).unwrap();
    }
    // The slowest is 3 behind: the next one comes back, nothing lost.
    assert_eq!(p.try_next(3), Err(TryEmitError::Full(3)));
    fast.assert_items(&[0, 1, 2]);
    slow.request(1);
    assert_eq!(p.try_next(3), Ok(2));
    slow.request(10);
    slow.assert_items(&[0, 1, 2, 3]);
    fast.assert_items(&[0, 1, 2, 3]);
    let s = p.stats().snapshot();
    assert_eq!(s.dropped(), 0);
    assert!(s.is_balanced());
}

#[test]
fn buffer_policy_holds_items_for_the_first_subscriber() {
    let p = hot(MulticastOverflow::Buffer, 2);
    assert_eq!(p.try_next(1), Ok(0));
    assert_eq!(p.try_next(2), Ok(0));
    assert_eq!(p.try_next(3), Err(TryEmitError::Full(3)));
    let a = attach(&p, u64::MAX);
    a.assert_items(&[1, 2]);
    // A later subscriber sees only later items.
    let b = attach(&p, u64::MAX);
    p.try_next(3).unwrap();
    a.assert_items(&[1, 2, 3]);
    b.assert_items(&[3]);
}

#[test]
fn drop_oldest_evicts_only_for_the_laggards() {
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let d = dropped.clone();
    let p =
        hot(MulticastOverflow::DropOldest, 2).on_drop(move |x, r| d.lock().unwrap().push((x, r)));
    let fast = attach(&p, u64::MAX);
    let slow = attach(&p, 0);
    for i in 0..5 {
        assert_eq!(p.try_next(i), Ok(2), "DropOldest never refuses");
    }
    // The fast subscriber lost nothing; the slow one keeps the newest 2.
    fast.assert_items(&[0, 1, 2, 3, 4]);
    slow.request(10);
    slow.assert_items(&[3, 4]);
    assert_eq!(
        *dropped.lock().unwrap(),
        vec![
            (0, DropReason::Evicted),
            (1, DropReason::Evicted),
            (2, DropReason::Evicted)
        ]
    );
    let s = p.stats().snapshot();
    assert_eq!(
        (s.received, s.emitted, s.dropped_for(DropReason::Evicted)),
        (5, 2, 3)
    );
    assert!(s.is_balanced(), "{s}");
}

#[test]
fn error_policy_fails_every_subscriber_at_once() {
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let d = dropped.clone();
    let p = hot(MulticastOverflow::Error, 2).on_drop(move |x, r| d.lock().unwrap().push((x, r)));
    let fast = attach(&p, u64::MAX);
    let slow = attach(&p, 0);
    p.try_next(0).unwrap();
    p.try_next(1).unwrap();
    assert_eq!(p.try_next(2), Err(TryEmitError::Overflow(2)));
    for h in [&fast, &slow] {
        h.assert_error_matches(|e| {
            matches!(
                e,
                Error::Overflow {
                    stage: "multicast",
                    capacity: 2
                }
            )
        });
    }
    slow.assert_items(&[]);
    assert_eq!(
        *dropped.lock().unwrap(),
        vec![(0, DropReason::Discarded), (1, DropReason::Discarded)]
    );
    let s = p.stats().snapshot();
    assert_eq!((s.received, s.dropped()), (2, 2));
    assert!(s.is_balanced());
    assert!(p.is_terminated());
}

#[test]
fn error_reaches_every_subscriber_and_late_ones() {
    let p = MulticastProcessor::<u64, String>::new(MulticastOverflow::Buffer, 4).unwrap();
    let (a, ha) = TestSubscriber::<u64, String>::new(u64::MAX);
    p.clone().subscribe(a);
    p.try_next(1).unwrap();
    p.error("boom".into());
    ha.assert_items(&[1]);
    ha.assert_error_matches(|e| *e == Error::User("boom".to_string()));
    let (late, hl) = TestSubscriber::<u64, String>::new(0);
    p.clone().subscribe(late);
    hl.assert_error_matches(|e| *e == Error::User("boom".to_string()));
}

#[test]
fn a_cancelled_subscriber_stops_holding_the_others_back() {
    let p = hot(MulticastOverflow::Buffer, 2);
    let a = attach(&p, u64::MAX);
    let b = attach(&p, 0);
    p.try_next(0).unwrap();
    p.try_next(1).unwrap();
    assert!(p.try_next(2).is_err());
    b.cancel();
    assert_eq!(p.subscriber_count(), 1);
    assert_eq!(p.try_next(2), Ok(1));
    a.assert_items(&[0, 1, 2]);
    assert!(
        !p.is_terminated(),
        "a hot processor stays up without subscribers"
    );
}

#[test]
fn relay_of_an_upstream_is_paced_and_cancelled_on_complete() {
    let tp = TestPublisher::<u64, Infallible>::new();
    let p = hot(MulticastOverflow::Buffer, 4);
    tp.publisher().subscribe(p.clone());
    assert_eq!(tp.total_requested(), 4);
    let a = attach(&p, 0);
    for i in 0..4 {
        tp.next(i);
    }
    assert_eq!(tp.total_requested(), 4, "nothing released yet");
    a.request(3);
    assert_eq!(tp.total_requested(), 7, "replenished at 75%");
    // A second upstream is refused (rule 2.5).
    let tp2 = TestPublisher::<u64, Infallible>::new();
    tp2.publisher().subscribe(p.clone());
    tp2.assert_cancelled();
    // The pusher completes the processor: the relayed upstream is cancelled.
    p.complete();
    tp.assert_cancelled();
    a.request(10);
    a.assert_items(&[0, 1, 2, 3]);
    a.assert_complete();
}

#[test]
fn relay_forwards_upstream_completion() {
    let p = hot(MulticastOverflow::DropOldest, 4);
    let a = attach(&p, u64::MAX);
    range(0, 3).subscribe(p.clone());
    a.assert_items(&[0, 1, 2]);
    a.assert_complete();
}

#[test]
fn request_zero_fails_only_that_subscriber() {
    let p = hot(MulticastOverflow::Buffer, 4);
    let a = attach(&p, 0);
    let b = attach(&p, u64::MAX);
    a.request(0);
    a.assert_error_matches(|e| matches!(e, Error::InvalidRequest { stage: "multicast" }));
    p.try_next(5).unwrap();
    b.assert_items(&[5]);
}

#[test]
fn tck_relay_of_a_range() {
    tck::verify_publisher_with(
        publisher_factory(|n| {
            let p = hot(MulticastOverflow::Buffer, 16);
            range(0, n).subscribe(p.clone());
            p
        }),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

/// 4 subscribers on their own threads, requesting in random batches, while a producer
/// thread pushes 100,000 items under the lossless Buffer policy: each sees all of them,
/// in order, once. Waits are bounded; a deadlock fails the test instead of hanging it.
#[test]
fn stress_four_threads_one_producer_buffer_policy() {
    const N: u64 = 100_000;
    let p = hot(MulticastOverflow::Buffer, 64);
    let handles: Vec<_> = (0..4).map(|_| attach(&p, 0)).collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    std::thread::scope(|scope| {
        let producer = p.clone();
        scope.spawn(move || {
            for i in 0..N {
                let mut item = i;
                loop {
                    match producer.try_next(item) {
                        Ok(_) => break,
                        Err(TryEmitError::Full(back)) => {
                            assert!(Instant::now() < deadline, "producer stuck at {i}");
                            item = back;
                            std::thread::yield_now();
                        }
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                }
            }
            producer.complete();
        });
        for (k, h) in handles.iter().enumerate() {
            scope.spawn(move || {
                // A small xorshift: batches of 1..=97, different per thread.
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (k as u64 + 1);
                while !h.is_terminated() {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let batch = x % 97 + 1;
                    let target = h.item_count() + batch;
                    h.request(batch);
                    let reached = h.wait_until(Duration::from_secs(30), |ev| {
                        ev.len() as u64 > target || ev.iter().any(|e| e.signal.is_terminal())
                    });
                    assert!(reached, "subscriber {k} stalled at {}", h.item_count());
                }
            });
        }
    });
    let expected: Vec<u64> = (0..N).collect();
    for h in &handles {
        assert_eq!(h.items(), expected);
        h.assert_complete();
        h.assert_no_protocol_violations();
    }
    let s = p.stats().snapshot();
    assert_eq!((s.received, s.emitted, s.dropped()), (N, N, 0));
    assert!(s.is_balanced());
}

/// The same race under DropOldest: subscribers may miss items, but what each one sees
/// is strictly increasing (an in-order subsequence, no duplicates), and every push is
/// accounted for.
#[test]
fn stress_drop_oldest_in_order_without_duplicates() {
    const N: u64 = 50_000;
    let p = hot(MulticastOverflow::DropOldest, 16);
    let handles: Vec<_> = (0..4).map(|_| attach(&p, 0)).collect();
    std::thread::scope(|scope| {
        let producer = p.clone();
        scope.spawn(move || {
            for i in 0..N {
                producer.try_next(i).unwrap();
            }
            producer.complete();
        });
        for (k, h) in handles.iter().enumerate() {
            scope.spawn(move || {
                let batch = [1, 5, 32, 200][k];
                let deadline = Instant::now() + Duration::from_secs(120);
                while !h.is_terminated() {
                    assert!(Instant::now() < deadline, "subscriber {k} stuck");
                    h.request(batch);
                    let seen = h.event_count();
                    h.wait_until(Duration::from_millis(50), |ev| ev.len() > seen);
                }
            });
        }
    });
    for h in &handles {
        let items = h.items();
        assert!(
            items.windows(2).all(|w| w[0] < w[1]),
            "in order, no duplicates"
        );
        assert_eq!(
            items.last(),
            Some(&(N - 1)),
            "the newest item always arrives"
        );
        h.assert_complete();
        h.assert_no_protocol_violations();
    }
    let s = p.stats().snapshot();
    assert_eq!(s.received, N);
    assert!(s.is_balanced(), "{s}");
}

/// Virtual-time scenario (marble-friendly): a hot marble source relayed by a
/// DropOldest processor of capacity 1 to a subscriber that requests one item per 4
/// frames; returns its recording and the processor's stats.
fn scenario_slow_subscriber_of_a_relay() -> (
    TestSubscriberHandle<u64, Infallible>,
    spillway_operators::FlowSnapshot,
) {
    use spillway_testkit::{marble, VirtualScheduler};
    let vs = VirtualScheduler::new();
    let values = [('a', 1), ('b', 2), ('c', 3), ('d', 4), ('e', 5)];
    let source = marble::hot(
        "^-a-b-c-d-e-|",
        &values,
        None::<Error<Infallible>>,
        vs.clone(),
    );
    let p = hot(MulticastOverflow::DropOldest, 1);
    let (s, h) = TestSubscriber::with_scheduler(1, vs.clone());
    p.clone().subscribe(s);
    source.subscribe(p.clone());
    for _ in 0..4 {
        vs.advance_by(Duration::from_millis(4));
        h.request(1);
    }
    vs.advance_by(Duration::from_millis(4));
    (h, p.stats().snapshot())
}

#[test]
fn virtual_time_slow_subscriber_of_a_drop_oldest_relay() {
    let (h, stats) = scenario_slow_subscriber_of_a_relay();
    // t=2 a uses the first request; b (t=4) is taken by the request at t=4; c (t=6) is
    // evicted by d (t=8), taken at t=8; e (t=10) is taken at t=12, then completion.
    h.assert_items(&[1, 2, 4, 5]);
    h.assert_complete();
    assert_eq!(
        (
            stats.received,
            stats.emitted,
            stats.dropped_for(DropReason::Evicted)
        ),
        (5, 4, 1)
    );
    assert!(stats.is_balanced());
}
