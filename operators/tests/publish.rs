//! `publish`, `share` and `ref_count`: one upstream, many subscribers, paced by the
//! slowest.

use std::convert::Infallible;
use std::time::Duration;

use proptest::prelude::*;
use spillway::prelude::*;
use spillway::Error;
use spillway_operators::{DropReason, Publish};
use spillway_testkit::tck::{self, publisher_factory, TckConfig};
use spillway_testkit::{PublisherProbe, TestPublisher, TestSubscriber, Violation};

type Sub = (
    TestSubscriber<u64, Infallible>,
    spillway_testkit::TestSubscriberHandle<u64, Infallible>,
);

fn sub(n: u64) -> Sub {
    TestSubscriber::new(n)
}

/// Sends each item (`TestPublisher::emit` also completes).
fn send<E: Send + 'static>(tp: &TestPublisher<u64, E>, items: std::ops::Range<u64>) {
    for i in items {
        tp.next(i);
    }
}

#[test]
fn normal_two_subscribers_see_everything() {
    let shared = range(0, 5).publish();
    let (a, ha) = sub(u64::MAX);
    let (b, hb) = sub(u64::MAX);
    shared.clone().subscribe(a);
    shared.clone().subscribe(b);
    assert_eq!(shared.subscriber_count(), 2);
    shared.connect();
    for h in [&ha, &hb] {
        h.assert_items(&[0, 1, 2, 3, 4]);
        h.assert_complete();
        h.assert_no_protocol_violations();
    }
    let s = shared.stats().snapshot();
    assert_eq!((s.received, s.emitted, s.buffered), (5, 5, 0));
    assert!(s.is_balanced());
}

#[test]
fn nothing_before_connect() {
    let (probed, probe) = PublisherProbe::wrap(range(0, 5));
    let shared = probed.publish();
    let (a, ha) = sub(u64::MAX);
    shared.clone().subscribe(a);
    probe.assert_not_subscribed();
    ha.assert_items(&[]);
    shared.connect();
    shared.connect(); // idempotent
    assert_eq!(probe.subscription_count(), 1);
    ha.assert_items(&[0, 1, 2, 3, 4]);
}

#[test]
fn demand_is_paced_by_the_slowest_subscriber() {
    let tp = TestPublisher::<u64, Infallible>::new();
    let shared = tp.publisher().publish().prefetch(8).unwrap();
    let (fast, hf) = sub(u64::MAX);
    let (slow, hs) = sub(0);
    shared.clone().subscribe(fast);
    shared.clone().subscribe(slow);
    shared.connect();
    assert_eq!(tp.total_requested(), 8, "the prefetch, once");
    send(&tp, 0..8);
    hf.assert_item_count(8);
    hs.assert_item_count(0);
    // The slow one has taken nothing: nothing released, no more demand upstream.
    assert_eq!(tp.total_requested(), 8);
    assert_eq!(shared.stats().snapshot().buffered, 8);
    // 5 delivered to the slow one: below the 75% mark (6), still no request.
    hs.request(5);
    assert_eq!(tp.total_requested(), 8);
    // The 6th crosses it: 6 more requested in one batch.
    hs.request(1);
    assert_eq!(tp.total_requested(), 14);
    assert_eq!(tp.outstanding(), 6);
    hs.request(100);
    hs.assert_items(&(0..8).collect::<Vec<_>>());
    // The fast one only ever ran `prefetch` ahead of the slow one.
    send(&tp, 8..14);
    hf.assert_item_count(14);
    hs.assert_item_count(14);
    tp.complete();
    hf.assert_complete();
    hs.assert_complete();
    assert!(shared.stats().snapshot().is_balanced());
}

