//! The `ingest` example (`examples/ingest.rs`) written with tokio and futures only, as a
//! user without Spillway would write it: lines of a file (`BufReader::lines`) -> parse
//! (bad lines counted and skipped) -> batches of 500 (`try_chunks`) -> a slow async sink,
//! 4 writes at once (`try_for_each_concurrent`), with live statistics and a graceful
//! drain (the line stream ends at a signal, `take_until`; every line taken is parsed,
//! batched and written, then the pipeline completes), for `scripts/compare_programs.sh`
//! to compare with the example.
//!
//! Below `main` is only the measurement driver (`benches/programs/driver.rs`), shared with
//! `ingest_spillway.rs`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{future, StreamExt, TryStreamExt};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_stream::wrappers::LinesStream;

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
    /// The drain's report (finished, aborted), when one ran.
    pub(crate) drained: Option<(usize, usize)>,
}

/// The live counters.
#[derive(Debug, Default)]
struct Counters {
    read: AtomicU64,
    bad: AtomicU64,
    /// Records handed to the sink in batches: the batching holds `read - bad - batched`.
    batched: AtomicU64,
    written: AtomicU64,
    batches: AtomicU64,
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
    let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
    let c = Arc::new(Counters::default());
    let (c1, c2, c3) = (c.clone(), c.clone(), c.clone());
    let write_time = config.write_time;

    let pipeline = LinesStream::new(BufReader::new(file).lines())
        .take_until(drain_rx)
        .inspect_ok(move |_| {
            c1.read.fetch_add(1, Ordering::Relaxed);
        })
        .try_filter_map(move |line| {
            let record = parse(&line);
            if record.is_none() {
                c2.bad.fetch_add(1, Ordering::Relaxed);
            }
            future::ready(Ok(record))
        })
        .try_chunks(500)
        .map_err(|e| e.1)
        .try_for_each_concurrent(4, move |batch| {
            let c = c3.clone();
            c.batched.fetch_add(batch.len() as u64, Ordering::Relaxed);
            async move {
                tokio::time::sleep(write_time).await; // the slow sink
                c.written.fetch_add(batch.len() as u64, Ordering::Relaxed);
                c.batches.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
        });
    let mut task = tokio::spawn(pipeline);

    let mut drain_tx = Some(drain_tx);
    let mut drained = None;
    let mut ticks = tokio::time::interval(Duration::from_millis(100));
    let result = loop {
        tokio::select! {
            result = &mut task => break result,
            _ = ticks.tick() => {}
        }
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        println!(
            "read {:>7} | bad {:>4} | written {:>7} in {:>5} batches | batching: {} buffered",
            load(&c.read),
            load(&c.bad),
            load(&c.written),
            load(&c.batches),
            load(&c.read).saturating_sub(load(&c.bad) + load(&c.batched)),
        );
        if drained.is_none() && config.drain_after.is_some_and(|n| load(&c.written) >= n) {
            println!("-- draining: no more input; finishing what was taken --");
            let _ = drain_tx.take().map(|tx| tx.send(()));
            match tokio::time::timeout(Duration::from_secs(10), &mut task).await {
                Ok(result) => {
                    drained = Some((1, 0));
                    break result;
                }
                Err(_) => {
                    task.abort();
                    return Err("the drain's deadline passed: ingestion aborted".into());
                }
            }
        }
    };
    result??;
    Ok(Outcome {
        lines_read: c.read.load(Ordering::Relaxed),
        bad_lines: c.bad.load(Ordering::Relaxed),
        written: c.written.load(Ordering::Relaxed),
        batches: c.batches.load(Ordering::Relaxed),
        drained,
    })
}

#[tokio::main]
async fn main() -> Result<(), driver::BoxError> {
    driver::run_ingest!(self, "tokio")
}

#[allow(dead_code)]
#[path = "driver.rs"]
mod driver;
