//! File ingestion as a tokio service does it: lines of a file -> parse (bad lines counted
//! and skipped) -> batches of 500 -> a slow async sink (4 writes at once), with live
//! statistics, and a graceful drain halfway through: the file stops being read, every
//! line already taken is parsed, batched and written, then the pipeline completes.
//!
//! **Replaces, in Node.js:** `pipeline(fs.createReadStream(..), readline, batcher,
//! writable)` with an `objectMode` `Transform` for the batches and a `Writable` whose
//! `highWaterMark` and `write()` callback bound the writes in flight. Here each step is a
//! stage, the sink's concurrency bounds the writes, and `GracefulDrain` is the shutdown
//! Node leaves to you.
//!
//! Run with `cargo run --example ingest`. (The `io` feature of `spillway`; this
//! repository's examples have it.)

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use spillway::io::read_lines;
use spillway::operators::{DrainReport, GracefulDrain};
use spillway::prelude::*;

/// What one run does.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Lines in the generated input file (one in 1,000 is malformed).
    pub(crate) lines: u64,
    /// Start a graceful drain once this many records were written (`None`: run to the end).
    pub(crate) drain_after: Option<u64>,
    /// How long the sink takes per batch.
    pub(crate) write_time: Duration,
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Lines taken from the file.
    pub(crate) lines_read: u64,
    /// Malformed lines, counted and skipped.
    pub(crate) bad_lines: u64,
    /// Records written by the sink.
    pub(crate) written: u64,
    /// Batches written.
    pub(crate) batches: u64,
    /// The drain's report, when one ran.
    pub(crate) drained: Option<(usize, usize)>,
}

/// A record of the input: `id,amount`.
fn parse(line: &str) -> Option<(u64, u64)> {
    let (id, amount) = line.split_once(',')?;
    Some((id.trim().parse().ok()?, amount.trim().parse().ok()?))
}

/// Writes the input file: `lines` records, one in 1,000 malformed.
pub(crate) fn write_input(dir: &Path, lines: u64) -> std::io::Result<PathBuf> {
    let path = dir.join("ingest-input.csv");
    let mut text = String::with_capacity(lines as usize * 12);
    for i in 0..lines {
        if i % 1_000 == 999 {
            text.push_str("this is not a record\n");
        } else {
            text.push_str(&format!("{i},{}\n", i % 97));
        }
    }
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Runs the ingestion of `path`, printing statistics every 100 ms.
pub(crate) async fn run(
    path: &Path,
    config: &Config,
) -> Result<Outcome, Box<dyn std::error::Error + Send + Sync>> {
    let file = tokio::fs::File::open(path).await?;
    let drain = GracefulDrain::new();
    let (read, bad, written, batches) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let (read_c, bad_c, written_c, batches_c) =
        (read.clone(), bad.clone(), written.clone(), batches.clone());
    let write_time = config.write_time;

    let batched = read_lines(file)
        .kill_switch(drain.input())
        .do_on_next(move |_| {
            read_c.fetch_add(1, Ordering::Relaxed);
        })
        .filter_map(move |line| {
            let record = parse(&line);
            if record.is_none() {
                bad_c.fetch_add(1, Ordering::Relaxed);
            }
            record
        })
        .chunks(500)?;
    let chunk_stats = batched.stats();
    let pipeline = batched
        .kill_switch(drain.output())
        .for_each_async(4, move |batch| {
            let (written, batches) = (written_c.clone(), batches_c.clone());
            async move {
                tokio::time::sleep(write_time).await; // the slow sink
                written.fetch_add(batch.len() as u64, Ordering::Relaxed);
                batches.fetch_add(1, Ordering::Relaxed);
            }
        });
    let task = tokio::spawn(pipeline);

    let mut drained: Option<DrainReport> = None;
    let mut ticks = tokio::time::interval(Duration::from_millis(100));
    while !task.is_finished() {
        ticks.tick().await;
        let snapshot = chunk_stats.snapshot();
        println!(
            "read {:>7} | bad {:>4} | written {:>7} in {:>5} batches | batching: {} buffered",
            read.load(Ordering::Relaxed),
            bad.load(Ordering::Relaxed),
            written.load(Ordering::Relaxed),
            batches.load(Ordering::Relaxed),
            snapshot.buffered,
        );
        if drained.is_none()
            && config
                .drain_after
                .is_some_and(|n| written.load(Ordering::Relaxed) >= n)
        {
            println!("-- draining: no more input; finishing what was taken --");
            drained = Some(drain.drain(Duration::from_secs(10)).await);
        }
    }
    task.await??;
    Ok(Outcome {
        lines_read: read.load(Ordering::Relaxed),
        bad_lines: bad.load(Ordering::Relaxed),
        written: written.load(Ordering::Relaxed),
        batches: batches.load(Ordering::Relaxed),
        drained: drained.map(|r| (r.finished, r.aborted)),
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let dir = std::env::temp_dir().join(format!("spillway-ingest-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config = Config {
        lines: 200_000,
        drain_after: Some(60_000),
        write_time: Duration::from_millis(5),
    };
    let path = write_input(&dir, config.lines)?;
    println!("ingesting {} lines of {}\n", config.lines, path.display());
    let outcome = run(&path, &config).await;
    std::fs::remove_dir_all(&dir)?;
    let outcome = outcome?;
    println!("\n{outcome:?}");
    // Every line taken in was either bad or written: nothing in flight was lost.
    assert_eq!(outcome.lines_read, outcome.bad_lines + outcome.written);
    Ok(())
}
