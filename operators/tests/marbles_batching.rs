//! Marble snapshots of the batching operators (chunks, chunks_sliding, chunks_by_key,
//! chunks_timeout, chunks_every, chunks_with, chunks_weighted, batch_while_busy): completion (what is flushed), error, cancellation and slow demand,
//! on virtual time with 1ms frames. Batches are drawn as letters listed in the legend.
//! Pictures are drawn by `marble_kit::picture` (downstream lanes, then upstream).

mod marble_kit;

use marble_kit::{ms, picture, Rig};
use spillway::operators::OperatorExt;
use spillway::prelude::*;

/// A fast source (one item per frame) and a subscriber taking one batch every 4 frames.
const FAST: &str = "123456789|";
const SLOW: &str = "r1---r1---r1---r1";

type Batches = Vec<u32>;

// ------------------------------------------------------------ chunks

fn chunks(
    rig: &Rig,
    source: &str,
    size: usize,
) -> impl Publisher<Item = Batches, Error = &'static str> {
    let op = rig.cold(source).chunks(size).unwrap().on_drop(rig.drops());
    rig.stats(op.stats());
    op
}

#[test]
fn chunks_completion_flushes_the_partial_batch() {
    // The doc marble: [5] is flushed with the completion.
    let p = picture("r∞", 14, |rig| chunks(rig, "-1-2-3-4-5-|", 2));
    insta::assert_snapshot!("chunks_completion", p);
}

#[test]
fn chunks_error_discards_the_partial_batch() {
    let p = picture("r∞", 10, |rig| chunks(rig, "-1-2-3#", 2));
    insta::assert_snapshot!("chunks_error", p);
}

#[test]
fn chunks_cancel() {
    let p = picture("r∞-----x", 10, |rig| chunks(rig, "-1-2-3-4|", 2));
    insta::assert_snapshot!("chunks_cancel", p);
}

#[test]
fn chunks_slow_demand() {
    // Each requested batch is a request of 3 upstream: the source is paused in between.
    let p = picture(SLOW, 16, |rig| chunks(rig, FAST, 3));
    insta::assert_snapshot!("chunks_slow_demand", p);
}

// ------------------------------------------------------------ chunks_sliding

#[test]
fn chunks_sliding_completion_flushes_the_partial_windows() {
    // The doc marble: [4,5] and [5] are flushed with the completion.
    let p = picture("r∞", 14, |rig| {
        rig.cold("-1-2-3-4-5-|").chunks_sliding(3, 1).unwrap()
    });
    insta::assert_snapshot!("chunks_sliding_completion", p);
}

#[test]
fn chunks_sliding_skipping() {
    // The doc marble: 3 is between windows.
    let p = picture("r∞", 14, |rig| {
        rig.cold("-1-2-3-4-5-|").chunks_sliding(2, 3).unwrap()
    });
    insta::assert_snapshot!("chunks_sliding_skipping", p);
}

#[test]
fn chunks_sliding_error_discards_the_partial_windows() {
    let p = picture("r∞", 10, |rig| {
        rig.cold("-1-2-3#").chunks_sliding(2, 1).unwrap()
    });
    insta::assert_snapshot!("chunks_sliding_error", p);
}

#[test]
fn chunks_sliding_cancel() {
    let p = picture("r∞-----x", 10, |rig| {
        rig.cold("-1-2-3-4|").chunks_sliding(3, 1).unwrap()
    });
    insta::assert_snapshot!("chunks_sliding_cancel", p);
}

#[test]
fn chunks_sliding_slow_demand() {
    // The first requested window is 3 items upstream, each next one 1 (step).
    let p = picture(SLOW, 16, |rig| rig.cold(FAST).chunks_sliding(3, 1).unwrap());
    insta::assert_snapshot!("chunks_sliding_slow_demand", p);
}

// ------------------------------------------------------------ chunks_by_key

#[test]
fn chunks_by_key_completion_flushes_the_last_run() {
    // Runs of parity: [1,3] closed by 2, [2] by 5, [5,7] flushed with the completion.
    let p = picture("r∞", 14, |rig| {
        rig.cold("-1-3-2-5-7-|").chunks_by_key(|x| x % 2)
    });
    insta::assert_snapshot!("chunks_by_key_completion", p);
}

