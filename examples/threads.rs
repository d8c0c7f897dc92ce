//! Which thread runs which stage: a producer on one worker, a transform on another, a
//! consumer on the main thread.
//!
//! ```text
//! range ─ map(tag) ─ subscribe_on(producer) ─ publish_on(transform, 64) ─ map(square) ─ into_stream ─ main
//!         └──────── thread "producer" ───────┘ └────────── thread "transform" ─────────┘   └ thread "main"
//! ```
//!
//! **Replaces, in Node.js:** a `worker_threads` `Worker` fed through `postMessage` with a
//! hand-made acknowledgement protocol so the main thread does not flood it. Here
//! `subscribe_on` and `publish_on` move stages between threads and demand crosses them:
//! the producer's thread is asked for no more than the queue of 64 can take.
//!
//! Run with `cargo run --example threads`.

use std::collections::BTreeMap;
use std::thread;

use futures::StreamExt;
use spillway::prelude::*;
use spillway::Worker;

fn here() -> String {
    thread::current().name().unwrap_or("unnamed").to_string()
}

#[derive(Debug)]
struct Traced {
    value: u64,
    produced_on: String,
    transformed_on: String,
}

pub(crate) fn main() {
    // ANCHOR: pipeline
    let producer = Worker::new("producer");
    let transform = Worker::new("transform");

    let pipeline = range(0, 10_000)
        // Runs where the source emits: subscribe_on pins that to "producer".
        .map(|x| (x, here()))
        .subscribe_on(producer)
        // Everything below publish_on runs on "transform".
        .publish_on(transform, 64)
        .expect("prefetch is not zero")
        .map(|(x, produced_on)| Traced {
            value: x * x,
            produced_on,
            transformed_on: here(),
        });
    // ANCHOR_END: pipeline

    // The consumer: the main thread polls the stream (it requests 32, then 24 more each
    // time 24 were consumed; the requests hop to the producer's worker).
    let items: Vec<Traced> = futures::executor::block_on(
        pipeline
            .into_stream(32)
            .map(|r| r.expect("no error"))
            .collect(),
    );

    for item in items.iter().take(3) {
        println!(
            "{:>8}  produced on {:<9} transformed on {:<9} consumed on {}",
            item.value,
            item.produced_on,
            item.transformed_on,
            here()
        );
    }
    println!("...");
    let mut by_stage: BTreeMap<(String, String), u64> = BTreeMap::new();
    for item in &items {
        *by_stage
            .entry((item.produced_on.clone(), item.transformed_on.clone()))
            .or_default() += 1;
    }
    for ((produced, transformed), n) in by_stage {
        println!(
            "{n:>6} items: produced on {produced}, transformed on {transformed}, consumed on main"
        );
    }
    assert_eq!(items.len(), 10_000);
    assert!(items
        .iter()
        .all(|i| i.produced_on == "producer" && i.transformed_on == "transform"));
}
