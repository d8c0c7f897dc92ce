//! Poison-free locking, for the engine and the observability modules alike (a leaf module:
//! it depends on nothing in the crate).

use std::sync::{Mutex, MutexGuard};

/// Locks ignoring poison: operator state is only touched by short, non-panicking code
/// (user callbacks run outside the lock), so poison carries no information.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
