//! (3): the `range -> map -> filter` chain of 1M `u64` bridged with `into_stream(batch)`
//! and summed by an async `while let Some(..) = s.next().await` loop.
//!
//! Group `into_stream`: `spillway/{64,256,1024}` on `futures::executor::block_on`,
//! `spillway_tokio/256` on a current-thread tokio runtime. No target of its own: the
//! report shows it against `map_filter_sum/spillway_unbounded` (the same chain without
//! the bridge) and `map_filter_sum/futures_stream`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::StreamExt;
use spillway::prelude::*;

const N: u64 = 1_000_000;

async fn sum_bridge(n: u64, batch: usize) -> u64 {
    let mut s = std::pin::pin!(range(0, n)
        .map(|x| x * 3)
        .filter(|x| x % 2 == 0)
        .into_stream(batch));
    let mut sum = 0u64;
    while let Some(item) = s.next().await {
        sum += item.expect("no error");
    }
    sum
}

fn bridge(c: &mut Criterion) {
    let want: u64 = (0..N).map(|x| x * 3).filter(|x| x % 2 == 0).sum();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    for batch in [64usize, 256, 1024] {
        assert_eq!(futures::executor::block_on(sum_bridge(N, batch)), want);
    }
    assert_eq!(rt.block_on(sum_bridge(N, 256)), want);

    let mut g = c.benchmark_group("into_stream");
    g.throughput(Throughput::Elements(N));
    for batch in [64usize, 256, 1024] {
        g.bench_with_input(BenchmarkId::new("spillway", batch), &batch, |b, &batch| {
            b.iter(|| futures::executor::block_on(sum_bridge(black_box(N), batch)))
        });
    }
    g.bench_with_input(
        BenchmarkId::new("spillway_tokio", 256),
        &256usize,
        |b, &batch| b.iter(|| rt.block_on(sum_bridge(black_box(N), batch))),
    );
    g.finish();
}

criterion_group!(benches, bridge);
criterion_main!(benches);
