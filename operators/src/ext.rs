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
    /// Demand: forwards downstream's requests. A rejected item uses no demand: sources on
    /// the drain loop learn it through `try_on_next` and send another item in its place;
    /// any other upstream is asked for one more (`request(1)`, unless downstream's demand
    /// is unbounded). Either way a filter never stalls a bounded consumer.
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
    /// downstream:                    ------(12)4-5-|     3 dropped: buffer full (1, 2 held)
    /// ```
    ///
    /// A panic in `on_drop` never unwinds into the caller (the producer, `subscribe`,
    /// `request`, `cancel`): the stage cancels upstream and fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked) at once, unless it was ending
    /// already (a cancel, an earlier failure, upstream's error: that end stands, see
    /// [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
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
    /// A panic in `on_drop` never unwinds into the caller (the producer, `subscribe`,
    /// `request`, `cancel`): the stage cancels upstream and fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked) at once, unless it was ending
    /// already (a cancel, an earlier failure, upstream's error: that end stands, see
    /// [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
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

    /// Drops the items downstream has not requested (Reactor's `onBackpressureDrop`).
    ///
    /// Demand: requests unbounded demand upstream once and tracks downstream's demand
    /// itself; an item is forwarded only while downstream has outstanding demand, and at
    /// zero demand it is dropped at once.
    ///
    /// **Discard**: each item that arrives without demand is counted in
    /// [`stats`](crate::OnBackpressureDrop::stats) as
    /// [`DropReason::NoDemand`](crate::DropReason::NoDemand) and passed to
    /// [`on_drop`](crate::OnBackpressureDrop::on_drop). Nothing is held, so completion
    /// and errors are forwarded at once; items arriving after a terminal signal or
    /// cancel (a non-compliant upstream) are dropped as `Discarded`.
    ///
    /// ```text
    /// upstream:                    -1-2-3-4-5-|
    /// request(1) at t=0, (1) at t=6:
    /// on_backpressure_drop():      -1-----4---|     2,3,5 dropped: no demand
    /// ```
    ///
    /// A panic in `on_drop` never unwinds into the caller (the producer, `subscribe`,
    /// `request`, `cancel`): the stage cancels upstream and fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked) at once, unless it was ending
    /// already (a cancel, an earlier failure, upstream's error: that end stands, see
    /// [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// use spillway::operators::DropReason;
    /// use spillway_testkit::{TestPublisher, TestSubscriber};
    ///
    /// let tp = TestPublisher::<u32, ()>::new();
    /// let op = tp.publisher().on_backpressure_drop();
    /// let stats = op.stats();
    /// let (sub, handle) = TestSubscriber::new(1);
    /// op.subscribe(sub);
    /// tp.next(1).next(2).next(3); // 2 and 3: no demand
    /// handle.request(1);
    /// tp.next(4).complete();
    /// handle.assert_items(&[1, 4]);
    /// handle.assert_complete();
    /// let s = stats.snapshot();
    /// assert_eq!(s.dropped_for(DropReason::NoDemand), 2);
    /// assert!(s.is_balanced());
    /// ```
    fn on_backpressure_drop(self) -> crate::OnBackpressureDrop<Self> {
        crate::OnBackpressureDrop::new(self)
    }

    /// Keeps only the latest item downstream has not requested yet, and delivers it when
    /// downstream asks (Reactor's `onBackpressureLatest`).
    ///
    /// Demand: requests unbounded demand upstream once; items covered by downstream's
    /// demand are forwarded, and at zero demand the newest item is held in a single slot
    /// until the next request.
    ///
    /// **Discard**: a held item replaced by a newer one before delivery is dropped as
    /// [`DropReason::Superseded`](crate::DropReason::Superseded) (counted in
    /// [`stats`](crate::OnBackpressureLatest::stats), passed to
    /// [`on_drop`](crate::OnBackpressureLatest::on_drop)). **On completion the held item
    /// is flushed**: it is delivered when downstream next requests, then `on_complete`
    /// follows. On an upstream error the held item is dropped as `Discarded` and the
    /// error is delivered at once; on cancel it is dropped as `Discarded`.
    ///
    /// ```text
    /// upstream:                   -1-2-3-4-|
    /// request(1) at t=0, (1) after completion:
    /// on_backpressure_latest():   -1--------(4|)     2,3 superseded; 4 flushed
    /// ```
    ///
    /// A panic in `on_drop` never unwinds into the caller (the producer, `subscribe`,
    /// `request`, `cancel`): the stage cancels upstream and fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked) at once, unless it was ending
    /// already (a cancel, an earlier failure, upstream's error: that end stands, see
    /// [`DropReason`](crate::DropReason#a-panic-in-on_drop)): on upstream's error the held
    /// item is discarded and the error delivered even if `on_drop` panics.
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// use spillway_testkit::{TestPublisher, TestSubscriber};
    ///
    /// let tp = TestPublisher::<u32, ()>::new();
    /// let (sub, handle) = TestSubscriber::new(1);
    /// tp.publisher().on_backpressure_latest().subscribe(sub);
    /// tp.emit([1, 2, 3, 4]); // then completes
    /// handle.assert_items(&[1]);
    /// handle.request(1);
    /// handle.assert_items(&[1, 4]);
    /// handle.assert_complete();
    /// ```
    fn on_backpressure_latest(self) -> crate::OnBackpressureLatest<Self> {
        crate::OnBackpressureLatest::new(self)
    }

    /// Merges the items downstream has not requested yet into one with `reduce(pending,
    /// new)`, and delivers the merged item when downstream asks (RxJava's
    /// `onBackpressureReduce`, Akka's `conflate`). Never drops.
    ///
    /// Demand: requests unbounded demand upstream once; items covered by downstream's
    /// demand are forwarded as they are, and at zero demand they are merged into a single
    /// pending item, delivered on the next request.
    ///
    /// **Stats**: a merged item is counted in
    /// [`FlowSnapshot::merged`](crate::FlowSnapshot::merged), not as dropped:
    /// `received = emitted + merged + buffered (+ dropped)`, and `dropped` stays zero
    /// while the pipeline runs (the pending item is dropped as `Discarded` only on cancel
    /// or upstream error). On completion the pending item is flushed when demanded, then
    /// `on_complete` follows. A panic in `reduce` cancels upstream and fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked).
    ///
    /// ```text
    /// upstream:                          -1-2-3-4-|
    /// request(1) at t=0, (1) after completion:
    /// on_backpressure_reduce(a+b):       -1--------(a|)     a = 2+3+4 = 9
    /// ```
    ///
    /// A panic in `on_drop` never unwinds into the caller (the producer, `subscribe`,
    /// `request`, `cancel`): the stage cancels upstream and fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked) at once, unless it was ending
    /// already (a cancel, an earlier failure, upstream's error: that end stands, see
    /// [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// use spillway_testkit::{TestPublisher, TestSubscriber};
    ///
    /// let tp = TestPublisher::<u32, ()>::new();
    /// let op = tp.publisher().on_backpressure_reduce(|a, b| a + b);
    /// let stats = op.stats();
    /// let (sub, handle) = TestSubscriber::new(1);
    /// op.subscribe(sub);
    /// tp.emit([1, 2, 3, 4]); // then completes
    /// handle.request(5);
    /// handle.assert_items(&[1, 9]);
    /// let s = stats.snapshot();
    /// assert_eq!((s.received, s.emitted, s.merged, s.dropped()), (4, 2, 2, 0));
    /// ```
    #[allow(clippy::type_complexity)] // the identity seed is a plain fn pointer
    fn on_backpressure_reduce<F>(
        self,
        reduce: F,
    ) -> crate::OnBackpressureReduce<Self, fn(Self::Item) -> Self::Item, F, Self::Item>
    where
        F: FnMut(Self::Item, Self::Item) -> Self::Item + Send + 'static,
    {
        crate::OnBackpressureReduce::new(self, std::convert::identity, reduce)
    }

    /// Like [`on_backpressure_reduce`](Self::on_backpressure_reduce), with an accumulator
    /// of another type (Akka's `conflateWithSeed`): each item downstream's demand covers
    /// is delivered as `seed(item)`; at zero demand the first item starts a pending
    /// accumulator with `seed` and later ones are merged into it with `reduce(acc, item)`.
    ///
    /// Demand, stats, completion and errors as for `on_backpressure_reduce`; a panic in
    /// `seed` or `reduce` fails with [`Error::Panicked`](spillway_core::Error::Panicked).
    ///
    /// ```text
    /// upstream:                                   -1-2-3-|
    /// request(1) at t=0, (1) after completion:
    /// on_backpressure_reduce_with(vec, push):     -a------(b|)     a=[1] b=[2,3]
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// use spillway_testkit::{TestPublisher, TestSubscriber};
    ///
    /// let tp = TestPublisher::<u32, ()>::new();
    /// let batches = tp.publisher().on_backpressure_reduce_with(
    ///     |x| vec![x],
    ///     |mut acc: Vec<u32>, x| {
    ///         acc.push(x);
    ///         acc
    ///     },
    /// );
    /// let (sub, handle) = TestSubscriber::new(1);
    /// batches.subscribe(sub);
    /// tp.emit([1, 2, 3]); // then completes
    /// handle.request(1);
    /// handle.assert_items(&[vec![1], vec![2, 3]]);
    /// ```
    fn on_backpressure_reduce_with<A, S, F>(
        self,
        seed: S,
        reduce: F,
    ) -> crate::OnBackpressureReduce<Self, S, F, A>
    where
        S: FnMut(Self::Item) -> A + Send + 'static,
        F: FnMut(A, Self::Item) -> A + Send + 'static,
        A: Send + 'static,
    {
        crate::OnBackpressureReduce::new(self, seed, reduce)
    }

    /// Caps each upstream request at `high` items, replenishing in batches (Reactor's
    /// `limitRate`); same as [`limit_rate_with(high, high / 4)`](Self::limit_rate_with).
    ///
    /// # Errors
    /// [`ConfigError`] if `high` is zero.
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// use spillway_testkit::{TestPublisher, TestSubscriber};
    ///
    /// let tp = TestPublisher::<u64, ()>::new();
    /// let (sub, _handle) = TestSubscriber::new(u64::MAX);
    /// tp.publisher().limit_rate(8)?.subscribe(sub);
    /// for i in 0..6 {
    ///     tp.next(i); // 6 of 8 delivered: at the low watermark (2), replenish 6
    /// }
    /// let asked: Vec<u64> = tp.requests().iter().map(|r| r.1).collect();
    /// assert_eq!(asked, vec![8, 6]);
    /// # Ok::<(), spillway::ConfigError>(())
    /// ```
    fn limit_rate(self, high: usize) -> Result<crate::LimitRate<Self>, ConfigError> {
        crate::LimitRate::new(self, high, None)
    }

    /// Caps each upstream request at `high` items and replenishes `high - low` once that
    /// many have been delivered (Reactor's `limitRate(highTide, lowTide)`, except that
    /// `low` here is a watermark: the number of requested-but-undelivered items at which
    /// to replenish, not the replenishing request size).
    ///
    /// Demand: requests `high` upstream at subscription, whatever downstream asked
    /// (prefetch: items downstream has not requested yet wait in a buffer of `high`);
    /// then, each time the buffered plus in-flight items fall to `low`, requests back up
    /// to `high`. At zero downstream demand, upstream is paused once `high` items wait.
    /// With [`.strict()`](crate::LimitRate::strict) it never runs ahead of downstream:
    /// the **total requested upstream never exceeds the total requested downstream**
    /// (each request is also capped by downstream's not-yet-forwarded demand), so
    /// nothing is prefetched. Lossless; completion and errors follow the delivered items.
    ///
    /// A non-compliant upstream that sends more than requested fills the buffer up to
    /// `high` items, then fails with [`Error::Overflow`](spillway_core::Error::Overflow).
    ///
    /// ```text
    /// downstream requests unbounded; limit_rate_with(4, 1):
    /// upstream:           -1-2-3-4-5-6-7-|
    /// upstream requests:  (4) at 0, (3) at 5 and at 11 (one item left in flight)
    /// downstream:         -1-2-3-4-5-6-7-|
    /// ```
    ///
    /// A panic in `on_drop` never unwinds into the caller (the producer, `subscribe`,
    /// `request`, `cancel`): the stage cancels upstream and fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked) at once, unless it was ending
    /// already (a cancel, an earlier failure, upstream's error: that end stands, see
    /// [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
    ///
    /// # Errors
    /// [`ConfigError`] if `high` is zero or `low >= high`.
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// use spillway_testkit::{TestPublisher, TestSubscriber};
    ///
    /// let tp = TestPublisher::<u64, ()>::new();
    /// let (sub, handle) = TestSubscriber::new(3);
    /// tp.publisher().limit_rate_with(10, 5)?.strict().subscribe(sub);
    /// tp.next(0).next(1).next(2);
    /// handle.request(100);
    /// let asked: Vec<u64> = tp.requests().iter().map(|r| r.1).collect();
    /// assert_eq!(asked, vec![3, 10]); // never more than downstream asked, at most 10
    /// assert!(range(0, 1).limit_rate_with(4, 4).is_err()); // low >= high
    /// # Ok::<(), spillway::ConfigError>(())
    /// ```
    fn limit_rate_with(
        self,
        high: usize,
        low: usize,
    ) -> Result<crate::LimitRate<Self>, ConfigError> {
        crate::LimitRate::new(self, high, Some(low))
    }

    /// A lossless bounded buffer of `capacity` items that pauses upstream when full
    /// ("pausing by pressure") and calls `on_change` each time its pressure level,
    /// computed from buffer utilisation with `levels`, changes
    /// ([`PressureLevels::seed`](crate::PressureLevels::seed): low < 50% <= medium < 70%
    /// <= high < 90% <= critical).
    ///
    /// Levels have hysteresis ([`PressureLevels::next_level`](crate::PressureLevels::next_level)):
    /// a level is entered as soon as utilisation reaches its threshold, but left only when
    /// utilisation falls below its threshold minus the margin
    /// ([`PressureLevels::hysteresis`](crate::PressureLevels::hysteresis), 10 points by
    /// default: the seed's high level is entered at 70% and left below 60%), so a buffer
    /// hovering at a threshold, one item in and one out, does not call `on_change` on
    /// every item. A big move still changes several levels at once (a drained buffer goes
    /// from critical straight to low, in one change).
    ///
    /// Order: changes are reported in the order they happened, one at a time (never two
    /// calls at once, even when upstream and downstream run on different threads), and
    /// each change starts where the previous one ended (its `from` is the previous `to`;
    /// the first one's is `Low`).
    ///
    /// Demand: like [`on_backpressure_buffer`](Self::on_backpressure_buffer) with
    /// [`BufferOverflow::Backpressure`]: requests up to the high watermark (default
    /// `capacity`) upstream, stops (pauses upstream) when that many items are buffered or
    /// in flight, and requests back up to it when the buffer drains to the low watermark
    /// (default `capacity / 4`). Items are delivered as downstream requests them;
    /// completion and errors follow the buffered items. The level and utilisation are
    /// readable at any time through [`gauge`](crate::PressureBuffer::gauge) and
    /// [`stats`](crate::PressureBuffer::stats).
    ///
    /// `on_change` runs on the thread that changed the buffer, outside any lock; a panic
    /// in it cancels upstream and fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked). Nothing is dropped, except
    /// the buffered items on cancel (as `Discarded`); a non-compliant upstream that
    /// overfills the buffer fails with [`Error::Overflow`](spillway_core::Error::Overflow).
    ///
    /// ```text
    /// pressure(10, seed): downstream requests nothing until 10 are buffered (a), then
    /// takes them one by one; up at 50%, 70%, 90%, down below 80%, 60%, 40%:
    /// buffered:  0 1 2 3 4 5 6 7 8 9 a 9 8 7 6 5 4 3 2
    /// level:     L         M   H   C       H   M   L
    /// ```
    ///
    /// A panic in `on_drop` never unwinds into the caller (the producer, `subscribe`,
    /// `request`, `cancel`): the stage cancels upstream and fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked) at once, unless it was ending
    /// already (a cancel, an earlier failure, upstream's error: that end stands, see
    /// [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
    ///
    /// # Errors
    /// [`ConfigError`] if `capacity` is zero.
    ///
    /// # Examples
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use spillway::prelude::*;
    /// use spillway::operators::{Pressure, PressureLevels};
    /// use spillway_testkit::{TestPublisher, TestSubscriber};
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let tp = TestPublisher::<u32, ()>::new();
    /// let op = tp.publisher().pressure(10, PressureLevels::seed(), move |c| {
    ///     log.lock().unwrap().push(c.to);
    /// })?;
    /// let gauge = op.gauge();
    /// let (sub, handle) = TestSubscriber::new(0);
    /// op.subscribe(sub);
    /// for i in 0..8 {
    ///     tp.next(i); // 80% full
    /// }
    /// assert_eq!(gauge.level(), Pressure::High);
    /// handle.request(2); // 60%: high is left only below 60%
    /// assert_eq!(gauge.level(), Pressure::High);
    /// handle.request(u64::MAX);
    /// assert_eq!(gauge.level(), Pressure::Low);
    /// assert_eq!(
    ///     *seen.lock().unwrap(),
    ///     [Pressure::Medium, Pressure::High, Pressure::Medium, Pressure::Low]
    /// );
    /// # Ok::<(), spillway::ConfigError>(())
    /// ```
    fn pressure<F>(
        self,
        capacity: usize,
        levels: crate::PressureLevels,
        on_change: F,
    ) -> Result<crate::PressureBuffer<Self>, ConfigError>
    where
        F: Fn(crate::PressureChange) + Send + Sync + 'static,
    {
        crate::PressureBuffer::new(self, capacity, levels, on_change)
    }
    /// Collects items into `Vec` batches of `size`; the last, partial batch is flushed when
    /// upstream completes.
    ///
    /// Demand: each batch downstream requests becomes a request for `size` items upstream,
    /// as Reactor's `buffer(n)`; a huge request (unbounded included) is never passed on as
    /// such: upstream is asked for two batches' worth (at least 256 items) and topped up as
    /// batches go out. With zero downstream demand nothing is requested.
    ///
    /// ```text
    /// upstream:    -1-2-3-4-5-|
    /// chunks(2):   ---a---b---(c|)    a=[1,2] b=[3,4] c=[5]
    /// ```
    ///
    /// **Discard**: on upstream *completion* the partial batch is delivered. On upstream
    /// *error* the partial batch is dropped as [`DropReason::Discarded`](crate::DropReason)
    /// (counted in [`stats`](crate::Chunks::stats), passed to
    /// [`on_drop`](crate::Chunks::on_drop)) and the error follows at once: an incomplete
    /// batch is never presented as a whole one. On cancel the partial batch is discarded
    /// the same way. An upstream that sends more than requested fails the stage with
    /// [`Error::ProtocolViolation`](spillway_core::Error::ProtocolViolation) (upstream is
    /// cancelled, held items discarded). Stats count items: `received = emitted + dropped
    /// + buffered`.
    ///
    /// **A panic in [`on_drop`](crate::Chunks::on_drop)** never unwinds into upstream's
    /// `on_error`, `subscribe` or `cancel`. **Upstream's error wins over it**: when the
    /// partial batch of a failed upstream is discarded and the callback panics, downstream
    /// still receives upstream's error, in the same call (not `Panicked`, and never a hang).
    /// The stage was ending with that error, upstream has nothing left to cancel, and
    /// downstream's error handling (`retry_when`, `on_error_resume`, ...) decides on it; the
    /// panic is caught and the callback not called again. On cancel the panic is caught and
    /// ignored; if the stage fails (a protocol violation), that failure is delivered. See
    /// [`DropReason`](crate::DropReason#a-panic-in-on_drop).
    ///
    /// # Errors
    /// [`ConfigError`] if `size` is zero.
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let batches = range(1, 6).chunks(2)?.collect().await.unwrap();
    /// assert_eq!(batches, vec![vec![1, 2], vec![3, 4], vec![5]]);
    /// assert!(range(0, 1).chunks(0).is_err());
    /// # Ok::<(), spillway::ConfigError>(())
    /// # }).unwrap();
    /// ```
    #[doc(alias = "buffer")]
    fn chunks(self, size: usize) -> Result<crate::Chunks<Self>, ConfigError> {
        crate::Chunks::new(self, size)
    }

    /// Collects items into `Vec` windows of `size` items, a window starting every `step`
    /// items (RxJS's `bufferCount(size, step)`): overlapping when `step < size` (each
    /// item is cloned into every window it belongs to but one), skipping when
    /// `step > size` (the items between windows are let go), plain
    /// [`chunks`](Self::chunks) when `step == size`. A window is emitted when it is full;
    /// at completion the partial windows still open are emitted too, oldest first.
    ///
    /// Demand: downstream's requests count windows; upstream is asked for the items
    /// those windows need and no more: `size` items for the first window, then `step`
    /// for each next one (`request(2)` on `chunks_sliding(3, 1)` asks 4 items, one more
    /// request(1) asks 1 more). A huge request is not passed on as it is: the items of
    /// at most as many windows as fit in twice the larger of `size` and `step` (at
    /// least 256 items) are in flight, replenished by `step` as each window goes out.
    /// With zero downstream demand nothing is requested.
    ///
    /// ```text
    /// upstream:              -1-2-3-4-5-|
    /// chunks_sliding(3, 1):  -----a-b-c-(de|)    a=[1,2,3] b=[2,3,4] c=[3,4,5] d=[4,5] e=[5]
    /// chunks_sliding(2, 3):  ---a-----b-|        a=[1,2] b=[4,5] (3 let go)
    /// ```
    ///
    /// **Discard**: on upstream *error* the partial windows are dropped and the error
    /// follows the full windows already waiting; on cancel everything held is dropped.
    /// An upstream that sends more than requested fails the stage with
    /// [`Error::ProtocolViolation`](spillway_core::Error::ProtocolViolation). A panic in
    /// the item's `Clone` cancels upstream and fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked).
    ///
    /// # Errors
    /// [`ConfigError`] if `size` or `step` is zero.
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let windows = range(1, 6).chunks_sliding(3, 1)?.collect().await.unwrap();
    /// assert_eq!(
    ///     windows,
    ///     vec![vec![1, 2, 3], vec![2, 3, 4], vec![3, 4, 5], vec![4, 5], vec![5]]
    /// );
    /// let sampled = range(1, 8).chunks_sliding(2, 3)?.collect().await.unwrap();
    /// assert_eq!(sampled, vec![vec![1, 2], vec![4, 5], vec![7]]);
    /// assert!(range(0, 1).chunks_sliding(2, 0).is_err());
    /// # Ok::<(), spillway::ConfigError>(())
    /// # }).unwrap();
    /// ```
    #[doc(alias = "buffer_count")]
    #[doc(alias = "windows")]
    fn chunks_sliding(
        self,
        size: usize,
        step: usize,
    ) -> Result<crate::ChunksSliding<Self>, ConfigError>
    where
        Self::Item: Clone,
    {
        crate::ChunksSliding::new(self, size, step)
    }

    /// Collects runs of consecutive items with the same key into `Vec` batches
    /// (Reactor's `bufferUntilChanged(key)`): a batch closes when an item with another
    /// key arrives, and that item starts the next batch; the last batch is flushed when
    /// upstream completes. Keys are compared with the previous item's only, so a key
    /// coming back starts a new batch.
    ///
    /// Demand: as [`chunks_weighted`](Self::chunks_weighted): a batch's length is not
    /// known in advance, so items are requested in steps and replenished as batches go
    /// out, such that at most one closed batch beyond downstream's demand can ever form
    /// (each item in flight can close at most one batch); with zero demand it holds at
    /// most one closed batch plus the open one. A run of one key is held whole until it
    /// ends: memory grows with the longest run. `key` runs once per item, outside any
    /// lock.
    ///
    /// ```text
    /// upstream (keys):      -a-a-b-a-a-|
    /// chunks_by_key(key):   -----x-y---(z|)   x=[a,a] y=[b] z=[a,a]
    /// ```
    ///
    /// **Discard**: on upstream *error* the open batch is dropped and the error follows
    /// the closed batches; on cancel everything held is dropped. An upstream that sends
    /// more than requested fails the stage with
    /// [`Error::ProtocolViolation`](spillway_core::Error::ProtocolViolation). A panic in
    /// `key` (or in the key's `PartialEq`) cancels upstream, discards what is held and
    /// fails with [`Error::Panicked`](spillway_core::Error::Panicked).
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let runs = from_iter([1, 3, 2, 4, 6, 5]).chunks_by_key(|x| x % 2).collect().await;
    /// assert_eq!(runs.unwrap(), vec![vec![1, 3], vec![2, 4, 6], vec![5]]);
    /// # });
    /// ```
    #[doc(alias = "buffer_until_changed")]
    #[doc(alias = "chunk_by")]
    #[doc(alias = "group_adjacent")]
    fn chunks_by_key<K, F>(self, key: F) -> crate::ChunksByKey<Self, F>
    where
        F: FnMut(&Self::Item) -> K + Send + 'static,
        K: PartialEq + Send + 'static,
    {
        crate::ChunksByKey::new(self, key)
    }

    /// Collects items into `Vec` batches of up to `size`, closing a batch early when
    /// `timeout` has passed since its first item; never overflows a slow consumer.
    ///
    /// Demand: requests upstream only the items of the batches downstream asked for plus
    /// one batch of prefetch (`(demand + 1) * size` items held or in flight). A batch that
    /// closes (full, or by the timer) while downstream has no demand is *held*, not
    /// emitted, and upstream is not asked for more, so it pauses: unlike Reactor's
    /// `bufferTimeout`, which fails (or overflows) a slow consumer. Batches closed by the
    /// timer may leave several small batches waiting; all are kept, in order. The timer
    /// runs on the subscriber's [`Context`](spillway_core::Context) scheduler (virtual time
    /// in tests) unless [`on`](crate::ChunksTimeout::on) pins one.
    ///
    /// ```text
    /// upstream:                    -1-2-3-------4-----|
    /// chunks_timeout(2, 4 frames): ---a-----b-------c-|   a=[1,2] b=[3] (timer) c=[4] (timer)
    /// ```
    ///
    /// **Discard**: as [`chunks`](Self::chunks): on completion the open batch is flushed
    /// (after the batches already closed, as demand allows); on error the open batch is
    /// dropped as [`DropReason::Discarded`](crate::DropReason) while the closed batches are
    /// still delivered before the error; on cancel everything held is discarded. An
    /// upstream sending more than requested fails with
    /// [`Error::ProtocolViolation`](spillway_core::Error::ProtocolViolation).
    ///
    /// A panic in `on_drop` never unwinds; as for [`chunks`](Self::chunks), upstream's error
    /// wins over it (see [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
    ///
    /// # Errors
    /// [`ConfigError`] if `size` is zero or `timeout` is zero.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use spillway::prelude::*;
    /// use spillway_testkit::{TestPublisher, TestSubscriber, VirtualScheduler};
    ///
    /// let vs = VirtualScheduler::new();
    /// let tp = TestPublisher::<u32, ()>::new();
    /// let (sub, handle) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
    /// tp.publisher().chunks_timeout(3, Duration::from_secs(1))?.subscribe(sub);
    /// tp.next(1).next(2).next(3).next(4);
    /// handle.assert_items(&[vec![1, 2, 3]]);
    /// vs.advance_by(Duration::from_secs(1)); // [4] waited long enough
    /// handle.assert_items(&[vec![1, 2, 3], vec![4]]);
    /// # Ok::<(), spillway::ConfigError>(())
    /// ```
    #[doc(alias = "buffer")]
    #[doc(alias = "buffer_timeout")]
    fn chunks_timeout(
        self,
        size: usize,
        timeout: std::time::Duration,
    ) -> Result<crate::ChunksTimeout<Self>, ConfigError> {
        crate::ChunksTimeout::new(self, size, timeout)
    }

    /// Collects items into `Vec` batches closed on a fixed clock: every `period`, the
    /// items that arrived since the last tick (RxJS `bufferTime(period)`, Reactor
    /// `buffer(Duration)`). [`max_size`](crate::ChunksEvery::max_size) also closes a
    /// batch at a size. Unlike [`chunks_timeout`](Self::chunks_timeout), whose clock
    /// starts at each batch's first item, the ticks are `period` apart from the
    /// subscription on, whatever arrives; a tick with no items emits nothing (RxJS emits
    /// an empty array). A batch also closes at
    /// [`DEFAULT_MAX_SIZE`](crate::DEFAULT_MAX_SIZE) items (or `max_size`): RxJS's and
    /// Reactor's time buffers have no such bound, and a fast upstream fills them without
    /// limit.
    ///
    /// Demand: as `chunks_timeout`, upstream is asked for `(demand + 1) * max_size` items
    /// held or in flight: a batch closed while downstream has no demand is held, upstream
    /// pauses, and the next batches close on the clock with what arrived. A slow consumer
    /// is never overflowed and nothing is dropped. The clock runs on the subscriber's
    /// [`Context`](spillway_core::Context) scheduler (virtual time in tests) unless
    /// [`on`](crate::ChunksEvery::on) pins one.
    ///
    /// ```text
    /// upstream:             -1-2-3----4--------5-|
    /// chunks_every(5):      -----a----b---------c|   a=[1,2] b=[3,4] c=[5]
    /// ```
    ///
    /// **Discard**: as [`chunks`](Self::chunks): on completion the open batch is flushed;
    /// on error it is dropped as [`DropReason::Discarded`](crate::DropReason) while the
    /// closed batches are still delivered before the error; on cancel everything held is
    /// discarded. An upstream sending more than requested fails with
    /// [`Error::ProtocolViolation`](spillway_core::Error::ProtocolViolation).
    ///
    /// # Errors
    /// [`ConfigError`] if `period` is zero.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use spillway::prelude::*;
    /// use spillway_testkit::{TestPublisher, TestSubscriber, VirtualScheduler};
    ///
    /// let vs = VirtualScheduler::new();
    /// let tp = TestPublisher::<u32, ()>::new();
    /// let (sub, handle) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
    /// tp.publisher().chunks_every(Duration::from_secs(1))?.subscribe(sub);
    /// tp.next(1).next(2);
    /// vs.advance_by(Duration::from_secs(1)); // tick: [1, 2]
    /// vs.advance_by(Duration::from_secs(1)); // tick, no items: nothing
    /// tp.next(3).complete(); // the open batch is flushed
    /// handle.assert_items(&[vec![1, 2], vec![3]]);
    /// handle.assert_complete();
    /// # Ok::<(), spillway::ConfigError>(())
    /// ```
    #[doc(alias = "buffer_time")]
    fn chunks_every(
        self,
        period: std::time::Duration,
    ) -> Result<crate::ChunksEvery<Self>, ConfigError> {
        crate::ChunksEvery::new(self, period)
    }

    /// Collects items into `Vec` batches closed by `boundary`: each of its items closes the
    /// open batch (RxJS `buffer(notifier)`, Reactor `buffer(Publisher)`); an empty batch is
    /// not emitted. The boundary's completion ends the stream (the open batch flushed,
    /// upstream cancelled, as Reactor does); its error fails it as an upstream error would.
    ///
    /// Demand: `boundary` is subscribed first, with unbounded demand. Upstream is asked as
    /// by [`chunks_every`](Self::chunks_every): a batch also closes at
    /// [`DEFAULT_MAX_SIZE`](crate::DEFAULT_MAX_SIZE) items (or
    /// [`max_size`](crate::ChunksWith::max_size)), and `(demand + 1) * max_size` items at
    /// most are held or in flight.
    ///
    /// ```text
    /// upstream:        -1-2-3----4--5-|
    /// boundary:        ----x------x------
    /// chunks_with:     ----a------b---(c|)   a=[1,2] b=[3,4] c=[5]
    /// ```
    ///
    /// **Discard**: as [`chunks_every`](Self::chunks_every); an error of either side
    /// discards the open batch, and a cancel cancels both sides.
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// use spillway_testkit::{TestPublisher, TestSubscriber};
    ///
    /// let items = TestPublisher::<u32, ()>::new();
    /// let flush = TestPublisher::<(), ()>::new();
    /// let (sub, handle) = TestSubscriber::new(u64::MAX);
    /// items.publisher().chunks_with(flush.publisher()).subscribe(sub);
    /// items.next(1).next(2);
    /// flush.next(()); // [1, 2]
    /// flush.next(()); // nothing new: nothing
    /// items.next(3);
    /// flush.complete(); // [3], and the stream ends
    /// handle.assert_items(&[vec![1, 2], vec![3]]);
    /// handle.assert_complete();
    /// assert!(items.is_cancelled());
    /// ```
    #[doc(alias = "buffer_when")]
    fn chunks_with<B>(self, boundary: B) -> crate::ChunksWith<Self, B>
    where
        B: Publisher<Error = Self::Error>,
    {
        crate::ChunksWith::new(self, boundary)
    }

    /// Collects items into `Vec` batches whose total weight (bytes, cost, ...) stays within
    /// `max_weight`: a batch closes before an item would push it over, and as soon as it
    /// reaches `max_weight`. An item heavier than `max_weight` on its own becomes a batch by
    /// itself (it is never split nor dropped). The last, partial batch is flushed at
    /// completion.
    ///
    /// Demand: requests items in steps and replenishes as batches go out, so that at most
    /// one closed batch beyond downstream's demand can ever form (each item in flight can
    /// close at most one batch): with zero demand it holds at most one closed batch plus
    /// the open one. `weigh` runs once per item, outside any lock.
    ///
    /// ```text
    /// upstream (weights):          -4-3-5-9-1-|
    /// chunks_weighted(8, weight):  -----a-(bc)---(d|)   a=[4,3] (closed by 5) b=[5] c=[9] (too heavy: alone) d=[1]
    /// ```
    ///
    /// **Discard**: as [`chunks`](Self::chunks): the open batch is flushed on completion,
    /// dropped as [`DropReason::Discarded`](crate::DropReason) on error (closed batches go
    /// first) and on cancel. A panic in `weigh` cancels upstream, discards what is held and
    /// fails with [`Error::Panicked`](spillway_core::Error::Panicked).
    ///
    /// A panic in `on_drop` never unwinds; as for [`chunks`](Self::chunks), upstream's error
    /// wins over it (see [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
    ///
    /// # Errors
    /// [`ConfigError`] if `max_weight` is zero.
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let words = from_iter(["ab", "cde", "f", "ghijklm", "n"].map(String::from));
    /// let batches = words.chunks_weighted(4, |w| w.len() as u64)?.collect().await.unwrap();
    /// assert_eq!(batches, vec![vec!["ab"], vec!["cde", "f"], vec!["ghijklm"], vec!["n"]]);
    /// # Ok::<(), spillway::ConfigError>(())
    /// # }).unwrap();
    /// ```
    #[doc(alias = "buffer")]
    fn chunks_weighted<F>(
        self,
        max_weight: u64,
        weigh: F,
    ) -> Result<crate::ChunksWeighted<Self, F>, ConfigError>
    where
        F: FnMut(&Self::Item) -> u64 + Send + 'static,
    {
        crate::ChunksWeighted::new(self, max_weight, weigh)
    }

    /// Natural batching: passes items through as they come while downstream keeps up, and
    /// while downstream has no demand collects them, emitting everything collected as one
    /// `Vec` as soon as downstream requests again (Akka's `batch`). Lossless.
    ///
    /// Demand: keeps at most `max` items collected or requested upstream: requests `max`
    /// at first and replenishes as batches go out, so when `max` items are collected
    /// upstream is paused (backpressured), never dropped.
    ///
    /// ```text
    /// upstream:                 -1-2-3-4-5-|
    /// downstream requests:      ^-------r---r    (1 at subscribe, then one at each r)
    /// batch_while_busy(10):     -a------b---(c|)  a=[1] b=[2,3,4] c=[5]
    /// ```
    ///
    /// **Discard**: on completion the collected items are delivered (as one last batch,
    /// when downstream requests); on error they are dropped as
    /// [`DropReason::Discarded`](crate::DropReason) and the error is delivered at once; on
    /// cancel they are discarded too. An upstream that sends more than requested fails
    /// with [`Error::ProtocolViolation`](spillway_core::Error::ProtocolViolation).
    ///
    /// A panic in `on_drop` never unwinds; as for [`chunks`](Self::chunks), upstream's error
    /// wins over it (see [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
    ///
    /// # Errors
    /// [`ConfigError`] if `max` is zero.
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// use spillway_testkit::{TestPublisher, TestSubscriber};
    ///
    /// let tp = TestPublisher::<u32, ()>::new();
    /// let (sub, handle) = TestSubscriber::new(1);
    /// tp.publisher().batch_while_busy(10)?.subscribe(sub);
    /// tp.next(1).next(2).next(3); // downstream is busy after [1]
    /// handle.assert_items(&[vec![1]]);
    /// handle.request(1);
    /// handle.assert_items(&[vec![1], vec![2, 3]]);
    /// # Ok::<(), spillway::ConfigError>(())
    /// ```
    fn batch_while_busy(self, max: usize) -> Result<crate::BatchWhileBusy<Self>, ConfigError> {
        crate::BatchWhileBusy::new(self, max)
    }

    /// Splits the stream into consecutive windows of `size` items, each a publisher of
    /// its items ([`UnicastWindow`](crate::UnicastWindow)): publishers of publishers, as
    /// Reactor's `window(int)` and RxJS's `windowCount(n)`. A window opens with its first
    /// item and completes after its `size`-th; upstream's end completes (or fails) the
    /// open window and then the outer stream. No window is ever empty.
    ///
    /// Demand: on two levels. Downstream's requests count windows, each window's
    /// subscriber's requests count its items. Upstream is asked for `size` items per
    /// window downstream asked for (`request(2)` on `window(3)` asks 6 items) and no
    /// more; unbounded outer demand is passed on unbounded. A window holds the items its
    /// subscriber has not asked for yet, at most `size`, so what the stage holds is
    /// bounded by the windows requested.
    ///
    /// ```text
    /// upstream:   -1-2-3-4-5-|
    /// window(2):  -a---b---c-|     a=-1-2|  b=-3-4|  c=-5-|  (each window a publisher)
    /// ```
    ///
    /// **Cancellation** follows Reactor. Cancelling the outer stream cuts no window
    /// already handed out: upstream is cancelled once the outer is cancelled *and* the
    /// open window has ended or been cancelled. A window cancelled while the outer goes
    /// on drops the rest of its items (counted as [`DropReason::Discarded`](crate::DropReason)
    /// in [`stats`](crate::Window::stats)) and the stage keeps consuming, so the next
    /// window starts where it would have. A window never subscribed keeps its items (at
    /// most `size`) and closes as usual; it holds nothing up, so the outer stream and the
    /// next windows go on. Dropping every handle of a window unsubscribed cancels it.
    /// A window can be subscribed once: a second subscription fails at once with
    /// [`Error::Rejected`](spillway_core::Error::Rejected).
    ///
    /// **Errors** reach the open window (after the items it holds) and then the outer
    /// stream; windows already closed are not affected. The error type is `Clone` for
    /// this reason. An error type that is not
    /// `Clone` (`std::io::Error`) can be shared first: `.map_error(std::sync::Arc::new)`. An upstream that sends more than requested fails both with
    /// [`Error::ProtocolViolation`](spillway_core::Error::ProtocolViolation).
    ///
    /// # Errors
    /// [`ConfigError`] if `size` is zero.
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let sums = range(1, 6)
    ///     .window(2)?
    ///     .concat_map(|w| w.reduce(|a, x| a + x))
    ///     .collect()
    ///     .await
    ///     .unwrap();
    /// assert_eq!(sums, vec![3, 7, 5]); // [1, 2], [3, 4], [5]
    /// assert!(range(0, 1).window(0).is_err());
    /// # Ok::<(), spillway::ConfigError>(())
    /// # }).unwrap();
    /// ```
    #[doc(alias = "window_count")]
    fn window(self, size: usize) -> Result<crate::Window<Self>, ConfigError>
    where
        Self::Error: Clone,
    {
        crate::Window::new(self, size)
    }

    /// Splits the stream into windows of up to `size` items, a window closing after its
    /// `size`-th item or `timeout` after its first item, whichever comes first (Reactor's
    /// `windowTimeout(n, d)`, RxJS's `windowTime(d, null, n)`). Each window is a publisher
    /// of its items ([`UnicastWindow`](crate::UnicastWindow)); a window opens with its
    /// first item, so none is ever empty and the clock runs only while a window is open.
    /// The timers run on the subscriber's [`Context`](spillway_core::Context) scheduler
    /// (virtual time in tests).
    ///
    /// Demand: as [`window`](Self::window): downstream's requests count windows, each
    /// window's subscriber's requests count its items, upstream is asked for `size` items
    /// per window requested (topped up as windows close). A window closed early by its
    /// timer leaves the rest of its request outstanding upstream: those items open the
    /// next window before downstream asks for it, and it waits (holding at most `size`
    /// items, its timer running) until downstream does.
    ///
    /// ```text
    /// upstream:                    -1-2-3-------4-----|
    /// window_timeout(2, 4 frames): -a---b-------c-----|   a=-1-2|  b=-3---|  c=-4---|
    /// ```
    ///
    /// Cancellation, errors, unsubscribed windows and the single subscription of a
    /// window: as [`window`](Self::window).
    ///
    /// # Errors
    /// [`ConfigError`] if `size` or `timeout` is zero.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use spillway::prelude::*;
    /// use spillway_testkit::{TestPublisher, TestSubscriber, VirtualScheduler};
    ///
    /// let vs = VirtualScheduler::new();
    /// let tp = TestPublisher::<u32, ()>::new();
    /// let (outer, windows) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
    /// tp.publisher().window_timeout(3, Duration::from_secs(1))?.subscribe(outer);
    /// tp.next(1).next(2);
    /// let (inner, items) = TestSubscriber::new(u64::MAX);
    /// windows.items()[0].clone().subscribe(inner);
    /// items.assert_items(&[1, 2]);
    /// vs.advance_by(Duration::from_secs(1)); // the first window times out
    /// items.assert_complete();
    /// tp.next(3); // opens the second window
    /// assert_eq!(windows.item_count(), 2);
    /// # Ok::<(), spillway::ConfigError>(())
    /// ```
    #[doc(alias = "window_time")]
    fn window_timeout(
        self,
        size: usize,
        timeout: std::time::Duration,
    ) -> Result<crate::WindowTimeout<Self>, ConfigError>
    where
        Self::Error: Clone,
    {
        crate::WindowTimeout::new(self, size, timeout)
    }

    /// Splits the stream into groups by key: each group is a publisher of the items with
    /// its key ([`GroupedPublisher`](crate::GroupedPublisher), [`key`](crate::GroupedPublisher::key)),
    /// opened by the first item with that key (Reactor's `groupBy`, RxJS's `groupBy`,
    /// Akka's `groupBy(maxSubstreams)`). At most
    /// [`max_groups`](crate::GroupBy::max_groups) groups are open at once (default
    /// [`DEFAULT_MAX_GROUPS`](crate::DEFAULT_MAX_GROUPS)).
    ///
    /// Demand: on two levels. Downstream's requests count new groups, each group's
    /// subscriber's requests count its items. Upstream is asked, from downstream's first
    /// request on, for what keeps at most [`buffer`](crate::GroupBy::buffer) items
    /// (default [`DEFAULT_GROUP_BUFFER`](crate::DEFAULT_GROUP_BUFFER)) held in all groups
    /// or in flight, topped up by a quarter as the groups' subscribers take items (as
    /// Reactor's prefetch): what the stage holds is bounded by `buffer`.
    ///
    /// ```text
    /// upstream:        -1-2-3-4-5-|
    /// group_by(x % 2): -a-b-------|   a = key 1: -1---3---5-|   b = key 0: ---2---4---|
    /// ```
    ///
    /// **The `groupBy` trap, and the rule here.** A group's items wait in the buffer
    /// until its subscriber asks for them, and a group not handed out yet waits for
    /// downstream to ask for a new group. Consumed with `flat_map` of concurrency `c`,
    /// downstream asks for a new group only when one of its `c` groups completes, which
    /// is at upstream's end: with more than `c` keys, Reactor's `groupBy` fills its
    /// prefetch with items of the groups nobody asked for and hangs, its `c` groups
    /// waiting for items it no longer requests. Here that state fails the stream instead:
    /// when the buffer is full, downstream asks for no more groups, no held item is in a
    /// subscribed group (they are in groups not handed out, or handed out and not
    /// subscribed, as in a queue such as `publish_on`'s below), and the subscriber of a
    /// group waits for items, every group and the outer fail with
    /// [`Error::Rejected`](spillway_core::Error::Rejected) whose reason is
    /// [`GROUP_BY_TRAP`](crate::GROUP_BY_TRAP). An item with a new key while
    /// `max_groups` groups are open fails them with
    /// [`TOO_MANY_GROUPS`](crate::TOO_MANY_GROUPS), as Akka fails with "too many
    /// substreams". Consume every group at once: `flat_map(f, max_groups, ...)` never
    /// meets either. Not the trap, only backpressure: a subscribed group whose subscriber
    /// is slow keeps its items and the stream pauses until it asks; while downstream
    /// still asks for groups, groups handed out and not subscribed yet are taken to be on
    /// their way to a subscriber (one subscribing from another task, say). So a consumer
    /// that collects every group before subscribing to any (its demand unbounded) stalls
    /// once `buffer` items are held, as in Reactor: subscribe to each group as it
    /// arrives.
    ///
    /// **Cancellation** follows Reactor. Cancelling the outer stream discards the groups
    /// not handed out and keeps the others; items with a new key are then dropped
    /// (`Discarded`), and upstream is cancelled once every open group has been cancelled
    /// (or upstream ended). A group cancelled by its subscriber (or dropped unsubscribed)
    /// is closed: the items it holds are dropped as `Discarded`, and a later item with its
    /// key opens a new group. A group can be subscribed once: a second subscription fails
    /// with `Error::Rejected`.
    ///
    /// **End**: upstream's completion completes every group after its items, and the
    /// outer stream once the groups not handed out yet have been. An error (upstream's,
    /// the trap, too many groups, an upstream sending more than requested as
    /// [`Error::ProtocolViolation`](spillway_core::Error::ProtocolViolation), a panic in
    /// `key` or in the key's `Hash`/`Eq` as
    /// [`Error::Panicked`](spillway_core::Error::Panicked)) reaches every group handed
    /// out, after the items it holds, and the outer at once; the groups not handed out are
    /// discarded. The error type is `Clone` for this reason. An error type that is not
    /// `Clone` (`std::io::Error`) can be shared first: `.map_error(std::sync::Arc::new)`.
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let mut counts = range(0, 10)
    ///     .group_by(|x| x % 3)
    ///     .flat_map(
    ///         |g| {
    ///             let k = *g.key();
    ///             g.map(|_| 1u32).reduce(|a, b| a + b).map(move |n| (k, n))
    ///         },
    ///         3, // every group at once: concurrency >= the number of keys
    ///         8,
    ///     )?
    ///     .collect()
    ///     .await
    ///     .unwrap();
    /// counts.sort();
    /// assert_eq!(counts, vec![(0, 4), (1, 3), (2, 3)]);
    /// # Ok::<(), spillway::ConfigError>(())
    /// # }).unwrap();
    /// ```
    fn group_by<K, F>(self, key: F) -> crate::GroupBy<Self, F>
    where
        F: FnMut(&Self::Item) -> K + Send + 'static,
        K: std::hash::Hash + Eq + Clone + Send + 'static,
        Self::Error: Clone,
    {
        crate::GroupBy::new(self, key)
    }

    /// Lets an item through, then drops every item that arrives in the next `period`
    /// (throttle-first, leading edge).
    ///
    /// Demand: requests unbounded demand upstream. An item that would open a window but
    /// finds no downstream demand is dropped as [`DropReason::NoDemand`](crate::DropReason)
    /// and opens no window, so the next item with demand gets through. Time is read from
    /// the scheduler of the subscriber's [`Context`](spillway_core::Context) at subscribe
    /// time, or the one pinned with [`SampleFirst::on`](crate::SampleFirst::on); the
    /// window is `[t, t + period)` from the emission at `t`.
    ///
    /// ```text
    /// upstream:          -a-b-c-----d-e-|
    /// sample_first(5):   -a---------d---|
    /// ```
    ///
    /// **Discard**: items inside a window are dropped as
    /// [`DropReason::Throttled`](crate::DropReason::Throttled), counted in
    /// [`stats`](crate::SampleFirst::stats) and passed to
    /// [`on_drop`](crate::SampleFirst::on_drop). Nothing is ever held, so there is nothing
    /// to flush at completion: upstream's completion or error passes through at once.
    ///
    /// Compared with Reactor/RxJava: `sampleFirst` / `throttleFirst`, except that an
    /// item without downstream demand is dropped and counted instead of failing with an
    /// overflow / `MissingBackpressureException`.
    ///
    /// A panic in `on_drop` never unwinds into the caller (the producer, `subscribe`,
    /// `request`, `cancel`): the stage cancels upstream and fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked) at once, unless it was ending
    /// already (a cancel, an earlier failure, upstream's error: that end stands, see
    /// [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
    ///
    /// # Errors
    /// [`ConfigError`] if `period` is zero.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use spillway::prelude::*;
    /// use spillway::operators::DropReason;
    /// # futures::executor::block_on(async {
    /// // Everything arrives at once: only the first item gets through.
    /// let first = range(0, 10).sample_first(Duration::from_secs(1))?;
    /// let stats = first.stats();
    /// assert_eq!(first.collect().await.unwrap(), vec![0]);
    /// assert_eq!(stats.snapshot().dropped_for(DropReason::Throttled), 9);
    /// assert!(range(0, 1).sample_first(Duration::ZERO).is_err());
    /// # Ok::<(), spillway::ConfigError>(())
    /// # }).unwrap();
    /// ```
    #[doc(alias = "throttle_first")]
    fn sample_first(
        self,
        period: std::time::Duration,
    ) -> Result<crate::SampleFirst<Self>, ConfigError> {
        crate::SampleFirst::new(self, period)
    }

    /// Every `period`, emits the latest item that arrived in that period, if any
    /// (periodic sampling, throttle-last).
    ///
    /// Demand: requests unbounded demand upstream. The sampling clock starts at subscribe
    /// time on the scheduler of the subscriber's [`Context`](spillway_core::Context) (or
    /// the one pinned with [`Sample::on`](crate::Sample::on)); a tick that finds no
    /// downstream demand drops the sampled item as
    /// [`DropReason::NoDemand`](crate::DropReason::NoDemand) instead of emitting it.
    ///
    /// ```text
    /// upstream:     -a-b---c-d-e-----|
    /// ticks:        ----T---T---T---T-
    /// sample(4):    ----b---c---e----|
    /// ```
    ///
    /// **Discard**: an item replaced by a newer one before the tick is dropped as
    /// [`DropReason::Throttled`](crate::DropReason::Throttled) (counted in
    /// [`stats`](crate::Sample::stats), passed to [`on_drop`](crate::Sample::on_drop)).
    /// At completion the pending item is flushed by default (delivered before
    /// `on_complete`, waiting for demand if needed);
    /// [`flush_on_complete(false)`](crate::Sample::flush_on_complete) drops it as
    /// `Discarded`. On an upstream error or a cancel, it is dropped as `Discarded`.
    ///
    /// Compared with Reactor/RxJava: `sample(Duration)` / `sample` (`throttleLast`);
    /// RxJava drops the pending item at completion unless `emitLast` is set, we flush it
    /// by default; Reactor fails with an overflow error when a tick finds no demand, we
    /// drop and count.
    ///
    /// A panic in `on_drop` never unwinds into the caller (the producer, `subscribe`,
    /// `request`, `cancel`): the stage cancels upstream and fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked) at once, unless it was ending
    /// already (a cancel, an earlier failure, upstream's error: that end stands, see
    /// [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
    ///
    /// # Errors
    /// [`ConfigError`] if `period` is zero.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// // All items arrive before the first tick: the latest is flushed at completion.
    /// let latest = range(0, 10).sample(Duration::from_secs(1))?.collect().await.unwrap();
    /// assert_eq!(latest, vec![9]);
    /// let none = range(0, 10).sample(Duration::from_secs(1))?.flush_on_complete(false);
    /// assert!(none.collect().await.unwrap().is_empty());
    /// # Ok::<(), spillway::ConfigError>(())
    /// # }).unwrap();
    /// ```
    #[doc(alias = "throttle_last")]
    fn sample(self, period: std::time::Duration) -> Result<crate::Sample<Self>, ConfigError> {
        crate::Sample::new(self, period)
    }

    /// Each time `notifier` emits, emits the latest item that arrived since the last
    /// emission, if any (RxJS `sample(notifier)`, Reactor `sample(Publisher)`): sampling on
    /// a signal instead of a clock, as [`sample`](Self::sample) does.
    ///
    /// Demand: requests unbounded demand upstream, and from `notifier`, which is subscribed
    /// first (so one that fires at once acts before the first item). A notifier item that
    /// finds no downstream demand drops the latest item as
    /// [`DropReason::NoDemand`](crate::DropReason::NoDemand) (Reactor fails with an
    /// overflow instead). The notifier's completion ends the stream: upstream is
    /// cancelled, the pending item flushed (RxJS ignores it and keeps dropping items until
    /// upstream ends; Reactor completes too). Either side's error fails the stream and
    /// cancels the other.
    ///
    /// ```text
    /// upstream:      -1-2-3---4-5-6--|
    /// notifier:      ----x-----x-x
    /// sample_with:   ----2-----4-5---(6|)
    /// ```
    ///
    /// **Discard**: an item replaced by a newer one before a notifier item is dropped as
    /// [`DropReason::Throttled`](crate::DropReason::Throttled) (counted in
    /// [`stats`](crate::SampleWith::stats), passed to
    /// [`on_drop`](crate::SampleWith::on_drop)). At completion (upstream's or the
    /// notifier's) the pending item is flushed by default;
    /// [`flush_on_complete(false)`](crate::SampleWith::flush_on_complete) drops it as
    /// `Discarded`. On an error or a cancel it is dropped as `Discarded`.
    ///
    /// A panic in `on_drop` never unwinds into the caller: the stage cancels both sides
    /// and fails with [`Error::Panicked`](spillway_core::Error::Panicked) (see
    /// [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// use spillway_testkit::{TestPublisher, TestSubscriber};
    ///
    /// let items = TestPublisher::<u32, ()>::new();
    /// let ticks = TestPublisher::<(), ()>::new();
    /// let (sub, handle) = TestSubscriber::new(u64::MAX);
    /// items.publisher().sample_with(ticks.publisher()).subscribe(sub);
    /// items.next(1).next(2);
    /// ticks.next(()); // emits 2
    /// ticks.next(()); // nothing new: emits nothing
    /// items.next(3);
    /// ticks.complete(); // flushes 3 and ends the stream
    /// handle.assert_items(&[2, 3]);
    /// handle.assert_complete();
    /// assert!(items.is_cancelled());
    /// ```
    fn sample_with<N>(self, notifier: N) -> crate::SampleWith<Self, N>
    where
        N: Publisher<Error = Self::Error> + 'static,
    {
        crate::SampleWith::new(self, notifier)
    }

    /// Lets an item through, then drops every item until the publisher that `window`
    /// builds from that item emits or completes (Reactor `sampleFirst(Function)`, RxJS
    /// `throttle(durationSelector)`): [`sample_first`](Self::sample_first) with a window
    /// chosen per item instead of a fixed period.
    ///
    /// Demand: requests unbounded demand upstream, and from each window publisher. An item
    /// that would pass but finds no downstream demand is dropped as
    /// [`DropReason::NoDemand`](crate::DropReason::NoDemand) and opens no window. A window
    /// publisher that emits is cancelled; its error fails the stream (upstream
    /// cancelled). Upstream's end passes at once (nothing is held) and cancels the open
    /// window.
    ///
    /// ```text
    /// upstream:            -1-3-2----4-5-|
    /// window(1):            -x
    /// window(3):              ---x
    /// window(4):                 ----!     (cancelled: upstream completed)
    /// sample_first_with:   -1-3------4---|
    /// ```
    ///
    /// **Discard**: items inside a window are dropped as
    /// [`DropReason::Throttled`](crate::DropReason::Throttled), counted in
    /// [`stats`](crate::SampleFirstWith::stats) and passed to
    /// [`on_drop`](crate::SampleFirstWith::on_drop). A panic in `window` drops the item as
    /// `Discarded` and fails the stream with
    /// [`Error::Panicked`](spillway_core::Error::Panicked) (upstream cancelled); so does
    /// a panic in `on_drop` (see [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// use spillway_testkit::{TestPublisher, TestSubscriber};
    ///
    /// let items = TestPublisher::<u32, ()>::new();
    /// let gate = TestPublisher::<(), ()>::new();
    /// let g = gate.clone();
    /// let (sub, handle) = TestSubscriber::new(u64::MAX);
    /// items.publisher().sample_first_with(move |_| g.publisher()).subscribe(sub);
    /// items.next(1).next(2); // 1 passes and opens a window: 2 is dropped
    /// gate.next(()); // the window closes
    /// items.next(3).complete();
    /// handle.assert_items(&[1, 3]);
    /// handle.assert_complete();
    /// ```
    #[doc(alias = "throttle_with")]
    fn sample_first_with<F, O>(self, window: F) -> crate::SampleFirstWith<Self, F>
    where
        F: Fn(&Self::Item) -> O + Send + Sync + 'static,
        O: Publisher<Error = Self::Error> + 'static,
    {
        crate::SampleFirstWith::new(self, window)
    }

    /// Emits an item at once, then at most one item per `period`: the latest one, at the
    /// end of the window (leading and trailing edge).
    ///
    /// Demand: requests unbounded demand upstream. A window opens at each emission on the
    /// scheduler of the subscriber's [`Context`](spillway_core::Context) (or the one
    /// pinned with [`ThrottleLatest::on`](crate::ThrottleLatest::on)); when it ends with a
    /// pending item, that item is emitted and a new window opens; when it ends without
    /// one, the next item is emitted at once. An item due for emission that finds no
    /// downstream demand is dropped as
    /// [`DropReason::NoDemand`](crate::DropReason::NoDemand) and opens no window.
    ///
    /// ```text
    /// upstream:              -a-b--c------d-|
    /// throttle_latest(4):    -a---b---c---d-|
    /// ```
    ///
    /// **Discard**: an item replaced by a newer one inside a window is dropped as
    /// [`DropReason::Throttled`](crate::DropReason::Throttled) (counted in
    /// [`stats`](crate::ThrottleLatest::stats), passed to
    /// [`on_drop`](crate::ThrottleLatest::on_drop)). At completion the pending item is
    /// flushed by default (at once, waiting for demand if needed);
    /// [`flush_on_complete(false)`](crate::ThrottleLatest::flush_on_complete) drops it as
    /// `Discarded`. On an upstream error or a cancel, it is dropped as `Discarded`.
    ///
    /// Compared with RxJava: `throttleLatest`, which by default drops the pending item at
    /// completion (`emitLast = false`); we flush it by default.
    ///
    /// A panic in `on_drop` never unwinds into the caller (the producer, `subscribe`,
    /// `request`, `cancel`): the stage cancels upstream and fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked) at once, unless it was ending
    /// already (a cancel, an earlier failure, upstream's error: that end stands, see
    /// [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
    ///
    /// # Errors
    /// [`ConfigError`] if `period` is zero.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let out = range(0, 10).throttle_latest(Duration::from_secs(1))?.collect().await.unwrap();
    /// assert_eq!(out, vec![0, 9]); // the leading item, then the flushed latest
    /// # Ok::<(), spillway::ConfigError>(())
    /// # }).unwrap();
    /// ```
    fn throttle_latest(
        self,
        period: std::time::Duration,
    ) -> Result<crate::ThrottleLatest<Self>, ConfigError> {
        crate::ThrottleLatest::new(self, period)
    }

    /// At most one item per `period`, taken from the edges of a window that `mode` names
    /// (RxJS's `throttleTime(period, scheduler, { leading, trailing })`):
    /// - [`Leading`](crate::ThrottleMode::Leading): an item emitted opens a window; the
    ///   other items of the window are dropped. The same as
    ///   [`sample_first`](Self::sample_first), which is that mode's faster form (no timer).
    /// - [`Trailing`](crate::ThrottleMode::Trailing): an item opens a window and is held;
    ///   newer items replace it; when the window ends, the held item is emitted and opens
    ///   the next window (unlike [`audit`](Self::audit), where the next item does).
    /// - [`LeadingAndTrailing`](crate::ThrottleMode::LeadingAndTrailing): both. The same
    ///   as [`throttle_latest`](Self::throttle_latest).
    ///
    /// Demand: requests unbounded demand upstream. Windows run on the scheduler of the
    /// subscriber's [`Context`](spillway_core::Context) (or the one pinned with
    /// [`Throttle::on`](crate::Throttle::on)). An item due for emission that finds no
    /// downstream demand is dropped as [`DropReason::NoDemand`](crate::DropReason::NoDemand)
    /// and opens no window.
    ///
    /// ```text
    /// upstream:                           -1-2-3-----4-5-|
    /// throttle(5, Leading):               -1---------4---|
    /// throttle(5, Trailing):              ------3----4---(5|)
    /// throttle(5, LeadingAndTrailing):    -1----3----4---(5|)
    /// ```
    ///
    /// A window ends when its timer fires. An item that arrives at that very instant
    /// falls in the ending window if it runs before the timer (as 4 above), in the next
    /// otherwise: which one runs first is up to the scheduler. `sample_first` instead reads
    /// the clock for each item and treats its window as `[start, start + period)`, so
    /// `Leading` and `sample_first` can differ for an item exactly on a window's end.
    ///
    /// **Discard**: an item inside a window is dropped as
    /// [`DropReason::Throttled`](crate::DropReason::Throttled) (`Leading`), or kept until a
    /// newer one replaces it, which drops it as `Throttled` (the trailing modes); counted
    /// in [`stats`](crate::Throttle::stats), passed to [`on_drop`](crate::Throttle::on_drop).
    /// At completion a held item is flushed by default, at once (RxJS waits for the end of
    /// the window first); [`flush_on_complete(false)`](crate::Throttle::flush_on_complete)
    /// drops it as `Discarded`. On an upstream error or a cancel, it is dropped as
    /// `Discarded`.
    ///
    /// A panic in `on_drop` never unwinds into the caller (the producer, `subscribe`,
    /// `request`, `cancel`): the stage cancels upstream and fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked) at once, unless it was ending
    /// already (a cancel, an earlier failure, upstream's error: that end stands, see
    /// [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
    ///
    /// # Errors
    /// [`ConfigError`] if `period` is zero.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use spillway::prelude::*;
    /// use spillway::operators::ThrottleMode;
    /// # futures::executor::block_on(async {
    /// // Everything arrives inside one window.
    /// let second = Duration::from_secs(1);
    /// let leading = range(0, 10).throttle(second, ThrottleMode::Leading)?;
    /// assert_eq!(leading.collect().await.unwrap(), vec![0]);
    /// let trailing = range(0, 10).throttle(second, ThrottleMode::Trailing)?;
    /// assert_eq!(trailing.collect().await.unwrap(), vec![9]); // flushed at completion
    /// let both = range(0, 10).throttle(second, ThrottleMode::LeadingAndTrailing)?;
    /// assert_eq!(both.collect().await.unwrap(), vec![0, 9]);
    /// assert!(range(0, 1).throttle(Duration::ZERO, ThrottleMode::Leading).is_err());
    /// # Ok::<(), spillway::ConfigError>(())
    /// # }).unwrap();
    /// ```
    #[doc(alias = "throttle_time")]
    fn throttle(
        self,
        period: std::time::Duration,
        mode: crate::ThrottleMode,
    ) -> Result<crate::Throttle<Self>, ConfigError> {
        crate::Throttle::new(self, period, mode)
    }

    /// On an item, opens a window of `period`; when the window ends, emits the latest
    /// item that arrived in it (trailing edge only).
    ///
    /// Demand: requests unbounded demand upstream. Windows run on the scheduler of the
    /// subscriber's [`Context`](spillway_core::Context) (or the one pinned with
    /// [`Audit::on`](crate::Audit::on)); the next item after a window opens the next
    /// window. A window that ends without downstream demand drops its item as
    /// [`DropReason::NoDemand`](crate::DropReason::NoDemand).
    ///
    /// ```text
    /// upstream:     -a-b-c-------d-------|
    /// audit(3):     ----b---c-------d----|
    /// ```
    ///
    /// **Discard**: an item replaced by a newer one inside a window is dropped as
    /// [`DropReason::Throttled`](crate::DropReason::Throttled) (counted in
    /// [`stats`](crate::Audit::stats), passed to [`on_drop`](crate::Audit::on_drop)). At
    /// completion the pending item is flushed by default (at once, without waiting for
    /// the window to end; waiting for demand if needed);
    /// [`flush_on_complete(false)`](crate::Audit::flush_on_complete) drops it as
    /// `Discarded`. On an upstream error or a cancel, it is dropped as `Discarded`.
    ///
    /// Compared with RxJS: `auditTime`. Unlike `sample`, the window starts at the first
    /// item, not on a fixed clock; unlike `debounce`, newer items do not extend it.
    ///
    /// A panic in `on_drop` never unwinds into the caller (the producer, `subscribe`,
    /// `request`, `cancel`): the stage cancels upstream and fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked) at once, unless it was ending
    /// already (a cancel, an earlier failure, upstream's error: that end stands, see
    /// [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
    ///
    /// # Errors
    /// [`ConfigError`] if `period` is zero.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let out = range(0, 10).audit(Duration::from_secs(1))?.collect().await.unwrap();
    /// assert_eq!(out, vec![9]);
    /// # Ok::<(), spillway::ConfigError>(())
    /// # }).unwrap();
    /// ```
    fn audit(self, period: std::time::Duration) -> Result<crate::Audit<Self>, ConfigError> {
        crate::Audit::new(self, period)
    }

    /// Emits an item only once `period` has passed without a newer one.
    ///
    /// Demand: requests unbounded demand upstream. Each item restarts the timer on the
    /// scheduler of the subscriber's [`Context`](spillway_core::Context) (or the one
    /// pinned with [`Debounce::on`](crate::Debounce::on)); when the timer fires without
    /// downstream demand, the item is dropped as
    /// [`DropReason::NoDemand`](crate::DropReason::NoDemand).
    ///
    /// ```text
    /// upstream:       -a-b-----c-d-e-------|
    /// debounce(3):    ------b---------e----|
    /// ```
    ///
    /// **Discard**: an item followed by a newer one within `period` is dropped as
    /// [`DropReason::Throttled`](crate::DropReason::Throttled) (counted in
    /// [`stats`](crate::Debounce::stats), passed to [`on_drop`](crate::Debounce::on_drop)).
    /// At completion the pending item is flushed by default (at once, waiting for demand
    /// if needed); [`flush_on_complete(false)`](crate::Debounce::flush_on_complete) drops
    /// it as `Discarded`. On an upstream error or a cancel, it is dropped as `Discarded`.
    ///
    /// Compared with Reactor/RxJava: `sampleTimeout` / `debounce`, which also emit the
    /// pending item at completion; a timer without demand drops and counts here, where
    /// they fail with an overflow error.
    ///
    /// A panic in `on_drop` never unwinds into the caller (the producer, `subscribe`,
    /// `request`, `cancel`): the stage cancels upstream and fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked) at once, unless it was ending
    /// already (a cancel, an earlier failure, upstream's error: that end stands, see
    /// [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
    ///
    /// # Errors
    /// [`ConfigError`] if `period` is zero.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let out = range(0, 10).debounce(Duration::from_secs(1))?.collect().await.unwrap();
    /// assert_eq!(out, vec![9]);
    /// # Ok::<(), spillway::ConfigError>(())
    /// # }).unwrap();
    /// ```
    fn debounce(self, period: std::time::Duration) -> Result<crate::Debounce<Self>, ConfigError> {
        crate::Debounce::new(self, period)
    }

    /// Limits the rate of items with a token bucket: at most `burst` at once, `rate` per
    /// `per` on average (see [`TokenBucket`](crate::TokenBucket)); each item costs one
    /// token, or [`cost(item)`](crate::RateLimit::cost).
    ///
    /// Demand, by [`RateLimitMode`](crate::RateLimitMode):
    /// * `Delay` (shaping, lossless, never drops): requests from upstream only what both
    ///   downstream demand and the tokens available allow (counting one token per item),
    ///   and when the bucket is empty requests nothing until a token has refilled, so a
    ///   compliant upstream is *paused*. An item that arrives without enough tokens (its
    ///   cost above one) is held and released when they have refilled. An upstream
    ///   completion or error is delivered after the held items.
    /// * `Fail` (enforcing): requests unbounded demand upstream; an item the bucket
    ///   cannot pay for cancels upstream and fails the pipeline with
    ///   [`Error::Rejected`](spillway_core::Error::Rejected) `{ stage: "rate_limit", .. }`
    ///   (after the items already let through).
    /// * `Drop` (enforcing, lossy): requests unbounded demand upstream; an item the
    ///   bucket cannot pay for is dropped as
    ///   [`DropReason::Throttled`](crate::DropReason::Throttled).
    ///
    /// In the enforcing modes an item the bucket could pay for but that finds no
    /// downstream demand is dropped as [`DropReason::NoDemand`](crate::DropReason::NoDemand)
    /// without spending tokens. The bucket starts full and refills continuously (one
    /// token every `per / rate`) on the scheduler of the subscriber's
    /// [`Context`](spillway_core::Context), or the one pinned with
    /// [`RateLimit::on`](crate::RateLimit::on).
    ///
    /// ```text
    /// upstream (as fast as requested): abcdef...
    /// rate_limit(1 per 2, burst 2, Delay):  (ab)-c-d-e-f-   a,b from the full bucket
    /// rate_limit(1 per 2, burst 2, Drop) over  -abcd-e---f-|
    ///                                          -abc--e---f-|   d throttled
    /// ```
    ///
    /// **Discard** (`Drop` mode only): items over the limit are dropped as `Throttled`;
    /// nothing is held, so there is nothing to flush at completion. An item whose cost
    /// exceeds `burst` can never be paid for: `Drop` drops it as `Throttled`, `Delay` and
    /// `Fail` fail with `Error::Rejected` (and count it as `Throttled`). Every drop is
    /// counted in [`stats`](crate::RateLimit::stats) and passed to
    /// [`on_drop`](crate::RateLimit::on_drop); on cancel, held items are `Discarded`.
    ///
    /// A non-compliant upstream that sends more than requested in `Delay` mode fails the
    /// pipeline with [`Error::ProtocolViolation`](spillway_core::Error::ProtocolViolation).
    ///
    /// Compared with Akka's `throttle(elements, per, maximumBurst, cost, mode)`: `Delay`
    /// is `ThrottleMode.Shaping`, `Fail` is `ThrottleMode.Enforcing` (Akka fails with a
    /// `RateExceededException`, we with `Error::Rejected`); `Drop` has no Akka mode. Not
    /// to be confused with [`limit_rate`](Self::limit_rate), which only batches demand.
    ///
    /// A panic in `on_drop` never unwinds into the caller (the producer, `subscribe`,
    /// `request`, `cancel`): the stage cancels upstream and fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked) at once, unless it was ending
    /// already (a cancel, an earlier failure, upstream's error: that end stands, see
    /// [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
    ///
    /// # Errors
    /// [`ConfigError`] if `rate`, `burst` or `per` is zero.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use spillway::prelude::*;
    /// use spillway::operators::{RateLimitMode, TokenBucket};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), spillway::ConfigError> {
    /// let start = tokio::time::Instant::now();
    /// let shaped = range(0, 5).rate_limit(TokenBucket::per_second(1), RateLimitMode::Delay)?;
    /// assert_eq!(shaped.collect().await.unwrap(), vec![0, 1, 2, 3, 4]); // never drops
    /// assert_eq!(start.elapsed(), Duration::from_secs(4)); // one per second after the first
    /// let bad = TokenBucket { rate: 0, per: Duration::from_secs(1), burst: 1 };
    /// assert!(range(0, 1).rate_limit(bad, RateLimitMode::Drop).is_err());
    /// # Ok(()) }
    /// ```
    #[doc(alias = "throttle")]
    fn rate_limit(
        self,
        bucket: crate::TokenBucket,
        mode: crate::RateLimitMode,
    ) -> Result<crate::RateLimit<Self>, ConfigError> {
        crate::RateLimit::new(self, bucket, mode)
    }

    /// Delays each item by `period`, one at a time, so consecutive items are at least
    /// `period` apart. Lossless: never drops.
    ///
    /// Demand: requests one item upstream at a time, and only while downstream has
    /// demand: the next item is requested when the previous one has been emitted. Each
    /// item is emitted `period` after it arrived, on the scheduler of the subscriber's
    /// [`Context`](spillway_core::Context) (or the one pinned with
    /// [`DelayElements::on`](crate::DelayElements::on)). An upstream completion or error
    /// is delivered after the item being delayed, if any (not delayed otherwise).
    ///
    /// ```text
    /// upstream (as fast as requested): abc|
    /// delay_elements(2):               --a-b-(c|)
    /// ```
    ///
    /// A non-compliant upstream that sends more than the one requested item fails the
    /// pipeline with [`Error::ProtocolViolation`](spillway_core::Error::ProtocolViolation).
    /// On cancel, the item being delayed is dropped as `Discarded` (in
    /// [`stats`](crate::DelayElements::stats)).
    ///
    /// Compared with Reactor: `delayElements`, with the same prefetch of one; Reactor
    /// delivers an upstream error at once, dropping the delayed item, we deliver it after.
    ///
    /// A panic in `on_drop` never unwinds into the caller (the producer, `subscribe`,
    /// `request`, `cancel`): the stage cancels upstream and fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked) at once, unless it was ending
    /// already (a cancel, an earlier failure, upstream's error: that end stands, see
    /// [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
    ///
    /// # Errors
    /// [`ConfigError`] if `period` is zero.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use spillway::prelude::*;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), spillway::ConfigError> {
    /// let start = tokio::time::Instant::now();
    /// let out = range(0, 3).delay_elements(Duration::from_secs(1))?.collect().await.unwrap();
    /// assert_eq!(out, vec![0, 1, 2]);
    /// assert_eq!(start.elapsed(), Duration::from_secs(3));
    /// # Ok(()) }
    /// ```
    fn delay_elements(
        self,
        period: std::time::Duration,
    ) -> Result<crate::DelayElements<Self>, ConfigError> {
        crate::DelayElements::new(self, period)
    }

    /// Delays each item until the publisher that `trigger` builds from it emits or
    /// completes (Reactor `delayUntil`, RxJS `delayWhen`), one item at a time and in order:
    /// an item's trigger is subscribed when the item before it was emitted. For a delay
    /// chosen per item, return a timer publisher (`interval(d)?.take(1)`) from `trigger`.
    ///
    /// Demand: one item at a time is requested upstream, and only while downstream has
    /// demand for it; triggers are requested unbounded and cancelled at their first item.
    /// Upstream's completion waits for the held item; upstream's error too (it is delivered
    /// after the held item). A trigger's error fails the stream at once: upstream is
    /// cancelled and the held item is dropped as
    /// [`DropReason::Discarded`](crate::DropReason::Discarded). Unlike RxJS's `delayWhen`,
    /// items never overtake each other.
    ///
    /// ```text
    /// upstream:      -2-4------|      (one item requested at a time)
    /// trigger(2):     --x
    /// trigger(4):       ----x
    /// delay_until:   ---2---4--|
    /// ```
    ///
    /// **Discard**: nothing is ever dropped by the stage itself; a cancel or a failure
    /// drops the held item as `Discarded` (counted in
    /// [`stats`](crate::DelayUntil::stats), passed to
    /// [`on_drop`](crate::DelayUntil::on_drop)). A panic in `trigger` fails the stream with
    /// [`Error::Panicked`](spillway_core::Error::Panicked).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use spillway::prelude::*;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), spillway::ConfigError> {
    /// // Each item waits as many seconds as it says.
    /// let start = tokio::time::Instant::now();
    /// let out = from_iter(vec![3u64, 1, 2])
    ///     .delay_until(|s| interval(Duration::from_secs(*s)).unwrap().take(1))
    ///     .collect()
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![3, 1, 2]); // in order
    /// assert_eq!(start.elapsed(), Duration::from_secs(6)); // one after another
    /// # Ok(()) }
    /// ```
    fn delay_until<F, O>(self, trigger: F) -> crate::DelayUntil<Self, F>
    where
        F: Fn(&Self::Item) -> O + Send + Sync + 'static,
        O: Publisher<Error = Self::Error> + 'static,
    {
        crate::DelayUntil::new(self, trigger)
    }

    /// Subscribes to upstream only `delay` after this stage is subscribed (Reactor
    /// `delaySubscription`, RxJS `delay` of the subscription via `delayWhen`/`timer`):
    /// a cold source does not start its work, open its file or send its query until then.
    /// The delay runs on the subscriber's scheduler (a virtual one in tests), or the one
    /// given with [`DelaySubscription::on`](crate::DelaySubscription::on).
    ///
    /// Demand: downstream is subscribed at once; what it requests meanwhile is kept and
    /// passed upstream, in one request, as soon as upstream is subscribed; after that,
    /// requests pass through unchanged (1:1). Cancelling before the delay is over cancels
    /// the timer, and upstream is never subscribed. A `request(0)` before the delay is
    /// over ends the stream with
    /// [`Error::InvalidRequest`](spillway_core::Error::InvalidRequest) when it is over,
    /// without subscribing upstream. Items, errors and completion pass unchanged.
    ///
    /// ```text
    /// a cold source:                   -1-2-|
    /// delay_subscription(3 frames):    ----1-2-|   (the source subscribed at frame 3)
    /// ```
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use spillway::prelude::*;
    /// use spillway_testkit::StepVerifier;
    /// StepVerifier::with_virtual_time(range(0, 2).delay_subscription(Duration::from_secs(5)), 10)
    ///     .expect_no_event_before(Duration::from_secs(5))
    ///     .expect_next_seq([0, 1])
    ///     .expect_complete()
    ///     .verify();
    /// ```
    fn delay_subscription(self, delay: std::time::Duration) -> crate::DelaySubscription<Self>
    where
        Self: Send + 'static,
    {
        crate::DelaySubscription::new(self, delay)
    }

    /// Runs the async function `f` on each item, up to `concurrency` futures at a time,
    /// and emits the results **in input order**.
    ///
    /// Demand: requests `concurrency` items upstream at first, then one more each time a
    /// slot frees up; results that finish without downstream demand (or ahead of an
    /// earlier, slower future) wait in a queue of [`max_queued`](crate::MapAsync::max_queued)
    /// results (default: `concurrency`), and a full queue stops the requests, so at most
    /// `concurrency + max_queued` items are ever requested and not yet emitted. Nothing is
    /// emitted without downstream demand.
    ///
    /// The futures need no executor of their own: the stage's drain loop polls them on the
    /// thread that requests or delivers, and after a future's wake-up the pipeline's
    /// terminal future (`collect().await`, `into_stream`, ...) polls them on its task; a
    /// pipeline that ends in a plain subscriber uses the executor named with
    /// [`poll_on`](Self::poll_on), or else tokio's runtime (inside one) or the shared timer
    /// thread. A waker only schedules: nothing runs on the waking thread. `f` runs on the
    /// thread that delivers the item (with
    /// [`permits_from`](crate::MapAsync::permits_from), on the stage's drain loop once the
    /// item's units are granted). Completion waits for every future. **An upstream
    /// error waits too**: the futures in flight finish and their results go out (as
    /// downstream demand allows) before the error;
    /// [`abort_on_error`](crate::MapAsync::abort_on_error) drops them and fails at once
    /// instead. A panic in `f` or in a future
    /// cancels upstream and fails with [`Error::Panicked`](spillway_core::Error::Panicked);
    /// an upstream that emits more than requested fails the stage with
    /// [`Error::ProtocolViolation`](spillway_core::Error::ProtocolViolation). Cancelling
    /// drops (so cancels) the running futures and cancels upstream.
    ///
    /// ```text
    /// upstream:           -1-2-3-|
    /// futures (1:30ms, 2:10ms, 3:10ms):
    /// map_async(2, f):    ----a(bc)-|    a=f(1) b=f(2) c=f(3): input order kept
    /// ```
    ///
    /// # Errors
    /// [`ConfigError`] if `concurrency` is 0.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use spillway::prelude::*;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), spillway::ConfigError> {
    /// let out = range(1, 4)
    ///     .map_async(2, |x| async move {
    ///         tokio::time::sleep(Duration::from_millis(40 - 10 * x)).await;
    ///         x * 10
    ///     })?
    ///     .collect()
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![10, 20, 30]);
    /// # Ok(()) }
    /// ```
    fn map_async<F, Fut>(
        self,
        concurrency: usize,
        f: F,
    ) -> Result<crate::MapAsync<Self, F>, ConfigError>
    where
        F: FnMut(Self::Item) -> Fut + Send + 'static,
        Fut: std::future::Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        crate::MapAsync::new(self, concurrency, f)
    }

    /// Runs the async function `f` on each item, up to `concurrency` futures at a time,
    /// and emits the results **as they finish**.
    ///
    /// Demand: as [`map_async`](Self::map_async): `concurrency` items at first, then one per
    /// freed slot; finished results wait (up to
    /// [`max_queued`](crate::MapAsyncUnordered::max_queued)) for downstream demand and a full
    /// queue stops the requests. Polling, errors, panics and cancellation as `map_async`.
    ///
    /// ```text
    /// upstream:                     -1-2-3-|
    /// futures (1:30ms, 2:10ms, 3:10ms):
    /// map_async_unordered(2, f):    ---b-(ca)-|
    /// ```
    ///
    /// # Errors
    /// [`ConfigError`] if `concurrency` is 0.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use spillway::prelude::*;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), spillway::ConfigError> {
    /// let out = range(1, 4)
    ///     .map_async_unordered(3, |x| async move {
    ///         tokio::time::sleep(Duration::from_millis(40 - 10 * x)).await;
    ///         x
    ///     })?
    ///     .collect()
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![3, 2, 1]); // the shortest sleep first
    /// # Ok(()) }
    /// ```
    fn map_async_unordered<F, Fut>(
        self,
        concurrency: usize,
        f: F,
    ) -> Result<crate::MapAsyncUnordered<Self, F>, ConfigError>
    where
        F: FnMut(Self::Item) -> Fut + Send + 'static,
        Fut: std::future::Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        crate::MapAsyncUnordered::new(self, concurrency, f)
    }

    /// Runs the async function `f` on each item, one at a time: `map_async(1, f)`.
    ///
    /// Demand: one item upstream at a time, the next once the future finished; at most one
    /// finished result waits for downstream demand. Errors and panics as
    /// [`map_async`](Self::map_async) (stage `"then"`).
    ///
    /// ```text
    /// upstream:  -1-2-|
    /// then(f):   --a--b|
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let out = range(1, 4).then(|x| async move { x + 1 }).collect().await.unwrap();
    /// assert_eq!(out, vec![2, 3, 4]);
    /// # });
    /// ```
    fn then<F, Fut>(self, f: F) -> crate::Then<Self, F>
    where
        F: FnMut(Self::Item) -> Fut + Send + 'static,
        Fut: std::future::Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        crate::Then::new(self, f)
    }

    /// [`map_async`](Self::map_async) with fallible futures: the results go out in input
    /// order, and the first `Err(e)` fails the stage with `Error::User(e)` as soon as its
    /// future finishes (results not yet emitted are dropped, upstream is cancelled).
    ///
    /// Demand: as `map_async`.
    ///
    /// ```text
    /// upstream:              -1-2-3-|
    /// try_map_async(2, f):   --a-#       f(2) = Err
    /// ```
    ///
    /// # Errors
    /// [`ConfigError`] if `concurrency` is 0.
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let out = from_try_stream(futures::stream::iter((1..4).map(Ok::<u64, String>)))
    ///     .try_map_async(2, |x| async move {
    ///         if x == 2 { Err(format!("bad {x}")) } else { Ok(x) }
    ///     })
    ///     .unwrap()
    ///     .collect()
    ///     .await;
    /// assert_eq!(out, Err(spillway::Error::User("bad 2".to_string())));
    /// # });
    /// ```
    fn try_map_async<F, Fut, R>(
        self,
        concurrency: usize,
        f: F,
    ) -> Result<crate::TryMapAsync<Self, F>, ConfigError>
    where
        F: FnMut(Self::Item) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<R, Self::Error>> + Send + 'static,
        R: Send + 'static,
    {
        crate::TryMapAsync::new(self, concurrency, f)
    }

    /// Merges this publisher's items with `other`'s, fairly, as they arrive: the two-way
    /// form of [`merge`](crate::merge()) (which see for the details), for publishers of
    /// different types. Chain [`Merge::with`](crate::Merge::with) to add more.
    ///
    /// Demand: requests a prefetch of 32 from each side up front (see
    /// [`Merge::prefetch`](crate::Merge::prefetch)) and replenishes a side once 75% of it
    /// was delivered, so at zero downstream demand both sides are paused with at most the
    /// prefetch queued; downstream is served round robin from the per-side queues. An
    /// error from either side is delivered at once and cancels the other; cancelling
    /// cancels both.
    ///
    /// ```text
    /// self:        -1---3-|
    /// other:       ---2-----4-|
    /// merge_with:  -1-2-3---4-|
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let mut all = range(0, 3).merge_with(just(7)).collect().await.unwrap();
    /// all.sort();
    /// assert_eq!(all, vec![0, 1, 2, 7]);
    /// # });
    /// ```
    fn merge_with<Q>(self, other: Q) -> crate::Merge<Self::Item, Self::Error>
    where
        Self: Send + 'static,
        Q: Publisher<Item = Self::Item, Error = Self::Error> + Send + 'static,
    {
        crate::merge(Some(self)).with(other)
    }

    /// Emits this publisher's items, then, once it has completed, `other`'s: the two-way
    /// form of [`concat`](crate::concat()) (which see). Chain
    /// [`Concat::with`](crate::Concat::with) to add more.
    ///
    /// Demand: requests from the current publisher downstream's outstanding demand, up to
    /// 256 at a time (nothing at zero demand), so one `request` never pulls a synchronous
    /// source to its end; demand `self` did not use is requested from `other` as soon as it
    /// is subscribed. An error goes out after the items received before it.
    ///
    /// ```text
    /// self:         -1-2-|
    /// other:              -3-|
    /// concat_with:  -1-2---3-|
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let all = range(0, 2).concat_with(just(9)).collect().await.unwrap();
    /// assert_eq!(all, vec![0, 1, 9]);
    /// # });
    /// ```
    fn concat_with<Q>(self, other: Q) -> crate::Concat<Self::Item, Self::Error>
    where
        Self: Send + 'static,
        Q: Publisher<Item = Self::Item, Error = Self::Error> + Send + 'static,
    {
        crate::concat(Some(self)).with(other)
    }

    /// Pairs each item with the item of the same index from `other`.
    ///
    /// Demand: requests a prefetch of 32 from each side up front (see
    /// [`Zip::prefetch`](crate::Zip::prefetch)) and replenishes a side in one batch once
    /// 75% of it was paired and delivered, so at zero downstream demand each side has at
    /// most the prefetch queued. Completes as soon as one side has completed and its
    /// queue is empty (no pair can follow), cancelling the other side; an error from
    /// either side is delivered at once and cancels the other.
    ///
    /// ```text
    /// self:   -1---2---3-|
    /// other:  ---a---b-|
    /// zip:    ---x---y-|      x=(1,a) y=(2,b)
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let pairs = range(0, 5).zip(from_iter(["a", "b"])).collect().await.unwrap();
    /// assert_eq!(pairs, vec![(0, "a"), (1, "b")]);
    /// # });
    /// ```
    fn zip<Q>(self, other: Q) -> crate::Zip<Self, Q>
    where
        Q: Publisher<Error = Self::Error>,
    {
        crate::Zip::new(self, other)
    }

    /// Each time either side emits (once both have emitted), emits `f` of the latest item
    /// of each side.
    ///
    /// Demand: requests a prefetch of 32 from each side up front (see
    /// [`CombineLatest::prefetch`](crate::CombineLatest::prefetch)) and replenishes a
    /// side once 75% of it was consumed; the updates are queued in arrival order and
    /// consumed only while downstream has demand, so every combination is delivered, none
    /// is skipped (use a lossy stage downstream to keep only the newest). Completes when
    /// both sides have completed and every update was consumed, or at once when a side
    /// completes without ever emitting (no combination can ever be made, so waiting for
    /// the other side would only delay the end: RxJS's `combineLatest` and Reactor's
    /// `Flux.combineLatest` complete at once in this case too; the other side is
    /// cancelled, and its items received so far, which can combine with nothing, are
    /// dropped); an error from either side is delivered at once and cancels the other. A
    /// panic in `f` fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked) and cancels both sides.
    ///
    /// ```text
    /// self:            -1-----2-----|
    /// other:           ----a-----b--|
    /// combine_latest:  ----x--y--z--|   x=1a y=2a z=2b
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let sums = just(1).combine_latest(from_iter([10, 20]), |a, b| a + b);
    /// assert_eq!(sums.collect().await.unwrap(), vec![11, 21]);
    /// # });
    /// ```
    fn combine_latest<Q, F, R>(self, other: Q, f: F) -> crate::CombineLatest<Self, Q, F>
    where
        Q: Publisher<Error = Self::Error>,
        F: FnMut(&Self::Item, &Q::Item) -> R + Send + 'static,
        R: Send + 'static,
    {
        crate::CombineLatest::new(self, other, f)
    }

    /// Maps each item to a publisher with `f` and merges the items of up to `concurrency`
    /// of them at once, in no particular order (round robin between the inner publishers
    /// that have items).
    ///
    /// Demand: requests `concurrency` items upstream at first and one more each time an
    /// inner publisher has completed and its queued items were delivered, so at most
    /// `concurrency` inner publishers are active or waiting to be drained;
    /// requests `prefetch` from each inner publisher and replenishes it once 75% of that
    /// was delivered, so at zero downstream demand everything is paused with at most
    /// `prefetch` items queued per inner publisher. An error (upstream, inner, or a panic
    /// in `f`) is delivered at once and cancels upstream and every inner publisher;
    /// cancelling cancels them all. Completes when upstream and every inner publisher
    /// have completed and the queues are drained.
    ///
    /// **Scalar inners**: an inner publisher that knows its one signal without being
    /// subscribed (`just`, `empty`, `error`, or your own, see
    /// [`Publisher::into_scalar`](spillway_core::Publisher::into_scalar)) is not
    /// subscribed: its item is queued and delivered as that of a one-item inner
    /// publisher that completed at once (same order, same demand), `empty` completes it
    /// with no item, `error` fails. The places of finished scalar inners go back upstream
    /// in batches (75% of `concurrency`, or at once when nothing is outstanding upstream),
    /// so upstream's outstanding demand plus queued items never exceeds `concurrency`.
    ///
    /// ```text
    /// upstream:            -a-------b-|
    /// inner a:              -1---2-|
    /// inner b:                      -3-|
    /// flat_map(_, 2, _):   --1---2---3-|
    /// ```
    ///
    /// # Errors
    /// [`ConfigError`] if `concurrency` or `prefetch` is 0.
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let mut all = range(1, 4)
    ///     .flat_map(|n| range(0, n), 2, 8)
    ///     .unwrap()
    ///     .collect()
    ///     .await
    ///     .unwrap();
    /// all.sort();
    /// assert_eq!(all, vec![0, 0, 0, 1, 1, 2]);
    /// # });
    /// ```
    fn flat_map<F, Q>(
        self,
        f: F,
        concurrency: usize,
        prefetch: usize,
    ) -> Result<crate::FlatMap<Self, F>, ConfigError>
    where
        F: FnMut(Self::Item) -> Q + Send + 'static,
        Q: Publisher<Error = Self::Error>,
    {
        crate::FlatMap::new(self, f, concurrency, prefetch)
    }

    /// Maps each item to a publisher with `f` and emits all the items of each, in order,
    /// one publisher after the other: `flat_map` with a concurrency of 1.
    ///
    /// Demand: requests one item upstream at first and one more each time the current
    /// inner publisher has completed and its queued items were delivered; requests a prefetch of 32 from the inner publisher (see
    /// [`ConcatMap::prefetch`](crate::ConcatMap::prefetch)) and replenishes it once 75%
    /// was delivered, so at zero downstream demand at most the prefetch is queued. An
    /// error (upstream, inner, or a panic in `f`) is delivered at once and cancels
    /// upstream and the inner publisher; cancelling cancels both. A scalar inner
    /// publisher (`just`, `empty`, `error`: see
    /// [`Publisher::into_scalar`](spillway_core::Publisher::into_scalar)) is not
    /// subscribed: its signal takes its turn in order, at no subscription cost.
    ///
    /// ```text
    /// upstream:      -a---b-|
    /// inner a:        -1-2-|
    /// inner b:              -3-|   (subscribed when a completes)
    /// concat_map:    --1-2---3-|
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let all = range(1, 4).concat_map(|n| range(0, n)).collect().await.unwrap();
    /// assert_eq!(all, vec![0, 0, 1, 0, 1, 2]);
    /// # });
    /// ```
    fn concat_map<F, Q>(self, f: F) -> crate::ConcatMap<Self, F>
    where
        F: FnMut(Self::Item) -> Q + Send + 'static,
        Q: Publisher<Error = Self::Error>,
    {
        crate::ConcatMap::new(self, f)
    }

    /// Maps each item to a publisher with `f` and emits the items of the latest one only:
    /// a new upstream item cancels the current inner publisher and discards its queued
    /// items.
    ///
    /// Demand: requests unbounded demand upstream (each upstream item only replaces the
    /// inner publisher, it is never queued); requests a prefetch of 32 from the current
    /// inner publisher (see [`SwitchMap::prefetch`](crate::SwitchMap::prefetch)) and
    /// replenishes it once 75% was delivered, so at zero downstream demand at most the
    /// prefetch is queued. An error (upstream, current inner, or a panic in `f`) is
    /// delivered at once and cancels upstream and the inner publisher; cancelling cancels
    /// both. Completes when upstream and the last inner publisher have completed. A scalar
    /// inner publisher (`just`, `empty`, `error`: see
    /// [`Publisher::into_scalar`](spillway_core::Publisher::into_scalar)) is not
    /// subscribed: its item is queued as that of an inner publisher that completed at once.
    ///
    /// **Discard**: items of a replaced inner publisher not yet delivered are dropped.
    ///
    /// ```text
    /// upstream:     -a------b-------|
    /// inner a:       -1--2----3      (cancelled when b arrives)
    /// inner b:               -4--5-|
    /// switch_map:   --1--2----4--5--|
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// // Synchronous inners complete before the next upstream item: nothing is switched away.
    /// let all = range(1, 3).switch_map(|n| range(0, n)).collect().await.unwrap();
    /// assert_eq!(all, vec![0, 0, 1]);
    /// # });
    /// ```
    fn switch_map<F, Q>(self, f: F) -> crate::SwitchMap<Self, F>
    where
        F: FnMut(Self::Item) -> Q + Send + 'static,
        Q: Publisher<Error = Self::Error>,
    {
        crate::SwitchMap::new(self, f)
    }

    // ---- everyday transforms: filter_map .. do_finally ----

    /// Transforms each item with `f` and keeps the `Some` results.
    ///
    /// Demand: forwards downstream's requests; an item mapped to `None` uses no demand
    /// (through `try_on_next`), or is replaced with a `request(1)` upstream when the source
    /// counts every item (not when downstream's demand is unbounded). A panic in `f`
    /// cancels upstream and fails with [`Error::Panicked`](spillway_core::Error::Panicked).
    ///
    /// ```text
    /// upstream:               -1-2-3-4-|
    /// filter_map(even→x*10):  ---a---b-|    a=20 b=40
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let out = range(1, 5).filter_map(|x| (x % 2 == 0).then_some(x * 10));
    /// assert_eq!(out.collect().await.unwrap(), vec![20, 40]);
    /// # });
    /// ```
    fn filter_map<R, F>(self, f: F) -> crate::FilterMap<Self, F>
    where
        F: FnMut(Self::Item) -> Option<R> + Send + 'static,
        R: Send + 'static,
    {
        crate::FilterMap::new(self, f)
    }

    /// Transforms each item with a fallible `f`: `Ok` items go on, the first `Err`
    /// cancels upstream and fails the stream with `Error::User(e)` (the items before it
    /// were delivered). The synchronous counterpart of
    /// [`try_map_async`](Self::try_map_async); `f`'s error is the pipeline's error type
    /// (set it on an infallible source with [`map_error`](Self::map_error), or start from
    /// [`from_try_stream`](spillway_core::from_try_stream)).
    ///
    /// Demand: unchanged, every request is forwarded. A panic in `f` cancels upstream and
    /// fails with [`Error::Panicked`](spillway_core::Error::Panicked).
    ///
    /// ```text
    /// upstream:     -1-2-x-4-|
    /// try_map(n):   -1-2-#       # = Error::User(the parse error)
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// use spillway::Error;
    /// # futures::executor::block_on(async {
    /// let lines = from_try_stream(futures::stream::iter(
    ///     ["1", "2", "x", "4"].map(Ok::<_, String>),
    /// ));
    /// let parsed = lines.try_map(|l| l.parse::<u32>().map_err(|e| format!("{l:?}: {e}")));
    /// let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let result = parsed.do_on_next(move |x| log.lock().unwrap().push(*x)).collect().await;
    /// assert_eq!(*seen.lock().unwrap(), vec![1, 2]); // delivered before the error
    /// assert_eq!(result, Err(Error::User("\"x\": invalid digit found in string".to_string())));
    /// # });
    /// ```
    fn try_map<R, F>(self, f: F) -> crate::TryMap<Self, F>
    where
        F: FnMut(Self::Item) -> Result<R, Self::Error> + Send + 'static,
        R: Send + 'static,
    {
        crate::TryMap::new(self, f)
    }

    /// Keeps the items a fallible `predicate` accepts; the first `Err` cancels upstream
    /// and fails the stream with `Error::User(e)`.
    ///
    /// Demand: as [`filter`](Self::filter): a rejected item uses no demand. A panic in
    /// `predicate` cancels upstream and fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked).
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// use spillway::Error;
    /// # futures::executor::block_on(async {
    /// let checked = from_try_stream(futures::stream::iter([1, 2, 3, 99, 4].map(Ok::<u32, &str>)))
    ///     .try_filter(|x| if *x > 10 { Err("out of range") } else { Ok(x % 2 == 1) });
    /// assert_eq!(checked.collect().await, Err(Error::User("out of range")));
    /// # });
    /// ```
    fn try_filter<F>(self, predicate: F) -> crate::TryFilter<Self, F>
    where
        F: FnMut(&Self::Item) -> Result<bool, Self::Error> + Send + 'static,
    {
        crate::TryFilter::new(self, predicate)
    }

    /// Transforms each item with a fallible `f` and keeps the `Ok(Some)` results; the
    /// first `Err` cancels upstream and fails the stream with `Error::User(e)`.
    ///
    /// Demand: as [`filter_map`](Self::filter_map). A panic in `f` cancels upstream and
    /// fails with [`Error::Panicked`](spillway_core::Error::Panicked).
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// // Blank lines are skipped, numbers parsed, anything else is an error.
    /// let lines = from_try_stream(futures::stream::iter(["7", "", "8"].map(Ok::<_, String>)));
    /// let numbers = lines.try_filter_map(|l| match l.trim() {
    ///     "" => Ok(None),
    ///     t => t.parse::<u32>().map(Some).map_err(|e| e.to_string()),
    /// });
    /// assert_eq!(numbers.collect().await.unwrap(), vec![7, 8]);
    /// # });
    /// ```
    fn try_filter_map<R, F>(self, f: F) -> crate::TryFilterMap<Self, F>
    where
        F: FnMut(Self::Item) -> Result<Option<R>, Self::Error> + Send + 'static,
        R: Send + 'static,
    {
        crate::TryFilterMap::new(self, f)
    }

    /// Maps each item to an iterator and emits the iterators' items in order.
    ///
    /// Demand: requests **one** upstream item at a time, and only when the current
    /// iterator is exhausted and downstream has outstanding demand; the iterator is kept
    /// between downstream requests, so no more items are produced than requested. An
    /// upstream error is delivered at once (the rest of the current iterator is dropped);
    /// completion waits until the current iterator is drained. A panic in `f` or in the
    /// iterator cancels upstream and fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked); an upstream that sends an item
    /// it was not asked for fails with
    /// [`Error::ProtocolViolation`](spillway_core::Error::ProtocolViolation).
    ///
    /// ```text
    /// upstream:               -1------2---|
    /// flat_map_iter(0..x):    -a------a-b-|    a=0 b=1
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let out = range(1, 4).flat_map_iter(|n| 0..n).collect().await.unwrap();
    /// assert_eq!(out, vec![0, 0, 1, 0, 1, 2]);
    /// # });
    /// ```
    #[doc(alias = "flat_map_iterable")]
    #[doc(alias = "flatten")]
    fn flat_map_iter<I, F>(self, f: F) -> crate::FlatMapIter<Self, F>
    where
        F: FnMut(Self::Item) -> I + Send + 'static,
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send + 'static,
    {
        crate::FlatMapIter::new(self, f)
    }

    /// Emits a running accumulation: for each item, `acc = f(&acc, item)`, then a clone
    /// of `acc` (the initial value itself is not emitted).
    ///
    /// Demand: 1:1, downstream's requests go straight upstream. A panic in `f` cancels
    /// upstream and fails with [`Error::Panicked`](spillway_core::Error::Panicked).
    ///
    /// ```text
    /// upstream:        -1-2-3-|
    /// scan(0, a+x):    -1-3-6-|
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let sums = range(1, 4).scan(0, |acc, x| acc + x).collect().await.unwrap();
    /// assert_eq!(sums, vec![1, 3, 6]);
    /// # });
    /// ```
    fn scan<A, F>(self, initial: A, f: F) -> crate::Scan<Self, A, F>
    where
        A: Clone + Send + 'static,
        F: FnMut(&A, Self::Item) -> A + Send + 'static,
    {
        crate::Scan::new(self, initial, f)
    }

    /// Emits the first `n` items, then cancels upstream and completes.
    ///
    /// Demand: forwards downstream's requests but caps their total at `n`: `take(3)` under
    /// `request(10)` requests exactly 3 upstream. After the `n`-th item upstream is
    /// cancelled and downstream completes at once, without waiting for upstream;
    /// `take(0)` cancels upstream and completes right after subscribing.
    ///
    /// ```text
    /// upstream:   -1-2-3-4-5-|
    /// take(2):    -1-2|          (upstream cancelled at the 2nd item)
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// assert_eq!(range(0, 1_000_000).take(3).collect().await.unwrap(), vec![0, 1, 2]);
    /// # });
    /// ```
    #[doc(alias = "limit")]
    fn take(self, n: u64) -> crate::Take<Self> {
        crate::Take::new(self, n)
    }

    /// Emits the last `n` items of upstream, once it has completed (Reactor's `takeLast`,
    /// RxJS's `takeLast`).
    ///
    /// Demand: requests unbounded demand upstream once, keeps the last `n` items (the
    /// older ones are let go as newer ones arrive: that is the operator's meaning, not a
    /// drop), and at completion delivers them as downstream requests them, then
    /// completes. Nothing is emitted before upstream completes, so an endless upstream
    /// never emits. An upstream error is delivered at once and the kept items go with
    /// it (they would not be the last of a complete stream). `take_last(0)` emits
    /// nothing and completes with upstream.
    ///
    /// ```text
    /// upstream:       -1-2-3-4-|
    /// take_last(2):   ---------(34|)
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// assert_eq!(range(0, 10).take_last(3).collect().await.unwrap(), vec![7, 8, 9]);
    /// assert_eq!(range(0, 2).take_last(5).collect().await.unwrap(), vec![0, 1]);
    /// # });
    /// ```
    fn take_last(self, n: usize) -> crate::TakeLast<Self> {
        crate::TakeLast::new(self, n)
    }

    /// Emits items while `predicate` holds; at the first item for which it does not, drops
    /// that item, cancels upstream and completes.
    ///
    /// Demand: 1:1, downstream's requests go straight upstream. A panic in `predicate`
    /// cancels upstream and fails with [`Error::Panicked`](spillway_core::Error::Panicked).
    ///
    /// ```text
    /// upstream:          -1-2-5-3-|
    /// take_while(x<4):   -1-2-|        (5 dropped, upstream cancelled)
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let out = range(0, 100).take_while(|x| *x < 3).collect().await.unwrap();
    /// assert_eq!(out, vec![0, 1, 2]);
    /// # });
    /// ```
    fn take_while<F>(self, predicate: F) -> crate::TakeWhile<Self, F>
    where
        F: FnMut(&Self::Item) -> bool + Send + 'static,
    {
        crate::TakeWhile::new(self, predicate)
    }

    /// Emits items until `other` emits an item or completes; then cancels both and
    /// completes. An error of `other` fails the stream.
    ///
    /// Demand: downstream's requests go straight to upstream; `other` is subscribed first
    /// (so one that fires at once stops the stream before any item) with unbounded demand.
    /// Cancelling cancels both. Both sides' signals are serialized by a lock, so `other`
    /// may fire from any thread.
    ///
    /// ```text
    /// upstream:        -1-2-3-4-5-|
    /// other:           -------x
    /// take_until:      -1-2-3-|        (upstream and other cancelled)
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// // `other` completes at once: nothing gets through.
    /// let out = range(0, 10).take_until(empty::<(), _>()).collect().await.unwrap();
    /// assert!(out.is_empty());
    /// let all = range(0, 3).take_until(never::<(), _>()).collect().await.unwrap();
    /// assert_eq!(all, vec![0, 1, 2]);
    /// # });
    /// ```
    fn take_until<O>(self, other: O) -> crate::TakeUntil<Self, O>
    where
        O: Publisher<Error = Self::Error>,
    {
        crate::TakeUntil::new(self, other)
    }

    /// Drops items until `other` emits an item or completes, then passes every item
    /// (RxJS `skipUntil`, Reactor `skipUntilOther`). An error of `other` before that
    /// fails the stream; after it, `other` is cancelled and no longer matters.
    ///
    /// Demand: downstream's requests go straight to upstream; an item dropped while
    /// skipping does not use downstream's demand (a source on the drain loop is told so
    /// and sends the next one; any other gets a replacement `request(1)`), so downstream
    /// receives as many items as it asked for, counted from the opening. `other` is
    /// subscribed first (one that fires at once lets the first item through) with
    /// unbounded demand. Cancelling cancels both. Both sides' signals are serialized, so
    /// `other` may fire from any thread.
    ///
    /// ```text
    /// upstream:        -1-2-3-4-5-|
    /// other:           -----x
    /// skip_until:      -------4-5-|     (other cancelled at x)
    /// ```
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use spillway::prelude::*;
    /// use spillway_testkit::StepVerifier;
    /// // Ignore a sensor's readings during its warm-up of 1.1 s.
    /// let readings = interval(Duration::from_millis(250))?;
    /// let warm = interval(Duration::from_millis(1100))?.take(1);
    /// StepVerifier::with_virtual_time(readings.skip_until(warm), 3)
    ///     .expect_no_event_before(Duration::from_millis(1250))
    ///     .expect_next_seq([4, 5, 6]) // 0 to 3 came during the warm-up
    ///     .then_cancel()
    ///     .verify();
    /// # Ok::<(), spillway::ConfigError>(())
    /// ```
    fn skip_until<O>(self, other: O) -> crate::SkipUntil<Self, O>
    where
        O: Publisher<Error = Self::Error>,
    {
        crate::SkipUntil::new(self, other)
    }

    /// Drops the first `n` items.
    ///
    /// Demand: forwards downstream's requests; each skipped item uses no demand (through
    /// `try_on_next`), or is replaced with a `request(1)` upstream when the source counts
    /// every item: `skip(2)` under `request(1)` requests 1, then 1 per skipped item.
    ///
    /// ```text
    /// upstream:  -1-2-3-4-|
    /// skip(2):   -----3-4-|
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// assert_eq!(range(0, 5).skip(3).collect().await.unwrap(), vec![3, 4]);
    /// # });
    /// ```
    fn skip(self, n: u64) -> crate::Skip<Self> {
        crate::Skip::new(self, n)
    }

    /// Drops items while `predicate` holds, then emits every item (the predicate is not
    /// called again).
    ///
    /// Demand: as [`skip`](Self::skip): forwarded, with skipped items using no demand or
    /// replaced. A panic in `predicate` cancels upstream and fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked).
    ///
    /// ```text
    /// upstream:          -1-2-5-3-|
    /// skip_while(x<4):   -----5-3-|
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let out = from_iter([1, 2, 5, 3]).skip_while(|x| *x < 4).collect().await.unwrap();
    /// assert_eq!(out, vec![5, 3]);
    /// # });
    /// ```
    fn skip_while<F>(self, predicate: F) -> crate::SkipWhile<Self, F>
    where
        F: FnMut(&Self::Item) -> bool + Send + 'static,
    {
        crate::SkipWhile::new(self, predicate)
    }

    /// Drops an item equal to the one emitted just before it (consecutive duplicates).
    ///
    /// Demand: as [`skip`](Self::skip): forwarded, with dropped duplicates using no demand
    /// or replaced. The last item is kept (cloned) for the comparison.
    ///
    /// ```text
    /// upstream:                -1-1-2-2-1-|
    /// distinct_until_changed:  -1---2---1-|
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let out = from_iter([1, 1, 2, 2, 1]).distinct_until_changed().collect().await;
    /// assert_eq!(out.unwrap(), vec![1, 2, 1]);
    /// # });
    /// ```
    #[doc(alias = "dedup")]
    fn distinct_until_changed(self) -> crate::DistinctUntilChanged<Self>
    where
        Self::Item: Clone + PartialEq,
    {
        crate::DistinctUntilChangedByKey::new(self, Clone::clone)
    }

    /// Drops an item whose key equals the key of the item just before it.
    ///
    /// Demand: as [`distinct_until_changed`](Self::distinct_until_changed). A panic in
    /// `key` cancels upstream and fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked).
    ///
    /// ```text
    /// upstream:                        -a1-a2-b1-a3-|
    /// distinct_until_changed_by_key:   -a1----b1-a3-|   (key: the letter)
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let out = from_iter(["a1", "a2", "b1", "a3"])
    ///     .distinct_until_changed_by_key(|s| s.as_bytes()[0])
    ///     .collect()
    ///     .await;
    /// assert_eq!(out.unwrap(), vec!["a1", "b1", "a3"]);
    /// # });
    /// ```
    #[doc(alias = "dedup_by_key")]
    fn distinct_until_changed_by_key<K, F>(
        self,
        key: F,
    ) -> crate::DistinctUntilChangedByKey<Self, F>
    where
        F: FnMut(&Self::Item) -> K + Send + 'static,
        K: PartialEq + Send + 'static,
    {
        crate::DistinctUntilChangedByKey::new(self, key)
    }

    /// Drops an item that `equal(last, item)` finds equal to the last item emitted: as
    /// [`distinct_until_changed`](Self::distinct_until_changed) with your own "are
    /// equal" comparator (RxJS's `distinctUntilChanged(comparator)`). The comparison is
    /// with the last item *emitted*, so with a comparator that is not transitive
    /// ("differ by at most 1") a slow drift still emits once it is large enough.
    ///
    /// Demand: as [`distinct_until_changed`](Self::distinct_until_changed): forwarded,
    /// with dropped items using no demand or replaced. The last emitted item is kept
    /// (cloned) for the comparison. A panic in `equal` cancels upstream and fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked).
    ///
    /// ```text
    /// upstream:                               -1-2-3-9-8-|
    /// distinct_until_changed_by(|a-b| <= 1):  -1---3-9---|
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let out = from_iter([1, 2, 3, 9, 8])
    ///     .distinct_until_changed_by(|a: &i32, b: &i32| (a - b).abs() <= 1)
    ///     .collect()
    ///     .await;
    /// assert_eq!(out.unwrap(), vec![1, 3, 9]);
    /// # });
    /// ```
    #[doc(alias = "dedup_by")]
    fn distinct_until_changed_by<F>(self, equal: F) -> crate::DistinctUntilChangedBy<Self, F>
    where
        Self::Item: Clone,
        F: FnMut(&Self::Item, &Self::Item) -> bool + Send + 'static,
    {
        crate::DistinctUntilChangedBy::new(self, equal)
    }

    /// Drops an item whose key was seen before, anywhere earlier in the stream (RxJS's
    /// `distinct(keySelector)`, Reactor's `distinct(keySelector)`).
    ///
    /// Demand: as [`filter`](Self::filter): forwarded, with dropped items using no demand
    /// or replaced with a `request(1)` upstream. Every distinct key is remembered until
    /// the stream ends, so memory grows with the number of distinct keys: for an endless
    /// stream with many keys use [`distinct_by_key_bounded`](Self::distinct_by_key_bounded).
    /// A panic in `key` (or in the key's `Hash` or `Eq`) cancels upstream and fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked).
    ///
    /// ```text
    /// upstream:                -a1-b1-a2-c1-b2-|
    /// distinct_by_key(letter): -a1-b1----c1----|
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let out = from_iter(["a1", "b1", "a2", "c1", "b2"])
    ///     .distinct_by_key(|s| s.as_bytes()[0])
    ///     .collect()
    ///     .await;
    /// assert_eq!(out.unwrap(), vec!["a1", "b1", "c1"]);
    /// # });
    /// ```
    #[doc(alias = "distinct")]
    #[doc(alias = "unique_by")]
    fn distinct_by_key<K, F>(self, key: F) -> crate::DistinctByKey<Self, F>
    where
        F: FnMut(&Self::Item) -> K + Send + 'static,
        K: Eq + std::hash::Hash + Send + 'static,
    {
        crate::DistinctByKey::new(self, key)
    }

    /// As [`distinct_by_key`](Self::distinct_by_key), but remembers only the last
    /// `capacity` distinct keys: when a new key would make `capacity + 1`, the oldest
    /// (the first seen of those remembered) is forgotten, and **an item whose key was
    /// forgotten passes again**. A repeated key does not make its key younger. Memory is
    /// bounded by `capacity` keys (each kept twice: `K: Clone`).
    ///
    /// Demand: as [`distinct_by_key`](Self::distinct_by_key): forwarded, with dropped
    /// items using no demand or replaced. A panic in `key` cancels upstream and fails
    /// with [`Error::Panicked`](spillway_core::Error::Panicked).
    ///
    /// ```text
    /// upstream:                       -1-2-1-3-1-|
    /// distinct_by_key_bounded(id, 2): -1-2---3-1-|   (3 makes it forget 1)
    /// ```
    ///
    /// # Errors
    /// [`ConfigError`] if `capacity` is zero.
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let out = from_iter([1, 2, 1, 3, 1]).distinct_by_key_bounded(|x| *x, 2)?.collect();
    /// assert_eq!(out.await.unwrap(), vec![1, 2, 3, 1]);
    /// assert!(range(0, 1).distinct_by_key_bounded(|x| *x, 0).is_err());
    /// # Ok::<(), spillway::ConfigError>(())
    /// # }).unwrap();
    /// ```
    fn distinct_by_key_bounded<K, F>(
        self,
        key: F,
        capacity: usize,
    ) -> Result<crate::DistinctByKeyBounded<Self, F>, ConfigError>
    where
        F: FnMut(&Self::Item) -> K + Send + 'static,
        K: Eq + std::hash::Hash + Clone + Send + 'static,
    {
        crate::DistinctByKeyBounded::new(self, key, capacity)
    }

    /// Emits each item paired with the one before it, as `(previous, current)` (RxJS's
    /// `pairwise`). The first item produces nothing; each later item is cloned once, to
    /// be the first half of the next pair.
    ///
    /// Demand: 1:1, except that the first item uses no demand: it is replaced with a
    /// `request(1)` upstream when the source counts every item (unless downstream's demand
    /// is unbounded), as a filter's rejected item. So `n` pairs need `n + 1` items:
    /// `request(2)` asks upstream for 2, then 1 more after the first item.
    ///
    /// ```text
    /// upstream:   -1-2-3-4-|
    /// pairwise:   ---a-b-c-|    a=(1,2) b=(2,3) c=(3,4)
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let pairs = range(1, 5).pairwise().collect().await.unwrap();
    /// assert_eq!(pairs, vec![(1, 2), (2, 3), (3, 4)]);
    /// assert!(range(0, 1).pairwise().collect().await.unwrap().is_empty());
    /// # });
    /// ```
    #[doc(alias = "pairs")]
    fn pairwise(self) -> crate::Pairwise<Self>
    where
        Self::Item: Clone,
    {
        crate::Pairwise::new(self)
    }

    /// Emits only the item at `index` (counting from 0), then cancels upstream and
    /// completes; if upstream completes before reaching it, completes empty (Reactor's
    /// `elementAt`, RxJS's `elementAt` without a default).
    ///
    /// Demand: at downstream's first request (whatever its size), requests exactly
    /// `index + 1` upstream, once: the skipped items are part of that request and are not
    /// replaced, and later requests go nowhere. With zero downstream demand nothing is
    /// requested. An upstream error before `index` is passed on.
    ///
    /// ```text
    /// upstream:        -1-2-3-4-|
    /// element_at(2):   -----3|        (upstream cancelled at the 3rd item)
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// assert_eq!(range(10, 20).element_at(3).collect().await.unwrap(), vec![13]);
    /// assert!(range(0, 2).element_at(5).collect().await.unwrap().is_empty());
    /// # });
    /// ```
    fn element_at(self, index: u64) -> crate::ElementAt<Self> {
        crate::ElementAt::new(self, index)
    }

    /// As [`element_at`](Self::element_at), but emits `default` if upstream completes
    /// before reaching `index` (Reactor's `elementAt(index, default)`). It is
    /// `element_at(index)` followed by [`default_if_empty`](Self::default_if_empty).
    ///
    /// Demand: as [`element_at`](Self::element_at); when upstream completes too early,
    /// `default` is delivered as soon as downstream has demand, then the stream
    /// completes. An upstream error is passed on, without the default.
    ///
    /// ```text
    /// upstream:               -1-2-|
    /// element_at_or(5, 0):    -----(0|)
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// assert_eq!(range(0, 2).element_at_or(5, 99).collect().await.unwrap(), vec![99]);
    /// assert_eq!(range(0, 9).element_at_or(5, 99).collect().await.unwrap(), vec![5]);
    /// # });
    /// ```
    fn element_at_or(self, index: u64, default: Self::Item) -> crate::ElementAtOr<Self> {
        crate::DefaultIfEmpty::new(crate::ElementAt::new(self, index), default)
    }

    /// The first item, or `default` if upstream completes without one (Reactor
    /// `next()` / `defaultIfEmpty`, RxJS `first(undefined, default)`). Without a default,
    /// [`element_at(0)`](Self::element_at) completes empty instead.
    ///
    /// Demand: at downstream's first request, asks upstream for one item and cancels it
    /// once that item arrives.
    ///
    /// ```text
    /// upstream:      --a--b--|
    /// first_or(x):   --(a|)          (upstream cancelled)
    /// upstream:      -----|
    /// first_or(x):   -----(x|)
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// assert_eq!(range(3, 10).first_or(0).collect().await.unwrap(), vec![3]);
    /// assert_eq!(range(0, 0).first_or(7).collect().await.unwrap(), vec![7]);
    /// # });
    /// ```
    fn first_or(self, default: Self::Item) -> crate::FirstOr<Self> {
        crate::DefaultIfEmpty::new(crate::ElementAt::new(self, 0), default)
    }

    /// The last item, or `default` if upstream completes without one (Reactor
    /// `last(default)`, RxJS `last(undefined, default)`). Without a default,
    /// [`take_last(1)`](Self::take_last) completes empty instead; to await the last item
    /// as a value, the [`last`](spillway_core::PublisherExt::last) sink is shorter.
    ///
    /// Demand: requests unbounded demand upstream (only the completion says which item
    /// is last) and holds one item.
    ///
    /// ```text
    /// upstream:     --a--b--|
    /// last_or(x):   --------(b|)
    /// upstream:     -----|
    /// last_or(x):   -----(x|)
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// assert_eq!(range(3, 10).last_or(0).collect().await.unwrap(), vec![9]);
    /// assert_eq!(range(0, 0).last_or(7).collect().await.unwrap(), vec![7]);
    /// # });
    /// ```
    fn last_or(self, default: Self::Item) -> crate::LastOr<Self> {
        crate::DefaultIfEmpty::new(crate::TakeLast::new(self, 1), default)
    }

    /// One `bool`: whether some item satisfies `predicate` (Reactor `any`, RxJS `some`).
    /// The first item that does settles it: `true` is emitted and upstream cancelled;
    /// completion without one emits `false`.
    ///
    /// Demand: at downstream's first request, requests unbounded demand upstream.
    ///
    /// ```text
    /// upstream:         -1-2-4-5-|
    /// any(is_even):     ---(t|)          (upstream cancelled)
    /// ```
    ///
    /// A panic in `predicate` cancels upstream and fails the stream with
    /// [`Error::Panicked`](spillway_core::Error::Panicked).
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// assert_eq!(range(0, 10).any(|x| *x > 5).collect().await.unwrap(), vec![true]);
    /// assert_eq!(range(0, 0).any(|_| true).collect().await.unwrap(), vec![false]);
    /// # });
    /// ```
    #[doc(alias = "some")]
    fn any<F>(self, predicate: F) -> crate::Any<Self, F>
    where
        F: FnMut(&Self::Item) -> bool + Send + 'static,
    {
        crate::Any::new(self, predicate)
    }

    /// One `bool`: whether every item satisfies `predicate` (Reactor `all`, RxJS
    /// `every`). The first item that does not settles it: `false` is emitted and upstream
    /// cancelled; completion without one emits `true` (also for an empty upstream).
    ///
    /// Demand: at downstream's first request, requests unbounded demand upstream.
    ///
    /// ```text
    /// upstream:         -2-4-5-6-|
    /// all(is_even):     -----(f|)        (upstream cancelled)
    /// ```
    ///
    /// A panic in `predicate` cancels upstream and fails the stream with
    /// [`Error::Panicked`](spillway_core::Error::Panicked).
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// assert_eq!(range(0, 10).all(|x| *x < 5).collect().await.unwrap(), vec![false]);
    /// assert_eq!(range(0, 0).all(|_| false).collect().await.unwrap(), vec![true]);
    /// # });
    /// ```
    #[doc(alias = "every")]
    fn all<F>(self, predicate: F) -> crate::All<Self, F>
    where
        F: FnMut(&Self::Item) -> bool + Send + 'static,
    {
        crate::All::new(self, predicate)
    }

    /// One `u64`, the number of items, at completion (Reactor and RxJS `count`), as an
    /// operator: for counting inside a pipeline (each window, each group). To await the
    /// count as a value, the [`count`](spillway_core::PublisherExt::count) sink is shorter.
    ///
    /// Demand: at downstream's first request, requests unbounded demand upstream.
    ///
    /// ```text
    /// upstream:        -a-b-c-|
    /// count_items:     -------(3|)
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let counts = range(0, 10).count_items().collect().await.unwrap();
    /// assert_eq!(counts, vec![10]);
    /// # });
    /// ```
    #[doc(alias = "count")]
    fn count_items(self) -> crate::CountItems<Self> {
        crate::CountItems::new(self)
    }

    /// Emits `items` first, then the upstream's items.
    ///
    /// Demand: downstream's demand goes to the items first; upstream is subscribed only
    /// once they are all delivered, and then asked for whatever downstream requested and
    /// has not received yet (one subscription across both, with demand carried over).
    ///
    /// ```text
    /// upstream:             -3-4-|
    /// start_with([1, 2]):   12-3-4-|
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let out = range(3, 5).start_with([1, 2]).collect().await.unwrap();
    /// assert_eq!(out, vec![1, 2, 3, 4]);
    /// # });
    /// ```
    #[doc(alias = "prepend")]
    fn start_with<I>(self, items: I) -> crate::StartWith<Self, I::IntoIter>
    where
        Self: Send + 'static,
        I: IntoIterator<Item = Self::Item>,
        I::IntoIter: Send + 'static,
    {
        crate::StartWith::new(self, items.into_iter())
    }

    /// Emits `item` if upstream completes without emitting anything.
    ///
    /// Demand: downstream's requests go straight upstream; when upstream completes empty,
    /// `item` is delivered as soon as downstream has demand (at once if it has some), then
    /// the stream completes. An upstream error is passed on, without the default.
    ///
    /// ```text
    /// upstream:              ---|
    /// default_if_empty(x):   ---x|
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// assert_eq!(range(0, 0).default_if_empty(7).collect().await.unwrap(), vec![7]);
    /// assert_eq!(range(0, 2).default_if_empty(7).collect().await.unwrap(), vec![0, 1]);
    /// # });
    /// ```
    #[doc(alias = "or_else")]
    fn default_if_empty(self, item: Self::Item) -> crate::DefaultIfEmpty<Self> {
        crate::DefaultIfEmpty::new(self, item)
    }

    /// Combines all items with `f` into one, emitted when upstream completes; an empty
    /// upstream completes without an item.
    ///
    /// Demand: requests nothing until downstream requests; at its first request, requests
    /// unbounded demand upstream once (the one result needs every item). An upstream that
    /// sends items before downstream requested fails with
    /// [`Error::ProtocolViolation`](spillway_core::Error::ProtocolViolation) at completion.
    /// See [`PublisherExt::fold`](spillway_core::prelude::PublisherExt::fold) for the
    /// awaiting sink.
    ///
    /// ```text
    /// upstream:         -1-2-3-|
    /// reduce(a+b):      -------6|
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// assert_eq!(range(1, 5).reduce(|a, b| a + b).collect().await.unwrap(), vec![10]);
    /// # });
    /// ```
    fn reduce<F>(self, f: F) -> crate::Reduce<Self, F>
    where
        F: FnMut(Self::Item, Self::Item) -> Self::Item + Send + 'static,
    {
        crate::Reduce::new(self, f)
    }

    /// Calls `f` with each item before passing it on (Reactor's `doOnNext`).
    ///
    /// Demand: 1:1, downstream's requests go straight upstream. A panic in `f` cancels
    /// upstream and fails with [`Error::Panicked`](spillway_core::Error::Panicked). All the
    /// `do_*` taps are one operator, [`Tap`](crate::Tap).
    ///
    /// ```text
    /// upstream:     -1-2-|
    /// do_on_next:   -1-2-|     (f(&1), f(&2))
    /// ```
    ///
    /// # Examples
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let s = seen.clone();
    /// range(0, 3).do_on_next(move |x| s.lock().unwrap().push(*x)).collect().await.unwrap();
    /// assert_eq!(*seen.lock().unwrap(), vec![0, 1, 2]);
    /// # });
    /// ```
    #[doc(alias = "inspect")]
    #[doc(alias = "tap")]
    fn do_on_next<F>(self, f: F) -> crate::Tap<Self, crate::transform::tap::OnNext<F>>
    where
        F: FnMut(&Self::Item) + Send + 'static,
    {
        crate::Tap::new(self, crate::transform::tap::OnNext(f))
    }

    /// Calls `f` with every `request(n)` downstream makes, before passing it upstream.
    ///
    /// Demand: unchanged, every request is forwarded. `f` runs on the requesting thread. A
    /// panic in `f` is reported at the next upstream signal: upstream is cancelled and
    /// downstream fails with [`Error::Panicked`](spillway_core::Error::Panicked) (the
    /// request itself is still forwarded, so that such a signal comes).
    ///
    /// ```text
    /// downstream:      request(2) ........ request(1)
    /// do_on_request:   f(2) ............... f(1)
    /// ```
    ///
    /// # Examples
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let asked = Arc::new(AtomicU64::new(0));
    /// let a = asked.clone();
    /// let first = range(0, 10).do_on_request(move |n| { a.fetch_add(1, Ordering::Relaxed); })
    ///     .take(2).collect().await.unwrap();
    /// assert_eq!(first, vec![0, 1]);
    /// assert!(asked.load(Ordering::Relaxed) >= 1);
    /// # });
    /// ```
    #[doc(alias = "inspect_request")]
    fn do_on_request<F>(self, f: F) -> crate::Tap<Self, crate::transform::tap::OnRequest<F>>
    where
        F: Fn(u64) + Send + Sync + 'static,
    {
        crate::Tap::new(
            self,
            crate::transform::tap::OnRequest(std::sync::Arc::new(f)),
        )
    }

    /// Calls `f` when downstream cancels, before cancelling upstream.
    ///
    /// Demand: unchanged, every request is forwarded. `f` runs on the cancelling thread; a
    /// panic in it is caught and ignored (cancel must return normally, rule 3.15), and
    /// upstream is cancelled all the same.
    ///
    /// ```text
    /// upstream:      -1-2-3-...
    /// downstream:    -1-2-X        (cancel → f(), then upstream cancelled)
    /// ```
    ///
    /// # Examples
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let cancelled = Arc::new(AtomicBool::new(false));
    /// let c = cancelled.clone();
    /// let out = range(0, 10).do_on_cancel(move || c.store(true, Ordering::SeqCst)).take(1);
    /// assert_eq!(out.collect().await.unwrap(), vec![0]);
    /// assert!(cancelled.load(Ordering::SeqCst), "take(1) cancelled upstream");
    /// # });
    /// ```
    fn do_on_cancel<F>(self, f: F) -> crate::Tap<Self, crate::transform::tap::OnCancel<F>>
    where
        F: Fn() + Send + Sync + 'static,
    {
        crate::Tap::new(
            self,
            crate::transform::tap::OnCancel(std::sync::Arc::new(f)),
        )
    }

    /// Calls `f` when upstream completes, before passing the completion on.
    ///
    /// Demand: unchanged, every request is forwarded. A panic in `f` turns the completion
    /// into [`Error::Panicked`](spillway_core::Error::Panicked).
    ///
    /// ```text
    /// upstream:         -1-|
    /// do_on_complete:   -1-|     (f() just before |)
    /// ```
    ///
    /// # Examples
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let done = Arc::new(AtomicBool::new(false));
    /// let d = done.clone();
    /// range(0, 2).do_on_complete(move || d.store(true, Ordering::SeqCst)).collect().await.unwrap();
    /// assert!(done.load(Ordering::SeqCst));
    /// # });
    /// ```
    fn do_on_complete<F>(self, f: F) -> crate::Tap<Self, crate::transform::tap::OnComplete<F>>
    where
        F: FnMut() + Send + 'static,
    {
        crate::Tap::new(self, crate::transform::tap::OnComplete(f))
    }

    /// Calls `f` with upstream's error, before passing it on.
    ///
    /// Demand: unchanged, every request is forwarded. A panic in `f` replaces the error
    /// with [`Error::Panicked`](spillway_core::Error::Panicked).
    ///
    /// ```text
    /// upstream:      -1-#
    /// do_on_error:   -1-#     (f(&e) just before #)
    /// ```
    ///
    /// # Examples
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let seen = Arc::new(Mutex::new(None));
    /// let s = seen.clone();
    /// let out = error::<u8, _>("boom")
    ///     .do_on_error(move |e| *s.lock().unwrap() = e.clone().into_user())
    ///     .collect()
    ///     .await;
    /// assert!(out.is_err());
    /// assert_eq!(*seen.lock().unwrap(), Some("boom"));
    /// # });
    /// ```
    fn do_on_error<F>(self, f: F) -> crate::Tap<Self, crate::transform::tap::OnError<F>>
    where
        F: FnMut(&spillway_core::Error<Self::Error>) + Send + 'static,
    {
        crate::Tap::new(self, crate::transform::tap::OnError(f))
    }

    /// Calls `f` exactly once when the stream is over for any reason: after downstream
    /// received `on_complete` or `on_error`, or when downstream cancels (after upstream
    /// was cancelled), with the [`Termination`](crate::Termination) that happened first.
    ///
    /// Demand: unchanged, every request is forwarded. A panic in `f` is caught and
    /// ignored: the stream is already over.
    ///
    /// ```text
    /// upstream:     -1-2-|
    /// do_finally:   -1-2-|     f(Complete) after |
    /// ```
    ///
    /// # Examples
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use spillway::operators::Termination;
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let how = Arc::new(Mutex::new(None));
    /// let h = how.clone();
    /// range(0, 2).do_finally(move |t| *h.lock().unwrap() = Some(t)).collect().await.unwrap();
    /// assert_eq!(*how.lock().unwrap(), Some(Termination::Complete));
    /// # });
    /// ```
    #[doc(alias = "finally")]
    fn do_finally<F>(self, f: F) -> crate::Tap<Self, crate::transform::tap::Finally<F>>
    where
        F: FnOnce(crate::Termination) + Send + 'static,
    {
        crate::Tap::new(self, crate::transform::tap::Finally::new(f))
    }

    /// Fails with [`Error::Timeout`](spillway_core::Error::Timeout) `{ stage: "timeout",
    /// after }` when upstream leaves outstanding demand unanswered for `after`: before the
    /// first item and between items.
    ///
    /// Demand: 1:1, downstream's requests go straight upstream. The clock runs only while
    /// downstream has outstanding demand, so a slow consumer (zero demand) never causes a
    /// timeout; it restarts on each item. Timers run on the scheduler of the subscriber's
    /// [`Context`](spillway_core::Context) (or the one given to
    /// [`on`](crate::Timeout::on)) and are cancelled on each item, on the terminal signal and
    /// on cancel. On timeout upstream is cancelled. An upstream that emits without demand
    /// fails the stage with [`Error::ProtocolViolation`](spillway_core::Error::ProtocolViolation).
    ///
    /// ```text
    /// upstream:        -1-2--------3-|
    /// timeout(3 ticks): -1-2---#           # = Error::Timeout, upstream cancelled
    /// ```
    ///
    /// # Errors
    /// [`ConfigError`] if `after` is zero.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use spillway::prelude::*;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), spillway::ConfigError> {
    /// let out = never::<u8, ()>().timeout(Duration::from_secs(1))?.collect().await;
    /// assert!(matches!(out, Err(spillway::Error::Timeout { stage: "timeout", .. })));
    /// # Ok(()) }
    /// ```
    fn timeout(self, after: std::time::Duration) -> Result<crate::Timeout<Self>, ConfigError> {
        crate::Timeout::new(self, after)
    }

    /// [`timeout`](Self::timeout) with a deadline of its own for the first item: `first`
    /// until the first item arrives (a connection that takes a while to open), then
    /// `each` between items (RxJS `timeout({ first, each })`, Reactor
    /// `timeout(firstTimeout, nextTimeoutFactory)`). The error says which one ran out
    /// (`Error::Timeout { after }`).
    ///
    /// Demand: as [`timeout`](Self::timeout) (1:1; the clock runs only while downstream
    /// has outstanding demand).
    ///
    /// ```text
    /// upstream:                     ------1-2------3-|
    /// timeout_first(8, each 4):     ------1-2---#          # = Timeout { after: 4 }
    /// ```
    ///
    /// # Errors
    /// [`ConfigError`] if `first` or `each` is zero.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use spillway::prelude::*;
    /// use spillway_testkit::StepVerifier;
    /// let slow_start = interval(Duration::from_secs(5))?; // first item at 5 s, then every 5 s
    /// // 10 s for the first item, 6 s for each next one: never fires.
    /// StepVerifier::with_virtual_time(
    ///     slow_start.timeout_first(Duration::from_secs(10), Duration::from_secs(6))?, 3)
    ///     .expect_next_seq([0, 1, 2])
    ///     .then_cancel()
    ///     .verify();
    /// # Ok::<(), spillway::ConfigError>(())
    /// ```
    fn timeout_first(
        self,
        first: std::time::Duration,
        each: std::time::Duration,
    ) -> Result<crate::Timeout<Self>, ConfigError> {
        crate::Timeout::new(self, each)?.first(first)
    }

    /// [`timeout`](Self::timeout) that switches to `fallback` instead of failing (Reactor
    /// `timeout(Duration, Publisher)`, RxJS `timeout({ each, with })`): upstream is
    /// cancelled and `fallback` subscribed, and its items have no deadline. For a deadline
    /// of its own for the first item, add [`.first(d)`](crate::Timeout::first).
    ///
    /// Demand: 1:1 to upstream; at the switch, `fallback` is asked for the demand still
    /// outstanding (none requested twice, none lost), then 1:1. Upstream's late signals
    /// after the switch are ignored.
    ///
    /// ```text
    /// upstream:                  -1-2--------3-|
    /// fallback:                          -8-9-|
    /// timeout_with(4, fallback): -1-2------8-9-|    (upstream cancelled at the switch)
    /// ```
    ///
    /// # Errors
    /// [`ConfigError`] if `after` is zero.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use spillway::prelude::*;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), spillway::ConfigError> {
    /// // A primary that never answers; the cached copy after 2 s.
    /// let primary = never::<&str, std::convert::Infallible>();
    /// let cached = from_iter(["cached a", "cached b"]);
    /// let out = primary.timeout_with(Duration::from_secs(2), cached)?.collect().await.unwrap();
    /// assert_eq!(out, vec!["cached a", "cached b"]);
    /// # Ok(()) }
    /// ```
    fn timeout_with<F>(
        self,
        after: std::time::Duration,
        fallback: F,
    ) -> Result<crate::Timeout<Self, F>, ConfigError>
    where
        F: Publisher<Item = Self::Item, Error = Self::Error> + Send + 'static,
    {
        Ok(crate::Timeout::new(self, after)?.with_fallback(fallback))
    }

    /// Resubscribes to (a clone of) upstream after an error, up to `times` times; the
    /// last error goes downstream. Items already delivered are delivered again by the new
    /// subscription (the publisher starts over).
    ///
    /// Demand: downstream's requests go to the current upstream; the demand still
    /// outstanding when an upstream fails is requested from the next one, so no item is
    /// requested twice and none is lost. `Error::InvalidRequest` (downstream's
    /// `request(0)`) is never retried. Resubscriptions that happen synchronously run in a
    /// loop, not recursively.
    ///
    /// ```text
    /// upstream (each subscription):  -1-2-#
    /// retry(1):                      -1-2--1-2-#
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
    /// # futures::executor::block_on(async {
    /// let attempts = Arc::new(AtomicU32::new(0));
    /// let a = attempts.clone();
    /// let flaky = defer(move || {
    ///     let n = a.fetch_add(1, Ordering::SeqCst);
    ///     from_try_stream(futures::stream::iter(vec![Ok(n), if n < 2 { Err("flaky") } else { Ok(9) }]))
    /// });
    /// assert_eq!(flaky.retry(2).collect().await.unwrap(), vec![0, 1, 2, 9]);
    /// # });
    /// ```
    fn retry(self, times: u64) -> crate::Retry<Self>
    where
        Self: Clone + Send + 'static,
    {
        crate::Retry::new(self, times)
    }

    /// Resubscribes to (a clone of) upstream after each error for which `predicate`
    /// returns true; otherwise the error goes downstream.
    ///
    /// Demand: as [`retry`](Self::retry): outstanding demand carries over to each new
    /// subscription. A panic in `predicate` fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked) `{ stage: "retry_when" }`.
    ///
    /// ```text
    /// upstream (each subscription):  -1-#(User)    then -1-#(Timeout)
    /// retry_when(is_user):           -1--1-#(Timeout)
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::{prelude::*, Error};
    /// # futures::executor::block_on(async {
    /// let out = error::<u8, &str>("fatal").retry_when(|e| *e != Error::User("fatal")).collect().await;
    /// assert_eq!(out, Err(Error::User("fatal")));
    /// # });
    /// ```
    fn retry_when<F>(self, predicate: F) -> crate::RetryWhen<Self, F>
    where
        Self: Clone + Send + 'static,
        F: FnMut(&spillway_core::Error<Self::Error>) -> bool + Send + 'static,
    {
        crate::RetryWhen::new(self, predicate)
    }

    /// Resubscribes to (a clone of) upstream after an error, waiting an exponentially
    /// growing, jittered delay first (see [`Backoff`](crate::Backoff)); after
    /// `max_retries` retries the last error goes downstream.
    ///
    /// Demand: as [`retry`](Self::retry): outstanding demand carries over to each new
    /// subscription; nothing is requested while waiting. The delays run on the scheduler of
    /// the subscriber's [`Context`](spillway_core::Context) (or the one given to
    /// [`on`](crate::RetryBackoff::on)); cancelling during a delay cancels the timer. The
    /// jitter comes from a generator seeded with [`Backoff::seed`](crate::Backoff::seed), so
    /// the delays are reproducible.
    ///
    /// ```text
    /// upstream (each subscription):           -1-#
    /// retry_backoff(first 2, factor 2, no jitter, 2 retries):
    ///                                         -1-#--1-#----1-#  (waits 2, then 4)
    /// ```
    ///
    /// # Errors
    /// [`ConfigError`] if `first` is zero, `max < first`, `factor < 1` or `jitter` is
    /// outside `0..=1`.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use spillway::{operators::Backoff, prelude::*, Error};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), spillway::ConfigError> {
    /// let start = tokio::time::Instant::now();
    /// let backoff = Backoff { first: Duration::from_secs(1), jitter: 0.0, max_retries: 2, ..Backoff::default() };
    /// let out = error::<u8, &str>("down").retry_backoff(backoff)?.collect().await;
    /// assert_eq!(out, Err(Error::User("down")));
    /// assert_eq!(start.elapsed(), Duration::from_secs(3)); // 1 s, then 2 s
    /// # Ok(()) }
    /// ```
    fn retry_backoff(
        self,
        backoff: crate::Backoff,
    ) -> Result<crate::RetryBackoff<Self>, ConfigError>
    where
        Self: Clone + Send + 'static,
    {
        crate::RetryBackoff::new(self, backoff)
    }

    /// On an upstream error, switches to the fallback publisher `f(error)`; the error type
    /// becomes the fallback's.
    ///
    /// Demand: downstream's requests go to upstream, then to the fallback, which is asked
    /// for the demand still outstanding at the switch (none requested twice, none lost).
    /// `Error::InvalidRequest` (downstream's `request(0)`) is passed on, not resumed. A
    /// panic in `f` fails with [`Error::Panicked`](spillway_core::Error::Panicked)
    /// `{ stage: "on_error_resume" }`.
    ///
    /// ```text
    /// upstream:               -1-2-#
    /// fallback:                     -7-8-|
    /// on_error_resume(_ => fallback): -1-2--7-8-|
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let s = from_try_stream(futures::stream::iter(vec![Ok(1u64), Err("down")]));
    /// let out = s.on_error_resume(|_| range(7, 9)).collect().await.unwrap();
    /// assert_eq!(out, vec![1, 7, 8]);
    /// # });
    /// ```
    fn on_error_resume<F, P2>(self, f: F) -> crate::OnErrorResume<Self, F>
    where
        F: FnOnce(spillway_core::Error<Self::Error>) -> P2 + Send + 'static,
        P2: Publisher<Item = Self::Item> + 'static,
    {
        crate::OnErrorResume::new(self, f)
    }

    /// On an upstream error, emits the one item `f(error)` (once downstream has demand for
    /// it), then completes.
    ///
    /// Demand: downstream's requests go straight upstream; the item made from the error
    /// waits for demand. A panic in `f` fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked) `{ stage: "on_error_return" }`.
    ///
    /// ```text
    /// upstream:             -1-2-#
    /// on_error_return(_=>0): -1-2-(0|)
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let s = from_try_stream(futures::stream::iter(vec![Ok(1), Err("down")]));
    /// assert_eq!(s.on_error_return(|_| 0).collect().await.unwrap(), vec![1, 0]);
    /// # });
    /// ```
    fn on_error_return<F>(self, f: F) -> crate::OnErrorReturn<Self, F>
    where
        F: FnOnce(spillway_core::Error<Self::Error>) -> Self::Item + Send + 'static,
    {
        crate::OnErrorReturn::new(self, f)
    }

    /// Transforms the user error with `f`, changing the pipeline's error type; flow-control
    /// errors (`Timeout`, `Overflow`, …) pass unchanged.
    ///
    /// Demand: 1:1, downstream's requests go straight upstream. A panic in `f` becomes
    /// [`Error::Panicked`](spillway_core::Error::Panicked) `{ stage: "map_error" }`.
    ///
    /// ```text
    /// upstream:          -1-#(e)
    /// map_error(wrap):   -1-#(wrap(e))
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::{prelude::*, Error};
    /// # futures::executor::block_on(async {
    /// let out = error::<u8, &str>("io").map_error(|e| format!("while loading: {e}")).collect().await;
    /// assert_eq!(out, Err(Error::User("while loading: io".to_string())));
    /// # });
    /// ```
    fn map_error<F, E2>(self, f: F) -> crate::MapError<Self, F>
    where
        F: FnOnce(Self::Error) -> E2 + Send + 'static,
        E2: Send + 'static,
    {
        crate::MapError::new(self, f)
    }

    /// Converts the user error with [`Into`]: `map_error(Into::into)`.
    ///
    /// Demand: 1:1, downstream's requests go straight upstream.
    ///
    /// ```text
    /// upstream:     -1-#(e)
    /// err_into:     -1-#(e.into())
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::{prelude::*, Error};
    /// # futures::executor::block_on(async {
    /// let out = error::<u8, &str>("bad").err_into::<String>().collect().await;
    /// assert_eq!(out, Err(Error::User("bad".to_string())));
    /// # });
    /// ```
    fn err_into<E2>(self) -> crate::ErrInto<Self, E2>
    where
        Self::Error: Into<E2>,
        E2: Send + 'static,
    {
        crate::ErrInto::new(self)
    }

    /// Moves the rest of the pipeline to `scheduler`: upstream's items are queued (at most
    /// `prefetch` of them) and delivered downstream — `on_next`, `on_complete`,
    /// `on_error` and everything below this stage — by a drain loop running on
    /// `scheduler`, typically a [`Worker`](spillway_core::Worker) (one dedicated thread).
    ///
    /// Demand: requests `prefetch` upstream at subscribe time, then `prefetch -
    /// prefetch / 4` each time that many items (75 %) were delivered downstream, so
    /// upstream is never asked for more than the queue holds; downstream's own demand is
    /// respected, and at zero downstream demand items wait in the queue (upstream pauses
    /// once it is full).
    ///
    /// ```text
    /// upstream (thread A):   -1-2-3-|
    /// publish_on(B, 2):      --1-2-3-|      same items, delivered on thread B
    /// requests upstream:     2 at subscribe, then 2 after every 2 delivered
    /// ```
    ///
    /// Which thread runs what (compare [`subscribe_on`](Self::subscribe_on)):
    ///
    /// | stage | `p.publish_on(w, n)` |
    /// |---|---|
    /// | `subscribe` of upstream, `on_subscribe` of downstream | the caller of `subscribe` |
    /// | a synchronous source's emission, operators above | the first `n`: the caller of `subscribe`; then `w` (replenishing requests are made from `w`) — add `subscribe_on` to pin them |
    /// | `on_next` / `on_complete` / `on_error` below | `w`, always |
    /// | downstream's `request` | records demand on the caller's thread; delivery on `w` |
    /// | downstream's `cancel` | cancels upstream on the caller's thread if the drain is idle; otherwise the drain does, on `w`, after the item in progress (every call upstream comes from one side at a time: Reactive Streams rule 2.7) |
    ///
    /// The hand-off costs no lock, no allocation and no task per item: the upstream side
    /// pushes into a bounded lock-free ring (sized to the prefetch) and wakes `w` only
    /// when the drain had parked; the drain delivers runs of items as one batch and
    /// settles demand once per run.
    ///
    /// **Errors are delayed**: an upstream error (or completion) is delivered after the
    /// items queued before it, as Reactor's `publishOn` does by default; with no
    /// downstream demand it waits behind them. An upstream that emits more than was
    /// requested fails the stage with [`Error::Overflow`](spillway_core::Error::Overflow)
    /// (`capacity` = `prefetch`), after the queued items, and is cancelled.
    ///
    /// **Discard**: nothing is dropped while the pipeline runs. Items still queued when
    /// downstream cancels are released (dropped) with the subscription.
    ///
    /// A panic in the downstream subscriber cancels upstream, releases the queue and
    /// propagates to the scheduler (a `Worker` survives it).
    ///
    /// # Errors
    /// [`ConfigError`] if `prefetch` is 0.
    ///
    /// # Examples
    /// ```
    /// use spillway::{prelude::*, Worker};
    /// # futures::executor::block_on(async {
    /// let worker = Worker::new("consumer");
    /// let seen = range(0, 3)
    ///     .publish_on(worker, 16)?
    ///     .map(|x| (x, std::thread::current().name().map(String::from)))
    ///     .collect()
    ///     .await
    ///     .unwrap();
    /// assert_eq!(seen.len(), 3);
    /// assert!(seen.iter().all(|(_, name)| name.as_deref() == Some("consumer")));
    /// # Ok::<(), spillway::ConfigError>(())
    /// # }).unwrap();
    /// ```
    fn publish_on<S>(
        self,
        scheduler: S,
        prefetch: usize,
    ) -> Result<crate::PublishOn<Self, S>, ConfigError>
    where
        S: spillway_core::Scheduler,
    {
        crate::PublishOn::new(self, scheduler, prefetch)
    }

    /// Names the executor that runs the async stages above this point (`from_stream`,
    /// `map_async`, `then`, ...) after their wake-ups, instead of the terminal future the
    /// pipeline ends in (or, when it ends in a plain subscriber, instead of the context's
    /// scheduler: tokio's runtime inside one, a shared timer thread outside).
    ///
    /// A waker never runs pipeline code itself: it schedules the stage's next pass, and
    /// `spawner` runs it as a task, so the stages between the async stage and the next
    /// thread boundary run on `spawner`'s threads. Use it for a pipeline that ends in
    /// [`subscribe_fn`](spillway_core::PublisherExt::subscribe_fn) or a hand-written
    /// subscriber that no one polls, or to keep async stages off the awaiting task.
    ///
    /// Demand: passes every signal through unchanged (1:1, batches too).
    ///
    /// # Examples
    /// ```
    /// use std::sync::{mpsc, Arc};
    /// use spillway::prelude::*;
    ///
    /// let pool = futures::executor::ThreadPool::new().unwrap();
    /// let (tx, rx) = mpsc::channel();
    /// let _h = from_stream(futures::stream::iter(0..3))
    ///     .then(|x| async move { x * 2 })
    ///     .poll_on(Arc::new(pool))
    ///     .subscribe_fn(move |x| tx.send(x).unwrap());
    /// assert_eq!(rx.iter().take(3).collect::<Vec<_>>(), vec![0, 2, 4]);
    /// ```
    fn poll_on(self, spawner: std::sync::Arc<dyn spillway_core::Spawner>) -> crate::PollOn<Self> {
        crate::PollOn::new(self, spawner)
    }

    /// Subscribes to upstream on `scheduler`, and makes every later request there: a
    /// synchronous source (`range`, `from_iter`, `generate`...) then emits on
    /// `scheduler`, and so do the operators between it and this stage.
    ///
    /// Demand: passes downstream's requests upstream unchanged (1:1); a request made on
    /// another thread is handed to `scheduler` as a task (one task per `request` call,
    /// so it pairs well with a batching stage below, such as `publish_on`). `cancel`
    /// goes straight upstream, on the caller's thread, even while a request runs on
    /// `scheduler`: a source that emits inside an endless request there would never see
    /// a cancel queued behind it. That makes this the one stage whose calls upstream may
    /// overlap (a cancel during a request; Reactive Streams rule 2.7), as Reactor's
    /// `subscribeOn` does; the sources and stages of this crate accept it.
    ///
    /// ```text
    /// upstream:          -1-2-3-|   subscribed, requested and emitted on w
    /// subscribe_on(w):   -1-2-3-|
    /// ```
    ///
    /// Which thread runs what, compared with [`publish_on`](Self::publish_on):
    ///
    /// | stage | `p.subscribe_on(w)` | `p.publish_on(w, n)` |
    /// |---|---|---|
    /// | `subscribe` of upstream | `w` | the caller |
    /// | `on_subscribe` of downstream | `w` | the caller |
    /// | a synchronous source's emission, operators above | `w` | the caller, then `w` |
    /// | `on_next` / terminal below | wherever upstream emits: `w` for a synchronous source | `w` |
    /// | downstream's `request` | hops to `w` | records demand; drain on `w` |
    ///
    /// Only the position of `publish_on` matters (everything *below* it moves);
    /// `subscribe_on` affects the source wherever it sits, as in Reactor.
    ///
    /// # Examples
    /// ```
    /// use spillway::{prelude::*, Worker};
    /// # futures::executor::block_on(async {
    /// let worker = Worker::new("source");
    /// let threads = generate((), |_| Some(std::thread::current().name().map(String::from)))
    ///     .take(3)
    ///     .subscribe_on(worker)
    ///     .collect()
    ///     .await
    ///     .unwrap();
    /// assert_eq!(threads, vec![Some("source".to_string()); 3]);
    /// # });
    /// ```
    fn subscribe_on<S>(self, scheduler: S) -> crate::SubscribeOn<Self, S>
    where
        S: spillway_core::Scheduler,
    {
        crate::SubscribeOn::new(self, scheduler)
    }
    /// Shares one upstream subscription among many subscribers: returns a connectable,
    /// cloneable [`Publish`](crate::Publish); each clone's `subscribe` adds a subscriber,
    /// and [`connect`](crate::Publish::connect) subscribes upstream (once). See
    /// [`share`](Self::share) for the reference-counted form.
    ///
    /// Demand: requests the prefetch (256, see [`Publish::prefetch`](crate::Publish::prefetch))
    /// upstream and requests more as items are released, in batches of 75% of it; an item
    /// is released when every subscriber has received it, so the slowest subscriber paces
    /// upstream (faster ones run ahead by at most the prefetch). A subscriber with zero
    /// demand receives nothing and, once the prefetch is used up, pauses upstream for all.
    /// Errors and completion reach every subscriber after the items queued for it; a late
    /// subscriber sees only the items that arrive after it (alone, it also gets the items
    /// held while nobody was subscribed); a subscriber cancelling affects no other one.
    /// After the connection ended, late subscribers receive its terminal signal:
    /// `subscribe` consumed the upstream, so a `Publish` connects at most once.
    ///
    /// ```text
    /// upstream:      --1--2--3--4--|
    /// subscriber A:  ^-1--2--3--4--|
    /// subscriber B:  ------^-3--4--|     (subscribed after 2)
    /// ```
    ///
    /// **Discard**: nothing is dropped while the upstream honours demand. On
    /// [`Connection::disconnect`](crate::Connection::disconnect), the undelivered items
    /// are dropped as [`DropReason::Discarded`](crate::DropReason::Discarded) and the
    /// subscribers fail with [`Error::Rejected`](spillway_core::Error::Rejected). An
    /// upstream that emits beyond the requested demand fails every subscriber with
    /// [`Error::ProtocolViolation`](spillway_core::Error::ProtocolViolation) at once (the
    /// undelivered items and the excess item are discarded).
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// use spillway_testkit::TestSubscriber;
    /// let shared = range(0, 3).publish();
    /// let (a, ha) = TestSubscriber::<u64, std::convert::Infallible>::new(u64::MAX);
    /// let (b, hb) = TestSubscriber::new(1);
    /// shared.clone().subscribe(a);
    /// shared.clone().subscribe(b);
    /// shared.connect();
    /// hb.request(10);
    /// ha.assert_items(&[0, 1, 2]);
    /// hb.assert_items(&[0, 1, 2]);
    /// hb.assert_complete();
    /// ```
    fn publish(self) -> crate::Publish<Self>
    where
        Self::Item: Clone,
        Self::Error: Clone,
    {
        crate::Publish::new(self, 0)
    }

    /// [`publish`](Self::publish) with reference counting (`publish().ref_count(1)`):
    /// subscribes upstream when the first subscriber arrives and cancels it when the last
    /// one leaves; use [`Publish::ref_count`](crate::Publish::ref_count) to wait for `n`
    /// subscribers.
    ///
    /// Demand: as [`publish`](Self::publish): the prefetch upstream, replenished at 75%,
    /// paced by the slowest subscriber; at zero demand of one subscriber, the others run
    /// ahead by at most the prefetch, then upstream pauses.
    ///
    /// ```text
    /// upstream:      --1--2--3--4--5--
    /// subscriber A:  ^-1--2--3--!           (! cancel)
    /// subscriber B:  ---^-2--3--4--!        (last one out: upstream cancelled)
    /// ```
    ///
    /// **Discard**: when the last subscriber cancels, the undelivered items are dropped as
    /// [`DropReason::Discarded`](crate::DropReason::Discarded); the connection is over,
    /// and later subscribers receive [`Error::Rejected`](spillway_core::Error::Rejected)
    /// (`subscribe` consumed the upstream, so there is no reconnection). After upstream
    /// completed or failed, later subscribers receive that terminal signal.
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// use spillway_testkit::TestSubscriber;
    /// let shared = range(0, 100).share();
    /// let (a, ha) = TestSubscriber::<u64, std::convert::Infallible>::new(2);
    /// shared.clone().subscribe(a); // connects
    /// ha.assert_items(&[0, 1]);
    /// ha.cancel(); // the last subscriber: upstream is cancelled
    /// assert_eq!(shared.subscriber_count(), 0);
    /// ```
    fn share(self) -> crate::RefCount<Self>
    where
        Self::Item: Clone,
        Self::Error: Clone,
    {
        crate::RefCount::share(self)
    }

    /// A [`publish`](Self::publish) that also replays the last `history` items to late
    /// subscribers: a subscriber arriving after items were delivered starts `history`
    /// items back, then follows live. (Items that arrived while nobody was subscribed
    /// were never delivered: as with `publish`, the first subscriber gets all of them.)
    ///
    /// Demand: as [`publish`](Self::publish) (the prefetch upstream, replenished at 75%,
    /// paced by the slowest subscriber); replayed items are delivered only as the late
    /// subscriber requests them, and the replay history does not count against the
    /// prefetch.
    ///
    /// ```text
    /// upstream:       --1--2--3--4--|
    /// replay(2), A:   ^-1--2--3--4--|
    /// late B:         ---------^(23)4--|    (replays 2 and 3 on subscription)
    /// ```
    ///
    /// **Discard**: as [`publish`](Self::publish). Replayed items outlive completion: a
    /// subscriber arriving after upstream completed receives the last `history` items,
    /// then completion.
    ///
    /// # Errors
    /// [`ConfigError`] if `history` is 0 (that is [`publish`](Self::publish)).
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// use spillway_testkit::TestSubscriber;
    /// let cached = range(0, 5).replay(2)?;
    /// let (a, ha) = TestSubscriber::<u64, std::convert::Infallible>::new(u64::MAX);
    /// cached.clone().subscribe(a);
    /// cached.connect();
    /// ha.assert_items(&[0, 1, 2, 3, 4]);
    /// let (late, hl) = TestSubscriber::new(1);
    /// cached.clone().subscribe(late);
    /// hl.assert_items(&[3]); // honours demand
    /// hl.request(5);
    /// hl.assert_items(&[3, 4]);
    /// hl.assert_complete();
    /// # Ok::<(), spillway::ConfigError>(())
    /// ```
    fn replay(self, history: usize) -> Result<crate::Publish<Self>, ConfigError>
    where
        Self::Item: Clone,
        Self::Error: Clone,
    {
        crate::multicast::replay::replay(self, history)
    }

    /// Requests upstream only what a shared [`Budget`](crate::Budget) allows: the seed's
    /// *global backpressure* across many pipelines.
    ///
    /// Demand: requests upstream at most downstream's outstanding demand, and only as many
    /// items as it gets units from the budget (one unit per requested item, returned when
    /// the item is delivered downstream, or when it can no longer come); at zero
    /// downstream demand it requests nothing. When the budget is exhausted the pipeline
    /// waits in the budget's FIFO queue and is served round-robin as units return.
    /// Lossless: nothing is dropped while the pipeline runs; an upstream error is
    /// delivered after the buffered items.
    ///
    /// ```text
    /// budget(2) shared by A and B, both downstreams request(3):
    /// A upstream:   -a-b-----c-|      A takes 2 units, B waits in line
    /// B upstream:   -----x-y---z|     B is served as A's items are delivered
    /// in use:        1 2 1 2 2 1 0     never above 2
    /// ```
    ///
    /// **Discard**: only on failure or cancellation: items buffered when downstream
    /// cancels, when the budget is [emergency-stopped](crate::Budget::emergency_stop) or
    /// when upstream breaks the protocol are dropped as
    /// [`DropReason::Discarded`](crate::DropReason::Discarded). An emergency stop
    /// cancels upstream and delivers `Error::Rejected { stage: "budget", reason:
    /// "emergency stop" }` at once; an item upstream sends without a unit (more than
    /// requested) fails the pipeline with `Error::ProtocolViolation`.
    ///
    /// A panic in `on_drop` never unwinds into the caller (the producer, `subscribe`,
    /// `request`, `cancel`): the stage cancels upstream and fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked) at once, unless it was ending
    /// already (a cancel, an earlier failure, upstream's error: that end stands, see
    /// [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// use spillway::operators::Budget;
    /// # futures::executor::block_on(async {
    /// let budget = Budget::new(8)?;
    /// let total = range(0, 20).within_budget(&budget).merge_with(range(0, 30).within_budget(&budget));
    /// assert_eq!(total.count().await.unwrap(), 50);
    /// assert!(budget.stats().peak_in_use <= 8);
    /// assert_eq!(budget.stats().in_use, 0);
    /// # Ok::<(), spillway::ConfigError>(())
    /// # }).unwrap();
    /// ```
    fn within_budget(self, budget: &crate::Budget) -> crate::WithinBudget<Self> {
        crate::WithinBudget::new(self, budget)
    }

    /// Obeys a [`KillSwitch`](crate::KillSwitch): when it is shut down, cancels upstream
    /// and completes downstream; when it is aborted, cancels upstream and fails downstream
    /// with `Error::Aborted { stage: "kill_switch", reason }`. The items that passed the
    /// stage before are still delivered by the stages below it, so placed right after the
    /// source, a shutdown is a graceful stop (no more input; what is in flight finishes);
    /// placed at the end, it stops at once.
    ///
    /// Demand: unchanged, every request is forwarded. The terminal signal of a command
    /// that arrives while an item is being delivered follows that item; a command from
    /// inside downstream's `on_next` is served once it returns. An item that reaches the
    /// stage after the command is upstream's, cancelled: it is not taken. A pipeline subscribed
    /// after the switch was triggered ends right after `on_subscribe`.
    ///
    /// ```text
    /// upstream:          -1-2-3-4-5-...
    /// kill_switch(s):    -1-2-3|          s.shutdown() after 3: upstream cancelled
    /// ```
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// use spillway::operators::KillSwitch;
    /// # futures::executor::block_on(async {
    /// // Graceful: no more input after the shutdown, the work in flight completes.
    /// let switch = KillSwitch::new();
    /// let stop = switch.clone();
    /// let processed = generate(0u64, |n| { *n += 1; Some(*n) })
    ///     .kill_switch(&switch)
    ///     .do_on_next(move |n| if *n == 3 { stop.shutdown() })
    ///     .map_async(4, |n| async move { n * 10 })?
    ///     .collect()
    ///     .await
    ///     .unwrap();
    /// assert_eq!(processed, vec![10, 20, 30]);
    /// # Ok::<(), spillway::ConfigError>(())
    /// # }).unwrap();
    /// ```
    fn kill_switch(self, switch: &crate::KillSwitch) -> crate::WithKillSwitch<Self> {
        crate::WithKillSwitch::new(self, switch)
    }

    /// Names the pipeline above this point, so that it can be looked into while it runs:
    /// [`Named::handle`](crate::Named::handle) gives a [`PipelineHandle`](crate::PipelineHandle)
    /// that walks its stages (Reactor's `Scannable`), each with its state, the demand
    /// outstanding below it and its statistics, and that reports the named stage's own
    /// demand and items passed. With the `tracing` feature the pipeline gets a span, and
    /// events for pressure-level changes, drops (rate-limited summaries) and its error,
    /// naming the stage; with the `metrics` feature every stage's statistics are exported
    /// through the `metrics` facade.
    ///
    /// Demand: unchanged, every signal is forwarded.
    ///
    /// **Which stages are seen.** The stages with statistics (the buffers, the lossy and
    /// rate-control stages, batching, `pressure`, `load_shed`, `circuit_breaker`,
    /// `within_budget`, the time-based family) that subscribe while this stage subscribes
    /// its upstream, on the same thread or past a `subscribe_on`. Not seen: stages without
    /// statistics (`map`, `filter`, ...); the hot sources (`publish`, multicast) and what is
    /// above them; the inner publishers of `flat_map`, `concat_map`, `switch_map` and the
    /// resubscriptions of `retry` above the named stage, subscribed while items flow
    /// (a few may be seen when a source emits before `subscribe` returns: do not rely on
    /// either); pipelines subscribed by the subscriber itself. A stage inside a second
    /// named pipeline belongs to the inner one only.
    ///
    /// **Cost.** Outside a named pipeline, nothing but a thread-local read per stage
    /// subscription and a predictable branch per signal. Inside one, each stage seen
    /// counts its requests and deliveries; with the features, each count also goes to its
    /// metric handles (made once, at subscribe) and each drop to a rate limiter.
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// use spillway::operators::{BufferOverflow, StageState};
    /// use spillway_testkit::TestSubscriber;
    ///
    /// let pipeline = range(0, 1_000)
    ///     .on_backpressure_buffer(100, BufferOverflow::DropOldest)?
    ///     .map(|x| x * 2)
    ///     .named("ingest");
    /// let handle = pipeline.handle();
    /// let (subscriber, consumer) = TestSubscriber::<u64, std::convert::Infallible>::new(10);
    /// pipeline.subscribe(subscriber); // a slow consumer: it asked for 10 only
    ///
    /// let buffer = &handle.stages()[0];
    /// assert_eq!((buffer.operator, buffer.state), ("on_backpressure_buffer", StageState::Running));
    /// assert_eq!(buffer.buffered(), 100);
    /// assert_eq!(buffer.stats.unwrap().dropped(), 890);
    /// assert_eq!((handle.passed(), handle.demand()), (10, 0));
    /// consumer.cancel();
    /// assert_eq!(handle.stages()[0].state, StageState::Cancelled);
    /// # Ok::<(), spillway::ConfigError>(())
    /// ```
    fn named(self, name: impl Into<std::sync::Arc<str>>) -> crate::Named<Self> {
        crate::Named::new(self, name.into())
    }

    /// Passes items while a shared [`CircuitBreaker`](crate::CircuitBreaker) is closed,
    /// refuses them while it is open: the seed's *circuit breakers: stop entirely when
    /// the system is overwhelmed*.
    ///
    /// Demand: 1:1, downstream's requests go straight upstream; a shed item is replaced
    /// by a request for one more (unless downstream's demand is unbounded), so shedding
    /// never stalls a bounded consumer. Nothing is held.
    ///
    /// ```text
    /// upstream:           -1-2-3-4-5-6-|
    /// breaker:            C---O-----H---     (C closed, O open, H half-open, 1 trial)
    /// circuit_breaker(Shed): -1-2-----5---|  3,4 shed (open), 6 shed (trial in flight)
    /// circuit_breaker(Fail): -1-2-#           # = Rejected{circuit_breaker, "circuit open"}
    /// ```
    ///
    /// **Discard**: a refused item is counted in
    /// [`stats`](crate::CircuitBreakerOp::stats) as
    /// [`DropReason::Shed`](crate::DropReason::Shed) and passed to
    /// [`on_drop`](crate::CircuitBreakerOp::on_drop), in both modes; with
    /// [`BreakerMode::Fail`](crate::BreakerMode::Fail) upstream is then cancelled and
    /// downstream gets `Error::Rejected { stage: "circuit_breaker", reason }`. Completion
    /// and errors pass through at once.
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// use spillway::operators::{BreakerConfig, BreakerMode, CircuitBreaker};
    /// # futures::executor::block_on(async {
    /// let breaker = CircuitBreaker::new(BreakerConfig { failure_threshold: 2, ..Default::default() })?;
    /// let b = breaker.clone();
    /// let out = range(0, 10)
    ///     .circuit_breaker(&breaker, BreakerMode::Shed)
    ///     .map(move |x| {
    ///         if x >= 3 { b.record_failure() } else { b.record_success() } // a failing service
    ///         x
    ///     })
    ///     .collect()
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![0, 1, 2, 3, 4]); // opened after the second failure
    /// # Ok::<(), spillway::ConfigError>(())
    /// # }).unwrap();
    /// ```
    fn circuit_breaker(
        self,
        breaker: &crate::CircuitBreaker,
        mode: crate::BreakerMode,
    ) -> crate::CircuitBreakerOp<Self> {
        crate::CircuitBreakerOp::new(self, breaker, mode)
    }

    /// A bounded buffer that, when full, sheds the lowest-priority item: the seed's
    /// *load shedding: discard low-priority data when necessary*.
    ///
    /// Demand: requests unbounded demand upstream once and holds up to `capacity` items
    /// for downstream, delivered in **arrival order** as downstream requests them
    /// (priority decides only what is shed, never the order); at zero downstream demand
    /// the buffer fills and then sheds.
    ///
    /// ```text
    /// load_shed(2, priority = value), no demand until the end:
    /// upstream:     -5-1-7-3-|
    /// buffer:       [5][5,1][5,7][5,7]     1 shed for 7, then 3 (lowest) shed itself
    /// downstream (request 2 after |):  ---------(57|)
    /// ```
    ///
    /// **Discard**: when an item arrives and the buffer is full, the item with the
    /// lowest priority among the buffered ones and the incoming one is dropped as
    /// [`DropReason::Shed`](crate::DropReason::Shed) and passed to
    /// [`on_drop`](crate::LoadShed::on_drop): the incoming item if its priority is lower
    /// than or equal to the lowest buffered one (first come, first kept), otherwise the
    /// oldest of the lowest buffered ones. At completion the buffered items are flushed
    /// (delivered as downstream requests them) before `on_complete`; an upstream error
    /// also waits behind them. Items still buffered when downstream cancels, or when
    /// `priority` panics (which fails the pipeline with `Error::Panicked`), are dropped
    /// as `Discarded`.
    ///
    /// A panic in `on_drop` never unwinds into the caller (the producer, `subscribe`,
    /// `request`, `cancel`): the stage cancels upstream and fails with
    /// [`Error::Panicked`](spillway_core::Error::Panicked) at once, unless it was ending
    /// already (a cancel, an earlier failure, upstream's error: that end stands, see
    /// [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
    ///
    /// # Errors
    /// [`ConfigError`] if `capacity` is zero.
    ///
    /// # Examples
    /// ```
    /// use spillway::prelude::*;
    /// use spillway_testkit::TestSubscriber;
    /// let shed = from_iter(vec![5u32, 1, 7, 3]).load_shed(2, |x| *x)?;
    /// let stats = shed.stats();
    /// let (sub, h) = TestSubscriber::new(0);
    /// shed.subscribe(sub);
    /// h.request(10);
    /// h.assert_items(&[5, 7]);
    /// h.assert_complete();
    /// assert_eq!(stats.snapshot().dropped(), 2);
    /// # Ok::<(), spillway::ConfigError>(())
    /// ```
    fn load_shed<K, F>(
        self,
        capacity: usize,
        priority: F,
    ) -> Result<crate::LoadShed<Self, F>, ConfigError>
    where
        F: FnMut(&Self::Item) -> K + Send + 'static,
        K: Ord + Send + 'static,
    {
        crate::LoadShed::new(self, capacity, priority)
    }

    /// Paces upstream requests at a rate that follows the consumer (AIMD): the seed's
    /// *adaptive speed* and *slow down gradually*.
    ///
    /// Demand: never requests more than downstream's outstanding demand, and at most one
    /// item per tick of a clock running at the current rate (items per second, on the
    /// scheduler of the subscriber's [`Context`](spillway_core::Context) unless pinned
    /// with [`on`](crate::AdaptiveRate::on)); one token may be banked, so the first
    /// request after a pause goes at once. At zero downstream demand nothing is
    /// requested. At the end of each `window` the rate is adjusted: if some tick found
    /// downstream without demand (the consumer is behind), or a
    /// [watched](crate::AdaptiveRate::watch_pressure) buffer's pressure is high, it is
    /// multiplied by `decrease_factor` (down to `min`); if ticks found downstream waiting
    /// for items, it rises by `increase` (up to `max`). Lossless: it only delays
    /// requests, never drops; completion and errors pass as soon as the requested items
    /// have been delivered.
    ///
    /// ```text
    /// rate 100/s (one tick every 10 ms), downstream requests 3 at t=0:
    /// upstream requests: (1)-(1)-(1)           (t = 0, 10, 20 ms)
    /// downstream:        a---b---c
    /// ```
    ///
    /// # Errors
    /// [`ConfigError`] unless `0 < min <= initial <= max` (finite), `increase > 0`,
    /// `0 < decrease_factor < 1` and `window > 0`.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use spillway::prelude::*;
    /// use spillway::operators::AdaptiveRateConfig;
    /// use spillway_testkit::{TestSubscriber, VirtualScheduler};
    ///
    /// let vs = VirtualScheduler::new();
    /// let paced = range(0, 1_000_000).adaptive_rate(AdaptiveRateConfig {
    ///     min: 1.0, max: 1000.0, initial: 10.0, increase: 10.0, decrease_factor: 0.5,
    ///     window: Duration::from_millis(100),
    /// })?;
    /// let rate = paced.rate();
    /// let (sub, h) = TestSubscriber::<u64, std::convert::Infallible>::with_scheduler(u64::MAX, vs.clone());
    /// paced.subscribe(sub);
    /// vs.advance_by(Duration::from_secs(5));
    /// assert!(rate.current() > 10.0); // an eager consumer: the rate went up
    /// h.cancel();
    /// # Ok::<(), spillway::ConfigError>(())
    /// ```
    fn adaptive_rate(
        self,
        config: crate::AdaptiveRateConfig,
    ) -> Result<crate::AdaptiveRate<Self>, ConfigError> {
        crate::AdaptiveRate::new(self, config)
    }
}

impl<P: Publisher> OperatorExt for P {}
