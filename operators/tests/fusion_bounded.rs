//! The batch fast path ("fusion") under bounded demand: a batch-capable subscriber that
//! requests in random amounts, re-entrantly from inside `on_next_batch`, receives exactly
//! the items of the source, in order, never more than it requested; and a batch offered as
//! `within_limit` never yields more than the limit (the promise that lets a sink drop its
//! per-item limit check).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use spillway::drain::BatchContext;
use spillway::prelude::*;
use spillway::{Error, SharedSubscription};

#[derive(Default, Debug)]
struct Seen {
    items: Vec<u64>,
    requested: u64,
    /// Batches offered with `within_limit()`, and how many of them broke the promise.
    within_limit_batches: usize,
    over_limit: usize,
    completed: bool,
}

/// Requests `plan[k]` each time its outstanding demand runs out (cycling through `plan`),
/// from inside the batch call: the re-entrant request a replenishing sink makes.
struct Replenishing {
    seen: Arc<Mutex<Seen>>,
    plan: Vec<u64>,
    next_plan: usize,
    outstanding: u64,
    sub: Option<SharedSubscription>,
}

impl Replenishing {
    fn replenish(&mut self) {
        if self.outstanding == 0 {
            let n = self.plan[self.next_plan % self.plan.len()];
            self.next_plan += 1;
            self.outstanding = n;
            self.seen.lock().unwrap().requested += n;
            if let Some(s) = &self.sub {
                s.request(n);
            }
        }
    }
}

impl Subscriber for Replenishing {
    type Item = u64;
    type Error = Infallible;
    fn on_subscribe(&mut self, s: SharedSubscription) {
        self.sub = Some(s);
        self.replenish();
    }
    fn on_next(&mut self, item: u64) {
        self.seen.lock().unwrap().items.push(item);
        self.outstanding -= 1;
        self.replenish();
    }
    fn accepts_batches(&self) -> bool {
        true
    }
    fn on_next_batch<I: Iterator<Item = u64>>(&mut self, items: I, batch: &BatchContext) -> u64 {
        let mut seen = self.seen.lock().unwrap();
        let taken: Vec<u64> = if batch.within_limit() {
            // Take everything, as a vectorising sink would, and check the promise.
            let all: Vec<u64> = items.collect();
            seen.within_limit_batches += 1;
            if all.len() as u64 > batch.limit() {
                seen.over_limit += 1;
            }
            all
        } else {
            let limit = usize::try_from(batch.limit()).unwrap_or(usize::MAX);
            items.take(limit).collect()
        };
        let used = taken.len() as u64;
        seen.items.extend(taken);
        drop(seen);
        self.outstanding = self.outstanding.saturating_sub(used);
        self.replenish();
        used
    }
    fn on_error(&mut self, e: Error<Infallible>) {
        panic!("unexpected error {e}");
    }
    fn on_complete(&mut self) {
        self.seen.lock().unwrap().completed = true;
    }
}

fn run<P: Publisher<Item = u64, Error = Infallible>>(publisher: P, plan: Vec<u64>) -> Seen {
    let seen = Arc::new(Mutex::new(Seen::default()));
    publisher.subscribe(Replenishing {
        seen: seen.clone(),
        plan,
        next_plan: 0,
        outstanding: 0,
        sub: None,
    });
    Arc::try_unwrap(seen).unwrap().into_inner().unwrap()
}

#[test]
fn a_filtered_range_with_large_requests_takes_the_chunked_path_and_loses_nothing() {
    let chain = range(0, 100_000).map(|x| x * 3).filter(|x| x % 2 == 0);
    let seen = run(chain, vec![1000, 300, 64, 65, 63, 1]);
    assert!(seen.completed);
    let expected: Vec<u64> = (0..100_000).map(|x| x * 3).filter(|x| x % 2 == 0).collect();
    assert_eq!(seen.items, expected);
    assert!(
        seen.within_limit_batches > 100,
        "the chunked path was not taken: {}",
        seen.within_limit_batches
    );
    assert_eq!(seen.over_limit, 0);
}

#[test]
fn a_plain_range_chunk_never_exceeds_the_demand() {
    let seen = run(range(0, 50_000).map(|x| x + 1), vec![100, 64, 1000]);
    assert!(seen.completed);
    assert_eq!(seen.items, (1..50_001).collect::<Vec<_>>());
    assert!(seen.within_limit_batches > 50);
    assert_eq!(seen.over_limit, 0);
    assert_eq!(seen.items.len() as u64, 50_000);
}

proptest! {
    #[test]
    fn range_delivers_exactly_what_was_requested(
        len in 0u64..5_000,
        plan in prop::collection::vec(1u64..400, 1..8),
    ) {
        let seen = run(range(0, len), plan);
        prop_assert!(seen.completed);
        prop_assert_eq!(seen.over_limit, 0);
        prop_assert_eq!(&seen.items, &(0..len).collect::<Vec<_>>());
        prop_assert!(seen.items.len() as u64 <= seen.requested);
    }

    #[test]
    fn filtered_range_delivers_exactly_what_was_requested(
        len in 0u64..5_000,
        plan in prop::collection::vec(1u64..400, 1..8),
    ) {
        let seen = run(range(0, len).filter(|x| x % 3 != 0), plan);
        prop_assert!(seen.completed);
        prop_assert_eq!(seen.over_limit, 0);
        prop_assert_eq!(&seen.items, &(0..len).filter(|x| x % 3 != 0).collect::<Vec<_>>());
        prop_assert!(seen.items.len() as u64 <= seen.requested);
    }

    #[test]
    fn from_iter_delivers_exactly_what_was_requested(
        len in 0u64..5_000,
        plan in prop::collection::vec(1u64..400, 1..8),
    ) {
        let seen = run(from_iter((0..len).collect::<Vec<_>>()), plan);
        prop_assert!(seen.completed);
        prop_assert_eq!(seen.over_limit, 0);
        prop_assert_eq!(&seen.items, &(0..len).collect::<Vec<_>>());
        prop_assert!(seen.items.len() as u64 <= seen.requested);
    }
}
