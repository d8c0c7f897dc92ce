//! (9): async pipelines on a tokio multi-thread runtime, Spillway next to the plain
//! tokio/futures program that does the same work, in one run: throughput (criterion) and
//! peak RSS (a child process per variant, as in `benches/memory.rs`), with the ratios.
//!
//! (a) `many_u64`, `many_chunk64k`: `PIPELINES` (200) concurrent pipelines, each
//! a producer task feeding a bounded tokio mpsc channel of `CHANNEL` (4) items and a
//! consumer task reading the pipeline with `while let Some(..) = s.next().await`; the
//! per-item async work is `tokio::task::yield_now().await` then a trivial step (`x * 2`
//! for `u64`, flip the first byte of a chunk):
//! * `spillway/c{n}_b{m}`: `from_stream(ReceiverStream) -> map_async(n, work) ->
//!   into_stream(m)`;
//! * `plain/c{n}`: `ReceiverStream.map(work).buffered(n)` (`futures::StreamExt`).
//!
//! Two item kinds: `u64` (`U64_ITEMS` per pipeline; the framework's own cost, and its
//! per-pipeline memory) and 64-KiB `Vec<u8>` chunks, filled by the producer so their pages
//! are resident (`CHUNK_ITEMS` per pipeline; the memory is then the items held in flight,
//! so the RSS table also shows it as chunks per pipeline).
//!
//! (b) `lines`: a 20-MB file of `id,value` lines, written once to the temp dir, read
//! with `tokio::fs::File` + `tokio::io::BufReader` (64 KiB) + `lines()` in
//! `tokio_stream::wrappers::LinesStream`, parsed, cut into batches of `k` lines and
//! handed to a simulated slow sink (a `yield_now().await`, then the batch encoded into a
//! `Vec<u8>`, the way a client fills its send buffer) with `c` sinks in flight:
//! * `spillway/k{k}_c{c}`: `from_stream(lines) -> map(parse) -> chunks(k) ->
//!   for_each_async(c, sink)`;
//! * `plain/k{k}_c{c}`: `lines.map(parse).chunks(k).for_each_concurrent(c, sink)`.
//!
//! Every run is `Runtime::block_on` on a multi-thread runtime (`enable_all`, a worker per
//! core), as `#[tokio::main]` does, guarded by a `GUARD` (60 s) timeout that panics with a
//! message saying which pipeline hung (and a watchdog thread that exits the process if
//! the runtime is too stuck for the timer to fire). Each variant is checked once, on a
//! fresh runtime, before it is measured; one that fails or hangs is reported and skipped,
//! not measured.
//!
//! After criterion, prints the items/s of each entry (criterion's median, read back
//! from `target/criterion/**/new/estimates.json`) with the ratio Spillway / plain (> 1:
//! Spillway is faster), then the peak-RSS table: per variant a child process runs the
//! pipeline once and reports `VmHWM` before (`base`) and after; the ratio is of the
//! growth (`hwm - base`). The children also count the heap (a counting wrapper of the
//! system allocator, switched on only there): its peak growth and allocation calls per
//! item, the most 64-KiB chunks alive at once, and, in (a), the most work futures running
//! at once per pipeline (a task-local probe in `work`). Variants beyond the compared pair
//! (other `into_stream` batches, `map_async` concurrencies, chunk sizes) show where the
//! memory goes. (The RSS and heap figures are of one run each: expect +-100 kB of noise.)
//!
//! Run: `cargo bench --bench async_pipelines -- --warm-up-time 1 --measurement-time 3`.
//! Writes `target/bench-extra/async_pipelines.json`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::hint::black_box;
use std::io::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use futures::StreamExt;
use spillway::prelude::*;
use tokio::io::AsyncBufReadExt;
use tokio::runtime::Runtime;
use tokio_stream::wrappers::{LinesStream, ReceiverStream};

/// Concurrent pipelines in (a).
const PIPELINES: usize = 200;
/// Items per pipeline in (a), `u64` kind.
const U64_ITEMS: u64 = 500;
/// Items per pipeline in (a), 64-KiB chunk kind.
const CHUNK_ITEMS: u64 = 32;
const CHUNK: usize = 64 * 1024;
/// Capacity of each pipeline's source channel in (a).
const CHANNEL: usize = 4;
/// Size of the file of (b).
const FILE_BYTES: u64 = 20 << 20;
/// A run that takes longer hangs.
const GUARD: Duration = Duration::from_secs(60);