#[test]
fn each_subscriber_gets_only_what_it_requested() {
    let shared = range(0, 100).publish().prefetch(16).unwrap();
    let (a, ha) = sub(3);
    let (b, hb) = sub(7);
    shared.clone().subscribe(a);
    shared.clone().subscribe(b);
    shared.connect();
    ha.assert_items(&[0, 1, 2]);
    hb.assert_items(&[0, 1, 2, 3, 4, 5, 6]);
    ha.request(4);
    ha.assert_item_count(7);
    hb.assert_item_count(7);
    ha.assert_not_terminated();
    ha.assert_no_protocol_violations();
    hb.assert_no_protocol_violations();
}

#[test]
fn late_subscriber_sees_only_later_items() {
    let tp = TestPublisher::<u64, Infallible>::new();
    let shared = tp.publisher().publish();
    let (a, ha) = sub(u64::MAX);
    shared.clone().subscribe(a);
    shared.connect();
    tp.next(1).next(2);
    let (b, hb) = sub(u64::MAX);
    shared.clone().subscribe(b);
    tp.next(3).next(4).complete();
    ha.assert_items(&[1, 2, 3, 4]);
    hb.assert_items(&[3, 4]);
    hb.assert_complete();
    // After the end, a late subscriber receives the terminal signal.
    let (c, hc) = sub(0);
    shared.clone().subscribe(c);
    hc.assert_items(&[]);
    hc.assert_complete();
}

#[test]
fn items_held_while_nobody_listens_go_to_the_first_subscriber() {
    let tp = TestPublisher::<u64, Infallible>::new();
    let shared = tp.publisher().publish().prefetch(4).unwrap();
    shared.connect();
    send(&tp, 0..4);
    // Paused: the prefetch is used up and nobody took anything.
    assert_eq!(tp.total_requested(), 4);
    let (a, ha) = sub(u64::MAX);
    shared.clone().subscribe(a);
    ha.assert_items(&[0, 1, 2, 3]);
    // 3 released (75% of 4) made the first replenishing request.
    assert_eq!(
        tp.requests().iter().map(|r| r.1).collect::<Vec<_>>(),
        vec![4, 3]
    );
}

#[test]
fn error_reaches_every_subscriber_after_its_items() {
    let tp = TestPublisher::<u64, String>::new();
    let shared = tp.publisher().publish();
    let (a, ha) = TestSubscriber::<u64, String>::new(u64::MAX);
    let (b, hb) = TestSubscriber::<u64, String>::new(0);
    shared.clone().subscribe(a);
    shared.clone().subscribe(b);
    shared.connect();
    tp.next(1).error("boom".to_string());
    ha.assert_items(&[1]);
    ha.assert_error_matches(|e| *e == Error::User("boom".to_string()));
    // Without demand, b still has its item to take before the error.
    hb.assert_not_terminated();
    hb.request(1);
    hb.assert_items(&[1]);
    hb.assert_error_matches(|e| *e == Error::User("boom".to_string()));
}

#[test]
fn completion_reaches_a_subscriber_without_demand() {
    let shared = empty::<u64, Infallible>().publish();
    let (a, ha) = sub(0);
    shared.clone().subscribe(a);
    shared.connect();
    ha.assert_complete();
}

#[test]
fn a_subscriber_cancelling_does_not_affect_the_others() {
    let tp = TestPublisher::<u64, Infallible>::new();
    let shared = tp.publisher().publish().prefetch(4).unwrap();
    let (a, ha) = sub(u64::MAX);
    let (b, hb) = sub(0);
    shared.clone().subscribe(a);
    shared.clone().subscribe(b);
    shared.connect();
    send(&tp, 0..4);
    ha.assert_item_count(4);
    // b held everything back; cancelling it releases the queue and demand flows again.
    hb.cancel();
    assert_eq!(shared.subscriber_count(), 1);
    assert_eq!(tp.total_requested(), 8);
    send(&tp, 4..6);
    ha.assert_items(&[0, 1, 2, 3, 4, 5]);
    tp.assert_not_cancelled();
    hb.assert_items(&[]);
}

