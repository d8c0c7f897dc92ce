//! The publisher suite's own subscriber: it records every signal and checks the
//! protocol on each one (grammar, demand, serial signals, recursion depth).

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::{self, ThreadId};
use std::time::Duration;

use spillway_core::{Error, Publisher, SharedSubscription, Subscriber};

use super::{AccountingFn, TckConfig};

thread_local! {
    /// How many `on_next` calls of a probe are on this thread's stack (rule 3.3).
    static DEPTH: Cell<u64> = const { Cell::new(0) };
}

/// Re-entrant requests stop beyond this depth in every check, whatever the bound, so
/// that a publisher that recurses fails a check instead of overflowing the stack.
const DEPTH_SAFETY_CAP: u64 = 64;

/// What the probe does by itself, from inside its signals.
#[derive(Debug, Clone, Default)]
pub(crate) struct Behaviour {
    /// `request(n)` calls made from inside `on_subscribe`, in order.
    pub(crate) on_subscribe_requests: Vec<u64>,
    /// `request(n)` from inside each `on_next`...
    pub(crate) on_next_request: Option<u64>,
    /// ...while fewer than this many items were received (the signal cap).
    pub(crate) re_request_until: u64,
    /// `cancel()` from inside the `on_next` that brings the count to this.
    pub(crate) cancel_at: Option<u64>,
    /// Random `request(1..=max)` from about half of the `on_next` calls, while the
    /// total requested is below `until_requested`.
    pub(crate) random_on_next: Option<RandomRequests>,
    /// The `on_next` that brings the count to this waits until the test calls
    /// [`Harness::release_hold`] (at most `timeout`).
    pub(crate) hold_at: Option<u64>,
}

/// See [`Behaviour::random_on_next`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct RandomRequests {
    pub(crate) max: u64,
    pub(crate) until_requested: u64,
}

/// A small seeded generator (xorshift64*): the suite's random request sizes and cancel
/// points are reproducible from [`TckConfig::seed`].
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `lo..=hi`.
    pub(crate) fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

#[derive(Debug)]
pub(crate) enum Terminal<E> {
    Complete,
    Error(Error<E>),
}

pub(crate) struct State<E> {
    subscription: Option<SharedSubscription>,
    subscribes: u32,
    pub(crate) received: u64,
    requested: u64,
    terminal: Option<Terminal<E>>,
    cancelled_at: Option<u64>,
    violations: Vec<String>,
    max_depth: u64,
    in_progress: Option<(ThreadId, u32)>,
    released: bool,
    /// Threads now inside one of the suite's calls (`subscribe`, `request`, `cancel`).
    callers: Vec<ThreadId>,
    rng: Rng,
    /// The `on_next` of `Behaviour::hold_at` is waiting.
    held: bool,
    /// The test let the held `on_next` go on.
    hold_released: bool,
}

impl<E> State<E> {
    pub(crate) fn terminated(&self) -> bool {
        self.terminal.is_some()
    }

    fn violation(&mut self, what: String) {
        if self.violations.len() < 8 {
            self.violations.push(what);
        }
    }

    fn check(&self) -> Result<(), String> {
        if self.violations.is_empty() {
            Ok(())
        } else {
            Err(self.violations.join("; "))
        }
    }
}

impl<E: fmt::Debug> State<E> {
    fn describe(&self) -> String {
        let terminal = match &self.terminal {
            None => "not terminated".to_string(),
            Some(Terminal::Complete) => "completed".to_string(),
            Some(Terminal::Error(e)) => format!("failed with {e:?}"),
        };
        format!(
            "received {} item(s), {} requested, {terminal}",
            self.received,
            if self.requested == u64::MAX {
                "unbounded".to_string()
            } else {
                self.requested.to_string()
            }
        )
    }
}

pub(crate) struct Shared<E> {
    state: Mutex<State<E>>,
    changed: Condvar,
    behaviour: Behaviour,
    depth_bound: u64,
    synchronous: bool,
    timeout: Duration,
}

