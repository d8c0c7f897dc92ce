//! The main demo: one fast producer meets one slow consumer under every backpressure
//! strategy at once, side by side, with live statistics, then a summary table.
//!
//! Each row is its own pipeline: a producer of 1,000 items/s (a timer, which cannot be
//! paused, except where a strategy pauses its producer: then an on-demand generator), the
//! strategy's stage, and a consumer that takes 5 ms per item (200/s). For 10 s each row
//! shows its buffer's fill, the rates in and out, the drops by reason and the pressure
//! level; then a kill switch stops every producer, what is in flight drains, and the
//! summary shows where every item went (`received = emitted + dropped + buffered`).
//!
//! Run with `cargo run --release --example demo` (about 11 s). On a terminal it draws a
//! bar per row (made for 80 columns and up); otherwise (piped, in CI) it prints a status
//! line per row every 2 s.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use spillway::operators::{
    AdaptiveRateConfig, BufferOverflow, DropReason, FlowSnapshot, FlowStats, KillSwitch, Pressure,
    PressureLevels, RateLimitMode, TokenBucket,
};
use spillway::prelude::*;
use spillway::BoxPublisher;

/// How long the producers run.
const RUN: Duration = Duration::from_secs(10);
/// The producer's pace (1,000 items/s) and the consumer's (200 items/s).
const PRODUCE: Duration = Duration::from_millis(1);
const CONSUME: Duration = Duration::from_millis(5);
/// The buffer of the buffering strategies.
const CAPACITY: usize = 50;

type Items = BoxPublisher<u64, std::convert::Infallible>;

/// One strategy's row: its pipeline (up to the consumer), the stats of its stage, and the
/// capacity its bar is drawn against.
struct Row {
    name: &'static str,
    pipeline: Items,
    stats: FlowStats,
    capacity: u64,
}

/// A producer that cannot be paused: a 1 ms timer, stopped by `switch`.
fn timer(switch: &KillSwitch) -> impl Publisher<Item = u64, Error = std::convert::Infallible> {
    interval(PRODUCE).expect("a period").kill_switch(switch)
}

/// A producer that makes items only when asked, stopped by `switch`.
fn on_demand(switch: &KillSwitch) -> impl Publisher<Item = u64, Error = std::convert::Infallible> {
    generate(0u64, |n| {
        *n += 1;
        Some(*n)
    })
    .kill_switch(switch)
}