/// The system allocator, with heap accounting in the child processes: bytes live (net
/// of what was freed since counting started), their peak, and allocation calls. Off (one
/// relaxed load per call) in the criterion runs.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static HEAP: AtomicI64 = AtomicI64::new(0);
static HEAP_PEAK: AtomicI64 = AtomicI64::new(0);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

fn count(grown: i64) {
    if grown > 0 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
    let now = HEAP.fetch_add(grown, Ordering::Relaxed) + grown;
    HEAP_PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call goes to `System` unchanged; the counting touches only atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() && COUNTING.load(Ordering::Relaxed) {
            count(layout.size() as i64);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() && COUNTING.load(Ordering::Relaxed) {
            count(layout.size() as i64);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        System.dealloc(p, layout);
        if COUNTING.load(Ordering::Relaxed) {
            count(-(layout.size() as i64));
        }
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = System.realloc(p, layout, new_size);
        if !q.is_null() && COUNTING.load(Ordering::Relaxed) {
            count(new_size as i64 - layout.size() as i64);
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The items of (a).
trait Item: Send + 'static {
    const KIND: &'static str;
    fn make(i: u64) -> Self;
    /// The synchronous part of the per-item async work.
    fn work(self) -> Self;
    /// What the consumer adds to its checksum.
    fn weigh(&self) -> u64;
}

impl Item for u64 {
    const KIND: &'static str = "u64";
    fn make(i: u64) -> u64 {
        i
    }
    fn work(self) -> u64 {
        self * 2
    }
    fn weigh(&self) -> u64 {
        *self
    }
}

/// A 64-KiB chunk, every byte written by the producer (resident, not lazily zeroed).
struct Chunk(Vec<u8>);

/// Chunks alive now, and their peak (reported by the child processes).
static CHUNKS: AtomicI64 = AtomicI64::new(0);
static CHUNKS_PEAK: AtomicI64 = AtomicI64::new(0);

impl Drop for Chunk {
    fn drop(&mut self) {
        CHUNKS.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Item for Chunk {
    const KIND: &'static str = "chunk64k";
    fn make(i: u64) -> Chunk {
        let live = CHUNKS.fetch_add(1, Ordering::Relaxed) + 1;
        CHUNKS_PEAK.fetch_max(live, Ordering::Relaxed);
        Chunk(vec![(i % 200) as u8 + 1; CHUNK])
    }
    fn work(mut self) -> Chunk {
        self.0[0] ^= 0xff;
        self
    }
    fn weigh(&self) -> u64 {
        u64::from(self.0[0]) + u64::from(self.0[CHUNK - 1])
    }
}

/// One variant of (a): `bridge == None` is the plain program.
#[derive(Clone, Copy, Debug)]
struct Many {
    concurrency: usize,
    bridge: Option<usize>,
}

impl Many {
    fn plain(concurrency: usize) -> Many {
        Many {
            concurrency,
            bridge: None,
        }
    }
    fn spillway(concurrency: usize, bridge: usize) -> Many {
        Many {
            concurrency,
            bridge: Some(bridge),
        }
    }
    fn function(&self) -> &'static str {
        if self.bridge.is_some() {
            "spillway"
        } else {
            "plain"
        }
    }
    fn parameter(&self) -> String {
        match self.bridge {
            Some(b) => format!("c{}_b{b}", self.concurrency),
            None => format!("c{}", self.concurrency),
        }
    }
}

/// The producer task: `n` items into a bounded channel.
fn feed<T: Item>(n: u64) -> ReceiverStream<T> {
    let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL);
    tokio::spawn(async move {
        for i in 0..n {
            if tx.send(T::make(i)).await.is_err() {
                break;
            }
        }
    });
    ReceiverStream::new(rx)
}

/// The per-item async work.
async fn work<T: Item>(x: T) -> T {
    tokio::task::yield_now().await;
    x.work()
}

tokio::task_local! {
    /// The child processes' probe: (futures of this pipeline running now, their peak).
    static IN_FLIGHT: std::cell::Cell<(u64, u64)>;
}
/// Highest and summed per-pipeline peaks of `IN_FLIGHT`, and the polls outside its scope.
static IN_FLIGHT_MAX: AtomicU64 = AtomicU64::new(0);
static IN_FLIGHT_SUM: AtomicU64 = AtomicU64::new(0);
static UNSCOPED: AtomicU64 = AtomicU64::new(0);

/// `work`, counting how many run at once in the pipeline polling it (child processes).
async fn work_probed<T: Item>(x: T) -> T {
    let step = |up: bool| {
        let counted = IN_FLIGHT.try_with(|c| {
            let (now, peak) = c.get();
            let now = if up { now + 1 } else { now.saturating_sub(1) };
            c.set((now, peak.max(now)));
        });
        if counted.is_err() {
            UNSCOPED.fetch_add(1, Ordering::Relaxed);
        }
    };
    step(true);
    let out = work(x).await;
    step(false);
    out
}

/// One pipeline of (a), read to the end by the calling task; returns its checksum.
async fn pipeline<T, F, Fut>(n: u64, case: Many, f: F) -> u64
where
    T: Item,
    F: FnMut(T) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let mut sum = 0u64;
    match case.bridge {
        Some(bridge) => {
            let mut s = from_stream(feed::<T>(n))
                .map_async(case.concurrency, f)
                .expect("concurrency > 0")
                .into_stream(bridge);
            while let Some(x) = s.next().await {
                sum += x.expect("no error").weigh();
            }
        }
        None => {
            let mut s = feed::<T>(n).map(f).buffered(case.concurrency);
            while let Some(x) = s.next().await {
                sum += x.weigh();
            }
        }
    }
    sum
}

/// (a): `PIPELINES` pipelines, each read by its own task.
async fn many<T: Item>(n: u64, case: Many) -> u64 {
    let tasks: Vec<_> = (0..PIPELINES)
        .map(|_| tokio::spawn(pipeline(n, case, work::<T>)))
        .collect();
    let mut sum = 0;
    for t in tasks {
        sum += t.await.expect("pipeline task");
    }
    sum
}

/// `many` with the `IN_FLIGHT` probe in each pipeline (child processes).
async fn many_probed<T: Item>(n: u64, case: Many) -> u64 {
    let tasks: Vec<_> = (0..PIPELINES)
        .map(|_| {
            tokio::spawn(IN_FLIGHT.scope(std::cell::Cell::new((0, 0)), async move {
                let sum = pipeline(n, case, work_probed::<T>).await;
                let peak = IN_FLIGHT.with(|c| c.get().1);
                IN_FLIGHT_MAX.fetch_max(peak, Ordering::Relaxed);
                IN_FLIGHT_SUM.fetch_add(peak, Ordering::Relaxed);
                sum
            }))
        })
        .collect();
    let mut sum = 0;
    for t in tasks {
        sum += t.await.expect("pipeline task");
    }
    sum
}

fn many_want<T: Item>(n: u64) -> u64 {
    PIPELINES as u64 * (0..n).map(|i| T::make(i).work().weigh()).sum::<u64>()
}

/// One variant of (b).
#[derive(Clone, Copy, Debug)]
struct Lines {
    spillway: bool,
    chunk: usize,
    concurrency: usize,
}

impl Lines {
    fn function(&self) -> &'static str {
        if self.spillway {
            "spillway"
        } else {
            "plain"
        }
    }
    fn parameter(&self) -> String {
        format!("k{}_c{}", self.chunk, self.concurrency)
    }
}

/// Lines and the sum of their values: the checksum of (b).
#[derive(Debug, Default)]
struct Tally {
    lines: AtomicU64,
    sum: AtomicU64,
}

impl Tally {
    fn get(&self) -> (u64, u64) {
        (
            self.lines.load(Ordering::Relaxed),
            self.sum.load(Ordering::Relaxed),
        )
    }
}

/// Writes the file of (b); returns its (lines, sum of values).
fn write_lines(path: &Path) -> (u64, u64) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create temp file"));
    let (mut bytes, mut lines, mut sum) = (0u64, 0u64, 0u64);
    while bytes < FILE_BYTES {
        let value = lines.wrapping_mul(2_654_435_761) % 1_000_000;
        let line = format!("{lines},{value}\n");
        out.write_all(line.as_bytes()).expect("write temp file");
        bytes += line.len() as u64;
        lines += 1;
        sum += value;
    }
    out.flush().expect("write temp file");
    (lines, sum)
}

