//! Small pieces shared by the operators: poison-free locking, the upstream slot, and the
//! dropped-item reporter. Operator files stay about their own logic.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use spillway_core::drain::DrainHandle;
use spillway_core::Demand;

use crate::stats::{DropReason, FlowStats, OnDrop};

pub(crate) use crate::sync::lock;
pub(crate) use spillway_core::upstream::UpstreamSlot;

/// The downstream drain loop of an operator, set once when it starts.
#[derive(Default)]
pub(crate) struct DrainSlot(OnceLock<DrainHandle>);

impl DrainSlot {
    pub(crate) fn set(&self, handle: DrainHandle) {
        let _ = self.0.set(handle);
    }

    /// Runs the drain loop (here, or in the thread already running it).
    pub(crate) fn signal(&self) {
        if let Some(d) = self.0.get() {
            d.signal();
        }
    }

    /// Downstream's outstanding demand (zero before the drain starts). Exact only for a
    /// source with `SETTLES_DEMAND`, which calls [`produced`](Self::produced) per item.
    pub(crate) fn demand(&self) -> Demand {
        self.0.get().map_or(Demand::ZERO, DrainHandle::demand)
    }

    /// True once downstream cancelled or the drain terminated (false before it starts):
    /// whatever arrives now can no longer be delivered.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.0.get().is_some_and(DrainHandle::is_cancelled)
    }

    /// Subtracts one delivered item from downstream's demand (`SETTLES_DEMAND` sources).
    pub(crate) fn produced_one(&self) {
        self.produced(1);
    }

    /// Subtracts `n` items handed out from downstream's demand (`SETTLES_DEMAND` sources).
    pub(crate) fn produced(&self, n: u64) {
        if let Some(d) = self.0.get() {
            d.produced(n);
        }
    }

    /// Gives back demand for `n` items handed out but not used (`SETTLES_DEMAND` sources).
    pub(crate) fn restore(&self, n: u64) {
        if let (Some(d), true) = (self.0.get(), n > 0) {
            d.restore(n);
        }
    }
}

/// The payload of a panic caught in user code, for
/// [`Error::from_panic`](spillway_core::Error::from_panic).
pub(crate) type Panic = Box<dyn Any + Send>;

/// Counts dropped items and hands them to the user's `on_drop` callback. Call it without
/// holding a lock: the callback is user code.
///
/// The `try_` methods catch a panic in the callback and return it, so that the stage
/// fails (cancel upstream, `Error::Panicked` downstream) instead of unwinding into
/// whoever called it (the producer's `on_next`/`on_error`, `subscribe`, `request`,
/// `cancel`). After a panic the callback is never called again: later drops (the rest of
/// a batch, the held items the failure discards) are only counted, and return `Ok`.
/// Every item is counted as dropped before its callback runs, panic or not, so the
/// statistics stay balanced.
pub(crate) struct Dropper<T> {
    pub(crate) stats: FlowStats,
    on_drop: Option<OnDrop<T>>,
    /// The callback panicked once: it is not called again.
    panicked: AtomicBool,
}

impl<T> Dropper<T> {
    pub(crate) fn new(stats: FlowStats, on_drop: Option<OnDrop<T>>) -> Self {
        Dropper {
            stats,
            on_drop,
            panicked: AtomicBool::new(false),
        }
    }

    /// Counts `item` as dropped for `reason` and calls `on_drop` with it, catching a
    /// panic: `Err` with its payload (the first time only; the callback is not called
    /// again afterwards). The caller fails the stage with it, or, if the stage is already
    /// over, has nobody to tell and lets it go.
    #[must_use = "a panic in on_drop must fail the stage"]
    pub(crate) fn try_drop_item(&self, item: T, reason: DropReason) -> Result<(), Panic> {
        self.stats.record_dropped(reason);
        let Some(f) = &self.on_drop else {
            return Ok(());
        };
        if self.panicked.load(Ordering::Acquire) {
            return Ok(()); // dropped here, counted, not reported
        }
        catch_unwind(AssertUnwindSafe(|| f(item, reason)))
            .inspect_err(|_| self.panicked.store(true, Ordering::Release))
    }

    /// [`try_drop_item`](Self::try_drop_item) for each of `items`: all are counted and
    /// dropped, the callback stops at the first panic, whose payload is returned.
    #[must_use = "a panic in on_drop must fail the stage"]
    pub(crate) fn try_drop_all(
        &self,
        items: impl IntoIterator<Item = T>,
        reason: DropReason,
    ) -> Result<(), Panic> {
        let mut outcome = Ok(());
        for item in items {
            if let Err(payload) = self.try_drop_item(item, reason) {
                outcome = Err(payload);
            }
        }
        outcome
    }

    /// Drops items when the stage is already over (cancelled, or its terminal signal
    /// decided): a panic in `on_drop` has nobody to go to, so it is caught and ignored
    /// (the items are counted all the same).
    pub(crate) fn discard_quietly(&self, items: impl IntoIterator<Item = T>, reason: DropReason) {
        let _ = self.try_drop_all(items, reason);
    }
}

/// Wraps a user's drop callback.
pub(crate) fn on_drop<T, F>(f: F) -> OnDrop<T>
where
    F: Fn(T, DropReason) + Send + Sync + 'static,
{
    Arc::new(f)
}
