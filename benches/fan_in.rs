//! (6): fan-in of 8 sources on one thread, 1M `u64` in all, summed.
//!
//! Group `fan_in_8x125k` (8 sources of 125,000 items):
//! * `spillway_merge/{32,256}`: `merge(8 ranges)` with the default prefetch (32) and
//!   with 256.
//! * `spillway_flat_map`: `range(0, 8).flat_map(|i| range(..), 8, 256)`.
//! * `futures_select_all`: `futures::stream::select_all(8 iter streams)` (peer of merge).
//! * `futures_flat_map_unordered`: `stream::iter(0..8).flat_map_unordered(8, |i|
//!   stream::iter(..))` (the exact futures counterpart of flat_map with concurrency 8).
//!
//! Group `flat_map_just_100k` (an async-map shape: each of 100k items becomes one inner
//! publisher with one item, at most 8 in flight):
//! * `spillway_flat_map`: `range().flat_map(|x| just(x * 3), 8, 1)`.
//! * `futures_buffer_unordered`: `stream::iter().map(|x| ready(x * 3))
//!   .buffer_unordered(8)`.
//!
//! Targets: each spillway row faster than its futures peer.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::StreamExt;
use spillway::operators::merge;
use spillway::prelude::*;

const N: u64 = 1_000_000;
const SOURCES: u64 = 8;
const PER: u64 = N / SOURCES;
const JUST_N: u64 = 100_000;

fn spillway_merge(n_per: u64, prefetch: usize) -> u64 {
    let m = merge((0..SOURCES).map(|i| range(i * n_per, (i + 1) * n_per)))
        .prefetch(prefetch)
        .expect("prefetch > 0");
    futures::executor::block_on(m.fold(0u64, |a, x| a + x)).expect("no error")
}

fn spillway_flat_map(n_per: u64) -> u64 {
    futures::executor::block_on(
        range(0, SOURCES)
            .flat_map(move |i| range(i * n_per, (i + 1) * n_per), 8, 256)
            .expect("config")
            .fold(0u64, |a, x| a + x),
    )
    .expect("no error")
}

fn futures_select_all(n_per: u64) -> u64 {
    futures::executor::block_on(
        futures::stream::select_all(
            (0..SOURCES).map(|i| futures::stream::iter(i * n_per..(i + 1) * n_per)),
        )
        .fold(0u64, |a, x| futures::future::ready(a + x)),
    )
}

fn futures_flat_map_unordered(n_per: u64) -> u64 {
    futures::executor::block_on(
        futures::stream::iter(0..SOURCES)
            .flat_map_unordered(8, move |i| {
                futures::stream::iter(i * n_per..(i + 1) * n_per)
            })
            .fold(0u64, |a, x| futures::future::ready(a + x)),
    )
}

fn spillway_flat_map_just(n: u64) -> u64 {
    futures::executor::block_on(
        range(0, n)
            .flat_map(|x| just(x * 3), 8, 1)
            .expect("config")
            .fold(0u64, |a, x| a + x),
    )
    .expect("no error")
}

fn futures_buffer_unordered(n: u64) -> u64 {
    futures::executor::block_on(
        futures::stream::iter(0..n)
            .map(|x| futures::future::ready(x * 3))
            .buffer_unordered(8)
            .fold(0u64, |a, x| futures::future::ready(a + x)),
    )
}

fn fan_in(c: &mut Criterion) {
    let want: u64 = (0..N).sum();
    assert_eq!(spillway_merge(PER, 32), want);
    assert_eq!(spillway_merge(PER, 256), want);
    assert_eq!(spillway_flat_map(PER), want);
    assert_eq!(futures_select_all(PER), want);
    assert_eq!(futures_flat_map_unordered(PER), want);
    let want_just: u64 = (0..JUST_N).map(|x| x * 3).sum();
    assert_eq!(spillway_flat_map_just(JUST_N), want_just);
    assert_eq!(futures_buffer_unordered(JUST_N), want_just);

    let mut g = c.benchmark_group("fan_in_8x125k");
    g.throughput(Throughput::Elements(N));
    for prefetch in [32usize, 256] {
        g.bench_with_input(
            BenchmarkId::new("spillway_merge", prefetch),
            &prefetch,
            |b, &p| b.iter(|| spillway_merge(black_box(PER), p)),
        );
    }
    g.bench_function("spillway_flat_map", |b| {
        b.iter(|| spillway_flat_map(black_box(PER)))
    });
    g.bench_function("futures_select_all", |b| {
        b.iter(|| futures_select_all(black_box(PER)))
    });
    g.bench_function("futures_flat_map_unordered", |b| {
        b.iter(|| futures_flat_map_unordered(black_box(PER)))
    });
    g.finish();

    let mut g = c.benchmark_group("flat_map_just_100k");
    g.throughput(Throughput::Elements(JUST_N));
    g.bench_function("spillway_flat_map", |b| {
        b.iter(|| spillway_flat_map_just(black_box(JUST_N)))
    });
    g.bench_function("futures_buffer_unordered", |b| {
        b.iter(|| futures_buffer_unordered(black_box(JUST_N)))
    });
    g.finish();
}

criterion_group!(benches, fan_in);
criterion_main!(benches);
