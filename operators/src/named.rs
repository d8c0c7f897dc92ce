//! `named`: a name for a pipeline, and a handle that walks its stages while it runs
//! (Reactor's `Scannable`); with the `tracing` and `metrics` features the stages of a
//! named pipeline also report through those.
//!
//! How stages are found: subscribing is synchronous down the chain, so while the named
//! stage subscribes its upstream, the pipeline is the thread's *current* one, and every
//! stage with statistics that subscribes meanwhile registers in it ([`attach`]). The scope
//! is left when `subscribe` returns (a guard restores the one before, so named pipelines
//! nest and a panic leaves nothing behind), and is suspended while signals go downstream,
//! so what a subscriber does in `on_subscribe` (subscribing another pipeline, say) is not
//! taken for a stage. `subscribe_on` carries the scope to the thread it subscribes on.

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use spillway_core::drain::BatchContext;
use spillway_core::{
    AtomicDemand, Context, Error, Publisher, SharedSubscription, Stage, Subscriber, Subscription,
};

use crate::observe::{PipelineReport, Reporting};
use crate::stats::{FlowSnapshot, FlowStats};
use crate::sync::lock;

const STAGE: Stage = "named";

/// Where a stage is in its life, as seen from just below it: which signal it sent
/// downstream last.
///
/// ```
/// use spillway::operators::StageState;
/// assert!(StageState::Cancelled.is_terminated() && !StageState::Running.is_terminated());
/// assert_eq!(StageState::Failed.to_string(), "failed");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum StageState {
    /// Subscribed, but its upstream has not called `on_subscribe` yet (or, for a
    /// [`PipelineHandle`], the pipeline is not subscribed yet).
    Pending,
    /// `on_subscribe` went downstream; no terminal signal yet.
    Running,
    /// `on_complete` went downstream.
    Completed,
    /// `on_error` went downstream.
    Failed,
    /// Downstream cancelled.
    Cancelled,
}

impl StageState {
    /// True once the stage has ended: completed, failed or cancelled.
    ///
    /// ```
    /// use spillway::prelude::*;
    /// let pipeline = range(0, 3).named("short");
    /// let handle = pipeline.handle();
    /// assert!(!handle.state().is_terminated()); // not subscribed yet
    /// let _ = pipeline.subscribe_fn(|_| {});
    /// assert!(handle.state().is_terminated());
    /// ```
    pub fn is_terminated(self) -> bool {
        matches!(
            self,
            StageState::Completed | StageState::Failed | StageState::Cancelled
        )
    }

    fn from_u8(n: u8) -> StageState {
        match n {
            0 => StageState::Pending,
            1 => StageState::Running,
            2 => StageState::Completed,
            3 => StageState::Failed,
            _ => StageState::Cancelled,
        }
    }
}

impl fmt::Display for StageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StageState::Pending => "pending",
            StageState::Running => "running",
            StageState::Completed => "completed",
            StageState::Failed => "failed",
            StageState::Cancelled => "cancelled",
        })
    }
}

/// One stage of a running named pipeline, from [`PipelineHandle::stages`].
///
/// ```
/// use spillway::prelude::*;
/// use spillway::operators::{BufferOverflow, StageState};
/// use spillway_testkit::TestSubscriber;
///
/// let pipeline = range(0, 100)
///     .on_backpressure_buffer(10, BufferOverflow::Backpressure)?
///     .named("ingest");
/// let handle = pipeline.handle();
/// let (subscriber, consumer) = TestSubscriber::<u64, std::convert::Infallible>::new(3);
/// pipeline.subscribe(subscriber);
/// let stage = &handle.stages()[0];
/// assert_eq!((stage.operator, stage.label.as_str()), ("on_backpressure_buffer", "on_backpressure_buffer"));
/// assert_eq!((stage.state, stage.demand), (StageState::Running, 0)); // 3 asked, 3 delivered
/// assert_eq!(stage.buffered(), 7); // 10 taken from upstream, 3 passed on
/// assert_eq!(stage.stats.unwrap().emitted, 3);
/// # drop(consumer);
/// # Ok::<(), spillway::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct StageReport {
    /// The operator (`"on_backpressure_buffer"`, `"sample"`, ...).
    pub operator: Stage,
    /// The operator's name in this pipeline: the operator, with `_2`, `_3`, ... for a
    /// second and third stage of the same operator (numbered in the order they
    /// subscribed: from the end of the pipeline up). The `stage` label of the metrics
    /// and the `stage` field of the events.
    pub label: String,
    /// Which signal it sent downstream last.
    pub state: StageState,
    /// Downstream's outstanding demand at this stage: requested and not delivered yet
    /// (`u64::MAX`: unbounded).
    pub demand: u64,
    /// Its statistics, if the operator keeps any.
    pub stats: Option<FlowSnapshot>,
}

