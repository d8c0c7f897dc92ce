//! The engine of the async stages (`map_async`, `map_async_unordered`, `then`,
//! `try_map_async`): `f` turns each item into a future, `concurrency` at a time, and the
//! results go out in input order or as they finish.
//!
//! The futures are polled by the stage's drain loop, as core's `from_stream` polls its
//! stream: on the thread that requests from the stage or delivers to it, and, after a
//! future's wake-up, by the pipeline's terminal future (or its executor; see
//! `spillway_core::driver`). A waker only schedules that pass; nothing runs inside it.
//!
//! When upstream fails, the futures in flight finish and their results go out (as demand
//! allows) before the error, unless the stage was built with `abort_on_error`.
//!
//! With permits from a shared [`Budget`](crate::Budget) (`permits_from`,
//! `permits_from_weighted`), a received item waits, unmapped, until the budget grants its
//! units; `f` then runs on the drain loop and the future holds the units until its result
//! has been delivered (see `budget_permits`). Without, `f` runs on the thread that
//! delivers the item.

use std::collections::VecDeque;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context as TaskContext, Poll};

use spillway_core::drain::{self, DrainHandle, Pulled, Source};
use spillway_core::{
    ConfigError, Context, Error, Publisher, SharedSubscription, Stage, Subscriber,
};

use crate::backpressure::budget::BudgetMember;
use crate::backpressure::budget_permits::{self, Gate, Permits, WakerSlot};
use crate::engine::queue::Lifecycle;
use crate::engine::support::{self, DrainSlot, UpstreamSlot};
use crate::engine::StageName;

/// The order in which an async stage delivers its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// In the order of the items they came from (`map_async`, `then`, `try_map_async`).
    Input,
    /// As they finish (`map_async_unordered`).
    Completion,
}

/// How many items a `map_async`-family stage holds: `concurrency` futures at most, plus up
/// to `queue` finished results waiting for downstream demand.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) concurrency: usize,
    pub(crate) queue: usize,
    /// On an upstream error, drop the futures in flight instead of finishing them.
    pub(crate) abort_on_error: bool,
}

impl Limits {
    /// `concurrency` futures and, by default, as many queued results.
    pub(crate) fn new(stage: Stage, concurrency: usize) -> Result<Limits, ConfigError> {
        if concurrency == 0 {
            return Err(ConfigError::new(
                stage,
                "the concurrency must be at least 1",
            ));
        }
        Ok(Limits {
            concurrency,
            queue: concurrency,
            abort_on_error: false,
        })
    }

    /// The total: requested-and-not-received + running + finished-and-not-emitted never
    /// exceeds it.
    fn total(self) -> u64 {
        (self.concurrency as u64).saturating_add(self.queue as u64)
    }
}

/// Turns a future's output into an item or the stage's failure.
pub(crate) type Convert<O, R, E> = fn(O) -> Result<R, Error<E>>;

/// Subscribes `subscriber` to `upstream` through an async stage: `f` turns each item into a
/// future; results go out in `order`. With `permits`,
/// each future holds its units of the budget from its creation until its delivery.
pub(crate) fn subscribe<P, F, Fut, R, K, S>(
    upstream: P,
    f: F,
    limits: Limits,
    permits: Option<Permits<P::Item>>,
    order: Order,
    convert: Convert<Fut::Output, R, P::Error>,
    subscriber: S,
) where
    P: Publisher,
    F: FnMut(P::Item) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    R: Send + 'static,
    K: StageName,
    S: Subscriber<Item = R, Error = P::Error>,
{
    let context = subscriber.context();
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            incoming: VecDeque::new(),
            waiting: VecDeque::new(),
            requested: 0,
            life: Lifecycle::default(),
            subscribed: false,
        }),
        upstream: UpstreamSlot::default(),
        drain: DrainSlot::default(),
        waker: WakerSlot::default(),
        limits,
    });
    // With permits the drain loop calls `f`, once an item's units are granted; without,
    // the upstream side calls it as each item arrives.
    let (gate, f, f_upstream) = match permits {
        None => (None, None, Some(f)),
        Some(permits) => {
            let member: Arc<dyn BudgetMember> = shared.clone();
            let hooks: Weak<dyn BudgetMember> = Arc::downgrade(&member);
            drop(member);
            let gate = Gate::join(permits, hooks);
            if gate.is_none() {
                // The budget is stopped: fail at once; upstream is never subscribed.
                shared.lock().life.fail(budget_permits::stopped());
            }
            (gate, Some(f), None)
        }
    };
    let subscribe_upstream = !shared.lock().life.upstream_done();
    drain::start(
        AsyncSource::<P::Item, F, Fut, R, P::Error, K> {
            shared: Arc::clone(&shared),
            slots: VecDeque::new(),
            finished: VecDeque::new(),
            running: 0,
            ordered: order == Order::Input,
            convert,
            gate,
            f,
            _stage: PhantomData,
        },
        subscriber,
    );
    if subscribe_upstream {
        upstream.subscribe(AsyncUpstream::<_, _, _, _, K> {
            shared,
            f: f_upstream,
            context,
            done: false,
            _marker: PhantomData,
        });
    }
}

