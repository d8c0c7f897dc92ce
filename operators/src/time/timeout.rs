//! `timeout`: fail with `Error::Timeout` (or switch to a fallback publisher) when
//! upstream leaves outstanding demand unanswered for too long; the first item may have a
//! deadline of its own.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use spillway_core::{
    BoxPublisher, ConfigError, Context, Demand, Error, Publisher, Scheduler, SchedulerExt,
    SharedSubscription, Subscriber, Subscription, TaskHandle,
};

use crate::engine::support;

const STAGE: &str = "timeout";

/// Publisher for the [`timeout`](crate::OperatorExt::timeout),
/// [`timeout_first`](crate::OperatorExt::timeout_first) and
/// [`timeout_with`](crate::OperatorExt::timeout_with) methods. `F` is the fallback
/// publisher of `timeout_with` ([`NoFallback`] otherwise).
#[must_use = "publishers do nothing until subscribed"]
pub struct Timeout<P, F = NoFallback> {
    upstream: P,
    after: Duration,
    /// The deadline of the first item, if it has its own.
    first: Option<Duration>,
    fallback: F,
    scheduler: Option<Arc<dyn Scheduler>>,
}

/// The fallback of a [`Timeout`] that fails instead of switching.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoFallback;

fn positive(d: Duration) -> Result<Duration, ConfigError> {
    if d.is_zero() {
        Err(ConfigError::new(
            STAGE,
            "the timeout must be greater than zero",
        ))
    } else {
        Ok(d)
    }
}

impl<P> Timeout<P> {
    pub(crate) fn new(upstream: P, after: Duration) -> Result<Self, ConfigError> {
        Ok(Timeout {
            upstream,
            after: positive(after)?,
            first: None,
            fallback: NoFallback,
            scheduler: None,
        })
    }
}

impl<P, F> Timeout<P, F> {
    /// Gives the first item a deadline of its own, `first` (the others keep theirs):
    /// what [`timeout_first`](crate::OperatorExt::timeout_first) does, also for
    /// [`timeout_with`](crate::OperatorExt::timeout_with).
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway::prelude::*;
    /// let secs = Duration::from_secs;
    /// let guarded = never::<u8, std::convert::Infallible>().timeout_with(secs(1), just(0))?.first(secs(30))?;
    /// # let _ = guarded;
    /// # Ok::<(), spillway::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError`] if `first` is zero.
    pub fn first(mut self, first: Duration) -> Result<Self, ConfigError> {
        self.first = Some(positive(first)?);
        Ok(self)
    }

    /// Switches to `fallback` instead of failing.
    pub(crate) fn with_fallback<G>(self, fallback: G) -> Timeout<P, G> {
        Timeout {
            upstream: self.upstream,
            after: self.after,
            first: self.first,
            fallback,
            scheduler: self.scheduler,
        }
    }

    /// Runs the timers on `scheduler` instead of the subscriber's context's scheduler.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway::prelude::*;
    /// use spillway_testkit::{TestSubscriber, VirtualScheduler};
    /// let vs = VirtualScheduler::new();
    /// let (sub, h) = TestSubscriber::<u8, ()>::new(1);
    /// never::<u8, ()>().timeout(Duration::from_secs(5)).unwrap().on(vs.clone()).subscribe(sub);
    /// vs.advance_by(Duration::from_secs(5));
    /// h.assert_error_matches(|e| matches!(e, spillway::Error::Timeout { .. }));
    /// ```
    pub fn on(mut self, scheduler: Arc<dyn Scheduler>) -> Self {
        self.scheduler = Some(scheduler);
        self
    }
}

impl<P: Clone, F: Clone> Clone for Timeout<P, F> {
    fn clone(&self) -> Self {
        Timeout {
            upstream: self.upstream.clone(),
            after: self.after,
            first: self.first,
            fallback: self.fallback.clone(),
            scheduler: self.scheduler.clone(),
        }
    }
}

/// What a [`Timeout`] does when the clock runs out: fail ([`NoFallback`]), or switch to
/// a fallback publisher (any publisher of the same items and errors).
///
/// ```
/// use spillway::operators::{NoFallback, OnTimeout};
/// use spillway::prelude::*;
/// assert!(OnTimeout::<u64, ()>::into_fallback(NoFallback).is_none());
/// assert!(range(0, 2).into_fallback().is_some());
/// ```
pub trait OnTimeout<T, E>: Send + 'static {
    /// The fallback, boxed, if there is one.
    fn into_fallback(self) -> Option<BoxPublisher<T, E>>;
}

impl<T, E> OnTimeout<T, E> for NoFallback {
    fn into_fallback(self) -> Option<BoxPublisher<T, E>> {
        None
    }
}