#[test]
fn share_connects_with_the_first_and_cancels_with_the_last() {
    let (probed, probe) = PublisherProbe::wrap(range(0, 1_000));
    let shared = probed.share();
    probe.assert_not_subscribed();
    let (a, ha) = sub(2);
    shared.clone().subscribe(a);
    probe.assert_subscribed();
    let (b, hb) = sub(1);
    shared.clone().subscribe(b);
    ha.assert_items(&[0, 1]);
    // The range filled the prefetch (256) at once; b only sees items after those, and
    // a, 254 items behind, holds upstream back.
    hb.assert_items(&[]);
    assert_eq!(probe.total_requested(), 256);
    ha.cancel();
    // a gone, the queue is released: demand flows again and b gets the next item.
    hb.assert_items(&[256]);
    probe.assert_not_cancelled();
    hb.cancel();
    probe.assert_cancelled();
    assert_eq!(probe.subscription_count(), 1);
    // The connection is over: a later subscriber is told so.
    let (c, hc) = sub(1);
    shared.clone().subscribe(c);
    hc.assert_error_matches(|e| {
        matches!(
            e,
            Error::Rejected {
                stage: "publish",
                ..
            }
        )
    });
    assert_eq!(probe.subscription_count(), 1);
    let s = shared.stats().snapshot();
    assert!(s.is_balanced(), "{s}");
}

#[test]
fn ref_count_waits_for_n_subscribers() {
    let tp = TestPublisher::<u64, Infallible>::new();
    let shared = tp.publisher().publish().ref_count(2).unwrap();
    let (a, ha) = sub(u64::MAX);
    shared.clone().subscribe(a);
    assert_eq!(tp.subscription_count(), 0);
    let (b, hb) = sub(u64::MAX);
    shared.clone().subscribe(b);
    tp.assert_subscribed();
    tp.next(7);
    ha.assert_items(&[7]);
    hb.assert_items(&[7]);
    ha.cancel();
    tp.assert_not_cancelled();
    hb.cancel();
    tp.assert_cancelled();
}

#[test]
fn ref_count_zero_is_a_config_error() {
    assert!(range(0, 1).publish().ref_count(0).is_err());
    assert!(range(0, 1).publish().prefetch(0).is_err());
    let used = range(0, 1).publish();
    let (a, _ha) = sub(0);
    used.clone().subscribe(a);
    assert!(used.prefetch(4).is_err(), "prefetch after subscribing");
}

#[test]
fn disconnect_cancels_upstream_and_discards() {
    let tp = TestPublisher::<u64, Infallible>::new();
    let dropped = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let d = dropped.clone();
    let shared = tp
        .publisher()
        .publish()
        .on_drop(move |x, r| d.lock().unwrap().push((x, r)));
    let (a, ha) = sub(1);
    shared.clone().subscribe(a);
    let connection = shared.connect();
    send(&tp, 0..3);
    ha.assert_items(&[0]);
    connection.disconnect();
    tp.assert_cancelled();
    ha.assert_error_matches(|e| matches!(e, Error::Rejected { .. }));
    assert_eq!(
        *dropped.lock().unwrap(),
        vec![(1, DropReason::Discarded), (2, DropReason::Discarded)]
    );
    let s = shared.stats().snapshot();
    assert_eq!((s.received, s.emitted, s.dropped()), (3, 1, 2));
    assert!(s.is_balanced());
}

#[test]
fn request_zero_fails_only_that_subscriber() {
    let tp = TestPublisher::<u64, Infallible>::new();
    let shared = tp.publisher().share();
    let (a, ha) = sub(0);
    let (b, hb) = sub(u64::MAX);
    shared.clone().subscribe(a);
    shared.clone().subscribe(b);
    ha.request(0);
    ha.assert_error_matches(|e| matches!(e, Error::InvalidRequest { .. }));
    tp.next(1);
    hb.assert_items(&[1]);
    tp.assert_not_cancelled();
}

