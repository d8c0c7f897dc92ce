//! `group_by`: one publisher per key, a bounded number of them open at once, with a
//! bounded buffer and a typed failure instead of the `groupBy` hang.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::Context as TaskContext;

use spillway_core::drain::{self, DrainHandle, Pulled, Source};
use spillway_core::{
    ConfigError, Context, Error, Publisher, SharedSubscription, Stage, Subscriber,
};

use crate::engine::support::{lock, DrainSlot, UpstreamSlot};
use crate::engine::unicast::{Cell, Counts, Kind, Parent, UnicastWindow};
use crate::stats::FlowStats;

const STAGE: Stage = "group_by";

/// The default of [`GroupBy::max_groups`].
///
/// ```
/// use spillway_operators::DEFAULT_MAX_GROUPS;
/// assert_eq!(DEFAULT_MAX_GROUPS, 256);
/// ```
pub const DEFAULT_MAX_GROUPS: usize = 256;

/// The default of [`GroupBy::buffer`] (the stage's capacity in its statistics).
///
/// ```
/// use spillway::prelude::*;
/// use spillway_operators::DEFAULT_GROUP_BUFFER;
/// let op = range(0, 1).group_by(|x| *x);
/// assert_eq!(op.stats().snapshot().capacity, DEFAULT_GROUP_BUFFER as u64);
/// ```
pub const DEFAULT_GROUP_BUFFER: usize = 256;

/// The `reason` of the [`Error::Rejected`] a [`group_by`](crate::OperatorExt::group_by)
/// fails with when an item with a new key arrives while
/// [`max_groups`](GroupBy::max_groups) groups are open (Akka's "too many substreams").
///
/// ```
/// use spillway::prelude::*;
/// use spillway::Error;
/// use spillway_operators::TOO_MANY_GROUPS;
/// # futures::executor::block_on(async {
/// let out = range(0, 10)
///     .group_by(|x| x % 5)
///     .max_groups(3)?
///     .flat_map(|g| g, 8, 8)?
///     .collect()
///     .await;
/// assert!(matches!(
///     out,
///     Err(Error::Rejected { stage: "group_by", reason: TOO_MANY_GROUPS })
/// ));
/// # Ok::<(), spillway::ConfigError>(())
/// # }).unwrap();
/// ```
pub const TOO_MANY_GROUPS: &str =
    "too many groups: an item with a new key arrived while `max_groups` groups were open";

/// The `reason` of the [`Error::Rejected`] a [`group_by`](crate::OperatorExt::group_by)
/// fails with when it reaches the `groupBy` trap: its buffer is full of items of groups
/// downstream has not asked for, while the subscriber of a group it did ask for waits for
/// items. Reactor's `groupBy` hangs there (more groups than `flatMap`'s concurrency).
///
/// ```
/// use spillway::prelude::*;
/// use spillway::Error;
/// use spillway_operators::GROUP_BY_TRAP;
/// # futures::executor::block_on(async {
/// // Two groups consumed at a time, four keys interleaved: a group can never complete.
/// let out = range(0, 1000)
///     .group_by(|x| x % 4)
///     .buffer(8)?
///     .flat_map(|g| g, 2, 4)?
///     .collect()
///     .await;
/// assert!(matches!(
///     out,
///     Err(Error::Rejected { stage: "group_by", reason: GROUP_BY_TRAP })
/// ));
/// # Ok::<(), spillway::ConfigError>(())
/// # }).unwrap();
/// ```
pub const GROUP_BY_TRAP: &str = "the groupBy trap: the buffer is full of items of groups not \
     asked for while a group's subscriber waits for items; consume every group at once \
     (flat_map concurrency >= max_groups)";

