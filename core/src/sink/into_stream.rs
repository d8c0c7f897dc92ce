//! `IntoStream`: a pipeline consumed as a `futures::Stream`, with batched demand.
//!
//! The producer (the pipeline's subscriber) pushes into a shared queue under a lock; the
//! consumer (`poll_next`) takes the whole queue in one lock into a local buffer (swapping
//! the two `VecDeque`s, so both keep their capacity) and serves items from it without
//! locking. The producer wakes the consumer only when it is parked, i.e. when a poll found
//! nothing and left its waker: the hand-off costs a lock per batch, not per item.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context as TaskContext, Poll, Waker};

use futures_core::{FusedStream, Stream};

use crate::drain::BatchContext;
use crate::driver::Driver;
use crate::{Context, Error, Publisher, SharedSubscription, Subscriber};

/// Stream for [`into_stream`](super::PublisherExt::into_stream).
#[must_use = "streams do nothing unless polled"]
pub struct IntoStream<P: Publisher> {
    state: State<P>,
    batch: u64,
    /// Items taken since the last request.
    consumed: u64,
}

enum State<P: Publisher> {
    Idle(P),
    Running(Running<P::Item, P::Error>),
    Done,
}

/// The consumer's side while subscribed.
struct Running<T, E> {
    shared: Arc<Shared<T, E>>,
    /// Items taken from the shared queue, served without locking.
    local: VecDeque<T>,
}

struct Inner<T, E> {
    items: VecDeque<T>,
    end: Option<Result<(), Error<E>>>,
    /// The consumer's waker while it is parked (its last poll found nothing); the
    /// producer takes it and wakes it. `None` while the consumer is not waiting.
    parked: Option<Waker>,
}

struct Shared<T, E> {
    inner: Mutex<Inner<T, E>>,
    subscription: OnceLock<SharedSubscription>,
    /// Runs the async stages upstream after their wake-ups, in `poll_next`.
    driver: Driver,
}

impl<T, E> Shared<T, E> {
    fn lock(&self) -> MutexGuard<'_, Inner<T, E>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the queue under the lock, then wakes the consumer if it was parked
    /// (outside the lock: waking may run arbitrary code).
    fn push_with(&self, f: impl FnOnce(&mut Inner<T, E>)) {
        let mut inner = self.lock();
        f(&mut inner);
        let parked = inner.parked.take();
        drop(inner);
        if let Some(w) = parked {
            w.wake();
        }
    }
}

struct StreamSubscriber<T, E> {
    shared: Arc<Shared<T, E>>,
    batch: u64,
    /// A batch is collected here first, outside the lock: its iterator runs the user code
    /// of the fused stages upstream, which must not run under the queue lock.
    buf: VecDeque<T>,
}

/// Moves a collected batch into the shared queue (a swap when the queue is empty).
fn flush<T, E>(buf: &mut VecDeque<T>, inner: &mut Inner<T, E>) {
    if inner.items.is_empty() {
        std::mem::swap(&mut inner.items, buf);
    } else if !buf.is_empty() {
        inner.items.append(buf);
    }
}

impl<P: Publisher> IntoStream<P> {
    pub(crate) fn new(publisher: P, batch: usize) -> Self {
        IntoStream {
            state: State::Idle(publisher),
            batch: batch as u64,
            consumed: 0,
        }
    }

    /// How many items are requested each time the stream refills (75% of the batch).
    fn refill(&self) -> u64 {
        crate::demand::replenish_threshold(self.batch)
    }
}

impl<P: Publisher> Unpin for IntoStream<P> {}

