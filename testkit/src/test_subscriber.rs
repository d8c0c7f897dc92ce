//! `TestSubscriber`: records every signal with its (virtual) time and checks the protocol.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use spillway_core::{Context, Demand, Error, Scheduler, SharedSubscription, Stage, Subscriber};

use crate::signal::{Event, Signal, Timeline};
use crate::virtual_scheduler::VirtualScheduler;

/// Where recorded times come from.
#[derive(Debug, Clone)]
pub(crate) enum Clock {
    Virtual(Arc<VirtualScheduler>),
    Real(Instant),
}

impl Clock {
    pub(crate) fn elapsed(&self) -> Duration {
        match self {
            Clock::Virtual(vs) => vs.elapsed(),
            Clock::Real(start) => start.elapsed(),
        }
    }
}

/// A breach of the Reactive Streams protocol seen by a [`TestSubscriber`].
///
/// ```
/// use spillway_testkit::TestSubscriber;
/// let (_sub, handle) = TestSubscriber::<u8, ()>::new(0);
/// assert!(handle.violations().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolViolation {
    /// When it happened.
    pub at: Duration,
    /// The Reactive Streams rule broken, e.g. `"1.1"`.
    pub rule: &'static str,
    /// What happened.
    pub what: String,
}

impl fmt::Display for ProtocolViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {:?}: {} (rule {})", self.at, self.what, self.rule)
    }
}

struct State<T, E> {
    events: Vec<Event<T, E>>,
    subscription: Option<SharedSubscription>,
    subscribed: bool,
    terminated: bool,
    cancelled: bool,
    /// Requests made before `on_subscribe`, sent when it arrives.
    pending_request: Demand,
    outstanding: Demand,
    requested_total: Demand,
    received: u64,
    violations: Vec<ProtocolViolation>,
}

pub(crate) struct Shared<T, E> {
    state: Mutex<State<T, E>>,
    changed: Condvar,
    clock: Mutex<Clock>,
}

impl<T, E> Shared<T, E> {
    fn lock(&self) -> MutexGuard<'_, State<T, E>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn clock(&self) -> Clock {
        self.clock.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    fn now(&self) -> Duration {
        self.clock().elapsed()
    }
}

/// A [`Subscriber`] that records every signal it receives (and every request and cancel
/// made through its [`TestSubscriberHandle`]) as [`Event`]s, and checks the protocol as the
/// signals arrive.
///
/// It is moved into `subscribe`; the test keeps the cloneable handle. Built
/// [`with_scheduler`](Self::with_scheduler), it records virtual times and its
/// [`context`](Subscriber::context) carries the [`VirtualScheduler`], so a production
/// pipeline written with plain `interval(d)` runs on virtual time.
///
/// # Examples
/// ```
/// use spillway_core::prelude::*;
/// use spillway_testkit::TestSubscriber;
///
/// let (sub, handle) = TestSubscriber::new(2);
/// range(0, 5).subscribe(sub);
/// handle.assert_items(&[0, 1]);
/// handle.request(10);
/// handle.assert_items(&[0, 1, 2, 3, 4]);
/// handle.assert_complete();
/// handle.assert_no_protocol_violations();
/// ```
pub struct TestSubscriber<T, E> {
    shared: Arc<Shared<T, E>>,
    initial_request: u64,
    context: Context,
}

/// The test's side of a [`TestSubscriber`]: demand, cancellation, the recording and
/// assertions. Cheap to clone and usable from any thread.
///
/// Assertions panic with a message that includes the recorded timeline.
pub struct TestSubscriberHandle<T, E> {
    shared: Arc<Shared<T, E>>,
}