/// Publisher for the [`group_by`](crate::OperatorExt::group_by) method.
///
/// # Examples
/// ```
/// use spillway::prelude::*;
/// # futures::executor::block_on(async {
/// let op = range(0, 6).group_by(|x| x % 2).max_groups(2)?.buffer(4)?;
/// let stats = op.stats();
/// let mut sums = op
///     .flat_map(|g| { let k = *g.key(); g.reduce(|a, x| a + x).map(move |s| (k, s)) }, 2, 4)?
///     .collect()
///     .await
///     .unwrap();
/// sums.sort();
/// assert_eq!(sums, vec![(0, 6), (1, 9)]);
/// assert!(stats.snapshot().is_balanced());
/// # Ok::<(), spillway::ConfigError>(())
/// # }).unwrap();
/// ```
#[must_use = "publishers do nothing until subscribed"]
pub struct GroupBy<P, F> {
    upstream: P,
    key: F,
    max_groups: usize,
    buffer: usize,
    stats: FlowStats,
}

impl<P, F> GroupBy<P, F> {
    pub(crate) fn new(upstream: P, key: F) -> Self {
        GroupBy {
            upstream,
            key,
            max_groups: DEFAULT_MAX_GROUPS,
            buffer: DEFAULT_GROUP_BUFFER,
            stats: FlowStats::new(DEFAULT_GROUP_BUFFER),
        }
    }

    /// The most groups open at once ([`DEFAULT_MAX_GROUPS`] by default): an item with a
    /// new key beyond them fails the stream with [`TOO_MANY_GROUPS`]. A group stays open
    /// until upstream ends or its subscriber cancels it.
    ///
    /// # Errors
    /// [`ConfigError`] if `max_groups` is zero.
    ///
    /// ```
    /// use spillway::prelude::*;
    /// assert!(range(0, 1).group_by(|x| *x).max_groups(0).is_err());
    /// ```
    pub fn max_groups(mut self, max_groups: usize) -> Result<Self, ConfigError> {
        if max_groups == 0 {
            return Err(ConfigError::new(STAGE, "max_groups must be at least 1"));
        }
        self.max_groups = max_groups;
        Ok(self)
    }

    /// The most items held in all groups at once, and asked of upstream beyond what is
    /// held ([`DEFAULT_GROUP_BUFFER`] by default).
    ///
    /// # Errors
    /// [`ConfigError`] if `buffer` is zero.
    ///
    /// ```
    /// use spillway::prelude::*;
    /// assert!(range(0, 1).group_by(|x| *x).buffer(0).is_err());
    /// ```
    pub fn buffer(mut self, buffer: usize) -> Result<Self, ConfigError> {
        if buffer == 0 {
            return Err(ConfigError::new(STAGE, "the buffer must be at least 1"));
        }
        self.buffer = buffer;
        self.stats = FlowStats::new(buffer);
        Ok(self)
    }

    /// The live statistics of this stage, in items (shared by all its subscriptions):
    /// `received` from upstream, `emitted` by the groups to their subscribers,
    /// `buffered` held in groups, `dropped` (as `Discarded`) by cancelled groups and at a
    /// failure.
    ///
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let op = range(0, 10).group_by(|x| x % 2).buffer(4)?;
    /// let stats = op.stats();
    /// op.flat_map(|g| g, 2, 2)?.collect().await.unwrap();
    /// let s = stats.snapshot();
    /// assert_eq!((s.received, s.emitted, s.capacity), (10, 10, 4));
    /// assert!(s.peak_buffered <= 4);
    /// # Ok::<(), spillway::ConfigError>(())
    /// # }).unwrap();
    /// ```
    pub fn stats(&self) -> FlowStats {
        self.stats.clone()
    }
}

impl<P, F, K> Publisher for GroupBy<P, F>
where
    P: Publisher,
    P::Error: Clone,
    F: FnMut(&P::Item) -> K + Send + 'static,
    K: Hash + Eq + Clone + Send + 'static,
{
    type Item = GroupedPublisher<K, P::Item, P::Error>;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = Self::Item, Error = P::Error>,
    {
        let context = subscriber.context();
        let shared = Arc::new_cyclic(|me: &Weak<Shared<K, P::Item, P::Error>>| Shared {
            capacity: self.buffer,
            max_groups: self.max_groups,
            state: Mutex::new(State {
                next_id: 0,
                groups: HashMap::new(),
                keys: HashMap::new(),
                pending: VecDeque::new(),
                outstanding: 0,
                started: false,
                terminal: None,
                up_done: false,
                outer_cancelled: false,
            }),
            upstream: UpstreamSlot::default(),
            outer: DrainSlot::default(),
            counts: Counts::new(self.stats),
            me: me.clone(),
        });
        drop(drain::start(
            Outer {
                shared: Arc::clone(&shared),
                finished: false,
            },
            subscriber,
        ));
        self.upstream.subscribe(Up {
            shared,
            key: self.key,
            context,
        });
    }
}

