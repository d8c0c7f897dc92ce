//! The inner publishers of the windowing operators (`window`, `window_timeout`,
//! `group_by`): a buffer that the stage fills and that one subscriber drains, with its
//! own demand (Reactor's `UnicastProcessor` as used by `window` and `groupBy`).
//!
//! Locking: a cell's state lock is a leaf. The stage may push to or close a cell while it
//! holds its own lock; it signals the cell's drain only after releasing it. A cell calls
//! its [`Parent`] only with no lock held.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::Context as TaskContext;

use spillway_core::drain::{self, DrainHandle, Pulled, Source};
use spillway_core::{Error, NoopSubscription, Publisher, Stage, Subscriber};

use crate::engine::support::{lock, DrainSlot};
use crate::stats::{DropReason, FlowStats};

/// What a second subscriber of a window (or group) receives.
pub(crate) const SUBSCRIBED_TWICE: &str =
    "a window can be subscribed only once (it is unicast); this one already was";

/// What a subscriber of a window that was already cancelled receives.
const CANCELLED: &str = "the window was cancelled before this subscription";

/// Which operator a cell belongs to: the stage name its drain reports errors with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Window,
    WindowTimeout,
    Group,
}

impl Kind {
    pub(crate) const fn stage(self) -> Stage {
        match self {
            Kind::Window => "window",
            Kind::WindowTimeout => "window_timeout",
            Kind::Group => "group_by",
        }
    }
}

/// The stage that fills the cells: told when one is cancelled by its subscriber (or
/// dropped without one) before it ended.
pub(crate) trait Parent: Send + Sync + 'static {
    fn cell_cancelled(&self, id: u64);
    /// The cell's subscriber took an item (`group_by` refills its buffer).
    fn cell_took(&self, _id: u64) {}
    /// The cell's subscriber has demand and the cell nothing to give it.
    fn cell_waiting(&self, _id: u64) {}
}

/// The stage's statistics in items, with the count of items held in all its cells.
pub(crate) struct Counts {
    pub(crate) stats: FlowStats,
    held: AtomicUsize,
}

impl Counts {
    pub(crate) fn new(stats: FlowStats) -> Arc<Counts> {
        Arc::new(Counts {
            stats,
            held: AtomicUsize::new(0),
        })
    }

    fn held(&self) {
        let n = self.held.fetch_add(1, Ordering::AcqRel) + 1;
        self.stats.set_buffered(n);
    }