impl<E> Shared<E> {
    fn lock(&self) -> MutexGuard<'_, State<E>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Rule 1.3: a signal may start on another thread only once the previous one has
    /// returned; nested entry on the same thread (a synchronous publisher answering a
    /// re-entrant request) is allowed.
    fn enter(&self, signal: &str) -> MutexGuard<'_, State<E>> {
        let me = thread::current().id();
        let mut s = self.lock();
        match s.in_progress {
            Some((t, _)) if t != me => s.violation(format!(
                "rule 1.3: {signal} started on {me:?} while a signal was still running on {t:?}"
            )),
            Some((t, n)) => s.in_progress = Some((t, n + 1)),
            None => s.in_progress = Some((me, 1)),
        }
        if self.synchronous && s.in_progress == Some((me, 1)) && !s.callers.contains(&me) {
            s.violation(format!(
                "an asynchronous signal: {signal} on {me:?}, which is in none of the suite's \
                 subscribe/request/cancel calls, although the configuration declares the \
                 publisher synchronous (TckConfig::synchronous); run it with \
                 TckConfig::default() so that late signals are watched for"
            ));
        }
        if s.subscribes == 0 && signal != "on_subscribe" {
            s.violation(format!("rule 1.9: {signal} before on_subscribe"));
        }
        if let Some(t) = &s.terminal {
            let after = match t {
                Terminal::Complete => "on_complete",
                Terminal::Error(_) => "on_error",
            };
            s.violation(format!("rule 1.7: {signal} after {after}"));
        }
        s
    }

    fn exit(&self) {
        let me = thread::current().id();
        let mut s = self.lock();
        if let Some((t, n)) = s.in_progress {
            if t == me {
                s.in_progress = (n > 1).then_some((t, n - 1));
            }
        }
        drop(s);
        self.changed.notify_all();
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Runs `f`, turning a panic into `Err(message)`.
pub(crate) fn guarded<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_message(&*p))
}

fn request_on<E>(shared: &Shared<E>, sub: &SharedSubscription, n: u64, from: &str) {
    if let Err(msg) = guarded(|| sub.request(n)) {
        shared
            .lock()
            .violation(format!("rule 3.16: request({n}) {from} panicked: {msg}"));
    }
}

/// The subscriber handed to the publisher under test.
struct Probe<T, E> {
    shared: Arc<Shared<E>>,
    /// Dropped first in `Drop`, so the harness never sees `released` before the token
    /// has gone (it runs on another thread when the publisher is asynchronous).
    alive: Option<Arc<()>>,
    _item: PhantomData<fn(T)>,
}

impl<T, E> Drop for Probe<T, E> {
    fn drop(&mut self) {
        drop(self.alive.take());
        self.shared.lock().released = true;
        self.shared.changed.notify_all();
    }
}

enum Action {
    None,
    Request(SharedSubscription, u64),
    Cancel(SharedSubscription),
}

