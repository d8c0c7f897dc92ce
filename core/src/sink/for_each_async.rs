//! `ForEachAsync`: a consumer of bounded concurrency that paces its producer by demand.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::task::AtomicWaker;

use crate::{Error, Publisher, SharedSubscription, Subscriber};

/// Future for [`for_each_async`](super::PublisherExt::for_each_async).
#[must_use = "futures do nothing unless polled"]
pub struct ForEachAsync<P: Publisher, F, Fut> {
    publisher: Option<P>,
    f: F,
    concurrency: usize,
    shared: Option<Arc<Shared<P::Item, P::Error>>>,
    in_flight: FuturesUnordered<Pin<Box<Fut>>>,
    done: bool,
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

struct QueueSubscriber<T, E> {
    shared: Arc<Shared<T, E>>,
    initial: u64,
}

impl<P: Publisher, F, Fut> ForEachAsync<P, F, Fut> {
    pub(crate) fn new(publisher: P, concurrency: usize, f: F) -> Self {
        ForEachAsync {
            publisher: Some(publisher),
            f,
            concurrency,
            shared: None,
            in_flight: FuturesUnordered::new(),
            done: false,
        }
    }
}

impl<P: Publisher, F, Fut> Unpin for ForEachAsync<P, F, Fut> {}

impl<P, F, Fut> Future for ForEachAsync<P, F, Fut>
where
    P: Publisher,
    F: FnMut(P::Item) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    type Output = Result<(), Error<P::Error>>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "ForEachAsync polled after completion");
        if let Some(publisher) = this.publisher.take() {
            if this.concurrency == 0 {
                this.done = true;
                return Poll::Ready(Err(Error::InvalidRequest {
                    stage: "for_each_async",
                }));
            }
            let shared = Arc::new(Shared {
                inner: Mutex::new(Inner {
                    items: VecDeque::new(),
                    end: None,
                }),
                subscription: Mutex::new(None),
                waker: AtomicWaker::new(),
            });
            shared.waker.register(cx.waker());
            this.shared = Some(Arc::clone(&shared));
            publisher.subscribe(QueueSubscriber {
                shared,
                initial: this.concurrency as u64,
            });
        }
        let shared = Arc::clone(this.shared.as_ref().expect("subscribed above"));
        loop {
            shared.waker.register(cx.waker());
            // Start a future for each item received (never more than `concurrency`, since
            // we requested no more than the free slots).
            let (items, end) = {
                let mut inner = shared.lock();
                (std::mem::take(&mut inner.items), inner.end.take())
            };
            for item in items {
                let f = &mut this.f;
                match catch_unwind(AssertUnwindSafe(|| f(item))) {
                    Ok(fut) => this.in_flight.push(Box::pin(fut)),
                    Err(payload) => {
                        return this.fail(&shared, Error::from_panic("for_each_async", payload))
                    }
                }
            }
            if let Some(Err(e)) = end {
                return this.fail(&shared, e);
            }
            if let Some(Ok(())) = end {
                shared.lock().end = Some(Ok(())); // keep it until in-flight work is done
            }
            let in_flight = &mut this.in_flight;
            let mut finished = 0u64;
            loop {
                match catch_unwind(AssertUnwindSafe(|| in_flight.poll_next_unpin(cx))) {
                    Ok(Poll::Ready(Some(()))) => finished += 1,
                    Ok(Poll::Ready(None)) | Ok(Poll::Pending) => break,
                    Err(payload) => {
                        return this.fail(&shared, Error::from_panic("for_each_async", payload))
                    }
                }
            }
            let completed = matches!(shared.lock().end, Some(Ok(())));
            if this.in_flight.is_empty() && completed && shared.lock().items.is_empty() {
                this.done = true;
                return Poll::Ready(Ok(()));
            }
            if finished == 0 {
                return Poll::Pending;
            }
            // Slots freed: ask for as many new items, then look for them at once (a
            // synchronous upstream delivers inside `request`).
            if let Some(s) = shared.subscription() {
                s.request(finished);
            }
        }
    }
}

impl<P: Publisher, F, Fut> ForEachAsync<P, F, Fut> {
    fn fail(
        &mut self,
        shared: &Shared<P::Item, P::Error>,
        error: Error<P::Error>,
    ) -> Poll<Result<(), Error<P::Error>>> {
        if let Some(s) = shared.subscription() {
            s.cancel();
        }
        self.in_flight = FuturesUnordered::new();
        self.done = true;
        Poll::Ready(Err(error))
    }
}

impl<P: Publisher, F, Fut> Drop for ForEachAsync<P, F, Fut> {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            if !self.done {
                if let Some(s) = shared.subscription() {
                    s.cancel();
                }
            }
        }
    }
}

impl<P: Publisher, F, Fut> fmt::Debug for ForEachAsync<P, F, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForEachAsync")
            .field("concurrency", &self.concurrency)
            .field("in_flight", &self.in_flight.len())
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static, E: Send + 'static> Subscriber for QueueSubscriber<T, E> {
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        *self
            .shared
            .subscription
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(subscription.clone());
        subscription.request(self.initial);
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
