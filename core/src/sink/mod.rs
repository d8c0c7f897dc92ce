//! Sinks: the ends of a pipeline. Each is a method of [`PublisherExt`].

mod callback;
mod fold;
mod for_each_async;
mod into_stream;

use std::future::Future;

pub use self::callback::{Disposable, FnSubscriber};
pub use self::fold::{Fold, FoldStep, ForEachStep};
pub use self::for_each_async::ForEachAsync;
pub use self::into_stream::IntoStream;

use crate::Publisher;

/// Future for [`collect`](PublisherExt::collect).
pub type Collect<P> = Fold<
    P,
    Vec<<P as Publisher>::Item>,
    fn(Vec<<P as Publisher>::Item>, <P as Publisher>::Item) -> Vec<<P as Publisher>::Item>,
>;
/// Future for [`count`](PublisherExt::count).
pub type Count<P> = Fold<P, u64, fn(u64, <P as Publisher>::Item) -> u64>;
/// Future for [`last`](PublisherExt::last).
pub type Last<P> = Fold<
    P,
    Option<<P as Publisher>::Item>,
    fn(Option<<P as Publisher>::Item>, <P as Publisher>::Item) -> Option<<P as Publisher>::Item>,
>;
/// Future for [`for_each`](PublisherExt::for_each).
pub type ForEach<P, F> = Fold<P, (), ForEachStep<F>>;

/// The sinks, available on every publisher.
pub trait PublisherExt: Publisher + Sized {
    /// Erases the publisher's type: a [`BoxPublisher`](crate::BoxPublisher) of the same
    /// items and errors, so that pipelines built differently have one type (the branches
    /// of an `if`, a struct field, a `Vec` of pipelines). Batches do not cross the box.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_core::BoxPublisher;
    /// let sources: Vec<BoxPublisher<u64, std::convert::Infallible>> =
    ///     vec![range(0, 2).boxed(), just(5).boxed(), empty().boxed()];
    /// # futures::executor::block_on(async {
    /// let mut all = Vec::new();
    /// for s in sources {
    ///     all.extend(s.collect().await.unwrap());
    /// }
    /// assert_eq!(all, vec![0, 1, 5]);
    /// # });
    /// ```
    fn boxed(self) -> crate::BoxPublisher<Self::Item, Self::Error>
    where
        Self: Send + 'static,
    {
        crate::BoxPublisher::new(self)
    }

    /// [`boxed`](Self::boxed) for a publisher that is not `Send`: a
    /// [`LocalBoxPublisher`](crate::LocalBoxPublisher), which stays on this thread (its
    /// type docs show a publisher holding an `Rc`).
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_core::LocalBoxPublisher;
    /// let p: LocalBoxPublisher<u64, std::convert::Infallible> = range(0, 2).boxed_local();
    /// # futures::executor::block_on(async {
    /// assert_eq!(p.collect().await.unwrap(), vec![0, 1]);
    /// # });
    /// ```
    fn boxed_local(self) -> crate::LocalBoxPublisher<Self::Item, Self::Error>
    where
        Self: 'static,
    {
        crate::LocalBoxPublisher::new(self)
    }

    /// A `futures::Stream` of the items (then of the error, as `Err`, if the pipeline
    /// fails). It requests `batch` items at first and `batch - batch/4` more each time
    /// three quarters of a batch were consumed, so at most `batch` items wait in it.
    /// It subscribes on first poll and cancels when dropped. `batch == 0` yields a single
    /// `Err(Error::InvalidRequest)`.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use spillway_core::prelude::*;
    /// # futures::executor::block_on(async {
    /// let mut s = range(0, 1000).into_stream(64);
    /// let mut n = 0;
    /// while let Some(item) = s.next().await { n += item.unwrap(); }
    /// assert_eq!(n, 499_500);
    /// # });
    /// ```
    fn into_stream(self, batch: usize) -> IntoStream<Self> {
        IntoStream::new(self, batch)
    }

    /// Calls `f` for each item, requesting unbounded demand (`f` runs on the emitting
    /// thread, so the producer never outruns it). Resolves when the pipeline ends. A panic
    /// in `f` cancels upstream and resolves to [`Error::Panicked`](crate::Error::Panicked).
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// # futures::executor::block_on(async {
    /// let mut seen = Vec::new();
    /// from_iter(["a", "b"]).for_each(move |s| seen.push(s)).await.unwrap();
    /// # });
    /// ```
    fn for_each<F>(self, f: F) -> ForEach<Self, F>
    where
        F: FnMut(Self::Item) + Send + 'static,
    {
        Fold::new(self, (), ForEachStep(f), "for_each")
    }