fn parse(line: std::io::Result<String>) -> (u64, u64) {
    let line = line.expect("read line");
    let (id, value) = line.split_once(',').expect("an `id,value` line");
    (id.parse().expect("id"), value.parse().expect("value"))
}

/// The simulated slow sink: an await point, then the batch encoded into a buffer.
async fn sink(batch: Vec<(u64, u64)>, tally: Arc<Tally>) {
    tokio::task::yield_now().await;
    let mut buf = Vec::with_capacity(batch.len() * 16);
    let mut sum = 0;
    for (id, value) in &batch {
        buf.extend_from_slice(&id.to_le_bytes());
        buf.extend_from_slice(&value.to_le_bytes());
        sum += value;
    }
    black_box(&buf);
    tally.lines.fetch_add(batch.len() as u64, Ordering::Relaxed);
    tally.sum.fetch_add(sum, Ordering::Relaxed);
}

/// (b): returns (lines, sum of values) as the sink saw them.
async fn lines(path: PathBuf, case: Lines) -> (u64, u64) {
    let file = tokio::fs::File::open(&path).await.expect("open temp file");
    let lines = LinesStream::new(tokio::io::BufReader::with_capacity(64 * 1024, file).lines());
    let tally = Arc::new(Tally::default());
    if case.spillway {
        let t = Arc::clone(&tally);
        from_stream(lines)
            .map(parse)
            .chunks(case.chunk)
            .expect("chunk > 0")
            .for_each_async(case.concurrency, move |batch| sink(batch, Arc::clone(&t)))
            .await
            .expect("no error");
    } else {
        lines
            .map(parse)
            .chunks(case.chunk)
            .for_each_concurrent(case.concurrency, |batch| sink(batch, Arc::clone(&tally)))
            .await;
    }
    tally.get()
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The run the watchdog looks at: its label and when it started.
static RUNNING: Mutex<Option<(String, Instant)>> = Mutex::new(None);

/// Exits the process when a run outlives `GUARD` by far: the timeout inside the runtime
/// could not fire (workers stuck in a poll).
fn watchdog() {
    static START: Once = Once::new();
    START.call_once(|| {
        std::thread::spawn(|| loop {
            std::thread::sleep(Duration::from_secs(1));
            let running = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((what, since)) = running.as_ref() {
                if since.elapsed() > GUARD + Duration::from_secs(15) {
                    eprintln!(
                        "async_pipelines: {what}: HANG, still running after {:?} (the \
                         runtime's timer could not fire); exiting",
                        since.elapsed()
                    );
                    std::process::exit(3);
                }
            }
        });
    });
}

/// Runs `fut` on `rt` as `#[tokio::main]` does; panics if it takes more than `GUARD`.
fn guarded<F: Future>(rt: &Runtime, what: &str, fut: F) -> F::Output {
    watchdog();
    *RUNNING.lock().unwrap_or_else(|p| p.into_inner()) = Some((what.to_string(), Instant::now()));
    let out = rt.block_on(async {
        match tokio::time::timeout(GUARD, fut).await {
            Ok(out) => out,
            Err(_) => panic!("async_pipelines: {what}: HANG, did not finish within {GUARD:?}"),
        }
    });
    *RUNNING.lock().unwrap_or_else(|p| p.into_inner()) = None;
    out
}

/// Runs `f` once on a fresh runtime; a panic (a wrong checksum, a hang) becomes `Err`.
fn check<T: PartialEq + std::fmt::Debug>(
    what: &str,
    want: T,
    f: impl FnOnce(&Runtime) -> T,
) -> Result<(), String> {
    let rt = runtime();
    let got = catch_unwind(AssertUnwindSafe(|| f(&rt)));
    *RUNNING.lock().unwrap_or_else(|p| p.into_inner()) = None;
    rt.shutdown_timeout(Duration::from_secs(5));
    match got {
        Ok(got) if got == want => Ok(()),
        Ok(got) => Err(format!("{what}: wrong result {got:?}, want {want:?}")),
        Err(p) => Err(p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| format!("{what}: panicked"))),
    }
}