impl<T, E> Clone for TestSubscriberHandle<T, E> {
    fn clone(&self) -> Self {
        TestSubscriberHandle {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T, E> TestSubscriber<T, E> {
    /// A recording subscriber that requests `initial_request` items in `on_subscribe`
    /// (`0`: nothing until [`TestSubscriberHandle::request`]; `u64::MAX`: unbounded), with
    /// real-time timestamps and the default context.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::TestSubscriber;
    /// let (sub, handle) = TestSubscriber::new(0);
    /// just(1).subscribe(sub);
    /// handle.assert_items(&[]);
    /// handle.assert_not_terminated();
    /// ```
    pub fn new(initial_request: u64) -> (TestSubscriber<T, E>, TestSubscriberHandle<T, E>) {
        Self::build(
            initial_request,
            Clock::Real(Instant::now()),
            Context::default(),
        )
    }

    /// Like [`new`](Self::new), recording virtual times of `scheduler` and carrying it in
    /// its context, so time-based stages of the pipeline run on it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::{TestSubscriber, VirtualScheduler};
    ///
    /// let vs = VirtualScheduler::new();
    /// let (sub, handle) = TestSubscriber::with_scheduler(2, vs.clone());
    /// interval(Duration::from_secs(60)).unwrap().subscribe(sub);
    /// vs.advance_by(Duration::from_secs(120));
    /// handle.assert_items(&[0, 1]);
    /// assert_eq!(handle.events().last().unwrap().at, Duration::from_secs(120));
    /// handle.cancel();
    /// ```
    pub fn with_scheduler(
        initial_request: u64,
        scheduler: Arc<VirtualScheduler>,
    ) -> (TestSubscriber<T, E>, TestSubscriberHandle<T, E>) {
        let context = Context::with_scheduler(scheduler.clone() as Arc<dyn Scheduler>);
        Self::build(initial_request, Clock::Virtual(scheduler), context)
    }

    fn build(
        initial_request: u64,
        clock: Clock,
        context: Context,
    ) -> (TestSubscriber<T, E>, TestSubscriberHandle<T, E>) {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                events: Vec::new(),
                subscription: None,
                subscribed: false,
                terminated: false,
                cancelled: false,
                pending_request: Demand::ZERO,
                outstanding: Demand::ZERO,
                requested_total: Demand::ZERO,
                received: 0,
                violations: Vec::new(),
            }),
            changed: Condvar::new(),
            clock: Mutex::new(clock),
        });
        let handle = TestSubscriberHandle {
            shared: Arc::clone(&shared),
        };
        (
            TestSubscriber {
                shared,
                initial_request,
                context,
            },
            handle,
        )
    }

    /// Switches to virtual time before subscribing (used by `StepVerifier::with_scheduler`).
    pub(crate) fn set_scheduler(&mut self, scheduler: Arc<VirtualScheduler>) {
        self.context = Context::with_scheduler(scheduler.clone() as Arc<dyn Scheduler>);
        *self.shared.clock.lock().unwrap_or_else(|p| p.into_inner()) = Clock::Virtual(scheduler);
    }

    /// Another handle on this subscriber's recording.
    ///
    /// ```
    /// use spillway_testkit::TestSubscriber;
    /// let (sub, _handle) = TestSubscriber::<u8, ()>::new(1);
    /// let again = sub.handle();
    /// assert!(!again.is_subscribed());
    /// ```
    pub fn handle(&self) -> TestSubscriberHandle<T, E> {
        TestSubscriberHandle {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T, E> TestSubscriber<T, E> {
    fn record(&self, state: &mut State<T, E>, signal: Signal<T, E>) {
        let at = self.shared.now();
        state.events.push(Event::new(at, signal));
    }

    fn violation(&self, state: &mut State<T, E>, rule: &'static str, what: String) {
        let at = self.shared.now();
        state.violations.push(ProtocolViolation { at, rule, what });
    }

    fn check_terminal(&self, state: &mut State<T, E>, kind: &str) {
        if !state.subscribed {
            self.violation(state, "1.9", format!("{kind} before on_subscribe"));
        }
        if state.terminated {
            self.violation(state, "1.7", format!("{kind} after a terminal signal"));
        }
    }
}

impl<T: Send + 'static, E: Send + 'static> Subscriber for TestSubscriber<T, E> {
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let mut state = self.shared.lock();
        if state.subscribed {
            self.violation(&mut state, "2.5", "a second on_subscribe".to_string());
            self.record(&mut state, Signal::Subscribe);
            drop(state);
            self.shared.changed.notify_all();
            subscription.cancel(); // rule 2.5: refuse the second subscription
            return;
        }
        state.subscribed = true;
        self.record(&mut state, Signal::Subscribe);
        state.subscription = Some(Arc::clone(&subscription));
        let mut to_request = state.pending_request;
        if self.initial_request > 0 {
            to_request = to_request.add(self.initial_request);
            state.outstanding = state.outstanding.add(self.initial_request);
            state.requested_total = state.requested_total.add(self.initial_request);
            self.record(&mut state, Signal::Request(self.initial_request));
        }
        state.pending_request = Demand::ZERO;
        let cancel = state.cancelled;
        drop(state);
        self.shared.changed.notify_all();
        if cancel {
            subscription.cancel();
        } else if !to_request.is_zero() {
            subscription.request(to_request.get());
        }
    }

    fn on_next(&mut self, item: T) {
        let mut state = self.shared.lock();
        if !state.subscribed {
            self.violation(&mut state, "1.9", "on_next before on_subscribe".to_string());
        }
        if state.terminated {
            self.violation(
                &mut state,
                "1.7",
                "on_next after a terminal signal".to_string(),
            );
        }
        if state.outstanding.is_zero() {
            let what = format!(
                "on_next beyond demand: {} item(s) requested, this is item {}",
                state.requested_total.get(),
                state.received + 1
            );
            self.violation(&mut state, "1.1", what);
        }
        state.outstanding = state.outstanding.produced(1);
        state.received += 1;
        self.record(&mut state, Signal::Next(item));
        drop(state);
        self.shared.changed.notify_all();
    }

    fn on_error(&mut self, error: Error<E>) {
        let mut state = self.shared.lock();
        self.check_terminal(&mut state, "on_error");
        state.terminated = true;
        self.record(&mut state, Signal::Error(error));
        drop(state);
        self.shared.changed.notify_all();
    }

    fn on_complete(&mut self) {
        let mut state = self.shared.lock();
        self.check_terminal(&mut state, "on_complete");
        state.terminated = true;
        self.record(&mut state, Signal::Complete);
        drop(state);
        self.shared.changed.notify_all();
    }

    fn context(&self) -> Context {
        self.context.clone()
    }
}

/// Records items that a lossy stage discarded, as [`Signal::Dropped`] events in the
/// timeline of a [`TestSubscriber`]. Cheap to clone; not generic, so it can be handed to any
/// stage of a pipeline.
///
/// # Examples
/// ```
/// use spillway_testkit::TestSubscriber;
/// let (_sub, handle) = TestSubscriber::<u8, ()>::new(0);
/// let drops = handle.drop_recorder();
/// let mut on_drop = drops.on_drop::<u8>("on_backpressure_drop");
/// on_drop(&7);
/// assert_eq!(handle.dropped(), vec![("on_backpressure_drop", "7".to_string())]);
/// ```
#[derive(Clone)]
pub struct DropRecorder {
    record: Arc<dyn Fn(Stage, String) + Send + Sync>,
}

impl DropRecorder {
    /// Records that `stage` dropped an item described by `item`.
    ///
    /// ```
    /// use spillway_testkit::TestSubscriber;
    /// let (_sub, handle) = TestSubscriber::<u8, ()>::new(0);
    /// handle.drop_recorder().record("sample", "3");
    /// assert_eq!(handle.dropped().len(), 1);
    /// ```
    pub fn record(&self, stage: Stage, item: impl Into<String>) {
        (self.record)(stage, item.into())
    }

    /// A callback for a dropping operator's `on_drop` hook: records each item it is given
    /// by its `Debug` text.
    ///
    /// ```
    /// use spillway_testkit::TestSubscriber;
    /// let (_sub, handle) = TestSubscriber::<u8, ()>::new(0);
    /// let mut f = handle.drop_recorder().on_drop::<&str>("latest");
    /// f(&"x");
    /// assert_eq!(handle.dropped()[0].1, "\"x\"");
    /// ```
    pub fn on_drop<T: fmt::Debug>(&self, stage: Stage) -> impl FnMut(&T) + Send + Sync + 'static {
        let record = Arc::clone(&self.record);
        move |item: &T| record(stage, format!("{item:?}"))
    }
}

