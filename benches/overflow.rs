//! (5): `on_backpressure_buffer(1024, DropNewest | DropOldest)` between a producer thread
//! and a consumer thread that is 10x slower per item.
//!
//! Both sides do calibrated busy work per item (`PRODUCER_NS` and 10x that), so the
//! producer offers items ten times faster than the consumer can take them and about 90%
//! must be dropped. Every contender is offered the same `N` items; the time measured is
//! until the consumer has taken the last item it will get (so it includes draining the
//! 1024 buffered items at the end). The delivered counts of every measured iteration are
//! kept (`target/bench-extra/overflow.json`), and the report compares *delivered items
//! per second*: the consumer's throughput under overload. Time per offered item alone
//! would penalise a policy that keeps the slow consumer busier (its consumer's 500 ns
//! per delivered item make the run longer); the report prints it too, and the delivered
//! and dropped counts (a contender that "wins" by delivering nothing would show it).
//!
//! Group `overflow`:
//! * `spillway_drop_newest`, `spillway_drop_oldest`: `range().map(produce)
//!   .subscribe_on(producer).on_backpressure_buffer(1024, policy).publish_on(consumer, 8)
//!   .fold(consume)`. `publish_on`'s own queue is kept small (8) so the 1024-item buffer
//!   is the one that overflows.
//! * `futures_try_send`: the fair futures equivalent of DropNewest: a producer thread
//!   does `try_send` into a bounded `futures::channel::mpsc::channel(1024)` and drops
//!   the item when it is full; the consumer is `rx.fold(consume)` on `block_on`.
//!   (No futures equivalent of DropOldest exists without writing a queue.)
//!
//! Target: spillway_drop_newest faster than futures_try_send (delivered items per second).

use std::cell::RefCell;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::StreamExt;
use spillway::operators::BufferOverflow;
use spillway::prelude::*;
use spillway::Worker;

const N: u64 = 200_000;
const CAP: usize = 1024;
/// Busy work per produced item; the consumer does ten times as much.
const PRODUCER_NS: u64 = 50;

/// Spin iterations that take about `ns` nanoseconds on this machine.
fn calibrate(ns: u64) -> u64 {
    let probe = 2_000_000u64;
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        spin(probe);
        best = best.min(t.elapsed());
    }
    (probe as f64 * ns as f64 / best.as_nanos().max(1) as f64)
        .round()
        .max(1.0) as u64
}

#[inline(never)]
fn spin(iters: u64) {
    for i in 0..iters {
        black_box(i);
    }
}

#[derive(Debug, Clone, Copy)]
struct Counts {
    delivered: u64,
    dropped: u64,
}

fn spillway_run(
    producer: &Worker,
    consumer: &Worker,
    policy: BufferOverflow,
    work: (u64, u64),
    n: u64,
) -> Counts {
    let (p, c) = work;
    let buffered = range(0, n)
        .map(move |x| {
            spin(p);
            x
        })
        .subscribe_on(producer.clone())
        .on_backpressure_buffer(CAP, policy)
        .expect("capacity > 0");
    let stats = buffered.stats();
    let delivered = futures::executor::block_on(
        buffered
            .publish_on(consumer.clone(), 8)
            .expect("prefetch > 0")
            .fold(0u64, move |k, _x| {
                spin(c);
                k + 1
            }),
    )
    .expect("no error");
    Counts {
        delivered,
        dropped: stats.snapshot().dropped(),
    }
}