#[test]
fn late_signals_after_terminal_are_dropped() {
    let tp = TestPublisher::<u64, Infallible>::non_compliant(&[
        Violation::EmitAfterTerminate,
        Violation::TerminateTwice,
    ]);
    let shared = tp.publisher().publish();
    let (a, ha) = sub(u64::MAX);
    shared.clone().subscribe(a);
    shared.connect();
    tp.next(1).complete();
    tp.next(2).complete();
    ha.assert_items(&[1]);
    ha.assert_complete();
    ha.assert_no_protocol_violations();
    let s = shared.stats().snapshot();
    assert_eq!(s.dropped_for(DropReason::Discarded), 1);
    assert!(s.is_balanced());
}

#[test]
fn an_upstream_emitting_without_demand_is_a_protocol_violation() {
    let tp = TestPublisher::<u64, Infallible>::non_compliant(&[Violation::EmitWithoutDemand]);
    let shared = tp.publisher().publish().prefetch(2).unwrap();
    let (a, ha) = sub(0);
    shared.clone().subscribe(a);
    shared.connect();
    send(&tp, 0..3);
    tp.assert_cancelled();
    ha.assert_items(&[]);
    ha.assert_error_matches(|e| {
        matches!(
            e,
            Error::ProtocolViolation {
                stage: "publish",
                ..
            }
        )
    });
    let s = shared.stats().snapshot();
    assert_eq!((s.received, s.dropped_for(DropReason::Discarded)), (3, 3));
    assert!(s.is_balanced());
}

#[test]
fn panicking_subscriber_is_removed_and_others_continue() {
    struct Bomb;
    impl Subscriber for Bomb {
        type Item = u64;
        type Error = Infallible;
        fn on_subscribe(&mut self, s: spillway::SharedSubscription) {
            s.request(u64::MAX);
        }
        fn on_next(&mut self, _: u64) {
            panic!("bomb");
        }
        fn on_error(&mut self, _: Error<Infallible>) {}
        fn on_complete(&mut self) {}
    }
    let shared = range(0, 3).publish();
    shared.clone().subscribe(Bomb);
    let (a, ha) = sub(u64::MAX);
    shared.clone().subscribe(a);
    // The panic cancels only the bomb; it reaches neither upstream nor the others.
    shared.connect();
    assert_eq!(shared.subscriber_count(), 0);
    ha.assert_items(&[0, 1, 2]);
    ha.assert_complete();
}

