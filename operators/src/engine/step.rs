//! The shared engine of the synchronous, item-by-item operators (`filter_map`, `scan`,
//! `take`, `take_while`, `skip`, `skip_while`, `distinct_until_changed`, `pairwise`,
//! `element_at`, `reduce`, the fallible `try_map` / `try_filter` / `try_filter_map` and
//! the `do_on_*` taps): each operator is a small [`Logic`]; this file does the rest —
//! the demand policy of the subscription downstream sees, the `try_on_next` protocol,
//! replacement requests for discarded items, panics in user code, early completion
//! with upstream cancellation, and ignoring late signals.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use spillway_core::demand::AtomicAllowance;
use spillway_core::{
    Context, Demand, Error, Publisher, SharedSubscription, Stage, Subscriber, Subscription,
};

use crate::engine::support::lock;

/// What a [`Logic`] does with one upstream item.
pub(crate) enum Step<R> {
    /// Deliver it.
    Emit(R),
    /// Discard it: the unit of demand it would have used is still outstanding.
    Skip,
    /// Deliver it, then cancel upstream and complete (the n-th item of `take(n)`).
    Last(R),
    /// Discard it, cancel upstream and fail with the error the logic holds
    /// ([`Logic::failure`]): the `try_*` stages at the first `Err`.
    Fail,
    /// Discard it, cancel upstream and complete (`take_while` at the first `false`).
    Stop,
}

/// How the subscription downstream sees turns its requests into upstream requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestPolicy {
    /// Forward every request as it is (1:1 and filtering stages).
    Pass,
    /// Forward requests until `cap` items were requested upstream in total (`take`).
    Cap(u64),
    /// At the first request, request unbounded demand upstream once (`reduce`: one item
    /// at completion, whatever the upstream size).
    Aggregate,
    /// At the first request, request exactly `n` upstream once: the stage emits at most
    /// one item, and the items it discards are counted in those `n`, so none is replaced
    /// (`element_at(i)`: `n = i + 1`).
    Once(u64),
}

/// Callbacks of the subscription side (`do_on_request`, `do_on_cancel`, `do_finally`).
/// They run on the thread that requests or cancels, and may panic (caught).
pub(crate) trait LinkHooks: Send + Sync + 'static {
    fn request(&self, _n: u64) {}
    fn cancel(&self) {}
}

/// The per-operator part: called only by the engine, one signal at a time. User code runs
/// inside these methods; a panic is caught by the engine.
pub(crate) trait Logic<T, E>: Send + 'static {
    type Out: Send + 'static;
    const STAGE: Stage;

    /// How downstream's requests reach upstream.
    fn policy(&self) -> RequestPolicy {
        RequestPolicy::Pass
    }
    /// Subscription-side callbacks, taken once at subscribe time.
    fn link_hooks(&mut self) -> Option<Arc<dyn LinkHooks>> {
        None
    }
    /// True if the operator is over before any item (`take(0)`): upstream is cancelled
    /// and downstream completes right after `on_subscribe`.
    fn done_at_start(&self) -> bool {
        false
    }
    fn next(&mut self, item: T) -> Step<Self::Out>;
    /// The user error behind a [`Step::Fail`], taken once.
    fn failure(&mut self) -> Option<E> {
        None
    }
    /// Upstream completed: an item to deliver before completing (`reduce`).
    fn complete(&mut self) -> Option<Self::Out> {
        None
    }
    /// Upstream failed (a tap looks at the error).
    fn error(&mut self, _error: &Error<E>) {}
    /// After the terminal signal was delivered downstream (panics are ignored).
    fn finally(&mut self, _error: bool) {}
}

/// Subscribes `downstream` to `upstream` through `logic`.
pub(crate) fn subscribe<P, S, L>(upstream: P, downstream: S, logic: L)
where
    P: Publisher,
    L: Logic<P::Item, P::Error>,
    S: Subscriber<Item = L::Out, Error = P::Error>,
{
    upstream.subscribe(StepSubscriber {
        downstream,
        logic,
        link: None,
        done: false,
        _item: std::marker::PhantomData,
    });
}

