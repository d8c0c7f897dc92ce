//! Fixed pipelines for counting instructions (`scripts/instr-compare.sh`): on a shared
//! machine wall-clock figures drift by tens of percent between runs, while callgrind's
//! instruction count of the same program is exact and repeatable. Each workload runs one
//! pipeline once; the file uses only the public API, so the script builds the same file
//! on an older commit too.
//!
//! `instr_count WORKLOAD` with WORKLOAD one of the names in `WORKLOADS`; without one
//! (as `cargo bench` runs it) it lists them and exits.
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use spillway::operators::{merge, BufferOverflow, RateLimitMode, TokenBucket};
use spillway::prelude::*;
use spillway::{Context, Error, Scheduler, SharedSubscription};
use spillway_testkit::VirtualScheduler;

const N: u64 = 1_000_000;

struct Count {
    clock: Arc<dyn Scheduler>,
    seen: Arc<AtomicU64>,
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
        panic!("{e:?}");
    }
    fn on_complete(&mut self) {}
    fn context(&self) -> Context {
        Context::with_scheduler(self.clock.clone())
    }
}

fn virt<P: Publisher<Item = u64, Error = Infallible>>(p: P, advance_ms: u64) -> u64 {
    let vs = VirtualScheduler::new();
    let seen = Arc::new(AtomicU64::new(0));
    p.subscribe(Count {
        clock: vs.clone(),
        seen: seen.clone(),
    });
    vs.advance_by(Duration::from_millis(advance_ms));
    seen.load(Ordering::Relaxed)
}

/// The workloads, in the order the script reports them.
const WORKLOADS: [&str; 11] = [
    "sync",
    "merge",
    "flat_map",
    "into_stream",
    "buffer",
    "chunks",
    "latest",
    "map_async",
    "sample",
    "rate_drop",
    "rate_delay",
];

fn main() {
    let Some(which) = std::env::args().nth(1).filter(|w| !w.starts_with('-')) else {
        println!("instr_count WORKLOAD, one of: {}", WORKLOADS.join(", "));
        return;
    };
    let out: u64 = match which.as_str() {
        "sync" => futures::executor::block_on(
            range(0, N)
                .map(|x| x * 3)
                .filter(|x| x % 2 == 0)
                .fold(0u64, |a, x| a + x),
        )
        .unwrap(),
        "merge" => futures::executor::block_on(
            merge((0..8).map(|i| range(i * N / 8, (i + 1) * N / 8)))
                .prefetch(32)
                .unwrap()
                .fold(0u64, |a, x| a + x),
        )
        .unwrap(),
        "flat_map" => futures::executor::block_on(
            range(0, 8)
                .flat_map(|i| range(i * N / 8, (i + 1) * N / 8), 8, 256)
                .unwrap()
                .fold(0u64, |a, x| a + x),
        )
        .unwrap(),
        "into_stream" => futures::executor::block_on(async {
            let mut s = Box::pin(
                range(0, N)
                    .map(|x| x * 3)
                    .filter(|x| x % 2 == 0)
                    .into_stream(256),
            );
            let mut sum = 0u64;
            while let Some(x) = s.next().await {
                sum += x.unwrap();
            }
            sum
        }),
        "buffer" => futures::executor::block_on(
            range(0, N)
                .on_backpressure_buffer(1024, BufferOverflow::Backpressure)
                .unwrap()
                .fold(0u64, |a, x| a + x),
        )
        .unwrap(),
        "chunks" => futures::executor::block_on(
            range(0, N)
                .chunks(100)
                .unwrap()
                .fold(0u64, |a, v| a + v.len() as u64),
        )
        .unwrap(),
        "latest" => futures::executor::block_on(
            range(0, N)
                .on_backpressure_latest()
                .fold(0u64, |a, x| a + x),
        )
        .unwrap(),
        "map_async" => futures::executor::block_on(
            range(0, N / 10)
                .map_async(4, |x| async move { x })
                .unwrap()
                .fold(0u64, |a, x| a + x),
        )
        .unwrap(),
        "sample" => virt(
            interval(Duration::from_millis(1))
                .unwrap()
                .take(100_000)
                .sample(Duration::from_millis(10))
                .unwrap(),
            100_010,
        ),
        "rate_drop" => virt(
            interval(Duration::from_millis(1))
                .unwrap()
                .take(100_000)
                .rate_limit(
                    TokenBucket::new(1, Duration::from_millis(2)),
                    RateLimitMode::Drop,
                )
                .unwrap(),
            100_010,
        ),
        "rate_delay" => virt(
            range(0, 100_000)
                .rate_limit(TokenBucket::per_second(1000), RateLimitMode::Delay)
                .unwrap(),
            100_010,
        ),
        other => panic!("unknown workload {other}"),
    };
    println!("{which}: {out}");
}
