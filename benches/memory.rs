//! (8): peak resident memory of 1M and 10M `u64` through a 1024-item buffer to a slow
//! consumer on another thread. Criterion does not measure memory, so this is a plain
//! binary (`harness = false`): it re-runs itself once per (variant, item count) in a
//! child process, reads the child's peak RSS (`VmHWM` in `/proc/self/status`, Linux),
//! and prints a table. The target is *flat* memory: the 10M peak may exceed the 1M
//! peak by at most `FLAT_SLACK_KB` for the bounded variants.
//!
//! Variants (producer worker -> stage -> `publish_on(consumer, 16)` -> slow fold):
//! * `buffer_backpressure`: `on_backpressure_buffer(1024, Backpressure)`: lossless,
//!   the producer is paused; every item is delivered.
//! * `buffer_drop_newest`: `on_backpressure_buffer(1024, DropNewest)`: the producer runs
//!   free and the overflow is dropped.
//! * `unbounded_control`: `on_backpressure_buffer_unbounded()`: the negative control,
//!   which *must* grow (it shows the measurement can see growth).
//!
//! Run: `cargo bench --bench memory`. Writes `target/bench-extra/memory.json` for
//! `scripts/bench-report.py`.

use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use spillway::operators::BufferOverflow;
use spillway::prelude::*;
use spillway::Worker;

const SIZES: [u64; 2] = [1_000_000, 10_000_000];
const VARIANTS: [&str; 3] = [
    "buffer_backpressure",
    "buffer_drop_newest",
    "unbounded_control",
];
/// Busy work per consumed item, calibrated at start: the consumer is the slow side,
/// far slower than the producer's emission into the buffer (a few ns to tens of ns).
const CONSUMER_NS: u64 = 250;
/// Allowed growth of the peak from 1M to 10M items for a bounded variant.
const FLAT_SLACK_KB: u64 = 2048;

#[inline(never)]
fn spin(iters: u64) {
    for i in 0..iters {
        black_box(i);
    }
}

/// Spin iterations that take about `ns` nanoseconds on this machine.
fn calibrate(ns: u64) -> u64 {
    let probe = 2_000_000u64;
    let mut best = std::time::Duration::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        spin(probe);
        best = best.min(t.elapsed());
    }
    (probe as f64 * ns as f64 / best.as_nanos().max(1) as f64)
        .round()
        .max(1.0) as u64
}

#[path = "support/rss.rs"]
mod rss;
use rss::peak_rss_kb;

fn child(variant: &str, n: u64, spins: u64) {
    let producer = Worker::new("mem-producer");
    let consumer = Worker::new("mem-consumer");
    let source = range(0, n).subscribe_on(producer);
    let slow = move |k: u64, _x: u64| {
        spin(spins);
        k + 1
    };
    let t = Instant::now();
    let delivered = match variant {
        "buffer_backpressure" | "buffer_drop_newest" => {
            let policy = if variant == "buffer_backpressure" {
                BufferOverflow::Backpressure
            } else {
                BufferOverflow::DropNewest
            };
            let p = source
                .on_backpressure_buffer(1024, policy)
                .expect("capacity")
                .publish_on(consumer, 16)
                .expect("prefetch");
            futures::executor::block_on(p.fold(0u64, slow))
        }
        "unbounded_control" => {
            let p = source
                .on_backpressure_buffer_unbounded()
                .publish_on(consumer, 16)
                .expect("prefetch");
            futures::executor::block_on(p.fold(0u64, slow))
        }
        other => panic!("unknown variant {other}"),
    }
    .expect("no error");
    let secs = t.elapsed().as_secs_f64();
    println!(
        "hwm_kb={} delivered={delivered} secs={secs:.3}",
        peak_rss_kb()
    );
}

struct Row {
    variant: &'static str,
    n: u64,
    hwm_kb: u64,
    delivered: u64,
    secs: f64,
}

fn field<T: std::str::FromStr>(line: &str, key: &str) -> Option<T> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let variant = args.get(i + 1).expect("variant");
        let n = args.get(i + 2).and_then(|s| s.parse().ok()).expect("count");
        let spins = args.get(i + 3).and_then(|s| s.parse().ok()).expect("spins");
        child(variant, n, spins);
        return;
    }
    // `cargo bench` passes its own flags (`--bench`, criterion options): ignored here.
    if !cfg!(target_os = "linux") {
        println!("memory: VmHWM needs Linux; skipped");
        return;
    }
    let exe = std::env::current_exe().expect("current exe");
    let spins = calibrate(CONSUMER_NS);
    let mut rows = Vec::new();
    for variant in VARIANTS {
        for n in SIZES {
            let out = Command::new(&exe)
                .args(["--child", variant, &n.to_string(), &spins.to_string()])
                .output()
                .expect("run child");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "child {variant} {n} failed: {text}");
            let line = text.lines().last().unwrap_or_default();
            rows.push(Row {
                variant,
                n,
                hwm_kb: field(line, "hwm_kb").expect("hwm_kb"),
                delivered: field(line, "delivered").expect("delivered"),
                secs: field(line, "secs").expect("secs"),
            });
        }
    }
    println!(
        "\nmemory: peak RSS (VmHWM) through a 1024-item buffer to a slow consumer \
         ({CONSUMER_NS} ns of busy work per item, {spins} spins)"
    );
    println!(
        "{:<22} {:>10} {:>12} {:>12} {:>8}",
        "variant", "items", "peak RSS kB", "delivered", "secs"
    );
    for r in &rows {
        println!(
            "{:<22} {:>10} {:>12} {:>12} {:>8.2}",
            r.variant, r.n, r.hwm_kb, r.delivered, r.secs
        );
    }
    let mut json = Vec::new();
    for variant in VARIANTS {
        let small = rows
            .iter()
            .find(|r| r.variant == variant && r.n == SIZES[0]);
        let big = rows
            .iter()
            .find(|r| r.variant == variant && r.n == SIZES[1]);
        let (Some(small), Some(big)) = (small, big) else {
            continue;
        };
        let growth = big.hwm_kb as i64 - small.hwm_kb as i64;
        let flat = growth <= FLAT_SLACK_KB as i64;
        let verdict = match (variant, flat) {
            ("unbounded_control", false) => "grows, as a control must",
            ("unbounded_control", true) => "did NOT grow: the measurement is suspect",
            (_, true) => "flat: met",
            (_, false) => "GROWS: missed",
        };
        println!("  {variant:<22} 1M -> 10M: {growth:+} kB  {verdict}");
        json.push(format!(
            "\"{variant}\": {{\"kb_1m\": {}, \"kb_10m\": {}, \"growth_kb\": {growth}, \
             \"flat\": {flat}, \"secs_10m\": {:.3}, \"delivered_10m\": {}}}",
            small.hwm_kb, big.hwm_kb, big.secs, big.delivered
        ));
    }
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/target").into())
        .join("bench-extra");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(
        dir.join("memory.json"),
        format!("{{\"slack_kb\": {FLAT_SLACK_KB}, {}}}\n", json.join(", ")),
    );
}
