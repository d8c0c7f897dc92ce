//! Issue 11 §7: `on_backpressure_latest` under a cancel racing a flooding producer.
//!
//! A producer thread floods the stage while the test thread cancels. Two windows used to
//! leak: an item the producer had already decided to keep was pushed into the slot after
//! the cancel had emptied it (so `buffered: 1` stayed after the end, and the item was
//! never counted as `Discarded`), and items covered by a demand that was being cancelled
//! piled up behind the first one (`peak_buffered: 2` for a stage that holds one item).
//! Once quiescent, every round must show nothing held, a balanced invariant, at most one
//! item ever held, and every drop passed to `on_drop`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use spillway::prelude::*;
use spillway_testkit::{TestPublisher, TestSubscriber};

/// Rounds of the race; each is bounded (at most `MAX_ITEMS` items, no sleeps).
const ROUNDS: u64 = 500;
const MAX_ITEMS: u32 = 2_000;

#[test]
fn cancel_racing_a_flooding_producer_leaves_nothing_held() {
    let mut failures = Vec::new();
    for round in 0..ROUNDS {
        let tp = TestPublisher::<u32, String>::new();
        let reported = Arc::new(AtomicU64::new(0));
        let r = reported.clone();
        let op = tp
            .publisher()
            .on_backpressure_latest()
            .on_drop(move |_, _| {
                r.fetch_add(1, Ordering::Relaxed);
            });
        let stats = op.stats();
        // Demand is set before the producer starts: the consumer thread only cancels
        // (with demand left over, or none).
        let initial = [0, 1, 3, 64][(round % 4) as usize];
        let (sub, h) = TestSubscriber::<u32, String>::new(initial);
        op.subscribe(sub);
        let producer = {
            let tp = tp.clone();
            thread::spawn(move || {
                for i in 0..MAX_ITEMS {
                    if tp.is_cancelled() {
                        break;
                    }
                    tp.next(i);
                }
            })
        };
        // Cancel after a round-dependent number of items, while the producer runs.
        let target = 1 + (round * 7) % 64;
        while stats.snapshot().received < target && !producer.is_finished() {
            std::hint::spin_loop();
        }
        h.cancel();
        producer.join().expect("the producer returned normally");
        tp.assert_cancelled();
        let s = stats.snapshot();
        let dropped = reported.load(Ordering::Relaxed);
        if s.buffered != 0
            || !s.is_balanced()
            || s.peak_buffered > 1
            || dropped != s.dropped()
            || s.emitted != h.item_count()
        {
            failures.push(format!(
                "round {round}: {s:?}; on_drop called {dropped} times, {} items delivered",
                h.item_count()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ROUNDS} rounds broke the accounting:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
