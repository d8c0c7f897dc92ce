//! `StepVerifier`: a step-by-step expectation DSL in the spirit of Reactor's.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spillway_core::{Error, Publisher, Stage};

use crate::signal::{Signal, Timeline};
use crate::test_subscriber::{
    describe_demand, DropRecorder, ProtocolViolation, TestSubscriber, TestSubscriberHandle,
};
use crate::virtual_scheduler::VirtualScheduler;

/// How many timers a step waiting for a signal may fire on the virtual clock before it
/// gives up (a periodic timer that never produces the expected signal).
pub const AUTO_ADVANCE_LIMIT: u64 = 100_000;

type NextPred<T> = Box<dyn FnMut(&T) -> bool>;
type ErrorPred<E> = Box<dyn FnOnce(&Error<E>) -> bool>;

enum Step<T, E> {
    Subscription,
    Next(NextPred<T>, String),
    NextCount(u64),
    Consume(Box<dyn FnOnce(T)>),
    Request(u64),
    Cancel,
    Then(Box<dyn FnOnce()>),
    Await(Duration),
    /// No signal for the duration; true: a signal at its end instant fails too.
    NoEvent(Duration, bool),
    Complete,
    Error(ErrorPred<E>, String),
}

impl<T, E> Step<T, E> {
    fn describe(&self) -> String {
        match self {
            Step::Subscription => "expect_subscription()".into(),
            Step::Next(_, d) => d.clone(),
            Step::NextCount(n) => format!("expect_next_count({n})"),
            Step::Consume(_) => "consume_next_with(..)".into(),
            Step::Request(n) => format!("then_request({})", describe_demand(*n)),
            Step::Cancel => "then_cancel()".into(),
            Step::Then(_) => "then(..)".into(),
            Step::Await(d) => format!("then_await({d:?})"),
            Step::NoEvent(d, true) => format!("expect_no_event({d:?})"),
            Step::NoEvent(d, false) => format!("expect_no_event_before({d:?})"),
            Step::Complete => "expect_complete()".into(),
            Step::Error(_, d) => d.clone(),
        }
    }
}

/// Verifies a publisher step by step: subscribe with a recording [`TestSubscriber`], then
/// expect signals, request, cancel, run test code and move virtual time, in order.
///
/// Nothing happens until a terminal `verify*` call, which subscribes and runs the steps.
///
/// # Failing and waiting
/// * **Idiom**: [`verify`](Self::verify) (and `verify_complete`, `verify_error`,
///   `verify_timeout`) panic on failure, for use in `#[test]`s; the `try_` variants return
///   a [`VerifyError`]. Both give a [`VerifyReport`] on success for after-the-fact checks.
/// * A failure names the step that was expected, the signal actually seen, protocol
///   violations, outstanding demand, pending timers and the recorded timeline.
/// * A step that waits for a signal never hangs. **On virtual time**
///   ([`with_virtual_time`](Self::with_virtual_time), [`with_scheduler`](Self::with_scheduler))
///   it fires the pending timers one due time at a time until the signal arrives, and fails at
///   once when no timer is pending. **Without a scheduler** it fails at once if the signal has
///   not arrived synchronously, unless [`verify_timeout`](Self::verify_timeout) allows it to
///   wait (on a condition variable) for a real-time pipeline.
/// * `Request`/`Cancel`/`Dropped` events are recorded but not expected by steps; the
///   subscription signal is skipped unless [`expect_subscription`](Self::expect_subscription)
///   asks for it.
/// * After the last step, any unexpected item or terminal signal already recorded is a
///   failure; a subscription left open is cancelled.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use spillway_core::prelude::*;
/// use spillway_testkit::StepVerifier;
///
/// StepVerifier::create(range(1, 4), 0)
///     .expect_subscription()
///     .expect_no_event(Duration::ZERO)
///     .then_request(2)
///     .expect_next_seq([1, 2])
///     .then_request(1)
///     .expect_next(3)
///     .verify_complete();
///
/// // A production pipeline with a plain `interval` runs on virtual time:
/// let report = StepVerifier::with_virtual_time(interval(Duration::from_secs(3600)).unwrap(), 2)
///     .expect_no_event(Duration::from_secs(3599))
///     .expect_next(0)
///     .expect_next(1)
///     .then_cancel()
///     .verify();
/// assert_eq!(report.virtual_elapsed(), Duration::from_secs(7200));
/// ```
pub struct StepVerifier<T, E> {
    subscribe: Box<dyn FnOnce(TestSubscriber<T, E>)>,
    subscriber: TestSubscriber<T, E>,
    handle: TestSubscriberHandle<T, E>,
    scheduler: Option<Arc<VirtualScheduler>>,
    steps: Vec<Step<T, E>>,
}