impl<P: fmt::Debug, F> fmt::Debug for GroupBy<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupBy")
            .field("upstream", &self.upstream)
            .field("max_groups", &self.max_groups)
            .field("buffer", &self.buffer)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// One group of [`group_by`](crate::OperatorExt::group_by): its key, and a publisher of
/// its items with its own demand.
///
/// Like a [`UnicastWindow`] it can be subscribed once (a second subscription fails with
/// [`Error::Rejected`]); dropping every handle of a group without subscribing cancels
/// it, as its subscriber's cancel does.
///
/// # Examples
/// ```
/// use spillway::prelude::*;
/// # futures::executor::block_on(async {
/// let groups = range(0, 4).group_by(|x| x % 2).collect().await.unwrap();
/// assert_eq!(groups.iter().map(|g| *g.key()).collect::<Vec<_>>(), vec![0, 1]);
/// let evens = groups[0].clone().collect().await.unwrap();
/// assert_eq!(evens, vec![0, 2]);
/// # });
/// ```
#[must_use = "publishers do nothing until subscribed"]
pub struct GroupedPublisher<K, T: Send + 'static, E: Send + 'static> {
    key: K,
    items: UnicastWindow<T, E>,
}

impl<K, T: Send + 'static, E: Send + 'static> GroupedPublisher<K, T, E> {
    /// The key all the items of this group have.
    ///
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let groups = from_iter(["apple", "avocado", "banana"])
    ///     .group_by(|s| s.chars().next())
    ///     .collect()
    ///     .await
    ///     .unwrap();
    /// assert_eq!(*groups[1].key(), Some('b'));
    /// # });
    /// ```
    pub fn key(&self) -> &K {
        &self.key
    }
}

impl<K: Clone, T: Send + 'static, E: Send + 'static> Clone for GroupedPublisher<K, T, E> {
    fn clone(&self) -> Self {
        GroupedPublisher {
            key: self.key.clone(),
            items: self.items.clone(),
        }
    }
}

impl<K, T: Send + 'static, E: Send + 'static> Publisher for GroupedPublisher<K, T, E> {
    type Item = T;
    type Error = E;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = T, Error = E>,
    {
        self.items.subscribe(subscriber);
    }
}

impl<K: fmt::Debug, T: Send + 'static, E: Send + 'static> fmt::Debug for GroupedPublisher<K, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupedPublisher")
            .field("key", &self.key)
            .field("items", &self.items)
            .finish()
    }
}

struct Group<T, E> {
    cell: Arc<Cell<T, E>>,
    /// Handed to the outer subscriber (not waiting for outer demand).
    handed: bool,
}

struct State<K, T: Send + 'static, E: Send + 'static> {
    next_id: u64,
    /// The open groups, by key.
    groups: HashMap<K, Group<T, E>>,
    /// The key of each open group, by id.
    keys: HashMap<u64, K>,
    /// Groups opened and not handed to the outer subscriber yet.
    pending: VecDeque<GroupedPublisher<K, T, E>>,
    /// Items requested upstream and not received.
    outstanding: u64,
    /// The outer subscriber requested: upstream may be asked.
    started: bool,
    terminal: Option<Result<(), Error<E>>>,
    up_done: bool,
    outer_cancelled: bool,
}

struct Shared<K, T: Send + 'static, E: Send + 'static> {
    capacity: usize,
    max_groups: usize,
    state: Mutex<State<K, T, E>>,
    upstream: UpstreamSlot,
    outer: DrainSlot,
    counts: Arc<Counts>,
    me: Weak<Shared<K, T, E>>,
}

/// What to do once the stage lock is released.
struct After<T, E> {
    signal: Vec<Arc<Cell<T, E>>>,
    outer: bool,
    cancel_up: bool,
    need: u64,
}