    /// Folds the items into one value, like `Iterator::fold`.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// # futures::executor::block_on(async {
    /// assert_eq!(range(1, 5).fold(1, |acc, x| acc * x).await.unwrap(), 24);
    /// # });
    /// ```
    fn fold<A, F>(self, init: A, f: F) -> Fold<Self, A, F>
    where
        A: Send + 'static,
        F: FnMut(A, Self::Item) -> A + Send + 'static,
    {
        Fold::new(self, init, f, "fold")
    }

    /// Collects every item into a `Vec`.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// # futures::executor::block_on(async {
    /// assert_eq!(just(1).collect().await.unwrap(), vec![1]);
    /// # });
    /// ```
    fn collect(self) -> Collect<Self> {
        fn push<T>(mut v: Vec<T>, item: T) -> Vec<T> {
            v.push(item);
            v
        }
        Fold::new(self, Vec::new(), push, "collect")
    }

    /// Counts the items.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// # futures::executor::block_on(async {
    /// assert_eq!(range(0, 10).count().await.unwrap(), 10);
    /// # });
    /// ```
    fn count(self) -> Count<Self> {
        fn inc<T>(n: u64, _item: T) -> u64 {
            n + 1
        }
        Fold::new(self, 0, inc, "count")
    }

    /// The last item, or `None` for an empty pipeline.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// # futures::executor::block_on(async {
    /// assert_eq!(range(0, 10).last().await.unwrap(), Some(9));
    /// # });
    /// ```
    fn last(self) -> Last<Self> {
        fn keep<T>(_old: Option<T>, item: T) -> Option<T> {
            Some(item)
        }
        Fold::new(self, None, keep, "last")
    }

    /// Runs `f` for each item with at most `concurrency` futures in flight, and requests
    /// a new item only when one of them completes: the slow consumer of the seed example,
    /// pacing its producer by demand. Futures run inside the returned future (no spawning).
    /// `concurrency == 0` resolves to `Error::InvalidRequest`.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// # futures::executor::block_on(async {
    /// let total = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    /// let t = total.clone();
    /// range(0, 100).for_each_async(4, move |x| {
    ///     let t = t.clone();
    ///     async move { t.fetch_add(x, std::sync::atomic::Ordering::Relaxed); }
    /// }).await.unwrap();
    /// assert_eq!(total.load(std::sync::atomic::Ordering::Relaxed), 4950);
    /// # });
    /// ```
    fn for_each_async<F, Fut>(self, concurrency: usize, f: F) -> ForEachAsync<Self, F, Fut>
    where
        F: FnMut(Self::Item) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        ForEachAsync::new(self, concurrency, f)
    }

    /// Subscribes with a callback per item and unbounded demand; returns a handle that
    /// cancels the subscription when [`Disposable::cancel`] is called or when it is dropped.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let handle = range(0, 3).subscribe_fn(move |x| tx.send(x).unwrap());
    /// assert_eq!(rx.iter().collect::<Vec<_>>(), vec![0, 1, 2]);
    /// assert!(handle.is_terminated());
    /// ```
    fn subscribe_fn<N>(self, on_next: N) -> Disposable
    where
        N: FnMut(Self::Item) + Send + 'static,
    {
        self.subscribe_with(on_next, |_| {}, || {})
    }

    /// Like [`subscribe_fn`](Self::subscribe_fn) with callbacks for the error and the
    /// completion too. A panic in `on_next` cancels upstream and calls `on_error` with
    /// [`Error::Panicked`](crate::Error::Panicked).
    ///
    /// ```
    /// use spillway_core::{prelude::*, Error};
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let _h = error::<u8, _>("bad").subscribe_with(|_| {}, move |e| tx.send(e).unwrap(), || {});
    /// assert!(matches!(rx.recv().unwrap(), Error::User("bad")));
    /// ```
    fn subscribe_with<N, R, C>(self, on_next: N, on_error: R, on_complete: C) -> Disposable
    where
        N: FnMut(Self::Item) + Send + 'static,
        R: FnOnce(crate::Error<Self::Error>) + Send + 'static,
        C: FnOnce() + Send + 'static,
    {
        let (subscriber, handle) = FnSubscriber::new(on_next, on_error, on_complete);
        self.subscribe(subscriber);
        handle
    }
}

impl<P: Publisher> PublisherExt for P {}
