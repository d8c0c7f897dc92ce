//! `Fold`: the future behind `for_each`, `fold`, `collect`, `count` and `last`.

use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};

use futures_util::task::AtomicWaker;

use crate::drain::BatchContext;
use crate::driver::Driver;
use crate::{Context, Error, Publisher, SharedSubscription, Stage, Subscriber};

/// Future for [`fold`](super::PublisherExt::fold) and the sinks built on it. Subscribes on
/// first poll; dropping it cancels the subscription. Its poll runs the async stages
/// upstream after their wake-ups (it is their [`Driver`]).
#[must_use = "futures do nothing unless polled"]
pub struct Fold<P: Publisher, A, F> {
    state: State<P, A, F>,
}

enum State<P: Publisher, A, F> {
    Idle {
        publisher: P,
        init: A,
        f: F,
        stage: Stage,
    },
    Running(Arc<Shared<A, P::Error>>),
    Done,
}

struct Shared<A, E> {
    result: Mutex<Option<Result<A, Error<E>>>>,
    subscription: Mutex<Option<SharedSubscription>>,
    waker: AtomicWaker,
    driver: Driver,
}

impl<A, E> Shared<A, E> {
    fn finish(&self, result: Result<A, Error<E>>) {
        *self.result.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
        self.subscription
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        self.waker.wake();
    }
}

/// One step of a [`Fold`]: implemented by every `FnMut(A, T) -> A` and by the adapter
/// behind `for_each`, so both compile to a direct, inlinable call per item.
pub trait FoldStep<A, T>: Send + 'static {
    /// Folds `item` into `acc`.
    fn step(&mut self, acc: A, item: T) -> A;
}

impl<A, T, F: FnMut(A, T) -> A + Send + 'static> FoldStep<A, T> for F {
    #[inline]
    fn step(&mut self, acc: A, item: T) -> A {
        self(acc, item)
    }
}

/// The [`FoldStep`] of `for_each`: calls `f(item)`.
#[derive(Clone)]
pub struct ForEachStep<F>(pub(crate) F);

impl<T, F: FnMut(T) + Send + 'static> FoldStep<(), T> for ForEachStep<F> {
    #[inline]
    fn step(&mut self, (): (), item: T) {
        (self.0)(item)
    }
}

impl<F> fmt::Debug for ForEachStep<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ForEachStep")
    }
}

struct FoldSubscriber<A, F, T, E> {
    _item: std::marker::PhantomData<fn(T)>,
    /// `None` once finished — or, briefly, while a batch is being folded.
    acc: Option<A>,
    /// Set once the result was delivered: later signals are ignored.
    finished: bool,
    f: F,
    stage: Stage,
    subscription: Option<SharedSubscription>,
    shared: Arc<Shared<A, E>>,
}

impl<P: Publisher, A, F> Fold<P, A, F> {
    pub(crate) fn new(publisher: P, init: A, f: F, stage: Stage) -> Self {
        Fold {
            state: State::Idle {
                publisher,
                init,
                f,
                stage,
            },
        }
    }
}

// `Fold` never pins its fields: the publisher is moved out on first poll.
impl<P: Publisher, A, F> Unpin for Fold<P, A, F> {}

impl<P, A, F> Future for Fold<P, A, F>
where
    P: Publisher,
    A: Send + 'static,
    F: FoldStep<A, P::Item>,
{
    type Output = Result<A, Error<P::Error>>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        // One cooperative budget for every async pass this poll runs (crate::coop).
        let _budget = crate::coop::BudgetScope::enter(crate::coop::POLL_BUDGET);
        let this = self.get_mut();
        if let State::Idle { .. } = this.state {
            let State::Idle {
                publisher,
                init,
                f,
                stage,
            } = std::mem::replace(&mut this.state, State::Done)
            else {
                unreachable!("checked above")
            };
            let shared = Arc::new(Shared {
                result: Mutex::new(None),
                subscription: Mutex::new(None),
                waker: AtomicWaker::new(),
                driver: Driver::new(),
            });
            shared.waker.register(cx.waker());
            shared.driver.register(cx.waker());
            this.state = State::Running(Arc::clone(&shared));
            publisher.subscribe(FoldSubscriber {
                _item: std::marker::PhantomData,
                acc: Some(init),
                finished: false,
                f,
                stage,
                subscription: None,
                shared,
            });
        }
        let State::Running(shared) = &this.state else {
            panic!("Fold polled after completion");
        };
        shared.waker.register(cx.waker());
        shared.driver.register(cx.waker());
        shared.driver.run_ready();
        let result = shared
            .result
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match result {
            Some(result) => {
                shared.driver.detach();
                this.state = State::Done;
                Poll::Ready(result)
            }
            None => Poll::Pending,
        }
    }
}

