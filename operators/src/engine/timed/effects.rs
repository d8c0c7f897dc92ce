//! What one event of the timed engine leaves to do once its lock is released: the items
//! it dropped (for `on_drop`), a request, a cancel, a drain signal.

use crate::stats::DropReason;

/// The items an event dropped, handed to `on_drop` after the lock is released. Most
/// events drop at most one item (`sample` replacing its latest, `rate_limit` refusing
/// one), which is kept inline: no allocation per item.
pub(super) struct Drops<T> {
    first: Option<(T, DropReason)>,
    more: Vec<(T, DropReason)>,
}

impl<T> Drops<T> {
    pub(super) fn new() -> Self {
        Drops {
            first: None,
            more: Vec::new(),
        }
    }

    #[inline]
    pub(super) fn push(&mut self, drop: (T, DropReason)) {
        if self.first.is_none() {
            self.first = Some(drop);
        } else {
            self.more.push(drop);
        }
    }

    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    pub(super) fn into_iter(self) -> impl Iterator<Item = (T, DropReason)> {
        self.first.into_iter().chain(self.more)
    }
}

pub(super) struct Effects<T> {
    pub(super) drops: Drops<T>,
    pub(super) request: u64,
    pub(super) cancel_upstream: bool,
    pub(super) signal: bool,
    /// A companion to subscribe (it may signal at once, so never under the lock).
    pub(super) arm: Option<Box<dyn FnOnce()>>,
}

impl<T> Effects<T> {
    pub(super) fn new() -> Self {
        Effects {
            drops: Drops::new(),
            request: 0,
            cancel_upstream: false,
            signal: false,
            arm: None,
        }
    }

    /// Nothing to do after the lock: the common case of an item only held or replaced
    /// without a drop.
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.drops.is_empty()
            && self.request == 0
            && !self.cancel_upstream
            && !self.signal
            && self.arm.is_none()
    }
}
