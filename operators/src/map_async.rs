//! `map_async`: run an async function per item, `concurrency` at a time, results in input
//! order. Also the shared engine of `map_async_unordered`, `then` and `try_map_async`.
//!
//! The futures are polled by the stage's drain loop, as core's `from_stream` polls its
//! stream: on the thread that requests from the stage or delivers to it, and, after a
//! future's wake-up, by the pipeline's terminal future (or its executor; see
//! `spillway_core::driver`). A waker only schedules that pass; nothing runs inside it.
//!
//! When upstream fails, the futures in flight finish and their results go out (as demand
//! allows) before the error, unless the stage was built with `abort_on_error`.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context as TaskContext, Poll};

use spillway_core::drain::{self, DrainHandle, Pulled, Source};
use spillway_core::{
    ConfigError, Context, Error, Publisher, SharedSubscription, Stage, Subscriber,
};

use crate::support::{self, DrainSlot, StageName, UpstreamSlot};

const STAGE: &str = "map_async";

/// Publisher for the [`map_async`](crate::OperatorExt::map_async) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct MapAsync<P, F> {
    upstream: P,
    f: F,
    limits: Limits,
}

/// How many items a `map_async`-family stage holds: `concurrency` futures at most, plus up
/// to `queue` finished results waiting for downstream demand.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) concurrency: usize,
    pub(crate) queue: usize,
    /// On an upstream error, drop the futures in flight instead of finishing them.
    pub(crate) abort_on_error: bool,
}

impl Limits {
    /// `concurrency` futures and, by default, as many queued results.
    pub(crate) fn new(stage: Stage, concurrency: usize) -> Result<Limits, ConfigError> {
        if concurrency == 0 {
            return Err(ConfigError::new(
                stage,
                "the concurrency must be at least 1",
            ));
        }
        Ok(Limits {
            concurrency,
            queue: concurrency,
            abort_on_error: false,
        })
    }

    /// The total: requested-and-not-received + running + finished-and-not-emitted never
    /// exceeds it.
    fn total(self) -> u64 {
        (self.concurrency as u64).saturating_add(self.queue as u64)
    }
}

impl<P, F> MapAsync<P, F> {
    pub(crate) fn new(upstream: P, concurrency: usize, f: F) -> Result<Self, ConfigError> {
        Ok(MapAsync {
            upstream,
            f,
            limits: Limits::new(STAGE, concurrency)?,
        })
    }

    /// Sets how many finished results may wait for downstream demand (default: the
    /// concurrency). In ordered mode this includes results that finished ahead of an
    /// earlier, slower one. `0` is allowed: finished results then occupy a concurrency
    /// slot until they are emitted.
    pub fn max_queued(mut self, queue: usize) -> Self {
        self.limits.queue = queue;
        self
    }

    /// On an upstream error, drops the futures in flight and sends the error at once.
    /// By default they finish first and their results go out ahead of the error (so a
    /// future that never finishes holds the error back: abort, or bound it with a timeout).
    ///
    /// ```
    /// use futures::StreamExt;
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let never_done = |x: u32| async move {
    ///     futures::future::pending::<()>().await;
    ///     x
    /// };
    /// let source = from_try_stream(futures::stream::iter(vec![Ok(1), Err("bad")]));
    /// let results: Vec<_> = source
    ///     .map_async(2, never_done)
    ///     .unwrap()
    ///     .abort_on_error()
    ///     .into_stream(4)
    ///     .collect()
    ///     .await;
    /// // Item 1's future was in flight when the error came: dropped, the error at once.
    /// assert_eq!(results.len(), 1);
    /// assert!(results[0].is_err());
    /// # });
    /// ```
    pub fn abort_on_error(mut self) -> Self {
        self.limits.abort_on_error = true;
        self
    }
}

struct Named;
impl StageName for Named {
    const STAGE: Stage = STAGE;
}

impl<P, F, Fut> Publisher for MapAsync<P, F>
where
    P: Publisher,
    F: FnMut(P::Item) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    type Item = Fut::Output;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = Fut::Output, Error = P::Error>,
    {
        subscribe::<_, _, _, _, Named, _>(self.upstream, self.f, self.limits, true, Ok, subscriber);
    }
}

