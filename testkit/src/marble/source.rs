//! `cold` and `hot` marble publishers.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Context as TaskContext;
use std::time::Duration;

use spillway_core::drain::{self, DrainHandle, Pulled, Source};
use spillway_core::{Error, Publisher, Scheduler, SchedulerExt, Stage, Subscriber, TaskHandle};

use crate::signal::{Event, Signal};
use crate::test_subscriber::DropRecorder;

use super::parse::{Marble, ParseError, ParseErrorKind};
use super::subscriptions::{SubscriptionEnd, SubscriptionLog, SubscriptionSpan};
use crate::VirtualScheduler;

/// What a marble source does with an item that is due while its subscriber has no
/// outstanding demand. A marble source is a compliant publisher: it never calls `on_next`
/// beyond demand.
///
/// ```
/// use spillway_testkit::marble::{cold, NoDemand};
/// let c = cold("a|", &[('a', 1)], None::<spillway_core::Error<()>>).on_no_demand(NoDemand::Overflow);
/// assert_eq!(c.no_demand(), NoDemand::Overflow);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoDemand {
    /// Keep it (unbounded) and send it when requested; terminal signals queue behind the
    /// items. The default of [`cold`]: the marble then shows when items are *available*,
    /// the subscriber's demand when they are *delivered*.
    Buffer,
    /// Discard it, recording a [`Signal::Dropped`] through the
    /// [`record_drops`](Cold::record_drops) recorder if one is set. The default of [`hot`].
    Drop,
    /// Fail with [`Error::Overflow`] (capacity 0), as `interval` does; the stage is
    /// `"marble::cold"` or `"marble::hot"`.
    Overflow,
}

type DropFn<T> = Arc<dyn Fn(&T) + Send + Sync>;

/// One subscriber's queue, fed by timers (cold) or by the hot source.
struct Lane<T, E> {
    state: Mutex<LaneState<T, E>>,
    policy: NoDemand,
    on_drop: Option<DropFn<T>>,
    stage: Stage,
}

struct LaneState<T, E> {
    queue: VecDeque<Signal<T, E>>,
    queued_items: u64,
    drain: Option<DrainHandle>,
}

impl<T, E> Lane<T, E> {
    fn new(policy: NoDemand, on_drop: Option<DropFn<T>>, stage: Stage) -> Arc<Self> {
        Arc::new(Lane {
            state: Mutex::new(LaneState {
                queue: VecDeque::new(),
                queued_items: 0,
                drain: None,
            }),
            policy,
            on_drop,
            stage,
        })
    }

    fn lock(&self) -> MutexGuard<'_, LaneState<T, E>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `signals` (dropping items without demand under [`NoDemand::Drop`]) and runs
    /// the drain loop.
    fn deliver(&self, signals: impl IntoIterator<Item = Signal<T, E>>) {
        let mut dropped = Vec::new();
        let drain = {
            let mut state = self.lock();
            for signal in signals {
                let signal = match signal {
                    Signal::Next(item) if self.policy == NoDemand::Drop => {
                        let demand = state.drain.as_ref().map_or(0, |d| d.demand().get());
                        if demand != u64::MAX && demand <= state.queued_items {
                            dropped.push(item);
                            continue;
                        }
                        Signal::Next(item)
                    }
                    other => other,
                };
                if matches!(signal, Signal::Next(_)) {
                    state.queued_items += 1;
                }
                state.queue.push_back(signal);
            }
            state.drain.clone()
        };
        if let Some(on_drop) = &self.on_drop {
            for item in &dropped {
                on_drop(item);
            }
        }
        drop(dropped);
        if let Some(d) = drain {
            d.signal();
        }
    }

    fn is_closed(&self) -> bool {
        self.lock().drain.as_ref().is_some_and(|d| d.is_cancelled())
    }
}

struct LaneSource<T, E> {
    lane: Arc<Lane<T, E>>,
    timers: Vec<TaskHandle>,
    /// Records the subscription's end when the drain releases this source.
    _end: SubscriptionEnd,
}

impl<T, E> Drop for LaneSource<T, E> {
    fn drop(&mut self) {
        for t in &self.timers {
            t.cancel();
        }
    }
}

impl<T: Send + 'static, E: Send + 'static> Source for LaneSource<T, E> {
    type Item = T;
    type Error = E;
    const STAGE: Stage = "marble";