impl<P: Publisher> Stream for IntoStream<P> {
    type Item = Result<P::Item, Error<P::Error>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        // One cooperative budget for every async pass this poll runs (crate::coop).
        let _budget = crate::coop::BudgetScope::enter(crate::coop::POLL_BUDGET);
        let this = self.get_mut();
        if let State::Idle(_) = this.state {
            let State::Idle(publisher) = std::mem::replace(&mut this.state, State::Done) else {
                unreachable!("checked above")
            };
            if this.batch == 0 {
                return Poll::Ready(Some(Err(Error::InvalidRequest {
                    stage: "into_stream",
                })));
            }
            // Small at first: the queues grow to what is really in flight, so a large
            // batch of large items reserves nothing up front.
            let capacity = this.batch.min(32) as usize;
            let shared = Arc::new(Shared {
                inner: Mutex::new(Inner {
                    items: VecDeque::with_capacity(capacity),
                    end: None,
                    parked: None,
                }),
                subscription: OnceLock::new(),
                driver: Driver::new(),
            });
            this.state = State::Running(Running {
                shared: Arc::clone(&shared),
                local: VecDeque::with_capacity(capacity),
            });
            publisher.subscribe(StreamSubscriber {
                shared,
                batch: this.batch,
                buf: VecDeque::new(),
            });
        }
        let refill = this.refill();
        let State::Running(running) = &mut this.state else {
            return Poll::Ready(None);
        };
        if running.local.is_empty() {
            // Run what async stages upstream were woken for (only when the local items
            // are used up: a consumer that has items to take needs no new ones yet).
            running.shared.driver.register(cx.waker());
            running.shared.driver.run_ready();
            let mut inner = running.shared.lock();
            if inner.items.is_empty() {
                if let Some(end) = inner.end.take() {
                    drop(inner);
                    running.shared.driver.detach();
                    this.state = State::Done;
                    return Poll::Ready(end.err().map(Err));
                }
                // Park: the producer sees the waker under this lock and wakes it.
                match &inner.parked {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => inner.parked = Some(cx.waker().clone()),
                }
                return Poll::Pending;
            }
            // Take the whole queue; the shared side gets the empty buffer (and its
            // capacity) back.
            std::mem::swap(&mut inner.items, &mut running.local);
            inner.parked = None;
        }
        let item = running.local.pop_front().expect("not empty");
        this.consumed += 1;
        if this.consumed == refill {
            this.consumed = 0;
            if let Some(s) = running.shared.subscription.get() {
                // May deliver synchronously, into the shared queue (no lock held here).
                s.request(refill);
            }
        }
        Poll::Ready(Some(Ok(item)))
    }
}

impl<P: Publisher> FusedStream for IntoStream<P> {
    fn is_terminated(&self) -> bool {
        matches!(self.state, State::Done)
    }
}

impl<P: Publisher> Drop for IntoStream<P> {
    fn drop(&mut self) {
        if let State::Running(running) = &self.state {
            running.shared.driver.detach();
            if let Some(s) = running.shared.subscription.get() {
                s.cancel();
            }
        }
    }
}

impl<P: Publisher> fmt::Debug for IntoStream<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoStream")
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static, E: Send + 'static> Subscriber for StreamSubscriber<T, E> {
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        // Rule 2.5: a second subscription is a protocol error of the publisher; the first
        // one is kept, as before.
        let _ = self.shared.subscription.set(subscription.clone());
        subscription.request(self.batch);
    }

    fn on_next(&mut self, item: T) {
        self.shared.push_with(|inner| inner.items.push_back(item));
    }

    /// The queue takes any batch: one lock per batch instead of one per item, and the
    /// stages upstream (`map`, `filter`, ...) fuse into one loop.
    fn accepts_batches(&self) -> bool {
        true
    }

    fn on_next_batch<I>(&mut self, items: I, batch: &BatchContext) -> u64
    where
        I: Iterator<Item = T>,
    {
        // Every item taken is used: stop at the outstanding demand, leaving the rest to
        // the source. If an upstream stage panics mid-batch, what it produced so far
        // stays in `buf` and is flushed, ahead of the `Panicked` error, by `on_error`.
        if batch.within_limit() {
            self.buf.extend(items); // no more than the demand was offered
        } else {
            let limit = usize::try_from(batch.limit()).unwrap_or(usize::MAX);
            self.buf.extend(items.take(limit));
        }
        let used = self.buf.len() as u64;
        if used > 0 {
            let buf = &mut self.buf;
            self.shared.push_with(|inner| flush(buf, inner));
        }
        used
    }

    fn on_error(&mut self, error: Error<E>) {
        let buf = &mut self.buf;
        self.shared.push_with(|inner| {
            flush(buf, inner);
            inner.end = Some(Err(error));
        });
    }

    fn on_complete(&mut self) {
        let buf = &mut self.buf;
        self.shared.push_with(|inner| {
            flush(buf, inner);
            inner.end = Some(Ok(()));
        });
    }

    fn context(&self) -> Context {
        Context::default().driven_by(self.shared.driver.clone())
    }
}
