//! `retry`: resubscribe to a cloneable upstream after an error, up to `n` times. Also the
//! engine of `retry_when` and `retry_backoff`.

use std::fmt;
use std::ops::ControlFlow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use spillway_core::wip::Wip;
use spillway_core::{
    Context, Error, Publisher, Scheduler, SchedulerExt, SharedSubscription, Stage, Subscriber,
};

use crate::engine::arbiter::Arbiter;
use crate::engine::support::lock;

const STAGE: &str = "retry";

/// Publisher for the [`retry`](crate::OperatorExt::retry) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct Retry<P> {
    upstream: P,
    times: u64,
}

impl<P> Retry<P> {
    pub(crate) fn new(upstream: P, times: u64) -> Self {
        Retry { upstream, times }
    }
}

/// What a retry policy decides for one error.
pub(crate) enum Decision {
    /// Give up: the error goes downstream.
    GiveUp,
    /// Resubscribe after this delay (zero: at once, on this thread).
    After(Duration),
}

/// When to retry. A policy belongs to one subscription.
pub(crate) trait RetryPolicy<E>: Send + 'static {
    const STAGE: Stage;
    fn decide(&mut self, error: &Error<E>) -> Decision;
}

struct Times(u64);

impl<E> RetryPolicy<E> for Times {
    const STAGE: Stage = STAGE;
    fn decide(&mut self, _error: &Error<E>) -> Decision {
        if self.0 == 0 {
            return Decision::GiveUp;
        }
        self.0 -= 1;
        Decision::After(Duration::ZERO)
    }
}

impl<P> Publisher for Retry<P>
where
    P: Publisher + Clone + Send + 'static,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        subscribe(self.upstream, Times(self.times), None, subscriber);
    }
}

impl<P: fmt::Debug> fmt::Debug for Retry<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("upstream", &self.upstream)
            .field("times", &self.times)
            .finish()
    }
}

struct Shared<P, S, Pol> {
    publisher: Mutex<P>,
    policy: Mutex<Pol>,
    arbiter: Arc<Arbiter>,
    context: Context,
    scheduler: Option<Arc<dyn Scheduler>>,
    /// Trampoline: resubscriptions requested while one is running on this stack are
    /// run by the outer loop instead of recursing (a source that fails synchronously
    /// would otherwise grow the stack by one subscription per retry).
    wip: Wip,
    next: Mutex<Option<S>>,
}

/// Subscribes `subscriber` to `upstream`, resubscribing to a clone as `policy` says.
/// `scheduler` (pinned by the user) or the subscriber's context's one runs delayed retries.
pub(crate) fn subscribe<P, Pol, S>(
    upstream: P,
    policy: Pol,
    scheduler: Option<Arc<dyn Scheduler>>,
    subscriber: S,
) where
    P: Publisher + Clone + Send + 'static,
    Pol: RetryPolicy<P::Error>,
    S: Subscriber<Item = P::Item, Error = P::Error>,
{
    let arbiter = Arc::new(Arbiter::default());
    let mut subscriber = subscriber;
    subscriber.on_subscribe(arbiter.clone());
    let shared = Arc::new(Shared {
        publisher: Mutex::new(upstream),
        policy: Mutex::new(policy),
        arbiter,
        context: subscriber.context(),
        scheduler,
        wip: Wip::new(),
        next: Mutex::new(None),
    });
    resubscribe(&shared, subscriber);
}

fn resubscribe<P, Pol, S>(shared: &Arc<Shared<P, S, Pol>>, subscriber: S)
where
    P: Publisher + Clone + Send + 'static,
    Pol: RetryPolicy<P::Error>,
    S: Subscriber<Item = P::Item, Error = P::Error>,
{
    *lock(&shared.next) = Some(subscriber);
    if !shared.wip.signal() {
        return; // the loop below, further up this stack (or on another thread), runs it
    }
    shared.wip.run(|| {
        let next = lock(&shared.next).take();
        if let Some(downstream) = next {
            if shared.arbiter.is_cancelled() {
                drop(downstream);
            } else {
                let publisher = lock(&shared.publisher).clone();
                publisher.subscribe(RetrySubscriber {
                    shared: Arc::clone(shared),
                    downstream: Some(downstream),
                    attached: false,
                });
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

struct RetrySubscriber<P, S, Pol> {
    shared: Arc<Shared<P, S, Pol>>,
    /// `None` once this subscription terminated (late signals are dropped).
    downstream: Option<S>,
    /// `on_subscribe` came (a second one is cancelled).
    attached: bool,
}

impl<P, S, Pol> Subscriber for RetrySubscriber<P, S, Pol>
where
    P: Publisher + Clone + Send + 'static,
    Pol: RetryPolicy<P::Error>,
    S: Subscriber<Item = P::Item, Error = P::Error>,
{
    type Item = P::Item;
    type Error = P::Error;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.shared.arbiter.attach(&mut self.attached, subscription);
    }

    fn on_next(&mut self, item: P::Item) {
        if let Some(d) = &mut self.downstream {
            self.shared.arbiter.produced();
            d.on_next(item);
        }
    }

    fn on_error(&mut self, error: Error<P::Error>) {
        let Some(mut downstream) = self.downstream.take() else {
            return;
        };
        let shared = &self.shared;
        shared.arbiter.detach();
        // Downstream's own mistake is never retried.
        if matches!(error, Error::InvalidRequest { .. }) || shared.arbiter.is_cancelled() {
            return downstream.on_error(error);
        }
        let decided = {
            let mut policy = lock(&shared.policy);
            catch_unwind(AssertUnwindSafe(|| policy.decide(&error)))
        };
        match decided {
            Err(payload) => downstream.on_error(Error::from_panic(Pol::STAGE, payload)),
            Ok(Decision::GiveUp) => downstream.on_error(error),
            Ok(Decision::After(d)) if d.is_zero() => resubscribe(shared, downstream),
            Ok(Decision::After(d)) => {
                let scheduler = shared
                    .scheduler
                    .clone()
                    .unwrap_or_else(|| shared.context.scheduler());
                let again = Arc::clone(shared);
                let timer = scheduler.run_after(d, move || resubscribe(&again, downstream));
                shared.arbiter.set_timer(timer);
            }
        }
    }

    fn on_complete(&mut self) {
        if let Some(mut d) = self.downstream.take() {
            self.shared.arbiter.detach();
            d.on_complete();
        }
    }

    fn context(&self) -> Context {
        self.shared.context.clone()
    }
}