#[test]
fn chunks_by_key_error_discards_the_open_run() {
    let p = picture("r∞", 10, |rig| {
        rig.cold("-1-3-2#").chunks_by_key(|x| x % 2)
    });
    insta::assert_snapshot!("chunks_by_key_error", p);
}

#[test]
fn chunks_by_key_cancel() {
    let p = picture("r∞-----x", 10, |rig| {
        rig.cold("-1-3-2-4|").chunks_by_key(|x| x % 2)
    });
    insta::assert_snapshot!("chunks_by_key_cancel", p);
}

#[test]
fn chunks_by_key_slow_demand() {
    // Items one at a time, so that at most one run beyond demand can form.
    let p = picture(SLOW, 16, |rig| rig.cold("113355|").chunks_by_key(|x| *x));
    insta::assert_snapshot!("chunks_by_key_slow_demand", p);
}

// ------------------------------------------------------------ chunks_timeout

fn chunks_timeout(
    rig: &Rig,
    source: &str,
    size: usize,
    timeout: u64,
) -> impl Publisher<Item = Batches, Error = &'static str> {
    let op = rig
        .cold(source)
        .chunks_timeout(size, ms(timeout))
        .unwrap()
        .on_drop(rig.drops());
    rig.stats(op.stats());
    op
}

#[test]
fn chunks_timeout_completion() {
    // The doc marble: [1,2] full, [3] and [4] closed by the timer (4 frames after their
    // first item); then a last item, [5], flushed with the completion.
    let p = picture("r∞", 24, |rig| {
        chunks_timeout(rig, "-1-2-3-------4-----5|", 2, 4)
    });
    insta::assert_snapshot!("chunks_timeout_completion", p);
}

#[test]
fn chunks_timeout_error() {
    // [3] is open when the error comes: discarded, the error at once.
    let p = picture("r∞", 10, |rig| chunks_timeout(rig, "-1-2-3#", 2, 4));
    insta::assert_snapshot!("chunks_timeout_error", p);
}

#[test]
fn chunks_timeout_error_after_closed_batches() {
    // [1,2] goes out with the demand of 1; then [3] is closed by the timer (frame 8)
    // and held without demand; 4 is open when the error comes (frame 12): 4 is
    // discarded, the held [3] still goes first when requested (frame 14), then the error.
    let p = picture("r1-------------r∞", 18, |rig| {
        chunks_timeout(rig, "-1-2-3-----4#", 2, 3)
    });
    insta::assert_snapshot!("chunks_timeout_error_after_closed", p);
}

#[test]
fn chunks_timeout_cancel() {
    let p = picture("r∞-----x", 12, |rig| {
        chunks_timeout(rig, "-1-2-3-4|", 2, 4)
    });
    insta::assert_snapshot!("chunks_timeout_cancel", p);
}

#[test]
fn chunks_timeout_slow_demand() {
    // (demand + 1) * size items requested: a closed batch beyond demand is held and
    // upstream paused; never dropped.
    let p = picture(SLOW, 16, |rig| chunks_timeout(rig, FAST, 2, 3));
    insta::assert_snapshot!("chunks_timeout_slow_demand", p);
}

// ------------------------------------------------------------ chunks_weighted

fn chunks_weighted(
    rig: &Rig,
    source: &str,
    max: u64,
) -> impl Publisher<Item = Batches, Error = &'static str> {
    let op = rig
        .cold(source)
        .chunks_weighted(max, |x: &u32| u64::from(*x))
        .unwrap()
        .on_drop(rig.drops());
    rig.stats(op.stats());
    op
}

#[test]
fn chunks_weighted_completion() {
    // The doc marble: each item weighs its value; 9 is too heavy and goes alone; [1]
    // flushed with the completion.
    let p = picture("r∞", 14, |rig| chunks_weighted(rig, "-4-3-5-9-1-|", 8));
    insta::assert_snapshot!("chunks_weighted_completion", p);
}

#[test]
fn chunks_weighted_error() {
    let p = picture("r∞", 10, |rig| chunks_weighted(rig, "-4-3-5#", 8));
    insta::assert_snapshot!("chunks_weighted_error", p);
}

#[test]
fn chunks_weighted_cancel() {
    let p = picture("r∞-----x", 10, |rig| chunks_weighted(rig, "-4-3-5-1|", 8));
    insta::assert_snapshot!("chunks_weighted_cancel", p);
}

