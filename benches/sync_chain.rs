//! (1) and (2): a synchronous range -> map -> filter -> sum chain, against a plain
//! iterator and a `futures::Stream` chain, with unbounded demand and in batches.

use std::convert::Infallible;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::StreamExt;
use spillway::prelude::*;
use spillway::{Error, SharedSubscription};

const N: u64 = 1_000_000;

/// Sums with a fixed request batch, replenishing when the batch is used up.
struct BatchedSum {
    batch: u64,
    left: u64,
    sum: u64,
    out: std::sync::Arc<std::sync::atomic::AtomicU64>,
    sub: Option<SharedSubscription>,
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
        self.left -= 1;
        if self.left == 0 {
            self.left = self.batch;
            self.sub.as_ref().unwrap().request(self.batch);
        }
    }
    fn on_error(&mut self, _: Error<Infallible>) {}
    fn on_complete(&mut self) {
        self.out.store(self.sum, std::sync::atomic::Ordering::Relaxed);
    }
}

fn chain(c: &mut Criterion) {
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
    g.bench_function("futures_stream", |b| {
        b.iter(|| {
            futures::executor::block_on(
                futures::stream::iter(0..black_box(N))
                    .map(|x| x * 3)
                    .filter(|x| futures::future::ready(x % 2 == 0))
                    .fold(0u64, |a, x| futures::future::ready(a + x)),
            )
        })
    });
    g.bench_function("spillway_unbounded", |b| {
        b.iter(|| {
            futures::executor::block_on(
                range(0, black_box(N))
                    .map(|x| x * 3)
                    .filter(|x| x % 2 == 0)
                    .fold(0u64, |a, x| a + x),
            )
            .unwrap()
        })
    });
    for batch in [32u64, 256] {
        g.bench_with_input(BenchmarkId::new("spillway_batched", batch), &batch, |b, &batch| {
            b.iter(|| {
                let out = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
                range(0, black_box(N))
                    .map(|x| x * 3)
                    .filter(|x| x % 2 == 0)
                    .subscribe(BatchedSum { batch, left: 0, sum: 0, out: out.clone(), sub: None });
                out.load(std::sync::atomic::Ordering::Relaxed)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, chain);
criterion_main!(benches);
