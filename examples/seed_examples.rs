//! The seed document's examples 1, 3 and 4, run for a few seconds in real time with
//! live statistics. `cargo run --example seed_examples`. The same pipelines are tested on
//! virtual time in `tests/seed_examples.rs`.

#[path = "seed/pipelines.rs"]
mod pipelines;

use std::time::Duration;

use spillway::operators::PressureLevels;
use spillway::prelude::*;

#[tokio::main]
async fn main() -> Result<(), spillway::ConfigError> {
    println!("== Example 1: pause at 100 buffered, resume at 20 ==");
    let (pipeline, stats) = pipelines::watermarked_stream(range(0, 300), Duration::from_millis(2))?;
    pipeline.for_each(|_| {}).await.expect("lossless");
    let s = stats.snapshot();
    println!(
        "produced {} consumed {} backpressure events {} dropped {} max buffer {}\n",
        s.received,
        s.emitted,
        s.paused,
        s.dropped(),
        s.peak_buffered
    );

    println!("== Example 3: adaptive rate, pressure levels ==");
    let (pipeline, rate, stats) =
        pipelines::adaptive_controller(range(0, 400), Duration::from_millis(5), |change| {
            println!(
                "  pressure {:?} -> {:?} ({:.0}%)",
                change.from,
                change.to,
                change.utilisation() * 100.0
            )
        })?;
    pipeline.for_each(|_| {}).await.expect("lossless");
    println!(
        "rate now {:.0}/s after {} increases and {} decreases; {}\n",
        rate.current(),
        rate.increases(),
        rate.decreases(),
        stats.snapshot()
    );

    println!("== Example 4: producer every 10 ms, consumer 50 ms, buffer 20, drop when full ==");
    let (pipeline, stats) =
        pipelines::producer_consumer(Duration::from_millis(10), Duration::from_millis(50))?;
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