impl StageReport {
    /// Items the stage holds now (0 for a stage without statistics).
    ///
    /// ```
    /// use spillway::prelude::*;
    /// let pipeline = range(0, 5).on_backpressure_latest().named("latest");
    /// let handle = pipeline.handle();
    /// let _ = pipeline.subscribe_fn(|_| {}); // requests everything: nothing held
    /// assert_eq!(handle.stages()[0].buffered(), 0);
    /// ```
    pub fn buffered(&self) -> u64 {
        self.stats.map_or(0, |s| s.buffered)
    }
}

/// A live view of a [named](crate::OperatorExt::named) pipeline, from
/// [`Named::handle`]: cheap to clone, usable from any thread, and it follows the
/// pipeline's latest subscription.
///
/// ```
/// use spillway::prelude::*;
/// use spillway::operators::StageState;
/// # futures::executor::block_on(async {
/// let pipeline = range(0, 10).on_backpressure_drop().named("ingest");
/// let handle = pipeline.handle();
/// assert_eq!(handle.state(), StageState::Pending);
/// assert_eq!(pipeline.count().await.unwrap(), 10);
/// assert_eq!((handle.name(), handle.state(), handle.passed()), ("ingest", StageState::Completed, 10));
/// assert_eq!(handle.stages()[0].state, StageState::Completed);
/// # });
/// ```
#[derive(Clone)]
pub struct PipelineHandle {
    shared: Arc<HandleShared>,
}

struct HandleShared {
    name: Arc<str>,
    /// The latest subscription.
    run: Mutex<Option<Arc<Run>>>,
}

impl PipelineHandle {
    /// The pipeline's name.
    ///
    /// ```
    /// use spillway::prelude::*;
    /// assert_eq!(range(0, 1).named("ingest").handle().name(), "ingest");
    /// ```
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The stages with statistics that subscribed with the pipeline, upstream first (for
    /// a chain; the branches of a fan-in come in the order they subscribed, from the end
    /// up, reversed): each with its state, outstanding demand and statistics. Empty
    /// before the pipeline is subscribed. See [`named`](crate::OperatorExt::named) for
    /// which stages are seen.
    ///
    /// ```
    /// use spillway::prelude::*;
    /// use spillway::operators::BufferOverflow;
    /// let pipeline = range(0, 10)
    ///     .on_backpressure_buffer(4, BufferOverflow::DropNewest)?
    ///     .chunks(2)?
    ///     .named("batches");
    /// let handle = pipeline.handle();
    /// assert!(handle.stages().is_empty());
    /// let _ = pipeline.subscribe_fn(|_| {});
    /// let operators: Vec<_> = handle.stages().iter().map(|s| s.operator).collect();
    /// assert_eq!(operators, ["on_backpressure_buffer", "chunks"]);
    /// # Ok::<(), spillway::ConfigError>(())
    /// ```
    pub fn stages(&self) -> Vec<StageReport> {
        let Some(run) = self.run() else {
            return Vec::new();
        };
        let stages = lock(&run.stages).clone();
        stages.iter().rev().map(|e| e.report()).collect()
    }

    /// The state of the named stage itself: what the pipeline last sent its subscriber
    /// ([`StageState::Pending`] before it is subscribed).
    ///
    /// ```
    /// use spillway::prelude::*;
    /// use spillway::operators::StageState;
    /// let pipeline = never::<u8, ()>().named("idle");
    /// let handle = pipeline.handle();
    /// let disposable = pipeline.subscribe_fn(|_| {});
    /// assert_eq!(handle.state(), StageState::Running);
    /// disposable.cancel();
    /// assert_eq!(handle.state(), StageState::Cancelled);
    /// ```
    pub fn state(&self) -> StageState {
        self.run()
            .map_or(StageState::Pending, |run| run.own.state())
    }

    /// The subscriber's outstanding demand at the end of the pipeline: requested and not
    /// delivered yet (`u64::MAX`: unbounded).
    ///
    /// ```
    /// use spillway::prelude::*;
    /// use spillway_testkit::TestSubscriber;
    /// let pipeline = range(0, 100).named("ingest");
    /// let handle = pipeline.handle();
    /// let (subscriber, consumer) = TestSubscriber::<u64, std::convert::Infallible>::new(0);
    /// pipeline.subscribe(subscriber);
    /// consumer.request(5);
    /// assert_eq!((handle.demand(), handle.passed()), (0, 5));
    /// ```
    pub fn demand(&self) -> u64 {
        self.run().map_or(0, |run| run.own.demand.get().get())
    }

    /// Items the pipeline delivered to its subscriber.
    ///
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let pipeline = range(0, 7).named("seven");
    /// let handle = pipeline.handle();
    /// pipeline.collect().await.unwrap();
    /// assert_eq!(handle.passed(), 7);
    /// # });
    /// ```
    pub fn passed(&self) -> u64 {
        self.run()
            .map_or(0, |run| run.own.delivered.load(Ordering::Relaxed))
    }

    fn run(&self) -> Option<Arc<Run>> {
        lock(&self.shared.run).clone()
    }
}

impl fmt::Debug for PipelineHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineHandle")
            .field("name", &self.name())
            .field("state", &self.state())
            .field("stages", &self.stages())
            .finish()
    }
}

