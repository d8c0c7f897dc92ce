//! (4): 1M `u64` handed from one thread to another through a bounded queue of 1024,
//! summed on the receiving thread.
//!
//! Group `handoff`:
//! * `spillway_publish_on`: `range().subscribe_on(producer).publish_on(consumer, 1024)
//!   .fold()`: `subscribe_on` pins the source (and its replenishing requests) to the
//!   producer worker, `publish_on` delivers on the consumer worker: a true two-thread
//!   hand-off, which is what the channel peers do. The calling thread only waits.
//! * `spillway_publish_on_unpinned` (informative, no target): `range().publish_on(consumer,
//!   1024)` alone. As documented, the source then emits on the consumer thread after the
//!   first 1024 items (replenishing requests come from there), so this is mostly *not* a
//!   hand-off; it is measured because it is what a user writes first.
//! * `std_sync_channel`, `crossbeam_bounded`: a producer thread `send`s, the bench
//!   thread `recv`s (capacity 1024).
//! * `tokio_mpsc`: bounded `tokio::sync::mpsc::channel(1024)`, producer and consumer
//!   tasks on a 2-worker multi-thread runtime.
//!
//! Target: spillway_publish_on at least 2x the items per second of the best channel.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spillway::prelude::*;
use spillway::Worker;

const N: u64 = 1_000_000;
const CAP: usize = 1024;

fn spillway_pinned(producer: &Worker, consumer: &Worker, n: u64) -> u64 {
    futures::executor::block_on(
        range(0, n)
            .subscribe_on(producer.clone())
            .publish_on(consumer.clone(), CAP)
            .expect("prefetch > 0")
            .fold(0u64, |a, x| a + x),
    )
    .expect("no error")
}

fn spillway_unpinned(consumer: &Worker, n: u64) -> u64 {
    futures::executor::block_on(
        range(0, n)
            .publish_on(consumer.clone(), CAP)
            .expect("prefetch > 0")
            .fold(0u64, |a, x| a + x),
    )
    .expect("no error")
}

fn std_channel(n: u64) -> u64 {
    let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(CAP);
    std::thread::scope(|s| {
        s.spawn(move || {
            for i in 0..n {
                tx.send(i).expect("receiver alive");
            }
        });
        rx.iter().sum()
    })
}

fn crossbeam_channel(n: u64) -> u64 {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(CAP);
    std::thread::scope(|s| {
        s.spawn(move || {
            for i in 0..n {
                tx.send(i).expect("receiver alive");
            }
        });
        rx.iter().sum()
    })
}

fn tokio_mpsc(rt: &tokio::runtime::Runtime, n: u64) -> u64 {
    rt.block_on(async move {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(CAP);
        let producer = tokio::spawn(async move {
            for i in 0..n {
                tx.send(i).await.expect("receiver alive");
            }
        });
        let consumer = tokio::spawn(async move {
            let mut sum = 0u64;
            while let Some(x) = rx.recv().await {
                sum += x;
            }
            sum
        });
        producer.await.expect("producer");
        consumer.await.expect("consumer")
    })
}

fn handoff(c: &mut Criterion) {
    let want: u64 = (0..N).sum();
    let producer = Worker::new("bench-producer");
    let consumer = Worker::new("bench-consumer");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("tokio runtime");
    assert_eq!(spillway_pinned(&producer, &consumer, N), want);
    assert_eq!(spillway_unpinned(&consumer, N), want);
    assert_eq!(std_channel(N), want);
    assert_eq!(crossbeam_channel(N), want);
    assert_eq!(tokio_mpsc(&rt, N), want);

    let mut g = c.benchmark_group("handoff");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.bench_function("spillway_publish_on", |b| {
        b.iter(|| spillway_pinned(&producer, &consumer, black_box(N)))
    });
    g.bench_function("spillway_publish_on_unpinned", |b| {
        b.iter(|| spillway_unpinned(&consumer, black_box(N)))
    });
    g.bench_function("std_sync_channel", |b| b.iter(|| std_channel(black_box(N))));
    g.bench_function("crossbeam_bounded", |b| {
        b.iter(|| crossbeam_channel(black_box(N)))
    });
    g.bench_function("tokio_mpsc", |b| b.iter(|| tokio_mpsc(&rt, black_box(N))));
    g.finish();
}

criterion_group!(benches, handoff);
criterion_main!(benches);
