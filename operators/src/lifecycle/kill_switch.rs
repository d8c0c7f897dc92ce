//! `KillSwitch`: stop running pipelines from outside, cleanly (`shutdown`: complete) or
//! with an error (`abort`), one pipeline or many sharing the switch; and the
//! [`kill_switch`](crate::OperatorExt::kill_switch) stage that obeys it.
//!
//! The stage forwards items as they come. A command cancels its upstream and ends
//! downstream, serialised with the items: when an item is being delivered (on whatever
//! thread), the terminal signal follows it once `on_next` returns; a command from inside
//! downstream's own `on_next` is served the same way, without re-entering it.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Poll, Waker};

use spillway_core::{Context, Error, Publisher, SharedSubscription, Subscriber, Subscription};

use crate::engine::support::lock;

/// The stage name in errors.
const STAGE: &str = "kill_switch";

/// What a [`KillSwitch`] was told, first command wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwitchState {
    /// Not triggered: items flow.
    Active,
    /// [`KillSwitch::shutdown`]: upstreams cancelled, downstreams completed.
    ShutDown,
    /// [`KillSwitch::abort`]: upstreams cancelled, downstreams failed with
    /// `Error::Aborted { stage: "kill_switch", reason }`.
    Aborted(String),
}

/// A switch that stops every pipeline it is placed in (with
/// [`kill_switch`](crate::OperatorExt::kill_switch)): the counterpart of Pekko's
/// `KillSwitches`. Clones share the switch: one switch can stop one pipeline (a
/// `UniqueKillSwitch`) or many (a `SharedKillSwitch`).
///
/// * [`shutdown`](Self::shutdown): each stage cancels its upstream and completes
///   downstream. Items already past the stage are still delivered by the stages below
///   (buffers drain, async work in flight finishes), so a switch placed right after the
///   source is a graceful stop: "take no more input, finish what is in flight".
/// * [`abort`](Self::abort): each stage cancels its upstream and fails downstream with
///   `Error::Aborted`.
///
/// The first command wins; later ones are ignored. A pipeline subscribed after the switch
/// was triggered ends at once, the same way.
///
/// # Examples
/// ```
/// use spillway::prelude::*;
/// use spillway::operators::{KillSwitch, SwitchState};
/// # futures::executor::block_on(async {
/// let switch = KillSwitch::new();
/// let stop = switch.clone();
/// // An endless source, stopped cleanly after 5 items.
/// let counted = generate(0u64, |n| { *n += 1; Some(*n) })
///     .kill_switch(&switch)
///     .do_on_next(move |n| if *n == 5 { stop.shutdown() })
///     .count()
///     .await;
/// assert_eq!(counted.unwrap(), 5);
/// assert_eq!(switch.state(), SwitchState::ShutDown);
/// switch.abort("too late"); // the first command won
/// assert_eq!(switch.state(), SwitchState::ShutDown);
/// # });
/// ```
#[derive(Clone, Default)]
pub struct KillSwitch {
    shared: Arc<SwitchShared>,
}

#[derive(Default)]
struct SwitchShared {
    state: Mutex<SwitchInner>,
    /// Tasks waiting in [`KillSwitch::until_idle`]: woken whenever a stage ends.
    idle_waiters: Mutex<Vec<Waker>>,
    /// Items that reached a stage after it had ended ([`KillSwitch::refused`]).
    refused: AtomicU64,
}

impl SwitchShared {
    /// A stage ended: the waiters look again.
    fn stage_ended(&self) {
        let waiters = std::mem::take(&mut *lock(&self.idle_waiters));
        for w in waiters {
            w.wake();
        }
    }
}

struct SwitchInner {
    state: SwitchState,
    /// The stages subscribed through the switch and not yet ended.
    members: Vec<Weak<dyn Member>>,
}

impl Default for SwitchInner {
    fn default() -> Self {
        SwitchInner {
            state: SwitchState::Active,
            members: Vec::new(),
        }
    }
}

/// A stage under a switch.
trait Member: Send + Sync {
    fn command(&self, command: &SwitchState);
    /// It delivered its terminal signal, or downstream cancelled.
    fn is_done(&self) -> bool;
}

impl KillSwitch {
    /// A switch that is not triggered.
    ///
    /// ```
    /// use spillway::operators::{KillSwitch, SwitchState};
    /// assert_eq!(KillSwitch::new().state(), SwitchState::Active);
    /// ```
    pub fn new() -> KillSwitch {
        KillSwitch::default()
    }

