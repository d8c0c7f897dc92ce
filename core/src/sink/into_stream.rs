//! `IntoStream`: a pipeline consumed as a `futures::Stream`, with batched demand.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};

use futures_core::{FusedStream, Stream};
use futures_util::task::AtomicWaker;

use crate::{Error, Publisher, SharedSubscription, Subscriber};

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
    Running(Arc<Shared<P::Item, P::Error>>),
    Done,
}

struct Inner<T, E> {
    items: VecDeque<T>,
    end: Option<Result<(), Error<E>>>,
}

struct Shared<T, E> {
    inner: Mutex<Inner<T, E>>,
    subscription: Mutex<Option<SharedSubscription>>,
    waker: AtomicWaker,
}

impl<T, E> Shared<T, E> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<T, E>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn subscription(&self) -> Option<SharedSubscription> {
        self.subscription
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

struct StreamSubscriber<T, E> {
    shared: Arc<Shared<T, E>>,
    batch: u64,
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
        self.batch - self.batch / 4
    }
}

impl<P: Publisher> Unpin for IntoStream<P> {}

impl<P: Publisher> Stream for IntoStream<P> {
    type Item = Result<P::Item, Error<P::Error>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
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
            let shared = Arc::new(Shared {
                inner: Mutex::new(Inner {
                    items: VecDeque::with_capacity(this.batch.min(4096) as usize),
                    end: None,
                }),
                subscription: Mutex::new(None),
                waker: AtomicWaker::new(),
            });
            shared.waker.register(cx.waker());
            this.state = State::Running(Arc::clone(&shared));
            publisher.subscribe(StreamSubscriber {
                shared,
                batch: this.batch,
            });
        }
        let State::Running(shared) = &this.state else {
            return Poll::Ready(None);
        };
        let shared = Arc::clone(shared);
        for attempt in 0..2 {
            let mut inner = shared.lock();
            if let Some(item) = inner.items.pop_front() {
                drop(inner);
                this.consumed += 1;
                if this.consumed == this.refill() {
                    this.consumed = 0;
                    if let Some(s) = shared.subscription() {
                        s.request(this.refill());
                    }
                }
                return Poll::Ready(Some(Ok(item)));
            }
            if let Some(end) = inner.end.take() {
                drop(inner);
                this.state = State::Done;
                return Poll::Ready(end.err().map(Err));
            }
            drop(inner);
            if attempt == 0 {
                // Register, then look again, so an item pushed in between is not missed.
                shared.waker.register(cx.waker());
            }
        }
        Poll::Pending
    }
}

impl<P: Publisher> FusedStream for IntoStream<P> {
    fn is_terminated(&self) -> bool {
        matches!(self.state, State::Done)
    }
}

impl<P: Publisher> Drop for IntoStream<P> {
    fn drop(&mut self) {
        if let State::Running(shared) = &self.state {
            if let Some(s) = shared.subscription() {
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
        *self
            .shared
            .subscription
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(subscription.clone());
        subscription.request(self.batch);
    }

    fn on_next(&mut self, item: T) {
        self.shared.lock().items.push_back(item);
        self.shared.waker.wake();
    }

    fn on_error(&mut self, error: Error<E>) {
        self.shared.lock().end = Some(Err(error));
        self.shared.waker.wake();
    }

    fn on_complete(&mut self) {
        self.shared.lock().end = Some(Ok(()));
        self.shared.waker.wake();
    }
}
