//! The subscriber suite: drives a subscriber under test with a puppet subscription.

use std::cell::Cell;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, ThreadId};

use spillway_core::{Error, SharedSubscription, Subscriber, Subscription};

use super::probe::guarded;
use super::runner::run_isolated;
use super::{Outcome, Report, TckConfig};

/// Makes the subscribers the subscriber suite checks: a fresh one per check.
///
/// ```
/// use std::convert::Infallible;
/// use spillway_core::{Disposable, Error, FnSubscriber, Subscriber};
/// use spillway_testkit::tck::{self, SubscriberFactory};
///
/// struct Printer;
/// impl SubscriberFactory for Printer {
///     type Subscriber = Box<dyn Subscriber<Item = u32, Error = Infallible>>;
///     type Handle = Disposable;
///     fn create_subscriber(&self) -> (Self::Subscriber, Disposable) {
///         let (s, handle) = FnSubscriber::new(|_: u32| {}, |_: Error<Infallible>| {}, || {});
///         (Box::new(s), handle)
///     }
///     fn create_element(&self, index: u64) -> u32 {
///         index as u32
///     }
///     fn cancels_on_handle_drop(&self) -> bool {
///         true
///     }
/// }
/// tck::verify_subscriber(Printer).assert_all_passed();
/// ```
pub trait SubscriberFactory: Send + Sync + 'static {
    /// The subscriber type under test.
    type Subscriber: Subscriber;
    /// Whatever the test keeps of a subscriber: a cancel handle such as
    /// [`Disposable`](spillway_core::Disposable), or `()`.
    type Handle: Send + 'static;

    /// A fresh subscriber and its handle.
    fn create_subscriber(&self) -> (Self::Subscriber, Self::Handle);

    /// The item number `index` to deliver to it.
    fn create_element(&self, index: u64) -> <Self::Subscriber as Subscriber>::Item;

    /// Makes the subscriber request, for subscribers that only request when told to
    /// (called after `on_subscribe`). Default: nothing.
    fn trigger_request(&self, _handle: &Self::Handle) {}

    /// True if dropping the handle cancels the subscription (rule 2.6 by `Drop`); the
    /// checks of 2.6 and 2.8 need it and are skipped otherwise. Default false.
    fn cancels_on_handle_drop(&self) -> bool {
        false
    }
}

thread_local! {
    /// Set while the suite runs the subscriber's `on_complete` / `on_error` (rule 2.3).
    static IN_TERMINAL: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// How many times each `request`/`cancel` on the puppet hands the processor to other
/// threads before it returns (rule 2.7's check): a count of scheduler turns, not a
/// duration, so no check waits on the wall clock.
const OVERLAP_TURNS: u32 = 200;

#[derive(Default)]
struct PuppetState {
    requested: u64,
    request_calls: u32,
    cancelled: bool,
    violations: Vec<String>,
    in_progress: Option<ThreadId>,
}

/// The subscription handed to the subscriber under test: it records what the
/// subscriber asks for.
#[derive(Default)]
struct Puppet {
    state: Mutex<PuppetState>,
    changed: Condvar,
}

impl Puppet {
    fn lock(&self) -> MutexGuard<'_, PuppetState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Rule 2.7: request/cancel calls are serial.
    fn enter(&self, call: &str) {
        let me = thread::current().id();
        let mut s = self.lock();
        if let Some(signal) = IN_TERMINAL.with(Cell::get) {
            s.violations
                .push(format!("rule 2.3: {call} called from inside {signal}"));
        }
        match s.in_progress {
            Some(t) if t != me => s.violations.push(format!(
                "rule 2.7: {call} on {me:?} overlapped a call on {t:?}"
            )),
            _ => s.in_progress = Some(me),
        }
        drop(s);
        // Stay inside the call a little: a second thread calling meanwhile (a drain that
        // requests while another thread cancels) is then seen, not missed by nanoseconds.
        for _ in 0..OVERLAP_TURNS {
            thread::yield_now();
        }
    }

    fn exit(&self) {
        let me = thread::current().id();
        let mut s = self.lock();
        if s.in_progress == Some(me) {
            s.in_progress = None;
        }
        drop(s);
        self.changed.notify_all();
    }

    fn wait_for(&self, config: &TckConfig, done: impl Fn(&PuppetState) -> bool) -> bool {
        let s = self.lock();
        let (s, _) = self
            .changed
            .wait_timeout_while(s, config.timeout, |s| !done(s))
            .unwrap_or_else(|p| p.into_inner());
        done(&s)
    }
}

struct PuppetSubscription(Arc<Puppet>);

impl Subscription for PuppetSubscription {
    fn request(&self, n: u64) {
        self.0.enter("request");
        let mut s = self.0.lock();
        if n == 0 {
            s.violations
                .push("rule 2.1: request(0) (a subscriber must request n > 0)".to_string());
        }
        s.requested = s.requested.saturating_add(n);
        s.request_calls += 1;
        drop(s);
        self.0.exit();
    }

    fn cancel(&self) {
        self.0.enter("cancel");
        self.0.lock().cancelled = true;
        self.0.exit();
    }
}

/// One subscriber under test with its puppet subscription.
struct Driver<'a, F: SubscriberFactory> {
    factory: &'a F,
    config: &'a TckConfig,
    subscriber: F::Subscriber,
    handle: Option<F::Handle>,
    puppet: Arc<Puppet>,
    delivered: u64,
}