impl<T, E> Default for After<T, E> {
    fn default() -> Self {
        After {
            signal: Vec::new(),
            outer: false,
            cancel_up: false,
            need: 0,
        }
    }
}

impl<K, T, E> Shared<K, T, E>
where
    K: Hash + Eq + Clone + Send + 'static,
    T: Send + 'static,
    E: Clone + Send + 'static,
{
    /// Tops upstream up to `capacity` held or in flight (by a quarter at least, unless
    /// nothing is in flight).
    fn refill(&self, st: &mut State<K, T, E>) -> u64 {
        if st.up_done || !st.started {
            return 0;
        }
        if st.outer_cancelled && st.groups.values().all(|g| !g.handed) {
            return 0;
        }
        let held = self.counts.held_now() as u64;
        let room = (self.capacity as u64).saturating_sub(held + st.outstanding);
        let step = (self.capacity as u64 / 4).max(1);
        if room == 0 || (st.outstanding > 0 && room < step) {
            return 0;
        }
        st.outstanding += room;
        room
    }

    fn run(&self, after: After<T, E>) {
        for cell in after.signal {
            cell.signal();
        }
        if after.outer {
            self.outer.signal();
        }
        if after.cancel_up {
            self.upstream.cancel();
        }
        if after.need > 0 {
            self.upstream.request(after.need);
        }
    }

    /// The trap: the buffer is full, the outer asks for no more groups, no item held is
    /// in a group a subscriber can take it from (all are in groups not handed out, or
    /// handed out and not subscribed: sitting in a queue below, as `publish_on`'s), and
    /// the subscriber of a group waits for items. While the outer has demand, groups
    /// are on their way out and those handed out are taken to be on their way to a
    /// subscriber (a re-entrant upstream may fill the buffer before the outer's drain
    /// hands them out; a consumer may subscribe from another task).
    fn trapped(&self, st: &State<K, T, E>) -> bool {
        if self.counts.held_now() < self.capacity || !self.outer.demand().is_zero() {
            return false;
        }
        let subscribed = |g: &&Group<T, E>| g.handed && g.cell.is_subscribed();
        let movable = st
            .groups
            .values()
            .filter(subscribed)
            .any(|g| g.cell.has_items());
        !movable
            && st
                .groups
                .values()
                .filter(subscribed)
                .any(|g| g.cell.is_waiting())
    }

    /// Fails every open group and the outer stream with `error` (the groups not handed
    /// out are discarded: the error goes out at once), and cancels upstream if `cancel`.
    fn fail(&self, mut st: MutexGuard<'_, State<K, T, E>>, error: Error<E>, cancel: bool) {
        st.up_done = true;
        let groups: Vec<Group<T, E>> = st.groups.drain().map(|(_, g)| g).collect();
        st.keys.clear();
        let pending = std::mem::take(&mut st.pending);
        let mut after = After {
            outer: true,
            cancel_up: cancel,
            ..After::default()
        };
        for g in groups {
            if g.handed {
                g.cell.close(Err(error.clone()));
                after.signal.push(g.cell);
            } else {
                g.cell.discard();
            }
        }
        st.terminal = Some(Err(error));
        drop(st);
        drop(pending);
        self.run(after);
    }

    fn on_next(&self, item: T, key: K) {
        let mut st = lock(&self.state);
        if st.up_done {
            drop(st);
            drop(item);
            self.counts.discarded(1);
            return;
        }
        if st.outstanding == 0 {
            drop(item);
            self.counts.discarded(1);
            let what = "more items than requested";
            return self.fail(st, Error::ProtocolViolation { stage: STAGE, what }, true);
        }
        st.outstanding -= 1;
        let mut after = After::default();
        let found = catch_unwind(AssertUnwindSafe(|| {
            st.groups.get(&key).map(|g| Arc::clone(&g.cell))
        }));
        let cell = match found {
            Err(payload) => {
                drop(item);
                self.counts.discarded(1);
                return self.fail(st, Error::from_panic(STAGE, payload), true);
            }
            Ok(Some(cell)) => cell,
            Ok(None) if st.outer_cancelled => {
                // No new group after the outer's cancel: the item has nowhere to go.
                drop(st);
                drop(item);
                self.counts.discarded(1);
                return;
            }
            Ok(None) if st.groups.len() >= self.max_groups => {
                drop(item);
                self.counts.discarded(1);
                let reason = TOO_MANY_GROUPS;
                return self.fail(
                    st,
                    Error::Rejected {
                        stage: STAGE,
                        reason,
                    },
                    true,
                );
            }
            Ok(None) => {
                let id = st.next_id;
                st.next_id += 1;
                let parent: Weak<dyn Parent> = self.me.clone();
                let cell = Cell::new(id, Kind::Group, Arc::clone(&self.counts), parent);
                let inserted = catch_unwind(AssertUnwindSafe(|| {
                    st.groups.insert(
                        key.clone(),
                        Group {
                            cell: Arc::clone(&cell),
                            handed: false,
                        },
                    );
                }));
                if let Err(payload) = inserted {
                    drop(item);
                    self.counts.discarded(1);
                    return self.fail(st, Error::from_panic(STAGE, payload), true);
                }
                st.keys.insert(id, key.clone());
                st.pending.push_back(GroupedPublisher {
                    key,
                    items: UnicastWindow::new(Arc::clone(&cell)),
                });
                after.outer = true;
                cell
            }
        };
        if cell.push(item).is_err() {
            self.counts.discarded(1); // cancelled meanwhile
        }
        after.signal.push(cell);
        if self.trapped(&st) {
            let reason = GROUP_BY_TRAP;
            return self.fail(
                st,
                Error::Rejected {
                    stage: STAGE,
                    reason,
                },
                true,
            );
        }
        after.need = self.refill(&mut st);
        drop(st);
        self.run(after);
    }

    fn end(&self, end: Result<(), Error<E>>) {
        let st = lock(&self.state);
        if st.up_done {
            return;
        }
        match end {
            Err(e) => self.fail(st, e, false),
            Ok(()) => {
                let mut st = st;
                st.up_done = true;
                let groups: Vec<Group<T, E>> = st.groups.drain().map(|(_, g)| g).collect();
                st.keys.clear();
                let mut after = After {
                    outer: true,
                    ..After::default()
                };
                for g in groups {
                    g.cell.close(Ok(()));
                    after.signal.push(g.cell);
                }
                st.terminal = Some(Ok(()));
                drop(st);
                self.run(after);
            }
        }
    }

    fn outer_cancelled(&self) {
        let mut st = lock(&self.state);
        st.outer_cancelled = true;
        let pending = std::mem::take(&mut st.pending);
        for g in &pending {
            let id = g.items.cell().id();
            g.items.cell().discard();
            if let Some(key) = st.keys.remove(&id) {
                st.groups.remove(&key);
            }
        }
        let cancel_up = !st.up_done && st.groups.is_empty();
        if cancel_up {
            st.up_done = true;
        }
        drop(st);
        drop(pending);
        self.run(After {
            cancel_up,
            ..After::default()
        });
    }
}