    fn attach(&mut self, drain: DrainHandle) {
        self.lane.lock().drain = Some(drain);
    }

    fn pull(&mut self, _cx: &mut TaskContext<'_>) -> Pulled<T, E> {
        let mut state = self.lane.lock();
        match state.queue.pop_front() {
            Some(Signal::Next(item)) => {
                state.queued_items -= 1;
                Pulled::Item(item)
            }
            Some(Signal::Complete) => Pulled::Complete,
            Some(Signal::Error(e)) => Pulled::Error(e),
            Some(_) | None => Pulled::Pending,
        }
    }

    fn poll_end(&mut self, _cx: &mut TaskContext<'_>) -> Option<Pulled<T, E>> {
        let mut state = self.lane.lock();
        match state.queue.front() {
            Some(Signal::Complete) => Some(Pulled::Complete),
            Some(Signal::Error(_)) => match state.queue.pop_front() {
                Some(Signal::Error(e)) => Some(Pulled::Error(e)),
                _ => None,
            },
            Some(Signal::Next(_)) if self.lane.policy == NoDemand::Overflow => {
                Some(Pulled::Error(Error::Overflow {
                    stage: self.lane.stage,
                    capacity: 0,
                }))
            }
            _ => None,
        }
    }
}

/// Groups a timeline by time, in order.
fn by_time<T: Clone, E: Clone>(events: &[Event<T, E>]) -> Vec<(Duration, Vec<Signal<T, E>>)> {
    let mut groups: Vec<(Duration, Vec<Signal<T, E>>)> = Vec::new();
    for e in events {
        match groups.last_mut() {
            Some((at, signals)) if *at == e.at => signals.push(e.signal.clone()),
            _ => groups.push((e.at, vec![e.signal.clone()])),
        }
    }
    groups
}

fn drop_fn<T: fmt::Debug>(recorder: DropRecorder, stage: Stage) -> DropFn<T> {
    Arc::new(move |item: &T| recorder.record(stage, format!("{item:?}")))
}

/// A cold marble publisher: each subscriber gets the whole marble, timed from its own
/// subscription, on the scheduler of its [`Context`](spillway_core::Context) (a
/// [`TestSubscriber::with_scheduler`](crate::TestSubscriber::with_scheduler) brings its
/// [`VirtualScheduler`](crate::VirtualScheduler)) unless [`on`](Self::on) names one.
///
/// Events at time zero are sent right after `on_subscribe` returns; the others from timers.
/// Without demand it buffers by default ([`NoDemand`]). Cancelling cancels its timers.
/// Made by [`cold`], [`try_cold`] or [`Cold::from_timeline`]; cloning it gives another
/// publisher of the same marble.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use spillway_core::prelude::*;
/// use spillway_testkit::{marble, TestSubscriber, VirtualScheduler};
///
/// let vs = VirtualScheduler::new();
/// let source = marble::cold("-a-b-|", &[('a', 1), ('b', 2)], None::<spillway_core::Error<()>>);
/// let (sub, handle) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
/// source.subscribe(sub);
/// vs.advance_by(Duration::from_millis(2));
/// handle.assert_items(&[1]);
/// vs.advance_by(Duration::from_millis(3));
/// handle.assert_items(&[1, 2]);
/// handle.assert_complete();
/// ```
pub struct Cold<T, E> {
    timeline: Arc<Vec<Event<T, E>>>,
    scheduler: Option<Arc<dyn Scheduler>>,
    policy: NoDemand,
    on_drop: Option<DropFn<T>>,
    /// Shared by the clones: every subscription to any of them.
    log: SubscriptionLog,
}

impl<T, E> Clone for Cold<T, E> {
    fn clone(&self) -> Self {
        Cold {
            timeline: Arc::clone(&self.timeline),
            scheduler: self.scheduler.clone(),
            policy: self.policy,
            on_drop: self.on_drop.clone(),
            log: self.log.clone(),
        }
    }
}