fn many_group<T: Item>(c: &mut Criterion, n: u64, cases: &[Many], failed: &mut Vec<String>) {
    let group = format!("many_{}", T::KIND);
    let rt = runtime();
    let want = many_want::<T>(n);
    let mut g = c.benchmark_group(&group);
    g.throughput(Throughput::Elements(PIPELINES as u64 * n));
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    for &case in cases {
        let what = format!("{group}/{}/{}", case.function(), case.parameter());
        if let Err(e) = check(&what, want, |rt| guarded(rt, &what, many::<T>(n, case))) {
            eprintln!("{what}: not measured: {e}");
            failed.push(format!("{what}: {e}"));
            continue;
        }
        g.bench_function(BenchmarkId::new(case.function(), case.parameter()), |b| {
            b.iter(|| guarded(&rt, &what, many::<T>(black_box(n), case)))
        });
    }
    g.finish();
}

fn lines_group(
    c: &mut Criterion,
    path: &Path,
    want: (u64, u64),
    cases: &[Lines],
    failed: &mut Vec<String>,
) {
    let rt = runtime();
    let mut g = c.benchmark_group("lines");
    g.throughput(Throughput::Elements(want.0));
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    for &case in cases {
        let what = format!("lines/{}/{}", case.function(), case.parameter());
        if let Err(e) = check(&what, want, |rt| {
            guarded(rt, &what, lines(path.to_path_buf(), case))
        }) {
            eprintln!("{what}: not measured: {e}");
            failed.push(format!("{what}: {e}"));
            continue;
        }
        g.bench_function(BenchmarkId::new(case.function(), case.parameter()), |b| {
            b.iter(|| guarded(&rt, &what, lines(path.to_path_buf(), case)))
        });
    }
    g.finish();
}

