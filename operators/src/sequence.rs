//! Publishers one after another, with downstream's outstanding demand carried from one
//! to the next (Reactor's subscription arbiter): the engine of `start_with` and
//! `default_if_empty`.

use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::task::Context as TaskContext;

use spillway_core::drain::{self, Pulled, Source};
use spillway_core::{
    Context, Demand, Error, Publisher, SharedSubscription, Stage, Subscriber, Subscription,
};

use crate::support::lock;

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
    let arbiter = Arc::new(Arbiter {
        state: Mutex::new(ArbiterState {
            current: None,
            requested: Demand::ZERO,
            bad_request: false,
            cancelled: false,
        }),
    });
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

/// Downstream's one subscription across the phases.
pub(crate) struct Arbiter {
    state: Mutex<ArbiterState>,
}

struct ArbiterState {
    current: Option<SharedSubscription>,
    /// Requested by downstream and not yet delivered.
    requested: Demand,
    /// `request(0)` arrived between phases: passed to the next one (rule 3.9).
    bad_request: bool,
    cancelled: bool,
}

impl Arbiter {
    fn set(&self, subscription: SharedSubscription) {
        let mut st = lock(&self.state);
        if st.cancelled {
            drop(st);
            subscription.cancel();
            return;
        }
        st.current = Some(Arc::clone(&subscription));
        let outstanding = st.requested.get();
        let bad = std::mem::take(&mut st.bad_request);
        drop(st);
        if outstanding > 0 {
            subscription.request(outstanding);
        }
        if bad {
            subscription.request(0);
        }
    }

    fn produced(&self) {
        let mut st = lock(&self.state);
        st.requested = st.requested.produced(1);
    }

    fn is_cancelled(&self) -> bool {
        lock(&self.state).cancelled
    }
}

impl Subscription for Arbiter {
    fn request(&self, n: u64) {
        let mut st = lock(&self.state);
        if st.cancelled {
            return;
        }
        if n == 0 {
            st.bad_request = st.current.is_none();
        } else {
            st.requested = st.requested.add(n);
        }
        let current = st.current.clone();
        drop(st);
        if let Some(current) = current {
            current.request(n);
        }
    }

    fn cancel(&self) {
        let mut st = lock(&self.state);
        st.cancelled = true;
        let current = st.current.take();
        drop(st);
        if let Some(current) = current {
            current.cancel();
        }
    }
}

struct Phase<S, N> {
    downstream: Option<S>,
    arbiter: Arc<Arbiter>,
    next: Option<N>,
    first: bool,
    seen: bool,
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
        self.arbiter.set(subscription);
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