    /// Items held in all the stage's cells now.
    pub(crate) fn held_now(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    fn released(&self, n: usize) {
        if n > 0 {
            let left = self.held.fetch_sub(n, Ordering::AcqRel) - n;
            self.stats.set_buffered(left);
        }
    }

    /// Counts `n` items dropped as `Discarded`.
    pub(crate) fn discarded(&self, n: usize) {
        for _ in 0..n {
            self.stats.record_dropped(DropReason::Discarded);
        }
    }
}

struct CellState<T, E> {
    queue: VecDeque<T>,
    terminal: Option<Result<(), Error<E>>>,
    subscribed: bool,
    cancelled: bool,
    /// The terminal signal was handed to the subscriber.
    finished: bool,
    /// The subscriber has demand and the cell had nothing for it (until the next push).
    waiting: bool,
}

/// One window's (or group's) buffer.
pub(crate) struct Cell<T, E> {
    id: u64,
    kind: Kind,
    state: Mutex<CellState<T, E>>,
    drain: DrainSlot,
    counts: Arc<Counts>,
    parent: Weak<dyn Parent>,
}

impl<T: Send + 'static, E: Send + 'static> Cell<T, E> {
    pub(crate) fn new(
        id: u64,
        kind: Kind,
        counts: Arc<Counts>,
        parent: Weak<dyn Parent>,
    ) -> Arc<Self> {
        Arc::new(Cell {
            id,
            kind,
            state: Mutex::new(CellState {
                queue: VecDeque::new(),
                terminal: None,
                subscribed: false,
                cancelled: false,
                finished: false,
                waiting: false,
            }),
            drain: DrainSlot::default(),
            counts,
            parent,
        })
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Adds an item (the caller signals afterwards); a cancelled cell hands it back.
    pub(crate) fn push(&self, item: T) -> Result<(), T> {
        let mut st = lock(&self.state);
        if st.cancelled || st.terminal.is_some() {
            return Err(item);
        }
        st.queue.push_back(item);
        st.waiting = false;
        drop(st);
        self.counts.held();
        Ok(())
    }

    /// Ends the cell after its items (the caller signals afterwards); the first end wins.
    pub(crate) fn close(&self, end: Result<(), Error<E>>) {
        let mut st = lock(&self.state);
        if st.terminal.is_none() && !st.cancelled {
            st.terminal = Some(end);
        }
    }

    /// True once cancelled by its subscriber, dropped unsubscribed, or discarded.
    pub(crate) fn is_cancelled(&self) -> bool {
        lock(&self.state).cancelled
    }

    /// Runs the subscriber's drain loop, if it has one.
    pub(crate) fn signal(&self) {
        self.drain.signal();
    }

    /// Cancels the cell and drops what it holds, without telling the parent (the parent
    /// does it itself). Returns false if it had ended or was cancelled already.
    pub(crate) fn discard(&self) -> bool {
        let dropped = {
            let mut st = lock(&self.state);
            if st.cancelled || st.finished {
                return false;
            }
            st.cancelled = true;
            st.terminal = None;
            std::mem::take(&mut st.queue)
        };
        let n = dropped.len();
        drop(dropped);
        self.counts.released(n);
        self.counts.discarded(n);
        true
    }

    /// Cancelled from below (its subscriber, or its last handle dropped unsubscribed).
    fn cancel_from_below(&self) {
        if self.discard() {
            if let Some(parent) = self.parent.upgrade() {
                parent.cell_cancelled(self.id);
            }
        }
    }

    /// True if the subscriber waits: it has demand and the cell has nothing for it.
    pub(crate) fn is_waiting(&self) -> bool {
        lock(&self.state).waiting
    }

    /// True once subscribed.
    pub(crate) fn is_subscribed(&self) -> bool {
        lock(&self.state).subscribed
    }

    /// True if it holds items not delivered yet.
    pub(crate) fn has_items(&self) -> bool {
        !lock(&self.state).queue.is_empty()
    }

    fn take_next(&self) -> Pulled<T, E> {
        let mut st = lock(&self.state);
        if let Some(item) = st.queue.pop_front() {
            drop(st);
            self.counts.released(1);
            self.counts.stats.record_emitted(1);
            if let Some(parent) = self.parent.upgrade() {
                parent.cell_took(self.id);
            }
            return Pulled::Item(item);
        }
        match st.terminal.take() {
            Some(end) => {
                st.finished = true;
                match end {
                    Ok(()) => Pulled::Complete,
                    Err(e) => Pulled::Error(e),
                }
            }
            None => {
                st.waiting = true;
                drop(st);
                if let Some(parent) = self.parent.upgrade() {
                    parent.cell_waiting(self.id);
                }
                Pulled::Pending
            }
        }
    }

    fn subscribe<S>(self: &Arc<Self>, mut subscriber: S)
    where
        S: Subscriber<Item = T, Error = E>,
    {
        let refusal = {
            let mut st = lock(&self.state);
            if st.subscribed {
                Some(SUBSCRIBED_TWICE)
            } else if st.cancelled {
                Some(CANCELLED)
            } else {
                st.subscribed = true;
                None
            }
        };
        let stage = self.kind.stage();
        match refusal {
            Some(reason) => {
                subscriber.on_subscribe(NoopSubscription::shared());
                subscriber.on_error(Error::Rejected { stage, reason });
            }
            None => {
                let cell = Arc::clone(self);
                match self.kind {
                    Kind::Window => drop(drain::start(CellSource::<T, E, 0> { cell }, subscriber)),
                    Kind::WindowTimeout => {
                        drop(drain::start(CellSource::<T, E, 1> { cell }, subscriber))
                    }
                    Kind::Group => drop(drain::start(CellSource::<T, E, 2> { cell }, subscriber)),
                }
            }
        }
    }
}

/// The drain source of a cell's one subscriber. Dropped by the drain when the
/// subscriber cancels (or the cell ended).
struct CellSource<T: Send + 'static, E: Send + 'static, const KIND: u8> {
    cell: Arc<Cell<T, E>>,
}

impl<T: Send + 'static, E: Send + 'static, const KIND: u8> Source for CellSource<T, E, KIND> {
    type Item = T;
    type Error = E;
    const STAGE: Stage = match KIND {
        0 => Kind::Window.stage(),
        1 => Kind::WindowTimeout.stage(),
        _ => Kind::Group.stage(),
    };