impl<'a, F: SubscriberFactory> Driver<'a, F> {
    /// A fresh subscriber that has received `on_subscribe`.
    fn start(factory: &'a F, config: &'a TckConfig) -> Result<Self, String> {
        let (subscriber, handle) = factory.create_subscriber();
        let mut d = Driver {
            factory,
            config,
            subscriber,
            handle: Some(handle),
            puppet: Arc::default(),
            delivered: 0,
        };
        let sub: SharedSubscription = Arc::new(PuppetSubscription(Arc::clone(&d.puppet)));
        d.call("on_subscribe", |s| s.on_subscribe(sub))?;
        Ok(d)
    }

    fn call(
        &mut self,
        signal: &'static str,
        f: impl FnOnce(&mut F::Subscriber),
    ) -> Result<(), String> {
        let subscriber = &mut self.subscriber;
        let terminal = matches!(signal, "on_complete" | "on_error");
        if terminal {
            IN_TERMINAL.with(|t| t.set(Some(signal)));
        }
        let outcome = guarded(|| f(subscriber));
        IN_TERMINAL.with(|t| t.set(None));
        outcome.map_err(|msg| format!("rule 2.13: {signal} panicked: {msg}"))?;
        self.check()
    }

    fn check(&self) -> Result<(), String> {
        let s = self.puppet.lock();
        if s.violations.is_empty() {
            Ok(())
        } else {
            Err(s.violations.join("; "))
        }
    }

    fn trigger(&self) {
        if let Some(h) = &self.handle {
            self.factory.trigger_request(h);
        }
    }

    /// Waits until the subscriber has requested more than was delivered.
    fn expect_request(&self) -> Result<(), String> {
        let delivered = self.delivered;
        if self
            .puppet
            .wait_for(self.config, |s| s.requested > delivered)
        {
            self.check()
        } else {
            self.check()?;
            Err(format!(
                "rule 2.1: no request within {:?} ({delivered} item(s) delivered so far)",
                self.config.timeout
            ))
        }
    }

    fn on_next(&mut self) -> Result<(), String> {
        let item = self.factory.create_element(self.delivered);
        self.delivered += 1;
        self.call("on_next", |s| s.on_next(item))
    }

    fn on_complete(&mut self) -> Result<(), String> {
        self.call("on_complete", |s| s.on_complete())
    }

    fn on_error(&mut self) -> Result<(), String> {
        let e = Error::Rejected {
            stage: "tck",
            reason: "a test error sent by the conformance suite",
        };
        self.call("on_error", |s| s.on_error(e))
    }