impl<T, E> StepVerifier<T, E>
where
    T: Clone + fmt::Debug + Send + 'static,
    E: fmt::Debug + Send + 'static,
{
    /// Verifies `publisher`, requesting `initial_request` items on subscription (`0`:
    /// request with [`then_request`](Self::then_request); `u64::MAX`: unbounded).
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// spillway_testkit::StepVerifier::create(just(1), 1).expect_next(1).verify_complete();
    /// ```
    pub fn create<P>(publisher: P, initial_request: u64) -> Self
    where
        P: Publisher<Item = T, Error = E> + 'static,
    {
        Self::create_with(|_| publisher, initial_request)
    }

    /// Like [`create`](Self::create), building the publisher with a [`DropRecorder`] that
    /// records dropped items into the timeline (see [`VerifyReport::dropped`]).
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::StepVerifier;
    /// let report = StepVerifier::create_with(|drops| {
    ///     drops.record("my_stage", "42"); // as an operator's on_drop hook would
    ///     just(1u8)
    /// }, 1)
    /// .expect_next(1)
    /// .verify_complete();
    /// assert_eq!(report.dropped_count("my_stage"), 1);
    /// ```
    pub fn create_with<P, F>(build: F, initial_request: u64) -> Self
    where
        F: FnOnce(DropRecorder) -> P,
        P: Publisher<Item = T, Error = E> + 'static,
    {
        let (subscriber, handle) = TestSubscriber::new(initial_request);
        let publisher = build(handle.drop_recorder());
        StepVerifier {
            subscribe: Box::new(move |s| publisher.subscribe(s)),
            subscriber,
            handle,
            scheduler: None,
            steps: Vec::new(),
        }
    }

    /// Verifies `publisher` on a fresh [`VirtualScheduler`], carried by the subscriber's
    /// context (see [`scheduler`](Self::scheduler) to reach it).
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_core::prelude::*;
    /// spillway_testkit::StepVerifier::with_virtual_time(interval(Duration::from_secs(1)).unwrap(), 1)
    ///     .expect_next(0)
    ///     .then_cancel()
    ///     .verify();
    /// ```
    pub fn with_virtual_time<P>(publisher: P, initial_request: u64) -> Self
    where
        P: Publisher<Item = T, Error = E> + 'static,
    {
        Self::create(publisher, initial_request).with_scheduler(VirtualScheduler::new())
    }

    /// Runs on `scheduler`: the subscriber carries it in its context and records its
    /// virtual time; waiting steps fire its timers.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::{StepVerifier, VirtualScheduler};
    /// let vs = VirtualScheduler::new();
    /// StepVerifier::create(interval(Duration::from_secs(2)).unwrap(), 1)
    ///     .with_scheduler(vs.clone())
    ///     .expect_next(0)
    ///     .then_cancel()
    ///     .verify();
    /// assert_eq!(vs.elapsed(), Duration::from_secs(2));
    /// ```
    pub fn with_scheduler(mut self, scheduler: Arc<VirtualScheduler>) -> Self {
        self.subscriber.set_scheduler(Arc::clone(&scheduler));
        self.scheduler = Some(scheduler);
        self
    }

    /// The virtual scheduler, if any.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// let sv = spillway_testkit::StepVerifier::with_virtual_time(just(1), 1);
    /// assert!(sv.scheduler().is_some());
    /// ```
    pub fn scheduler(&self) -> Option<Arc<VirtualScheduler>> {
        self.scheduler.clone()
    }

    /// The handle of the recording subscriber (to read the recording from `then` steps).
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// let sv = spillway_testkit::StepVerifier::create(just(1), 1);
    /// let h = sv.handle();
    /// sv.expect_next(1).then(move || assert_eq!(h.item_count(), 1)).verify_complete();
    /// ```
    pub fn handle(&self) -> TestSubscriberHandle<T, E> {
        self.handle.clone()
    }

    fn step(mut self, step: Step<T, E>) -> Self {
        self.steps.push(step);
        self
    }

    /// Expects `on_subscribe`.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// spillway_testkit::StepVerifier::create(just(1), 1).expect_subscription().expect_next(1).verify_complete();
    /// ```
    pub fn expect_subscription(self) -> Self {
        self.step(Step::Subscription)
    }

    /// Expects the next item to equal `item`.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// spillway_testkit::StepVerifier::create(just(1), 1).expect_next(1).verify_complete();
    /// ```
    pub fn expect_next(self, item: T) -> Self
    where
        T: PartialEq,
    {
        let desc = format!("expect_next({item:?})");
        self.step(Step::Next(Box::new(move |got| *got == item), desc))
    }

    /// Expects the next items to equal `items`, in order.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// spillway_testkit::StepVerifier::create(range(0, 3), 3).expect_next_seq([0, 1, 2]).verify_complete();
    /// ```
    pub fn expect_next_seq(mut self, items: impl IntoIterator<Item = T>) -> Self
    where
        T: PartialEq,
    {
        for item in items {
            self = self.expect_next(item);
        }
        self
    }

    /// Expects `n` items, whatever they are.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// spillway_testkit::StepVerifier::create(range(0, 100), u64::MAX).expect_next_count(100).verify_complete();
    /// ```
    pub fn expect_next_count(self, n: u64) -> Self {
        self.step(Step::NextCount(n))
    }

    /// Expects an item for which `pred` holds; `description` names it in failures.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// spillway_testkit::StepVerifier::create(just(4), 1)
    ///     .expect_next_matches(|x| x % 2 == 0, "an even number")
    ///     .verify_complete();
    /// ```
    pub fn expect_next_matches(
        self,
        pred: impl FnMut(&T) -> bool + 'static,
        description: &str,
    ) -> Self {
        let desc = format!("expect_next_matches({description})");
        self.step(Step::Next(Box::new(pred), desc))
    }

    /// Expects an item and hands it to `f` (which may assert on it).
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// spillway_testkit::StepVerifier::create(just("hi"), 1)
    ///     .consume_next_with(|s| assert_eq!(s.len(), 2))
    ///     .verify_complete();
    /// ```
    pub fn consume_next_with(self, f: impl FnOnce(T) + 'static) -> Self {
        self.step(Step::Consume(Box::new(f)))
    }

    /// Requests `n` more items.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// spillway_testkit::StepVerifier::create(just(1), 0).then_request(1).expect_next(1).verify_complete();
    /// ```
    pub fn then_request(self, n: u64) -> Self {
        self.step(Step::Request(n))
    }

    /// Cancels the subscription.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// spillway_testkit::StepVerifier::create(range(0, 10), 1).expect_next(0).then_cancel().verify();
    /// ```
    pub fn then_cancel(self) -> Self {
        self.step(Step::Cancel)
    }

    /// Runs test code, e.g. pushes into a [`TestPublisher`](crate::TestPublisher).
    ///
    /// ```
    /// use spillway_testkit::{StepVerifier, TestPublisher};
    /// let tp = TestPublisher::<u8, ()>::new();
    /// let tp2 = tp.clone();
    /// StepVerifier::create(tp.publisher(), 1)
    ///     .then(move || { tp2.next(7).complete(); })
    ///     .expect_next(7)
    ///     .verify_complete();
    /// ```
    pub fn then(self, f: impl FnOnce() + 'static) -> Self {
        self.step(Step::Then(Box::new(f)))
    }

    /// Advances the virtual clock by `d` (without a virtual scheduler: waits `d` of real
    /// time on a condition variable).
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_core::prelude::*;
    /// spillway_testkit::StepVerifier::with_virtual_time(interval(Duration::from_secs(1)).unwrap(), 5)
    ///     .then_await(Duration::from_secs(3))
    ///     .expect_next_seq([0, 1, 2])
    ///     .then_cancel()
    ///     .verify();
    /// ```
    pub fn then_await(self, d: Duration) -> Self {
        self.step(Step::Await(d))
    }

    /// Advances the clock by `d` and expects no item or terminal signal meanwhile (also none
    /// already recorded and not yet expected).
    ///
    /// The window **includes its end instant**: a signal due exactly `d` from now fails it.
    /// Reactor's `expectNoEvent` stops just before that instant; for that reading (a
    /// signal exactly at `d` is left for the next step) use
    /// [`expect_no_event_before`](Self::expect_no_event_before).
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_core::prelude::*;
    /// spillway_testkit::StepVerifier::with_virtual_time(never::<u8, ()>(), 1)
    ///     .expect_no_event(Duration::from_secs(86_400))
    ///     .then_cancel()
    ///     .verify();
    /// ```
    pub fn expect_no_event(self, d: Duration) -> Self {
        self.step(Step::NoEvent(d, true))
    }

    /// [`expect_no_event`](Self::expect_no_event) up to just before `d` (Reactor's
    /// reading): the clock still advances by the whole `d`, and a signal due exactly at
    /// its end is left for the next step. Without a virtual scheduler the two are the
    /// same (real time has no exact instants).
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::StepVerifier;
    /// let one_second = Duration::from_secs(1);
    /// // The first tick is due at exactly 1 s.
    /// StepVerifier::with_virtual_time(interval(one_second).unwrap(), 1)
    ///     .expect_no_event_before(one_second)
    ///     .expect_next(0)
    ///     .then_cancel()
    ///     .verify();
    /// ```
    pub fn expect_no_event_before(self, d: Duration) -> Self {
        self.step(Step::NoEvent(d, false))
    }

    /// Expects `on_complete`.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// spillway_testkit::StepVerifier::create(empty::<u8, ()>(), 0).expect_complete().verify();
    /// ```
    pub fn expect_complete(self) -> Self {
        self.step(Step::Complete)
    }

    /// Expects `on_error`, whatever the error.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// spillway_testkit::StepVerifier::create(error::<u8, _>("boom"), 0).expect_error().verify();
    /// ```
    pub fn expect_error(self) -> Self {
        self.step(Step::Error(Box::new(|_| true), "expect_error()".into()))
    }

    /// Expects `on_error` with an error for which `pred` holds.
    ///
    /// ```
    /// use spillway_core::{prelude::*, Error};
    /// spillway_testkit::StepVerifier::create(error::<u8, _>("boom"), 0)
    ///     .expect_error_matches(|e| *e == Error::User("boom"))
    ///     .verify();
    /// ```
    pub fn expect_error_matches(self, pred: impl FnOnce(&Error<E>) -> bool + 'static) -> Self {
        self.step(Step::Error(
            Box::new(pred),
            "expect_error_matches(..)".into(),
        ))
    }

    /// Runs the steps; panics with a [`VerifyError`] message on failure.
    ///
    /// # Panics
    /// When a step fails.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// let report = spillway_testkit::StepVerifier::create(range(0, 3), u64::MAX)
    ///     .expect_next_count(3)
    ///     .expect_complete()
    ///     .verify();
    /// assert_eq!(report.items(), vec![0, 1, 2]);
    /// ```
    #[track_caller]
    pub fn verify(self) -> VerifyReport<T, E> {
        self.try_verify().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Adds [`expect_complete`](Self::expect_complete) and runs [`verify`](Self::verify).
    ///
    /// # Panics
    /// When a step fails.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// spillway_testkit::StepVerifier::create(just(1), 1).expect_next(1).verify_complete();
    /// ```
    #[track_caller]
    pub fn verify_complete(self) -> VerifyReport<T, E> {
        self.expect_complete().verify()
    }

    /// Adds [`expect_error`](Self::expect_error) and runs [`verify`](Self::verify).
    ///
    /// # Panics
    /// When a step fails.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// spillway_testkit::StepVerifier::create(error::<u8, _>(1), 0).verify_error();
    /// ```
    #[track_caller]
    pub fn verify_error(self) -> VerifyReport<T, E> {
        self.expect_error().verify()
    }

    /// Runs the steps in real time: a step waiting for a signal waits (on a condition
    /// variable, never sleeping) until it arrives, at most until `timeout` after the start.
    /// For pipelines running on threads or a tokio runtime.
    ///
    /// # Panics
    /// When a step fails or the time is up.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_core::prelude::*;
    /// let p = create(OverflowStrategy::Buffer(4), |em: Emitter<u8, ()>| {
    ///     std::thread::spawn(move || { em.next(1).unwrap(); em.complete(); });
    /// });
    /// spillway_testkit::StepVerifier::create(p, 1)
    ///     .expect_next(1)
    ///     .expect_complete()
    ///     .verify_timeout(Duration::from_secs(10));
    /// ```
    #[track_caller]
    pub fn verify_timeout(self, timeout: Duration) -> VerifyReport<T, E> {
        self.try_verify_timeout(timeout)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs the steps; returns the failure instead of panicking.
    ///
    /// # Errors
    /// A boxed [`VerifyError`] describing the failed step.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// let err = spillway_testkit::StepVerifier::create(just(1), 1)
    ///     .expect_next(2)
    ///     .try_verify()
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("expect_next(2)"));
    /// assert!(err.to_string().contains("next(1)"));
    /// ```
    pub fn try_verify(self) -> Result<VerifyReport<T, E>, Box<VerifyError>> {
        self.run(None)
    }

    /// [`verify_timeout`](Self::verify_timeout) returning the failure.
    ///
    /// # Errors
    /// [`VerifyError`] describing the failed step, or the time-out.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_core::prelude::*;
    /// let err = spillway_testkit::StepVerifier::create(never::<u8, ()>(), 1)
    ///     .expect_next(1)
    ///     .try_verify_timeout(Duration::from_millis(1))
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("timed out"));
    /// ```
    pub fn try_verify_timeout(
        self,
        timeout: Duration,
    ) -> Result<VerifyReport<T, E>, Box<VerifyError>> {
        self.run(Some(Instant::now() + timeout))
    }

    fn run(self, deadline: Option<Instant>) -> Result<VerifyReport<T, E>, Box<VerifyError>> {
        let started = Instant::now();
        let StepVerifier {
            subscribe,
            subscriber,
            handle,
            scheduler,
            steps,
        } = self;
        subscribe(subscriber);
        let mut run = Run {
            handle: handle.clone(),
            scheduler: scheduler.clone(),
            deadline,
            cursor: 0,
            total: steps.len(),
            index: 0,
            describe: String::new(),
        };
        for (index, step) in steps.into_iter().enumerate() {
            run.index = index;
            run.describe = step.describe();
            run.exec(step)?;
        }
        run.index = run.total;
        run.describe = "(end of the steps)".into();
        // Nothing unexpected may follow.
        if let Some(seen) = run.peek_item_or_terminal() {
            let seen_text = run.describe_signal(&seen);
            return Err(run.failure(
                "no further signal after the last step",
                Some(seen_text),
                "an unexpected signal was recorded after the last step",
            ));
        }
        let violations = handle.violations();
        if !violations.is_empty() {
            return Err(run.failure(
                "no protocol violation",
                None,
                "the publisher broke the protocol",
            ));
        }
        if !handle.is_terminated() && !handle.is_cancelled() {
            handle.cancel();
        }
        Ok(VerifyReport {
            handle,
            virtual_elapsed: scheduler.map_or(Duration::ZERO, |s| s.elapsed()),
            wall_time: started.elapsed(),
        })
    }
}

