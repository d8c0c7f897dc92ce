//! `on_error_resume`: on an upstream error, switch to a fallback publisher; the demand
//! outstanding carries over. Also the engine of `on_error_return`.

use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use spillway_core::{Context, Error, Publisher, SharedSubscription, Stage, Subscriber};

use crate::engine::arbiter::Arbiter;

const STAGE: &str = "on_error_resume";

/// Publisher for the [`on_error_resume`](crate::OperatorExt::on_error_resume) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct OnErrorResume<P, F> {
    upstream: P,
    f: F,
}

impl<P, F> OnErrorResume<P, F> {
    pub(crate) fn new(upstream: P, f: F) -> Self {
        OnErrorResume { upstream, f }
    }
}

impl<P, F, P2> Publisher for OnErrorResume<P, F>
where
    P: Publisher,
    F: FnOnce(Error<P::Error>) -> P2 + Send + 'static,
    P2: Publisher<Item = P::Item> + 'static,
{
    type Item = P::Item;
    type Error = P2::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P2::Error>,
    {
        subscribe(self.upstream, self.f, STAGE, subscriber);
    }
}

impl<P: fmt::Debug, F> fmt::Debug for OnErrorResume<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnErrorResume")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

/// Subscribes `subscriber` to `upstream`; on error, to `f(error)`. A panic in `f` fails
/// with `Error::Panicked { stage }`.
pub(crate) fn subscribe<P, F, P2, S>(upstream: P, f: F, stage: Stage, subscriber: S)
where
    P: Publisher,
    F: FnOnce(Error<P::Error>) -> P2 + Send + 'static,
    P2: Publisher<Item = P::Item> + 'static,
    S: Subscriber<Item = P::Item, Error = P2::Error>,
{
    let arbiter = Arc::new(Arbiter::default());
    let mut subscriber = subscriber;
    subscriber.on_subscribe(arbiter.clone());
    let context = subscriber.context();
    upstream.subscribe(Primary {
        downstream: Some(subscriber),
        f: Some(f),
        arbiter,
        context,
        stage,
        attached: false,
        _marker: PhantomData,
    });
}

struct Primary<S, F, E, P2> {
    downstream: Option<S>,
    f: Option<F>,
    arbiter: Arc<Arbiter>,
    context: Context,
    stage: Stage,
    /// `on_subscribe` came (a second one is cancelled).
    attached: bool,
    _marker: PhantomData<fn(E) -> P2>,
}

impl<S, F, E, P2> Subscriber for Primary<S, F, E, P2>
where
    P2: Publisher + 'static,
    S: Subscriber<Item = P2::Item, Error = P2::Error>,
    F: FnOnce(Error<E>) -> P2 + Send + 'static,
    E: 'static,
{
    type Item = P2::Item;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.arbiter.attach(&mut self.attached, subscription);
    }

    fn on_next(&mut self, item: P2::Item) {
        if let Some(d) = &mut self.downstream {
            self.arbiter.produced();
            d.on_next(item);
        }
    }

    fn on_error(&mut self, error: Error<E>) {
        let (Some(mut downstream), Some(f)) = (self.downstream.take(), self.f.take()) else {
            return;
        };
        self.arbiter.detach();
        if let Error::InvalidRequest { stage } = error {
            // Downstream's own mistake: no fallback.
            return downstream.on_error(Error::InvalidRequest { stage });
        }
        if self.arbiter.is_cancelled() {
            return;
        }
        match catch_unwind(AssertUnwindSafe(|| f(error))) {
            Ok(fallback) => fallback.subscribe(Fallback {
                downstream: Some(downstream),
                arbiter: Arc::clone(&self.arbiter),
                context: self.context.clone(),
                attached: false,
            }),
            Err(payload) => downstream.on_error(Error::from_panic(self.stage, payload)),
        }
    }

    fn on_complete(&mut self) {
        if let Some(mut d) = self.downstream.take() {
            self.arbiter.detach();
            d.on_complete();
        }
    }

    fn context(&self) -> Context {
        self.context.clone()
    }
}

struct Fallback<S> {
    downstream: Option<S>,
    arbiter: Arc<Arbiter>,
    context: Context,
    attached: bool,
}

impl<S: Subscriber> Subscriber for Fallback<S> {
    type Item = S::Item;
    type Error = S::Error;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.arbiter.attach(&mut self.attached, subscription);
    }

    fn on_next(&mut self, item: S::Item) {
        if let Some(d) = &mut self.downstream {
            self.arbiter.produced();
            d.on_next(item);
        }
    }

    fn on_error(&mut self, error: Error<S::Error>) {
        if let Some(mut d) = self.downstream.take() {
            self.arbiter.detach();
            d.on_error(error);
        }
    }

    fn on_complete(&mut self) {
        if let Some(mut d) = self.downstream.take() {
            self.arbiter.detach();
            d.on_complete();
        }
    }

    fn context(&self) -> Context {
        self.context.clone()
    }
}