/// A row: `pipeline` boxed, with its stage's `stats`.
fn row<P>(name: &'static str, pipeline: P, stats: FlowStats, capacity: usize) -> Row
where
    P: Publisher<Item = u64, Error = std::convert::Infallible> + Send + 'static,
{
    Row {
        name,
        pipeline: pipeline.boxed(),
        stats,
        capacity: capacity.max(1) as u64,
    }
}

/// Every strategy, one row each.
fn rows(switch: &KillSwitch) -> Result<Vec<Row>, spillway::ConfigError> {
    let mut rows = Vec::new();
    let p = on_demand(switch)
        .on_backpressure_buffer(CAPACITY, BufferOverflow::Backpressure)?
        .watermarks(CAPACITY, 10)?;
    let stats = p.stats();
    rows.push(row("pause 50/10", p, stats, CAPACITY));
    for (name, policy) in [
        ("buffer drop newest", BufferOverflow::DropNewest),
        ("buffer drop oldest", BufferOverflow::DropOldest),
        ("buffer drop buffer", BufferOverflow::DropBuffer),
        ("buffer keep latest", BufferOverflow::KeepLatest),
        ("buffer fail", BufferOverflow::Fail),
        ("buffer fail fast", BufferOverflow::FailFast),
    ] {
        let p = timer(switch).on_backpressure_buffer(CAPACITY, policy)?;
        let stats = p.stats();
        rows.push(row(name, p, stats, CAPACITY));
    }
    let p = timer(switch).on_backpressure_drop();
    let stats = p.stats();
    rows.push(row("drop", p, stats, 1));
    let p = timer(switch).on_backpressure_latest();
    let stats = p.stats();
    rows.push(row("latest", p, stats, 1));
    let p = timer(switch).sample(Duration::from_millis(10))?;
    let stats = p.stats();
    rows.push(row("sample 10 ms", p, stats, 1));
    let p = timer(switch).rate_limit(TokenBucket::per_second(100), RateLimitMode::Drop)?;
    let stats = p.stats();
    rows.push(row("rate limit 100/s", p, stats, 1));
    let p = on_demand(switch).adaptive_rate(AdaptiveRateConfig {
        min: 10.0,
        max: 1_000.0,
        initial: 50.0,
        increase: 20.0,
        decrease_factor: 0.7,
        window: Duration::from_millis(250),
    })?;
    let stats = p.stats();
    rows.push(row("adaptive rate", p, stats, 1));
    // Priority: the item's number modulo 10 (a 9 outranks a 0); the lowest is shed.
    let p = timer(switch).load_shed(CAPACITY, |x| *x % 10)?;
    let stats = p.stats();
    rows.push(row("load shed", p, stats, CAPACITY));
    Ok(rows)
}

/// How each row ended: its stage's final counters and its pipeline's error, if any.
pub(crate) type Summary = Vec<(
    &'static str,
    FlowSnapshot,
    Option<spillway::Error<std::convert::Infallible>>,
)>;

#[tokio::main]
pub(crate) async fn main() -> Result<(), spillway::ConfigError> {
    let on_terminal = std::io::stdout().is_terminal();
    println!(
        "Spillway demo: a producer of {}/s, a consumer taking {} ms per item, {} s\n",
        Duration::from_secs(1).as_millis() / PRODUCE.as_millis(),
        CONSUME.as_millis(),
        RUN.as_secs()
    );
    let summary = run(RUN, on_terminal).await?;
    print_summary(&summary);
    Ok(())
}

/// Runs every row for `run_for`, drawing bars if `on_terminal` (else a status line per row
/// every 2 s), then stops the producers and returns how each row ended.
pub(crate) async fn run(
    run_for: Duration,
    on_terminal: bool,
) -> Result<Summary, spillway::ConfigError> {
    let switch = KillSwitch::new();
    let rows = rows(&switch)?;

    let bars = MultiProgress::with_draw_target(if on_terminal {
        ProgressDrawTarget::stdout_with_hz(10)
    } else {
        ProgressDrawTarget::hidden()
    });
    // 80 columns: 18 + 10 + 5 for the name, the bar and the fill, the rest for the line.
    let style = ProgressStyle::with_template("{prefix:<18} {bar:10} {pos:>2}/{len:<2} {msg}")
        .expect("a valid template")
        .progress_chars("█▌ ");
    let mut running = Vec::new();
    for row in rows {
        let bar = bars.add(ProgressBar::new(row.capacity));
        bar.set_style(style.clone());
        bar.set_prefix(row.name);
        let consumer = tokio::spawn(
            row.pipeline
                .for_each_async(1, |_| tokio::time::sleep(CONSUME)),
        );
        running.push((row.name, row.stats, bar, consumer));
    }

    let started = Instant::now();
    let mut last: Vec<FlowSnapshot> = running.iter().map(|r| r.1.snapshot()).collect();
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    let mut ticks = 0u64;
    while started.elapsed() < run_for {
        ticker.tick().await;
        ticks += 1;
        for ((name, stats, bar, consumer), before) in running.iter().zip(last.iter_mut()) {
            let now = stats.snapshot();
            let line = status(
                &now,
                before,
                Duration::from_millis(250),
                consumer.is_finished(),
            );
            bar.set_position(now.buffered.min(bar.length().unwrap_or(1)));
            bar.set_message(line.clone());
            if !on_terminal && ticks % 8 == 0 {
                println!(
                    "[{:>4.1}s] {name:<18} {line}",
                    started.elapsed().as_secs_f64()
                );
            }
            *before = now;
        }
    }

    // Stop every producer; what is in flight drains to the consumers.
    switch.shutdown();
    let mut summary = Vec::new();
    for (name, stats, bar, consumer) in running {
        let outcome = consumer.await.expect("the consumer task does not panic");
        bar.finish_and_clear();
        summary.push((name, stats.snapshot(), outcome.err()));
    }
    drop(bars);
    Ok(summary)
}

/// A row's live line: rates in and out over the last interval, drops by reason, pressure.
fn status(now: &FlowSnapshot, before: &FlowSnapshot, dt: Duration, ended: bool) -> String {
    let rate = |a: u64, b: u64| (a.saturating_sub(b)) as f64 / dt.as_secs_f64();
    let level = PressureLevels::seed().classify(now.pressure());
    let level = match level {
        Pressure::Low => "low ",
        Pressure::Medium => "med ",
        Pressure::High => "high",
        Pressure::Critical => "crit",
    };
    let mut line = format!(
        "in {:>4.0}/s out {:>3.0}/s {level}",
        rate(now.received, before.received),
        rate(now.emitted, before.emitted),
    );
    if ended {
        line.push_str(" ended");
    } else if let Some(drops) = drops(now) {
        // The largest reason only: the summary lists them all.
        line.push(' ');
        line.push_str(drops.split(", ").next().unwrap_or_default());
    }
    line
}

/// The drops by reason, largest first (`None` if nothing was dropped).
fn drops(s: &FlowSnapshot) -> Option<String> {
    const REASONS: [DropReason; 8] = [
        DropReason::BufferFull,
        DropReason::Evicted,
        DropReason::BufferCleared,
        DropReason::Superseded,
        DropReason::NoDemand,
        DropReason::Throttled,
        DropReason::Shed,
        DropReason::Discarded,
    ];
    let mut by: Vec<(u64, DropReason)> = REASONS
        .iter()
        .map(|r| (s.dropped_for(*r), *r))
        .filter(|(n, _)| *n > 0)
        .collect();
    by.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    (!by.is_empty()).then(|| {
        by.iter()
            .map(|(n, r)| format!("{n} {}", reason(*r)))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// `BufferFull` as "buffer full".
fn reason(r: DropReason) -> String {
    let mut out = String::new();
    for (i, c) in format!("{r:?}").chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn print_summary(rows: &Summary) {
    // 80 columns: the drops by reason last, as wide as they need.
    println!(
        "{:<18} {:>6} {:>6} {:>4}  {:<9}  dropped, by reason",
        "strategy", "in", "out", "peak", "end"
    );
    for (name, s, error) in rows {
        let ended = match error {
            None => "completed",
            Some(spillway::Error::Overflow { .. }) => "overflow",
            Some(_) => "failed",
        };
        println!(
            "{name:<18} {:>6} {:>6} {:>4}  {ended:<9}  {}",
            s.received,
            s.emitted,
            s.peak_buffered,
            drops(s).unwrap_or_else(|| "none".to_string())
        );
        assert!(
            s.is_balanced(),
            "{name}: every item delivered, buffered or counted as dropped"
        );
    }
    println!("\nin = out + dropped + held, for every row: nothing vanished unseen");
}