#[path = "support/rss.rs"]
mod rss;
use rss::peak_rss_kb;

/// A child process: one run of one variant, then its peak RSS.
fn child(args: &[String]) {
    let arg = |i: usize| args.get(i).map(String::as_str).expect("child argument");
    let num = |i: usize| arg(i).parse::<usize>().expect("child number");
    let rt = runtime();
    // The runtime's threads exist and have run once: what follows is the pipeline's.
    rt.block_on(tokio::task::yield_now());
    let base = peak_rss_kb();
    COUNTING.store(true, Ordering::Relaxed);
    let t = Instant::now();
    let items = match arg(0) {
        "many" => {
            let case = match arg(2) {
                "plain" => Many::plain(num(3)),
                _ => Many::spillway(num(3), num(4)),
            };
            let what = format!("many_{}/{}/{}", arg(1), case.function(), case.parameter());
            let (n, got, want) = match arg(1) {
                "u64" => (
                    U64_ITEMS,
                    guarded(&rt, &what, many_probed::<u64>(U64_ITEMS, case)),
                    many_want::<u64>(U64_ITEMS),
                ),
                _ => (
                    CHUNK_ITEMS,
                    guarded(&rt, &what, many_probed::<Chunk>(CHUNK_ITEMS, case)),
                    many_want::<Chunk>(CHUNK_ITEMS),
                ),
            };
            assert_eq!(got, want, "{what}: checksum");
            PIPELINES as u64 * n
        }
        "lines" => {
            let case = Lines {
                spillway: arg(2) == "spillway",
                chunk: num(3),
                concurrency: num(4),
            };
            let what = format!("lines/{}/{}", case.function(), case.parameter());
            guarded(&rt, &what, lines(PathBuf::from(arg(1)), case)).0
        }
        other => panic!("unknown child {other}"),
    };
    let secs = t.elapsed().as_secs_f64();
    COUNTING.store(false, Ordering::Relaxed);
    println!(
        "base_kb={base} hwm_kb={} items={items} secs={secs:.3} heap_peak_b={} allocs={} \
         chunks_peak={} in_flight_max={} in_flight_avg={:.2} unscoped={}",
        peak_rss_kb(),
        HEAP_PEAK.load(Ordering::Relaxed),
        ALLOCS.load(Ordering::Relaxed),
        CHUNKS_PEAK.load(Ordering::Relaxed),
        IN_FLIGHT_MAX.load(Ordering::Relaxed),
        IN_FLIGHT_SUM.load(Ordering::Relaxed) as f64 / PIPELINES as f64,
        UNSCOPED.load(Ordering::Relaxed),
    );
}

