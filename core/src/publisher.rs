//! The `Publisher` and `Processor` traits, and the [`Scalar`] fast path.

use crate::{Error, Subscriber};

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
///
/// # The scalar fast path
/// A publisher that knows, without being subscribed, that it holds at most one signal
/// (one item then completion, completion alone, or an error) can say so by overriding
/// [`into_scalar`](Publisher::into_scalar): it hands that signal over as a [`Scalar`]
/// instead of itself. Operators that subscribe to many short inner publishers
/// (`flat_map`, `concat_map`, `switch_map`, `merge`) ask every inner first, and take the
/// signal of a scalar one directly: no subscription, no inner queue, no requests. The
/// outcome seen downstream is the same as subscribing (same items, same order, same
/// demand rules); only the cost differs. [`just`](crate::source::just),
/// [`empty`](crate::source::empty) and [`error`](crate::source::error) opt in; so can a
/// publisher of your own:
///
/// ```
/// use spillway_core::prelude::*;
/// use spillway_core::Scalar;
///
/// /// The answer to a lookup: known at once, so it is a scalar.
/// struct Answer(Option<u64>);
///
/// impl Publisher for Answer {
///     type Item = u64;
///     type Error = std::convert::Infallible;
///     fn subscribe<S: Subscriber<Item = u64, Error = Self::Error>>(self, s: S) {
///         // The ordinary path, for subscribers that do not ask for a scalar.
///         match self.0 {
///             Some(x) => just(x).subscribe(s),
///             None => empty().subscribe(s),
///         }
///     }
///     fn into_scalar(self) -> Result<Scalar<u64, Self::Error>, Self> {
///         Ok(match self.0 {
///             Some(x) => Scalar::Item(x),
///             None => Scalar::Empty,
///         })
///     }
/// }
///
/// assert_eq!(Answer(Some(7)).into_scalar().ok(), Some(Scalar::Item(7)));
/// # futures::executor::block_on(async {
/// // Subscribed the ordinary way, it behaves the same.
/// assert_eq!(Answer(Some(7)).collect().await.unwrap(), vec![7]);
/// assert!(Answer(None).collect().await.unwrap().is_empty());
/// # });
/// ```
///
/// Only override it when the answer needs no subscription to be known, costs nothing
/// worth deferring and has no side effect that subscribing would have (a `defer`
/// factory, a timer, a subscription counter): `into_scalar` runs at once, where the
/// subscription would have run.
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

    /// The scalar fast path: `Ok` with the one signal this publisher would send, if it is
    /// known without subscribing (see [the trait docs](Publisher#the-scalar-fast-path));
    /// otherwise `Err(self)`, unchanged, to be subscribed as usual. The default answers
    /// `Err(self)`.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_core::Scalar;
    /// assert_eq!(just(3).into_scalar().ok(), Some(Scalar::Item(3)));
    /// assert!(range(0, 1).into_scalar().is_err());
    /// ```
    #[inline]
    fn into_scalar(self) -> Result<Scalar<Self::Item, Self::Error>, Self>
    where
        Self: Sized,
    {
        Err(self)
    }
}

/// The one signal of a publisher that has at most one item, known without subscribing:
/// what [`Publisher::into_scalar`] hands over. A subscriber would see `Item(x)` as
/// `on_next(x)` then `on_complete`, `Empty` as `on_complete`, and `Error(e)` as
/// `on_error(e)`.
///
/// ```
/// use spillway_core::prelude::*;
/// use spillway_core::{Error, Scalar};
/// assert_eq!(empty::<u8, ()>().into_scalar().ok(), Some(Scalar::Empty));
/// assert_eq!(
///     error::<u8, _>("boom").into_scalar().ok(),
///     Some(Scalar::Error(Error::User("boom")))
/// );
/// assert_eq!(Scalar::<u8, ()>::Item(2).map(|x| x * 10), Scalar::Item(20));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scalar<T, E> {
    /// One item, then completion.
    Item(T),
    /// Completion without an item.
    Empty,
    /// Failure.
    Error(Error<E>),
}

impl<T, E> Scalar<T, E> {
    /// Maps the item, if there is one.
    ///
    /// ```
    /// use spillway_core::Scalar;
    /// assert_eq!(Scalar::<u8, ()>::Item(1).map(|x| x + 1), Scalar::Item(2));
    /// assert_eq!(Scalar::<u8, ()>::Empty.map(|x| x + 1), Scalar::Empty);
    /// ```
    #[inline]
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Scalar<U, E> {
        match self {
            Scalar::Item(x) => Scalar::Item(f(x)),
            Scalar::Empty => Scalar::Empty,
            Scalar::Error(e) => Scalar::Error(e),
        }
    }
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