/// Publisher for the [`named`](crate::OperatorExt::named) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct Named<P> {
    upstream: P,
    shared: Arc<HandleShared>,
}

impl<P> Named<P> {
    pub(crate) fn new(upstream: P, name: Arc<str>) -> Self {
        Named {
            upstream,
            shared: Arc::new(HandleShared {
                name,
                run: Mutex::new(None),
            }),
        }
    }

    /// The pipeline's handle: its stages, state and demand while it runs. Take it before
    /// subscribing; every clone follows the latest subscription.
    ///
    /// ```
    /// use spillway::prelude::*;
    /// let pipeline = range(0, 3).named("three");
    /// let handle = pipeline.handle();
    /// let _ = pipeline.subscribe_fn(|_| {});
    /// assert_eq!(handle.passed(), 3);
    /// ```
    pub fn handle(&self) -> PipelineHandle {
        PipelineHandle {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// A clone shares the handle: the handle follows whichever subscribed last (a `retry`
/// above the named stage resubscribes a clone).
impl<P: Clone> Clone for Named<P> {
    fn clone(&self) -> Self {
        Named {
            upstream: self.upstream.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<P: fmt::Debug> fmt::Debug for Named<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Named")
            .field("upstream", &self.upstream)
            .field("name", &self.shared.name)
            .finish()
    }
}

impl<P: Publisher> Publisher for Named<P> {
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        let run = Run::new(&self.shared.name);
        *lock(&self.shared.run) = Some(Arc::clone(&run));
        let probe = Probe::new(subscriber, Some(Arc::clone(&run.own)));
        let _span = run.own.reporting.enter();
        let _scope = Scope(Some(Arc::clone(&run))).enter();
        self.upstream.subscribe(probe);
    }
}

/// One subscription of a named pipeline: the stages that registered with it.
pub(crate) struct Run {
    pipeline: Arc<PipelineReport>,
    /// The named stage itself.
    own: Arc<StageEntry>,
    /// In the order they registered: from the end of the pipeline up.
    stages: Mutex<Vec<Arc<StageEntry>>>,
}

impl Run {
    fn new(name: &Arc<str>) -> Arc<Run> {
        let pipeline = PipelineReport::new(name);
        let own = StageEntry::new(
            true,
            STAGE,
            Arc::clone(name),
            None,
            Reporting::pipeline_end(&pipeline),
        );
        Arc::new(Run {
            pipeline,
            own: Arc::new(own),
            stages: Mutex::new(Vec::new()),
        })
    }

    fn register(&self, operator: Stage, stats: Option<&FlowStats>) -> Arc<StageEntry> {
        let mut stages = lock(&self.stages);
        let same = stages.iter().filter(|e| e.operator == operator).count();
        let label: Arc<str> = match same {
            0 => operator.into(),
            n => format!("{operator}_{}", n + 1).into(),
        };
        let reporting = Reporting::stage(&self.pipeline, &label, stats);
        let entry = Arc::new(StageEntry::new(
            false,
            operator,
            label,
            stats.cloned(),
            reporting,
        ));
        stages.push(Arc::clone(&entry));
        entry
    }
}

const PENDING: u8 = 0;
const RUNNING: u8 = 1;

/// What the walk knows of one stage, updated by the [`Probe`] just below it.
pub(crate) struct StageEntry {
    /// The named stage itself: its subscriber is outside the pipeline.
    end: bool,
    operator: Stage,
    label: Arc<str>,
    stats: Option<FlowStats>,
    demand: AtomicDemand,
    delivered: AtomicU64,
    state: AtomicU8,
    reporting: Reporting,
}

impl StageEntry {
    fn new(
        end: bool,
        operator: Stage,
        label: Arc<str>,
        stats: Option<FlowStats>,
        reporting: Reporting,
    ) -> StageEntry {
        StageEntry {
            end,
            operator,
            label,
            stats,
            demand: AtomicDemand::new(),
            delivered: AtomicU64::new(0),
            state: AtomicU8::new(PENDING),
            reporting,
        }
    }

    fn state(&self) -> StageState {
        StageState::from_u8(self.state.load(Ordering::Acquire))
    }

    fn report(&self) -> StageReport {
        StageReport {
            operator: self.operator,
            label: self.label.to_string(),
            state: self.state(),
            demand: self.demand.get().get(),
            stats: self.stats.as_ref().map(FlowStats::snapshot),
        }
    }

    fn subscribed(&self) {
        let _ = self
            .state
            .compare_exchange(PENDING, RUNNING, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Moves to a terminal state; false if the stage had ended already (first end wins).
    fn finish(&self, state: StageState) -> bool {
        self.state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                (s <= RUNNING).then_some(state as u8)
            })
            .is_ok()
    }

    /// `n` items handed downstream, of which `used` used a unit of demand (a filter
    /// below may discard an item without using any).
    #[inline]
    fn delivered(&self, n: u64, used: u64) {
        self.delivered.fetch_add(n, Ordering::Relaxed);
        self.demand.produced(used);
    }

    fn ended(&self) {
        self.reporting.ended(self.stats.as_ref());
    }

    /// Around a signal to the named stage's subscriber: what it subscribes (another
    /// pipeline, from `on_next`) is not a stage of this one, though this one's
    /// `subscribe` may not have returned yet.
    #[inline]
    fn leave_scope(&self) -> Option<ScopeGuard> {
        if self.end {
            Scope::suspend()
        } else {
            None
        }
    }
}

thread_local! {
    /// The named pipeline whose stages are subscribing on this thread, if any.
    static SCOPE: Cell<Option<Arc<Run>>> = const { Cell::new(None) };
}

/// The current named pipeline of a thread, to carry elsewhere (`subscribe_on`).
pub(crate) struct Scope(Option<Arc<Run>>);

impl Scope {
    /// This thread's current pipeline, if any.
    pub(crate) fn capture() -> Scope {
        Scope(current())
    }

    /// Makes this the thread's current pipeline until the guard drops.
    pub(crate) fn enter(self) -> ScopeGuard {
        ScopeGuard(SCOPE.try_with(|s| s.replace(self.0)).unwrap_or(None))
    }

    /// No current pipeline until the guard drops (if there was one).
    fn suspend() -> Option<ScopeGuard> {
        let current = SCOPE.try_with(Cell::take).unwrap_or(None)?;
        Some(ScopeGuard(Some(current)))
    }
}

/// Restores the pipeline that was current before (also on a panic).
pub(crate) struct ScopeGuard(Option<Arc<Run>>);

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        let previous = self.0.take();
        let _ = SCOPE.try_with(|s| s.set(previous));
    }
}

fn current() -> Option<Arc<Run>> {
    SCOPE
        .try_with(|s| {
            let run = s.take();
            let copy = run.clone();
            s.set(run);
            copy
        })
        .unwrap_or(None)
}

/// Registers a stage in the named pipeline being subscribed on this thread, if any, and
/// returns its subscriber wrapped in the probe that keeps its entry up to date. Outside
/// a named pipeline the probe only forwards (one predictable branch per signal).
pub(crate) fn attach<S>(operator: Stage, stats: Option<&FlowStats>, subscriber: S) -> Probe<S> {
    let entry = current().map(|run| run.register(operator, stats));
    Probe::new(subscriber, entry)
}

/// The subscriber below a registered stage (or the named stage's own): it watches the
/// signals the stage sends downstream and the requests and cancel downstream sends back.
///
/// With an entry it also guards its subscriber against an upstream that breaks the
/// protocol (the named stage's upstream may be anything): a second `on_subscribe` is
/// cancelled (rule 2.5), signals after a terminal one are ignored.
pub(crate) struct Probe<S> {
    inner: S,
    entry: Option<Arc<StageEntry>>,
    subscribed: bool,
    done: bool,
}

impl<S> Probe<S> {
    fn new(inner: S, entry: Option<Arc<StageEntry>>) -> Probe<S> {
        Probe {
            inner,
            entry,
            subscribed: false,
            done: false,
        }
    }
}

impl<S: Subscriber> Subscriber for Probe<S> {
    type Item = S::Item;
    type Error = S::Error;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let Some(entry) = &self.entry else {
            return self.inner.on_subscribe(subscription);
        };
        if std::mem::replace(&mut self.subscribed, true) {
            return subscription.cancel();
        }
        let _span = entry.reporting.enter();
        entry.subscribed();
        let probed = Arc::new(ProbeSubscription {
            upstream: subscription,
            entry: Arc::clone(entry),
        });
        // Signals going down are not subscriptions of this pipeline.
        let _quiet = Scope::suspend();
        self.inner.on_subscribe(probed);
    }

