//! Production paced by an adaptive rate that rises while the consumer keeps up and falls
//! when it does not, in front of a buffer of 1,000 that reports pressure levels (medium at
//! 50%, high at 70%, critical at 90%) as they change. `cargo run --example
//! adaptive_controller` (about 3 s).
//!
//! **Replaces, in Node.js:** a hand-written controller around a `Readable` in object mode
//! (a `setInterval` producer whose delay is tuned from the buffer's fill, and `'data'`
//! listeners that compute utilisation). Here the rate is the `adaptive_rate` stage
//! (additive increase while the consumer keeps up, multiplicative decrease when it falls
//! behind) and the levels are a `pressure` stage's callback. Its behaviour
//! is pinned on virtual time in `tests/strategy_examples.rs`.

#[path = "common/strategies.rs"]
mod strategies;

use std::time::Duration;

use spillway::prelude::*;

#[tokio::main]
async fn main() -> Result<(), spillway::ConfigError> {
    println!("adaptive rate in front of a 1,000-item buffer; consumer 5 ms per item");
    let (pipeline, rate, stats) =
        strategies::adaptive_controller(range(0, 400), Duration::from_millis(5), |change| {
            println!(
                "  pressure {:?} -> {:?} ({:.0}%)",
                change.from,
                change.to,
                change.utilisation() * 100.0
            )
        })?;
    pipeline.for_each(|_| {}).await.expect("lossless");
    println!(
        "rate now {:.0}/s after {} increases and {} decreases; {}",
        rate.current(),
        rate.increases(),
        rate.decreases(),
        stats.snapshot()
    );
    Ok(())
}
