//! (1) and (2): a synchronous `range -> map -> filter -> sum` chain of 1M `u64`.
//!
//! Group `map_filter_sum` (one run, same items, same closures):
//! * `iterator`: the plain iterator chain. LLVM compiles it to a branch-free loop and,
//!   since the range starts at a constant, drops the parity test altogether (7
//!   instructions per 4 items, read off `perf annotate`), so it is the floor, not a
//!   like-for-like peer: a source whose batches start anywhere cannot get that loop.
//! * `iterator_scalar`: the same chain summed with `try_fold(checked_add)`: a loop
//!   with an early exit is neither unrolled nor vectorised, so this is what one item at
//!   a time costs without any library (one extra, always-predicted branch per item).
//! * `futures_stream`: `futures::stream::iter(..).map().filter().fold()` on
//!   `futures::executor::block_on`.
//! * `tokio_stream`: `tokio_stream::iter(..).map().filter()` summed by an async loop on
//!   a current-thread tokio runtime.
//! * `spillway_unbounded`: `range().map().filter().fold()` (unbounded demand).
//! * `spillway_batched/{32,256}`: the same chain into a hand-written subscriber that
//!   requests in batches and replenishes when a batch is used up (group 2). It opts in
//!   to the fused fast path (`accepts_batches` / `on_next_batch`), as a subscriber that
//!   cares about throughput would.
//! * `spillway_batched_per_item/{32,256}` (informative): the same subscriber without the
//!   fast path, receiving one `on_next` call per item.
//! * `spillway_limit_rate/256` (informative): batched demand made by a stage instead,
//!   `.limit_rate(256).fold()` (requests 256, replenishes at 75%).
//! * `spillway_boxed` (informative): `spillway_unbounded` with the chain type-erased by
//!   `.boxed()` before `fold` (the cost of a `BoxPublisher`: a virtual call per item,
//!   no fused batches across the box).
//!
//! Targets (checked by `scripts/bench-report.py`): spillway_unbounded within 1.5x of
//! `iterator` and at least 4x faster than `futures_stream`; batched/256 within 1.5x of
//! spillway_unbounded.

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::StreamExt;
use spillway::prelude::*;
use spillway::{Error, SharedSubscription};

const N: u64 = 1_000_000;

/// The expected sum, checked once per benchmark so a broken pipeline cannot look fast.
fn expected() -> u64 {
    (0..N).map(|x| x * 3).filter(|x| x % 2 == 0).sum()
}

/// Sums with a fixed request batch, replenishing when the batch is used up; with
/// `fused`, it takes items through the batch fast path.
struct BatchedSum {
    batch: u64,
    left: u64,
    sum: u64,
    fused: bool,
    out: Arc<AtomicU64>,
    sub: Option<SharedSubscription>,
}

impl BatchedSum {
    fn used(&mut self, n: u64) {
        self.left -= n;
        if self.left == 0 {
            self.left = self.batch;
            if let Some(s) = &self.sub {
                s.request(self.batch);
            }
        }
    }
}

impl Subscriber for BatchedSum {
    type Item = u64;
    type Error = Infallible;
    fn on_subscribe(&mut self, s: SharedSubscription) {
        self.left = self.batch;
        s.request(self.batch);
        self.sub = Some(s);
    }
    #[inline]
    fn on_next(&mut self, item: u64) {
        self.sum += item;
        self.used(1);
    }
    fn accepts_batches(&self) -> bool {
        self.fused
    }
    /// Takes at most `batch.limit()` items (the outstanding demand), so `left` cannot
    /// underflow; the rest stays with the source.
    #[inline]
    fn on_next_batch<I: Iterator<Item = u64>>(
        &mut self,
        items: I,
        batch: &spillway::drain::BatchContext,
    ) -> u64 {
        let (sum, n) = if batch.within_limit() {
            // No more than the demand was offered: take all of it, no limit check.
            items.fold((self.sum, 0), |(sum, n), x| (sum + x, n + 1))
        } else {
            let limit = usize::try_from(batch.limit()).unwrap_or(usize::MAX);
            items
                .take(limit)
                .fold((self.sum, 0), |(sum, n), x| (sum + x, n + 1))
        };
        self.sum = sum;
        self.used(n);
        n
    }
    fn on_error(&mut self, e: Error<Infallible>) {
        panic!("unexpected error: {e:?}");
    }
    fn on_complete(&mut self) {
        self.out.store(self.sum, Ordering::Relaxed);
    }
}

fn iterator_scalar(n: u64) -> u64 {
    (0..n)
        .map(|x| x * 3)
        .filter(|x| x % 2 == 0)
        .try_fold(0u64, |a, x| a.checked_add(x))
        .expect("no overflow")
}