impl<K, T, E> Parent for Shared<K, T, E>
where
    K: Hash + Eq + Clone + Send + 'static,
    T: Send + 'static,
    E: Clone + Send + 'static,
{
    /// A group cancelled by its subscriber is closed: a later item with its key opens a
    /// new group (as Reactor's `groupBy`).
    fn cell_cancelled(&self, id: u64) {
        let mut st = lock(&self.state);
        if let Some(key) = st.keys.remove(&id) {
            st.groups.remove(&key);
        }
        let cancel_up = st.outer_cancelled && !st.up_done && st.groups.is_empty();
        if cancel_up {
            st.up_done = true;
        }
        let need = self.refill(&mut st);
        drop(st);
        self.run(After {
            cancel_up,
            need,
            ..After::default()
        });
    }

    fn cell_took(&self, _id: u64) {
        let mut st = lock(&self.state);
        let need = self.refill(&mut st);
        drop(st);
        if need > 0 {
            self.upstream.request(need);
        }
    }

    fn cell_waiting(&self, _id: u64) {
        let st = lock(&self.state);
        if !st.up_done && self.trapped(&st) {
            let reason = GROUP_BY_TRAP;
            self.fail(
                st,
                Error::Rejected {
                    stage: STAGE,
                    reason,
                },
                true,
            );
        }
    }
}

