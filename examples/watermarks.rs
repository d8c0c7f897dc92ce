//! Pausing a producer at a high watermark and resuming it at a low one: a fast source,
//! a consumer taking 2 ms per item, a buffer that stops asking at 100 items and asks again,
//! in one batch, when it has drained to 20. `cargo run --example watermarks` (about 1 s).
//!
//! **Replaces, in Node.js streams:** `highWaterMark` with `readable.pause()` /
//! `readable.resume()` driven by `write()` returning `false` and the `'drain'` event. Here
//! the watermarks are numbers on the buffer (`.watermarks(100, 20)`): the producer is
//! paused by not being asked (no `pause()` call, no flag to forget), and resumed by one
//! request of `high - low` items. Its behaviour is pinned on virtual time in
//! `tests/strategy_examples.rs`.

#[path = "common/strategies.rs"]
mod strategies;

use std::time::Duration;

use spillway::prelude::*;

#[tokio::main]
async fn main() -> Result<(), spillway::ConfigError> {
    println!("pause at 100 buffered, resume at 20; consumer 2 ms per item");
    let (pipeline, stats) =
        strategies::watermarked_stream(range(0, 300), Duration::from_millis(2))?;
    pipeline.for_each(|_| {}).await.expect("lossless");
    let s = stats.snapshot();
    println!(
        "produced {} consumed {} backpressure events {} dropped {} max buffer {}",
        s.received,
        s.emitted,
        s.paused,
        s.dropped(),
        s.peak_buffered
    );
    assert_eq!(s.emitted, 300, "nothing lost");
    Ok(())
}
