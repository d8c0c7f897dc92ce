//! `sample` and `rate_limit(Drop)` with the producer and the timers on two different
//! threads (a `create` emitter pushing from one, the virtual clock advanced from another),
//! as in production where the scheduler's thread is not the producer's. The stages count
//! under their state lock and the drain skips the lock when nothing was committed: these
//! runs check, once quiescent, that nothing committed was left behind, that the counters
//! balance, that no more was delivered than requested (rule 1.1) and that order holds.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use spillway_core::prelude::*;
use spillway_core::{Context, Error, Scheduler, SharedSubscription};
use spillway_operators::{FlowStats, OperatorExt, RateLimitMode, TokenBucket};
use spillway_testkit::VirtualScheduler;

const PUSHED: u64 = 20_000;
const TICKS: u64 = 400;

#[derive(Default)]
struct Seen {
    items: Mutex<Vec<u64>>,
    requested: AtomicU64,
    done: AtomicBool,
}

/// Carries the clock; requests `window` at first and one more per item (bounded demand),
/// or everything when `window` is `None`.
struct Sink {
    clock: Arc<dyn Scheduler>,
    seen: Arc<Seen>,
    window: Option<u64>,
    sub: Option<SharedSubscription>,
}

impl Sink {
    fn request(&self, n: u64) {
        self.seen.requested.fetch_add(n, Ordering::SeqCst);
        if let Some(s) = &self.sub {
            s.request(n);
        }
    }
}

impl Subscriber for Sink {
    type Item = u64;
    type Error = Infallible;
    fn on_subscribe(&mut self, s: SharedSubscription) {
        self.sub = Some(s);
        self.request(self.window.unwrap_or(u64::MAX));
    }
    fn on_next(&mut self, item: u64) {
        let mut items = self.seen.items.lock().unwrap();
        items.push(item);
        let delivered = items.len() as u64;
        drop(items);
        if self.window.is_some() {
            let requested = self.seen.requested.load(Ordering::SeqCst);
            assert!(
                delivered <= requested,
                "rule 1.1: {delivered} > {requested}"
            );
            self.request(1);
        }
    }
    fn on_error(&mut self, e: Error<Infallible>) {
        panic!("unexpected error: {e:?}");
    }
    fn on_complete(&mut self) {
        self.seen.done.store(true, Ordering::SeqCst);
    }
    fn context(&self) -> Context {
        Context::with_scheduler(self.clock.clone())
    }
}

type Slot = Arc<Mutex<Option<Emitter<u64, Infallible>>>>;

fn hot() -> (Slot, impl Publisher<Item = u64, Error = Infallible>) {
    let slot: Slot = Arc::default();
    let s = slot.clone();
    let p = create(
        OverflowStrategy::Drop,
        move |em: Emitter<u64, Infallible>| {
            *s.lock().unwrap() = Some(em);
        },
    );
    (slot, p)
}

/// Pushes from one thread while another moves the clock; then completes and lets the
/// last timers fire. Returns what the sink saw and how many pushes were accepted.
fn race<P>(p: P, slot: &Slot, vs: &Arc<VirtualScheduler>, window: Option<u64>) -> (Arc<Seen>, u64)
where
    P: Publisher<Item = u64, Error = Infallible>,
{
    let seen = Arc::new(Seen::default());
    p.subscribe(Sink {
        clock: vs.clone(),
        seen: seen.clone(),
        window,
        sub: None,
    });
    let em = slot.lock().unwrap().take().expect("subscribed");
    let producer = {
        let em = em.clone();
        thread::spawn(move || (0..PUSHED).filter(|i| em.next(*i).is_ok()).count() as u64)
    };
    let clock = {
        let vs = vs.clone();
        thread::spawn(move || {
            for _ in 0..TICKS {
                vs.advance_by(Duration::from_millis(1));
                thread::yield_now();
            }
        })
    };
    let accepted = producer.join().unwrap();
    clock.join().unwrap();
    em.complete();
    vs.advance_by(Duration::from_millis(10));
    (seen, accepted)
}

fn check_balanced(stats: &FlowStats, seen: &Seen, accepted: u64) -> Vec<u64> {
    assert!(seen.done.load(Ordering::SeqCst), "completed");
    let items = seen.items.lock().unwrap().clone();
    assert!(items.windows(2).all(|w| w[0] < w[1]), "in order");
    let s = stats.snapshot();
    assert_eq!(s.received, accepted);
    assert_eq!(
        s.emitted,
        items.len() as u64,
        "every emitted item was delivered"
    );
    assert_eq!(s.buffered, 0, "nothing left behind once quiescent");
    assert!(s.is_balanced(), "{s}");
    items
}

#[test]
fn sample_with_producer_and_clock_on_two_threads() {
    for window in [None, Some(3)] {
        let vs = VirtualScheduler::new();
        let (slot, p) = hot();
        let sampled = p.sample(Duration::from_millis(1)).unwrap();
        let stats = sampled.stats();
        let (seen, accepted) = race(sampled, &slot, &vs, window);
        let items = check_balanced(&stats, &seen, accepted);
        assert!(!items.is_empty());
        if window.is_none() {
            // Unbounded demand: `create` accepted all, and the pending item at completion
            // is flushed.
            assert_eq!(accepted, PUSHED);
            assert_eq!(items.last(), Some(&(PUSHED - 1)));
        }
    }
}

#[test]
fn rate_limit_drop_with_producer_and_clock_on_two_threads() {
    for window in [None, Some(3)] {
        let vs = VirtualScheduler::new();
        let (slot, p) = hot();
        let limited = p
            .rate_limit(
                TokenBucket::new(5, Duration::from_millis(1)),
                RateLimitMode::Drop,
            )
            .unwrap();
        let stats = limited.stats();
        let (seen, accepted) = race(limited, &slot, &vs, window);
        let items = check_balanced(&stats, &seen, accepted);
        // A full bucket (5) at the start, then 5 per virtual millisecond.
        let elapsed_ms = vs.elapsed().as_millis() as u64;
        assert!(items.len() as u64 <= 5 + 5 * elapsed_ms, "{}", items.len());
        assert!(!items.is_empty());
    }
}