struct Inner<T, Fut, E> {
    /// Futures made by the upstream side, not yet taken by the drain.
    incoming: VecDeque<Pin<Box<Fut>>>,
    /// With permits: items received, not yet taken by the drain (which maps them once
    /// their units are granted).
    waiting: VecDeque<T>,
    /// Requested from upstream and not yet received.
    requested: u64,
    /// Upstream's end waits for the futures in flight (an error goes at once with
    /// `abort_on_error`); a failure of the stage (a panic in `f`, a protocol violation, an
    /// emergency stop) goes at once.
    life: Lifecycle<E>,
    subscribed: bool,
}

struct Shared<T, Fut, E> {
    inner: Mutex<Inner<T, Fut, E>>,
    upstream: UpstreamSlot,
    drain: DrainSlot,
    /// With permits: the drain's waker, for the budget's grants and emergency stop.
    waker: WakerSlot,
    limits: Limits,
}

impl<T, Fut, E> Shared<T, Fut, E> {
    fn lock(&self) -> MutexGuard<'_, Inner<T, Fut, E>> {
        support::lock(&self.inner)
    }
}

/// The budget's hooks (with permits). Both only schedule the stage's next pass.
impl<T: Send, Fut: Send, E: Send> BudgetMember for Shared<T, Fut, E> {
    fn wake(&self) {
        self.waker.wake();
    }

    fn stop(&self) {
        {
            let mut inner = self.lock();
            if inner.life.is_closed() || inner.life.has_failed() {
                return;
            }
            inner.life.fail(budget_permits::stopped());
        }
        self.upstream.cancel();
        self.waker.wake();
    }
}

/// A future and the units it holds (0 without permits), then its result and the same.
enum Slot<Fut, R> {
    Running(Pin<Box<Fut>>, u64),
    Ready(R, u64),
}

/// The downstream side, run by the drain loop: owns and polls the futures.
struct AsyncSource<T, F, Fut: Future, R, E, K> {
    shared: Arc<Shared<T, Fut, E>>,
    /// Running futures (and, in ordered mode, results waiting behind an earlier future).
    slots: VecDeque<Slot<Fut, R>>,
    /// Unordered mode: finished results, in completion order, with their units.
    finished: VecDeque<(R, u64)>,
    running: usize,
    ordered: bool,
    convert: Convert<Fut::Output, R, E>,
    /// With permits: the items waiting for units and the units held (returned on drop).
    gate: Option<Gate<T>>,
    /// With permits: `f`, called here once an item's units are granted.
    f: Option<F>,
    _stage: PhantomData<fn() -> K>,
}