    fn attach(&mut self, drain: DrainHandle) {
        self.cell.drain.set(drain);
    }

    fn pull(&mut self, _cx: &mut TaskContext<'_>) -> Pulled<T, E> {
        self.cell.take_next()
    }

    fn poll_end(&mut self, _cx: &mut TaskContext<'_>) -> Option<Pulled<T, E>> {
        let empty_and_ended = {
            let st = lock(&self.cell.state);
            st.queue.is_empty() && st.terminal.is_some()
        };
        empty_and_ended.then(|| self.cell.take_next())
    }
}

impl<T: Send + 'static, E: Send + 'static, const KIND: u8> Drop for CellSource<T, E, KIND> {
    fn drop(&mut self) {
        self.cell.cancel_from_below();
    }
}

/// The last handle of a window: dropped unsubscribed, it cancels the window.
struct Handle<T: Send + 'static, E: Send + 'static> {
    cell: Arc<Cell<T, E>>,
}

impl<T: Send + 'static, E: Send + 'static> Drop for Handle<T, E> {
    fn drop(&mut self) {
        let unsubscribed = !lock(&self.cell.state).subscribed;
        if unsubscribed {
            self.cell.cancel_from_below();
        }
    }
}

/// One window of [`window`](crate::OperatorExt::window) or
/// [`window_timeout`](crate::OperatorExt::window_timeout): a publisher of the items of
/// that window, with its own demand.
///
/// It is **unicast**: it can be subscribed once (clones are handles to the same window);
/// a second subscription receives `on_subscribe` and then
/// [`Error::Rejected`](spillway_core::Error::Rejected) at once, and the first goes on
/// undisturbed. Until it is subscribed, the window keeps its items (at most the window's
/// size); dropping every handle without subscribing cancels it, as a subscriber's cancel
/// does: its items are dropped (counted in the stage's statistics) and the stage goes on.
///
/// # Examples
/// ```
/// use spillway::prelude::*;
/// # futures::executor::block_on(async {
/// let windows = range(0, 5).window(2)?.collect().await.unwrap();
/// let mut sizes = Vec::new();
/// for w in windows {
///     sizes.push(w.collect().await.unwrap().len());
/// }
/// assert_eq!(sizes, vec![2, 2, 1]);
/// # Ok::<(), spillway::ConfigError>(())
/// # }).unwrap();
/// ```
#[must_use = "publishers do nothing until subscribed"]
pub struct UnicastWindow<T: Send + 'static, E: Send + 'static> {
    handle: Arc<Handle<T, E>>,
}

impl<T: Send + 'static, E: Send + 'static> UnicastWindow<T, E> {
    pub(crate) fn new(cell: Arc<Cell<T, E>>) -> Self {
        UnicastWindow {
            handle: Arc::new(Handle { cell }),
        }
    }

    pub(crate) fn cell(&self) -> &Arc<Cell<T, E>> {
        &self.handle.cell
    }

    /// The window's number in its stream: 0 for the first window, then 1, 2, ...
    ///
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let windows = range(0, 4).window(2)?.collect().await.unwrap();
    /// assert_eq!(windows.iter().map(|w| w.index()).collect::<Vec<_>>(), vec![0, 1]);
    /// # Ok::<(), spillway::ConfigError>(())
    /// # }).unwrap();
    /// ```
    pub fn index(&self) -> u64 {
        self.handle.cell.id
    }
}

impl<T: Send + 'static, E: Send + 'static> Clone for UnicastWindow<T, E> {
    fn clone(&self) -> Self {
        UnicastWindow {
            handle: Arc::clone(&self.handle),
        }
    }
}

impl<T: Send + 'static, E: Send + 'static> Publisher for UnicastWindow<T, E> {
    type Item = T;
    type Error = E;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = T, Error = E>,
    {
        self.handle.cell.subscribe(subscriber);
    }
}

impl<T: Send + 'static, E: Send + 'static> fmt::Debug for UnicastWindow<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = lock(&self.handle.cell.state);
        f.debug_struct("UnicastWindow")
            .field("stage", &self.handle.cell.kind.stage())
            .field("index", &self.handle.cell.id)
            .field("held", &st.queue.len())
            .field("subscribed", &st.subscribed)
            .field("cancelled", &st.cancelled)
            .field("ended", &(st.terminal.is_some() || st.finished))
            .finish()
    }
}