    fn outstanding(&self) -> u64 {
        self.puppet.lock().requested.saturating_sub(self.delivered)
    }
}

type SubCheck<F> = fn(&F, &TckConfig) -> Result<(), String>;

fn checks<F: SubscriberFactory>() -> Vec<(&'static str, &'static str, bool, SubCheck<F>)> {
    vec![
        (
            "2.1",
            "requests before it expects items, and takes them",
            false,
            spec201,
        ),
        (
            "2.3",
            "no request/cancel from inside on_complete",
            false,
            spec203_complete,
        ),
        (
            "2.3",
            "no request/cancel from inside on_error",
            false,
            spec203_error,
        ),
        (
            "2.5",
            "a second on_subscribe is cancelled, not used",
            false,
            spec205,
        ),
        (
            "2.6",
            "dropping the handle cancels the subscription",
            true,
            spec206,
        ),
        ("2.7", "request/cancel calls are serial", false, spec207),
        (
            "2.8",
            "on_next and on_complete after cancel are accepted",
            true,
            spec208,
        ),
        (
            "2.9",
            "on_complete without a preceding request",
            false,
            spec209_no_request,
        ),
        ("2.9", "on_complete after a request", false, spec209_request),
        (
            "2.10",
            "on_error without a preceding request",
            false,
            spec210_no_request,
        ),
        ("2.10", "on_error after a request", false, spec210_request),
        (
            "2.13",
            "on_subscribe/on_next/on_error/on_complete return normally",
            false,
            spec213,
        ),
    ]
}

fn fixed_entries() -> Vec<(&'static str, &'static str, Outcome)> {
    let unobservable =
        |why: &str| Outcome::NotChecked(format!("not observable by a black-box test: {why}"));
    vec![
        (
            "2.2",
            "asynchronous dispatch (recommendation)",
            unobservable("a recommendation"),
        ),
        (
            "2.4",
            "subscription considered cancelled after a terminal signal",
            unobservable("internal state"),
        ),
        (
            "2.11",
            "signal calls happen-before their processing",
            unobservable("guaranteed by &mut self and Send"),
        ),
        (
            "2.12",
            "on_subscribe at most once per subscriber",
            Outcome::EnforcedByType(
                "subscribe takes the subscriber by value: it cannot be subscribed twice",
            ),
        ),
        (
            "2.13",
            "null arguments are rejected",
            Outcome::EnforcedByType("there are no null subscriptions, items or errors"),
        ),
        (
            "3.1",
            "only the subscriber calls request/cancel",
            unobservable("an obligation of the subscriber's own code"),
        ),
    ]
}

pub(crate) fn run<F: SubscriberFactory>(factory: F, config: TckConfig) -> Report {
    let factory = Arc::new(factory);
    let mut report = Report::default();
    for (rule, name, needs_drop_cancel, run) in checks::<F>() {
        let outcome = if let Some(why) = config.skip_reason(rule) {
            Outcome::Excused(why.to_string())
        } else if needs_drop_cancel && !factory.cancels_on_handle_drop() {
            let limit = "needs a handle whose drop cancels (cancels_on_handle_drop)";
            match config.excuse_reason(rule) {
                Some(why) => Outcome::Excused(format!("{why} ({limit})")),
                None => Outcome::Skipped(limit.to_string()),
            }
        } else {
            let (factory, cfg) = (Arc::clone(&factory), config.clone());
            run_isolated(rule, config.check_timeout, move || run(&factory, &cfg))
        };
        report.push(rule, name, outcome);
    }
    for (rule, name, outcome) in fixed_entries() {
        let outcome = match config.skip_reason(rule) {
            Some(why) => Outcome::Excused(why.to_string()),
            None => outcome,
        };
        report.push(rule, name, outcome);
    }
    report.sort();
    report
}

/// Requests, takes what it asked for (at most 3), then completes.
fn spec201<F: SubscriberFactory>(f: &F, c: &TckConfig) -> Result<(), String> {
    let mut d = Driver::start(f, c)?;
    d.trigger();
    for _ in 0..3 {
        if d.delivered > 0 && d.outstanding() == 0 {
            break;
        }
        d.expect_request()?;
        d.on_next()?;
    }
    d.on_complete()
}