impl<T, F, Fut, R, E, K> AsyncSource<T, F, Fut, R, E, K>
where
    F: FnMut(T) -> Fut,
    Fut: Future,
    K: StageName,
{
    /// Takes a finished result that may go out now, with the units it holds.
    fn take_ready(&mut self) -> Option<(R, u64)> {
        if self.ordered {
            if matches!(self.slots.front(), Some(Slot::Ready(..))) {
                if let Some(Slot::Ready(r, units)) = self.slots.pop_front() {
                    return Some((r, units));
                }
            }
            None
        } else {
            self.finished.pop_front()
        }
    }

    /// Under one lock: a failure to deliver at once (the upstream side's own, a panic in
    /// `f` or a protocol violation, or upstream's error when the stage aborts on errors),
    /// else adopts the futures the upstream side made, or, with permits, the items it
    /// received (weighed here, after the lock).
    fn adopt(&mut self) -> Option<Error<E>> {
        let received = {
            let mut inner = self.shared.lock();
            if let Some(e) = Self::failure(&mut inner, self.shared.limits) {
                return Some(e);
            }
            self.running += inner.incoming.len();
            self.slots
                .extend(inner.incoming.drain(..).map(|fut| Slot::Running(fut, 0)));
            std::mem::take(&mut inner.waiting)
        };
        let gate = self.gate.as_mut()?;
        for item in received {
            if let Err(e) = gate.push(item, K::STAGE) {
                return Some(e);
            }
        }
        None
    }

    /// With permits: maps the waiting items whose units are granted, in arrival order.
    fn start_granted(&mut self) -> Result<(), Error<E>> {
        let (Some(gate), Some(f)) = (&mut self.gate, &mut self.f) else {
            return Ok(());
        };
        while let Some((item, units)) = gate.next_granted() {
            match catch_unwind(AssertUnwindSafe(|| f(item))) {
                Ok(fut) => {
                    self.slots.push_back(Slot::Running(Box::pin(fut), units));
                    self.running += 1;
                }
                Err(payload) => return Err(Error::from_panic(K::STAGE, payload)),
            }
        }
        Ok(())
    }

    /// Polls every running future with the drain's waker.
    fn poll_running(&mut self, cx: &mut TaskContext<'_>) -> Result<(), Error<E>> {
        let mut i = 0;
        while i < self.slots.len() {
            let Slot::Running(fut, units) = &mut self.slots[i] else {
                i += 1;
                continue;
            };
            let units = *units;
            let polled = catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx)));
            match polled {
                Ok(Poll::Pending) => i += 1,
                Ok(Poll::Ready(out)) => {
                    self.running -= 1;
                    let r = (self.convert)(out)?;
                    if self.ordered {
                        self.slots[i] = Slot::Ready(r, units);
                        i += 1;
                    } else {
                        self.slots.remove(i);
                        self.finished.push_back((r, units));
                    }
                }
                Err(payload) => return Err(Error::from_panic(K::STAGE, payload)),
            }
        }
        Ok(())
    }

    /// True if a finished result may go out now.
    fn has_ready(&self) -> bool {
        if self.ordered {
            matches!(self.slots.front(), Some(Slot::Ready(..)))
        } else {
            !self.finished.is_empty()
        }
    }

    /// One step, with two lock acquisitions in all: adopts the new futures (or finds a
    /// failure), starts the items whose units are granted (with permits), polls the
    /// running futures if `poll`, then works out what to request from upstream (sent after
    /// the lock) and the failure or end to deliver, if any.
    ///
    /// With permits it first keeps the drain's waker for the budget (before asking for
    /// units, so that a grant after a refusal wakes it) and returns the units of the
    /// results delivered since the last step, before asking for more: waiting stages are
    /// served first.
    fn step(&mut self, cx: &mut TaskContext<'_>, poll: bool) -> Option<Pulled<R, E>> {
        if let Some(gate) = &mut self.gate {
            self.shared.waker.register(cx.waker());
            gate.settle();
        }
        if let Some(e) = self.adopt() {
            return Some(Pulled::Error(e));
        }
        if let Err(e) = self.start_granted() {
            return Some(Pulled::Error(e));
        }
        if poll {
            if let Err(e) = self.poll_running(cx) {
                return Some(Pulled::Error(e));
            }
        }
        let (n, end) = {
            let mut inner = self.shared.lock();
            let n = self.refill_amount(&mut inner);
            (n, self.end(&mut inner))
        };
        self.shared.upstream.request(n);
        end
    }

    /// What the free slots allow to request from upstream (and counts it as requested):
    /// never more than `concurrency` requested-or-running, never more than
    /// `concurrency + queue` held in all.
    fn refill_amount(&self, inner: &mut Inner<T, Fut, E>) -> u64 {
        let limits = self.shared.limits;
        if !inner.subscribed || !inner.life.is_open() {
            return 0;
        }
        let in_flight = inner.requested
            + (inner.incoming.len() + inner.waiting.len() + self.waiting() + self.running) as u64;
        let ready = (self.slots.len() - self.running + self.finished.len()) as u64;
        let n = (limits.concurrency as u64)
            .saturating_sub(in_flight)
            .min(limits.total().saturating_sub(in_flight + ready));
        inner.requested += n;
        n
    }

    /// A failure to deliver at once: the upstream side's own (a panic in `f`, a protocol
    /// violation), or upstream's error when the stage aborts on errors.
    fn failure(inner: &mut Inner<T, Fut, E>, limits: Limits) -> Option<Error<E>> {
        let life = &mut inner.life;
        let at_once = match life.take_failure::<()>() {
            None if limits.abort_on_error && life.ends_in_error() => life.take_end(),
            failure => failure,
        };
        match at_once? {
            Pulled::Error(e) => Some(e),
            _ => None,
        }
    }

    /// A failure to deliver at once, or upstream's terminal signal once every future
    /// finished and every result went out: completion, or upstream's error after the work
    /// that was in flight.
    fn end(&self, inner: &mut Inner<T, Fut, E>) -> Option<Pulled<R, E>> {
        if let Some(e) = Self::failure(inner, self.shared.limits) {
            return Some(Pulled::Error(e));
        }
        let drained = inner.life.has_end()
            && inner.incoming.is_empty()
            && inner.waiting.is_empty()
            && self.waiting() == 0
            && self.slots.is_empty()
            && self.finished.is_empty();
        if !drained {
            return None;
        }
        inner.life.take_end()
    }

    /// With permits: the items waiting for their units.
    fn waiting(&self) -> usize {
        self.gate.as_ref().map_or(0, Gate::waiting)
    }
}