/// A [`Cold`] publisher of `marble`, its values looked up in `values` and `#` sending
/// `error` (`None` when the marble has no `#`).
///
/// # Panics
/// If the marble does not parse, has a `^`, or uses a value missing from `values` (the
/// message shows where); [`try_cold`] returns the error instead.
///
/// ```
/// use spillway_core::Error;
/// use spillway_testkit::marble;
/// let source = marble::cold("a-b-#", &[('a', "x"), ('b', "y")], Error::User("boom"));
/// assert_eq!(source.timeline().len(), 3);
/// ```
#[track_caller]
pub fn cold<T, E>(
    marble: &str,
    values: &[(char, T)],
    error: impl Into<Option<Error<E>>>,
) -> Cold<T, E>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    match try_cold(marble, values, error) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

/// [`cold`], returning parse errors instead of panicking.
///
/// # Errors
/// [`ParseError`], including [`ParseErrorKind::SubscriptionNotAllowed`] for a `^`.
///
/// ```
/// use spillway_testkit::marble::{self, ParseErrorKind};
/// let err = marble::try_cold::<u8, ()>("a^b", &[('a', 1)], None).unwrap_err();
/// assert_eq!(err.kind, ParseErrorKind::SubscriptionNotAllowed);
/// ```
pub fn try_cold<T, E>(
    marble: &str,
    values: &[(char, T)],
    error: impl Into<Option<Error<E>>>,
) -> Result<Cold<T, E>, ParseError>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    Cold::from_marble(&Marble::parse(marble)?, values, error)
}

impl<T, E> Cold<T, E>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    /// A cold publisher of a parsed marble (whatever its frame).
    ///
    /// # Errors
    /// As [`try_cold`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_testkit::marble::{Cold, Marble};
    /// let m = Marble::parse_with_frame("-a|", Duration::from_secs(1)).unwrap();
    /// let c = Cold::<_, ()>::from_marble(&m, &[('a', 5)], None).unwrap();
    /// assert_eq!(c.timeline()[0].at, Duration::from_secs(1));
    /// ```
    pub fn from_marble(
        marble: &Marble,
        values: &[(char, T)],
        error: impl Into<Option<Error<E>>>,
    ) -> Result<Cold<T, E>, ParseError> {
        if let Some(p) = marble
            .text()
            .chars()
            .position(|c| c == '^')
            .filter(|_| marble.subscription_point().is_some())
        {
            return Err(marble.error(p, ParseErrorKind::SubscriptionNotAllowed));
        }
        Ok(Self::from_timeline(marble.timeline(values, error)?))
    }

    /// A cold publisher of any timeline (times from the subscription, in order; signals
    /// other than `Next`, `Error` and `Complete` are ignored).
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_testkit::{marble::Cold, Event, Signal};
    /// let c = Cold::<u8, ()>::from_timeline(vec![Event::new(Duration::ZERO, Signal::Complete)]);
    /// assert_eq!(c.timeline().len(), 1);
    /// ```
    pub fn from_timeline(events: Vec<Event<T, E>>) -> Cold<T, E> {
        let events = events
            .into_iter()
            .filter(|e| {
                matches!(
                    e.signal,
                    Signal::Next(_) | Signal::Error(_) | Signal::Complete
                )
            })
            .collect();
        Cold {
            timeline: Arc::new(events),
            scheduler: None,
            policy: NoDemand::Buffer,
            on_drop: None,
            log: SubscriptionLog::default(),
        }
    }
}

impl<T, E> Cold<T, E> {
    /// Every subscription to this source (and its clones) so far: when it began and
    /// ended, as times since `scheduler`'s origin (the one the source ran on).
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::{marble, TestSubscriber, VirtualScheduler};
    /// let vs = VirtualScheduler::new();
    /// let source = marble::cold::<u8, ()>("---|", &[], None);
    /// let (sub, _h) = TestSubscriber::with_scheduler(1, vs.clone());
    /// source.clone().subscribe(sub);
    /// vs.advance_by(Duration::from_millis(10));
    /// let spans = source.subscriptions(&vs);
    /// assert_eq!(spans[0].unsubscribed, Some(Duration::from_millis(3)));
    /// ```
    pub fn subscriptions(&self, scheduler: &VirtualScheduler) -> Vec<SubscriptionSpan> {
        self.log.spans(scheduler.origin())
    }