#[test]
fn tck_share_of_a_range_with_one_subscriber() {
    tck::verify_publisher_with(
        publisher_factory(|n| range(0, n).share()),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

#[test]
fn tck_publish_connected_on_subscribe() {
    // A `publish` connected right after its single subscriber arrives behaves as cold.
    struct Connecting(Publish<spillway::Range>);
    impl Publisher for Connecting {
        type Item = u64;
        type Error = Infallible;
        fn subscribe<S: Subscriber<Item = u64, Error = Infallible>>(self, s: S) {
            self.0.clone().subscribe(s);
            self.0.connect();
        }
    }
    tck::verify_publisher_with(
        publisher_factory(|n| Connecting(range(0, n).publish())),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

#[test]
fn concurrent_subscribers_share_one_upstream() {
    let shared = range(0, 20_000).publish().prefetch(32).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (s, h) = sub(0);
            shared.clone().subscribe(s);
            h
        })
        .collect();
    shared.connect();
    std::thread::scope(|scope| {
        for (i, h) in handles.iter().enumerate() {
            scope.spawn(move || {
                let batch = [1, 7, 64, 3][i];
                while !h.is_terminated() {
                    h.request(batch);
                    let want = h.item_count() + 1;
                    h.wait_until(Duration::from_secs(10), |ev| ev.len() as u64 > want);
                }
            });
        }
    });
    let expected: Vec<u64> = (0..20_000).collect();
    for h in &handles {
        h.assert_items(&expected);
        h.assert_complete();
        h.assert_no_protocol_violations();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Against a reference model: each subscriber receives exactly the items it asked
    /// for, in order, and upstream is never asked for more than `prefetch` beyond what
    /// the slowest subscriber took.
    #[test]
    fn model_random_request_schedules(
        prefetch in 1usize..10,
        steps in proptest::collection::vec((0usize..3, 1u64..6), 1..40),
    ) {
        let tp = TestPublisher::<u64, Infallible>::new();
        let shared = tp.publisher().publish().prefetch(prefetch).unwrap();
        let subs: Vec<_> = (0..3).map(|_| { let (s, h) = sub(0); shared.clone().subscribe(s); h }).collect();
        shared.connect();
        let mut next = 0u64;
        let mut requested = [0u64; 3];
        for (who, n) in steps {
            subs[who].request(n);
            requested[who] += n;
            // Upstream emits whatever it was asked for.
            while tp.outstanding() > 0 {
                tp.next(next);
                next += 1;
            }
            for (i, h) in subs.iter().enumerate() {
                let got = h.items();
                prop_assert_eq!(got.len() as u64, requested[i].min(next));
                prop_assert!(got.iter().copied().eq(0..got.len() as u64));
            }
            let slowest = subs.iter().map(|h| h.item_count()).min().unwrap();
            prop_assert!(next <= slowest + prefetch as u64);
            prop_assert!(shared.stats().snapshot().is_balanced());
        }
    }
}

/// Virtual-time scenario (marble-friendly): a hot marble source shared by two
/// subscribers, the second one arriving 3 frames late; returns both recordings.
fn scenario_share_of_a_hot_source() -> [spillway_testkit::TestSubscriberHandle<u64, Infallible>; 2]
{
    use spillway_testkit::{marble, VirtualScheduler};
    let vs = VirtualScheduler::new();
    let values = [('a', 1), ('b', 2), ('c', 3), ('d', 4)];
    let source = marble::hot(
        "^-a-b-c-d-|",
        &values,
        None::<Error<Infallible>>,
        vs.clone(),
    );
    let shared = source.share();
    let (a, ha) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
    shared.clone().subscribe(a);
    vs.advance_by(Duration::from_millis(4)); // a and b have happened
    let (b, hb) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
    shared.clone().subscribe(b);
    vs.advance_by(Duration::from_millis(10));
    [ha, hb]
}

#[test]
fn virtual_time_late_subscriber_of_a_shared_hot_source() {
    let [a, b] = scenario_share_of_a_hot_source();
    a.assert_items(&[1, 2, 3, 4]);
    b.assert_items(&[3, 4]);
    a.assert_complete();
    b.assert_complete();
    let diagram = spillway_testkit::marble::Diagram::from_handle(&b, Default::default());
    assert!(diagram.items().ends_with('|'), "{}", diagram.items());
}

/// Issue 11 §7: a `share` over an upstream that has finished, left by its only subscriber
/// with items undelivered, discards and counts them (received = emitted + dropped, nothing
/// buffered forever), and a later subscriber gets the terminal signal, not the old items.
#[test]
fn share_left_by_its_last_subscriber_after_upstream_finished_discards_and_counts_the_rest() {
    let shared = range(0, 10).share();
    let stats = shared.stats();
    let (a, ha) = sub(4);
    shared.clone().subscribe(a);
    ha.assert_items(&[0, 1, 2, 3]);
    ha.cancel();
    let s = stats.snapshot();
    assert_eq!(s.buffered, 0, "nothing held for no one: {s:?}");
    assert_eq!(s.received, 10);
    assert_eq!(s.emitted, 4);
    assert_eq!(s.dropped_for(DropReason::Discarded), 6, "{s:?}");
    let (b, hb) = sub(100);
    shared.subscribe(b);
    hb.assert_items(&[]);
    hb.assert_complete();
}