fn futures_stream(n: u64) -> u64 {
    futures::executor::block_on(
        futures::stream::iter(0..n)
            .map(|x| x * 3)
            .filter(|x| futures::future::ready(x % 2 == 0))
            .fold(0u64, |a, x| futures::future::ready(a + x)),
    )
}

fn tokio_stream_chain(rt: &tokio::runtime::Runtime, n: u64) -> u64 {
    rt.block_on(tokio_chain::sum(n))
}

/// In a module of its own: `tokio_stream::StreamExt` and `futures::StreamExt` clash.
mod tokio_chain {
    use tokio_stream::StreamExt;

    pub(crate) async fn sum(n: u64) -> u64 {
        let s = tokio_stream::iter(0..n)
            .map(|x| x * 3)
            .filter(|x| x % 2 == 0);
        tokio::pin!(s);
        let mut sum = 0u64;
        while let Some(x) = s.next().await {
            sum += x;
        }
        sum
    }
}

fn spillway_unbounded(n: u64) -> u64 {
    futures::executor::block_on(
        range(0, n)
            .map(|x| x * 3)
            .filter(|x| x % 2 == 0)
            .fold(0u64, |a, x| a + x),
    )
    .expect("no error")
}

fn spillway_batched(n: u64, batch: u64, fused: bool) -> u64 {
    let out = Arc::new(AtomicU64::new(u64::MAX));
    range(0, n)
        .map(|x| x * 3)
        .filter(|x| x % 2 == 0)
        .subscribe(BatchedSum {
            batch,
            left: 0,
            sum: 0,
            fused,
            out: out.clone(),
            sub: None,
        });
    out.load(Ordering::Relaxed)
}

/// `spillway_unbounded` through a `BoxPublisher`.
fn spillway_boxed(n: u64) -> u64 {
    futures::executor::block_on(
        range(0, n)
            .map(|x| x * 3)
            .filter(|x| x % 2 == 0)
            .boxed()
            .fold(0u64, |a, x| a + x),
    )
    .expect("no error")
}

/// Batched demand from a stage instead of a hand-written subscriber: `limit_rate(batch)`
/// requests `batch` upstream and replenishes at 75%, into `fold`.
fn spillway_limit_rate(n: u64, batch: usize) -> u64 {
    futures::executor::block_on(
        range(0, n)
            .map(|x| x * 3)
            .filter(|x| x % 2 == 0)
            .limit_rate(batch)
            .expect("batch > 0")
            .fold(0u64, |a, x| a + x),
    )
    .expect("no error")
}

fn chain(c: &mut Criterion) {
    let want = expected();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    // Correctness first: every contender computes the same sum.
    assert_eq!(iterator_scalar(N), want);
    assert_eq!(futures_stream(N), want);
    assert_eq!(tokio_stream_chain(&rt, N), want);
    assert_eq!(spillway_unbounded(N), want);
    for fused in [true, false] {
        assert_eq!(spillway_batched(N, 32, fused), want);
        assert_eq!(spillway_batched(N, 256, fused), want);
    }
    assert_eq!(spillway_limit_rate(N, 256), want);
    assert_eq!(spillway_boxed(N), want);

    let mut g = c.benchmark_group("map_filter_sum");
    g.throughput(Throughput::Elements(N));
    g.bench_function("iterator", |b| {
        b.iter(|| {
            (0..black_box(N))
                .map(|x| x * 3)
                .filter(|x| x % 2 == 0)
                .sum::<u64>()
        })
    });
    g.bench_function("iterator_scalar", |b| {
        b.iter(|| iterator_scalar(black_box(N)))
    });
    g.bench_function("futures_stream", |b| {
        b.iter(|| futures_stream(black_box(N)))
    });
    g.bench_function("tokio_stream", |b| {
        b.iter(|| tokio_stream_chain(&rt, black_box(N)))
    });
    g.bench_function("spillway_unbounded", |b| {
        b.iter(|| spillway_unbounded(black_box(N)))
    });
    g.bench_function("spillway_boxed", |b| {
        b.iter(|| spillway_boxed(black_box(N)))
    });
    for batch in [32u64, 256] {
        g.bench_with_input(
            BenchmarkId::new("spillway_batched", batch),
            &batch,
            |b, &batch| b.iter(|| spillway_batched(black_box(N), batch, true)),
        );
        g.bench_with_input(
            BenchmarkId::new("spillway_batched_per_item", batch),
            &batch,
            |b, &batch| b.iter(|| spillway_batched(black_box(N), batch, false)),
        );
    }
    g.bench_with_input(
        BenchmarkId::new("spillway_limit_rate", 256),
        &256usize,
        |b, &n| b.iter(|| spillway_limit_rate(black_box(N), n)),
    );
    g.finish();
}

criterion_group!(benches, chain);
criterion_main!(benches);
