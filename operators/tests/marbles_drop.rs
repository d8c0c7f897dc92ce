//! Marble snapshots of the demand-adapting operators (on_backpressure_drop,
//! on_backpressure_latest, on_backpressure_reduce, limit_rate, pressure): completion
//! (what is flushed), error, cancellation and slow demand, on virtual time, 1ms frames.
//! Pictures are drawn by `marble_kit::picture` (downstream lanes, then upstream).

mod marble_kit;

use marble_kit::{picture, Rig};
use spillway::operators::{OperatorExt, PressureChange, PressureLevels};
use spillway::prelude::*;

/// A fast source (one item per frame) and a subscriber taking one item every 4 frames.
const FAST: &str = "123456789|";
const SLOW: &str = "r1---r1---r1---r1";

// ------------------------------------------------------------ on_backpressure_drop

fn drop_op(rig: &Rig, source: &str) -> impl Publisher<Item = u32, Error = &'static str> {
    let op = rig.cold(source).on_backpressure_drop().on_drop(rig.drops());
    rig.stats(op.stats());
    op
}

#[test]
fn drop_completion() {
    // The doc marble: request(1) at 0 and at 6. Nothing held: the completion at once.
    let p = picture("r1-----r1", 14, |rig| drop_op(rig, "-1-2-3-4-5-|"));
    insta::assert_snapshot!("drop_completion", p);
}

#[test]
fn drop_error() {
    let p = picture("r1", 10, |rig| drop_op(rig, "-1-2-#"));
    insta::assert_snapshot!("drop_error", p);
}

#[test]
fn drop_cancel() {
    let p = picture("r∞---x", 10, |rig| drop_op(rig, "-1-2-3-|"));
    insta::assert_snapshot!("drop_cancel", p);
}

#[test]
fn drop_slow_demand() {
    let p = picture(SLOW, 14, |rig| drop_op(rig, FAST));
    insta::assert_snapshot!("drop_slow_demand", p);
}

// ------------------------------------------------------------ on_backpressure_latest

fn latest(rig: &Rig, source: &str) -> impl Publisher<Item = u32, Error = &'static str> {
    let op = rig
        .cold(source)
        .on_backpressure_latest()
        .on_drop(rig.drops());
    rig.stats(op.stats());
    op
}

#[test]
fn latest_completion_flushes() {
    // The doc marble: request(1) at 0, and at 10, after the completion: 4 is flushed.
    let p = picture("r1---------r1", 14, |rig| latest(rig, "-1-2-3-4-|"));
    insta::assert_snapshot!("latest_completion", p);
}

#[test]
fn latest_error() {
    // 3 is held when the error comes: discarded, the error at once.
    let p = picture("r1", 10, |rig| latest(rig, "-1-2-3#"));
    insta::assert_snapshot!("latest_error", p);
}

#[test]
fn latest_cancel() {
    let p = picture("r1----x", 10, |rig| latest(rig, "-1-2-3-|"));
    insta::assert_snapshot!("latest_cancel", p);
}

#[test]
fn latest_slow_demand() {
    let p = picture(SLOW, 16, |rig| latest(rig, FAST));
    insta::assert_snapshot!("latest_slow_demand", p);
}

// ------------------------------------------------------------ on_backpressure_reduce

fn reduce(rig: &Rig, source: &str) -> impl Publisher<Item = u32, Error = &'static str> {
    let op = rig
        .cold(source)
        .on_backpressure_reduce(|a, b| a + b)
        .on_drop(rig.drops());
    rig.stats(op.stats());
    op
}

#[test]
fn reduce_completion_flushes() {
    // The doc marble: 2 + 3 + 4 = 9 pending at the completion, flushed when requested.
    let p = picture("r1---------r1", 14, |rig| reduce(rig, "-1-2-3-4-|"));
    insta::assert_snapshot!("reduce_completion", p);
}

#[test]
fn reduce_error() {
    // 2 + 3 = 5 pending when the error comes: discarded, the error at once.
    let p = picture("r1", 10, |rig| reduce(rig, "-1-2-3#"));
    insta::assert_snapshot!("reduce_error", p);
}

#[test]
fn reduce_cancel() {
    let p = picture("r1----x", 10, |rig| reduce(rig, "-1-2-3-|"));
    insta::assert_snapshot!("reduce_cancel", p);
}

#[test]
fn reduce_slow_demand() {
    let p = picture(SLOW, 16, |rig| reduce(rig, FAST));
    insta::assert_snapshot!("reduce_slow_demand", p);
}

// ------------------------------------------------------------ limit_rate

fn limit_rate(
    rig: &Rig,
    source: &str,
    strict: bool,
) -> impl Publisher<Item = u32, Error = &'static str> {
    let op = rig
        .cold(source)
        .limit_rate_with(4, 1)
        .unwrap()
        .on_drop(rig.drops());
    let op = if strict { op.strict() } else { op };
    rig.stats(op.stats());
    op
}

#[test]
fn limit_rate_completion() {
    // Unbounded downstream: requests 4, then 3 each time one item is left in flight.
    let p = picture("r∞", 18, |rig| limit_rate(rig, "-1-2-3-4-5-6-7-|", false));
    insta::assert_snapshot!("limit_rate_completion", p);
}

#[test]
fn limit_rate_error() {
    // The error follows the prefetched items, delivered as requested.
    let p = picture("r1---r2", 10, |rig| limit_rate(rig, "123#", false));
    insta::assert_snapshot!("limit_rate_error", p);
}

#[test]
fn limit_rate_cancel() {
    // Prefetched items still held at the cancel are discarded.
    let p = picture("r1---x", 10, |rig| limit_rate(rig, FAST, false));
    insta::assert_snapshot!("limit_rate_cancel", p);
}

#[test]
fn limit_rate_slow_demand() {
    // Prefetch: 4 requested whatever downstream asked, refilled at the low watermark.
    let p = picture(SLOW, 16, |rig| limit_rate(rig, FAST, false));
    insta::assert_snapshot!("limit_rate_slow_demand", p);
}

#[test]
fn limit_rate_strict_slow_demand() {
    // Strict: never more upstream than downstream asked.
    let p = picture(SLOW, 16, |rig| limit_rate(rig, FAST, true));
    insta::assert_snapshot!("limit_rate_strict_slow_demand", p);
}

// ------------------------------------------------------------ pressure

fn pressure(rig: &Rig, source: &str) -> impl Publisher<Item = u32, Error = &'static str> {
    let note = rig.note(|c: PressureChange| format!("{:?}", c.to));
    let op = rig
        .cold(source)
        .pressure(4, PressureLevels::seed(), note)
        .unwrap()
        .on_drop(rig.drops());
    rig.stats(op.stats());
    op
}

#[test]
fn pressure_completion() {
    // Capacity 4, nothing requested until frame 6: the buffer fills (levels in the notes
    // line, with their frame), upstream is paused at 4, then everything is delivered.
    let p = picture("------r∞", 12, |rig| pressure(rig, "123456|"));
    insta::assert_snapshot!("pressure_completion", p);
}

#[test]
fn pressure_error() {
    let p = picture("r1----r∞", 10, |rig| pressure(rig, "123#"));
    insta::assert_snapshot!("pressure_error", p);
}

#[test]
fn pressure_cancel() {
    let p = picture("r1----x", 10, |rig| pressure(rig, FAST));
    insta::assert_snapshot!("pressure_cancel", p);
}

#[test]
fn pressure_slow_demand() {
    let p = picture(SLOW, 16, |rig| pressure(rig, FAST));
    insta::assert_snapshot!("pressure_slow_demand", p);
}