impl<T: 'static, E: Send + 'static> Subscriber for Probe<T, E> {
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let mut s = self.shared.enter("on_subscribe");
        s.subscribes += 1;
        let again = s.subscribes > 1;
        if again {
            s.violation("rule 1.9: on_subscribe signalled more than once".to_string());
        } else {
            s.subscription = Some(subscription.clone());
        }
        drop(s);
        if again {
            let _ = guarded(|| subscription.cancel());
        } else {
            for &n in &self.shared.behaviour.on_subscribe_requests {
                let mut s = self.shared.lock();
                s.requested = s.requested.saturating_add(n);
                drop(s);
                request_on(&self.shared, &subscription, n, "from on_subscribe");
            }
        }
        self.shared.exit();
    }

    fn on_next(&mut self, _item: T) {
        let depth = DEPTH.with(|d| {
            d.set(d.get() + 1);
            d.get()
        });
        let b = &self.shared.behaviour;
        let bound = self.shared.depth_bound;
        let mut s = self.shared.enter("on_next");
        s.received += 1;
        if s.received > s.requested {
            let (n, r) = (s.received, s.requested);
            s.violation(format!(
                "rule 1.1: on_next #{n} but only {r} item(s) were requested"
            ));
        }
        if depth > s.max_depth {
            s.max_depth = depth;
            if depth > bound {
                s.violation(format!(
                    "rule 3.3: request/on_next recursion reached depth {depth}, bound is {bound}"
                ));
            }
        }
        let too_deep = depth > bound || depth >= DEPTH_SAFETY_CAP;
        let mut action = Action::None;
        if let (Some(sub), None) = (s.subscription.clone(), s.cancelled_at) {
            if b.cancel_at == Some(s.received) {
                action = Action::Cancel(sub);
                s.cancelled_at = Some(s.received);
            } else if let Some(n) = b.on_next_request {
                if !too_deep && s.received < b.re_request_until {
                    action = Action::Request(sub, n);
                    s.requested = s.requested.saturating_add(n);
                }
            } else if let Some(r) = b.random_on_next {
                if !too_deep && s.requested < r.until_requested && s.rng.next() % 2 == 0 {
                    let n = s.rng.between(1, r.max);
                    action = Action::Request(sub, n);
                    s.requested = s.requested.saturating_add(n);
                }
            }
        }
        if b.hold_at == Some(s.received) {
            s.held = true;
            self.shared.changed.notify_all();
            let timeout = self.shared.timeout;
            let (mut after, waited) = self
                .shared
                .changed
                .wait_timeout_while(s, timeout, |s| !s.hold_released)
                .unwrap_or_else(|p| p.into_inner());
            if waited.timed_out() {
                after.violation(format!(
                    "rule 3.5: a cancel from another thread did not return within {timeout:?} \
                     while on_next ran: it waits for the subscriber (a lock held across on_next?)"
                ));
            }
            s = after;
        }
        drop(s);
        match action {
            Action::None => {}
            Action::Request(sub, n) => request_on(&self.shared, &sub, n, "from on_next"),
            Action::Cancel(sub) => {
                if let Err(msg) = guarded(|| sub.cancel()) {
                    self.shared
                        .lock()
                        .violation(format!("rule 3.15: cancel from on_next panicked: {msg}"));
                }
            }
        }
        DEPTH.with(|d| d.set(d.get() - 1));
        self.shared.exit();
    }

    fn on_error(&mut self, error: Error<E>) {
        let mut s = self.shared.enter("on_error");
        if s.terminal.is_none() {
            s.terminal = Some(Terminal::Error(error));
        }
        drop(s);
        self.shared.exit();
    }

    fn on_complete(&mut self) {
        let mut s = self.shared.enter("on_complete");
        if s.terminal.is_none() {
            s.terminal = Some(Terminal::Complete);
        }
        drop(s);
        self.shared.exit();
    }
}

/// The test's side of one subscription of the probe: request, cancel, and bounded
/// waits for what the probe records.
pub(crate) struct Harness<E> {
    shared: Arc<Shared<E>>,
    alive: Weak<()>,
    config: TckConfig,
    /// Lossy mode: the counters of the stage under test.
    accounting: Option<AccountingFn>,
}

