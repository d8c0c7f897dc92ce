//! `timeout`: fail with `Error::Timeout` when upstream leaves outstanding demand
//! unanswered for too long.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use spillway_core::{
    ConfigError, Context, Demand, Error, Publisher, Scheduler, SchedulerExt, SharedSubscription,
    Subscriber, Subscription, TaskHandle,
};

use crate::engine::support;

const STAGE: &str = "timeout";

/// Publisher for the [`timeout`](crate::OperatorExt::timeout) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct Timeout<P> {
    upstream: P,
    after: Duration,
    scheduler: Option<Arc<dyn Scheduler>>,
}

impl<P> Timeout<P> {
    pub(crate) fn new(upstream: P, after: Duration) -> Result<Self, ConfigError> {
        if after.is_zero() {
            return Err(ConfigError::new(
                STAGE,
                "the timeout must be greater than zero",
            ));
        }
        Ok(Timeout {
            upstream,
            after,
            scheduler: None,
        })
    }

    /// Runs the timers on `scheduler` instead of the subscriber's context's scheduler.
    pub fn on(mut self, scheduler: Arc<dyn Scheduler>) -> Self {
        self.scheduler = Some(scheduler);
        self
    }
}

impl<P: Clone> Clone for Timeout<P> {
    fn clone(&self) -> Self {
        Timeout {
            upstream: self.upstream.clone(),
            after: self.after,
            scheduler: self.scheduler.clone(),
        }
    }
}

impl<P: Publisher> Publisher for Timeout<P> {
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
            }),
            after: self.after,
            scheduler,
            me: me.clone(),
        });
        self.upstream
            .subscribe(TimeoutSubscriber { shared, context });
    }
}

impl<P: fmt::Debug> fmt::Debug for Timeout<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("upstream", &self.upstream)
            .field("after", &self.after)
            .field("scheduler", &self.scheduler)
            .finish()
    }
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
    upstream: Option<SharedSubscription>,
}

struct Shared<S: Subscriber> {
    state: Mutex<State<S>>,
    after: Duration,
    scheduler: Arc<dyn Scheduler>,
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

    /// Starts the clock if demand is outstanding and none is running.
    fn arm(&self, st: &mut State<S>) {
        if st.done || st.timer.is_some() || st.outstanding.is_zero() {
            return;
        }
        st.generation += 1;
        let generation = st.generation;
        let me = self.me.clone();
        st.timer = Some(self.scheduler.run_after(self.after, move || {
            if let Some(shared) = me.upgrade() {
                shared.fire(generation);
            }
        }));
    }

    fn disarm(st: &mut State<S>) {
        if let Some(t) = st.timer.take() {
            t.cancel();
        }
    }

    fn fire(&self, generation: u64) {
        let error = Error::Timeout {
            stage: STAGE,
            after: self.after,
        };
        let mut st = self.lock();
        if st.done || st.generation != generation {
            return;
        }
        st.timer = None;
        let upstream = st.upstream.take();
        if let Some(up) = &upstream {
            up.cancel();
        }
        self.terminate(st, Err(error));
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
            if st.upstream.is_some() || st.done {
                drop(st);
                subscription.cancel(); // rule 2.5, or already cancelled
                return;
            }
            st.upstream = Some(subscription);
            st
        };
        let link: SharedSubscription = self.shared.clone();
        self.shared.deliver(st, move |d| d.on_subscribe(link));
    }

    fn on_next(&mut self, item: S::Item) {
        let mut st = self.shared.lock();
        if st.done {
            return;
        }
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
        self.shared.terminate(st, Err(error));
    }

    fn on_complete(&mut self) {
        let st = self.shared.lock();
        self.shared.terminate(st, Ok(()));
    }

    fn context(&self) -> Context {
        self.context.clone()
    }
}