    /// Stops every pipeline under the switch cleanly: each stage cancels its upstream and
    /// completes downstream. Ignored if the switch was already triggered.
    ///
    /// ```
    /// use spillway::prelude::*;
    /// use spillway::operators::KillSwitch;
    /// # futures::executor::block_on(async {
    /// let switch = KillSwitch::new();
    /// switch.shutdown();
    /// // Subscribed after the shutdown: it completes at once.
    /// assert_eq!(range(0, 10).kill_switch(&switch).count().await.unwrap(), 0);
    /// # });
    /// ```
    pub fn shutdown(&self) {
        self.trigger(SwitchState::ShutDown);
    }

    /// Stops every pipeline under the switch with
    /// `Error::Aborted { stage: "kill_switch", reason }`: each stage cancels its upstream
    /// and fails downstream. Ignored if the switch was already triggered.
    ///
    /// ```
    /// use spillway::prelude::*;
    /// use spillway::operators::KillSwitch;
    /// use spillway::Error;
    /// # futures::executor::block_on(async {
    /// let switch = KillSwitch::new();
    /// let a = range(0, 10).kill_switch(&switch);
    /// let b = range(0, 10).kill_switch(&switch);
    /// switch.abort("maintenance");
    /// for p in [a, b] {
    ///     let e = p.collect().await.unwrap_err();
    ///     assert_eq!(e, Error::Aborted { stage: "kill_switch", reason: "maintenance".into() });
    /// }
    /// # });
    /// ```
    pub fn abort(&self, reason: impl Into<String>) {
        self.trigger(SwitchState::Aborted(reason.into()));
    }

    /// What the switch was told so far.
    ///
    /// ```
    /// use spillway::operators::{KillSwitch, SwitchState};
    /// let s = KillSwitch::new();
    /// s.abort("stop");
    /// assert_eq!(s.state(), SwitchState::Aborted("stop".into()));
    /// ```
    pub fn state(&self) -> SwitchState {
        self.inner().state.clone()
    }

    /// Items that reached a stage under the switch after it had ended: its upstream sent
    /// them before it saw the cancel (a source on another thread, an item produced just as
    /// the switch was shut down). They were never taken into the pipeline; they are
    /// counted here so that a source's count of what it produced still balances: produced
    /// = delivered + refused.
    ///
    /// ```
    /// use spillway::prelude::*;
    /// use spillway::operators::KillSwitch;
    /// use spillway_testkit::{TestPublisher, TestSubscriber, Violation};
    /// let switch = KillSwitch::new();
    /// // A source that keeps sending after the cancel, as a racing producer would.
    /// let source = TestPublisher::<u8, ()>::non_compliant(&[Violation::IgnoreCancel]);
    /// let (sink, handle) = TestSubscriber::new(10);
    /// source.publisher().kill_switch(&switch).subscribe(sink);
    /// source.next(1);
    /// switch.shutdown();
    /// source.next(2);
    /// assert_eq!(handle.items(), [1]);
    /// assert!(handle.is_complete());
    /// assert_eq!(switch.refused(), 1);
    /// ```
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }

    /// Pipelines under the switch that have not ended yet.
    ///
    /// ```
    /// use spillway::prelude::*;
    /// use spillway::operators::KillSwitch;
    /// let switch = KillSwitch::new();
    /// let handle = never::<u8, ()>().kill_switch(&switch).subscribe_fn(|_| {});
    /// assert_eq!(switch.active(), 1);
    /// switch.shutdown();
    /// assert_eq!(switch.active(), 0);
    /// # drop(handle);
    /// ```
    pub fn active(&self) -> usize {
        let mut inner = self.inner();
        inner
            .members
            .retain(|m| m.upgrade().is_some_and(|m| !m.is_done()));
        inner.members.len()
    }

    /// Resolves once no pipeline under the switch is running (at once if none is):
    /// each ended with its terminal signal delivered, or was cancelled downstream. What a
    /// graceful shutdown awaits (see [`GracefulDrain`](crate::GracefulDrain)).
    ///
    /// ```
    /// use spillway::prelude::*;
    /// use spillway::operators::KillSwitch;
    /// # futures::executor::block_on(async {
    /// let switch = KillSwitch::new();
    /// let pipeline = range(0, 100).kill_switch(&switch).count();
    /// let (n, ()) = futures::join!(pipeline, async {
    ///     // Not idle before the pipeline ran; idle once it completed.
    /// });
    /// assert_eq!(n.unwrap(), 100);
    /// switch.until_idle().await;
    /// assert_eq!(switch.active(), 0);
    /// # });
    /// ```
    pub fn until_idle(&self) -> impl Future<Output = ()> + Send + 'static {
        let switch = self.clone();
        std::future::poll_fn(move |cx| {
            // Register first, then look: a stage that ends in between wakes us. A task
            // polled again keeps one entry, however often it is polled.
            {
                let mut waiters = lock(&switch.shared.idle_waiters);
                if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                    waiters.push(cx.waker().clone());
                }
            }
            if switch.active() == 0 {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }

    fn inner(&self) -> MutexGuard<'_, SwitchInner> {
        lock(&self.shared.state)
    }

    fn trigger(&self, command: SwitchState) {
        let members = {
            let mut inner = self.inner();
            if inner.state != SwitchState::Active {
                return; // the first command won
            }
            inner.state = command.clone();
            std::mem::take(&mut inner.members)
        };
        // Outside the lock: a stage's command runs downstream's terminal signal.
        for m in members.iter().filter_map(Weak::upgrade) {
            m.command(&command);
        }
    }

    /// Registers a stage; the command to obey at once if the switch was already triggered.
    fn join(&self, member: Weak<dyn Member>) -> Option<SwitchState> {
        let mut inner = self.inner();
        match &inner.state {
            SwitchState::Active => {
                inner.members.retain(|m| m.strong_count() > 0);
                inner.members.push(member);
                None
            }
            done => Some(done.clone()),
        }
    }
}