impl<P: Publisher, A, F> Drop for Fold<P, A, F> {
    fn drop(&mut self) {
        if let State::Running(shared) = &self.state {
            shared.driver.detach();
            let subscription = shared
                .subscription
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            if let Some(s) = subscription {
                s.cancel();
            }
        }
    }
}

impl<P: Publisher, A, F> fmt::Debug for Fold<P, A, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Idle { .. } => "idle",
            State::Running(_) => "running",
            State::Done => "done",
        };
        f.debug_struct("Fold").field("state", &state).finish()
    }
}

impl<A, F, T, E> Subscriber for FoldSubscriber<A, F, T, E>
where
    A: Send + 'static,
    E: Send + 'static,
    T: 'static,
    F: FoldStep<A, T>,
{
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        *self
            .shared
            .subscription
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(subscription.clone());
        self.subscription = Some(subscription.clone());
        subscription.request(u64::MAX);
    }

    fn on_next(&mut self, item: T) {
        let Some(acc) = self.acc.take() else {
            return; // already failed: late items are ignored
        };
        let f = &mut self.f;
        match catch_unwind(AssertUnwindSafe(|| f.step(acc, item))) {
            Ok(acc) => self.acc = Some(acc),
            Err(payload) => {
                if let Some(s) = self.subscription.take() {
                    s.cancel();
                }
                self.finished = true;
                self.shared
                    .finish(Err(Error::from_panic(self.stage, payload)));
            }
        }
    }

    #[inline]
    fn accepts_batches(&self) -> bool {
        true
    }

    /// The fused loop: one `Iterator::fold` over the whole batch. A panic unwinds to the
    /// source's drain loop, which reports it against the stage noted in `stage`, and then
    /// calls `on_error` here (with `acc` gone, hence the separate `finished` flag).
    #[inline]
    fn on_next_batch<I>(&mut self, items: I, batch: &BatchContext) -> u64
    where
        I: Iterator<Item = T>,
    {
        let Some(acc) = self.acc.take() else {
            items.for_each(drop);
            return 0;
        };
        let (f, name) = (&mut self.f, self.stage);
        if !batch.counts_used() {
            // Unbounded demand: the tightest loop, with nothing to count.
            self.acc = Some(items.fold(acc, |acc, item| batch.run(name, || f.step(acc, item))));
            return 0;
        }
        if batch.within_limit() {
            // The source offered no more than the demand: take it all, no limit check.
            let (acc, used) = items.fold((acc, 0u64), |(acc, used), item| {
                (batch.run(name, || f.step(acc, item)), used + 1)
            });
            self.acc = Some(acc);
            return used;
        }
        // Every item taken is used: stop at the limit, leaving the rest to the source.
        let mut used = 0u64;
        let limit = usize::try_from(batch.limit()).unwrap_or(usize::MAX);
        let acc = items.take(limit).fold(acc, |acc, item| {
            used += 1;
            batch.run(name, || f.step(acc, item))
        });
        self.acc = Some(acc);
        used
    }

    fn on_error(&mut self, error: Error<E>) {
        if !self.finished {
            self.finished = true;
            self.acc = None;
            self.subscription = None;
            self.shared.finish(Err(error));
        }
    }

    fn on_complete(&mut self) {
        if let Some(acc) = self.acc.take() {
            self.finished = true;
            self.subscription = None;
            self.shared.finish(Ok(acc));
        }
    }

    fn context(&self) -> Context {
        Context::default().driven_by(self.shared.driver.clone())
    }
}