impl<P: fmt::Debug, F> fmt::Debug for MapAsync<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapAsync")
            .field("upstream", &self.upstream)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Turns a future's output into an item or the stage's failure.
pub(crate) type Convert<O, R, E> = fn(O) -> Result<R, Error<E>>;

/// Subscribes `subscriber` to `upstream` through an async stage: `f` turns each item into a
/// future; results go out in input order (`ordered`) or as they finish.
pub(crate) fn subscribe<P, F, Fut, R, K, S>(
    upstream: P,
    f: F,
    limits: Limits,
    ordered: bool,
    convert: Convert<Fut::Output, R, P::Error>,
    subscriber: S,
) where
    P: Publisher,
    F: FnMut(P::Item) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    R: Send + 'static,
    K: StageName,
    S: Subscriber<Item = R, Error = P::Error>,
{
    let context = subscriber.context();
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            incoming: VecDeque::new(),
            requested: 0,
            end: None,
            upstream_done: false,
            failed: None,
            closed: false,
            subscribed: false,
        }),
        upstream: UpstreamSlot::default(),
        drain: DrainSlot::default(),
        limits,
    });
    drain::start(
        AsyncSource::<Fut, R, P::Error, K> {
            shared: Arc::clone(&shared),
            slots: VecDeque::new(),
            finished: VecDeque::new(),
            running: 0,
            ordered,
            convert,
            _stage: PhantomData,
        },
        subscriber,
    );
    upstream.subscribe(AsyncUpstream::<_, _, _, _, K> {
        shared,
        f,
        context,
        done: false,
        _marker: PhantomData,
    });
}

struct Inner<Fut, E> {
    /// Futures made by the upstream side, not yet taken by the drain.
    incoming: VecDeque<Pin<Box<Fut>>>,
    /// Requested from upstream and not yet received.
    requested: u64,
    /// Upstream's terminal signal, until it goes downstream: it waits for the futures in
    /// flight (an error goes at once with `abort_on_error`).
    end: Option<Result<(), Error<E>>>,
    /// Upstream sent its terminal signal (stays set after `end` is taken).
    upstream_done: bool,
    /// A failure of the upstream side (panic in `f`, protocol violation): at once.
    failed: Option<Error<E>>,
    /// Downstream cancelled or the stage terminated.
    closed: bool,
    subscribed: bool,
}

struct Shared<Fut, E> {
    inner: Mutex<Inner<Fut, E>>,
    upstream: UpstreamSlot,
    drain: DrainSlot,
    limits: Limits,
}

impl<Fut, E> Shared<Fut, E> {
    fn lock(&self) -> MutexGuard<'_, Inner<Fut, E>> {
        support::lock(&self.inner)
    }
}

enum Slot<Fut, R> {
    Running(Pin<Box<Fut>>),
    Ready(R),
}

/// The downstream side, run by the drain loop: owns and polls the futures.
struct AsyncSource<Fut: Future, R, E, K> {
    shared: Arc<Shared<Fut, E>>,
    /// Running futures (and, in ordered mode, results waiting behind an earlier future).
    slots: VecDeque<Slot<Fut, R>>,
    /// Unordered mode: finished results, in completion order.
    finished: VecDeque<R>,
    running: usize,
    ordered: bool,
    convert: Convert<Fut::Output, R, E>,
    _stage: PhantomData<fn() -> K>,
}

