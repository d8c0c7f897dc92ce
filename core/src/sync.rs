//! The std-or-loom switch: the atomics and locks of the drain machinery come from here so
//! that it can be model-checked with `RUSTFLAGS="--cfg loom"`. `Arc` stays std's, because
//! `Arc<dyn Subscription>` needs unsized coercion, which loom's `Arc` cannot do.

#[cfg(loom)]
pub(crate) use loom::sync::{atomic, Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::{atomic, Condvar, Mutex, MutexGuard};

/// Locks ignoring poison: state behind these locks is only mutated by the single drain
/// owner, and a panic there is already handled by the drain loop, so poison carries no
/// information we need.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