/// Downstream's view of the subscription.
struct Link {
    upstream: SharedSubscription,
    stage: Stage,
    policy: RequestPolicy,
    /// A discarded item needs no replacement: downstream's demand is unbounded, or the
    /// stage requested upstream once for every item it may discard (`Aggregate`, `Once`).
    unbounded: AtomicBool,
    /// Downstream requested at least once.
    requested: AtomicBool,
    /// `Cap`: how much may still be requested upstream.
    allowance: AtomicAllowance,
    hooks: Option<Arc<dyn LinkHooks>>,
    /// A panic of a request hook, reported at the next upstream signal.
    panicked: Mutex<Option<String>>,
    /// Set after `panicked` is filled: the per-item check reads this flag, not the lock.
    has_panicked: AtomicBool,
    /// The stage ended early and cancelled upstream: later requests go nowhere.
    finished: AtomicBool,
}

impl Link {
    fn forward(&self, n: u64) {
        if n == 0 {
            // Upstream answers it with Error::InvalidRequest (rule 3.9).
            self.upstream.request(0);
            return;
        }
        self.requested.store(true, Ordering::Release);
        match self.policy {
            RequestPolicy::Pass => {
                if Demand::new(n).is_unbounded() {
                    self.unbounded.store(true, Ordering::Release);
                }
                self.upstream.request(n);
            }
            RequestPolicy::Cap(_) => {
                let granted = self.allowance.grant(n);
                if granted > 0 {
                    self.upstream.request(granted);
                }
            }
            RequestPolicy::Aggregate => {
                if !self.unbounded.swap(true, Ordering::AcqRel) {
                    self.upstream.request(Demand::UNBOUNDED.get());
                }
            }
            RequestPolicy::Once(n) => {
                if !self.unbounded.swap(true, Ordering::AcqRel) {
                    self.upstream.request(n);
                }
            }
        }
    }

    fn take_panic(&self) -> Option<String> {
        if !self.has_panicked.load(Ordering::Acquire) {
            return None; // the common case: no lock per item
        }
        lock(&self.panicked).take()
    }
}

impl Subscription for Link {
    fn request(&self, n: u64) {
        if self.finished.load(Ordering::Acquire) {
            return; // upstream was cancelled when the stage ended (rule 3.6 holds either way)
        }
        if let Some(hooks) = &self.hooks {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| hooks.request(n))) {
                if let Error::<()>::Panicked { message, .. } =
                    Error::from_panic(self.stage, payload)
                {
                    *lock(&self.panicked) = Some(message);
                    self.has_panicked.store(true, Ordering::Release);
                }
            }
        }
        self.forward(n);
    }

    fn cancel(&self) {
        if let Some(hooks) = &self.hooks {
            // Nobody is left to tell: downstream is the one cancelling (rule 3.15).
            let _ = catch_unwind(AssertUnwindSafe(|| hooks.cancel()));
        }
        self.upstream.cancel();
    }
}

struct StepSubscriber<S, L, T> {
    downstream: S,
    logic: L,
    link: Option<Arc<Link>>,
    /// Set once a terminal signal went downstream: later upstream signals are ignored.
    done: bool,
    _item: std::marker::PhantomData<fn(T)>,
}

impl<S, L, T> StepSubscriber<S, L, T>
where
    S: Subscriber,
    L: Logic<T, S::Error, Out = S::Item>,
{
    /// Ends the stream early: upstream is cancelled, downstream gets `terminal`.
    fn finish(&mut self, error: Option<Error<S::Error>>) {
        self.done = true;
        if let Some(link) = self.link.take() {
            link.finished.store(true, Ordering::Release);
            link.upstream.cancel();
        }
        let failed = error.is_some();
        match error {
            Some(e) => self.downstream.on_error(e),
            None => self.downstream.on_complete(),
        }
        self.run_finally(failed);
    }

    fn run_finally(&mut self, error: bool) {
        let logic = &mut self.logic;
        let _ = catch_unwind(AssertUnwindSafe(|| logic.finally(error)));
    }

    /// A request hook that panicked is reported at the next upstream signal.
    fn check_hook_panic(&mut self) -> bool {
        let message = self.link.as_ref().and_then(|l| l.take_panic());
        match message {
            Some(message) => {
                let stage = L::STAGE;
                self.finish(Some(Error::Panicked { stage, message }));
                true
            }
            None => false,
        }
    }
}