impl<Fut, R, E, K> AsyncSource<Fut, R, E, K>
where
    Fut: Future,
    K: StageName,
{
    /// Takes a finished result that may go out now.
    fn take_ready(&mut self) -> Option<R> {
        if self.ordered {
            if matches!(self.slots.front(), Some(Slot::Ready(_))) {
                if let Some(Slot::Ready(r)) = self.slots.pop_front() {
                    return Some(r);
                }
            }
            None
        } else {
            self.finished.pop_front()
        }
    }

    /// Under one lock: a failure to deliver at once (the upstream side's own, a panic in
    /// `f` or a protocol violation, or upstream's error when the stage aborts on errors),
    /// else adopts the futures the upstream side made.
    fn adopt(&mut self) -> Option<Error<E>> {
        let mut inner = self.shared.lock();
        if let Some(e) = Self::failure(&mut inner, self.shared.limits) {
            return Some(e);
        }
        self.running += inner.incoming.len();
        self.slots
            .extend(inner.incoming.drain(..).map(Slot::Running));
        None
    }

    /// Polls every running future with the drain's waker.
    fn poll_running(&mut self, cx: &mut TaskContext<'_>) -> Result<(), Error<E>> {
        let mut i = 0;
        while i < self.slots.len() {
            let Slot::Running(fut) = &mut self.slots[i] else {
                i += 1;
                continue;
            };
            let polled = catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx)));
            match polled {
                Ok(Poll::Pending) => i += 1,
                Ok(Poll::Ready(out)) => {
                    self.running -= 1;
                    let r = (self.convert)(out)?;
                    if self.ordered {
                        self.slots[i] = Slot::Ready(r);
                        i += 1;
                    } else {
                        self.slots.remove(i);
                        self.finished.push_back(r);
                    }
                }
                Err(payload) => return Err(Error::from_panic(K::STAGE, payload)),
            }
        }
        Ok(())
    }

    /// True if a finished result may go out now.
    fn has_ready(&self) -> bool {
        if self.ordered {
            matches!(self.slots.front(), Some(Slot::Ready(_)))
        } else {
            !self.finished.is_empty()
        }
    }

    /// One step, with two lock acquisitions in all: adopts the new futures (or finds a
    /// failure), polls the running ones if `poll`, then works out what to request from
    /// upstream (sent after the lock) and the failure or end to deliver, if any.
    fn step(&mut self, cx: &mut TaskContext<'_>, poll: bool) -> Option<Pulled<R, E>> {
        if let Some(e) = self.adopt() {
            return Some(Pulled::Error(e));
        }
        if poll {
            if let Err(e) = self.poll_running(cx) {
                return Some(Pulled::Error(e));
            }
        }
        let (n, end) = {
            let mut inner = self.shared.lock();
            let n = self.refill_amount(&mut inner);
            (n, self.end(&mut inner))
        };
        self.shared.upstream.request(n);
        end
    }

    /// What the free slots allow to request from upstream (and counts it as requested):
    /// never more than `concurrency` requested-or-running, never more than
    /// `concurrency + queue` held in all.
    fn refill_amount(&self, inner: &mut Inner<Fut, E>) -> u64 {
        let limits = self.shared.limits;
        if !inner.subscribed || inner.upstream_done || inner.closed || inner.failed.is_some() {
            return 0;
        }
        let in_flight = inner.requested + (inner.incoming.len() + self.running) as u64;
        let ready = (self.slots.len() - self.running + self.finished.len()) as u64;
        let n = (limits.concurrency as u64)
            .saturating_sub(in_flight)
            .min(limits.total().saturating_sub(in_flight + ready));
        inner.requested += n;
        n
    }

    /// A failure to deliver at once: the upstream side's own (a panic in `f`, a protocol
    /// violation), or upstream's error when the stage aborts on errors.
    fn failure(inner: &mut Inner<Fut, E>, limits: Limits) -> Option<Error<E>> {
        if let Some(e) = inner.failed.take() {
            return Some(e);
        }
        if limits.abort_on_error && matches!(inner.end, Some(Err(_))) {
            if let Some(Err(e)) = inner.end.take() {
                return Some(e);
            }
        }
        None
    }

    /// A failure to deliver at once, or upstream's terminal signal once every future
    /// finished and every result went out: completion, or upstream's error after the work
    /// that was in flight.
    fn end(&self, inner: &mut Inner<Fut, E>) -> Option<Pulled<R, E>> {
        if let Some(e) = Self::failure(inner, self.shared.limits) {
            return Some(Pulled::Error(e));
        }
        let drained = inner.end.is_some()
            && inner.incoming.is_empty()
            && self.slots.is_empty()
            && self.finished.is_empty();
        if !drained {
            return None;
        }
        match inner.end.take() {
            Some(Ok(())) => Some(Pulled::Complete),
            Some(Err(e)) => Some(Pulled::Error(e)),
            None => None,
        }
    }
}

