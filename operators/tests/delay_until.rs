//! `delay_until`: each item waits for a publisher built from it, one at a time, in
//! order. Demand, ordering, terminal signals, a trigger's error and panic, a
//! non-compliant upstream, synchronous triggers over many items (no stack growth), and
//! the ways users run it. Conformance is in `conformance_every_operator.rs`.

mod rate_control;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use rate_control::*;
use spillway::operators::{DropReason, OperatorExt};
use spillway::prelude::*;
use spillway_testkit::{TestPublisher, Violation};

/// The triggers made so far, in order, each a test publisher the test fires by hand.
#[derive(Clone, Default)]
struct Triggers(Arc<Mutex<Vec<Made>>>);

/// A trigger, with the item it was made for.
type Made = (u32, TestPublisher<(), ()>);

impl Triggers {
    fn make(&self) -> impl Fn(&u32) -> spillway_testkit::TestPublisherSource<(), ()> {
        let all = self.0.clone();
        move |x| {
            let t = TestPublisher::new();
            all.lock().unwrap().push((*x, t.clone()));
            t.publisher()
        }
    }

    fn last(&self) -> Made {
        self.0.lock().unwrap().last().expect("a trigger").clone()
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

#[test]
fn one_item_at_a_time_each_released_by_its_trigger() {
    let (vs, tp) = rig();
    let triggers = Triggers::default();
    let op = tp.publisher().delay_until(triggers.make());
    let stats = op.stats();
    let h = subscribe(op, &vs, 5);
    assert_eq!(tp.total_requested(), 1, "one item at a time");
    tp.next(1);
    let (x, t) = triggers.last();
    assert_eq!(x, 1);
    h.assert_items(&[]);
    t.next(());
    assert!(t.is_cancelled(), "a trigger that emitted is cancelled");
    h.assert_items(&[1]);
    assert_eq!(
        tp.total_requested(),
        2,
        "the next item only after the release"
    );
    tp.next(2);
    triggers.last().1.complete(); // completion releases too
    h.assert_items(&[1, 2]);
    tp.complete();
    h.assert_complete();
    assert_eq!(triggers.count(), 2);
    assert_balanced(&stats);
}

#[test]
fn nothing_is_requested_without_downstream_demand() {
    let (vs, tp) = rig();
    let triggers = Triggers::default();
    let h = subscribe(tp.publisher().delay_until(triggers.make()), &vs, 0);
    assert_eq!(tp.total_requested(), 0);
    h.request(1);
    tp.next(1);
    triggers.last().1.next(());
    h.assert_items(&[1]);
    assert_eq!(
        tp.total_requested(),
        1,
        "demand used up: nothing more asked"
    );
}

#[test]
fn upstreams_end_waits_for_the_held_item() {
    for error in [false, true] {
        let (vs, tp) = rig();
        let triggers = Triggers::default();
        let h = subscribe(tp.publisher().delay_until(triggers.make()), &vs, 5);
        tp.next(1);
        if error {
            tp.error(());
        } else {
            tp.complete();
        }
        h.assert_not_terminated();
        triggers.last().1.next(());
        h.assert_items(&[1]);
        if error {
            h.assert_error_matches(|e| matches!(e, spillway::Error::User(())));
        } else {
            h.assert_complete();
        }
    }
}

#[test]
fn a_triggers_error_fails_at_once_and_drops_the_held_item() {
    let (vs, tp) = rig();
    let triggers = Triggers::default();
    let op = tp.publisher().delay_until(triggers.make());
    let stats = op.stats();
    let h = subscribe(op, &vs, 5);
    tp.next(1);
    triggers.last().1.error(());
    h.assert_items(&[]);
    h.assert_error_matches(|e| matches!(e, spillway::Error::User(())));
    assert!(tp.is_cancelled());
    assert_eq!(stats.snapshot().dropped_for(DropReason::Discarded), 1);
    assert_balanced(&stats);
}

#[test]
fn a_panicking_trigger_function_fails_the_stream() {
    let (vs, tp) = rig();
    let op =
        tp.publisher()
            .delay_until(|_: &u32| -> spillway_testkit::TestPublisherSource<(), ()> {
                panic!("no trigger")
            });
    let stats = op.stats();
    let h = subscribe(op, &vs, 5);
    tp.next(1);
    h.assert_error_matches(|e| {
        matches!(e, spillway::Error::Panicked { stage: "delay_until", message } if message == "no trigger")
    });
    assert!(tp.is_cancelled());
    assert_eq!(stats.snapshot().dropped_for(DropReason::Discarded), 1);
    assert_balanced(&stats);
}

#[test]
fn cancel_stops_upstream_and_the_pending_trigger() {
    let (vs, tp) = rig();
    let triggers = Triggers::default();
    let op = tp.publisher().delay_until(triggers.make());
    let stats = op.stats();
    let h = subscribe(op, &vs, 5);
    tp.next(1);
    h.cancel();
    assert!(tp.is_cancelled());
    assert!(triggers.last().1.is_cancelled());
    assert_eq!(stats.snapshot().dropped_for(DropReason::Discarded), 1);
}

#[test]
fn non_compliant_upstream_is_a_protocol_violation() {
    let vs = spillway_testkit::VirtualScheduler::new();
    let tp = TestPublisher::<u32, ()>::non_compliant(&[Violation::EmitWithoutDemand])
        .with_scheduler(vs.clone());
    let triggers = Triggers::default();
    let h = subscribe(tp.publisher().delay_until(triggers.make()), &vs, 5);
    tp.next(1).next(2); // only one was requested
    h.assert_error_matches(|e| matches!(e, spillway::Error::ProtocolViolation { .. }));
    assert!(tp.is_cancelled());
}

#[test]
fn request_zero_is_invalid() {
    let (vs, tp) = rig();
    let triggers = Triggers::default();
    let h = subscribe(tp.publisher().delay_until(triggers.make()), &vs, 0);
    h.request(0);
    h.assert_error_matches(|e| matches!(e, spillway::Error::InvalidRequest { .. }));
    assert!(tp.is_cancelled());
}

/// Triggers that fire inside their own `subscribe` (`empty()`), over a synchronous
/// source: each release asks for the next item at once, which must not nest one item's
/// release inside the previous one's: 200,000 items on a small thread stack.
#[test]
fn synchronous_triggers_do_not_grow_the_stack() {
    let worker = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            futures::executor::block_on(
                range(0, 200_000)
                    .delay_until(|_| empty::<(), std::convert::Infallible>())
                    .count(),
            )
        })
        .unwrap();
    assert_eq!(worker.join().expect("no stack overflow").unwrap(), 200_000);
}

