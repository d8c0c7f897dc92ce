//! (7): events per second through time-based operators on the virtual clock
//! (`spillway_testkit::VirtualScheduler`), brought to the pipeline by the subscriber's
//! `Context` as a test would. Wall-clock time is what is measured; virtual time only
//! decides what the operators do.
//!
//! Group `virtual_interval_100k` (100k ticks of a virtual `interval(1ms)`, the clock
//! advanced by 100 s in one call; every tick is a timer task of the virtual scheduler):
//! * `interval`: the bare source (the cost of the virtual timers themselves).
//! * `sample_10ms`: `interval(1ms).sample(10ms)`: 1 of 10 ticks emitted.
//! * `rate_limit_drop`: `interval(1ms).rate_limit(1 per 2ms, burst 1, Drop)`: half kept.
//!
//! Group `virtual_create_1m` (a hot `create` source: 1M items pushed by the bench loop,
//! 100 items per virtual millisecond, the clock advanced by 1 ms after each 100):
//! * `create_only`: the bare source and clock (baseline: no time-based operator).
//! * `sample_1ms`: `create().sample(1ms)`.
//! * `rate_limit_drop`: `create().rate_limit(10 per 1ms, Drop)`.
//!
//! Group `virtual_range_delay_100k`: `range(0, 100k).rate_limit(1000/s, Delay)` and
//! `run_until_idle`-style advancing: lossless shaping on virtual time.
//!
//! Target: at least 10M events per second (events = items entering the operator).

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spillway::operators::{RateLimitMode, TokenBucket};
use spillway::prelude::*;
use spillway::{Context, Error, Scheduler, SharedSubscription};
use spillway_testkit::VirtualScheduler;

const TICKS: u64 = 100_000;
const PUSHED: u64 = 1_000_000;
const PER_MS: u64 = 100;
const SHAPED: u64 = 100_000;

/// Requests everything, counts items, and carries the virtual clock in its context.
struct Count {
    clock: Arc<dyn Scheduler>,
    seen: Arc<AtomicU64>,
    done: Arc<AtomicU64>,
}

impl Subscriber for Count {
    type Item = u64;
    type Error = Infallible;
    fn on_subscribe(&mut self, s: SharedSubscription) {
        s.request(u64::MAX);
    }
    fn on_next(&mut self, _item: u64) {
        self.seen.fetch_add(1, Ordering::Relaxed);
    }
    fn on_error(&mut self, e: Error<Infallible>) {
        panic!("unexpected error: {e:?}");
    }
    fn on_complete(&mut self) {
        self.done.store(1, Ordering::Relaxed);
    }
    fn context(&self) -> Context {
        Context::with_scheduler(self.clock.clone())
    }
}

/// Subscribes `p` with a fresh virtual clock, runs `drive`, returns items seen.
fn run<P, D>(p: P, drive: D) -> u64
where
    P: Publisher<Item = u64, Error = Infallible>,
    D: FnOnce(&VirtualScheduler),
{
    let vs = VirtualScheduler::new();
    let seen = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    p.subscribe(Count {
        clock: vs.clone(),
        seen: seen.clone(),
        done: done.clone(),
    });
    drive(&vs);
    assert_eq!(done.load(Ordering::Relaxed), 1, "the pipeline completed");
    seen.load(Ordering::Relaxed)
}

fn ticks() -> impl Publisher<Item = u64, Error = Infallible> {
    interval(Duration::from_millis(1))
        .expect("period > 0")
        .take(TICKS)
}

fn advance_ticks(vs: &VirtualScheduler) {
    vs.advance_by(Duration::from_millis(TICKS + 10));
}

fn interval_only() -> u64 {
    run(ticks(), advance_ticks)
}

fn interval_sample() -> u64 {
    run(
        ticks().sample(Duration::from_millis(10)).expect("period"),
        advance_ticks,
    )
}

