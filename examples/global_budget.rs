//! Global backpressure: three pipelines share one `Budget` of in-transit items, then an
//! emergency stop cancels them all — the Rust counterpart of the seed document's
//! Example 5 (`checkGlobalBackpressure`, `getSystemStats`, `emergencyStop`), without the
//! network: each "HTTP stream" is a simulated source of lines.
//!
//! Run with `cargo run --example global_budget`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use spillway::operators::Budget;
use spillway::prelude::*;

const BUDGET: u64 = 8;

#[tokio::main]
async fn main() -> Result<(), spillway::ConfigError> {
    let budget = Budget::new(BUDGET)?;
    println!("three streams share a budget of {BUDGET} items in transit\n");

    let mut streams = Vec::new();
    for (name, consume) in [("fast", 5u64), ("medium", 15), ("slow", 40)] {
        let received = Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        // A simulated endless stream of lines, each fetched with some network latency
        // (up to 4 fetches at once per stream), produced only as requested. The budget
        // bounds the lines handed on by `within_budget` and not yet consumed, across the
        // three streams; it does not bound the fetches above it: each `map_async(4)`
        // still runs up to 4 fetches (12 in all) and holds up to 4 finished results.
        let lines = generate(0u64, move |n| {
            *n += 1;
            Some(format!("{name} line {n}"))
        })
        .map_async(4, |line| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            line
        })?
        .within_budget(&budget);
        let task = tokio::spawn(lines.for_each_async(4, move |_line| {
            counter.fetch_add(1, Ordering::Relaxed);
            async move { tokio::time::sleep(Duration::from_millis(consume)).await }
        }));
        streams.push((name, received, task));
    }

    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let per: Vec<String> = streams
            .iter()
            .map(|(n, r, _)| format!("{n} {}", r.load(Ordering::Relaxed)))
            .collect();
        println!("📊 {} | {}", budget.stats(), per.join(", "));
    }

    println!("\n🆘 EMERGENCY: stopping all streams");
    budget.emergency_stop();
    for (name, received, task) in streams {
        let outcome = task.await.expect("the stream task does not panic");
        println!(
            "{name:>6}: {} lines, ended with {:?}",
            received.load(Ordering::Relaxed),
            outcome.err()
        );
    }
    let s = budget.stats();
    println!("\n🎯 final: {s}");
    assert_eq!((s.in_use, s.active), (0, 0));
    assert!(s.peak_in_use <= BUDGET);
    Ok(())
}