fn spec203_complete<F: SubscriberFactory>(f: &F, c: &TckConfig) -> Result<(), String> {
    let mut d = Driver::start(f, c)?;
    d.trigger();
    d.on_complete()
}

fn spec203_error<F: SubscriberFactory>(f: &F, c: &TckConfig) -> Result<(), String> {
    let mut d = Driver::start(f, c)?;
    d.trigger();
    d.on_error()
}

fn spec205<F: SubscriberFactory>(f: &F, c: &TckConfig) -> Result<(), String> {
    let mut d = Driver::start(f, c)?;
    d.trigger();
    let second = Arc::new(Puppet::default());
    let sub: SharedSubscription = Arc::new(PuppetSubscription(Arc::clone(&second)));
    d.call("on_subscribe", |s| s.on_subscribe(sub))?;
    let cancelled = second.wait_for(c, |s| s.cancelled);
    let s = second.lock();
    if s.request_calls > 0 {
        return Err(format!(
            "rule 2.5: requested {} from the second subscription",
            s.requested
        ));
    }
    if !cancelled {
        return Err(format!(
            "rule 2.5: the second subscription was not cancelled within {:?}",
            c.timeout
        ));
    }
    d.check()
}

fn spec206<F: SubscriberFactory>(f: &F, c: &TckConfig) -> Result<(), String> {
    let mut d = Driver::start(f, c)?;
    drop(d.handle.take());
    if !d.puppet.wait_for(c, |s| s.cancelled) {
        return Err(format!(
            "rule 2.6: no cancel within {:?} of dropping the handle",
            c.timeout
        ));
    }
    d.check()
}

fn spec207<F: SubscriberFactory>(f: &F, c: &TckConfig) -> Result<(), String> {
    let mut d = Driver::start(f, c)?;
    d.trigger();
    for _ in 0..10 {
        if d.delivered > 0 && d.outstanding() == 0 {
            break;
        }
        d.expect_request()?;
        d.on_next()?;
    }
    drop(d.handle.take());
    d.on_complete()
}

fn spec208<F: SubscriberFactory>(f: &F, c: &TckConfig) -> Result<(), String> {
    let mut d = Driver::start(f, c)?;
    d.trigger();
    d.expect_request()?;
    drop(d.handle.take());
    if !d.puppet.wait_for(c, |s| s.cancelled) {
        return Err(format!(
            "rule 2.6: no cancel within {:?} of dropping the handle",
            c.timeout
        ));
    }
    // Demand still outstanding when it cancelled may still arrive.
    d.on_next()?;
    d.on_complete()
}

fn spec209_no_request<F: SubscriberFactory>(f: &F, c: &TckConfig) -> Result<(), String> {
    Driver::start(f, c)?.on_complete()
}

fn spec209_request<F: SubscriberFactory>(f: &F, c: &TckConfig) -> Result<(), String> {
    let mut d = Driver::start(f, c)?;
    d.trigger();
    d.expect_request()?;
    d.on_complete()
}

fn spec210_no_request<F: SubscriberFactory>(f: &F, c: &TckConfig) -> Result<(), String> {
    Driver::start(f, c)?.on_error()
}

fn spec210_request<F: SubscriberFactory>(f: &F, c: &TckConfig) -> Result<(), String> {
    let mut d = Driver::start(f, c)?;
    d.trigger();
    d.expect_request()?;
    d.on_error()
}

fn spec213<F: SubscriberFactory>(f: &F, c: &TckConfig) -> Result<(), String> {
    let mut d = Driver::start(f, c)?;
    d.trigger();
    d.expect_request()?;
    d.on_next()?;
    d.on_complete()?;
    let mut d = Driver::start(f, c)?;
    d.trigger();
    d.on_error()
}

impl fmt::Debug for Puppet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Puppet").finish_non_exhaustive()
    }
}
