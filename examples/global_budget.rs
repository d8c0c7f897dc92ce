//! Global backpressure: three pipelines share one `Budget` of work in progress, then an
//! emergency stop cancels them all — the Rust counterpart of the seed document's
//! Example 5 (`checkGlobalBackpressure`, `getSystemStats`, `emergencyStop`), without the
//! network: each "HTTP stream" is a simulated source of lines, each line fetched with some
//! latency.
//!
//! **Replaces, in Node.js:** a module-level counter of in-flight work that every stream's
//! `'data'` handler checks before `pause()`ing itself (and an `emergencyStop()` that
//! `destroy()`s each stream it kept in a list). Here the `Budget` is the counter and the
//! list: streams `within_budget` are asked only for what the budget allows, and
//! `emergency_stop` fails them all at once.
//!
//! Run with `cargo run --example global_budget`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use spillway::operators::Budget;
use spillway::prelude::*;
use spillway::Error;

/// Lines being fetched or waiting for their consumer, across the three streams.
const BUDGET: u64 = 6;

#[tokio::main]
pub(crate) async fn main() -> Result<(), spillway::ConfigError> {
    let budget = Budget::new(BUDGET)?;
    println!("three streams of up to 4 fetches each share a budget of {BUDGET} lines\n");

    // Lines whose fetch started and that were not yet handed to their consumer, counted by
    // hand: the budget's claim, checked independently of its own counters.
    let in_flight = Arc::new(AtomicU64::new(0));
    let most_in_flight = Arc::new(AtomicU64::new(0));
    let mut streams = Vec::new();
    for (name, consume) in [("fast", 5u64), ("medium", 15), ("slow", 40)] {
        let received = Arc::new(AtomicU64::new(0));
        let (started, most) = (in_flight.clone(), most_in_flight.clone());
        let (taken, counter) = (in_flight.clone(), received.clone());
        // A simulated endless stream of lines, produced only as requested, each fetched
        // with some network latency: up to 4 fetches at once per stream (12 in all), but
        // each fetch holds a unit of the shared budget from the moment it starts until its
        // line is handed to the consumer (which takes one only when it has room). So the
        // lines being fetched or waiting for the consumer, across the three streams, never
        // exceed BUDGET.
        let lines = generate(0u64, move |n| {
            *n += 1;
            Some(format!("{name} line {n}"))
        })
        .map_async(4, move |line| {
            let now = started.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                line
            }
        })?
        .permits_from(&budget)
        .map(move |line| {
            // Handed to the consumer (its `on_next`): the line's unit goes back after this.
            taken.fetch_sub(1, Ordering::SeqCst);
            line
        });
        let task = tokio::spawn(lines.for_each_async(4, move |_line| {
            counter.fetch_add(1, Ordering::Relaxed);
            async move { tokio::time::sleep(Duration::from_millis(consume)).await }
        }));
        streams.push((name, received, task));
    }

    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(200)).await;
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
            outcome.as_ref().err()
        );
        assert_eq!(
            outcome,
            Err(Error::Rejected {
                stage: "budget",
                reason: "emergency stop"
            })
        );
        assert!(received.load(Ordering::Relaxed) > 0, "{name} was served");
    }
    let s = budget.stats();
    let most = most_in_flight.load(Ordering::SeqCst);
    println!("\n🎯 final: {s}; at most {most} lines fetched or waiting at once");
    assert_eq!((s.in_use, s.active), (0, 0));
    assert!(s.peak_in_use <= BUDGET);
    assert!(most <= BUDGET, "{most} lines in flight, budget {BUDGET}");
    Ok(())
}
