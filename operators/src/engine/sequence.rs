//! Publishers one after another, with downstream's outstanding demand carried from one
//! to the next by the shared [`Arbiter`]: the engine of `start_with` and
//! `default_if_empty`.

use std::marker::PhantomData;
use std::sync::Arc;
use std::task::Context as TaskContext;

use spillway_core::drain::{self, Pulled, Source};
use spillway_core::{Context, Error, Publisher, SharedSubscription, Stage, Subscriber};

pub(crate) use crate::engine::arbiter::Arbiter;

/// What follows a phase when it completes.
pub(crate) trait Next<T, E>: Send + 'static {
    /// Subscribes the next phase with `downstream`, or gives `downstream` back to be
    /// completed. `seen` says whether the phase that just completed emitted anything.
    fn follow<S>(self, seen: bool, downstream: S, arbiter: Arc<Arbiter>) -> Option<S>
    where
        S: Subscriber<Item = T, Error = E>;
}

/// The last phase: nothing follows.
pub(crate) struct Last;

impl<T, E> Next<T, E> for Last {
    fn follow<S>(self, _seen: bool, downstream: S, _arbiter: Arc<Arbiter>) -> Option<S> {
        Some(downstream)
    }
}

/// Subscribes `downstream` to `first`, then to whatever `next` decides.
pub(crate) fn subscribe<P, N, S>(first: P, downstream: S, next: N)
where
    P: Publisher,
    N: Next<P::Item, P::Error>,
    S: Subscriber<Item = P::Item, Error = P::Error>,
{
    let arbiter = Arc::new(Arbiter::default());
    first.subscribe(Phase::new(downstream, arbiter, next, true));
}

/// Subscribes the phase after `first` (from a [`Next`]).
pub(crate) fn then<Q, S>(next: Q, downstream: S, arbiter: Arc<Arbiter>)
where
    Q: Publisher,
    S: Subscriber<Item = Q::Item, Error = Q::Error>,
{
    next.subscribe(Phase::new(downstream, arbiter, Last, false));
}

struct Phase<S, N> {
    downstream: Option<S>,
    arbiter: Arc<Arbiter>,
    next: Option<N>,
    first: bool,
    seen: bool,
    /// `on_subscribe` came (a second one is cancelled).
    attached: bool,
    context: Context,
}

impl<S: Subscriber, N> Phase<S, N> {
    fn new(downstream: S, arbiter: Arc<Arbiter>, next: N, first: bool) -> Self {
        Phase {
            context: downstream.context(),
            downstream: Some(downstream),
            arbiter,
            next: Some(next),
            first,
            seen: false,
            attached: false,
        }
    }
}

impl<S, N> Subscriber for Phase<S, N>
where
    S: Subscriber,
    S::Item: 'static,
    N: Next<S::Item, S::Error>,
{
    type Item = S::Item;
    type Error = S::Error;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if !self.arbiter.attach(&mut self.attached, subscription) {
            return;
        }
        if std::mem::take(&mut self.first) {
            if let Some(d) = &mut self.downstream {
                d.on_subscribe(Arc::clone(&self.arbiter) as SharedSubscription);
            }
        }
    }

    fn on_next(&mut self, item: S::Item) {
        if let Some(d) = &mut self.downstream {
            self.seen = true;
            self.arbiter.produced();
            d.on_next(item);
        }
    }

    fn try_on_next(&mut self, item: S::Item) -> bool {
        let Some(d) = &mut self.downstream else {
            return true;
        };
        self.seen = true;
        let used = d.try_on_next(item);
        if used {
            self.arbiter.produced();
        }
        used
    }

    fn on_error(&mut self, error: Error<S::Error>) {
        if let Some(mut d) = self.downstream.take() {
            d.on_error(error);
        }
    }

    fn on_complete(&mut self) {
        let Some(d) = self.downstream.take() else {
            return;
        };
        if self.arbiter.is_cancelled() {
            return; // downstream is gone: release it, start nothing
        }
        self.arbiter.detach();
        let next = self.next.take().expect("a phase completes once");
        if let Some(mut d) = next.follow(self.seen, d, Arc::clone(&self.arbiter)) {
            d.on_complete();
        }
    }

    fn context(&self) -> Context {
        self.context.clone()
    }
}

/// The items of an iterator, as a publisher of any error type (the first phase of
/// `start_with`, the fallback of `default_if_empty`).
pub(crate) struct Items<I, E> {
    iter: I,
    _error: PhantomData<fn() -> E>,
}

impl<I, E> Items<I, E> {
    pub(crate) fn new(iter: I) -> Self {
        Items {
            iter,
            _error: PhantomData,
        }
    }
}

impl<I, E> Publisher for Items<I, E>
where
    I: Iterator + Send + 'static,
    I::Item: Send + 'static,
    E: Send + 'static,
{
    type Item = I::Item;
    type Error = E;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = I::Item, Error = E>,
    {
        drain::start(self, subscriber);
    }
}

impl<I, E> Source for Items<I, E>
where
    I: Iterator + Send + 'static,
    I::Item: Send + 'static,
    E: Send + 'static,
{
    type Item = I::Item;
    type Error = E;
    const STAGE: Stage = "start_with";

    fn pull(&mut self, _cx: &mut TaskContext<'_>) -> Pulled<I::Item, E> {
        match self.iter.next() {
            Some(item) => Pulled::Item(item),
            None => Pulled::Complete,
        }
    }

    fn poll_end(&mut self, _cx: &mut TaskContext<'_>) -> Option<Pulled<I::Item, E>> {
        (self.iter.size_hint().1 == Some(0)).then_some(Pulled::Complete)
    }
}
