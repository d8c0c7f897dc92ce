//! `TestPublisher`, a publisher driven by the test, and `PublisherProbe`, which watches any
//! publisher.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use spillway_core::{
    Context, Demand, Error, Publisher, SharedSubscription, Subscriber, Subscription,
};

use crate::test_subscriber::{describe_demand, Clock};
use crate::virtual_scheduler::VirtualScheduler;

/// A rule that a [`TestPublisher::non_compliant`] publisher is allowed to break, to test how
/// an operator copes with a misbehaving upstream.
///
/// ```
/// use spillway_testkit::{TestPublisher, Violation};
/// let tp = TestPublisher::<u8, ()>::non_compliant(&[Violation::EmitWithoutDemand]);
/// assert!(tp.allows(Violation::EmitWithoutDemand));
/// assert!(!tp.allows(Violation::IgnoreCancel));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Violation {
    /// `next` sends even when the subscriber has no outstanding demand (rule 1.1).
    EmitWithoutDemand,
    /// `next` sends after `complete` or `error` (rule 1.7).
    EmitAfterTerminate,
    /// `complete` / `error` may be sent more than once (rule 1.7).
    TerminateTwice,
    /// Signals keep flowing after the subscriber cancelled (rule 3.6 / 1.8).
    IgnoreCancel,
}

struct PubState {
    subscribed: u64,
    /// Id of the current subscription; requests and cancels of older ones are ignored.
    current: u64,
    outstanding: Demand,
    total_requested: Demand,
    requests: Vec<(Duration, u64)>,
    cancels: Vec<Duration>,
    cancelled: bool,
    terminated: bool,
    delivered: u64,
    /// The thread currently calling into the subscriber, to catch re-entrant use.
    emitting: Option<ThreadId>,
    /// Cancel asked to release the subscriber while it was being called.
    release: bool,
}

type BoxSubscriber<T, E> = Box<dyn Subscriber<Item = T, Error = E>>;

struct PubShared<T, E> {
    state: Mutex<PubState>,
    subscriber: Mutex<Option<BoxSubscriber<T, E>>>,
    /// A subscriber that subscribed from inside a terminal signal of the previous one, on
    /// the thread delivering it (`retry`, `repeat`): installed, and sent `on_subscribe`,
    /// when that signal returns. (Installing it at once would need the slot the signal
    /// in progress holds.)
    resubscribed: Mutex<Option<(BoxSubscriber<T, E>, SharedSubscription)>>,
    violations: Vec<Violation>,
    clock: Clock,
}