impl fmt::Debug for DropRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DropRecorder").finish_non_exhaustive()
    }
}

impl<T, E> TestSubscriberHandle<T, E> {
    /// Requests `n` more items (recorded as a [`Signal::Request`]). Before `on_subscribe`,
    /// the request is kept and sent when the subscription arrives. `request(0)` is passed
    /// through, to test rule 3.9.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::TestSubscriber;
    /// let (sub, handle) = TestSubscriber::new(0);
    /// handle.request(1); // before subscribing: deferred
    /// range(0, 3).subscribe(sub);
    /// handle.assert_items(&[0]);
    /// ```
    pub fn request(&self, n: u64) {
        let mut state = self.shared.lock();
        let at = self.shared.now();
        state.events.push(Event::new(at, Signal::Request(n)));
        state.outstanding = state.outstanding.add(n);
        state.requested_total = state.requested_total.add(n);
        let subscription = if state.subscribed {
            state.subscription.clone()
        } else {
            state.pending_request = state.pending_request.add(n);
            None
        };
        drop(state);
        self.shared.changed.notify_all();
        if let Some(s) = subscription {
            s.request(n);
        }
    }

    /// Cancels the subscription (recorded as [`Signal::Cancel`]); before `on_subscribe`,
    /// the subscription is cancelled as soon as it arrives.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::TestSubscriber;
    /// let (sub, handle) = TestSubscriber::new(1);
    /// range(0, 3).subscribe(sub);
    /// handle.cancel();
    /// handle.request(5);
    /// handle.assert_items(&[0]);
    /// assert!(handle.is_cancelled());
    /// ```
    pub fn cancel(&self) {
        let mut state = self.shared.lock();
        let at = self.shared.now();
        state.events.push(Event::new(at, Signal::Cancel));
        state.cancelled = true;
        let subscription = state.subscription.take();
        drop(state);
        self.shared.changed.notify_all();
        if let Some(s) = subscription {
            s.cancel();
        }
    }