/// A downstream signal seen by the verifier, without its payload where needed.
enum Seen<T> {
    Subscribe,
    Next(T),
    Error(String),
    Complete,
}

struct Run<T, E> {
    handle: TestSubscriberHandle<T, E>,
    scheduler: Option<Arc<VirtualScheduler>>,
    deadline: Option<Instant>,
    /// Index of the next recorded event not yet consumed by a step.
    cursor: usize,
    total: usize,
    index: usize,
    describe: String,
}

impl<T, E> Run<T, E>
where
    T: Clone + fmt::Debug + Send + 'static,
    E: fmt::Debug + Send + 'static,
{
    fn describe_signal(&self, seen: &Seen<T>) -> String {
        match seen {
            Seen::Subscribe => "subscribe".into(),
            Seen::Next(t) => format!("next({t:?})"),
            Seen::Error(e) => format!("error({e})"),
            Seen::Complete => "complete".into(),
        }
    }

    fn failure(&self, expected: &str, seen: Option<String>, diagnosis: &str) -> Box<VerifyError> {
        let pending = self
            .scheduler
            .as_ref()
            .map(|s| s.describe_pending())
            .unwrap_or_else(|| "(no virtual scheduler)".into());
        let elapsed = self.scheduler.as_ref().map(|s| s.elapsed());
        Box::new(VerifyError {
            step_index: self.index,
            step: self.describe.clone(),
            expected: expected.to_string(),
            seen,
            diagnosis: diagnosis.to_string(),
            total_steps: self.total,
            violations: self.handle.violations(),
            outstanding_demand: self.handle.outstanding_demand(),
            pending_timers: pending,
            virtual_elapsed: elapsed,
            timeline: self.handle.timeline(),
        })
    }

    /// Moves the cursor past upstream-only events (request, cancel, dropped).
    fn skip_upstream(&mut self) {
        while let Some(down) = self
            .handle
            .peek_event(self.cursor, |e| e.signal.is_downstream())
        {
            if down {
                return;
            }
            self.cursor += 1;
        }
    }

    /// The next downstream signal already recorded, without consuming it.
    fn peek_downstream(&mut self) -> Option<Seen<T>> {
        self.skip_upstream();
        self.handle.peek_event(self.cursor, |e| match &e.signal {
            Signal::Subscribe => Seen::Subscribe,
            Signal::Next(t) => Seen::Next(t.clone()),
            Signal::Error(err) => Seen::Error(format!("{err:?}")),
            Signal::Complete => Seen::Complete,
            _ => unreachable!("skipped"),
        })
    }

    /// The next item or terminal signal already recorded, passing an unexpected
    /// `Subscribe` (only [`StepVerifier::expect_subscription`] asks for it).
    fn peek_item_or_terminal(&mut self) -> Option<Seen<T>> {
        loop {
            match self.peek_downstream() {
                Some(Seen::Subscribe) => self.cursor += 1,
                other => return other,
            }
        }
    }

    /// Waits for the next downstream signal (skipping `Subscribe` unless `want_subscribe`),
    /// firing virtual timers or waiting in real time as the mode allows.
    fn next_signal(
        &mut self,
        want_subscribe: bool,
        expected: &str,
    ) -> Result<Seen<T>, Box<VerifyError>> {
        let mut fired: u64 = 0;
        loop {
            match self.peek_downstream() {
                Some(Seen::Subscribe) if !want_subscribe => {
                    self.cursor += 1;
                    continue;
                }
                Some(seen) => {
                    self.cursor += 1;
                    return Ok(seen);
                }
                None => {}
            }
            // Nothing yet: can time move?
            if let Some(vs) = &self.scheduler {
                if let Some(due) = vs.next_due() {
                    if fired >= AUTO_ADVANCE_LIMIT {
                        return Err(self.failure(
                            expected,
                            None,
                            &format!(
                                "nothing arrived after firing {fired} timers on the virtual clock"
                            ),
                        ));
                    }
                    fired += vs.advance_to(due).max(1);
                    continue;
                }
            }
            let count = self.handle.event_count();
            match self.deadline {
                Some(deadline) => {
                    if !self.handle.wait_for_event_beyond(count, deadline) {
                        return Err(self.failure(
                            expected,
                            None,
                            "timed out waiting for a signal (verify_timeout)",
                        ));
                    }
                }
                None => {
                    let why = if self.scheduler.is_some() {
                        "nothing arrived and no timer is pending on the virtual scheduler, \
                         so nothing ever will: failing at once instead of hanging"
                    } else {
                        "nothing arrived synchronously and there is no virtual scheduler to \
                         advance (use verify_timeout for real-time pipelines): failing at once \
                         instead of hanging"
                    };
                    return Err(self.failure(expected, None, why));
                }
            }
        }
    }

    /// Lets `d` of (virtual or real) time pass.
    fn pass_time(&mut self, d: Duration, stop_on_signal: bool) {
        if let Some(vs) = &self.scheduler {
            vs.advance_by(d);
            return;
        }
        let until = Instant::now() + d;
        loop {
            let count = self.handle.event_count();
            if !self.handle.wait_for_event_beyond(count, until) {
                return;
            }
            if stop_on_signal && self.peek_item_or_terminal().is_some() {
                return;
            }
        }
    }

    fn exec(&mut self, step: Step<T, E>) -> Result<(), Box<VerifyError>> {
        match step {
            Step::Subscription => {
                let expected = "subscribe";
                match self.next_signal(true, expected)? {
                    Seen::Subscribe => Ok(()),
                    other => {
                        let seen = self.describe_signal(&other);
                        Err(self.failure(expected, Some(seen), "a different signal arrived"))
                    }
                }
            }
            Step::Next(mut pred, desc) => {
                let expected = desc.trim_start_matches("expect_").to_string();
                match self.next_signal(false, &expected)? {
                    Seen::Next(item) if pred(&item) => Ok(()),
                    Seen::Next(item) => Err(self.failure(
                        &expected,
                        Some(format!("next({item:?})")),
                        "the item does not match",
                    )),
                    other => {
                        let seen = self.describe_signal(&other);
                        Err(self.failure(&expected, Some(seen), "a different signal arrived"))
                    }
                }
            }
            Step::NextCount(n) => {
                for i in 0..n {
                    let expected = format!("next (item {} of {n})", i + 1);
                    match self.next_signal(false, &expected)? {
                        Seen::Next(_) => {}
                        other => {
                            let seen = self.describe_signal(&other);
                            return Err(self.failure(
                                &expected,
                                Some(seen),
                                "a different signal arrived",
                            ));
                        }
                    }
                }
                Ok(())
            }
            Step::Consume(f) => match self.next_signal(false, "next")? {
                Seen::Next(item) => {
                    f(item);
                    Ok(())
                }
                other => {
                    let seen = self.describe_signal(&other);
                    Err(self.failure("next", Some(seen), "a different signal arrived"))
                }
            },
            Step::Request(n) => {
                self.handle.request(n);
                Ok(())
            }
            Step::Cancel => {
                self.handle.cancel();
                Ok(())
            }
            Step::Then(f) => {
                f();
                Ok(())
            }
            Step::Await(d) => {
                self.pass_time(d, false);
                Ok(())
            }
            Step::NoEvent(d, inclusive) => {
                let expected = if inclusive {
                    format!("no signal for {d:?}")
                } else {
                    format!("no signal for {d:?}, its end instant excluded")
                };
                if let Some(seen) = self.peek_item_or_terminal() {
                    let seen = self.describe_signal(&seen);
                    return Err(self.failure(
                        &expected,
                        Some(seen),
                        "a signal was already recorded",
                    ));
                }
                // Up to just before the end instant if it is excluded (on virtual time).
                let end = Duration::from_nanos(u64::from(!inclusive && !d.is_zero()));
                let end = if self.scheduler.is_some() {
                    end
                } else {
                    Duration::ZERO
                };
                self.pass_time(d - end, true);
                let outcome = match self.peek_item_or_terminal() {
                    Some(seen) => {
                        let seen = self.describe_signal(&seen);
                        Err(self.failure(&expected, Some(seen), "a signal arrived meanwhile"))
                    }
                    None => Ok(()),
                };
                if !end.is_zero() {
                    self.pass_time(end, false);
                }
                outcome
            }
            Step::Complete => match self.next_signal(false, "complete")? {
                Seen::Complete => Ok(()),
                other => {
                    let seen = self.describe_signal(&other);
                    Err(self.failure("complete", Some(seen), "a different signal arrived"))
                }
            },
            Step::Error(pred, desc) => {
                let expected = desc.trim_start_matches("expect_").to_string();
                match self.next_signal(false, &expected)? {
                    Seen::Error(text) => {
                        // The error stays in the recording (E need not be Clone): match it there.
                        let index = self.cursor - 1;
                        let matched = self
                            .handle
                            .peek_event(index, |e| e.signal.as_error().map(pred))
                            .flatten()
                            .unwrap_or(false);
                        if matched {
                            Ok(())
                        } else {
                            Err(self.failure(
                                &expected,
                                Some(format!("error({text})")),
                                "the error does not match",
                            ))
                        }
                    }
                    other => {
                        let seen = self.describe_signal(&other);
                        Err(self.failure(&expected, Some(seen), "a different signal arrived"))
                    }
                }
            }
        }
    }
}

