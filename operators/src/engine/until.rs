//! A stage steered by another publisher: `take_until` (the other's first signal ends
//! the stream) and `skip_until` (it opens the gate). Both sides' signals to downstream
//! are serialized by one lock, so the other may signal from any thread; the other is
//! subscribed first, with unbounded demand, so one that fires at once acts before the
//! first item.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use spillway_core::{Context, Error, Publisher, SharedSubscription, Subscriber, Subscription};

use crate::engine::support::lock;

/// What the other publisher's item or completion does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Until {
    /// Ends the stream (`take_until`): both sides cancelled, downstream completes.
    Take,
    /// Opens the gate (`skip_until`): items pass from then on, the other is cancelled.
    Skip,
}

/// Subscribes `upstream` (gated by `other` as `until` says) for `subscriber`.
pub(crate) fn subscribe<P, O, S>(upstream: P, other: O, subscriber: S, until: Until)
where
    P: Publisher,
    O: Publisher<Error = P::Error>,
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
        open: AtomicBool::new(until == Until::Take),
        until,
    });
    // The other first, so that one that fires at once acts before the main emits.
    other.subscribe(OtherSubscriber {
        shared: Arc::clone(&shared),
        context: context.clone(),
        _item: PhantomData,
    });
    upstream.subscribe(MainSubscriber { shared, context });
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
    /// Main's items pass (always for `take_until`; once the other fired for `skip_until`).
    open: AtomicBool,
    until: Until,
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
    /// Main's items pass: always for `take_until` (no atomic read on its path).
    #[inline]
    fn is_open(&self) -> bool {
        self.until == Until::Take || self.open.load(Ordering::SeqCst)
    }

    fn cancel_all(&self, ended: Ended) {
        self.cancelled.store(true, Ordering::SeqCst);
        // The other's part is over once it opened the gate (it was cancelled, or ended):
        // it is not cancelled again.
        let other_over = self.until == Until::Skip && self.open.load(Ordering::SeqCst);
        for (side, which) in [(&self.main, Ended::Main), (&self.other, Ended::Other)] {
            let over = which == ended || (which == Ended::Other && other_over);
            if let (Some(s), false) = (side.get(), over) {
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
        if !self.shared.is_open() {
            // Skipped: ask for one more in its place (as a filter does).
            drop(item);
            if let Some(main) = self.shared.main.get() {
                main.request(1);
            }
            return;
        }
        let mut gate = lock(&self.shared.gate);
        if !gate.done {
            gate.downstream.on_next(item);
        }
    }

    fn try_on_next(&mut self, item: S::Item) -> bool {
        if !self.shared.is_open() {
            return false; // skipped: its unit of demand stays outstanding
        }
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
        match self.shared.until {
            Until::Take => self.shared.finish(None, Ended::Neither),
            Until::Skip => {
                // Its first item opens the gate; the other is no longer needed.
                self.shared.open.store(true, Ordering::SeqCst);
                if let Some(other) = self.shared.other.get() {
                    other.cancel();
                }
            }
        }
    }

    fn on_error(&mut self, error: Error<S::Error>) {
        if self.shared.until == Until::Skip && self.shared.open.load(Ordering::SeqCst) {
            return; // a late error of a cancelled other: its job was done
        }
        self.shared.finish(Some(error), Ended::Other);
    }

    fn on_complete(&mut self) {
        match self.shared.until {
            Until::Take => self.shared.finish(None, Ended::Other),
            // Completing without an item opens the gate too (Reactor's skipUntilOther).
            Until::Skip => self.shared.open.store(true, Ordering::SeqCst),
        }
    }

    fn context(&self) -> Context {
        self.context.clone()
    }
}
