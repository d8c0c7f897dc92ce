//! `FnSubscriber` and `Disposable`: subscribe with closures, cancel with a handle.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::{Error, SharedSubscription, Subscriber};

struct Link {
    subscription: Mutex<Option<SharedSubscription>>,
    cancelled: AtomicBool,
    terminated: AtomicBool,
}

impl Link {
    fn take(&self) -> Option<SharedSubscription> {
        self.subscription
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

/// Cancels the subscription made by
/// [`subscribe_fn`](super::PublisherExt::subscribe_fn) /
/// [`subscribe_with`](super::PublisherExt::subscribe_with) when [`cancel`](Self::cancel)
/// is called or when it is dropped. Keep it alive for as long as the pipeline should run,
/// or call [`detach`](Self::detach).
///
/// ```
/// use spillway_core::prelude::*;
/// let handle = never::<u8, std::convert::Infallible>().subscribe_fn(|_| {});
/// assert!(!handle.is_terminated());
/// drop(handle); // cancels
/// ```
#[must_use = "dropping a Disposable cancels its subscription at once"]
pub struct Disposable {
    link: Option<Arc<Link>>,
}

impl Disposable {
    /// Cancels the subscription (idempotent).
    pub fn cancel(&self) {
        if let Some(link) = &self.link {
            link.cancelled.store(true, Ordering::Release);
            if let Some(s) = link.take() {
                s.cancel();
            }
        }
    }

    /// True once the pipeline completed, failed or was cancelled.
    pub fn is_terminated(&self) -> bool {
        self.link.as_ref().is_none_or(|l| {
            l.terminated.load(Ordering::Acquire) || l.cancelled.load(Ordering::Acquire)
        })
    }

    /// Lets the subscription run to its end without a handle.
    pub fn detach(mut self) {
        self.link = None;
    }
}

impl Drop for Disposable {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl fmt::Debug for Disposable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Disposable")
            .field("terminated", &self.is_terminated())
            .finish()
    }
}

/// A subscriber made of closures, with unbounded demand. Built by
/// [`subscribe_with`](super::PublisherExt::subscribe_with).
pub struct FnSubscriber<T, E, N, R, C> {
    on_next: N,
    on_error: Option<R>,
    on_complete: Option<C>,
    subscription: Option<SharedSubscription>,
    link: Arc<Link>,
    _types: std::marker::PhantomData<fn(T, E)>,
}

impl<T, E, N, R, C> FnSubscriber<T, E, N, R, C>
where
    N: FnMut(T) + Send + 'static,
    R: FnOnce(Error<E>) + Send + 'static,
    C: FnOnce() + Send + 'static,
{
    /// The subscriber and the handle that cancels it.
    ///
    /// ```
    /// use spillway_core::{prelude::*, FnSubscriber};
    /// let (sub, handle) = FnSubscriber::new(|x: u64| println!("{x}"), |_e: spillway_core::Error<std::convert::Infallible>| {}, || {});
    /// range(0, 2).subscribe(sub);
    /// assert!(handle.is_terminated());
    /// ```
    pub fn new(on_next: N, on_error: R, on_complete: C) -> (Self, Disposable) {
        let link = Arc::new(Link {
            subscription: Mutex::new(None),
            cancelled: AtomicBool::new(false),
            terminated: AtomicBool::new(false),
        });
        let sub = FnSubscriber {
            on_next,
            on_error: Some(on_error),
            on_complete: Some(on_complete),
            subscription: None,
            link: Arc::clone(&link),
            _types: std::marker::PhantomData,
        };
        (sub, Disposable { link: Some(link) })
    }

    fn finish(&mut self) {
        self.link.terminated.store(true, Ordering::Release);
        self.link.take();
        self.subscription = None;
    }
}

impl<T, E, N, R, C> Subscriber for FnSubscriber<T, E, N, R, C>
where
    T: 'static,
    E: 'static,
    N: FnMut(T) + Send + 'static,
    R: FnOnce(Error<E>) + Send + 'static,
    C: FnOnce() + Send + 'static,
{
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        // Rule 2.5: already subscribed (or terminated): refuse the new subscription.
        if self.subscription.is_some() || self.on_error.is_none() {
            subscription.cancel();
            return;
        }
        if self.link.cancelled.load(Ordering::Acquire) {
            subscription.cancel();
            return;
        }
        *self
            .link
            .subscription
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(subscription.clone());
        // The handle may have cancelled while we stored it: check again.
        if self.link.cancelled.load(Ordering::Acquire) {
            subscription.cancel();
            return;
        }
        self.subscription = Some(subscription.clone());
        subscription.request(u64::MAX);
    }

    fn on_next(&mut self, item: T) {
        if self.on_error.is_none() {
            return;
        }
        let f = &mut self.on_next;
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| f(item))) {
            if let Some(s) = self.subscription.take() {
                s.cancel();
            }
            self.on_error(Error::from_panic("subscribe_with", payload));
        }
    }

    fn on_error(&mut self, error: Error<E>) {
        if let Some(f) = self.on_error.take() {
            self.on_complete = None;
            self.finish();
            f(error);
        }
    }

    fn on_complete(&mut self) {
        if let Some(f) = self.on_complete.take() {
            self.on_error = None;
            self.finish();
            f();
        }
    }
}

impl<T, E, N, R, C> fmt::Debug for FnSubscriber<T, E, N, R, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnSubscriber").finish_non_exhaustive()
    }
}
