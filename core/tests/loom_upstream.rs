//! Loom model of the upstream slot (`spillway_core::upstream::UpstreamSlot`): upstream's
//! thread sets the subscription (after the stage's first request) while a drain on another
//! thread requests, and upstream requests again from inside a request (it emits there).
//! In every interleaving: no two calls on the subscription overlap (rule 2.7), every unit
//! requested reaches upstream exactly once, and a cancel reaches it whatever the order.
//!
//! Run with:
//! `CARGO_TARGET_DIR=target/loom RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
//!  cargo test -p spillway-core --test loom_upstream --release`
#![cfg(loom)]

use std::sync::{Arc, OnceLock};

use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use loom::thread;

use spillway_core::upstream::UpstreamSlot;
use spillway_core::{SharedSubscription, Subscription};

/// Records the calls it gets; on its first request it requests again through the slot,
/// as an upstream that emits inside `request` makes its stage do.
struct Recording {
    in_call: AtomicBool,
    requested: AtomicU64,
    cancelled: AtomicBool,
    reentered: AtomicBool,
    slot: OnceLock<Arc<UpstreamSlot>>,
}

impl Recording {
    fn enter(&self) {
        assert!(
            !self.in_call.swap(true, SeqCst),
            "two calls overlap (rule 2.7)"
        );
    }
    fn exit(&self) {
        self.in_call.store(false, SeqCst);
    }
}

impl Subscription for Recording {
    fn request(&self, n: u64) {
        self.enter();
        self.requested.fetch_add(n, SeqCst);
        if !self.reentered.swap(true, SeqCst) {
            // Re-entrant, on this thread: taken by the slot's loop after this returns.
            self.slot.get().expect("wired").request(100);
        }
        self.exit();
    }
    fn cancel(&self) {
        self.enter();
        self.cancelled.store(true, SeqCst);
        self.exit();
    }
}

fn recording(slot: &Arc<UpstreamSlot>) -> Arc<Recording> {
    let r = Arc::new(Recording {
        in_call: AtomicBool::new(false),
        requested: AtomicU64::new(0),
        cancelled: AtomicBool::new(false),
        reentered: AtomicBool::new(false),
        slot: OnceLock::new(),
    });
    let _ = r.slot.set(Arc::clone(slot));
    r
}

#[test]
fn first_request_and_a_drains_request_reach_upstream_serially_and_all() {
    loom::model(|| {
        let slot = Arc::new(UpstreamSlot::default());
        let up = recording(&slot);
        let drain = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || {
                slot.request(2);
                slot.request(3);
            })
        };
        // Upstream's thread: the stage's first request, then the subscription.
        slot.request(1);
        assert!(slot.set(Arc::clone(&up) as SharedSubscription));
        drain.join().unwrap();
        // 1 + 2 + 3, and the 100 re-entered from inside the first call upstream saw.
        assert_eq!(up.requested.load(SeqCst), 106);
        assert!(!up.cancelled.load(SeqCst));
    });
}

#[test]
fn a_cancel_from_another_thread_reaches_upstream_serially() {
    loom::model(|| {
        let slot = Arc::new(UpstreamSlot::default());
        let up = recording(&slot);
        let canceller = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || slot.cancel())
        };
        slot.request(1);
        assert!(slot.set(Arc::clone(&up) as SharedSubscription));
        canceller.join().unwrap();
        assert!(up.cancelled.load(SeqCst), "the cancel was lost");
    });
}
