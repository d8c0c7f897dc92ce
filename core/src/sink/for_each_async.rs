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

use crate::driver::Driver;
use crate::{Context, Error, Publisher, SharedSubscription, Subscriber};

/// The most futures one poll sees complete before it yields to the executor (a
/// synchronous upstream and ready futures would otherwise run to the end in one poll).
const POLL_COMPLETIONS: u64 = 256;

/// Future for [`for_each_async`](super::PublisherExt::for_each_async).
///
/// When upstream fails, the futures already running are finished first and the error is
/// reported after them ([`completed`](Self::completed) says how many futures ran to the
/// end); [`abort_on_error`](Self::abort_on_error) drops them at once instead. A panic in
/// `f` or in a future ends it at once, dropping the others.
#[must_use = "futures do nothing unless polled"]
pub struct ForEachAsync<P: Publisher, F, Fut> {
    publisher: Option<P>,
    f: F,
    concurrency: usize,
    shared: Option<Arc<Shared<P::Item, P::Error>>>,
    in_flight: FuturesUnordered<Pin<Box<Fut>>>,
    /// Upstream's error, held until the futures in flight are done.
    failed: Option<Error<P::Error>>,
    abort_on_error: bool,
    completed: u64,
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
    /// Runs the async stages upstream after their wake-ups, in `poll`.
    driver: Driver,
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
            failed: None,
            abort_on_error: false,
            completed: 0,
            done: false,
        }
    }

    /// On an upstream error, drops the futures in flight and reports the error at once,
    /// instead of letting them finish first.
    ///
    /// ```
    /// use spillway_core::{prelude::*, Error};
    /// # futures::executor::block_on(async {
    /// let source = from_try_stream(futures::stream::iter(vec![Ok(1), Err("bad")]));
    /// let mut run = source.for_each_async(4, |_| futures::future::pending::<()>()).abort_on_error();
    /// assert!(matches!((&mut run).await, Err(Error::User("bad"))));
    /// assert_eq!(run.completed(), 0); // the pending future was dropped
    /// # });
    /// ```
    pub fn abort_on_error(mut self) -> Self {
        self.abort_on_error = true;
        self
    }

    /// How many futures ran to completion so far: after an upstream error, every future
    /// that was in flight when it came (unless [`abort_on_error`](Self::abort_on_error)).
    ///
    /// ```
    /// use spillway_core::{prelude::*, Error};
    /// # futures::executor::block_on(async {
    /// let source = from_try_stream(futures::stream::iter(vec![Ok(1), Ok(2), Err("bad")]));
    /// let mut run = source.for_each_async(4, |_| async {});
    /// assert!(matches!((&mut run).await, Err(Error::User("bad"))));
    /// assert_eq!(run.completed(), 2); // both items were handled before the error
    /// # });
    /// ```
    pub fn completed(&self) -> u64 {
        self.completed
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
        // One cooperative budget for every async pass this poll runs (crate::coop).
        let _budget = crate::coop::BudgetScope::enter(crate::coop::POLL_BUDGET);
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
                driver: Driver::new(),
            });
            shared.waker.register(cx.waker());
            shared.driver.register(cx.waker());
            this.shared = Some(Arc::clone(&shared));
            publisher.subscribe(QueueSubscriber {
                shared,
                initial: this.concurrency as u64,
            });
        }
        let shared = Arc::clone(this.shared.as_ref().expect("subscribed above"));
        let mut completed_in_poll = 0u64;
        loop {
            shared.waker.register(cx.waker());
            shared.driver.register(cx.waker());
            shared.driver.run_ready();
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
            match end {
                Some(Err(e)) if this.abort_on_error => return this.fail(&shared, e),
                // Let the futures in flight finish; report the error after them.
                Some(Err(e)) => this.failed = Some(e),
                // Keep it until in-flight work is done.
                Some(Ok(())) => shared.lock().end = Some(Ok(())),
                None => {}
            }
            let in_flight = &mut this.in_flight;
            let mut finished = 0u64;
            loop {
                match catch_unwind(AssertUnwindSafe(|| in_flight.poll_next_unpin(cx))) {
                    Ok(Poll::Ready(Some(()))) => {
                        finished += 1;
                        this.completed += 1;
                    }
                    Ok(Poll::Ready(None)) | Ok(Poll::Pending) => break,
                    Err(payload) => {
                        return this.fail(&shared, Error::from_panic("for_each_async", payload))
                    }
                }
            }
            if this.in_flight.is_empty() && this.failed.is_some() {
                let e = this.failed.take().expect("checked");
                return this.fail(&shared, e);
            }
            let completed = matches!(shared.lock().end, Some(Ok(())));
            if this.in_flight.is_empty() && completed && shared.lock().items.is_empty() {
                this.done = true;
                shared.driver.detach();
                return Poll::Ready(Ok(()));
            }
            if finished == 0 || this.failed.is_some() {
                return Poll::Pending;
            }
            // Slots freed: ask for as many new items, then look for them at once (a
            // synchronous upstream delivers inside `request`).
            if let Some(s) = shared.subscription() {
                s.request(finished);
            }
            completed_in_poll += finished;
            if completed_in_poll >= POLL_COMPLETIONS {
                // Enough for one poll: hand control back to the executor, and come back.
                cx.waker().wake_by_ref();
                return Poll::Pending;
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
        shared.driver.detach();
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
            shared.driver.detach();
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

    fn context(&self) -> Context {
        Context::default().driven_by(self.shared.driver.clone())
    }
}