    /// Asserts every subscription so far against subscription marbles, in subscription
    /// order, as RxJS's `expectSubscriptions`: `^` subscribed, `!` ended (cancelled by
    /// the subscriber, or the terminal signal went out), `-` one frame of 1ms, `(^!)` both
    /// in one frame. Panics showing both lists if they differ.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::{marble, TestSubscriber, VirtualScheduler};
    /// let vs = VirtualScheduler::new();
    /// let source = marble::cold::<u8, ()>("-----|", &[], None);
    /// let (sub, h) = TestSubscriber::with_scheduler(1, vs.clone());
    /// source.clone().subscribe(sub);
    /// vs.advance_by(Duration::from_millis(2));
    /// h.cancel(); // at frame 2
    /// source.assert_subscriptions(&vs, &["^-!"]);
    /// ```
    #[track_caller]
    pub fn assert_subscriptions(&self, scheduler: &VirtualScheduler, expected: &[&str]) {
        self.log.assert(scheduler, expected);
    }

    /// Runs on `scheduler` instead of the subscriber's.
    ///
    /// ```
    /// use spillway_testkit::{marble, VirtualScheduler};
    /// let c = marble::cold::<u8, ()>("|", &[], None).on(VirtualScheduler::new());
    /// # let _ = c;
    /// ```
    pub fn on(mut self, scheduler: Arc<dyn Scheduler>) -> Self {
        self.scheduler = Some(scheduler);
        self
    }

    /// Chooses what happens to an item due without demand (default [`NoDemand::Buffer`]).
    ///
    /// ```
    /// use spillway_testkit::marble::{self, NoDemand};
    /// let c = marble::cold::<u8, ()>("|", &[], None).on_no_demand(NoDemand::Drop);
    /// assert_eq!(c.no_demand(), NoDemand::Drop);
    /// ```
    pub fn on_no_demand(mut self, policy: NoDemand) -> Self {
        self.policy = policy;
        self
    }

    /// The no-demand policy.
    ///
    /// ```
    /// use spillway_testkit::marble::{self, NoDemand};
    /// assert_eq!(marble::cold::<u8, ()>("|", &[], None).no_demand(), NoDemand::Buffer);
    /// ```
    pub fn no_demand(&self) -> NoDemand {
        self.policy
    }

    /// Records items dropped under [`NoDemand::Drop`] as [`Signal::Dropped`] (stage
    /// `"marble::cold"`), for the drop lane of a diagram.
    ///
    /// ```
    /// use spillway_testkit::{marble, TestSubscriber};
    /// let (_sub, handle) = TestSubscriber::<u8, ()>::new(0);
    /// let c = marble::cold::<u8, ()>("a|", &[('a', 1)], None).record_drops(handle.drop_recorder());
    /// # let _ = c;
    /// ```
    pub fn record_drops(mut self, recorder: DropRecorder) -> Self
    where
        T: fmt::Debug,
    {
        self.on_drop = Some(drop_fn(recorder, "marble::cold"));
        self
    }

    /// The events it replays, times from the subscription.
    ///
    /// ```
    /// use spillway_testkit::{marble, Signal};
    /// let c = marble::cold::<u8, ()>("-|", &[], None);
    /// assert_eq!(c.timeline()[0].signal, Signal::Complete);
    /// ```
    pub fn timeline(&self) -> &[Event<T, E>] {
        &self.timeline
    }
}

impl<T, E> Publisher for Cold<T, E>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    type Item = T;
    type Error = E;

    fn subscribe<S: Subscriber<Item = T, Error = E>>(self, subscriber: S) {
        let scheduler = self
            .scheduler
            .clone()
            .unwrap_or_else(|| subscriber.context().scheduler());
        let lane = Lane::new(self.policy, self.on_drop.clone(), "marble::cold");
        let mut groups = by_time(&self.timeline).into_iter().peekable();
        let first = groups.next_if(|(at, _)| at.is_zero()).map(|(_, s)| s);
        let timers = groups
            .map(|(at, signals)| {
                let lane = Arc::clone(&lane);
                scheduler.run_after(at, move || lane.deliver(signals))
            })
            .collect();
        let source = LaneSource {
            lane: Arc::clone(&lane),
            timers,
            _end: self.log.open(Arc::clone(&scheduler)),
        };
        drain::start(source, subscriber);
        if let Some(signals) = first {
            lane.deliver(signals);
        }
    }
}

impl<T: fmt::Debug, E: fmt::Debug> fmt::Debug for Cold<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cold")
            .field("timeline", &self.timeline)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

