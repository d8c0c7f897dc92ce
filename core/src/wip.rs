//! The work-in-progress counter: the one loop that serializes work signalled from many
//! threads (Reactor's `WIP` / "queue-drain" pattern), used by the drain loop, and by every
//! operator that needs a serialized loop of its own (`publish_on`'s consumer, `retry`'s
//! resubscription, `pressure`'s reports).
//!
//! Whoever moves the counter from zero owns the loop and runs passes; everybody else only
//! adds one and leaves, knowing the owner will run another pass for it. The owner stops
//! only when no signal arrived during its last pass, so no signal is ever lost and no two
//! passes ever overlap. It never blocks, and never spins.

use std::ops::ControlFlow;

use crate::sync::atomic::{AtomicUsize, Ordering};

/// A work-in-progress counter. See the [module docs](self).
///
/// ```
/// use std::ops::ControlFlow;
/// use spillway_core::wip::Wip;
///
/// let wip = Wip::new();
/// let mut passes = 0;
/// if wip.signal() {
///     // This thread owns the loop: one pass per signal batch, none concurrent.
///     wip.run(|| {
///         passes += 1;
///         ControlFlow::<()>::Continue(())
///     });
/// }
/// assert_eq!(passes, 1);
/// assert!(wip.is_idle());
/// ```
#[derive(Debug, Default)]
pub struct Wip(AtomicUsize);

impl Wip {
    /// An idle counter: the first [`signal`](Self::signal) owns the loop.
    pub fn new() -> Wip {
        Wip(AtomicUsize::new(0))
    }

    /// A counter whose loop its creator owns (and must [`run`](Self::run)): signals
    /// arriving before that run are kept for it.
    pub fn owned() -> Wip {
        Wip(AtomicUsize::new(1))
    }

    /// Records work. True if the caller now owns the loop and must [`run`](Self::run) it;
    /// false if the current owner will run a pass for it.
    #[inline]
    pub fn signal(&self) -> bool {
        self.0.fetch_add(1, Ordering::AcqRel) == 0
    }

    /// True if nobody owns the loop.
    pub fn is_idle(&self) -> bool {
        self.0.load(Ordering::Acquire) == 0
    }

    /// Gives up a loop owned since [`owned`](Self::owned) (or a winning
    /// [`signal`](Self::signal)) without running it, if no other signal came meanwhile:
    /// true if the counter is idle now; false if work arrived, and the caller still owns
    /// the loop and must [`run`](Self::run) it (or hand it to a thread that will).
    pub fn release(&self) -> bool {
        self.0
            .compare_exchange(1, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Runs `pass` until a pass ran with no signal arriving during it, then gives up the
    /// loop. Call only as the owner (after [`signal`](Self::signal) returned true, or on
    /// an [`owned`](Self::owned) counter). A pass that returns `Break` ends the loop at
    /// once, forgets the signals that came meanwhile (the work is abandoned), leaves the
    /// counter idle, and its value is returned.
    pub fn run<B>(&self, mut pass: impl FnMut() -> ControlFlow<B>) -> Option<B> {
        let mut missed = 1;
        loop {
            if let ControlFlow::Break(b) = pass() {
                self.0.store(0, Ordering::Release);
                return Some(b);
            }
            let before = self.0.fetch_sub(missed, Ordering::AcqRel);
            if before == missed {
                return None;
            }
            missed = before - missed;
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};

    use super::*;

    #[test]
    fn a_signal_during_a_pass_gets_a_pass_of_its_own() {
        let wip = Wip::new();
        assert!(wip.signal());
        let mut passes = 0;
        wip.run(|| {
            passes += 1;
            if passes == 1 {
                assert!(!wip.signal(), "the owner is running: no second owner");
            }
            ControlFlow::<()>::Continue(())
        });
        assert_eq!(passes, 2);
        assert!(wip.is_idle());
    }

    #[test]
    fn an_owner_releases_only_a_loop_nobody_signalled() {
        let wip = Wip::owned();
        assert!(wip.release());
        assert!(wip.is_idle());
        let wip = Wip::owned();
        assert!(!wip.signal());
        assert!(!wip.release(), "a signal came: the owner must run the loop");
        let mut passes = 0;
        wip.run(|| {
            passes += 1;
            ControlFlow::<()>::Continue(())
        });
        assert_eq!(passes, 2, "one pass for the owner, one for the signal");
    }

    #[test]
    fn break_abandons_the_work_and_leaves_the_loop_idle() {
        let wip = Wip::owned();
        let out = wip.run(|| {
            wip.signal();
            ControlFlow::Break("stop")
        });
        assert_eq!(out, Some("stop"));
        assert!(wip.is_idle());
        assert!(wip.signal(), "the next signal owns the loop again");
    }

    #[test]
    fn passes_never_overlap_and_every_signal_is_served() {
        const THREADS: usize = 4;
        const SIGNALS: usize = 2_000;
        let wip = Arc::new(Wip::new());
        let signalled = Arc::new(AtomicUsize::new(0));
        let served = Arc::new(AtomicUsize::new(0));
        let running = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(THREADS));
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let (wip, signalled, served, running, start) = (
                    wip.clone(),
                    signalled.clone(),
                    served.clone(),
                    running.clone(),
                    start.clone(),
                );
                std::thread::spawn(move || {
                    start.wait();
                    for _ in 0..SIGNALS {
                        signalled.fetch_add(1, Ordering::SeqCst);
                        if wip.signal() {
                            wip.run(|| {
                                assert_eq!(running.fetch_add(1, Ordering::SeqCst), 0);
                                // Serve everything signalled so far.
                                served.store(signalled.load(Ordering::SeqCst), Ordering::SeqCst);
                                running.fetch_sub(1, Ordering::SeqCst);
                                ControlFlow::<()>::Continue(())
                            });
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(wip.is_idle());
        assert_eq!(served.load(Ordering::SeqCst), THREADS * SIGNALS);
    }
}
