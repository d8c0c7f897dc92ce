//! The batch fast path ("fusion") under bounded demand: a batch-capable subscriber that
//! requests in random amounts, re-entrantly from inside `on_next_batch`, receives exactly
//! the items of the source, in order, never more than it requested; and a batch offered as
//! `within_limit` never yields more than the limit (the promise that lets a sink drop its
//! per-item limit check). The bounded queue (`limit_rate`, `on_backpressure_buffer`)
//! fused on both sides: every item delivered or counted as dropped, in order.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use spillway::drain::BatchContext;
use spillway::operators::BufferOverflow;
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
    /// Takes only half of each batch (a sink may stop early): the rest must stay upstream.
    half: bool,
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
        let taken: Vec<u64> = if self.half {
            let mut items = items;
            let limit = batch.limit().div_ceil(2);
            let mut taken = Vec::new();
            while (taken.len() as u64) < limit {
                match items.next() {
                    Some(x) => taken.push(x),
                    None => break,
                }
            }
            taken
        } else if batch.within_limit() {
            // Take everything, as a sink without a limit check would, and check the promise.
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
    run_with(publisher, plan, false)
}

fn run_with<P>(publisher: P, plan: Vec<u64>, half: bool) -> Seen
where
    P: Publisher<Item = u64, Error = Infallible>,
{
    let seen = Arc::new(Mutex::new(Seen::default()));
    publisher.subscribe(Replenishing {
        seen: seen.clone(),
        plan,
        next_plan: 0,
        outstanding: 0,
        half,
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

#[test]
fn limit_rate_fused_on_both_sides_delivers_everything_in_order_within_its_rate() {
    let limited = range(0, 100_000).map(|x| x + 1).limit_rate(256).unwrap();
    let stats = limited.stats();
    let items = futures::executor::block_on(limited.collect()).unwrap();
    assert_eq!(items, (1..100_001).collect::<Vec<_>>());
    let s = stats.snapshot();
    assert_eq!((s.received, s.emitted, s.buffered), (100_000, 100_000, 0));
    assert!(
        s.peak_buffered <= 256,
        "never more than the rate queued: {s:?}"
    );
}

#[test]
fn a_filter_after_a_fused_buffer_gives_back_the_demand_of_what_it_discards() {
    // Requests of 100 from downstream; the filter drops two thirds of what the buffer hands
    // out, so most of each batch's demand must be given back, or the stream stalls.
    let buffered = range(0, 30_000)
        .on_backpressure_buffer(1024, BufferOverflow::Backpressure)
        .unwrap();
    let stats = buffered.stats();
    let seen = run(buffered.filter(|x| x % 3 == 0), vec![100]);
    assert!(seen.completed, "stalled after {} items", seen.items.len());
    assert_eq!(
        seen.items,
        (0..30_000).filter(|x| x % 3 == 0).collect::<Vec<_>>()
    );
    assert_eq!(seen.over_limit, 0);
    assert!(seen.within_limit_batches > 0);
    let s = stats.snapshot();
    assert_eq!((s.received, s.emitted, s.buffered), (30_000, 30_000, 0));
}

#[test]
fn items_a_sink_leaves_in_a_fused_batch_go_back_to_the_front_of_the_queue() {
    let buffered = range(0, 20_000).limit_rate(512).unwrap();
    let stats = buffered.stats();
    let seen = run_with(buffered, vec![300, 77, 1000], true);
    assert!(seen.completed);
    assert_eq!(seen.items, (0..20_000).collect::<Vec<_>>());
    assert!(seen.items.len() as u64 <= seen.requested);
    let s = stats.snapshot();
    assert_eq!((s.received, s.emitted, s.buffered), (20_000, 20_000, 0));
}

#[test]
fn a_fused_drop_policy_counts_every_item_it_cannot_queue() {
    // Downstream asks for 10 at a time while upstream pushes unbounded batches: what does
    // not fit in the 64 slots is dropped, and counted.
    let buffered = range(0, 10_000)
        .on_backpressure_buffer(64, BufferOverflow::DropNewest)
        .unwrap();
    let stats = buffered.stats();
    let seen = run(buffered, vec![10]);
    assert!(seen.completed);
    let s = stats.snapshot();
    assert_eq!(s.received, 10_000);
    assert_eq!(s.emitted, seen.items.len() as u64);
    assert_eq!(s.emitted + s.dropped(), 10_000, "{s:?}");
    // The first 64 were queued before anything was requested beyond the first 10.
    assert_eq!(&seen.items[..64], &(0..64).collect::<Vec<_>>()[..]);
    assert!(seen.items.windows(2).all(|w| w[0] < w[1]), "order kept");
}

#[test]
fn a_panic_mid_batch_upstream_delivers_what_came_before_then_the_error() {
    use spillway_testkit::TestSubscriber;
    let limited = range(0, 10_000)
        .map(|x| if x == 700 { panic!("boom at 700") } else { x })
        .limit_rate(1024)
        .unwrap();
    let stats = limited.stats();
    let (subscriber, handle) = TestSubscriber::new(u64::MAX);
    limited.subscribe(subscriber);
    assert_eq!(handle.items(), (0..700).collect::<Vec<_>>());
    handle.assert_error_matches(|e| matches!(e, Error::Panicked { stage: "map", .. }));
    let s = stats.snapshot();
    assert_eq!((s.received, s.emitted), (700, 700));
}

#[test]
fn a_cancel_during_a_fused_batch_stops_the_buffer_taking_more() {
    let buffered = range(0, 100_000)
        .on_backpressure_buffer(4096, BufferOverflow::DropNewest)
        .unwrap();
    let stats = buffered.stats();
    let items = futures::executor::block_on(buffered.take(10).collect()).unwrap();
    assert_eq!(items, (0..10).collect::<Vec<_>>());
    let s = stats.snapshot();
    // One run of at most 256 is taken before the cancel is seen, not the source's whole
    // 8,192-item batch; every item taken is accounted for.
    assert!(s.received <= 512, "{s:?}");
    assert_eq!(s.received, s.emitted + s.dropped() + s.buffered, "{s:?}");
}