    /// A recorder that adds [`Signal::Dropped`] events to this timeline.
    ///
    /// ```
    /// use spillway_testkit::TestSubscriber;
    /// let (_sub, handle) = TestSubscriber::<u8, ()>::new(0);
    /// handle.drop_recorder().record("stage", "1");
    /// assert_eq!(handle.event_count(), 1);
    /// ```
    pub fn drop_recorder(&self) -> DropRecorder
    where
        T: 'static,
        E: 'static,
        T: Send,
        E: Send,
    {
        let shared = Arc::clone(&self.shared);
        DropRecorder {
            record: Arc::new(move |stage, item| {
                let mut state = shared.lock();
                let at = shared.now();
                state
                    .events
                    .push(Event::new(at, Signal::Dropped { stage, item }));
                drop(state);
                shared.changed.notify_all();
            }),
        }
    }

    /// The items dropped by lossy stages, as `(stage, item)` pairs, in order.
    ///
    /// ```
    /// use spillway_testkit::TestSubscriber;
    /// let (_sub, handle) = TestSubscriber::<u8, ()>::new(0);
    /// assert!(handle.dropped().is_empty());
    /// ```
    pub fn dropped(&self) -> Vec<(Stage, String)> {
        self.with_events(|events| {
            events
                .iter()
                .filter_map(|e| match &e.signal {
                    Signal::Dropped { stage, item } => Some((*stage, item.clone())),
                    _ => None,
                })
                .collect()
        })
    }

    /// Runs `f` on the recorded events without cloning them. `f` runs while the recording
    /// is locked: it must not drive the pipeline.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::TestSubscriber;
    /// let (sub, handle) = TestSubscriber::new(u64::MAX);
    /// just(5).subscribe(sub);
    /// assert_eq!(handle.with_events(|events| events.len()), 4); // subscribe, request, next, complete
    /// ```
    pub fn with_events<R>(&self, f: impl FnOnce(&[Event<T, E>]) -> R) -> R {
        f(&self.shared.lock().events)
    }

    /// The number of recorded events (of every kind).
    ///
    /// ```
    /// use spillway_testkit::TestSubscriber;
    /// let (_sub, handle) = TestSubscriber::<u8, ()>::new(0);
    /// assert_eq!(handle.event_count(), 0);
    /// ```
    pub fn event_count(&self) -> usize {
        self.shared.lock().events.len()
    }

    /// The number of items received.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::TestSubscriber;
    /// let (sub, handle) = TestSubscriber::new(u64::MAX);
    /// range(0, 3).subscribe(sub);
    /// assert_eq!(handle.item_count(), 3);
    /// ```
    pub fn item_count(&self) -> u64 {
        self.shared.lock().received
    }

    /// Requested and not yet received (`u64::MAX`: unbounded).
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::TestSubscriber;
    /// let (sub, handle) = TestSubscriber::new(5);
    /// range(0, 2).subscribe(sub);
    /// assert_eq!(handle.outstanding_demand(), 3);
    /// ```
    pub fn outstanding_demand(&self) -> u64 {
        self.shared.lock().outstanding.get()
    }