/// Why a [`StepVerifier`] failed: the step, what it expected, what was seen, and the state
/// of the pipeline. Its `Display` is the panic message of `verify`.
///
/// ```
/// use spillway_core::prelude::*;
/// let err = spillway_testkit::StepVerifier::create(range(0, 3), 1)
///     .expect_next(0)
///     .expect_next(1)
///     .try_verify()
///     .unwrap_err();
/// assert_eq!(err.step_index, 1);
/// assert_eq!(err.step, "expect_next(1)");
/// assert!(err.seen.is_none());
/// assert!(err.to_string().contains("outstanding demand: 0"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyError {
    /// Index of the failed step (0-based; the number of steps for end-of-steps checks).
    pub step_index: usize,
    /// The failed step, as written (`"expect_next(3)"`).
    pub step: String,
    /// What was expected.
    pub expected: String,
    /// The signal actually seen, if any arrived.
    pub seen: Option<String>,
    /// Why it failed.
    pub diagnosis: String,
    /// How many steps there were.
    pub total_steps: usize,
    /// Protocol violations recorded by the subscriber.
    pub violations: Vec<ProtocolViolation>,
    /// The subscriber's outstanding demand (`u64::MAX`: unbounded).
    pub outstanding_demand: u64,
    /// The pending timers of the virtual scheduler.
    pub pending_timers: String,
    /// Virtual time when it failed, on virtual time.
    pub virtual_elapsed: Option<Duration>,
    /// The recorded timeline.
    pub timeline: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "StepVerifier failed at step {} of {}: {}",
            self.step_index + 1,
            self.total_steps,
            self.step
        )?;
        writeln!(f, "  expected: {}", self.expected)?;
        match &self.seen {
            Some(s) => writeln!(f, "  seen:     {s}")?,
            None => writeln!(f, "  seen:     nothing")?,
        }
        writeln!(f, "  why:      {}", self.diagnosis)?;
        if let Some(t) = self.virtual_elapsed {
            writeln!(f, "  virtual time: {t:?}")?;
        }
        writeln!(
            f,
            "  outstanding demand: {}",
            describe_demand(self.outstanding_demand)
        )?;
        writeln!(f, "  pending timers: {}", self.pending_timers)?;
        if !self.violations.is_empty() {
            writeln!(f, "  protocol violations:")?;
            for v in &self.violations {
                writeln!(f, "    {v}")?;
            }
        }
        write!(f, "  recorded timeline:\n{}", self.timeline)
    }
}