impl<T, F, Fut, R, E, K> Source for AsyncSource<T, F, Fut, R, E, K>
where
    T: Send + 'static,
    F: FnMut(T) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    R: Send + 'static,
    E: Send + 'static,
    K: StageName,
{
    type Item = R;
    type Error = E;
    const STAGE: &'static str = K::STAGE;
    const ASYNC: bool = true;

    fn attach(&mut self, drain: DrainHandle) {
        self.shared.drain.set(drain);
    }

    fn pull(&mut self, cx: &mut TaskContext<'_>) -> Pulled<R, E> {
        // A result that may go out now needs no poll.
        let poll = !self.has_ready();
        if let Some(end) = self.step(cx, poll) {
            return end;
        }
        match self.take_ready() {
            Some((r, units)) => {
                if let Some(gate) = &mut self.gate {
                    gate.delivered(units);
                }
                Pulled::Item(r)
            }
            None => Pulled::Pending,
        }
    }

    fn poll_end(&mut self, cx: &mut TaskContext<'_>) -> Option<Pulled<R, E>> {
        // No downstream demand: keep the futures running; their results queue up.
        self.step(cx, true)
    }
}

impl<T, F, Fut: Future, R, E, K> Drop for AsyncSource<T, F, Fut, R, E, K> {
    fn drop(&mut self) {
        // Cancelled or terminated: stop upstream; the futures are dropped with `slots`,
        // and the gate returns every unit it holds.
        let (cancel, incoming, waiting) = {
            let mut inner = self.shared.lock();
            (
                inner.life.close(),
                std::mem::take(&mut inner.incoming),
                std::mem::take(&mut inner.waiting),
            )
        };
        drop((incoming, waiting));
        if cancel {
            self.shared.upstream.cancel();
        }
    }
}

/// The upstream side: turns each item into a future (calling `f` on the thread that
/// delivers the item) and hands it to the drain; with permits (`f` is `None`), hands the
/// item itself to the drain, which maps it once its units are granted.
struct AsyncUpstream<T, Fut, F, E, K> {
    shared: Arc<Shared<T, Fut, E>>,
    f: Option<F>,
    context: Context,
    done: bool,
    _marker: PhantomData<fn(T) -> K>,
}

impl<T, Fut, F, E, K> AsyncUpstream<T, Fut, F, E, K> {
    fn fail(&mut self, error: Error<E>) {
        self.done = true;
        self.shared.lock().life.fail(error);
        self.shared.upstream.cancel();
        self.shared.drain.signal();
    }
}

