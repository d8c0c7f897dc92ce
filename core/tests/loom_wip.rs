//! Loom model of the work-in-progress counter (`spillway_core::wip::Wip`), the loop behind
//! the drain, `publish_on`, `retry` and `pressure`'s reports: two threads signal work while
//! either may own the loop. In every interleaving the passes never overlap, the work of
//! every signal is seen by a pass that starts after it, and the loop ends idle.
//!
//! Run with:
//! `CARGO_TARGET_DIR=target/loom RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
//!  cargo test -p spillway-core --test loom_wip --release`
#![cfg(loom)]

use std::ops::ControlFlow;
use std::sync::Arc;

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::thread;

use spillway_core::wip::Wip;

struct Shared {
    wip: Wip,
    /// Work items published by the signalling threads.
    posted: AtomicUsize,
    /// The most work a pass has seen.
    seen: AtomicUsize,
    in_pass: AtomicBool,
}

fn post(shared: &Shared) {
    shared.posted.fetch_add(1, SeqCst);
    if shared.wip.signal() {
        shared.wip.run(|| {
            assert!(!shared.in_pass.swap(true, SeqCst), "two passes at once");
            let now = shared.posted.load(SeqCst);
            shared.seen.fetch_max(now, SeqCst);
            shared.in_pass.store(false, SeqCst);
            ControlFlow::<()>::Continue(())
        });
    }
}

#[test]
fn every_signal_is_served_and_passes_never_overlap() {
    loom::model(|| {
        let shared = Arc::new(Shared {
            wip: Wip::new(),
            posted: AtomicUsize::new(0),
            seen: AtomicUsize::new(0),
            in_pass: AtomicBool::new(false),
        });
        let other = {
            let shared = shared.clone();
            thread::spawn(move || post(&shared))
        };
        post(&shared);
        other.join().unwrap();
        assert_eq!(
            shared.seen.load(SeqCst),
            2,
            "a signal's work was never seen"
        );
        assert!(shared.wip.is_idle());
    });
}