impl std::error::Error for VerifyError {}

/// What a successful [`StepVerifier`] run recorded, for after-the-fact assertions.
///
/// ```
/// use std::time::Duration;
/// use spillway_core::prelude::*;
/// let report = spillway_testkit::StepVerifier::with_virtual_time(
///     interval(Duration::from_secs(10)).unwrap(), 1)
///     .expect_next(0)
///     .then_cancel()
///     .verify();
/// assert_eq!(report.virtual_elapsed(), Duration::from_secs(10));
/// assert!(report.dropped().is_empty());
/// ```
pub struct VerifyReport<T, E> {
    handle: TestSubscriberHandle<T, E>,
    virtual_elapsed: Duration,
    wall_time: Duration,
}

impl<T, E> VerifyReport<T, E> {
    /// The recording subscriber's handle (all its accessors and assertions).
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// let r = spillway_testkit::StepVerifier::create(just(1), 1).expect_next(1).verify_complete();
    /// r.handle().assert_no_protocol_violations();
    /// ```
    pub fn handle(&self) -> &TestSubscriberHandle<T, E> {
        &self.handle
    }

    /// Virtual time elapsed during the verification (zero without a virtual scheduler).
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// let r = spillway_testkit::StepVerifier::create(just(1), 1).expect_next(1).verify_complete();
    /// assert_eq!(r.virtual_elapsed(), std::time::Duration::ZERO);
    /// ```
    pub fn virtual_elapsed(&self) -> Duration {
        self.virtual_elapsed
    }