impl<T, E> PubShared<T, E> {
    fn lock(&self) -> MutexGuard<'_, PubState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn lock_subscriber(&self) -> MutexGuard<'_, Option<BoxSubscriber<T, E>>> {
        self.subscriber.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn allows(&self, v: Violation) -> bool {
        self.violations.contains(&v)
    }
}

/// A publisher driven by the test: it sends what the test tells it to, and records every
/// `request(n)` and `cancel` (with virtual time when built
/// [`with_scheduler`](Self::with_scheduler)).
///
/// `TestPublisher` is the control handle (cheap to clone); [`publisher`](Self::publisher)
/// gives the [`Publisher`] to subscribe an operator to. One subscriber at a time: a new one
/// may subscribe once the previous one cancelled or was terminated (for `retry`/`repeat`),
/// and gets fresh demand; the request log spans all of them.
///
/// By default it is compliant: [`next`](Self::next) beyond the outstanding demand, or after
/// a terminal signal, panics with a clear message instead of sending. Signals after the
/// subscriber cancelled are silently not sent. [`non_compliant`](Self::non_compliant) lifts
/// chosen rules. `request(0)` is recorded but not answered with an error.
///
/// Its methods must not be called from inside the subscriber's own signal methods (that
/// would re-enter it: a panic says so).
///
/// # Examples
/// ```
/// use spillway_core::prelude::*;
/// use spillway_testkit::{TestPublisher, TestSubscriber};
///
/// let tp = TestPublisher::<u32, ()>::new();
/// let (sub, handle) = TestSubscriber::new(2);
/// tp.publisher().subscribe(sub);
/// tp.assert_subscribed();
/// tp.assert_requested_at_least(2);
/// tp.next(1).next(2).complete();
/// handle.assert_items(&[1, 2]);
/// handle.assert_complete();
/// ```
pub struct TestPublisher<T, E> {
    shared: Arc<PubShared<T, E>>,
}

impl<T, E> Clone for TestPublisher<T, E> {
    fn clone(&self) -> Self {
        TestPublisher {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The [`Publisher`] side of a [`TestPublisher`]; cloneable, so it can be re-subscribed.
///
/// ```
/// let tp = spillway_testkit::TestPublisher::<u8, ()>::new();
/// let _p = tp.publisher();
/// ```
#[must_use = "publishers do nothing until subscribed"]
pub struct TestPublisherSource<T, E> {
    shared: Arc<PubShared<T, E>>,
}

impl<T, E> Clone for TestPublisherSource<T, E> {
    fn clone(&self) -> Self {
        TestPublisherSource {
            shared: Arc::clone(&self.shared),
        }
    }
}

struct TestSubscription<T, E> {
    shared: Arc<PubShared<T, E>>,
    id: u64,
}

impl<T: Send + 'static, E: Send + 'static> TestPublisher<T, E> {
    /// A compliant test publisher with real-time timestamps.
    ///
    /// ```
    /// let tp = spillway_testkit::TestPublisher::<u8, ()>::new();
    /// tp.assert_not_cancelled();
    /// ```
    pub fn new() -> TestPublisher<T, E> {
        Self::build(Vec::new(), Clock::Real(Instant::now()))
    }

    /// A test publisher that may break the given rules.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::{TestPublisher, TestSubscriber, Violation};
    /// let tp = TestPublisher::<u8, ()>::non_compliant(&[Violation::EmitWithoutDemand]);
    /// let (sub, handle) = TestSubscriber::new(0);
    /// tp.publisher().subscribe(sub);
    /// tp.next(1); // no demand: sent anyway
    /// assert_eq!(handle.violations().len(), 1);
    /// ```
    pub fn non_compliant(violations: &[Violation]) -> TestPublisher<T, E> {
        Self::build(violations.to_vec(), Clock::Real(Instant::now()))
    }

    /// Records requests and cancels in virtual time of `scheduler`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::{TestPublisher, TestSubscriber, VirtualScheduler};
    /// let vs = VirtualScheduler::new();
    /// let tp = TestPublisher::<u8, ()>::new().with_scheduler(vs.clone());
    /// vs.advance_by(Duration::from_secs(7));
    /// let (sub, _handle) = TestSubscriber::new(3);
    /// tp.publisher().subscribe(sub);
    /// assert_eq!(tp.requests(), vec![(Duration::from_secs(7), 3)]);
    /// ```
    pub fn with_scheduler(self, scheduler: Arc<VirtualScheduler>) -> TestPublisher<T, E> {
        let violations = self.shared.violations.clone();
        Self::build(violations, Clock::Virtual(scheduler))
    }

    fn build(violations: Vec<Violation>, clock: Clock) -> TestPublisher<T, E> {
        TestPublisher {
            shared: Arc::new(PubShared {
                state: Mutex::new(PubState {
                    subscribed: 0,
                    current: 0,
                    outstanding: Demand::ZERO,
                    total_requested: Demand::ZERO,
                    requests: Vec::new(),
                    cancels: Vec::new(),
                    cancelled: false,
                    terminated: false,
                    delivered: 0,
                    emitting: None,
                    release: false,
                }),
                subscriber: Mutex::new(None),
                resubscribed: Mutex::new(None),
                violations,
                clock,
            }),
        }
    }

    /// True if this publisher may break rule `v`.
    ///
    /// ```
    /// let tp = spillway_testkit::TestPublisher::<u8, ()>::new();
    /// assert!(!tp.allows(spillway_testkit::Violation::TerminateTwice));
    /// ```
    pub fn allows(&self, v: Violation) -> bool {
        self.shared.allows(v)
    }

    /// The publisher to subscribe to.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::{TestPublisher, TestSubscriber};
    /// let tp = TestPublisher::<u8, ()>::new();
    /// let (sub, _h) = TestSubscriber::new(1);
    /// tp.publisher().subscribe(sub);
    /// assert_eq!(tp.subscription_count(), 1);
    /// ```
    pub fn publisher(&self) -> TestPublisherSource<T, E> {
        TestPublisherSource {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Calls `f` on the current subscriber, outside the state lock. Returns false (and
    /// does not call `f`) when there is no subscriber to call.
    fn with_subscriber(&self, what: &str, f: impl FnOnce(&mut BoxSubscriber<T, E>)) -> bool {
        let mut f = Some(f);
        self.with_subscriber_dyn(what, &mut |s| (f.take().expect("called once"))(s))
    }

    /// [`with_subscriber`](Self::with_subscriber), not generic: it calls itself to start
    /// a resubscription, which a generic function could not.
    fn with_subscriber_dyn(&self, what: &str, f: &mut dyn FnMut(&mut BoxSubscriber<T, E>)) -> bool {
        let me = thread::current().id();
        {
            let mut state = self.shared.lock();
            if state.emitting == Some(me) {
                drop(state);
                panic!(
                    "TestPublisher::{what} called re-entrantly from inside a signal of its own subscriber"
                );
            }
            state.emitting = Some(me);
        }
        let mut slot = self.shared.lock_subscriber();
        let called = match slot.as_mut() {
            Some(s) => {
                f(s);
                true
            }
            None => false,
        };
        let mut state = self.shared.lock();
        state.emitting = None;
        let release = std::mem::take(&mut state.release);
        drop(state);
        let released = if release { slot.take() } else { None };
        let resubscribed = self
            .shared
            .resubscribed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let replaced = match resubscribed {
            Some((subscriber, subscription)) => {
                let previous = slot.replace(subscriber);
                drop(slot);
                let mut subscription = Some(subscription);
                self.with_subscriber_dyn("subscribe", &mut |s| {
                    s.on_subscribe(subscription.take().expect("called once"))
                });
                previous
            }
            None => None,
        };
        drop(released);
        drop(replaced);
        called
    }

    /// Sends `item`; returns `self` for chaining. After the subscriber cancelled, the item
    /// is not sent (unless [`Violation::IgnoreCancel`]).
    ///
    /// # Panics
    /// If nothing subscribed; if the subscriber has no outstanding demand (unless
    /// [`Violation::EmitWithoutDemand`]); after a terminal signal (unless
    /// [`Violation::EmitAfterTerminate`]).
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::{TestPublisher, TestSubscriber};
    /// let tp = TestPublisher::<u8, ()>::new();
    /// let (sub, handle) = TestSubscriber::new(1);
    /// tp.publisher().subscribe(sub);
    /// tp.next(5);
    /// handle.assert_items(&[5]);
    /// let refused = std::panic::catch_unwind(|| { tp.next(6); }).unwrap_err();
    /// assert!(refused.downcast_ref::<String>().unwrap().contains("without demand"));
    /// ```
    #[track_caller]
    pub fn next(&self, item: T) -> &Self
    where
        T: fmt::Debug,
    {
        {
            let mut state = self.shared.lock();
            if state.subscribed == 0 {
                drop(state);
                panic!("TestPublisher::next({item:?}): nothing has subscribed yet");
            }
            if state.cancelled && !self.allows(Violation::IgnoreCancel) {
                return self;
            }
            if state.terminated && !self.allows(Violation::EmitAfterTerminate) {
                drop(state);
                panic!(
                    "TestPublisher::next({item:?}) after a terminal signal (rule 1.7); \
                     use TestPublisher::non_compliant(&[Violation::EmitAfterTerminate]) to send it anyway"
                );
            }
            if state.outstanding.is_zero() && !self.allows(Violation::EmitWithoutDemand) {
                let (total, delivered) = (state.total_requested.get(), state.delivered);
                let log = describe_requests(&state.requests);
                drop(state);
                panic!(
                    "TestPublisher::next({item:?}) without demand (rule 1.1): the subscriber requested \
                     {} in total and {delivered} were delivered; requests: {log}. Request more first, \
                     or use TestPublisher::non_compliant(&[Violation::EmitWithoutDemand])",
                    describe_demand(total)
                );
            }
            state.outstanding = state.outstanding.produced(1);
            state.delivered += 1;
        }
        self.with_subscriber("next", move |s| s.on_next(item));
        self
    }

    /// Sends each item with [`next`](Self::next), then completes.
    ///
    /// # Panics
    /// As [`next`](Self::next) and [`complete`](Self::complete).
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::{TestPublisher, TestSubscriber};
    /// let tp = TestPublisher::<u8, ()>::new();
    /// let (sub, handle) = TestSubscriber::new(u64::MAX);
    /// tp.publisher().subscribe(sub);
    /// tp.emit([1, 2, 3]);
    /// handle.assert_items(&[1, 2, 3]);
    /// handle.assert_complete();
    /// ```
    #[track_caller]
    pub fn emit(&self, items: impl IntoIterator<Item = T>) -> &Self
    where
        T: fmt::Debug,
    {
        for item in items {
            self.next(item);
        }
        self.complete()
    }

    /// Checks that a terminal signal may be sent; returns false if it must be skipped.
    #[track_caller]
    fn terminate(&self, what: &str) -> bool {
        let mut state = self.shared.lock();
        if state.subscribed == 0 {
            drop(state);
            panic!("TestPublisher::{what}: nothing has subscribed yet");
        }
        if state.cancelled && !self.allows(Violation::IgnoreCancel) {
            return false;
        }
        if state.terminated && !self.allows(Violation::TerminateTwice) {
            drop(state);
            panic!(
                "TestPublisher::{what} after a terminal signal (rule 1.7); use \
                 TestPublisher::non_compliant(&[Violation::TerminateTwice]) to send it anyway"
            );
        }
        state.terminated = true;
        // A compliant publisher releases its subscriber once terminated (rule 1.8 / 3.13);
        // a non-compliant one keeps it to signal again.
        if !self.allows(Violation::TerminateTwice) && !self.allows(Violation::EmitAfterTerminate) {
            state.release = true;
        }
        true
    }

    /// Completes the stream; returns `self`.
    ///
    /// # Panics
    /// If nothing subscribed; after a terminal signal (unless [`Violation::TerminateTwice`]).
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::{TestPublisher, TestSubscriber};
    /// let tp = TestPublisher::<u8, ()>::new();
    /// let (sub, handle) = TestSubscriber::new(0);
    /// tp.publisher().subscribe(sub);
    /// tp.complete();
    /// handle.assert_complete();
    /// ```
    #[track_caller]
    pub fn complete(&self) -> &Self {
        if self.terminate("complete") {
            self.with_subscriber("complete", |s| s.on_complete());
        }
        self
    }

    /// Fails the stream with the user error `e`; returns `self`.
    ///
    /// # Panics
    /// As [`complete`](Self::complete).
    ///
    /// ```
    /// use spillway_core::{prelude::*, Error};
    /// use spillway_testkit::{TestPublisher, TestSubscriber};
    /// let tp = TestPublisher::<u8, &str>::new();
    /// let (sub, handle) = TestSubscriber::new(0);
    /// tp.publisher().subscribe(sub);
    /// tp.error("boom");
    /// handle.assert_error_matches(|e| *e == Error::User("boom"));
    /// ```
    #[track_caller]
    pub fn error(&self, e: E) -> &Self {
        self.error_with(Error::User(e))
    }

    /// Fails the stream with any [`Error`], e.g. a flow-control error; returns `self`.
    ///
    /// # Panics
    /// As [`complete`](Self::complete).
    ///
    /// ```
    /// use spillway_core::{prelude::*, Error};
    /// use spillway_testkit::{TestPublisher, TestSubscriber};
    /// let tp = TestPublisher::<u8, ()>::new();
    /// let (sub, handle) = TestSubscriber::new(0);
    /// tp.publisher().subscribe(sub);
    /// tp.error_with(Error::Overflow { stage: "upstream", capacity: 4 });
    /// handle.assert_error_matches(|e| matches!(e, Error::Overflow { capacity: 4, .. }));
    /// ```
    #[track_caller]
    pub fn error_with(&self, e: Error<E>) -> &Self {
        if self.terminate("error") {
            self.with_subscriber("error", move |s| s.on_error(e));
        }
        self
    }

    /// Every `request(n)` received, with its time, across subscriptions.
    ///
    /// ```
    /// let tp = spillway_testkit::TestPublisher::<u8, ()>::new();
    /// assert!(tp.requests().is_empty());
    /// ```
    pub fn requests(&self) -> Vec<(Duration, u64)> {
        self.shared.lock().requests.clone()
    }

    /// The sum of all requests, saturating (`u64::MAX`: unbounded).
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::{TestPublisher, TestSubscriber};
    /// let tp = TestPublisher::<u8, ()>::new();
    /// let (sub, h) = TestSubscriber::new(2);
    /// tp.publisher().subscribe(sub);
    /// h.request(3);
    /// assert_eq!(tp.total_requested(), 5);
    /// ```
    pub fn total_requested(&self) -> u64 {
        self.shared.lock().total_requested.get()
    }

    /// Requested by the current subscriber and not yet sent.
    ///
    /// ```
    /// let tp = spillway_testkit::TestPublisher::<u8, ()>::new();
    /// assert_eq!(tp.outstanding(), 0);
    /// ```
    pub fn outstanding(&self) -> u64 {
        self.shared.lock().outstanding.get()
    }

    /// How many subscribers subscribed so far.
    ///
    /// ```
    /// let tp = spillway_testkit::TestPublisher::<u8, ()>::new();
    /// assert_eq!(tp.subscription_count(), 0);
    /// ```
    pub fn subscription_count(&self) -> u64 {
        self.shared.lock().subscribed
    }

    /// True once the current subscriber cancelled.
    ///
    /// ```
    /// let tp = spillway_testkit::TestPublisher::<u8, ()>::new();
    /// assert!(!tp.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.shared.lock().cancelled
    }

    /// The times at which subscribers cancelled.
    ///
    /// ```
    /// let tp = spillway_testkit::TestPublisher::<u8, ()>::new();
    /// assert!(tp.cancels().is_empty());
    /// ```
    pub fn cancels(&self) -> Vec<Duration> {
        self.shared.lock().cancels.clone()
    }

    #[track_caller]
    fn fail(&self, what: &str) -> ! {
        let state = self.shared.lock();
        let msg = format!(
            "TestPublisher assertion failed: {what}\n  subscriptions: {}\n  requests: {}\n  total requested: {}\n  \
             delivered: {}\n  cancelled at: {:?}\n  terminated: {}",
            state.subscribed,
            describe_requests(&state.requests),
            describe_demand(state.total_requested.get()),
            state.delivered,
            state.cancels,
            state.terminated
        );
        drop(state);
        panic!("{msg}");
    }

    /// Asserts that at least `n` items were requested in total.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::{TestPublisher, TestSubscriber};
    /// let tp = TestPublisher::<u8, ()>::new();
    /// let (sub, _h) = TestSubscriber::new(4);
    /// tp.publisher().subscribe(sub);
    /// tp.assert_requested_at_least(4);
    /// ```
    #[track_caller]
    pub fn assert_requested_at_least(&self, n: u64) {
        let total = self.total_requested();
        if total < n {
            self.fail(&format!(
                "expected at least {n} requested, got {}",
                describe_demand(total)
            ));
        }
    }

    /// Asserts that at most `n` items were requested in total.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::{TestPublisher, TestSubscriber};
    /// let tp = TestPublisher::<u8, ()>::new();
    /// let (sub, _h) = TestSubscriber::new(4);
    /// tp.publisher().subscribe(sub);
    /// tp.assert_requested_at_most(4);
    /// ```
    #[track_caller]
    pub fn assert_requested_at_most(&self, n: u64) {
        let total = self.total_requested();
        if total > n {
            self.fail(&format!(
                "expected at most {n} requested, got {}",
                describe_demand(total)
            ));
        }
    }

    /// Asserts that something was requested.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::{TestPublisher, TestSubscriber};
    /// let tp = TestPublisher::<u8, ()>::new();
    /// let (sub, _h) = TestSubscriber::new(1);
    /// tp.publisher().subscribe(sub);
    /// tp.assert_was_requested();
    /// ```
    #[track_caller]
    pub fn assert_was_requested(&self) {
        if self.total_requested() == 0 {
            self.fail("expected a request, but nothing was requested");
        }
    }

    /// Asserts that a subscriber cancelled.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::{TestPublisher, TestSubscriber};
    /// let tp = TestPublisher::<u8, ()>::new();
    /// let (sub, h) = TestSubscriber::new(1);
    /// tp.publisher().subscribe(sub);
    /// h.cancel();
    /// tp.assert_cancelled();
    /// ```
    #[track_caller]
    pub fn assert_cancelled(&self) {
        if self.cancels().is_empty() {
            self.fail("expected a cancel, but the subscription was not cancelled");
        }
    }

    /// Asserts that no subscriber cancelled.
    ///
    /// ```
    /// let tp = spillway_testkit::TestPublisher::<u8, ()>::new();
    /// tp.assert_not_cancelled();
    /// ```
    #[track_caller]
    pub fn assert_not_cancelled(&self) {
        if !self.cancels().is_empty() {
            self.fail("expected no cancel, but the subscription was cancelled");
        }
    }

    /// Asserts that something subscribed.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::{TestPublisher, TestSubscriber};
    /// let tp = TestPublisher::<u8, ()>::new();
    /// let (sub, _h) = TestSubscriber::new(0);
    /// tp.publisher().subscribe(sub);
    /// tp.assert_subscribed();
    /// ```
    #[track_caller]
    pub fn assert_subscribed(&self) {
        if self.subscription_count() == 0 {
            self.fail("expected a subscriber, but nothing subscribed");
        }
    }
}

fn describe_requests(requests: &[(Duration, u64)]) -> String {
    if requests.is_empty() {
        return "none".to_string();
    }
    requests
        .iter()
        .map(|(at, n)| format!("{} at {at:?}", describe_demand(*n)))
        .collect::<Vec<_>>()
        .join(", ")
}

impl<T: Send + 'static, E: Send + 'static> Default for TestPublisher<T, E> {
    fn default() -> Self {
        Self::new()
    }
}

/// One subscriber at a time: a second one is refused (rule 2.5 spirit).
fn refuse<T: 'static, E: 'static>(mut subscriber: BoxSubscriber<T, E>) {
    subscriber.on_subscribe(spillway_core::NoopSubscription::shared());
    subscriber.on_error(Error::Rejected {
        stage: "test_publisher",
        reason: "a TestPublisher serves one subscriber at a time",
    });
}

impl PubState {
    /// Starts a new subscription and returns its id (requests and cancels of older ones
    /// are ignored from now on).
    fn start_subscription(&mut self) -> u64 {
        self.subscribed += 1;
        self.current = self.subscribed;
        self.outstanding = Demand::ZERO;
        self.cancelled = false;
        self.terminated = false;
        self.delivered = 0;
        self.current
    }
}

impl<T: Send + 'static, E: Send + 'static> TestPublisherSource<T, E> {
    /// A subscribe from inside a signal this publisher is delivering on this thread. After
    /// a terminal signal or a cancel (a `retry` resubscribing from `on_error`) it is a new
    /// subscription, started when the signal returns; while the current subscription is
    /// still live it is refused, as any second subscriber is.
    fn subscribe_from_a_signal(self, subscriber: BoxSubscriber<T, E>) {
        let mut state = self.shared.lock();
        if !state.cancelled && !state.terminated {
            drop(state);
            return refuse(subscriber);
        }
        let id = state.start_subscription();
        drop(state);
        let subscription: SharedSubscription = Arc::new(TestSubscription {
            shared: Arc::clone(&self.shared),
            id,
        });
        *self
            .shared
            .resubscribed
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((subscriber, subscription));
    }
}

impl<T: Send + 'static, E: Send + 'static> Publisher for TestPublisherSource<T, E> {
    type Item = T;
    type Error = E;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = T, Error = E>,
    {
        let subscriber: BoxSubscriber<T, E> = Box::new(subscriber);
        let reentrant = self.shared.lock().emitting == Some(thread::current().id());
        if reentrant {
            return self.subscribe_from_a_signal(subscriber);
        }
        let id = {
            let mut state = self.shared.lock();
            let mut slot = self.shared.lock_subscriber();
            let busy = slot.is_some() && !state.cancelled && !state.terminated;
            if busy {
                drop(slot);
                drop(state);
                return refuse(subscriber);
            }
            *slot = None;
            state.start_subscription()
        };
        let subscription: SharedSubscription = Arc::new(TestSubscription {
            shared: Arc::clone(&self.shared),
            id,
        });
        // Subscribe through the slot so signals sent from `on_subscribe` re-entrantly are
        // caught, and requests made inside it are recorded before anything is sent.
        *self.shared.lock_subscriber() = Some(subscriber);
        let handle = TestPublisher {
            shared: Arc::clone(&self.shared),
        };
        handle.with_subscriber("subscribe", move |s| s.on_subscribe(subscription));
    }
}

impl<T: Send + 'static, E: Send + 'static> Subscription for TestSubscription<T, E> {
    fn request(&self, n: u64) {
        let mut state = self.shared.lock();
        if state.current != self.id {
            return;
        }
        let at = self.shared.clock.elapsed();
        state.requests.push((at, n));
        state.total_requested = state.total_requested.add(n);
        if !state.cancelled {
            state.outstanding = state.outstanding.add(n);
        }
    }

    fn cancel(&self) {
        let mut state = self.shared.lock();
        if state.current != self.id {
            return;
        }
        let at = self.shared.clock.elapsed();
        if !state.cancelled {
            state.cancels.push(at);
        }
        state.cancelled = true;
        if self.shared.allows(Violation::IgnoreCancel) {
            return;
        }
        if state.emitting.is_some() {
            state.release = true; // dropped by the emitting thread after the call
            return;
        }
        drop(state);
        // Rule 3.13: release the subscriber. Not while it is being called (checked above),
        // and never while a lock of ours is held, as its drop may run arbitrary code.
        let released = self.shared.lock_subscriber().take();
        drop(released);
    }
}

impl<T, E> fmt::Debug for TestPublisher<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("TestPublisher")
            .field("subscriptions", &state.subscribed)
            .field("total_requested", &state.total_requested)
            .field("cancelled", &state.cancelled)
            .field("terminated", &state.terminated)
            .field("violations", &self.shared.violations)
            .finish()
    }
}

impl<T, E> fmt::Debug for TestPublisherSource<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestPublisherSource")
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------------------
// PublisherProbe

#[derive(Default)]
struct ProbeState {
    subscribed: AtomicU64,
    requested: AtomicU64,
    request_calls: AtomicU64,
    cancelled: AtomicBool,
    completed: AtomicBool,
    errored: AtomicBool,
    items: AtomicU64,
}

/// Watches a publisher: whether it was subscribed, how much was requested, whether it was
/// cancelled, completed or failed. Useful for the branches of `merge`, `switch`,
/// `concat`... Cheap to clone.
///
/// # Examples
/// ```
/// use spillway_core::prelude::*;
/// use spillway_testkit::{PublisherProbe, TestSubscriber};
///
/// let (publisher, probe) = PublisherProbe::wrap(range(0, 10));
/// let (sub, handle) = TestSubscriber::new(3);
/// publisher.subscribe(sub);
/// handle.cancel();
/// probe.assert_subscribed();
/// assert_eq!(probe.total_requested(), 3);
/// assert!(probe.was_cancelled() && !probe.was_completed());
/// ```
#[derive(Clone, Default)]
pub struct PublisherProbe {
    state: Arc<ProbeState>,
}

/// A publisher wrapped by [`PublisherProbe::wrap`]; cloneable when the wrapped one is, all
/// clones reporting to the same probe.
#[must_use = "publishers do nothing until subscribed"]
#[derive(Clone)]
pub struct Probed<P> {
    inner: P,
    state: Arc<ProbeState>,
}

struct ProbeSubscriber<S> {
    inner: S,
    state: Arc<ProbeState>,
}

struct ProbeSubscription {
    inner: SharedSubscription,
    state: Arc<ProbeState>,
}

impl PublisherProbe {
    /// Wraps `publisher`; returns the wrapped publisher and the probe that watches it.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// let (_p, probe) = spillway_testkit::PublisherProbe::wrap(just(1));
    /// assert!(!probe.was_subscribed());
    /// ```
    pub fn wrap<P: Publisher>(publisher: P) -> (Probed<P>, PublisherProbe) {
        let probe = PublisherProbe::default();
        (
            Probed {
                inner: publisher,
                state: Arc::clone(&probe.state),
            },
            probe,
        )
    }

    /// How many times it was subscribed.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// let (p, probe) = spillway_testkit::PublisherProbe::wrap(just(1));
    /// let _ = p.clone().subscribe_fn(|_| {});
    /// let _ = p.subscribe_fn(|_| {});
    /// assert_eq!(probe.subscription_count(), 2);
    /// ```
    pub fn subscription_count(&self) -> u64 {
        self.state.subscribed.load(Ordering::SeqCst)
    }

    /// True once subscribed.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// let (p, probe) = spillway_testkit::PublisherProbe::wrap(just(1));
    /// let _ = p.subscribe_fn(|_| {});
    /// assert!(probe.was_subscribed());
    /// ```
    pub fn was_subscribed(&self) -> bool {
        self.subscription_count() > 0
    }

    /// True once anything was requested (`request(0)` included).
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// let (p, probe) = spillway_testkit::PublisherProbe::wrap(just(1));
    /// let _ = p.subscribe_fn(|_| {});
    /// assert!(probe.was_requested());
    /// ```
    pub fn was_requested(&self) -> bool {
        self.state.request_calls.load(Ordering::SeqCst) > 0
    }

    /// The sum of all requests, saturating (`u64::MAX`: unbounded).
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// let (p, probe) = spillway_testkit::PublisherProbe::wrap(just(1));
    /// let _ = p.subscribe_fn(|_| {});
    /// assert!(probe.total_requested() >= 1);
    /// ```
    pub fn total_requested(&self) -> u64 {
        self.state.requested.load(Ordering::SeqCst)
    }

    /// True once a subscriber cancelled.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// let (p, probe) = spillway_testkit::PublisherProbe::wrap(never::<u8, ()>());
    /// p.subscribe_fn(|_| {}).cancel();
    /// assert!(probe.was_cancelled());
    /// ```
    pub fn was_cancelled(&self) -> bool {
        self.state.cancelled.load(Ordering::SeqCst)
    }

    /// True once it completed.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// let (p, probe) = spillway_testkit::PublisherProbe::wrap(just(1));
    /// let _ = p.subscribe_fn(|_| {});
    /// assert!(probe.was_completed());
    /// ```
    pub fn was_completed(&self) -> bool {
        self.state.completed.load(Ordering::SeqCst)
    }

    /// True once it failed.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// let (p, probe) = spillway_testkit::PublisherProbe::wrap(error::<u8, _>("boom"));
    /// let _ = p.subscribe_with(|_| {}, |_| {}, || {});
    /// assert!(probe.was_errored());
    /// ```
    pub fn was_errored(&self) -> bool {
        self.state.errored.load(Ordering::SeqCst)
    }

    /// Items it emitted.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// let (p, probe) = spillway_testkit::PublisherProbe::wrap(range(0, 4));
    /// let _ = p.subscribe_fn(|_| {});
    /// assert_eq!(probe.items_emitted(), 4);
    /// ```
    pub fn items_emitted(&self) -> u64 {
        self.state.items.load(Ordering::SeqCst)
    }

    #[track_caller]
    fn check(&self, ok: bool, what: &str) {
        if !ok {
            panic!("PublisherProbe assertion failed: {what}; probe: {self:?}");
        }
    }

    /// Asserts that it was subscribed.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// let (p, probe) = spillway_testkit::PublisherProbe::wrap(just(1));
    /// let _ = p.subscribe_fn(|_| {});
    /// probe.assert_subscribed();
    /// ```
    #[track_caller]
    pub fn assert_subscribed(&self) {
        self.check(
            self.was_subscribed(),
            "expected the publisher to be subscribed",
        );
    }

    /// Asserts that it was never subscribed.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// let (_p, probe) = spillway_testkit::PublisherProbe::wrap(just(1));
    /// probe.assert_not_subscribed();
    /// ```
    #[track_caller]
    pub fn assert_not_subscribed(&self) {
        self.check(
            !self.was_subscribed(),
            "expected the publisher not to be subscribed",
        );
    }

    /// Asserts that it was cancelled.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// let (p, probe) = spillway_testkit::PublisherProbe::wrap(never::<u8, ()>());
    /// p.subscribe_fn(|_| {}).cancel();
    /// probe.assert_cancelled();
    /// ```
    #[track_caller]
    pub fn assert_cancelled(&self) {
        self.check(
            self.was_cancelled(),
            "expected the publisher to be cancelled",
        );
    }

    /// Asserts that it was not cancelled.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// let (p, probe) = spillway_testkit::PublisherProbe::wrap(just(1));
    /// let _ = p.subscribe_fn(|_| {});
    /// probe.assert_not_cancelled();
    /// ```
    #[track_caller]
    pub fn assert_not_cancelled(&self) {
        self.check(
            !self.was_cancelled(),
            "expected the publisher not to be cancelled",
        );
    }
}

impl fmt::Debug for PublisherProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublisherProbe")
            .field("subscribed", &self.subscription_count())
            .field("requested", &describe_demand(self.total_requested()))
            .field("cancelled", &self.was_cancelled())
            .field("completed", &self.was_completed())
            .field("errored", &self.was_errored())
            .field("items", &self.items_emitted())
            .finish()
    }
}

impl<P: fmt::Debug> fmt::Debug for Probed<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Probed")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<P: Publisher> Publisher for Probed<P> {
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = Self::Item, Error = Self::Error>,
    {
        self.state.subscribed.fetch_add(1, Ordering::SeqCst);
        self.inner.subscribe(ProbeSubscriber {
            inner: subscriber,
            state: self.state,
        });
    }
}

impl<S: Subscriber> Subscriber for ProbeSubscriber<S> {
    type Item = S::Item;
    type Error = S::Error;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.inner.on_subscribe(Arc::new(ProbeSubscription {
            inner: subscription,
            state: Arc::clone(&self.state),
        }));
    }
    fn on_next(&mut self, item: Self::Item) {
        self.state.items.fetch_add(1, Ordering::SeqCst);
        self.inner.on_next(item);
    }
    fn on_error(&mut self, error: Error<Self::Error>) {
        self.state.errored.store(true, Ordering::SeqCst);
        self.inner.on_error(error);
    }
    fn on_complete(&mut self) {
        self.state.completed.store(true, Ordering::SeqCst);
        self.inner.on_complete();
    }
    fn context(&self) -> Context {
        self.inner.context()
    }
}

impl Subscription for ProbeSubscription {
    fn request(&self, n: u64) {
        self.state.request_calls.fetch_add(1, Ordering::SeqCst);
        let _ = self
            .state
            .requested
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| {
                Some(r.saturating_add(n))
            });
        self.inner.request(n);
    }
    fn cancel(&self) {
        self.state.cancelled.store(true, Ordering::SeqCst);
        self.inner.cancel();
    }
}
