//! The main demo: a fast producer meets a slow consumer, three ways, with live statistics.
//!
//! 1. **Pausing.** A producer that makes items only when asked (`generate`) behind a
//!    buffer with high/low watermarks: upstream is paused at 50 buffered items and
//!    resumed in one batch at 10. Nothing is lost.
//! 2. **Dropping.** A producer that cannot be paused (a 1 ms timer) behind a buffer of 20
//!    that evicts the oldest item when full: every item is delivered or counted as
//!    dropped, with its reason.
//! 3. **Pressure levels.** A 2 ms timer into a buffer of 100 that reports the seed
//!    document's pressure levels (medium 50%, high 70%, critical 90%) as they change; the
//!    consumer is slow for 120 items, then fast, so the pressure rises and falls. A timer
//!    cannot be paused, so items that find even this buffer full are dropped and counted
//!    by `on_backpressure_drop` in front of it.
//!
//! Run with `cargo run --example demo`.

use std::future::Future;
use std::time::{Duration, Instant};

use spillway::operators::{BufferOverflow, DropReason, FlowStats, PressureLevels};
use spillway::prelude::*;

const SLOW: Duration = Duration::from_millis(10);

#[tokio::main]
async fn main() -> Result<(), spillway::ConfigError> {
    println!("Spillway demo: a fast producer, a consumer taking {SLOW:?} per item\n");

    println!("== 1. pausing: watermarks 50 / 10 ==");
    let buffered = generate(0u64, |n| {
        *n += 1;
        (*n <= 200).then_some(*n)
    })
    .on_backpressure_buffer(50, BufferOverflow::Backpressure)?
    .watermarks(50, 10)?;
    let stats = buffered.stats();
    run_with_stats(
        &stats,
        buffered.for_each_async(1, |_| tokio::time::sleep(SLOW)),
    )
    .await;

    println!("\n== 2. dropping: a 1 ms timer, a buffer of 20 that evicts the oldest ==");
    let buffered = interval(Duration::from_millis(1))?
        .take(600)
        .on_backpressure_buffer(20, BufferOverflow::DropOldest)?;
    let stats = buffered.stats();
    run_with_stats(
        &stats,
        buffered.for_each_async(1, |_| tokio::time::sleep(SLOW)),
    )
    .await;
    let s = stats.snapshot();
    println!(
        "   evicted {} of {} items; received = emitted + dropped + buffered: {}",
        s.dropped_for(DropReason::Evicted),
        s.received,
        s.is_balanced()
    );

    println!("\n== 3. pressure levels: a lossless buffer of 100, then the consumer speeds up ==");
    let started = Instant::now();
    let timer = interval(Duration::from_millis(2))?
        .take(400)
        .on_backpressure_drop();
    let dropped = timer.stats();
    let buffered = timer.pressure(100, PressureLevels::seed(), move |change| {
        println!(
            "   [{:>5.2}s] pressure {:?} -> {:?} ({:.0}% full)",
            started.elapsed().as_secs_f64(),
            change.from,
            change.to,
            change.utilisation() * 100.0
        )
    })?;
    let stats = buffered.stats();
    let consumer = buffered.for_each_async(1, move |i| {
        // Slow for the first 120 items, then fast: the buffer fills, then drains.
        tokio::time::sleep(if i < 120 {
            Duration::from_millis(6)
        } else {
            Duration::ZERO
        })
    });
    run_with_stats(&stats, consumer).await;
    println!(
        "   dropped in front of the full buffer: {}",
        dropped.snapshot().dropped()
    );
    Ok(())
}

/// Drives `consumer` to completion, printing the stage's statistics four times a second.
async fn run_with_stats<E: std::fmt::Debug>(
    stats: &FlowStats,
    consumer: impl Future<Output = Result<(), spillway::Error<E>>>,
) {
    let started = Instant::now();
    let mut consumer = std::pin::pin!(consumer);
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    ticker.tick().await;
    loop {
        tokio::select! {
            result = &mut consumer => {
                result.expect("the demo pipelines do not fail");
                println!("   [{:>5.2}s] done     {}", started.elapsed().as_secs_f64(), stats.snapshot());
                return;
            }
            _ = ticker.tick() => {
                println!("   [{:>5.2}s] running  {}", started.elapsed().as_secs_f64(), stats.snapshot());
            }
        }
    }
}