impl<Q> OnTimeout<Q::Item, Q::Error> for Q
where
    Q: Publisher + Send + 'static,
{
    fn into_fallback(self) -> Option<BoxPublisher<Q::Item, Q::Error>> {
        Some(BoxPublisher::new(self))
    }
}

impl<P, F> Publisher for Timeout<P, F>
where
    P: Publisher,
    F: OnTimeout<P::Item, P::Error>,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        let context = subscriber.context();
        let scheduler = self.scheduler.unwrap_or_else(|| context.scheduler());
        let shared = Arc::new_cyclic(|me| Shared {
            state: Mutex::new(State {
                downstream: Some(subscriber),
                emitting: false,
                done: false,
                pending: None,
                reentrant: VecDeque::new(),
                outstanding: Demand::ZERO,
                timer: None,
                generation: 0,
                upstream: None,
                received: false,
                fallback: self.fallback.into_fallback(),
                source: Source::Upstream,
            }),
            after: self.after,
            first: self.first,
            scheduler,
            context: context.clone(),
            me: me.clone(),
        });
        self.upstream.subscribe(TimeoutSubscriber {
            shared,
            context,
            source: Source::Upstream,
        });
    }
}

impl<P: fmt::Debug, F> fmt::Debug for Timeout<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("upstream", &self.upstream)
            .field("after", &self.after)
            .field("first", &self.first)
            .field("scheduler", &self.scheduler)
            .finish_non_exhaustive()
    }
}

/// Which publisher a signal comes from: upstream, or the fallback it was switched to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Source {
    Upstream,
    Fallback,
}

struct State<S: Subscriber> {
    /// Taken out while a signal is being delivered (so that the lock is not held while
    /// downstream runs), and for good at the terminal signal.
    downstream: Option<S>,
    emitting: bool,
    done: bool,
    /// A terminal signal that arrived while another signal was being delivered.
    pending: Option<Result<(), Error<S::Error>>>,
    /// Items delivered re-entrantly (from inside downstream's `on_next`, by an upstream
    /// that emits inside `request`): delivered in order by the outer call.
    reentrant: VecDeque<S::Item>,
    /// Requested by downstream and not yet delivered: the clock runs only while this is
    /// not zero.
    outstanding: Demand,
    timer: Option<TaskHandle>,
    /// Identifies the armed timer: a timer that fires after being replaced does nothing.
    generation: u64,
    /// The subscription of the publisher signals come from (upstream, or the fallback).
    upstream: Option<SharedSubscription>,
    /// An item arrived: the `first` deadline no longer applies.
    received: bool,
    /// `timeout_with`'s fallback, until the switch.
    fallback: Option<BoxPublisher<S::Item, S::Error>>,
    /// Whose signals count: upstream's until the switch, the fallback's after it.
    source: Source,
}

struct Shared<S: Subscriber> {
    state: Mutex<State<S>>,
    after: Duration,
    first: Option<Duration>,
    scheduler: Arc<dyn Scheduler>,
    context: Context,
    me: Weak<Shared<S>>,
}

impl<S> Shared<S>
where
    S: Subscriber,
    S::Item: Send + 'static,
    S::Error: Send + 'static,
{
    fn lock(&self) -> MutexGuard<'_, State<S>> {
        support::lock(&self.state)
    }

    /// The deadline that applies now: `first` until an item arrived, then `after`.
    fn deadline(&self, st: &State<S>) -> Duration {
        match self.first {
            Some(first) if !st.received => first,
            _ => self.after,
        }
    }

    /// Starts the clock if demand is outstanding and none is running (never on the
    /// fallback: its items have no deadline).
    fn arm(&self, st: &mut State<S>) {
        if st.done
            || st.timer.is_some()
            || st.outstanding.is_zero()
            || st.source == Source::Fallback
        {
            return;
        }
        st.generation += 1;
        let generation = st.generation;
        let after = self.deadline(st);
        let me = self.me.clone();
        st.timer = Some(self.scheduler.run_after(after, move || {
            if let Some(shared) = me.upgrade() {
                shared.fire(generation, after);
            }
        }));
    }

    fn disarm(st: &mut State<S>) {
        if let Some(t) = st.timer.take() {
            t.cancel();
        }
    }

    fn fire(&self, generation: u64, after: Duration) {
        let mut st = self.lock();
        if st.done || st.generation != generation {
            return;
        }
        st.timer = None;
        let upstream = st.upstream.take();
        if let Some(up) = &upstream {
            up.cancel();
        }
        if let Some(fallback) = st.fallback.take() {
            // From now on only the fallback's signals count; it is asked for the demand
            // still outstanding when its subscription arrives.
            st.source = Source::Fallback;
            drop(st);
            if let Some(shared) = self.me.upgrade() {
                fallback.subscribe(TimeoutSubscriber {
                    shared,
                    context: self.context.clone(),
                    source: Source::Fallback,
                });
            }
            return;
        }
        self.terminate(
            st,
            Err(Error::Timeout {
                stage: STAGE,
                after,
            }),
        );
    }

    /// Delivers a terminal signal now, or after the signal being delivered.
    fn terminate(&self, mut st: MutexGuard<'_, State<S>>, end: Result<(), Error<S::Error>>) {
        if st.done {
            return;
        }
        st.done = true;
        Self::disarm(&mut st);
        st.upstream = None;
        if st.emitting {
            st.pending = Some(end);
            return;
        }
        let downstream = st.downstream.take();
        drop(st);
        if let Some(mut d) = downstream {
            match end {
                Ok(()) => d.on_complete(),
                Err(e) => d.on_error(e),
            }
        }
    }

    /// Runs `signal` on downstream without holding the lock, then delivers what arrived
    /// meanwhile (re-entrant items, a terminal signal).
    fn deliver(&self, mut st: MutexGuard<'_, State<S>>, signal: impl FnOnce(&mut S)) {
        let Some(mut d) = st.downstream.take() else {
            return;
        };
        st.emitting = true;
        drop(st);
        signal(&mut d);
        loop {
            let mut st = self.lock();
            if let Some(item) = st.reentrant.pop_front() {
                drop(st);
                d.on_next(item);
                continue;
            }
            st.emitting = false;
            match st.pending.take() {
                Some(end) => {
                    drop(st);
                    match end {
                        Ok(()) => d.on_complete(),
                        Err(e) => d.on_error(e),
                    }
                }
                None if st.done => {} // cancelled meanwhile: release downstream
                None => st.downstream = Some(d),
            }
            return;
        }
    }
}