    /// Real time the verification took (like the duration Reactor's `verify` returns).
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// let r = spillway_testkit::StepVerifier::create(just(1), 1).expect_next(1).verify_complete();
    /// let _ = r.wall_time();
    /// ```
    pub fn wall_time(&self) -> Duration {
        self.wall_time
    }

    /// Items dropped by lossy stages, as `(stage, item)` pairs, from [`Signal::Dropped`]
    /// events.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// let r = spillway_testkit::StepVerifier::create_with(|drops| {
    ///     drops.record("sample", "1");
    ///     just(2u8)
    /// }, 1).expect_next(2).verify_complete();
    /// assert_eq!(r.dropped(), vec![("sample", "1".to_string())]);
    /// ```
    pub fn dropped(&self) -> Vec<(Stage, String)> {
        self.handle.dropped()
    }

    /// How many items `stage` dropped.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// let r = spillway_testkit::StepVerifier::create(just(1), 1).expect_next(1).verify_complete();
    /// assert_eq!(r.dropped_count("sample"), 0);
    /// ```
    pub fn dropped_count(&self, stage: &str) -> usize {
        self.dropped().iter().filter(|(s, _)| *s == stage).count()
    }
}

impl<T: Clone, E> VerifyReport<T, E> {
    /// The items received.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// let r = spillway_testkit::StepVerifier::create(range(0, 2), 2).expect_next_count(2).verify_complete();
    /// assert_eq!(r.items(), vec![0, 1]);
    /// ```
    pub fn items(&self) -> Vec<T> {
        self.handle.items()
    }
}

impl<T: fmt::Debug, E: fmt::Debug> VerifyReport<T, E> {
    /// The recorded timeline (see [`Timeline`]).
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// let r = spillway_testkit::StepVerifier::create(just(1), 1).expect_next(1).verify_complete();
    /// assert!(r.timeline().contains("complete"));
    /// ```
    pub fn timeline(&self) -> String {
        self.handle.with_events(|e| Timeline(e).to_string())
    }
}

impl<T, E> fmt::Debug for VerifyReport<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyReport")
            .field("virtual_elapsed", &self.virtual_elapsed)
            .field("wall_time", &self.wall_time)
            .field("subscriber", &self.handle)
            .finish()
    }
}

impl<T, E> fmt::Debug for StepVerifier<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let steps: Vec<String> = self.steps.iter().map(Step::describe).collect();
        f.debug_struct("StepVerifier")
            .field("scheduler", &self.scheduler)
            .field("steps", &steps)
            .finish_non_exhaustive()
    }
}