fn futures_run(work: (u64, u64), n: u64) -> Counts {
    let (p, c) = work;
    // `channel(buffer)` holds `buffer + senders` items: 1023 + 1 = 1024.
    let (mut tx, rx) = futures::channel::mpsc::channel::<u64>(CAP - 1);
    let dropped = Arc::new(AtomicU64::new(0));
    let d = dropped.clone();
    let producer = std::thread::spawn(move || {
        for i in 0..n {
            spin(p);
            if tx.try_send(i).is_err() {
                d.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let delivered = futures::executor::block_on(rx.fold(0u64, move |k, _x| {
        spin(c);
        futures::future::ready(k + 1)
    }));
    producer.join().expect("producer");
    Counts {
        delivered,
        dropped: dropped.load(Ordering::Relaxed),
    }
}

fn write_counts(rows: &[(&str, Counts)], work: (u64, u64)) {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/target").into())
        .join("bench-extra");
    let _ = std::fs::create_dir_all(&dir);
    let body: Vec<String> = rows
        .iter()
        .map(|(name, c)| {
            format!(
                "\"{name}\": {{\"offered\": {N}, \"delivered\": {}, \"dropped\": {}}}",
                c.delivered, c.dropped
            )
        })
        .collect();
    let json = format!(
        "{{\"spin_iters\": [{}, {}], {}}}\n",
        work.0,
        work.1,
        body.join(", ")
    );
    let _ = std::fs::write(dir.join("overflow.json"), json);
}

fn overflow(c: &mut Criterion) {
    let p = calibrate(PRODUCER_NS);
    let work = (p, 10 * p);
    let producer = Worker::new("bench-producer");
    let consumer = Worker::new("bench-consumer");

    // One checked run of each first: every item delivered or counted as dropped.
    for (name, policy) in [
        ("spillway_drop_newest", BufferOverflow::DropNewest),
        ("spillway_drop_oldest", BufferOverflow::DropOldest),
    ] {
        let k = spillway_run(&producer, &consumer, policy, work, N);
        assert_eq!(
            k.delivered + k.dropped,
            N,
            "{name}: every item accounted for"
        );
    }
    let k = futures_run(work, N);
    assert_eq!(
        k.delivered + k.dropped,
        N,
        "futures: every item accounted for"
    );

    // The delivered counts of every measured iteration, so the report can relate the
    // median time to what the consumer actually got (a drop policy that keeps the slow
    // consumer fed delivers more, and its consumer works longer for it).
    let tally: RefCell<Vec<(&str, Counts, u64)>> = RefCell::new(Vec::new());
    let record = |name: &'static str, k: Counts| {
        let mut t = tally.borrow_mut();
        match t.iter_mut().find(|(n, _, _)| *n == name) {
            Some((_, sum, runs)) => {
                sum.delivered += k.delivered;
                sum.dropped += k.dropped;
                *runs += 1;
            }
            None => t.push((name, k, 1)),
        }
        k
    };
    let mut g = c.benchmark_group("overflow");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    for (name, policy) in [
        ("spillway_drop_newest", BufferOverflow::DropNewest),
        ("spillway_drop_oldest", BufferOverflow::DropOldest),
    ] {
        g.bench_with_input(BenchmarkId::from_parameter(name), &policy, |b, &policy| {
            b.iter(|| {
                record(
                    name,
                    spillway_run(&producer, &consumer, policy, work, black_box(N)),
                )
            })
        });
    }
    g.bench_function("futures_try_send", |b| {
        b.iter(|| record("futures_try_send", futures_run(work, black_box(N))))
    });
    g.finish();

    let rows: Vec<(&str, Counts)> = tally
        .into_inner()
        .into_iter()
        .map(|(name, sum, runs)| {
            let mean = Counts {
                delivered: sum.delivered / runs,
                dropped: sum.dropped / runs,
            };
            (name, mean)
        })
        .collect();
    println!("overflow: producer {PRODUCER_NS} ns/item of busy work ({p} spins), consumer 10x");
    println!("  mean over every measured iteration:");
    for (name, k) in &rows {
        println!(
            "  {name:<22} offered {N}  delivered {:>7} ({:.1}%)  dropped {:>7}",
            k.delivered,
            100.0 * k.delivered as f64 / N as f64,
            k.dropped
        );
    }
    write_counts(&rows, work);
}

criterion_group!(benches, overflow);
criterion_main!(benches);