impl<S> Subscription for Shared<S>
where
    S: Subscriber,
    S::Item: Send + 'static,
    S::Error: Send + 'static,
{
    fn request(&self, n: u64) {
        let upstream = {
            let mut st = self.lock();
            if st.done {
                return;
            }
            st.outstanding = st.outstanding.add(n);
            self.arm(&mut st);
            st.upstream.clone()
        };
        if let Some(up) = upstream {
            up.request(n); // request(0) included: upstream answers with InvalidRequest
        }
    }

    fn cancel(&self) {
        let upstream = {
            let mut st = self.lock();
            st.done = true;
            Self::disarm(&mut st);
            if !st.emitting {
                st.downstream = None;
            }
            st.upstream.take()
        };
        if let Some(up) = upstream {
            up.cancel();
        }
    }
}

struct TimeoutSubscriber<S: Subscriber> {
    shared: Arc<Shared<S>>,
    context: Context,
    source: Source,
}

impl<S: Subscriber> Subscriber for TimeoutSubscriber<S>
where
    S::Item: Send + 'static,
    S::Error: Send + 'static,
{
    type Item = S::Item;
    type Error = S::Error;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let st = {
            let mut st = self.shared.lock();
            if st.upstream.is_some() || st.done || st.source != self.source {
                drop(st);
                subscription.cancel(); // rule 2.5, or already cancelled or switched
                return;
            }
            st.upstream = Some(subscription.clone());
            st
        };
        if self.source == Source::Fallback {
            // Downstream is subscribed already: the fallback takes over its demand.
            let outstanding = st.outstanding;
            drop(st);
            if !outstanding.is_zero() {
                subscription.request(outstanding.get());
            }
            return;
        }
        let link: SharedSubscription = self.shared.clone();
        self.shared.deliver(st, move |d| d.on_subscribe(link));
    }

    fn on_next(&mut self, item: S::Item) {
        let mut st = self.shared.lock();
        if st.done || st.source != self.source {
            return; // late, or from the upstream the stage switched away from
        }
        st.received = true;
        Shared::disarm(&mut st);
        if st.outstanding.is_zero() {
            // Emitted without demand: the upstream broke rule 1.1.
            if let Some(up) = st.upstream.take() {
                up.cancel();
            }
            let error = Error::ProtocolViolation {
                stage: STAGE,
                what: "upstream emitted more items than requested",
            };
            return self.shared.terminate(st, Err(error));
        }
        st.outstanding = st.outstanding.produced(1);
        self.shared.arm(&mut st);
        if st.emitting {
            st.reentrant.push_back(item);
            return;
        }
        self.shared.deliver(st, move |d| d.on_next(item));
    }

    fn on_error(&mut self, error: Error<S::Error>) {
        let st = self.shared.lock();
        if st.source == self.source {
            self.shared.terminate(st, Err(error));
        }
    }

    fn on_complete(&mut self) {
        let st = self.shared.lock();
        if st.source == self.source {
            self.shared.terminate(st, Ok(()));
        }
    }

    fn context(&self) -> Context {
        self.context.clone()
    }
}
