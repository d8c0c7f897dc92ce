//! Type erasure: [`BoxPublisher`] (one type for any publisher of the same items and
//! errors), [`LocalBoxPublisher`] (the same for publishers that are not `Send`) and
//! [`Either`] (one of two publisher types, without a box). They let
//! `if strict { a } else { b }` compile, and a pipeline live in a struct field.

use std::fmt;

use crate::{Publisher, Subscriber};

/// A publisher whose concrete type is erased: any `Publisher<Item = T, Error = E>` that
/// is `Send + 'static`, boxed. Made by [`PublisherExt::boxed`](crate::PublisherExt::boxed).
///
/// The cost is one allocation for the publisher and one for the subscriber at
/// subscribe time, and a virtual call per signal into the boxed subscriber. Batches
/// (fusion) do not cross the box: the stages above it hand items over one by one (see
/// `BENCHMARKS.md` for the measured cost).
///
/// # Examples
/// ```
/// use spillway_core::prelude::*;
/// use spillway_core::BoxPublisher;
/// use std::convert::Infallible;
///
/// /// A pipeline kept in a struct, chosen at run time.
/// struct Job {
///     input: BoxPublisher<u64, Infallible>,
/// }
///
/// fn job(strict: bool) -> Job {
///     let input = if strict { range(0, 3).boxed() } else { from_iter(vec![7, 8]).boxed() };
///     Job { input }
/// }
/// # futures::executor::block_on(async {
/// assert_eq!(job(true).input.collect().await.unwrap(), vec![0, 1, 2]);
/// assert_eq!(job(false).input.collect().await.unwrap(), vec![7, 8]);
/// # });
/// ```
#[must_use = "publishers do nothing until subscribed"]
pub struct BoxPublisher<T, E> {
    inner: Box<dyn ErasedPublisher<T, E> + Send>,
}

/// The object-safe face of a publisher: `subscribe` with a boxed subscriber.
trait ErasedPublisher<T, E> {
    fn subscribe_boxed(self: Box<Self>, subscriber: Box<dyn Subscriber<Item = T, Error = E>>);
}

impl<P: Publisher> ErasedPublisher<P::Item, P::Error> for P {
    fn subscribe_boxed(
        self: Box<Self>,
        subscriber: Box<dyn Subscriber<Item = P::Item, Error = P::Error>>,
    ) {
        (*self).subscribe(subscriber);
    }
}

impl<T: Send + 'static, E: Send + 'static> BoxPublisher<T, E> {
    /// Boxes `publisher`; [`PublisherExt::boxed`](crate::PublisherExt::boxed) says the
    /// same as a method.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_core::BoxPublisher;
    /// let p: BoxPublisher<u64, std::convert::Infallible> = BoxPublisher::new(range(0, 2));
    /// # futures::executor::block_on(async {
    /// assert_eq!(p.count().await.unwrap(), 2);
    /// # });
    /// ```
    pub fn new<P>(publisher: P) -> Self
    where
        P: Publisher<Item = T, Error = E> + Send + 'static,
    {
        BoxPublisher {
            inner: Box::new(publisher),
        }
    }
}

impl<T: Send + 'static, E: Send + 'static> Publisher for BoxPublisher<T, E> {
    type Item = T;
    type Error = E;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = T, Error = E>,
    {
        self.inner.subscribe_boxed(Box::new(subscriber));
    }
}

impl<T, E> fmt::Debug for BoxPublisher<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoxPublisher").finish_non_exhaustive()
    }
}

/// [`BoxPublisher`] for a publisher that is not `Send` (it holds an `Rc`, say, until it is
/// subscribed): it stays on the thread that made it. Made by
/// [`PublisherExt::boxed_local`](crate::PublisherExt::boxed_local). Its subscribers are
/// `Send` as always, so what runs after `subscribe` may still move between threads.
///
/// # Examples
/// ```
/// use std::convert::Infallible;
/// use std::rc::Rc;
/// use spillway_core::prelude::*;
/// use spillway_core::{LocalBoxPublisher, Subscriber};
///
/// /// Items from a configuration shared with `Rc` on this thread.
/// struct FromConfig(Rc<Vec<u64>>);
///
/// impl Publisher for FromConfig {
///     type Item = u64;
///     type Error = Infallible;
///     fn subscribe<S: Subscriber<Item = u64, Error = Infallible>>(self, s: S) {
///         from_iter(self.0.to_vec()).subscribe(s);
///     }
/// }
///
/// let config = Rc::new(vec![3, 4]);
/// let p: LocalBoxPublisher<u64, Infallible> = FromConfig(Rc::clone(&config)).boxed_local();
/// # futures::executor::block_on(async {
/// assert_eq!(p.collect().await.unwrap(), vec![3, 4]);
/// # });
/// ```
#[must_use = "publishers do nothing until subscribed"]
pub struct LocalBoxPublisher<T, E> {
    inner: Box<dyn ErasedPublisher<T, E>>,
}

impl<T: Send + 'static, E: Send + 'static> LocalBoxPublisher<T, E> {
    /// Boxes `publisher`, which need not be `Send`.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_core::LocalBoxPublisher;
    /// let p: LocalBoxPublisher<u64, std::convert::Infallible> = LocalBoxPublisher::new(range(0, 2));
    /// # futures::executor::block_on(async {
    /// assert_eq!(p.count().await.unwrap(), 2);
    /// # });
    /// ```
    pub fn new<P>(publisher: P) -> Self
    where
        P: Publisher<Item = T, Error = E> + 'static,
    {
        LocalBoxPublisher {
            inner: Box::new(publisher),
        }
    }
}

impl<T: Send + 'static, E: Send + 'static> Publisher for LocalBoxPublisher<T, E> {
    type Item = T;
    type Error = E;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = T, Error = E>,
    {
        self.inner.subscribe_boxed(Box::new(subscriber));
    }
}

impl<T, E> fmt::Debug for LocalBoxPublisher<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalBoxPublisher").finish_non_exhaustive()
    }
}

/// One of two publishers of the same items and errors, without a box: the branches of
/// an `if` or a `match` as one type.
///
/// # Examples
/// ```
/// use spillway_core::prelude::*;
/// use spillway_core::Either;
/// # futures::executor::block_on(async {
/// for strict in [true, false] {
///     let p = if strict { Either::Left(range(0, 3)) } else { Either::Right(from_iter(vec![9])) };
///     let expected = if strict { vec![0, 1, 2] } else { vec![9] };
///     assert_eq!(p.collect().await.unwrap(), expected);
/// }
/// # });
/// ```
#[derive(Debug, Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub enum Either<L, R> {
    /// The first kind.
    Left(L),
    /// The second kind.
    Right(R),
}

impl<L, R> Publisher for Either<L, R>
where
    L: Publisher,
    R: Publisher<Item = L::Item, Error = L::Error>,
{
    type Item = L::Item;
    type Error = L::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = Self::Item, Error = Self::Error>,
    {
        match self {
            Either::Left(p) => p.subscribe(subscriber),
            Either::Right(p) => p.subscribe(subscriber),
        }
    }
}