/// Runs a child with `args`; kills it if it outlives the guard.
fn run_child(exe: &Path, args: &[String]) -> Result<String, String> {
    let mut child = Command::new(exe)
        .arg("--child")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let t = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if t.elapsed() > GUARD + Duration::from_secs(30) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("HANG: killed after {:?}", t.elapsed()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("wait: {e}")),
        }
    }
    let out = child.wait_with_output().map_err(|e| format!("wait: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout.lines().last().unwrap_or_default().to_string())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = stderr
            .lines()
            .find(|l| l.contains("HANG") || l.contains("panicked") || l.contains("async_pipelines"))
            .unwrap_or("failed");
        Err(format!("{}: {why}", out.status))
    }
}

fn field<T: std::str::FromStr>(line: &str, key: &str) -> Option<T> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

/// What a child process reported.
#[derive(Clone, Copy, Debug)]
struct Measured {
    base_kb: u64,
    hwm_kb: u64,
    items: u64,
    secs: f64,
    /// Peak heap growth during the run, bytes.
    heap_peak: i64,
    allocs: u64,
    chunks_peak: i64,
    /// (a): per pipeline, the most work futures running at once (mean over pipelines).
    in_flight: f64,
}

impl Measured {
    fn parse(line: &str) -> Result<Measured, String> {
        let get = |key: &str| field(line, key).ok_or_else(|| format!("no {key} in {line:?}"));
        Ok(Measured {
            base_kb: get("base_kb")?,
            hwm_kb: get("hwm_kb")?,
            items: get("items")?,
            secs: field(line, "secs").ok_or("no secs")?,
            heap_peak: field(line, "heap_peak_b").ok_or("no heap_peak_b")?,
            allocs: get("allocs")?,
            chunks_peak: field(line, "chunks_peak").ok_or("no chunks_peak")?,
            in_flight: field(line, "in_flight_avg").ok_or("no in_flight_avg")?,
        })
    }
    fn growth_kb(&self) -> u64 {
        self.hwm_kb.saturating_sub(self.base_kb)
    }
}

struct RssRow {
    group: String,
    function: &'static str,
    parameter: String,
    /// Or why the child failed.
    result: Result<Measured, String>,
}

fn rss_rows(path: &Path, many_cases: &[Many], line_cases: &[Lines]) -> Vec<RssRow> {
    let exe = std::env::current_exe().expect("current exe");
    let mut rows = Vec::new();
    let mut run = |group: String, function, parameter, args: Vec<String>| {
        let result = run_child(&exe, &args).and_then(|line| Measured::parse(&line));
        rows.push(RssRow {
            group,
            function,
            parameter,
            result,
        });
    };
    for kind in [u64::KIND, Chunk::KIND] {
        for case in many_cases {
            run(
                format!("many_{kind}"),
                case.function(),
                case.parameter(),
                vec![
                    "many".into(),
                    kind.into(),
                    case.function().into(),
                    case.concurrency.to_string(),
                    case.bridge.unwrap_or(0).to_string(),
                ],
            );
        }
    }
    for case in line_cases {
        run(
            "lines".into(),
            case.function(),
            case.parameter(),
            vec![
                "lines".into(),
                path.display().to_string(),
                case.function().into(),
                case.chunk.to_string(),
                case.concurrency.to_string(),
            ],
        );
    }
    rows
}

/// Criterion's median time per iteration (ns) of `group/function/parameter`, from the
/// estimates it just wrote.
fn median_ns(target: &Path, group: &str, function: &str, parameter: &str) -> Option<f64> {
    let file = target
        .join("criterion")
        .join(group)
        .join(function)
        .join(parameter)
        .join("new/estimates.json");
    let json = std::fs::read_to_string(file).ok()?;
    let median = &json[json.find("\"median\"")?..];
    let value = &median[median.find("\"point_estimate\"")? + "\"point_estimate\"".len()..];
    let value = value.trim_start().strip_prefix(':')?.trim_start();
    let end = value.find([',', '}']).unwrap_or(value.len());
    value[..end].trim().parse().ok()
}