struct HotState<T, E> {
    policy: NoDemand,
    on_drop: Option<DropFn<T>>,
    subscribers: Vec<Arc<Lane<T, E>>>,
    terminal: Option<Signal<T, E>>,
}

struct HotShared<T, E> {
    state: Mutex<HotState<T, E>>,
}

impl<T: Clone, E: Clone> HotShared<T, E> {
    fn lock(&self) -> MutexGuard<'_, HotState<T, E>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, signals: &[Signal<T, E>]) {
        let lanes = {
            let mut state = self.lock();
            state.subscribers.retain(|l| !l.is_closed());
            if let Some(t) = signals.iter().find(|s| s.is_terminal()) {
                state.terminal = Some(t.clone());
            }
            state.subscribers.clone()
        };
        for lane in lanes {
            lane.deliver(signals.iter().cloned());
        }
    }
}

/// A hot marble publisher: its events happen at their times (from the `^`, which is the
/// scheduler's time when it was made) whether or not anyone is subscribed; a subscriber
/// sees only the events from the instant it subscribed on (events due at that very instant
/// included, if they have not run yet). Events before `^` are never sent. A subscriber
/// arriving after the terminal signal gets just the terminal signal.
///
/// Without demand it drops by default ([`NoDemand::Drop`]), recording the drop as a
/// [`Signal::Dropped`] (stage `"marble::hot"`) if [`record_drops`](Self::record_drops) was
/// given a recorder. Cloning it gives another handle on the same source.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use spillway_core::prelude::*;
/// use spillway_testkit::{marble, TestSubscriber, VirtualScheduler};
///
/// let vs = VirtualScheduler::new();
/// let source = marble::hot("a-^-b-c-|", &[('a', 1), ('b', 2), ('c', 3)], None::<spillway_core::Error<()>>, vs.clone());
/// vs.advance_by(Duration::from_millis(2)); // b is emitted, to nobody
/// let (sub, handle) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
/// source.subscribe(sub);
/// vs.advance_by(Duration::from_millis(10));
/// handle.assert_items(&[3]);
/// handle.assert_complete();
/// ```
pub struct Hot<T, E> {
    shared: Arc<HotShared<T, E>>,
    timeline: Arc<Vec<Event<T, E>>>,
    scheduler: Arc<dyn Scheduler>,
    /// Shared by the clones: every subscription to any of them.
    log: SubscriptionLog,
}

impl<T, E> Clone for Hot<T, E> {
    fn clone(&self) -> Self {
        Hot {
            shared: Arc::clone(&self.shared),
            timeline: Arc::clone(&self.timeline),
            scheduler: Arc::clone(&self.scheduler),
            log: self.log.clone(),
        }
    }
}

/// A [`Hot`] publisher of `marble` on `scheduler`, starting now: the `^` (or the start of
/// the marble if it has none) is the scheduler's current time.
///
/// # Panics
/// If the marble does not parse or uses a value missing from `values`; [`try_hot`] returns
/// the error instead.
///
/// ```
/// use spillway_testkit::{marble, VirtualScheduler};
/// let h = marble::hot::<u8, ()>("^-|", &[], None, VirtualScheduler::new());
/// assert_eq!(h.timeline().len(), 1);
/// ```
#[track_caller]
pub fn hot<T, E>(
    marble: &str,
    values: &[(char, T)],
    error: impl Into<Option<Error<E>>>,
    scheduler: Arc<dyn Scheduler>,
) -> Hot<T, E>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    match try_hot(marble, values, error, scheduler) {
        Ok(h) => h,
        Err(e) => panic!("{e}"),
    }
}

/// [`hot`], returning parse errors instead of panicking.
///
/// # Errors
/// [`ParseError`].
///
/// ```
/// use spillway_testkit::{marble::{self, ParseErrorKind}, VirtualScheduler};
/// let err = marble::try_hot::<u8, ()>("^-^", &[], None, VirtualScheduler::new()).unwrap_err();
/// assert_eq!(err.kind, ParseErrorKind::DuplicateSubscription);
/// ```
pub fn try_hot<T, E>(
    marble: &str,
    values: &[(char, T)],
    error: impl Into<Option<Error<E>>>,
    scheduler: Arc<dyn Scheduler>,
) -> Result<Hot<T, E>, ParseError>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    let timeline = Marble::parse(marble)?.timeline(values, error)?;
    Ok(Hot::from_timeline(timeline, scheduler))
}