#[test]
fn chunks_weighted_slow_demand() {
    // Weights 1..9 against 8: [1,2,3] (6, and 4 would make 10), [4], [5], [6]...
    let p = picture(SLOW, 16, |rig| chunks_weighted(rig, FAST, 8));
    insta::assert_snapshot!("chunks_weighted_slow_demand", p);
}

// ------------------------------------------------------------ batch_while_busy

fn batch_while_busy(
    rig: &Rig,
    source: &str,
    max: usize,
) -> impl Publisher<Item = Batches, Error = &'static str> {
    let op = rig
        .cold(source)
        .batch_while_busy(max)
        .unwrap()
        .on_drop(rig.drops());
    rig.stats(op.stats());
    op
}

#[test]
fn batch_while_busy_completion() {
    // The doc marble: [1] at once, [2,3,4] when requested at frame 8, [5] with the
    // completion at frame 12.
    let p = picture("r1-------r1---r1", 16, |rig| {
        batch_while_busy(rig, "-1-2-3-4-5-|", 10)
    });
    insta::assert_snapshot!("batch_while_busy_completion", p);
}

#[test]
fn batch_while_busy_error() {
    // [2,3] are collected when the error comes: discarded, the error at once.
    let p = picture("r1", 10, |rig| batch_while_busy(rig, "-1-2-3#", 10));
    insta::assert_snapshot!("batch_while_busy_error", p);
}

#[test]
fn batch_while_busy_cancel() {
    let p = picture("r1-----x", 10, |rig| batch_while_busy(rig, "-1-2-3-4|", 10));
    insta::assert_snapshot!("batch_while_busy_cancel", p);
}

#[test]
fn batch_while_busy_slow_demand() {
    // max 3: once 3 items are collected upstream is paused (requests only as batches go).
    let p = picture(SLOW, 16, |rig| batch_while_busy(rig, FAST, 3));
    insta::assert_snapshot!("batch_while_busy_slow_demand", p);
}

// ------------------------------------------------------------ chunks_every

#[test]
fn chunks_every() {
    // Ticks every 5 frames from the subscription (the doc marble first); a tick with no
    // items emits nothing; `max_size(2)` closes at 2 items too, without moving the clock.
    let cases = [
        ("doc", "r∞", "-1-2-3----4--------5-|", None, 24),
        ("max_size", "r∞", "-1-2-3----4--------5-|", Some(2), 24),
        ("error", "r∞", "-1-2-3#", None, 10),
        ("cancel", "r∞---x", "-1-2-3-|", None, 10),
        ("slow_demand", SLOW, FAST, None, 24),
        ("slow_demand_max_size", SLOW, FAST, Some(2), 24),
    ];
    for (case, plan, source, max, duration) in cases {
        let p = picture(plan, duration, |rig| {
            let mut op = rig.cold(source).chunks_every(ms(5)).unwrap();
            if let Some(max) = max {
                op = op.max_size(max).unwrap();
            }
            let op = op.on_drop(rig.drops());
            rig.stats(op.stats());
            op
        });
        insta::assert_snapshot!(format!("chunks_every_{case}"), p);
    }
}

// ------------------------------------------------------------ chunks_with

#[test]
fn chunks_with() {
    // The boundary has its own lanes; it is subscribed first and asked r∞.
    let cases = [
        ("doc", "r∞", "-1-2-3----4--5-|", "----0------0------", 18),
        ("boundary_completes", "r∞", "-1-2-3-4-5|", "---0---|", 12),
        ("error", "r∞", "-1-2#", "---0---0", 10),
        ("boundary_error", "r∞", "-1-2-3-|", "---0-#", 10),
        ("cancel", "r∞---x", "-1-2-3-|", "--0-0-0-0", 10),
        ("slow_demand", SLOW, FAST, "-0-0-0-0-0-0-0", 24),
    ];
    for (case, plan, main, boundary, duration) in cases {
        let p = picture(plan, duration, |rig| {
            let l = rig.lanes();
            let op = l
                .cold("source", main)
                .chunks_with(l.cold("boundary", boundary))
                .on_drop(rig.drops());
            rig.stats(op.stats());
            op
        });
        insta::assert_snapshot!(format!("chunks_with_{case}"), p);
    }
}
