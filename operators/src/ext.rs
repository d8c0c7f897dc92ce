//! `OperatorExt`: every operator, as a method on every publisher.

use spillway_core::{ConfigError, Publisher};

use crate::{BufferOverflow, Filter, Map, OnBackpressureBuffer};

/// The operators, available on every [`Publisher`] (`use spillway::prelude::*`).
///
/// Each method's documentation says what the operator requests upstream and what it
/// does when downstream has no demand.
pub trait OperatorExt: Publisher + Sized {
    /// Transforms each item with `f`.
    ///
    /// Demand: 1:1, downstream's requests go straight upstream. A panic in `f` cancels
    /// upstream and fails with [`Error::Panicked`](spillway_core::Error::Panicked).
    ///
    /// ```text
    /// upstream:   -1-2-3-|
    /// map(x*10):  -a-b-c-|    a=10 b=20 c=30
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// assert_eq!(range(1, 4).map(|x| x * 10).collect().await.unwrap(), vec![10, 20, 30]);
    /// # });
    /// ```
    fn map<R, F>(self, f: F) -> Map<Self, F>
    where
        F: FnMut(Self::Item) -> R + Send + 'static,
        R: Send + 'static,
    {
        Map::new(self, f)
    }

    /// Keeps the items for which `predicate` returns true.
    ///
    /// Demand: forwards downstream's requests, and requests one more for each rejected
    /// item (unless downstream's demand is unbounded), so a filter never stalls a
    /// bounded consumer.
    ///
    /// ```text
    /// upstream:        -1-2-3-4-|
    /// filter(even):    ---2---4-|
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let evens = range(0, 10).filter(|x| x % 2 == 0).collect().await.unwrap();
    /// assert_eq!(evens, vec![0, 2, 4, 6, 8]);
    /// # });
    /// ```
    fn filter<F>(self, predicate: F) -> Filter<Self, F>
    where
        F: FnMut(&Self::Item) -> bool + Send + 'static,
    {
        Filter::new(self, predicate)
    }

    /// Holds up to `capacity` items between a producer and a slower consumer; when the
    /// buffer is full, `overflow` decides (see [`BufferOverflow`]).
    ///
    /// Demand: with [`BufferOverflow::Backpressure`], requests at most the high watermark
    /// (default: `capacity`) upstream and replenishes in one batch when the buffer drains
    /// to the low watermark (default: `capacity / 4`), so upstream is *paused* rather than
    /// overflowed. With the lossy policies, requests unbounded demand upstream and applies
    /// the policy when the buffer is full. Items are delivered as downstream requests them;
    /// an upstream error is delivered after the buffered items.
    ///
    /// **Discard**: every dropped item is counted in [`stats`](OnBackpressureBuffer::stats)
    /// under its [`DropReason`](crate::DropReason) and passed to
    /// [`on_drop`](OnBackpressureBuffer::on_drop). Items still buffered when downstream
    /// cancels are dropped as `Discarded`.
    ///
    /// ```text
    /// upstream:                      -1-2-3-4-5-|
    /// buffer(2, DropNewest), demand 0 until t=6, then unbounded:
    /// downstream:                    -----------(12)|     3,4,5 dropped: buffer full
    /// ```
    ///
    /// # Errors
    /// [`ConfigError`] if `capacity` is zero.
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// use spillway::operators::{BufferOverflow, DropReason};
    /// # futures::executor::block_on(async {
    /// let buffered = range(0, 100).on_backpressure_buffer(10, BufferOverflow::Backpressure)?;
    /// let stats = buffered.stats();
    /// assert_eq!(buffered.count().await.unwrap(), 100);
    /// let s = stats.snapshot();
    /// assert_eq!((s.received, s.emitted, s.dropped()), (100, 100, 0));
    /// assert!(s.peak_buffered <= 10);
    /// # Ok::<(), spillway::ConfigError>(())
    /// # }).unwrap();
    /// ```
    fn on_backpressure_buffer(
        self,
        capacity: usize,
        overflow: BufferOverflow,
    ) -> Result<OnBackpressureBuffer<Self>, ConfigError> {
        OnBackpressureBuffer::new(self, capacity, overflow)
    }

    /// An unbounded buffer: requests unbounded demand upstream and holds whatever
    /// downstream has not requested yet, without limit. Only for producers known to be
    /// finite and small; prefer [`on_backpressure_buffer`](Self::on_backpressure_buffer).
    ///
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let all = range(0, 5).on_backpressure_buffer_unbounded().collect().await.unwrap();
    /// assert_eq!(all, vec![0, 1, 2, 3, 4]);
    /// # });
    /// ```
    fn on_backpressure_buffer_unbounded(self) -> OnBackpressureBuffer<Self> {
        OnBackpressureBuffer::unbounded(self)
    }
}

impl<P: Publisher> OperatorExt for P {}
