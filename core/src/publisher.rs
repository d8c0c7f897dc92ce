//! The `Publisher` and `Processor` traits.

use crate::Subscriber;

/// A source of items that sends them only as fast as its subscriber requests them.
///
/// A publisher value describes one subscription: `subscribe` consumes it. Publishers that
/// can be subscribed again are `Clone` (all the sources whose inputs are `Clone`).
/// Subscribing a subscriber of another item or error type does not compile.
///
/// # Examples
/// ```
/// use spillway_core::prelude::*;
/// # futures::executor::block_on(async {
/// let items = range(1, 4).collect().await.unwrap();
/// assert_eq!(items, vec![1, 2, 3]);
/// # });
/// ```
#[must_use = "publishers do nothing until subscribed"]
pub trait Publisher {
    /// The items it emits.
    type Item: Send + 'static;
    /// The user error it may fail with (`Infallible` if it cannot).
    type Error: Send + 'static;

    /// Starts a subscription: the subscriber receives `on_subscribe` and then signals
    /// as it requests them.
    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = Self::Item, Error = Self::Error>;
}

/// A stage that is both a subscriber (of `Subscriber::Item`) and a publisher (of
/// `Publisher::Item`). Implemented for every type that is both.
///
/// ```
/// /// Code generic over processors needs only the one bound.
/// #[allow(dead_code)]
/// fn relay_stage<P: spillway_core::Processor>(stage: P) -> P {
///     stage
/// }
/// ```
pub trait Processor: Subscriber + Publisher {}

impl<T: Subscriber + Publisher> Processor for T {}