/// The outer drain's source: hands out the opened groups, then upstream's end.
struct Outer<K, T, E>
where
    K: Hash + Eq + Clone + Send + 'static,
    T: Send + 'static,
    E: Clone + Send + 'static,
{
    shared: Arc<Shared<K, T, E>>,
    finished: bool,
}

impl<K, T, E> Outer<K, T, E>
where
    K: Hash + Eq + Clone + Send + 'static,
    T: Send + 'static,
    E: Clone + Send + 'static,
{
    fn end(&mut self, st: &mut State<K, T, E>) -> Option<Pulled<GroupedPublisher<K, T, E>, E>> {
        if !st.pending.is_empty() {
            return None;
        }
        let end = st.terminal.take()?;
        self.finished = true;
        Some(match end {
            Ok(()) => Pulled::Complete,
            Err(e) => Pulled::Error(e),
        })
    }
}

impl<K, T, E> Source for Outer<K, T, E>
where
    K: Hash + Eq + Clone + Send + 'static,
    T: Send + 'static,
    E: Clone + Send + 'static,
{
    type Item = GroupedPublisher<K, T, E>;
    type Error = E;
    const STAGE: Stage = STAGE;
    const SETTLES_DEMAND: bool = true;

    fn attach(&mut self, drain: DrainHandle) {
        self.shared.outer.set(drain);
    }

    fn pull(&mut self, _cx: &mut TaskContext<'_>) -> Pulled<GroupedPublisher<K, T, E>, E> {
        let shared = Arc::clone(&self.shared);
        let mut st = lock(&shared.state);
        st.started = true;
        if let Some(g) = st.pending.pop_front() {
            if let Some(group) = st.groups.get_mut(&g.key) {
                group.handed = true;
            }
            shared.outer.produced_one();
            let need = shared.refill(&mut st);
            drop(st);
            if need > 0 {
                shared.upstream.request(need);
            }
            return Pulled::Item(g);
        }
        if let Some(end) = self.end(&mut st) {
            return end;
        }
        let need = shared.refill(&mut st);
        drop(st);
        if need > 0 {
            shared.upstream.request(need);
        }
        Pulled::Pending
    }

    fn poll_end(
        &mut self,
        _cx: &mut TaskContext<'_>,
    ) -> Option<Pulled<GroupedPublisher<K, T, E>, E>> {
        let shared = Arc::clone(&self.shared);
        let mut st = lock(&shared.state);
        self.end(&mut st)
    }
}

impl<K, T, E> Drop for Outer<K, T, E>
where
    K: Hash + Eq + Clone + Send + 'static,
    T: Send + 'static,
    E: Clone + Send + 'static,
{
    fn drop(&mut self) {
        if !self.finished {
            self.shared.outer_cancelled();
        }
    }
}

/// The subscriber the stage gives its upstream: computes each item's key (user code,
/// under `catch_unwind`) outside the stage's lock.
struct Up<K, T: Send + 'static, E: Send + 'static, F> {
    shared: Arc<Shared<K, T, E>>,
    key: F,
    context: Context,
}

impl<K, T, E, F> Subscriber for Up<K, T, E, F>
where
    K: Hash + Eq + Clone + Send + 'static,
    T: Send + 'static,
    E: Clone + Send + 'static,
    F: FnMut(&T) -> K + Send + 'static,
{
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.shared.upstream.set(subscription);
    }

    fn on_next(&mut self, item: T) {
        self.shared.counts.stats.record_received();
        match catch_unwind(AssertUnwindSafe(|| (self.key)(&item))) {
            Ok(key) => self.shared.on_next(item, key),
            Err(payload) => {
                let st = lock(&self.shared.state);
                drop(item);
                self.shared.counts.discarded(1);
                if !st.up_done {
                    self.shared
                        .fail(st, Error::from_panic(STAGE, payload), true);
                }
            }
        }
    }

    fn on_error(&mut self, error: Error<E>) {
        self.shared.end(Err(error));
    }

    fn on_complete(&mut self) {
        self.shared.end(Ok(()));
    }

    fn context(&self) -> Context {
        self.context.clone()
    }
}
