//! The [`handoff`](spillway_core::handoff) park / wake-up protocol (the queue of
//! `publish_on`), checked two ways by the same scenarios:
//!
//! * **loom** (`RUSTFLAGS="--cfg loom"`): every interleaving, exhaustively. Run with
//!   `CARGO_TARGET_DIR=target/loom RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
//!   cargo test -p spillway-core --test loom_handoff --release`. Loom cannot see into
//!   `rtrb`, so under loom the ring is a model of its index protocol (cached indices, one
//!   `Release` store of the tail per pushed run and of the head per drained run,
//!   `Acquire` loads); what loom checks is the protocol around it.
//! * **the production ring** (without `--cfg loom`): the same scenarios on the real `rtrb`
//!   ring with std threads, many times over (`cargo test`), and under Miri, whose data
//!   race detector and weak-memory emulation check the ring's own `unsafe` code across
//!   many schedules: `MIRIFLAGS="-Zmiri-many-seeds=0..16" cargo +nightly miri test -p
//!   spillway-core --test loom_handoff` (the opt-in `SPILLWAY_MIRI=1` step of `.ci/run`).
//!
//! In every interleaving: every item is delivered exactly once and in order (no lost
//! wake-up), a wake-up is only claimed for a consumer that parked (never two for one
//! park), and after `close` nothing stays queued.

use std::sync::Arc;

#[cfg(loom)]
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
#[cfg(loom)]
use loom::sync::Mutex;
#[cfg(loom)]
use loom::thread;
#[cfg(not(loom))]
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
#[cfg(not(loom))]
use std::sync::Mutex;
#[cfg(not(loom))]
use std::thread;

use spillway_core::handoff::{channel, Pushed, Receiver, Sender};

#[cfg(loom)]
fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

/// Without loom: the scenario on the production ring, repeated (once per seed under
/// Miri, which varies the schedule itself).
#[cfg(not(loom))]
fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let runs = if cfg!(miri) { 1 } else { 2_000 };
    for _ in 0..runs {
        f();
    }
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
    /// One drain run: take everything queued (in runs of at most 2, freeing their
    /// slots as a run ends), then park (or go on if items arrived meanwhile).
    fn run(&self, rx: &mut Receiver<u64>) {
        assert_eq!(self.running.fetch_add(1, SeqCst), 0, "overlapping runs");
        loop {
            loop {
                let run: Vec<u64> = rx.drain(2).collect();
                if run.is_empty() {
                    break;
                }
                self.got.lock().unwrap().extend(run);
            }
            if rx.park() {
                self.parks.fetch_add(1, SeqCst);
                break;
            }
        }
        self.running.fetch_sub(1, SeqCst);
    }
}

/// Pushes `first` alone, then `rest` as one run: the wake-ups it claimed.
fn producer(tx: &mut Sender<u64>, first: u64, rest: std::ops::Range<u64>) -> usize {
    let mut wakes = 0;
    match tx.push(first).expect("never full here") {
        Pushed::Wake => wakes += 1,
        Pushed::Queued => {}
        Pushed::Closed => panic!("not closed"),
    }
    let len = (rest.end - rest.start) as usize;
    let (taken, pushed) = tx.push_iter(&mut rest.clone(), len);
    assert_eq!(taken, len, "never full here");
    match pushed {
        Pushed::Wake => wakes += 1,
        Pushed::Queued => {}
        Pushed::Closed => panic!("not closed"),
    }
    wakes
}