fn fmt_rate(per_s: f64) -> String {
    if per_s >= 1e6 {
        format!("{:.2} M/s", per_s / 1e6)
    } else {
        format!("{:.1} k/s", per_s / 1e3)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(&args[i + 1..]);
        return;
    }
    let listing = args.iter().any(|a| a == "--list");

    // (a): the compared pair first; then the other `into_stream` batches (info).
    let many_bench = [Many::plain(4), Many::spillway(4, 2), Many::spillway(4, 8)];
    // The peak-RSS variants: also the `map_async` concurrency, against `buffered`'s.
    let many_rss = [
        Many::plain(4),
        Many::spillway(4, 2),
        Many::spillway(4, 8),
        Many::spillway(4, 64),
        Many::plain(1),
        Many::spillway(1, 2),
        Many::plain(16),
        Many::spillway(16, 2),
    ];
    let line = |spillway, chunk| Lines {
        spillway,
        chunk,
        concurrency: 4,
    };
    let lines_bench = [line(false, 1000), line(true, 1000)];
    let lines_rss = [
        line(false, 1000),
        line(true, 1000),
        line(false, 100),
        line(true, 100),
        line(false, 10_000),
        line(true, 10_000),
    ];

    /// Removes the temp file however `main` ends.
    struct TempFile(PathBuf);
    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let file = TempFile(std::env::temp_dir().join(format!(
        "spillway-async-pipelines-{}.csv",
        std::process::id()
    )));
    let lines_want = if listing {
        (1, 0)
    } else {
        write_lines(&file.0)
    };

    let mut failed = Vec::new();
    let mut c = Criterion::default().configure_from_args();
    many_group::<u64>(&mut c, U64_ITEMS, &many_bench, &mut failed);
    many_group::<Chunk>(&mut c, CHUNK_ITEMS, &many_bench[..2], &mut failed);
    lines_group(&mut c, &file.0, lines_want, &lines_bench, &mut failed);
    c.final_summary();
    if listing {
        return;
    }

    let target = std::env::var_os("CRITERION_HOME")
        .map(|h| PathBuf::from(h).join(".."))
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/target").into());
    let mut json = Vec::new();

    println!(
        "\nasync_pipelines: throughput (criterion median), ratio = Spillway items/s / plain \
         items/s (> 1: Spillway faster)"
    );
    println!(
        "{:<16} {:<24} {:>12} {:>8}",
        "group", "variant", "items/s", "ratio"
    );
    let mut throughput = |group: &str, items: u64, entries: Vec<(&'static str, String)>| {
        let rate =
            |f: &str, p: &str| median_ns(&target, group, f, p).map(|ns| items as f64 * 1e9 / ns);
        let plain = entries
            .iter()
            .find(|e| e.0 == "plain")
            .and_then(|e| rate(e.0, &e.1));
        for (f, p) in &entries {
            let r = rate(f, p);
            let ratio = match (r, plain) {
                (Some(r), Some(plain)) => format!("{:.2}", r / plain),
                _ => "-".into(),
            };
            let shown = r.map(fmt_rate).unwrap_or_else(|| "n/a".into());
            println!(
                "{group:<16} {:<24} {shown:>12} {ratio:>8}",
                format!("{f}/{p}")
            );
            if let Some(r) = r {
                json.push(format!(
                    "\"{group}/{f}/{p}\": {{\"items_per_s\": {r:.0}, \"vs_plain\": {}}}",
                    plain.map_or("null".into(), |plain| format!("{:.3}", r / plain))
                ));
            }
        }
    };
    let entries = |cases: &[Many]| {
        cases
            .iter()
            .map(|c| (c.function(), c.parameter()))
            .collect::<Vec<_>>()
    };
    throughput(
        "many_u64",
        PIPELINES as u64 * U64_ITEMS,
        entries(&many_bench),
    );
    throughput(
        "many_chunk64k",
        PIPELINES as u64 * CHUNK_ITEMS,
        entries(&many_bench[..2]),
    );
    throughput(
        "lines",
        lines_want.0,
        lines_bench
            .iter()
            .map(|c| (c.function(), c.parameter()))
            .collect(),
    );

    if !cfg!(target_os = "linux") {
        println!("async_pipelines: VmHWM needs Linux; peak RSS skipped");
    } else {
        let rows = rss_rows(&file.0, &many_rss, &lines_rss);
        println!(
            "\nasync_pipelines: one run per variant in a child process. RSS growth = VmHWM \
             - VmHWM after the runtime started; heap = peak of the bytes allocated and not \
             yet freed during the run; x plain = ratio to plain with the same c (and k); \
             per pipe = heap (u64) or most 64-KiB chunks alive at once (chunk64k) per \
             pipeline; futs = most work futures running at once in a pipeline (mean); \
             allocs = allocation calls per item"
        );
        println!(
            "{:<14} {:<18} {:>8} {:>8} {:>9} {:>7} {:>9} {:>7} {:>9} {:>5} {:>7} {:>6}",
            "group",
            "variant",
            "base kB",
            "hwm kB",
            "RSS+ kB",
            "x plain",
            "heap kB",
            "x plain",
            "per pipe",
            "futs",
            "allocs",
            "secs"
        );
        // The plain row with the same concurrency (and, for lines, chunk size).
        let key = |p: &str| {
            p.split('_')
                .filter(|s| !s.starts_with('b'))
                .collect::<Vec<_>>()
                .join("_")
        };
        let ratio = |x: f64, plain: Option<f64>| match plain {
            Some(p) if p > 0.0 => format!("{:.2}", x / p),
            _ => "-".into(),
        };
        for r in &rows {
            let name = format!("{}/{}", r.function, r.parameter);
            let m = match &r.result {
                Ok(m) => *m,
                Err(why) => {
                    println!("{:<14} {name:<18} FAILED: {why}", r.group);
                    continue;
                }
            };
            let plain = rows
                .iter()
                .find(|p| {
                    p.group == r.group
                        && p.function == "plain"
                        && key(&p.parameter) == key(&r.parameter)
                })
                .and_then(|p| p.result.as_ref().ok().copied());
            let growth = m.growth_kb();
            let heap_kb = m.heap_peak as f64 / 1024.0;
            let growth_x = ratio(growth as f64, plain.map(|p| p.growth_kb() as f64));
            let heap_x = ratio(heap_kb, plain.map(|p| p.heap_peak as f64 / 1024.0));
            let per_pipe = if r.group == "many_chunk64k" {
                format!("{:.1} ch", m.chunks_peak as f64 / PIPELINES as f64)
            } else if r.group.starts_with("many") {
                format!("{:.1} kB", heap_kb / PIPELINES as f64)
            } else {
                "-".into()
            };
            let futs = if r.group.starts_with("many") {
                format!("{:.1}", m.in_flight)
            } else {
                "-".into()
            };
            // Allocation calls per item (per line for `lines`).
            let allocs = m.allocs as f64 / m.items.max(1) as f64;
            println!(
                "{:<14} {name:<18} {:>8} {:>8} {growth:>9} {growth_x:>7} {heap_kb:>9.0} \
                 {heap_x:>7} {per_pipe:>9} {futs:>5} {allocs:>7.2} {:>6.2}",
                r.group, m.base_kb, m.hwm_kb, m.secs
            );
            json.push(format!(
                "\"rss/{}/{name}\": {{\"base_kb\": {}, \"hwm_kb\": {}, \"growth_kb\": \
                 {growth}, \"heap_peak_kb\": {heap_kb:.0}, \"chunks_peak\": {}, \
                 \"in_flight\": {:.2}, \"allocs_per_item\": {allocs:.3}}}",
                r.group, m.base_kb, m.hwm_kb, m.chunks_peak, m.in_flight
            ));
        }
    }
    for f in &failed {
        println!("NOT MEASURED (failed its check): {f}");
    }
    let dir = target.join("bench-extra");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(
        dir.join("async_pipelines.json"),
        format!("{{{}}}\n", json.join(", ")),
    );
}