impl<Fut, R, E, K> Source for AsyncSource<Fut, R, E, K>
where
    Fut: Future + Send + 'static,
    R: Send + 'static,
    E: Send + 'static,
    K: StageName,
{
    type Item = R;
    type Error = E;
    const STAGE: &'static str = K::STAGE;
    const ASYNC: bool = true;

    fn attach(&mut self, drain: DrainHandle) {
        self.shared.drain.set(drain);
    }

    fn pull(&mut self, cx: &mut TaskContext<'_>) -> Pulled<R, E> {
        // A result that may go out now needs no poll.
        let poll = !self.has_ready();
        if let Some(end) = self.step(cx, poll) {
            return end;
        }
        self.take_ready().map_or(Pulled::Pending, Pulled::Item)
    }

    fn poll_end(&mut self, cx: &mut TaskContext<'_>) -> Option<Pulled<R, E>> {
        // No downstream demand: keep the futures running; their results queue up.
        self.step(cx, true)
    }
}

impl<Fut: Future, R, E, K> Drop for AsyncSource<Fut, R, E, K> {
    fn drop(&mut self) {
        // Cancelled or terminated: stop upstream; the futures are dropped with `slots`.
        let (upstream_done, incoming) = {
            let mut inner = self.shared.lock();
            inner.closed = true;
            (inner.upstream_done, std::mem::take(&mut inner.incoming))
        };
        drop(incoming);
        if !upstream_done {
            self.shared.upstream.cancel();
        }
    }
}

/// The upstream side: turns each item into a future (calling `f` on the thread that
/// delivers the item) and hands it to the drain.
struct AsyncUpstream<T, Fut, F, E, K> {
    shared: Arc<Shared<Fut, E>>,
    f: F,
    context: Context,
    done: bool,
    _marker: PhantomData<fn(T) -> K>,
}

impl<T, Fut, F, E, K> AsyncUpstream<T, Fut, F, E, K> {
    fn fail(&mut self, error: Error<E>) {
        self.done = true;
        {
            let mut inner = self.shared.lock();
            if !inner.closed && inner.failed.is_none() {
                inner.failed = Some(error);
            }
        }
        self.shared.upstream.cancel();
        self.shared.drain.signal();
    }
}

impl<T, Fut, F, E, K> Subscriber for AsyncUpstream<T, Fut, F, E, K>
where
    T: Send + 'static,
    F: FnMut(T) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    E: Send + 'static,
    K: StageName,
{
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if !self.shared.upstream.set(subscription.clone()) {
            return; // rule 2.5
        }
        let n = {
            let mut inner = self.shared.lock();
            if inner.closed {
                0
            } else {
                inner.subscribed = true;
                inner.requested = self.shared.limits.concurrency as u64;
                inner.requested
            }
        };
        if n == 0 {
            subscription.cancel();
        } else {
            self.shared.upstream.request(n);
        }
    }

    fn on_next(&mut self, item: T) {
        if self.done {
            return;
        }
        {
            let inner = self.shared.lock();
            if inner.closed || inner.failed.is_some() || inner.upstream_done {
                return;
            }
            if inner.requested == 0 {
                drop(inner);
                return self.fail(Error::ProtocolViolation {
                    stage: K::STAGE,
                    what: "upstream emitted more items than requested",
                });
            }
        }
        let f = &mut self.f;
        match catch_unwind(AssertUnwindSafe(|| f(item))) {
            Ok(fut) => {
                // The item stays counted as requested until its future is queued, so the
                // drain never sees a free slot that is about to be taken.
                let mut inner = self.shared.lock();
                inner.requested -= 1;
                if !inner.closed {
                    inner.incoming.push_back(Box::pin(fut));
                }
                drop(inner);
                self.shared.drain.signal();
            }
            Err(payload) => self.fail(Error::from_panic(K::STAGE, payload)),
        }
    }

    fn on_error(&mut self, error: Error<E>) {
        if self.done {
            return;
        }
        self.done = true;
        {
            let mut inner = self.shared.lock();
            if !inner.upstream_done {
                inner.upstream_done = true;
                inner.end = Some(Err(error));
            }
        }
        self.shared.drain.signal();
    }

    fn on_complete(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        {
            let mut inner = self.shared.lock();
            if !inner.upstream_done {
                inner.upstream_done = true;
                inner.end = Some(Ok(()));
            }
        }
        self.shared.drain.signal();
    }

    fn context(&self) -> Context {
        self.context.clone()
    }
}
