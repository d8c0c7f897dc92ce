//! Loom models of the [`Handoff`] park / wake-up protocol (the queue of `publish_on`).
//!
//! Run with:
//! `CARGO_TARGET_DIR=target/loom RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
//!  cargo test -p spillway-core --test loom_handoff --release`
//!
//! Under loom the ring is a lock-protected queue whose emptiness is read through a
//! `SeqCst` counter (as `ArrayQueue::is_empty` reads its indices); what is checked is
//! the protocol around it: a consumer drains until the ring is empty, then parks; a push
//! that finds it parked claims the wake-up (`Pushed::Wake`), and the "scheduler" runs the
//! consumer again for each claimed wake-up. In every interleaving: every item is
//! delivered exactly once and in order (no lost wake-up), a wake-up is only claimed for
//! a consumer that parked (never two for one park), and after `close` nothing stays
//! queued.
#![cfg(loom)]

use std::sync::Arc;

use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Mutex;
use loom::thread;

use spillway_core::handoff::{Handoff, Pushed};

fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

/// The consumer's side: what it received, how often it parked and was woken.
#[derive(Default)]
struct Consumer {
    got: Mutex<Vec<u64>>,
    parks: AtomicUsize,
    wakes: AtomicUsize,
    /// A run in progress (a claimed wake-up must not find the consumer running
    /// after it parked: runs are serial, as a drain's are).
    running: AtomicUsize,
}

impl Consumer {
    /// One drain run: pop everything, then park (or go on if items arrived meanwhile).
    fn run(&self, h: &Handoff<u64>) {
        assert_eq!(self.running.fetch_add(1, SeqCst), 0, "overlapping runs");
        loop {
            while let Some(x) = h.pop() {
                self.got.lock().unwrap().push(x);
            }
            if h.park() {
                self.parks.fetch_add(1, SeqCst);
                break;
            }
        }
        self.running.fetch_sub(1, SeqCst);
    }
}

fn producer(h: &Handoff<u64>, items: std::ops::Range<u64>) -> usize {
    let mut wakes = 0;
    for i in items {
        match h.push(i).expect("never full here") {
            Pushed::Wake => wakes += 1,
            Pushed::Queued => {}
            Pushed::Closed => panic!("not closed"),
        }
    }
    wakes
}

/// A consumer running (from a first wake-up) while the producer pushes more: each
/// claimed wake-up runs the consumer once more afterwards; all items arrive, in order.
#[test]
fn no_lost_wake_up() {
    model(|| {
        let h = Arc::new(Handoff::<u64>::new(4));
        let c = Arc::new(Consumer::default());
        // The first push wakes (the hand-off starts parked).
        assert_eq!(h.push(0), Ok(Pushed::Wake));
        let consumer = {
            let (h, c) = (h.clone(), c.clone());
            thread::spawn(move || c.run(&h))
        };
        let wakes = producer(&h, 1..3);
        consumer.join().unwrap();
        // The scheduler: one more run per wake-up claimed by the producer.
        for _ in 0..wakes {
            c.wakes.fetch_add(1, SeqCst);
            c.run(&h);
        }
        assert_eq!(*c.got.lock().unwrap(), vec![0, 1, 2], "lost or reordered");
        assert!(h.is_empty());
        // Every run ended parked; every wake-up followed a park.
        assert_eq!(c.parks.load(SeqCst), 1 + wakes);
        // Parked at the end: the next push claims the wake-up.
        assert_eq!(h.push(9), Ok(Pushed::Wake));
    });
}

/// A wake-up claimed by the producer while the consumer is still inside `park`: the
/// consumer must stop (its run is over), and exactly one further run follows.
#[test]
fn park_races_with_push() {
    model(|| {
        let h = Arc::new(Handoff::<u64>::new(2));
        let c = Arc::new(Consumer::default());
        assert_eq!(h.push(0), Ok(Pushed::Wake));
        assert_eq!(h.pop(), Some(0));
        let consumer = {
            let (h, c) = (h.clone(), c.clone());
            // A consumer that found the ring empty and parks.
            thread::spawn(move || {
                if !h.park() {
                    c.run(&h); // items arrived: it goes on itself
                } else {
                    c.parks.fetch_add(1, SeqCst);
                }
            })
        };
        let wakes = producer(&h, 1..2);
        consumer.join().unwrap();
        assert!(wakes <= 1);
        for _ in 0..wakes {
            c.run(&h);
        }
        assert_eq!(*c.got.lock().unwrap(), vec![1], "lost wake-up");
    });
}

/// `close` racing with a push: afterwards nothing is queued (the racing push dropped
/// its item, or `close` did), and later pushes are refused.
#[test]
fn close_races_with_push() {
    model(|| {
        let h = Arc::new(Handoff::<Arc<()>>::new(2));
        let token = Arc::new(());
        let pusher = {
            let (h, t) = (h.clone(), token.clone());
            thread::spawn(move || {
                let _ = h.push(t);
            })
        };
        h.close();
        pusher.join().unwrap();
        assert!(h.is_empty(), "an item stayed queued after close");
        assert_eq!(Arc::strong_count(&token), 1, "an item was not released");
        assert_eq!(h.push(token.clone()), Ok(Pushed::Closed));
        assert_eq!(Arc::strong_count(&token), 1);
    });
}