fn interval_rate_limit() -> u64 {
    let bucket = TokenBucket::new(1, Duration::from_millis(2));
    run(
        ticks()
            .rate_limit(bucket, RateLimitMode::Drop)
            .expect("bucket"),
        advance_ticks,
    )
}

type Slot = Arc<Mutex<Option<Emitter<u64, Infallible>>>>;

/// A hot source: the emitter is handed out to the bench loop.
fn hot() -> (Slot, impl Publisher<Item = u64, Error = Infallible>) {
    let slot: Slot = Arc::new(Mutex::new(None));
    let s = slot.clone();
    let p = create(
        OverflowStrategy::Drop,
        move |em: Emitter<u64, Infallible>| {
            *s.lock().expect("slot") = Some(em);
        },
    );
    (slot, p)
}

fn push_all(slot: &Slot, vs: &VirtualScheduler) {
    let em = slot.lock().expect("slot").take().expect("subscribed");
    let mut i = 0u64;
    while i < PUSHED {
        for _ in 0..PER_MS {
            let _ = em.next(i);
            i += 1;
        }
        vs.advance_by(Duration::from_millis(1));
    }
    em.complete();
    vs.advance_by(Duration::from_millis(10));
}

fn create_only() -> u64 {
    let (slot, p) = hot();
    run(p, |vs| push_all(&slot, vs))
}

fn create_sample() -> u64 {
    let (slot, p) = hot();
    run(p.sample(Duration::from_millis(1)).expect("period"), |vs| {
        push_all(&slot, vs)
    })
}

fn create_rate_limit() -> u64 {
    let (slot, p) = hot();
    let bucket = TokenBucket::new(10, Duration::from_millis(1));
    run(
        p.rate_limit(bucket, RateLimitMode::Drop).expect("bucket"),
        |vs| push_all(&slot, vs),
    )
}

fn range_delay() -> u64 {
    run(
        range(0, SHAPED)
            .rate_limit(TokenBucket::per_second(1000), RateLimitMode::Delay)
            .expect("bucket"),
        |vs| {
            vs.advance_by(Duration::from_secs(SHAPED / 1000 + 2));
        },
    )
}

fn virtual_time(c: &mut Criterion) {
    let n = interval_only();
    assert_eq!(n, TICKS);
    let s = interval_sample();
    let r = interval_rate_limit();
    assert_eq!(create_only(), PUSHED);
    let cs = create_sample();
    let cr = create_rate_limit();
    let d = range_delay();
    assert_eq!(d, SHAPED);
    println!(
        "virtual_time: interval {n} ticks -> sample(10ms) {s}, rate_limit(1/2ms) {r}; \
         create {PUSHED} pushed -> sample(1ms) {cs}, rate_limit(10/ms) {cr}; delay {d}"
    );

    let mut g = c.benchmark_group("virtual_interval_100k");
    g.throughput(Throughput::Elements(TICKS));
    g.sample_size(10);
    g.bench_function("interval", |b| b.iter(|| black_box(interval_only())));
    g.bench_function("sample_10ms", |b| b.iter(|| black_box(interval_sample())));
    g.bench_function("rate_limit_drop", |b| {
        b.iter(|| black_box(interval_rate_limit()))
    });
    g.finish();

    let mut g = c.benchmark_group("virtual_create_1m");
    g.throughput(Throughput::Elements(PUSHED));
    g.sample_size(10);
    g.bench_function("create_only", |b| b.iter(|| black_box(create_only())));
    g.bench_function("sample_1ms", |b| b.iter(|| black_box(create_sample())));
    g.bench_function("rate_limit_drop", |b| {
        b.iter(|| black_box(create_rate_limit()))
    });
    g.finish();

    let mut g = c.benchmark_group("virtual_range_delay_100k");
    g.throughput(Throughput::Elements(SHAPED));
    g.sample_size(10);
    g.bench_function("rate_limit_delay", |b| b.iter(|| black_box(range_delay())));
    g.finish();
}

criterion_group!(benches, virtual_time);
criterion_main!(benches);
