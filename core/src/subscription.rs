//! The `Subscription` trait: the subscriber's handle for demand and cancellation.

use std::sync::Arc;

/// The link between one [`Subscriber`](crate::Subscriber) and its
/// [`Publisher`](crate::Publisher): demand flows up through it.
///
/// Rules that every implementation follows (Reactive Streams 3.x):
/// * `request` and `cancel` may be called from any thread and re-entrantly from inside
///   `on_subscribe` / `on_next`; they never block and never call the subscriber
///   recursively (a drain loop runs instead, so the stack depth stays bounded).
/// * `request(n)` adds `n` to the outstanding demand, saturating; `u64::MAX` means
///   unbounded. `request(0)` is answered with
///   [`Error::InvalidRequest`](crate::Error::InvalidRequest) through `on_error` (rule 3.9).
/// * `cancel` is idempotent; after it, `request` does nothing and the publisher drops
///   its reference to the subscriber.
///
/// # Examples
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use spillway_core::Subscription;
///
/// #[derive(Default)]
/// struct Counting(AtomicU64);
/// impl Subscription for Counting {
///     fn request(&self, n: u64) { self.0.fetch_add(n, Ordering::Relaxed); }
///     fn cancel(&self) {}
/// }
/// let s = Counting::default();
/// s.request(2);
/// assert_eq!(s.0.load(Ordering::Relaxed), 2);
/// ```
pub trait Subscription: Send + Sync + 'static {
    /// Asks for `n` more items (`u64::MAX`: unbounded).
    fn request(&self, n: u64);
    /// Asks the publisher to stop sending and to release the subscriber.
    fn cancel(&self);
}

/// The form in which a subscription reaches `on_subscribe`: shared, cheap to clone, and
/// usable from any thread.
pub type SharedSubscription = Arc<dyn Subscription>;

/// A subscription that ignores everything: for publishers that terminate at once
/// (`empty`, `error`) and for refusing a second subscription (rule 2.5).
///
/// ```
/// use spillway_core::{NoopSubscription, Subscription};
/// NoopSubscription.request(1);
/// NoopSubscription.cancel();
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopSubscription;

impl Subscription for NoopSubscription {
    fn request(&self, _n: u64) {}
    fn cancel(&self) {}
}

impl NoopSubscription {
    /// The no-op subscription in its shared form.
    pub fn shared() -> SharedSubscription {
        Arc::new(NoopSubscription)
    }
}