impl<E: fmt::Debug + Send + 'static> Harness<E> {
    /// Subscribes a fresh probe to `publisher` and waits for `on_subscribe`.
    pub(crate) fn subscribe<P>(
        publisher: P,
        behaviour: Behaviour,
        depth_bound: u64,
        config: &TckConfig,
    ) -> Result<Harness<E>, String>
    where
        P: Publisher<Error = E>,
    {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                subscription: None,
                subscribes: 0,
                received: 0,
                requested: 0,
                terminal: None,
                cancelled_at: None,
                violations: Vec::new(),
                max_depth: 0,
                in_progress: None,
                released: false,
                callers: Vec::new(),
                rng: Rng::new(config.seed ^ 0xA5A5),
                held: false,
                hold_released: false,
            }),
            changed: Condvar::new(),
            behaviour,
            depth_bound,
            synchronous: config.synchronous,
            timeout: config.timeout,
        });
        let alive = Arc::new(());
        let harness = Harness {
            shared: Arc::clone(&shared),
            alive: Arc::downgrade(&alive),
            config: config.clone(),
            accounting: None,
        };
        let probe = Probe::<P::Item, E> {
            shared,
            alive: Some(alive),
            _item: PhantomData,
        };
        harness
            .calling(|| guarded(|| publisher.subscribe(probe)))
            .map_err(|msg| format!("rule 1.9: subscribe panicked: {msg}"))?;
        if !harness.wait_for(config.timeout, |s| s.subscribes > 0) {
            return Err(format!(
                "rule 1.9: no on_subscribe within {:?} of subscribe",
                config.timeout
            ));
        }
        harness.check()?;
        Ok(harness)
    }

    fn lock(&self) -> MutexGuard<'_, State<E>> {
        self.shared.lock()
    }

    /// Lossy mode: the stage may drop items by its policy (see
    /// [`PublisherFactory::create_accounted`](super::PublisherFactory::create_accounted)).
    pub(crate) fn set_accounting(&mut self, accounting: Option<AccountingFn>) {
        self.accounting = accounting;
    }

    /// In lossy mode, fewer items than waited for are fine once the stream completed.
    fn lossy_end(&self, s: &State<E>) -> bool {
        self.accounting.is_some() && matches!(s.terminal, Some(Terminal::Complete))
    }

    /// Items requested so far (by the test and by the probe itself).
    pub(crate) fn requested(&self) -> u64 {
        self.lock().requested
    }

    /// Items received so far.
    pub(crate) fn received(&self) -> u64 {
        self.lock().received
    }

    /// Waits until every requested item has arrived (or a terminal signal); fails if
    /// they did not within `timeout`, or if the publisher terminated.
    pub(crate) fn expect_caught_up(&self) -> Result<(), String> {
        self.wait_for(self.config.timeout, |s| {
            s.received >= s.requested || s.terminated()
        });
        let s = self.lock();
        s.check()?;
        if self.lossy_end(&s) {
            return Ok(());
        }
        if s.received < s.requested || s.terminated() {
            return Err(format!(
                "expected every requested item within {:?} and no terminal signal; {}",
                self.config.timeout,
                s.describe()
            ));
        }
        Ok(())
    }

    /// Waits until the `on_next` of `Behaviour::hold_at` is holding.
    pub(crate) fn expect_held(&self) -> Result<(), String> {
        self.wait_for(self.config.timeout, |s| s.held || s.terminated());
        let s = self.lock();
        s.check()?;
        if !s.held && !self.lossy_end(&s) {
            return Err(format!(
                "expected on_next #{} within {:?}; {}",
                self.shared.behaviour.hold_at.unwrap_or(0),
                self.config.timeout,
                s.describe()
            ));
        }
        Ok(())
    }

    /// Waits up to `timeout` until `done` holds or a violation is recorded; true if
    /// `done` holds at the end.
    pub(crate) fn wait_for(&self, timeout: Duration, done: impl Fn(&State<E>) -> bool) -> bool {
        let s = self.lock();
        let (s, _) = self
            .shared
            .changed
            .wait_timeout_while(s, timeout, |s| !done(s) && s.violations.is_empty())
            .unwrap_or_else(|p| p.into_inner());
        done(&s)
    }

    /// The protocol violations recorded so far, as an error.
    pub(crate) fn check(&self) -> Result<(), String> {
        self.lock().check()
    }

    pub(crate) fn request(&self, n: u64) {
        let mut s = self.lock();
        s.requested = s.requested.saturating_add(n);
        let sub = s.subscription.clone();
        drop(s);
        if let Some(sub) = sub {
            self.calling(|| request_on(&self.shared, &sub, n, "from the test"));
        }
    }

    pub(crate) fn cancel(&self) {
        let mut s = self.lock();
        if s.cancelled_at.is_none() {
            s.cancelled_at = Some(s.received);
        }
        let sub = s.subscription.clone();
        drop(s);
        if let Some(sub) = sub {
            if let Err(msg) = self.calling(|| guarded(|| sub.cancel())) {
                self.lock()
                    .violation(format!("rule 3.15: cancel panicked: {msg}"));
            }
        }
    }

    pub(crate) fn is_terminated(&self) -> bool {
        self.lock().terminated()
    }

    /// Waits for `n` items in total.
    pub(crate) fn expect_items(&self, n: u64) -> Result<(), String> {
        self.wait_for(self.config.timeout, |s| s.received >= n || s.terminated());
        let s = self.lock();
        s.check()?;
        if s.received < n && !self.lossy_end(&s) {
            return Err(format!(
                "expected {n} item(s) within {:?}; {}",
                self.config.timeout,
                s.describe()
            ));
        }
        Ok(())
    }

    /// Waits for `on_complete`.
    pub(crate) fn expect_complete(&self) -> Result<(), String> {
        self.wait_for(self.config.timeout, State::terminated);
        let s = self.lock();
        s.check()?;
        match s.terminal {
            Some(Terminal::Complete) => Ok(()),
            _ => Err(format!(
                "expected on_complete within {:?}; {}",
                self.config.timeout,
                s.describe()
            )),
        }
    }

    /// Waits for `on_error` with an error that `matches`.
    pub(crate) fn expect_error(
        &self,
        what: &str,
        matches: impl Fn(&Error<E>) -> bool,
    ) -> Result<(), String> {
        self.wait_for(self.config.timeout, State::terminated);
        let s = self.lock();
        s.check()?;
        match &s.terminal {
            Some(Terminal::Error(e)) if matches(e) => Ok(()),
            _ => Err(format!(
                "expected on_error({what}) within {:?}; {}",
                self.config.timeout,
                s.describe()
            )),
        }
    }

    /// Watches `no_signal_wait` for items beyond `items` (and for a terminal signal
    /// unless `terminal_allowed`).
    pub(crate) fn expect_no_more(&self, items: u64, terminal_allowed: bool) -> Result<(), String> {
        // In lossy mode the stage may have dropped the rest and completed already.
        let lossy = self.accounting.is_some();
        let unexpected = |s: &State<E>| {
            let completed = matches!(s.terminal, Some(Terminal::Complete));
            s.received > items || (!terminal_allowed && s.terminated() && !(lossy && completed))
        };
        self.wait_for(self.config.no_signal_wait, unexpected);
        let s = self.lock();
        s.check()?;
        if unexpected(&s) {
            return Err(format!(
                "expected no signal beyond {items} item(s){}; {}",
                if terminal_allowed {
                    ""
                } else {
                    " and no terminal signal"
                },
                s.describe()
            ));
        }
        Ok(())
    }

    /// Fails if an `on_error` arrived.
    pub(crate) fn expect_no_error(&self) -> Result<(), String> {
        let s = self.lock();
        s.check()?;
        match &s.terminal {
            Some(Terminal::Error(e)) => {
                Err(format!("unexpected on_error({e:?}); {}", s.describe()))
            }
            _ => Ok(()),
        }
    }

    /// Waits until the publisher has dropped the probe (rule 3.13).
    pub(crate) fn expect_released(&self) -> Result<(), String> {
        self.wait_for(self.config.timeout, |s| s.released);
        self.check()?;
        if self.alive.upgrade().is_some() {
            return Err(format!(
                "rule 3.13: the publisher still holds the subscriber {:?} after cancel",
                self.config.timeout
            ));
        }
        Ok(())
    }

    /// Final check of a test: no violation was recorded; in lossy mode, the stage's
    /// accounting balances and, once the stream ended, what it emitted is what arrived.
    pub(crate) fn finish(self) -> Result<(), String> {
        self.check()?;
        let Some(read) = &self.accounting else {
            return Ok(());
        };
        // The counters are published as the stage works: give them the usual time.
        let deadline = std::time::Instant::now() + self.config.timeout;
        loop {
            let a = read();
            let s = self.lock();
            let delivered = !s.terminated() || a.emitted == s.received;
            if a.is_balanced() && delivered {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                return Err(format!(
                    "lossy stage accounting: {a:?} (received = emitted + dropped + buffered \
                     must hold, and emitted must equal what the subscriber got); {}",
                    s.describe()
                ));
            }
            drop(s);
            thread::yield_now();
        }
    }
}

impl<E> Harness<E> {
    /// Runs one of the suite's calls into the publisher, marking this thread as inside
    /// it: signals on it are synchronous ones.
    fn calling<R>(&self, call: impl FnOnce() -> R) -> R {
        let me = thread::current().id();
        self.shared.lock().callers.push(me);
        let result = call();
        let mut s = self.shared.lock();
        if let Some(i) = s.callers.iter().position(|t| *t == me) {
            s.callers.swap_remove(i);
        }
        result
    }

    /// Lets the held `on_next` return.
    pub(crate) fn release_hold(&self) {
        self.shared.lock().hold_released = true;
        self.shared.changed.notify_all();
    }
}

impl<E> Drop for Harness<E> {
    fn drop(&mut self) {
        // Stop whatever still runs and break the subscription <-> probe cycle.
        let sub = self.shared.lock().subscription.take();
        if let Some(sub) = sub {
            let _ = self.calling(|| guarded(|| sub.cancel()));
        }
        // A held on_next (a check that failed early) must not wait out its timeout.
        self.release_hold();
    }
}

impl<E> fmt::Debug for Harness<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Harness").finish_non_exhaustive()
    }
}