impl fmt::Debug for KillSwitch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KillSwitch")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

/// Publisher for the [`kill_switch`](crate::OperatorExt::kill_switch) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct WithKillSwitch<P> {
    upstream: P,
    switch: KillSwitch,
}

impl<P> WithKillSwitch<P> {
    pub(crate) fn new(upstream: P, switch: &KillSwitch) -> Self {
        WithKillSwitch {
            upstream,
            switch: switch.clone(),
        }
    }
}

impl<P: fmt::Debug> fmt::Debug for WithKillSwitch<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithKillSwitch")
            .field("upstream", &self.upstream)
            .field("switch", &self.switch)
            .finish()
    }
}

impl<P: Publisher> Publisher for WithKillSwitch<P> {
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        let context = subscriber.context();
        let stage = Arc::new(Stage {
            switch: Arc::downgrade(&self.switch.shared),
            state: Mutex::new(StageState {
                downstream: Some(subscriber),
                upstream: None,
                subscribed: false,
                pending: None,
                cancel_on_subscribe: false,
                done: false,
                finished: false,
            }),
        });
        let member: Weak<dyn Member> = Arc::downgrade(&stage) as Weak<Stage<S>>;
        let early = self.switch.join(member);
        self.upstream.subscribe(SwitchSubscriber {
            stage: Arc::clone(&stage),
            early,
            context,
        });
    }
}

/// The terminal signal a command (or upstream) decided.
enum Terminal<E> {
    Complete,
    Error(Error<E>),
}

impl<E> Terminal<E> {
    fn of(command: &SwitchState) -> Option<Terminal<E>> {
        match command {
            SwitchState::Active => None,
            SwitchState::ShutDown => Some(Terminal::Complete),
            SwitchState::Aborted(reason) => Some(Terminal::Error(Error::Aborted {
                stage: STAGE,
                reason: reason.clone(),
            })),
        }
    }
}

struct StageState<S: Subscriber> {
    /// `None` while a signal is being delivered (upstream's thread holds it), and once
    /// the stage has ended.
    downstream: Option<S>,
    upstream: Option<SharedSubscription>,
    subscribed: bool,
    /// A terminal signal decided while downstream was out: delivered when it is back.
    pending: Option<Terminal<S::Error>>,
    /// A command came before upstream's `on_subscribe`: cancel it when it comes.
    cancel_on_subscribe: bool,
    done: bool,
    /// The terminal signal was delivered (or downstream cancelled): the pipeline ended.
    finished: bool,
}

/// The state of one subscription through the stage, shared by the subscriber upstream
/// sees, the subscription downstream sees and the switch.
struct Stage<S: Subscriber> {
    state: Mutex<StageState<S>>,
    /// Told when the stage ends (its idle waiters look again).
    switch: Weak<SwitchShared>,
}