/// As users run it: a per-item delay (the item's value in seconds) on tokio's clock.
#[tokio::test(start_paused = true)]
async fn awaited_under_tokio_with_per_item_delays() {
    let start = tokio::time::Instant::now();
    let out = from_iter(vec![3u64, 1, 2])
        .delay_until(|s| interval(Duration::from_secs(*s)).unwrap().take(1))
        .collect()
        .await
        .unwrap();
    assert_eq!(out, vec![3, 1, 2]);
    assert_eq!(start.elapsed(), Duration::from_secs(6));
}

/// A slow consumer inside `tokio::spawn`: the producer is paced by the consumer's
/// demand, one item in the stage at a time.
#[tokio::test(start_paused = true)]
async fn inside_tokio_spawn_with_a_slow_consumer() {
    let task = tokio::spawn(async {
        let mut stream = range(0, 5)
            .delay_until(|_| interval(Duration::from_millis(10)).unwrap().take(1))
            .into_stream(1);
        let mut seen = Vec::new();
        use futures::StreamExt;
        while let Some(x) = stream.next().await {
            seen.push(x.unwrap());
            tokio::time::sleep(Duration::from_millis(100)).await; // the slow consumer
        }
        seen
    });
    assert_eq!(task.await.unwrap(), vec![0, 1, 2, 3, 4]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Random requests and releases: items come out in order, never more than requested,
    /// and every item is emitted once its trigger fired.
    #[test]
    fn order_and_demand_hold(events in proptest::collection::vec((0u8..2, 1u64..3), 0..40)) {
        let (vs, tp) = rig();
        let triggers = Triggers::default();
        let op = tp.publisher().delay_until(triggers.make());
        let stats = op.stats();
        let h = subscribe(op, &vs, 0);
        let mut requested = 0u64;
        let mut sent = 0u32;
        for (kind, n) in events {
            if kind == 0 {
                h.request(n);
                requested += n;
            } else if triggers.count() > 0 {
                triggers.last().1.next(());
            }
            // Upstream sends whatever the stage asked for.
            while tp.outstanding() > 0 {
                sent += 1;
                tp.next(sent);
            }
        }
        let items = h.items();
        prop_assert!(items.len() as u64 <= requested);
        prop_assert_eq!(items, (1..=h.items().len() as u32).collect::<Vec<_>>());
        prop_assert!(sent as usize - h.items().len() <= 1, "at most one item held");
        h.assert_no_protocol_violations();
        assert_balanced(&stats);
    }
}