/// [`cold`] with the marble read as RxJS's `run` mode reads it ([`Marble::parse_rxjs`]:
/// a group takes its length in frames), so that a marble pasted from an RxJS test means
/// the same here.
///
/// # Panics
/// As [`cold`].
///
/// ```
/// use std::time::Duration;
/// use spillway_core::prelude::*;
/// use spillway_testkit::{marble, TestSubscriber, VirtualScheduler};
/// let vs = VirtualScheduler::new();
/// let source = marble::cold_rxjs("-(ab)-c|", &[('a', 1), ('b', 2), ('c', 3)], None::<spillway_core::Error<()>>);
/// let (sub, h) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
/// source.subscribe(sub);
/// vs.advance_by(Duration::from_millis(5));
/// h.assert_items(&[1, 2]); // c is at frame 6 in RxJS's reading (at 3 in the default one)
/// vs.advance_by(Duration::from_millis(1));
/// h.assert_items(&[1, 2, 3]);
/// ```
#[track_caller]
pub fn cold_rxjs<T, E>(
    marble: &str,
    values: &[(char, T)],
    error: impl Into<Option<Error<E>>>,
) -> Cold<T, E>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    let parsed = Marble::parse_rxjs(marble).unwrap_or_else(|e| panic!("{e}"));
    Cold::from_marble(&parsed, values, error).unwrap_or_else(|e| panic!("{e}"))
}

/// [`hot`] with the marble read as RxJS's `run` mode reads it (see [`cold_rxjs`]).
///
/// # Panics
/// As [`hot`].
///
/// ```
/// use spillway_testkit::{marble, VirtualScheduler};
/// let h = marble::hot_rxjs::<u8, ()>("^(ab)|", &[('a', 1), ('b', 2)], None, VirtualScheduler::new());
/// assert_eq!(h.timeline()[2].at.as_millis(), 5); // the completion: 1 + 4 frames
/// ```
#[track_caller]
pub fn hot_rxjs<T, E>(
    marble: &str,
    values: &[(char, T)],
    error: impl Into<Option<Error<E>>>,
    scheduler: Arc<dyn Scheduler>,
) -> Hot<T, E>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    let timeline = Marble::parse_rxjs(marble)
        .and_then(|m| m.timeline(values, error))
        .unwrap_or_else(|e| panic!("{e}"));
    Hot::from_timeline(timeline, scheduler)
}

