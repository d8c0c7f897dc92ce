//! Marble snapshots of the multicasting operators (publish, share / ref_count, replay,
//! MulticastProcessor): two subscribers, a late subscriber, completion, error,
//! cancellation and a slow subscriber, on virtual time, one frame = 1ms.
//!
//! The scenario's subscriber is `A` (lanes `items` / `demand`); `B` is subscribed at a
//! later frame with `Rig::subscribe_at` (lanes `B items`, `^` at its subscription, and
//! `B demand`, whose plan counts from that subscription); `up` is the shared upstream.

mod marble_kit;

use marble_kit::{ms, picture};
use spillway::operators::{MulticastOverflow, MulticastProcessor, OperatorExt};
use spillway::prelude::*;
use spillway_core::SchedulerExt as _;

/// Connects at frame 0, once A has subscribed (the upstream then runs on the virtual
/// scheduler of the subscribers' context).
fn connect_at_0<P>(rig: &marble_kit::Rig, p: &spillway::operators::Publish<P>)
where
    P: Publisher + Send + 'static,
    P::Item: Clone + Send + 'static,
    P::Error: Clone + Send + 'static,
{
    let p = p.clone();
    let _ = rig.vs.run_after(ms(0), move || {
        p.connect();
    });
}

// ------------------------------------------------------------ publish

#[test]
fn publish_late_subscriber() {
    // B subscribes at frame 4: it sees 3, 4 and the completion, not 1 and 2.
    let p = picture("r∞", 12, |rig| {
        let p = rig.cold("-1-2-3-4-|").publish();
        connect_at_0(rig, &p);
        rig.subscribe_at("B", 4, "r∞", p.clone());
        p
    });
    insta::assert_snapshot!("publish_late_subscriber", p);
}

#[test]
fn publish_slow_subscriber() {
    // prefetch 2: B takes one item every 4 frames; A runs ahead by at most the prefetch,
    // then upstream pauses until B catches up (B subscribed before the connection).
    let p = picture("r∞", 30, |rig| {
        let p = rig.cold("123456|").publish().prefetch(2).unwrap();
        rig.subscribe_at("B", 0, "r1---r1---r1---r1---r1---r1", p.clone());
        connect_at_0(rig, &p);
        p
    });
    insta::assert_snapshot!("publish_slow_subscriber", p);
}

#[test]
fn publish_error() {
    // The error reaches both subscribers.
    let p = picture("r∞", 10, |rig| {
        let p = rig.cold("-1-2-#").publish();
        connect_at_0(rig, &p);
        rig.subscribe_at("B", 2, "r∞", p.clone());
        p
    });
    insta::assert_snapshot!("publish_error", p);
}

#[test]
fn publish_one_cancels() {
    // A cancels at frame 4: B goes on, upstream is not cancelled.
    let p = picture("r∞---x", 12, |rig| {
        let p = rig.cold("-1-2-3-4-|").publish();
        connect_at_0(rig, &p);
        rig.subscribe_at("B", 2, "r∞", p.clone());
        p
    });
    insta::assert_snapshot!("publish_one_cancels", p);
}

// ------------------------------------------------------------ share (ref_count)

#[test]
fn share_last_out_cancels() {
    // Connects when A subscribes; A leaves at 4, B (from 2) at 7: the last one out
    // cancels upstream.
    let p = picture("r∞---x", 12, |rig| {
        let s = rig.cold("-1-2-3-4-5-|").share();
        rig.subscribe_at("B", 2, "r∞----x", s.clone());
        s
    });
    insta::assert_snapshot!("share_last_out_cancels", p);
}

#[test]
fn share_completion() {
    let p = picture("r∞", 10, |rig| {
        let s = rig.cold("-1-2-3|").share();
        rig.subscribe_at("B", 2, "r∞", s.clone());
        s
    });
    insta::assert_snapshot!("share_completion", p);
}

#[test]
fn ref_count_waits_for_two() {
    // ref_count(2): connects only when B, the second subscriber, arrives at frame 3.
    let p = picture("r∞", 12, |rig| {
        let s = rig.cold("-1-2-3|").publish().ref_count(2).unwrap();
        rig.subscribe_at("B", 3, "r∞", s.clone());
        s
    });
    insta::assert_snapshot!("ref_count_waits_for_two", p);
}

