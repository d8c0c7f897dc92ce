//! Marble snapshots of `on_backpressure_buffer` (each overflow policy, and the watermarks
//! of `Backpressure`): completion, error, cancellation and slow demand on virtual time.
//! Pictures are drawn by `marble_kit::picture` (see there: downstream lanes, then upstream).

mod marble_kit;

use marble_kit::{picture, Rig};
use spillway::operators::{BufferOverflow, OperatorExt};
use spillway::prelude::*;

/// `source` through `on_backpressure_buffer(capacity, policy)`, drops and stats drawn.
fn buffer(
    rig: &Rig,
    source: &str,
    capacity: usize,
    policy: BufferOverflow,
) -> impl Publisher<Item = u32, Error = &'static str> {
    let op = rig
        .cold(source)
        .on_backpressure_buffer(capacity, policy)
        .unwrap()
        .on_drop(rig.drops());
    rig.stats(op.stats());
    op
}

// ------------------------------------------------------------ slow demand, per policy

/// A fast source (one item per frame) and a subscriber taking one item every 4 frames.
const FAST: &str = "123456789|";
const SLOW: &str = "r1---r1---r1---r1---r1---r1";

#[test]
fn slow_demand_backpressure() {
    // Lossless: requests 3 upstream, then refills as the buffer drains to the low
    // watermark (3 / 4 = 0); the source is paused, nothing dropped.
    let p = picture(SLOW, 40, |rig| {
        buffer(rig, FAST, 3, BufferOverflow::Backpressure)
    });
    insta::assert_snapshot!("buffer_slow_demand_backpressure", p);
}

#[test]
fn slow_demand_drop_newest() {
    let p = picture(SLOW, 30, |rig| {
        buffer(rig, FAST, 2, BufferOverflow::DropNewest)
    });
    insta::assert_snapshot!("buffer_slow_demand_drop_newest", p);
}

#[test]
fn slow_demand_drop_oldest() {
    let p = picture(SLOW, 30, |rig| {
        buffer(rig, FAST, 2, BufferOverflow::DropOldest)
    });
    insta::assert_snapshot!("buffer_slow_demand_drop_oldest", p);
}

#[test]
fn slow_demand_drop_buffer() {
    let p = picture(SLOW, 30, |rig| {
        buffer(rig, FAST, 2, BufferOverflow::DropBuffer)
    });
    insta::assert_snapshot!("buffer_slow_demand_drop_buffer", p);
}

#[test]
fn slow_demand_keep_latest() {
    let p = picture(SLOW, 30, |rig| {
        buffer(rig, FAST, 2, BufferOverflow::KeepLatest)
    });
    insta::assert_snapshot!("buffer_slow_demand_keep_latest", p);
}

#[test]
fn slow_demand_fail() {
    // The third undelivered item overflows a buffer of 2: upstream is cancelled and that
    // item dropped; the two buffered items still go out as demand comes, then the error.
    let p = picture(SLOW, 30, |rig| buffer(rig, FAST, 2, BufferOverflow::Fail));
    insta::assert_snapshot!("buffer_slow_demand_fail", p);
}

#[test]
fn slow_demand_fail_fast() {
    // The third undelivered item overflows a buffer of 2: the error comes at once (the
    // buffered items are discarded) and upstream is cancelled.
    let p = picture(SLOW, 30, |rig| {
        buffer(rig, FAST, 2, BufferOverflow::FailFast)
    });
    insta::assert_snapshot!("buffer_slow_demand_fail_fast", p);
}

// ------------------------------------------------------------ watermarks

#[test]
fn watermarks_pace_upstream() {
    // capacity 6, watermarks (4, 1): requests 4, and back up to 4 (r3) once only one
    // item is left buffered or in flight.
    let p = picture("r2---r2---r2---r2---r2", 30, |rig| {
        let op = rig
            .cold("123456789|")
            .on_backpressure_buffer(6, BufferOverflow::Backpressure)
            .unwrap()
            .watermarks(4, 1)
            .unwrap()
            .on_drop(rig.drops());
        rig.stats(op.stats());
        op
    });
    insta::assert_snapshot!("buffer_watermarks", p);
}

// ------------------------------------------------------------ completion, error, cancel

#[test]
fn completion_flushes_the_buffer() {
    // Nothing requested until frame 8: the buffer of 3 keeps the 3 newest (DropOldest),
    // delivered when requested, then the completion.
    let p = picture("--------r∞", 12, |rig| {
        buffer(rig, "-1-2-3-4-5|", 3, BufferOverflow::DropOldest)
    });
    insta::assert_snapshot!("buffer_completion_flushes", p);
}

#[test]
fn completion_waits_for_demand_backpressure() {
    let p = picture("r1---r1---r2", 14, |rig| {
        buffer(rig, "1234|", 4, BufferOverflow::Backpressure)
    });
    insta::assert_snapshot!("buffer_completion_backpressure", p);
}

#[test]
fn error_after_the_buffered_items() {
    // The error arrives at frame 5 with 2 and 3 buffered: it is delivered after them,
    // when they have been requested (frame 8).
    let p = picture("r1-------r∞", 12, |rig| {
        buffer(rig, "-1-2-3#", 4, BufferOverflow::DropNewest)
    });
    insta::assert_snapshot!("buffer_error", p);
}

#[test]
fn cancel_discards_the_buffer() {
    // 2, 3, 4 are buffered when downstream cancels at frame 6: dropped as discarded, and
    // the cancel reaches upstream.
    let p = picture("r1-----x", 12, |rig| {
        buffer(rig, "12345678|", 4, BufferOverflow::DropNewest)
    });
    insta::assert_snapshot!("buffer_cancel", p);
}

#[test]
fn cancel_backpressure() {
    let p = picture("r1-----x", 12, |rig| {
        buffer(rig, "12345678|", 4, BufferOverflow::Backpressure)
    });
    insta::assert_snapshot!("buffer_cancel_backpressure", p);
}

#[test]
fn doc_marble() {
    // The marble of the method doc: a buffer of 2 (DropNewest), nothing requested until
    // frame 6, then unbounded demand.
    let p = picture("------r∞", 14, |rig| {
        buffer(rig, "-1-2-3-4-5-|", 2, BufferOverflow::DropNewest)
    });
    insta::assert_snapshot!("buffer_doc", p);
}