impl<S: Subscriber> Stage<S> {
    fn lock(&self) -> MutexGuard<'_, StageState<S>> {
        lock(&self.state)
    }

    /// The stage has ended: the switch's idle waiters look again.
    fn ended(&self) {
        self.lock().finished = true;
        if let Some(switch) = self.switch.upgrade() {
            switch.stage_ended();
        }
    }

    /// Takes downstream out to deliver a signal (`None` if the stage has ended).
    fn take(&self) -> Option<S> {
        let mut st = self.lock();
        if st.done {
            return None;
        }
        st.downstream.take()
    }

    /// Puts downstream back after a signal; a terminal decided meanwhile goes out now.
    fn put_back(&self, mut downstream: S) {
        let mut st = self.lock();
        if let Some(terminal) = st.pending.take() {
            st.done = true;
            drop(st);
            deliver(&mut downstream, terminal);
            self.ended();
        } else if !st.done {
            st.downstream = Some(downstream);
        }
        // Else downstream cancelled meanwhile: it is released here (rule 3.13).
    }

    /// Ends the stage with `terminal` (first end wins): cancels upstream when a command
    /// ended it, and delivers the terminal signal now if downstream is free, or once the
    /// signal in progress returns.
    fn end(&self, terminal: Terminal<S::Error>, cancel_upstream: bool) {
        let mut st = self.lock();
        if st.done || st.pending.is_some() {
            return;
        }
        let upstream = st.upstream.take();
        if cancel_upstream && !st.subscribed {
            st.cancel_on_subscribe = true;
        }
        let mut terminal = Some(terminal);
        let downstream = match (st.subscribed, st.downstream.take()) {
            (true, Some(d)) => {
                st.done = true;
                Some(d)
            }
            (_, d) => {
                st.downstream = d;
                st.pending = terminal.take();
                None
            }
        };
        drop(st);
        if let (true, Some(up)) = (cancel_upstream, upstream) {
            up.cancel();
        }
        if let (Some(mut d), Some(t)) = (downstream, terminal) {
            deliver(&mut d, t);
            self.ended();
        }
    }
}

impl<S: Subscriber> Member for Stage<S>
where
    S::Error: Send,
{
    fn command(&self, command: &SwitchState) {
        if let Some(terminal) = Terminal::of(command) {
            self.end(terminal, true);
        }
    }

    fn is_done(&self) -> bool {
        self.lock().finished
    }
}

fn deliver<S: Subscriber>(downstream: &mut S, terminal: Terminal<S::Error>) {
    match terminal {
        Terminal::Complete => downstream.on_complete(),
        Terminal::Error(e) => downstream.on_error(e),
    }
}

/// Downstream's subscription: requests go straight upstream; a cancel ends the stage.
struct DownstreamSubscription<S: Subscriber>(Arc<Stage<S>>);

impl<S: Subscriber> Subscription for DownstreamSubscription<S>
where
    S::Error: Send,
{
    fn request(&self, n: u64) {
        let upstream = self.0.lock().upstream.clone();
        if let Some(up) = upstream {
            up.request(n);
        }
    }

    fn cancel(&self) {
        let (upstream, downstream) = {
            let mut st = self.0.lock();
            st.done = true;
            st.pending = None;
            (st.upstream.take(), st.downstream.take())
        };
        if let Some(up) = upstream {
            up.cancel();
        }
        drop(downstream);
        self.0.ended();
    }
}

/// The subscriber the stage gives its upstream.
struct SwitchSubscriber<S: Subscriber> {
    stage: Arc<Stage<S>>,
    /// The switch was already triggered at subscribe time: obeyed after `on_subscribe`.
    early: Option<SwitchState>,
    context: Context,
}

impl<S: Subscriber> Subscriber for SwitchSubscriber<S>
where
    S::Error: Send,
{
    type Item = S::Item;
    type Error = S::Error;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let mut st = self.stage.lock();
        if st.subscribed || st.done {
            drop(st);
            subscription.cancel(); // a second subscription (rule 2.5), or cancelled
            return;
        }
        st.subscribed = true;
        let cancel_now = std::mem::take(&mut st.cancel_on_subscribe);
        if !cancel_now {
            st.upstream = Some(Arc::clone(&subscription));
        }
        let downstream = st.downstream.take();
        drop(st);
        if cancel_now {
            subscription.cancel(); // the switch was triggered before upstream subscribed
        }
        if let Some(mut d) = downstream {
            d.on_subscribe(Arc::new(DownstreamSubscription(Arc::clone(&self.stage))));
            self.stage.put_back(d);
        }
        if let Some(command) = self.early.take() {
            self.stage.command(&command);
        }
    }

    fn on_next(&mut self, item: S::Item) {
        if let Some(mut d) = self.stage.take() {
            d.on_next(item);
            self.stage.put_back(d);
        } else if let Some(switch) = self.stage.switch.upgrade() {
            // Sent before upstream saw the cancel: not taken in, but counted.
            switch.refused.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn on_error(&mut self, error: Error<S::Error>) {
        self.stage.end(Terminal::Error(error), false);
    }

    fn on_complete(&mut self) {
        self.stage.end(Terminal::Complete, false);
    }

    fn context(&self) -> Context {
        self.context.clone()
    }
}
