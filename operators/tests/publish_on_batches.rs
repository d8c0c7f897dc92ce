//! Fused batches through `subscribe_on` and into `publish_on`'s hand-off: a batch stays a
//! batch across `subscribe_on`, `publish_on` takes it as one run (within what it
//! requested), an upstream batch beyond that fails the stage with `Overflow`, and very
//! large prefetches work without allocating their ring up front.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use spillway::drain::BatchContext;
use spillway::prelude::*;
use spillway::{Error, Publisher, SharedSubscription, Subscriber, Subscription};
use spillway_testkit::{TestSubscriber, VirtualScheduler};

#[derive(Default, Debug)]
struct Seen {
    singles: u64,
    batches: u64,
    sum: u64,
    count: u64,
    completed: bool,
}

/// A fusing sink that tells single items from batches.
struct BatchSink(Arc<Mutex<Seen>>);

impl Subscriber for BatchSink {
    type Item = u64;
    type Error = Infallible;
    fn on_subscribe(&mut self, s: SharedSubscription) {
        s.request(1_000_000);
    }
    fn on_next(&mut self, item: u64) {
        let mut seen = self.0.lock().unwrap();
        seen.singles += 1;
        seen.sum += item;
        seen.count += 1;
    }
    fn accepts_batches(&self) -> bool {
        true
    }
    fn on_next_batch<I>(&mut self, items: I, batch: &BatchContext) -> u64
    where
        I: Iterator<Item = u64>,
    {
        let mut seen = self.0.lock().unwrap();
        seen.batches += 1;
        let limit = usize::try_from(batch.limit()).unwrap_or(usize::MAX);
        let mut used = 0;
        for item in items.take(limit) {
            seen.sum += item;
            seen.count += 1;
            used += 1;
        }
        used
    }
    fn on_error(&mut self, e: Error<Infallible>) {
        panic!("unexpected error {e:?}");
    }
    fn on_complete(&mut self) {
        self.0.lock().unwrap().completed = true;
    }
}

#[test]
fn subscribe_on_passes_fused_batches_through() {
    let vs = VirtualScheduler::new();
    let seen = Arc::new(Mutex::new(Seen::default()));
    range(0, 10_000)
        .subscribe_on(vs.clone())
        .subscribe(BatchSink(seen.clone()));
    vs.run_until_idle().unwrap();
    let seen = seen.lock().unwrap();
    assert!(seen.completed, "{seen:?}");
    assert_eq!((seen.count, seen.sum), (10_000, (0..10_000).sum()));
    assert_eq!(seen.singles, 0, "items were delivered one by one: {seen:?}");
    assert!(seen.batches >= 2, "{seen:?}"); // 8,192 items at most per batch
}

#[test]
fn publish_on_delivers_fused_batches_in_order() {
    let vs = VirtualScheduler::new();
    let seen = Arc::new(Mutex::new(Seen::default()));
    range(0, 100_000)
        .subscribe_on(vs.clone())
        .publish_on(vs.clone(), 64)
        .unwrap()
        .subscribe(BatchSink(seen.clone()));
    vs.run_until_idle().unwrap();
    let seen = seen.lock().unwrap();
    assert!(seen.completed, "{seen:?}");
    assert_eq!((seen.count, seen.sum), (100_000, (0..100_000).sum()));
    assert_eq!(seen.singles, 0, "{seen:?}");

    // The same through a non-fusing subscriber, in order.
    let (sub, handle) = TestSubscriber::<u64, Infallible>::new(u64::MAX);
    range(0, 5_000)
        .subscribe_on(vs.clone())
        .publish_on(vs.clone(), 7)
        .unwrap()
        .subscribe(sub);
    vs.run_until_idle().unwrap();
    handle.assert_complete();
    assert_eq!(handle.items(), (0..5_000).collect::<Vec<_>>());
}

/// What a batching upstream observed of `publish_on`'s producer side.
#[derive(Default, Debug)]
struct Offered {
    requested: u64,
    cancelled: bool,
    used: u64,
    left: Vec<u64>,
}

struct Recorder(Arc<Mutex<Offered>>);

impl Subscription for Recorder {
    fn request(&self, n: u64) {
        self.0.lock().unwrap().requested += n;
    }
    fn cancel(&self) {
        self.0.lock().unwrap().cancelled = true;
    }
}