impl<S, L, T> Subscriber for StepSubscriber<S, L, T>
where
    S: Subscriber,
    L: Logic<T, S::Error, Out = S::Item>,
    T: 'static,
{
    type Item = T;
    type Error = S::Error;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if self.link.is_some() || self.done {
            subscription.cancel(); // rule 2.5
            return;
        }
        let policy = self.logic.policy();
        let link = Arc::new(Link {
            upstream: subscription,
            stage: L::STAGE,
            policy,
            unbounded: AtomicBool::new(false),
            requested: AtomicBool::new(false),
            allowance: AtomicAllowance::new(match policy {
                RequestPolicy::Cap(n) => n,
                _ => 0,
            }),
            hooks: self.logic.link_hooks(),
            panicked: Mutex::new(None),
            has_panicked: AtomicBool::new(false),
            finished: AtomicBool::new(false),
        });
        self.link = Some(Arc::clone(&link));
        self.downstream.on_subscribe(link);
        if self.logic.done_at_start() && !self.done {
            self.finish(None);
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        // From a source that counts every item against demand: a discarded item needs a
        // replacement request, unless downstream's demand is unbounded (or the policy
        // requested upstream for the discarded items already).
        if !self.try_on_next(item) && !self.done {
            if let Some(link) = &self.link {
                if !link.unbounded.load(Ordering::Acquire) {
                    link.upstream.request(1);
                }
            }
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        if self.done || self.check_hook_panic() {
            return true;
        }
        let logic = &mut self.logic;
        match catch_unwind(AssertUnwindSafe(|| logic.next(item))) {
            Ok(Step::Emit(out)) => self.downstream.try_on_next(out),
            Ok(Step::Skip) => false,
            Ok(Step::Last(out)) => {
                self.downstream.on_next(out);
                if !self.done {
                    self.finish(None);
                }
                true
            }
            Ok(Step::Stop) => {
                self.finish(None);
                true
            }
            Ok(Step::Fail) => {
                let error = match self.logic.failure() {
                    Some(e) => Error::User(e),
                    None => Error::ProtocolViolation {
                        stage: L::STAGE,
                        what: "a failing step without its error (a bug of this stage)",
                    },
                };
                self.finish(Some(error));
                true
            }
            Err(payload) => {
                self.finish(Some(Error::from_panic(L::STAGE, payload)));
                true
            }
        }
    }

    fn on_error(&mut self, error: Error<S::Error>) {
        if self.done || self.check_hook_panic() {
            return;
        }
        self.done = true;
        self.link = None;
        let logic = &mut self.logic;
        match catch_unwind(AssertUnwindSafe(|| logic.error(&error))) {
            Ok(()) => self.downstream.on_error(error),
            Err(payload) => self
                .downstream
                .on_error(Error::from_panic(L::STAGE, payload)),
        }
        self.run_finally(true);
    }

    fn on_complete(&mut self) {
        if self.done || self.check_hook_panic() {
            return;
        }
        self.done = true;
        let link = self.link.take();
        let logic = &mut self.logic;
        let mut failed = true;
        match catch_unwind(AssertUnwindSafe(|| logic.complete())) {
            Ok(None) => {
                failed = false;
                self.downstream.on_complete();
            }
            Ok(Some(out)) => {
                if link.is_some_and(|l| l.requested.load(Ordering::Acquire)) {
                    failed = false;
                    self.downstream.on_next(out);
                    self.downstream.on_complete();
                } else {
                    self.downstream.on_error(Error::ProtocolViolation {
                        stage: L::STAGE,
                        what: "upstream sent items before downstream requested any",
                    });
                }
            }
            Err(payload) => self
                .downstream
                .on_error(Error::from_panic(L::STAGE, payload)),
        }
        self.run_finally(failed);
    }

    fn context(&self) -> Context {
        self.downstream.context()
    }
}
