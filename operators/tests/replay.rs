//! `replay(n)`: a shared publisher that replays the last n items to late subscribers.

use std::convert::Infallible;

use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::{self, publisher_factory, TckConfig};
use spillway_testkit::{TestPublisher, TestSubscriber, TestSubscriberHandle};

fn attach<P>(p: &P, n: u64) -> TestSubscriberHandle<u64, Infallible>
where
    P: Publisher<Item = u64, Error = Infallible> + Clone,
{
    let (s, h) = TestSubscriber::new(n);
    p.clone().subscribe(s);
    h
}

#[test]
fn zero_history_is_a_config_error() {
    assert!(range(0, 1).replay(0).is_err());
}

#[test]
fn late_subscriber_gets_the_last_n_then_live_items() {
    let tp = TestPublisher::<u64, Infallible>::new();
    let cached = tp.publisher().replay(2).unwrap();
    let a = attach(&cached, u64::MAX);
    cached.connect();
    for i in 0..5 {
        tp.next(i);
    }
    let late = attach(&cached, u64::MAX);
    late.assert_items(&[3, 4]);
    tp.next(5);
    late.assert_items(&[3, 4, 5]);
    a.assert_items(&[0, 1, 2, 3, 4, 5]);
    let s = cached.stats().snapshot();
    assert_eq!((s.received, s.emitted, s.buffered), (6, 6, 0));
    assert!(s.is_balanced());
}

#[test]
fn replay_honours_the_late_subscribers_demand() {
    let cached = range(0, 10).replay(4).unwrap();
    let a = attach(&cached, u64::MAX);
    cached.connect();
    a.assert_item_count(10);
    let late = attach(&cached, 0);
    late.assert_items(&[]);
    late.assert_not_terminated();
    late.request(1);
    late.assert_items(&[6]);
    late.request(2);
    late.assert_items(&[6, 7, 8]);
    late.assert_not_terminated();
    late.request(1);
    late.assert_items(&[6, 7, 8, 9]);
    late.assert_complete();
    late.assert_no_protocol_violations();
}

#[test]
fn fewer_items_than_the_history() {
    let cached = range(0, 2).replay(5).unwrap();
    cached.connect();
    let late = attach(&cached, u64::MAX);
    late.assert_items(&[0, 1]);
    late.assert_complete();
}

#[test]
fn replayed_error_after_the_items() {
    let tp = TestPublisher::<u64, String>::new();
    let cached = tp.publisher().replay(1).unwrap();
    cached.connect();
    let (s, h) = TestSubscriber::<u64, String>::new(u64::MAX);
    cached.clone().subscribe(s);
    tp.next(1).next(2).error("boom".into());
    h.assert_items(&[1, 2]);
    let (s, late) = TestSubscriber::<u64, String>::new(u64::MAX);
    cached.clone().subscribe(s);
    late.assert_items(&[2]);
    late.assert_error_matches(|e| *e == Error::User("boom".to_string()));
}

#[test]
fn items_nobody_received_go_to_the_first_subscriber_beyond_the_history() {
    // Held items were never delivered, so they are not "history": the first subscriber
    // gets them all (lossless, as publish), the history then applies to later ones.
    let tp = TestPublisher::<u64, Infallible>::new();
    let cached = tp.publisher().replay(1).unwrap();
    cached.connect();
    tp.next(1).next(2);
    let first = attach(&cached, u64::MAX);
    first.assert_items(&[1, 2]);
    let second = attach(&cached, u64::MAX);
    second.assert_items(&[2]);
}

#[test]
fn history_does_not_count_against_the_prefetch() {
    let tp = TestPublisher::<u64, Infallible>::new();
    let cached = tp.publisher().replay(8).unwrap().prefetch(4).unwrap();
    let a = attach(&cached, u64::MAX);
    cached.connect();
    for i in 0..12 {
        tp.next(i);
    }
    a.assert_item_count(12);
    // 12 delivered, replenished in batches of 3: the history kept no demand back.
    let requests: Vec<u64> = tp.requests().iter().map(|r| r.1).collect();
    assert_eq!(requests, vec![4, 3, 3, 3, 3]);
    let late = attach(&cached, u64::MAX);
    late.assert_items(&(4..12).collect::<Vec<_>>());
}

#[test]
fn share_of_replay_cancels_upstream_with_the_last_subscriber() {
    let tp = TestPublisher::<u64, Infallible>::new();
    let cached = tp.publisher().replay(3).unwrap().ref_count(1).unwrap();
    let a = attach(&cached, u64::MAX);
    tp.next(1);
    a.assert_items(&[1]);
    a.cancel();
    tp.assert_cancelled();
}

#[test]
fn tck_replay_connected_on_subscribe() {
    tck::verify_publisher_with(
        publisher_factory(|n| range(0, n).replay(2).unwrap().ref_count(1).unwrap()),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}
