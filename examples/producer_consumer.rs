//! A producer that cannot be paused (one item every 10 ms, like a timer or a sensor) into
//! a buffer of 20 that drops the newest item when full, and a consumer taking 50 ms per
//! item, with the buffer's pressure printed twice a second. `cargo run --example
//! producer_consumer` (about 2 s).
//!
//! **Replaces, in Node.js:** a producer loop that checks `stream.write()`'s return value
//! and, finding the buffer full, either waits for `'drain'` or drops the item by hand, in
//! a `pipeline(source, transform, sink)`. Here the policy is the buffer's
//! (`BufferOverflow::DropNewest`), every drop is counted by reason in the stage's
//! statistics, and `received = emitted + dropped + buffered` holds at every instant. Its
//! behaviour is pinned on virtual time in `tests/strategy_examples.rs`.

#[path = "common/strategies.rs"]
mod strategies;

use std::time::Duration;

use spillway::operators::PressureLevels;
use spillway::prelude::*;

#[tokio::main]
async fn main() -> Result<(), spillway::ConfigError> {
    println!("producer every 10 ms, consumer 50 ms, buffer 20, drop the newest when full");
    let (pipeline, stats) =
        strategies::producer_consumer(Duration::from_millis(10), Duration::from_millis(50))?;
    let levels = PressureLevels::seed();
    let running = pipeline.take(40).for_each(|_| {});
    let mut running = std::pin::pin!(running);
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            done = &mut running => { done.expect("no failure"); break; }
            _ = ticker.tick() => {
                let s = stats.snapshot();
                println!("  {:?} pressure: {s}", levels.classify(s.pressure()));
            }
        }
    }
    let s = stats.snapshot();
    println!("final: {s}");
    assert!(
        s.is_balanced(),
        "every item delivered, buffered or counted as dropped"
    );
    Ok(())
}