    /// True once `on_subscribe` arrived.
    ///
    /// ```
    /// use spillway_testkit::TestSubscriber;
    /// let (_sub, handle) = TestSubscriber::<u8, ()>::new(0);
    /// assert!(!handle.is_subscribed());
    /// ```
    pub fn is_subscribed(&self) -> bool {
        self.shared.lock().subscribed
    }

    /// True once `on_complete` arrived.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::TestSubscriber;
    /// let (sub, handle) = TestSubscriber::<u8, std::convert::Infallible>::new(0);
    /// empty().subscribe(sub);
    /// assert!(handle.is_complete());
    /// ```
    pub fn is_complete(&self) -> bool {
        self.with_events(|ev| ev.iter().any(|e| matches!(e.signal, Signal::Complete)))
    }

    /// True once `on_complete` or `on_error` arrived.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::TestSubscriber;
    /// let (sub, handle) = TestSubscriber::<u8, &str>::new(0);
    /// error("boom").subscribe(sub);
    /// assert!(handle.is_terminated());
    /// ```
    pub fn is_terminated(&self) -> bool {
        self.shared.lock().terminated
    }

    /// True once the handle cancelled.
    ///
    /// ```
    /// use spillway_testkit::TestSubscriber;
    /// let (_sub, handle) = TestSubscriber::<u8, ()>::new(0);
    /// handle.cancel();
    /// assert!(handle.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.shared.lock().cancelled
    }

    /// The protocol violations seen so far.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::TestSubscriber;
    /// let (sub, handle) = TestSubscriber::new(1);
    /// range(0, 10).subscribe(sub);
    /// assert!(handle.violations().is_empty());
    /// ```
    pub fn violations(&self) -> Vec<ProtocolViolation> {
        self.shared.lock().violations.clone()
    }

    /// The virtual (or real) time since the recorder's clock started.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_testkit::{TestSubscriber, VirtualScheduler};
    /// let vs = VirtualScheduler::new();
    /// let (_sub, handle) = TestSubscriber::<u8, ()>::with_scheduler(0, vs.clone());
    /// vs.advance_by(Duration::from_secs(3));
    /// assert_eq!(handle.elapsed(), Duration::from_secs(3));
    /// ```
    pub fn elapsed(&self) -> Duration {
        self.shared.now()
    }

    /// The virtual scheduler this subscriber was built with, if any.
    ///
    /// ```
    /// use spillway_testkit::TestSubscriber;
    /// let (_sub, handle) = TestSubscriber::<u8, ()>::new(0);
    /// assert!(handle.scheduler().is_none());
    /// ```
    pub fn scheduler(&self) -> Option<Arc<VirtualScheduler>> {
        match self.shared.clock() {
            Clock::Virtual(vs) => Some(vs),
            Clock::Real(_) => None,
        }
    }

    /// Blocks (without sleeping: on a condition variable) until `pred` holds for the
    /// recorded events or `timeout` passes; returns whether it holds. For pipelines that run
    /// on other threads or a tokio runtime.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::TestSubscriber;
    /// let (sub, handle) = TestSubscriber::new(u64::MAX);
    /// let p = create(OverflowStrategy::Buffer(8), |em: Emitter<u8, std::convert::Infallible>| {
    ///     std::thread::spawn(move || { em.next(1).unwrap(); em.complete(); });
    /// });
    /// p.subscribe(sub);
    /// assert!(handle.wait_until(Duration::from_secs(10), |events| {
    ///     events.iter().any(|e| e.signal.is_terminal())
    /// }));
    /// ```
    pub fn wait_until(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&[Event<T, E>]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        self.wait_until_deadline(deadline, |state| pred(&state.events))
    }

    /// Waits until a terminal signal arrived or `timeout` passed; returns whether it arrived.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::TestSubscriber;
    /// let (sub, handle) = TestSubscriber::<u8, std::convert::Infallible>::new(1);
    /// never().subscribe(sub);
    /// assert!(!handle.await_terminal(Duration::from_millis(1)));
    /// ```
    pub fn await_terminal(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        self.wait_until_deadline(deadline, |state| state.terminated)
    }

    fn wait_until_deadline(
        &self,
        deadline: Instant,
        mut pred: impl FnMut(&State<T, E>) -> bool,
    ) -> bool {
        let mut state = self.shared.lock();
        loop {
            if pred(&state) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Waits until more than `count` events are recorded or `deadline` passes.
    pub(crate) fn wait_for_event_beyond(&self, count: usize, deadline: Instant) -> bool {
        self.wait_until_deadline(deadline, |state| state.events.len() > count)
    }

    /// Clones the event at `index`, if recorded, mapping the error through `f` (so
    /// that `E` need not be `Clone`).
    pub(crate) fn peek_event<R>(
        &self,
        index: usize,
        f: impl FnOnce(&Event<T, E>) -> R,
    ) -> Option<R> {
        self.shared.lock().events.get(index).map(f)
    }
}

impl<T: fmt::Debug, E: fmt::Debug> TestSubscriberHandle<T, E> {
    /// The recorded timeline, one event per line (see [`Timeline`]).
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::TestSubscriber;
    /// let (sub, handle) = TestSubscriber::new(1);
    /// just(9).subscribe(sub);
    /// assert!(handle.timeline().contains("next(9)"));
    /// ```
    pub fn timeline(&self) -> String {
        self.with_events(|events| Timeline(events).to_string())
    }

    /// Panics with `what`, the violations and the timeline.
    #[track_caller]
    fn fail(&self, what: &str) -> ! {
        let (timeline, violations, outstanding) = {
            let state = self.shared.lock();
            (
                Timeline(&state.events).to_string(),
                state.violations.clone(),
                state.outstanding.get(),
            )
        };
        let mut msg = format!("TestSubscriber assertion failed: {what}\n");
        if !violations.is_empty() {
            msg.push_str("protocol violations:\n");
            for v in &violations {
                msg.push_str(&format!("    {v}\n"));
            }
        }
        msg.push_str(&format!(
            "outstanding demand: {}\nrecorded timeline:\n{timeline}",
            describe_demand(outstanding)
        ));
        panic!("{msg}");
    }

    /// Asserts that exactly `expected` were received, in order.
    ///
    /// # Panics
    /// With both lists and the timeline when they differ.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::TestSubscriber;
    /// let (sub, handle) = TestSubscriber::new(u64::MAX);
    /// range(1, 4).subscribe(sub);
    /// handle.assert_items(&[1, 2, 3]);
    /// ```
    #[track_caller]
    pub fn assert_items(&self, expected: &[T])
    where
        T: PartialEq,
    {
        let (equal, actual) = self.with_events(|events| {
            let items: Vec<&T> = events.iter().filter_map(|e| e.signal.as_next()).collect();
            let equal =
                items.len() == expected.len() && items.iter().zip(expected).all(|(a, b)| *a == b);
            (equal, format!("{items:?}"))
        });
        if !equal {
            self.fail(&format!(
                "items differ\n  expected: {expected:?}\n  actual:   {actual}"
            ));
        }
    }

    /// Asserts that `n` items were received.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::TestSubscriber;
    /// let (sub, handle) = TestSubscriber::new(2);
    /// range(0, 9).subscribe(sub);
    /// handle.assert_item_count(2);
    /// ```
    #[track_caller]
    pub fn assert_item_count(&self, n: u64) {
        let got = self.item_count();
        if got != n {
            self.fail(&format!("expected {n} item(s), received {got}"));
        }
    }

    /// Asserts that the stream completed.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::TestSubscriber;
    /// let (sub, handle) = TestSubscriber::<u8, std::convert::Infallible>::new(1);
    /// empty().subscribe(sub);
    /// handle.assert_complete();
    /// ```
    #[track_caller]
    pub fn assert_complete(&self) {
        if !self.is_complete() {
            self.fail("expected completion, but on_complete was not received");
        }
    }

    /// Asserts that the stream failed with an error for which `pred` holds.
    ///
    /// ```
    /// use spillway_core::{prelude::*, Error};
    /// use spillway_testkit::TestSubscriber;
    /// let (sub, handle) = TestSubscriber::<u8, &str>::new(1);
    /// error("boom").subscribe(sub);
    /// handle.assert_error_matches(|e| matches!(e, Error::User("boom")));
    /// ```
    #[track_caller]
    pub fn assert_error_matches(&self, pred: impl FnOnce(&Error<E>) -> bool) {
        let outcome = self.with_events(|events| {
            events
                .iter()
                .find_map(|e| e.signal.as_error())
                .map(|err| (pred(err), format!("{err:?}")))
        });
        match outcome {
            None => self.fail("expected an error, but on_error was not received"),
            Some((false, err)) => {
                self.fail(&format!("the error {err} does not match the predicate"))
            }
            Some((true, _)) => {}
        }
    }

    /// Asserts that no error was received.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::TestSubscriber;
    /// let (sub, handle) = TestSubscriber::new(1);
    /// just(1).subscribe(sub);
    /// handle.assert_no_error();
    /// ```
    #[track_caller]
    pub fn assert_no_error(&self) {
        let err = self.with_events(|events| {
            events
                .iter()
                .find_map(|e| e.signal.as_error())
                .map(|e| format!("{e:?}"))
        });
        if let Some(err) = err {
            self.fail(&format!("expected no error, got {err}"));
        }
    }

    /// Asserts that neither `on_complete` nor `on_error` was received.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::TestSubscriber;
    /// let (sub, handle) = TestSubscriber::new(1);
    /// range(0, 5).subscribe(sub);
    /// handle.assert_not_terminated();
    /// ```
    #[track_caller]
    pub fn assert_not_terminated(&self) {
        if self.is_terminated() {
            self.fail("expected the stream not to be terminated");
        }
    }

    /// Asserts that `on_subscribe` was received.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::TestSubscriber;
    /// let (sub, handle) = TestSubscriber::<u8, std::convert::Infallible>::new(0);
    /// never().subscribe(sub);
    /// handle.assert_subscribed();
    /// ```
    #[track_caller]
    pub fn assert_subscribed(&self) {
        if !self.is_subscribed() {
            self.fail("expected on_subscribe, but it was not received");
        }
    }

    /// Asserts that the publisher kept to the protocol.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::TestSubscriber;
    /// let (sub, handle) = TestSubscriber::new(3);
    /// range(0, 3).subscribe(sub);
    /// handle.assert_no_protocol_violations();
    /// ```
    #[track_caller]
    pub fn assert_no_protocol_violations(&self) {
        let n = self.shared.lock().violations.len();
        if n > 0 {
            self.fail(&format!("expected no protocol violation, found {n}"));
        }
    }
}

impl<T: Clone, E> TestSubscriberHandle<T, E> {
    /// The items received so far.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::TestSubscriber;
    /// let (sub, handle) = TestSubscriber::new(2);
    /// range(0, 5).subscribe(sub);
    /// assert_eq!(handle.items(), vec![0, 1]);
    /// ```
    pub fn items(&self) -> Vec<T> {
        self.with_events(|events| {
            events
                .iter()
                .filter_map(|e| e.signal.as_next().cloned())
                .collect()
        })
    }
}

impl<T, E: Clone> TestSubscriberHandle<T, E> {
    /// The error received, if any.
    ///
    /// ```
    /// use spillway_core::{prelude::*, Error};
    /// use spillway_testkit::TestSubscriber;
    /// let (sub, handle) = TestSubscriber::<u8, &str>::new(0);
    /// error("boom").subscribe(sub);
    /// assert_eq!(handle.error(), Some(Error::User("boom")));
    /// ```
    pub fn error(&self) -> Option<Error<E>> {
        self.with_events(|events| events.iter().find_map(|e| e.signal.as_error().cloned()))
    }
}

impl<T: Clone, E: Clone> TestSubscriberHandle<T, E> {
    /// A copy of every recorded event.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::{Signal, TestSubscriber};
    /// let (sub, handle) = TestSubscriber::<u64, std::convert::Infallible>::new(1);
    /// range(0, 1).subscribe(sub);
    /// let kinds: Vec<_> = handle.events().iter().map(|e| e.signal.kind()).collect();
    /// assert_eq!(kinds, ["subscribe", "request", "next", "complete"]);
    /// ```
    pub fn events(&self) -> Vec<Event<T, E>> {
        self.shared.lock().events.clone()
    }
}

pub(crate) fn describe_demand(d: u64) -> String {
    if d == u64::MAX {
        "unbounded".to_string()
    } else {
        d.to_string()
    }
}

impl<T, E> fmt::Debug for TestSubscriber<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestSubscriber")
            .field("initial_request", &self.initial_request)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

impl<T, E> fmt::Debug for TestSubscriberHandle<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.shared.state.try_lock() {
            Ok(state) => f
                .debug_struct("TestSubscriberHandle")
                .field("events", &state.events.len())
                .field("received", &state.received)
                .field("terminated", &state.terminated)
                .field("cancelled", &state.cancelled)
                .finish(),
            Err(_) => f
                .debug_struct("TestSubscriberHandle")
                .finish_non_exhaustive(),
        }
    }
}
