//! Marble snapshots of the windowing operators (window, window_timeout, group_by): completion,
//! error, cancellation and slow demand, on virtual time with 1ms frames. Each window is
//! flattened with `concat_map`, its items drawn as `(window index, item)` in the legend;
//! the outer-only pictures draw each window as its index. Groups are flattened with
//! `flat_map`, their items drawn as `(key, item)`.
//! Pictures are drawn by `marble_kit::picture` (downstream lanes, then upstream).

mod marble_kit;

use marble_kit::{ms, picture, Rig};
use spillway::operators::OperatorExt;
use spillway::prelude::*;

const FAST: &str = "123456789|";
const SLOW: &str = "r1---r1---r1---r1";

type Tagged = (u64, u32);

/// Each window's items tagged with the window's index, windows one after another.
fn tagged<P>(windows: P) -> impl Publisher<Item = Tagged, Error = &'static str>
where
    P: Publisher<
        Item = spillway::operators::UnicastWindow<u32, &'static str>,
        Error = &'static str,
    >,
{
    windows.concat_map(|w| {
        let i = w.index();
        w.map(move |x| (i, x))
    })
}

fn window(
    rig: &Rig,
    source: &str,
    size: usize,
) -> impl Publisher<Item = Tagged, Error = &'static str> {
    let op = rig.cold(source).window(size).unwrap();
    rig.stats(op.stats());
    tagged(op)
}

fn window_timeout(
    rig: &Rig,
    source: &str,
    size: usize,
    frames: u64,
) -> impl Publisher<Item = Tagged, Error = &'static str> {
    let op = rig.cold(source).window_timeout(size, ms(frames)).unwrap();
    rig.stats(op.stats());
    tagged(op)
}

// ------------------------------------------------------------ window

#[test]
fn window_completion_closes_the_partial_window() {
    // The doc marble: [5] is the last, partial window.
    let p = picture("r∞", 14, |rig| window(rig, "-1-2-3-4-5-|", 2));
    insta::assert_snapshot!("window_completion", p);
}

#[test]
fn window_error_reaches_the_open_window() {
    let p = picture("r∞", 10, |rig| window(rig, "-1-2-3#", 2));
    insta::assert_snapshot!("window_error", p);
}

#[test]
fn window_cancel() {
    let p = picture("r∞-----x", 10, |rig| window(rig, "-1-2-3-4|", 2));
    insta::assert_snapshot!("window_cancel", p);
}

#[test]
fn window_slow_demand() {
    // `concat_map` asks one window at a time: 3 items upstream per window.
    let p = picture(SLOW, 16, |rig| window(rig, FAST, 3));
    insta::assert_snapshot!("window_slow_demand", p);
}

#[test]
fn window_unsubscribed_windows_are_dropped() {
    // The outer stream only: each window drawn as its index and dropped unsubscribed,
    // which cancels it (its items discarded); the stream goes on.
    let p = picture("r∞", 10, |rig| {
        let op = rig.cold("-1-2-3-4-5|").window(2).unwrap();
        rig.stats(op.stats());
        op.map(|w| w.index())
    });
    insta::assert_snapshot!("window_unsubscribed", p);
}

// ------------------------------------------------------------ window_timeout

#[test]
fn window_timeout_closes_by_count_or_timer() {
    // The doc marble: [1,2] by count, [3] and [4] by their timers.
    let p = picture("r∞", 20, |rig| {
        window_timeout(rig, "-1-2-3-------4-----|", 2, 4)
    });
    insta::assert_snapshot!("window_timeout_count_or_timer", p);
}

#[test]
fn window_timeout_error_reaches_the_open_window() {
    let p = picture("r∞", 10, |rig| window_timeout(rig, "-1-2-3#", 2, 4));
    insta::assert_snapshot!("window_timeout_error", p);
}

#[test]
fn window_timeout_cancel() {
    let p = picture("r∞-----x", 10, |rig| {
        window_timeout(rig, "-1-2-3-4|", 3, 4)
    });
    insta::assert_snapshot!("window_timeout_cancel", p);
}

#[test]
fn window_timeout_slow_demand() {
    let p = picture(SLOW, 16, |rig| window_timeout(rig, FAST, 3, 2));
    insta::assert_snapshot!("window_timeout_slow_demand", p);
}

// ------------------------------------------------------------ group_by

/// Every group at once (`flat_map` of concurrency `groups`), items tagged with their key.
fn grouped(
    rig: &Rig,
    source: &str,
    keys: u32,
    buffer: usize,
    groups: usize,
) -> impl Publisher<Item = (u32, u32), Error = &'static str> {
    let op = rig
        .cold(source)
        .group_by(move |x| x % keys)
        .buffer(buffer)
        .unwrap();
    rig.stats(op.stats());
    op.flat_map(
        |g| {
            let k = *g.key();
            g.map(move |x| (k, x))
        },
        groups,
        1,
    )
    .unwrap()
}

#[test]
fn group_by_completion() {
    // The doc marble: odd and even.
    let p = picture("r∞", 14, |rig| grouped(rig, "-1-2-3-4-5-|", 2, 4, 2));
    insta::assert_snapshot!("group_by_completion", p);
}

#[test]
fn group_by_error_reaches_every_group() {
    let p = picture("r∞", 10, |rig| grouped(rig, "-1-2-3#", 2, 4, 2));
    insta::assert_snapshot!("group_by_error", p);
}

#[test]
fn group_by_cancel() {
    let p = picture("r∞-----x", 10, |rig| grouped(rig, "-1-2-3-4|", 2, 4, 2));
    insta::assert_snapshot!("group_by_cancel", p);
}

#[test]
fn group_by_slow_demand() {
    // The buffer of 4 bounds what upstream is asked for ahead of the slow consumer.
    let p = picture(SLOW, 16, |rig| grouped(rig, FAST, 2, 4, 2));
    insta::assert_snapshot!("group_by_slow_demand", p);
}

#[test]
fn group_by_trap_fails() {
    // Three keys, one group consumed at a time, a buffer of 2: the items of keys 2 and
    // 0 fill the buffer while group 1 waits for its next item: the typed error, no hang.
    let p = picture("r∞", 10, |rig| grouped(rig, "-1-2-3-4-5-|", 3, 2, 1));
    insta::assert_snapshot!("group_by_trap", p);
}