// ------------------------------------------------------------ replay

#[test]
fn replay_late_subscriber() {
    // replay(2): B at frame 6 gets 2 and 3 (the last two) at once, then follows live.
    let p = picture("r∞", 12, |rig| {
        let r = rig.cold("-1-2-3-4-|").replay(2).unwrap();
        connect_at_0(rig, &r);
        rig.subscribe_at("B", 6, "r∞", r.clone());
        r
    });
    insta::assert_snapshot!("replay_late_subscriber", p);
}

#[test]
fn replay_late_slow_subscriber() {
    // The history is delivered only as B requests it.
    let p = picture("r∞", 20, |rig| {
        let r = rig.cold("-1-2-3-4-|").replay(2).unwrap();
        connect_at_0(rig, &r);
        rig.subscribe_at("B", 6, "r1---r1---r1---r1", r.clone());
        r
    });
    insta::assert_snapshot!("replay_late_slow_subscriber", p);
}

#[test]
fn replay_after_completion() {
    // B arrives after the completion: the last two items, then the completion.
    let p = picture("r∞", 12, |rig| {
        let r = rig.cold("-1-2-3|").replay(2).unwrap();
        connect_at_0(rig, &r);
        rig.subscribe_at("B", 8, "r∞", r.clone());
        r
    });
    insta::assert_snapshot!("replay_after_completion", p);
}

// ------------------------------------------------------------ MulticastProcessor

/// A processor fed from virtual-time timers: `pushes` (frame, item), then `end` at
/// frame `end_at` (complete, or error when `fail`).
fn processor(
    rig: &marble_kit::Rig,
    capacity: usize,
    pushes: &[(u64, u32)],
    end_at: u64,
    fail: bool,
) -> MulticastProcessor<u32, &'static str> {
    let hot = MulticastProcessor::new(MulticastOverflow::DropOldest, capacity)
        .unwrap()
        .on_drop(rig.drops());
    rig.stats(hot.stats());
    for &(at, x) in pushes {
        let h = hot.clone();
        let _ = rig.vs.run_after(ms(at), move || {
            let _ = h.try_next(x);
        });
    }
    let h = hot.clone();
    let _ = rig.vs.run_after(ms(end_at), move || {
        if fail {
            h.error("boom")
        } else {
            h.complete()
        }
    });
    hot
}

const PUSHES: &[(u64, u32)] = &[(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6)];

#[test]
fn multicast_two_subscribers() {
    // B subscribes at 3: it misses 1 and 2.
    let p = picture("r∞", 10, |rig| {
        let hot = processor(rig, 4, PUSHES, 8, false);
        rig.subscribe_at("B", 3, "r∞", hot.clone());
        hot
    });
    insta::assert_snapshot!("multicast_two_subscribers", p);
}

#[test]
fn multicast_slow_subscriber_drop_oldest() {
    // capacity 2, DropOldest: B (from 0) takes one every 4 frames; the oldest undelivered
    // item is evicted for B, A gets everything.
    let p = picture("r∞", 24, |rig| {
        let hot = processor(rig, 2, PUSHES, 8, false);
        rig.subscribe_at("B", 0, "r1---r1---r1---r1---r1", hot.clone());
        hot
    });
    insta::assert_snapshot!("multicast_slow_subscriber_drop_oldest", p);
}

#[test]
fn multicast_error() {
    let p = picture("r∞", 10, |rig| {
        let hot = processor(rig, 4, &PUSHES[..3], 4, true);
        rig.subscribe_at("B", 2, "r∞", hot.clone());
        hot
    });
    insta::assert_snapshot!("multicast_error", p);
}

#[test]
fn multicast_cancel() {
    // A cancels at 3; B goes on.
    let p = picture("r∞--x", 10, |rig| {
        let hot = processor(rig, 4, PUSHES, 8, false);
        rig.subscribe_at("B", 1, "r∞", hot.clone());
        hot
    });
    insta::assert_snapshot!("multicast_cancel", p);
}
