//! The upstream slot: an operator's upstream subscription, set when upstream calls
//! `on_subscribe`, with the calls made before (and while) it arrives kept and passed on
//! one after another (Reactive Streams rules 2.5 and 2.7). Model-checked with loom
//! (`core/tests/loom_upstream.rs`).

use std::sync::OnceLock;

use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{lock, Mutex};
use crate::{Demand, SharedSubscription};

/// The upstream subscription of an operator whose downstream side runs on a drain loop
/// (or on any other thread than upstream's), set once when upstream calls `on_subscribe`.
///
/// Requests and a cancel made before that (an upstream whose `on_subscribe` comes later,
/// from another thread: `subscribe_on`, say) are kept and passed on when the subscription
/// arrives, as Reactor's deferred subscription does: dropping them stalled the pipeline
/// (`flat_map_iter` below `subscribe_on` never got its item) or leaked the upstream (a
/// `request(0)` answered before `on_subscribe` never cancelled it).
///
/// Rule 2.7 (calls on a subscription are serial): [`set`](Self::set) passes the kept calls
/// on from upstream's thread, and calls made *while* it does so (a drain on another
/// thread that already took items, or upstream emitting inside the first request) are
/// kept too and passed on by the same loop, after the call in progress returns. So an
/// operator's `on_subscribe` makes its first request *before* `set`, and the first
/// request cannot overlap the drain's. After that loop, calls go straight to upstream.
///
/// ```
/// use std::sync::Arc;
/// use spillway_core::upstream::UpstreamSlot;
/// use spillway_core::{NoopSubscription, SharedSubscription};
///
/// let slot = UpstreamSlot::default();
/// slot.request(4); // before upstream's `on_subscribe`: kept
/// assert!(!slot.is_set());
/// let upstream: SharedSubscription = Arc::new(NoopSubscription);
/// assert!(slot.set(Arc::clone(&upstream))); // passes the 4 on
/// assert!(!slot.set(upstream)); // a second subscription is cancelled (rule 2.5)
/// slot.request(1); // now straight to upstream
/// ```
pub struct UpstreamSlot {
    subscription: OnceLock<SharedSubscription>,
    /// The kept calls were passed on: calls go straight to upstream.
    ready: AtomicBool,
    early: Mutex<Early>,
}

impl Default for UpstreamSlot {
    fn default() -> Self {
        UpstreamSlot {
            subscription: OnceLock::new(),
            ready: AtomicBool::new(false),
            early: Mutex::new(Early::default()),
        }
    }
}

impl std::fmt::Debug for UpstreamSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamSlot")
            .field("set", &self.is_set())
            .field("ready", &self.ready.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// What was asked of the upstream before its subscription was ready.
#[derive(Default)]
struct Early {
    demand: Demand,
    cancelled: bool,
}

impl UpstreamSlot {
    /// True once a subscription was set: a second `on_subscribe` is refused (rule 2.5).
    pub fn is_set(&self) -> bool {
        self.subscription.get().is_some()
    }

    /// Stores the subscription and passes on what was asked before (and meanwhile), one
    /// call after another; false (and the new one cancelled) if one was already set
    /// (rule 2.5).
    pub fn set(&self, subscription: SharedSubscription) -> bool {
        if let Err(second) = self.subscription.set(subscription) {
            second.cancel();
            return false;
        }
        let up = self.subscription.get().expect("set above");
        loop {
            let early = {
                let mut early = lock(&self.early);
                if early.demand.is_zero() && !early.cancelled {
                    // Under the lock: a call that finds `ready` unset is recorded
                    // before this, and taken by the loop's previous turn.
                    self.ready.store(true, Ordering::Release);
                    return true;
                }
                std::mem::take(&mut *early)
            };
            if early.cancelled {
                up.cancel();
                // Requests after a cancel are no-ops (rule 3.6); now they go straight up.
                *lock(&self.early) = Early::default();
                self.ready.store(true, Ordering::Release);
                return true;
            }
            up.request(early.demand.get());
        }
    }

    /// Requests `n` more from upstream (kept until the subscription is set and its kept
    /// calls passed on); `n == 0` is ignored.
    pub fn request(&self, n: u64) {
        if n == 0 {
            return;
        }
        if let Some(up) = self.ready() {
            return up.request(n);
        }
        let mut early = lock(&self.early);
        match self.ready() {
            Some(up) => {
                drop(early);
                up.request(n);
            }
            None => early.demand = early.demand.add(n),
        }
    }

    /// Cancels upstream (kept until the subscription is set).
    pub fn cancel(&self) {
        if let Some(up) = self.ready() {
            return up.cancel();
        }
        let mut early = lock(&self.early);
        match self.ready() {
            Some(up) => {
                drop(early);
                up.cancel();
            }
            None => early.cancelled = true,
        }
    }

    /// The subscription, once the kept calls were passed on.
    #[inline]
    fn ready(&self) -> Option<&SharedSubscription> {
        if self.ready.load(Ordering::Acquire) {
            self.subscription.get()
        } else {
            None
        }
    }
}