impl<T, E> Hot<T, E>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    /// A hot publisher of a timeline (times from now), on `scheduler`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_testkit::{marble::Hot, Event, Signal, VirtualScheduler};
    /// let vs = VirtualScheduler::new();
    /// let h = Hot::<u8, ()>::from_timeline(vec![Event::new(Duration::from_secs(1), Signal::Complete)], vs.clone());
    /// assert_eq!(vs.pending(), 1);
    /// # drop(h);
    /// ```
    pub fn from_timeline(events: Vec<Event<T, E>>, scheduler: Arc<dyn Scheduler>) -> Hot<T, E> {
        let events: Vec<Event<T, E>> = events
            .into_iter()
            .filter(|e| {
                matches!(
                    e.signal,
                    Signal::Next(_) | Signal::Error(_) | Signal::Complete
                )
            })
            .collect();
        let groups = by_time(&events);
        let shared = Arc::new(HotShared {
            state: Mutex::new(HotState {
                policy: NoDemand::Drop,
                on_drop: None,
                subscribers: Vec::new(),
                terminal: None,
            }),
        });
        for (at, signals) in groups {
            // The timers own the source: it keeps running once every handle is gone.
            let shared = Arc::clone(&shared);
            let _ = scheduler.run_after(at, move || shared.emit(&signals));
        }
        Hot {
            shared,
            timeline: Arc::new(events),
            scheduler,
            log: SubscriptionLog::default(),
        }
    }

    /// Every subscription to this source (and its clones) so far, as
    /// [`Cold::subscriptions`] gives them.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::{marble, TestSubscriber, VirtualScheduler};
    /// let vs = VirtualScheduler::new();
    /// let h = marble::hot::<u8, ()>("^--|", &[], None, vs.clone());
    /// assert!(h.subscriptions(&vs).is_empty());
    /// ```
    pub fn subscriptions(&self, scheduler: &VirtualScheduler) -> Vec<SubscriptionSpan> {
        self.log.spans(scheduler.origin())
    }

    /// Asserts every subscription so far against subscription marbles, as
    /// [`Cold::assert_subscriptions`] does.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::{marble, TestSubscriber, VirtualScheduler};
    /// let vs = VirtualScheduler::new();
    /// let source = marble::hot::<u8, ()>("^-----|", &[], None, vs.clone());
    /// vs.advance_by(Duration::from_millis(1));
    /// let (sub, h) = TestSubscriber::with_scheduler(1, vs.clone());
    /// source.clone().subscribe(sub); // at frame 1
    /// vs.advance_by(Duration::from_millis(10)); // the source completes at frame 6
    /// source.assert_subscriptions(&vs, &["-^----!"]);
    /// ```
    #[track_caller]
    pub fn assert_subscriptions(&self, scheduler: &VirtualScheduler, expected: &[&str]) {
        self.log.assert(scheduler, expected);
    }

    /// Chooses what happens to an item due while a subscriber has no demand (default
    /// [`NoDemand::Drop`]); applies to later subscribers.
    ///
    /// ```
    /// use spillway_testkit::{marble::{self, NoDemand}, VirtualScheduler};
    /// let h = marble::hot::<u8, ()>("^|", &[], None, VirtualScheduler::new())
    ///     .on_no_demand(NoDemand::Buffer);
    /// assert_eq!(h.no_demand(), NoDemand::Buffer);
    /// ```
    pub fn on_no_demand(self, policy: NoDemand) -> Self {
        self.shared.lock().policy = policy;
        self
    }

    /// The no-demand policy.
    ///
    /// ```
    /// use spillway_testkit::{marble::{self, NoDemand}, VirtualScheduler};
    /// let h = marble::hot::<u8, ()>("^|", &[], None, VirtualScheduler::new());
    /// assert_eq!(h.no_demand(), NoDemand::Drop);
    /// ```
    pub fn no_demand(&self) -> NoDemand {
        self.shared.lock().policy
    }

    /// Records items dropped for lack of demand as [`Signal::Dropped`] (stage
    /// `"marble::hot"`); applies to later subscribers.
    ///
    /// ```
    /// use spillway_testkit::{marble, TestSubscriber, VirtualScheduler};
    /// let (_sub, handle) = TestSubscriber::<u8, ()>::new(0);
    /// let h = marble::hot::<u8, ()>("^a|", &[('a', 1)], None, VirtualScheduler::new())
    ///     .record_drops(handle.drop_recorder());
    /// # drop(h);
    /// ```
    pub fn record_drops(self, recorder: DropRecorder) -> Self
    where
        T: fmt::Debug,
    {
        self.shared.lock().on_drop = Some(drop_fn(recorder, "marble::hot"));
        self
    }

    /// The events, times from the `^`.
    ///
    /// ```
    /// use spillway_testkit::{marble, VirtualScheduler};
    /// let h = marble::hot::<u8, ()>("-^a|", &[('a', 1)], None, VirtualScheduler::new());
    /// assert_eq!(h.timeline()[0].at.as_millis(), 1);
    /// ```
    pub fn timeline(&self) -> &[Event<T, E>] {
        &self.timeline
    }
}

impl<T, E> Publisher for Hot<T, E>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    type Item = T;
    type Error = E;

    fn subscribe<S: Subscriber<Item = T, Error = E>>(self, subscriber: S) {
        let (lane, terminal) = {
            let state = self.shared.lock();
            let lane = Lane::new(state.policy, state.on_drop.clone(), "marble::hot");
            (lane, state.terminal.clone())
        };
        let source = LaneSource {
            lane: Arc::clone(&lane),
            timers: Vec::new(),
            _end: self.log.open(Arc::clone(&self.scheduler)),
        };
        if terminal.is_none() {
            self.shared.lock().subscribers.push(Arc::clone(&lane));
        }
        drain::start(source, subscriber);
        if let Some(t) = terminal {
            lane.deliver([t]);
        }
    }
}

impl<T: fmt::Debug, E: fmt::Debug> fmt::Debug for Hot<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hot")
            .field("timeline", &self.timeline)
            .finish_non_exhaustive()
    }
}
