//! `take_until`: pass items until another publisher emits or completes.

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use spillway_core::{Context, Error, Publisher, SharedSubscription, Subscriber, Subscription};

use crate::engine::support::lock;

/// Publisher for the [`take_until`](crate::OperatorExt::take_until) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct TakeUntil<P, O> {
    upstream: P,
    other: O,
}

impl<P, O> TakeUntil<P, O> {
    pub(crate) fn new(upstream: P, other: O) -> Self {
        TakeUntil { upstream, other }
    }
}

impl<P, O> Publisher for TakeUntil<P, O>
where
    P: Publisher,
    O: Publisher<Error = P::Error>,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        let context = subscriber.context();
        let shared = Arc::new(Shared {
            gate: Mutex::new(Gate {
                downstream: subscriber,
                subscribed: false,
                done: false,
                pending: None,
            }),
            main: OnceLock::new(),
            other: OnceLock::new(),
            cancelled: AtomicBool::new(false),
        });
        // The other first, so that one that fires at once stops the main before it emits.
        self.other.subscribe(OtherSubscriber {
            shared: Arc::clone(&shared),
            context: context.clone(),
            _item: PhantomData,
        });
        self.upstream.subscribe(MainSubscriber { shared, context });
    }
}

/// The downstream, behind the lock that serializes the signals of both sides.
struct Gate<S: Subscriber> {
    downstream: S,
    /// `on_subscribe` went downstream.
    subscribed: bool,
    done: bool,
    /// The other side fired before downstream was subscribed: the terminal to send then.
    pending: Option<Option<Error<S::Error>>>,
}

impl<S: Subscriber> Gate<S> {
    fn terminate(&mut self, error: Option<Error<S::Error>>) {
        self.done = true;
        match error {
            Some(e) => self.downstream.on_error(e),
            None => self.downstream.on_complete(),
        }
    }
}

struct Shared<S: Subscriber> {
    gate: Mutex<Gate<S>>,
    main: OnceLock<SharedSubscription>,
    other: OnceLock<SharedSubscription>,
    cancelled: AtomicBool,
}

/// The side whose terminal signal ends the stream: its subscription is over, and
/// calling it from inside that signal would break rule 2.3.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ended {
    Main,
    Other,
    Neither,
}

impl<S: Subscriber> Shared<S> {
    fn cancel_all(&self, ended: Ended) {
        self.cancelled.store(true, Ordering::SeqCst);
        for (side, which) in [(&self.main, Ended::Main), (&self.other, Ended::Other)] {
            if let (Some(s), true) = (side.get(), which != ended) {
                s.cancel();
            }
        }
    }

    /// Stores one side's subscription (rule 2.5: a second one is cancelled); false if
    /// it must not be used.
    fn attach(&self, side: &OnceLock<SharedSubscription>, s: SharedSubscription) -> bool {
        if side.set(Arc::clone(&s)).is_err() {
            s.cancel();
            return false;
        }
        if self.cancelled.load(Ordering::SeqCst) {
            s.cancel();
            return false;
        }
        true
    }

    /// A terminal signal from either side: cancels both and ends downstream (later, if
    /// downstream is not subscribed yet).
    fn finish(&self, error: Option<Error<S::Error>>, ended: Ended) {
        let mut gate = lock(&self.gate);
        if gate.done || gate.pending.is_some() {
            return;
        }
        self.cancel_all(ended);
        if gate.subscribed {
            gate.terminate(error);
        } else {
            gate.pending = Some(error);
        }
    }
}

/// Downstream's view: requests go to the main upstream; cancel stops both sides. Weak:
/// downstream holds it, and the shared state holds downstream (rule 3.13: once both
/// upstreams have released their subscribers, downstream is released).
struct Link<S: Subscriber>(Weak<Shared<S>>);

impl<S> Subscription for Link<S>
where
    S: Subscriber,
    S::Error: Send,
{
    fn request(&self, n: u64) {
        if let Some(shared) = self.0.upgrade() {
            if let Some(main) = shared.main.get() {
                main.request(n);
            }
        }
    }

    fn cancel(&self) {
        if let Some(shared) = self.0.upgrade() {
            shared.cancel_all(Ended::Neither);
        }
    }
}

struct MainSubscriber<S: Subscriber> {
    shared: Arc<Shared<S>>,
    context: Context,
}

impl<S> Subscriber for MainSubscriber<S>
where
    S: Subscriber,
    S::Error: Send,
{
    type Item = S::Item;
    type Error = S::Error;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if self.shared.main.set(Arc::clone(&subscription)).is_err() {
            subscription.cancel(); // rule 2.5
            return;
        }
        let mut gate = lock(&self.shared.gate);
        gate.subscribed = true;
        gate.downstream
            .on_subscribe(Arc::new(Link(Arc::downgrade(&self.shared))));
        if self.shared.cancelled.load(Ordering::SeqCst) {
            subscription.cancel();
        }
        if let Some(pending) = gate.pending.take() {
            if !gate.done {
                gate.terminate(pending);
            }
        }
    }

    fn on_next(&mut self, item: S::Item) {
        let mut gate = lock(&self.shared.gate);
        if !gate.done {
            gate.downstream.on_next(item);
        }
    }

    fn try_on_next(&mut self, item: S::Item) -> bool {
        let mut gate = lock(&self.shared.gate);
        gate.done || gate.downstream.try_on_next(item)
    }

    fn on_error(&mut self, error: Error<S::Error>) {
        self.shared.finish(Some(error), Ended::Main);
    }

    fn on_complete(&mut self) {
        self.shared.finish(None, Ended::Main);
    }

    fn context(&self) -> Context {
        self.context.clone()
    }
}

/// Subscribes to the other publisher with unbounded demand; its first signal ends the
/// stream.
struct OtherSubscriber<S: Subscriber, U> {
    shared: Arc<Shared<S>>,
    context: Context,
    _item: PhantomData<fn(U)>,
}

impl<S, U> Subscriber for OtherSubscriber<S, U>
where
    S: Subscriber,
    S::Error: Send,
    U: 'static,
{
    type Item = U;
    type Error = S::Error;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if self
            .shared
            .attach(&self.shared.other, Arc::clone(&subscription))
        {
            subscription.request(u64::MAX);
        }
    }

    fn on_next(&mut self, _item: U) {
        self.shared.finish(None, Ended::Neither);
    }

    fn on_error(&mut self, error: Error<S::Error>) {
        self.shared.finish(Some(error), Ended::Other);
    }

    fn on_complete(&mut self) {
        self.shared.finish(None, Ended::Other);
    }

    fn context(&self) -> Context {
        self.context.clone()
    }
}

impl<P: fmt::Debug, O: fmt::Debug> fmt::Debug for TakeUntil<P, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TakeUntil")
            .field("upstream", &self.upstream)
            .field("other", &self.other)
            .finish()
    }
}
