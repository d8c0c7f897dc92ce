//! The main demo: a fast producer meets a slow consumer, twice.
//!
//! 1. A *pausing* producer asks the emitter how much the consumer wants
//!    (`Emitter::requested`) and waits when the answer is zero: nothing is lost and the
//!    queue never grows past the consumer's demand.
//! 2. A producer that *ignores* demand, behind `OverflowStrategy::Drop`: every item it
//!    pushes is either delivered or handed back to it as dropped, and counted.
//!
//! Live statistics are printed four times a second. Run with `cargo run --example demo`.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use spillway::prelude::*;
use spillway::EmitterStats;

const PRODUCE_EVERY: Duration = Duration::from_millis(1);
const CONSUME_TAKES: Duration = Duration::from_millis(10);
const ITEMS: u64 = 200;
const CARELESS_ITEMS: u64 = 1_000;

#[tokio::main]
async fn main() {
    println!("Spillway demo: producer every {PRODUCE_EVERY:?}, consumer takes {CONSUME_TAKES:?} per item\n");
    run(
        "pausing producer (respects demand)",
        true,
        OverflowStrategy::Buffer(16),
    )
    .await;
    run(
        "careless producer, drop policy",
        false,
        OverflowStrategy::Drop,
    )
    .await;
}

async fn run(title: &str, respect_demand: bool, strategy: OverflowStrategy) {
    println!("== {title} ==");
    let (stats_tx, stats_rx) = std::sync::mpsc::channel::<Emitter<u64, Infallible>>();
    let source = create(strategy, move |emitter: Emitter<u64, Infallible>| {
        stats_tx
            .send(emitter.clone())
            .expect("demo main is listening");
        std::thread::spawn(move || produce(emitter, respect_demand));
    });
    let consumer = source.for_each_async(1, |_item| tokio::time::sleep(CONSUME_TAKES));
    let started = Instant::now();
    let mut consumer = std::pin::pin!(consumer);
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    let emitter = loop {
        tokio::select! {
            result = &mut consumer => { result.expect("the demo pipeline does not fail"); break None; }
            _ = ticker.tick() => {
                if let Ok(emitter) = stats_rx.try_recv() { break Some(emitter); }
            }
        }
    };
    let emitter = match emitter {
        Some(e) => e,
        None => return,
    };
    loop {
        tokio::select! {
            result = &mut consumer => {
                result.expect("the demo pipeline does not fail");
                print_stats(started, &emitter.stats(), "done");
                break;
            }
            _ = ticker.tick() => print_stats(started, &emitter.stats(), "running"),
        }
    }
    let s = emitter.stats();
    assert_eq!(
        s.pushed,
        s.delivered + s.refused + s.evicted + s.queued,
        "every item is accounted for"
    );
    println!();
}

fn produce(emitter: Emitter<u64, Infallible>, respect_demand: bool) {
    let items = if respect_demand {
        ITEMS
    } else {
        CARELESS_ITEMS
    };
    for i in 0..items {
        // Pause while the consumer has no demand: backpressure reaches the producer.
        if respect_demand && !emitter.wait_for_demand(Duration::from_secs(10)) {
            return; // cancelled, or the consumer stalled for 10 s
        }
        if emitter.is_cancelled() {
            return;
        }
        let _dropped_or_sent = emitter.next(i);
        std::thread::sleep(PRODUCE_EVERY);
    }
    emitter.complete();
}

fn print_stats(started: Instant, s: &EmitterStats, state: &str) {
    println!(
        "[{:>6.2}s] {state:<7} pushed {:>4}  delivered {:>4}  dropped {:>4}  queued {:>3} (peak {:>3})",
        started.elapsed().as_secs_f64(),
        s.pushed,
        s.delivered,
        s.refused + s.evicted,
        s.queued,
        s.peak_queued,
    );
}