impl<T, Fut, F, E, K> Subscriber for AsyncUpstream<T, Fut, F, E, K>
where
    T: Send + 'static,
    F: FnMut(T) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    E: Send + 'static,
    K: StageName,
{
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if self.shared.upstream.is_set() {
            subscription.cancel(); // rule 2.5
            return;
        }
        let n = {
            let mut inner = self.shared.lock();
            if inner.life.is_closed() {
                0
            } else {
                inner.subscribed = true;
                inner.requested = self.shared.limits.concurrency as u64;
                inner.requested
            }
        };
        if n == 0 {
            subscription.cancel();
        } else {
            // Before `set`: the first request and the driver's reach upstream one by one.
            self.shared.upstream.request(n);
            self.shared.upstream.set(subscription);
        }
    }

    fn on_next(&mut self, item: T) {
        if self.done {
            return;
        }
        {
            let inner = self.shared.lock();
            if !inner.life.is_open() {
                return;
            }
            if inner.requested == 0 {
                drop(inner);
                return self.fail(Error::ProtocolViolation {
                    stage: K::STAGE,
                    what: "upstream emitted more items than requested",
                });
            }
        }
        let Some(f) = &mut self.f else {
            // Permits: the item waits for its units, unmapped. Counted as requested until
            // queued, as a future is below.
            let mut inner = self.shared.lock();
            inner.requested -= 1;
            if !inner.life.is_closed() {
                inner.waiting.push_back(item);
            }
            drop(inner);
            self.shared.drain.signal();
            return;
        };
        match catch_unwind(AssertUnwindSafe(|| f(item))) {
            Ok(fut) => {
                // The item stays counted as requested until its future is queued, so the
                // drain never sees a free slot that is about to be taken.
                let mut inner = self.shared.lock();
                inner.requested -= 1;
                if !inner.life.is_closed() {
                    inner.incoming.push_back(Box::pin(fut));
                }
                drop(inner);
                self.shared.drain.signal();
            }
            Err(payload) => self.fail(Error::from_panic(K::STAGE, payload)),
        }
    }

    fn on_error(&mut self, error: Error<E>) {
        if self.done {
            return;
        }
        self.done = true;
        self.shared.lock().life.end_upstream(Err(error));
        self.shared.drain.signal();
    }

    fn on_complete(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        self.shared.lock().life.end_upstream(Ok(()));
        self.shared.drain.signal();
    }

    fn context(&self) -> Context {
        self.context.clone()
    }
}

/// The builders the async stages share (`max_queued`, `abort_on_error`, `permits_from`,
/// `permits_from_weighted`), for a publisher that keeps `limits: Limits` and
/// `permits: Option<Permits<item>>`; each operator lists the ones it offers, with its own
/// docs:
///
/// ```ignore
/// crate::async_builders! {
///     item: P::Item,
///     /// On an upstream error, ...
///     abort_on_error,
/// }
/// ```
#[macro_export]
#[doc(hidden)]
macro_rules! async_builders {
    (item: $item:ty, $($(#[$doc:meta])* $builder:ident),* $(,)?) => {
        $($crate::async_builders!(@builder $item, [$(#[$doc])*] $builder);)*
    };
    (@builder $item:ty, [$($doc:tt)*] max_queued) => {
        $($doc)*
        pub fn max_queued(mut self, queue: usize) -> Self {
            self.limits.queue = queue;
            self
        }
    };
    (@builder $item:ty, [$($doc:tt)*] abort_on_error) => {
        $($doc)*
        pub fn abort_on_error(mut self) -> Self {
            self.limits.abort_on_error = true;
            self
        }
    };
    (@builder $item:ty, [$($doc:tt)*] permits_from) => {
        $($doc)*
        pub fn permits_from(mut self, budget: &$crate::Budget) -> Self {
            self.permits = Some($crate::backpressure::budget_permits::Permits::new(budget));
            self
        }
    };
    (@builder $item:ty, [$($doc:tt)*] permits_from_weighted) => {
        $($doc)*
        pub fn permits_from_weighted<W>(mut self, budget: &$crate::Budget, weigh: W) -> Self
        where
            W: Fn(&$item) -> u64 + Send + Sync + 'static,
        {
            self.permits = Some($crate::backpressure::budget_permits::Permits::weighted(
                budget, weigh,
            ));
            self
        }
    };
}