/// An upstream that hands `items` over as one batch whose context allows any number
/// (as a non-compliant upstream might), then completes.
struct OneBatch {
    items: Vec<u64>,
    offered: Arc<Mutex<Offered>>,
}

impl Publisher for OneBatch {
    type Item = u64;
    type Error = Infallible;
    fn subscribe<S: Subscriber<Item = u64, Error = Infallible>>(self, mut s: S) {
        s.on_subscribe(Arc::new(Recorder(self.offered.clone())));
        assert!(s.accepts_batches(), "publish_on takes batches");
        let mut items = self.items.into_iter();
        let used = s.on_next_batch(&mut items, &BatchContext::new(true));
        let mut offered = self.offered.lock().unwrap();
        offered.used = used;
        offered.left = items.collect();
        drop(offered);
        s.on_complete();
    }
}

#[test]
fn a_batch_within_the_prefetch_goes_through_as_one_run() {
    let vs = VirtualScheduler::new();
    let offered = Arc::new(Mutex::new(Offered::default()));
    let (sub, handle) = TestSubscriber::<u64, Infallible>::new(u64::MAX);
    OneBatch {
        items: vec![1, 2, 3],
        offered: offered.clone(),
    }
    .publish_on(vs.clone(), 4)
    .unwrap()
    .subscribe(sub);
    vs.run_until_idle().unwrap();
    let offered = offered.lock().unwrap();
    // Prefetch 4, then 3 more once 3 (75 %) were delivered.
    assert_eq!((offered.requested, offered.used), (4 + 3, 3), "{offered:?}");
    assert!(offered.left.is_empty() && !offered.cancelled, "{offered:?}");
    handle.assert_items(&[1, 2, 3]);
    handle.assert_complete();
}

#[test]
fn a_batch_beyond_the_prefetch_overflows_after_the_queued_items() {
    let vs = VirtualScheduler::new();
    let offered = Arc::new(Mutex::new(Offered::default()));
    let (sub, handle) = TestSubscriber::<u64, Infallible>::new(u64::MAX);
    OneBatch {
        items: (1..=10).collect(),
        offered: offered.clone(),
    }
    .publish_on(vs.clone(), 4)
    .unwrap()
    .subscribe(sub);
    vs.run_until_idle().unwrap();
    let offered = offered.lock().unwrap();
    // Four allowed, the fifth is the overflow (taken and dropped), the rest stays.
    assert_eq!(offered.used, 5, "{offered:?}");
    assert_eq!(offered.left, (6..=10).collect::<Vec<_>>());
    assert!(offered.cancelled, "{offered:?}");
    handle.assert_items(&[1, 2, 3, 4]);
    handle.assert_error_matches(|e| {
        matches!(
            e,
            Error::Overflow {
                stage: "publish_on",
                capacity: 4
            }
        )
    });
}

#[test]
fn a_huge_prefetch_does_not_allocate_its_ring_up_front() {
    let vs = VirtualScheduler::new();
    let seen = Arc::new(Mutex::new(Seen::default()));
    // 2^60 slots of 8 bytes could not be allocated: the ring grows as items come.
    range(0, 20_000)
        .publish_on(vs.clone(), 1 << 60)
        .unwrap()
        .subscribe(BatchSink(seen.clone()));
    vs.run_until_idle().unwrap();
    let seen = seen.lock().unwrap();
    assert!(seen.completed, "{seen:?}");
    assert_eq!((seen.count, seen.sum), (20_000, (0..20_000).sum()));
}

#[test]
fn a_panic_mid_batch_delivers_the_items_before_it_then_the_error() {
    let vs = VirtualScheduler::new();
    let (sub, handle) = TestSubscriber::<u64, Infallible>::new(u64::MAX);
    range(0, 100)
        .map(|x| if x == 50 { panic!("boom at 50") } else { x })
        .subscribe_on(vs.clone())
        .publish_on(vs.clone(), 64)
        .unwrap()
        .subscribe(sub);
    vs.run_until_idle().unwrap();
    assert_eq!(handle.items(), (0..50).collect::<Vec<_>>());
    handle.assert_error_matches(|e| matches!(e, Error::Panicked { stage: "map", .. }));
}