/// A consumer running (from a first wake-up) while the producer pushes an item, then a
/// run of two: each claimed wake-up runs the consumer once more afterwards; all items
/// arrive, in order.
#[test]
fn no_lost_wake_up() {
    model(|| {
        let (mut tx, mut rx) = channel::<u64>(4);
        let c = Arc::new(Consumer::default());
        // The first push wakes (the hand-off starts parked).
        assert_eq!(tx.push(0), Ok(Pushed::Wake));
        let consumer = {
            let c = c.clone();
            thread::spawn(move || {
                c.run(&mut rx);
                rx
            })
        };
        let wakes = producer(&mut tx, 1, 2..4);
        let mut rx = consumer.join().unwrap();
        // The scheduler: one more run per wake-up claimed by the producer.
        for _ in 0..wakes {
            c.wakes.fetch_add(1, SeqCst);
            c.run(&mut rx);
        }
        assert_eq!(
            *c.got.lock().unwrap(),
            vec![0, 1, 2, 3],
            "lost or reordered"
        );
        assert!(rx.is_empty());
        // Every run ended parked; every wake-up followed a park.
        assert_eq!(c.parks.load(SeqCst), 1 + wakes);
        // Parked at the end: the next push claims the wake-up.
        assert_eq!(tx.push(9), Ok(Pushed::Wake));
    });
}

/// A wake-up claimed by the producer's run while the consumer is still inside `park`:
/// the consumer must stop (its run is over), and exactly one further run follows.
#[test]
fn park_races_with_push() {
    model(|| {
        let (mut tx, mut rx) = channel::<u64>(2);
        let c = Arc::new(Consumer::default());
        assert_eq!(tx.push(0), Ok(Pushed::Wake));
        assert_eq!(rx.pop(), Some(0));
        let consumer = {
            let c = c.clone();
            // A consumer that found the ring empty and parks.
            thread::spawn(move || {
                if !rx.park() {
                    c.run(&mut rx); // items arrived: it goes on itself
                } else {
                    c.parks.fetch_add(1, SeqCst);
                }
                rx
            })
        };
        let (taken, pushed) = tx.push_iter(&mut (1..3), 2);
        assert_eq!(taken, 2);
        let wakes = usize::from(pushed == Pushed::Wake);
        let mut rx = consumer.join().unwrap();
        for _ in 0..wakes {
            c.run(&mut rx);
        }
        assert_eq!(*c.got.lock().unwrap(), vec![1, 2], "lost wake-up");
    });
}

/// `close` racing with a run of pushes: afterwards nothing is queued (the racing push
/// let go of the ring, or `close` dropped the items), and later pushes are refused.
#[test]
fn close_races_with_push() {
    model(|| {
        let (mut tx, mut rx) = channel::<Arc<()>>(2);
        let token = Arc::new(());
        let pusher = {
            let t = token.clone();
            thread::spawn(move || {
                let _ = tx.push_iter(&mut [t.clone(), t].into_iter(), 2);
                tx
            })
        };
        rx.close();
        let mut tx = pusher.join().unwrap();
        assert!(rx.is_empty(), "an item stayed queued after close");
        assert_eq!(Arc::strong_count(&token), 1, "an item was not released");
        assert_eq!(tx.push(token.clone()), Ok(Pushed::Closed));
        assert_eq!(
            tx.push_iter(&mut [token.clone()].into_iter(), 1).1,
            Pushed::Closed
        );
        assert_eq!(Arc::strong_count(&token), 1);
    });
}

/// Runs through a ring smaller than what is sent: the producer's cached head and the
/// consumer's cached tail are refreshed when stale, slots are reused only once freed,
/// every item arrives once, in order.
#[test]
fn wrap_around_with_cached_indices() {
    model(|| {
        let (mut tx, mut rx) = channel::<u64>(2);
        let consumer = thread::spawn(move || {
            let mut got = Vec::new();
            while got.len() < 4 {
                let before = got.len();
                got.extend(rx.drain(2));
                if got.len() == before {
                    thread::yield_now();
                }
            }
            got
        });
        let mut items = 0..4;
        while !items.is_empty() {
            let (taken, _) = tx.push_iter(&mut items, 3);
            if taken == 0 {
                thread::yield_now();
            }
        }
        assert_eq!(consumer.join().unwrap(), vec![0, 1, 2, 3]);
    });
}