    #[inline]
    fn on_next(&mut self, item: S::Item) {
        match &self.entry {
            None => self.inner.on_next(item),
            Some(_) if self.done => {}
            Some(entry) => {
                let _span = entry.reporting.enter();
                let _quiet = entry.leave_scope();
                entry.delivered(1, 1);
                self.inner.on_next(item);
            }
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: S::Item) -> bool {
        match &self.entry {
            None => self.inner.try_on_next(item),
            Some(_) if self.done => true,
            Some(entry) => {
                let _span = entry.reporting.enter();
                let _quiet = entry.leave_scope();
                let used = self.inner.try_on_next(item);
                entry.delivered(1, u64::from(used));
                used
            }
        }
    }

    #[inline]
    fn accepts_batches(&self) -> bool {
        self.inner.accepts_batches()
    }

    #[inline]
    fn on_next_batch<I>(&mut self, items: I, batch: &BatchContext) -> u64
    where
        I: Iterator<Item = S::Item>,
    {
        match &self.entry {
            None => self.inner.on_next_batch(items, batch),
            Some(_) if self.done => {
                items.for_each(drop);
                0
            }
            Some(entry) => {
                let _span = entry.reporting.enter();
                let _quiet = entry.leave_scope();
                let mut taken = 0;
                let used = self
                    .inner
                    .on_next_batch(items.inspect(|_| taken += 1), batch);
                // Without `counts_used` demand is unbounded and `used` means nothing.
                entry.delivered(taken, if batch.counts_used() { used } else { 0 });
                used
            }
        }
    }

    fn on_error(&mut self, error: Error<S::Error>) {
        let Some(entry) = &self.entry else {
            return self.inner.on_error(error);
        };
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let _span = entry.reporting.enter();
        let _quiet = entry.leave_scope();
        let first = entry.finish(StageState::Failed);
        if first {
            entry.reporting.failed(&error);
        }
        self.inner.on_error(error);
        if first {
            entry.ended();
        }
    }

    fn on_complete(&mut self) {
        let Some(entry) = &self.entry else {
            return self.inner.on_complete();
        };
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let _span = entry.reporting.enter();
        let _quiet = entry.leave_scope();
        let first = entry.finish(StageState::Completed);
        if first {
            entry
                .reporting
                .completed(entry.delivered.load(Ordering::Relaxed));
        }
        self.inner.on_complete();
        if first {
            entry.ended();
        }
    }

    fn context(&self) -> Context {
        self.inner.context()
    }
}

/// The subscription below a registered stage: counts downstream's requests, notes its
/// cancel.
struct ProbeSubscription {
    upstream: SharedSubscription,
    entry: Arc<StageEntry>,
}

impl Subscription for ProbeSubscription {
    fn request(&self, n: u64) {
        let _span = self.entry.reporting.enter();
        if n > 0 {
            self.entry.demand.add(n);
        }
        self.upstream.request(n);
    }

    fn cancel(&self) {
        let _span = self.entry.reporting.enter();
        let first = self.entry.finish(StageState::Cancelled);
        if first {
            self.entry
                .reporting
                .cancelled(self.entry.delivered.load(Ordering::Relaxed));
        }
        self.upstream.cancel();
        if first {
            self.entry.ended();
        }
    }
}
