//! The engine of `window(n)` and `window_timeout(n, d)`: consecutive windows of at most
//! `size` items, each a [`UnicastWindow`], a window closing after `size` items or (timed)
//! `timeout` after its first item.
//!
//! Demand. The outer drain settles its demand item by item, so its outstanding demand is
//! exact: `wanted` windows downstream asked for and that did not open yet. Upstream is
//! asked for `room + wanted × size` items in all (`room`: what the open window can still
//! take), so every window downstream asked for can fill and nothing more; unbounded outer
//! demand is passed on unbounded. A timed window that closes early leaves its requested
//! rest outstanding upstream: those items open the next window even without outer demand,
//! and it waits (with at most `size` items) until downstream asks for it.
//!
//! Cancellation (Reactor's `window`): the outer's cancel discards the windows it was not
//! handed yet; upstream is cancelled once the outer is cancelled and the open window has
//! ended or been cancelled. A window cancelled while the outer goes on drops the rest of
//! its items (counted `Discarded`) and the stage keeps consuming, so that the next window
//! starts where it would have.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, Weak};
use std::task::Context as TaskContext;
use std::time::Duration;

use spillway_core::drain::{self, DrainHandle, Pulled, Source};
use spillway_core::{
    Context, Error, Publisher, Scheduler, SchedulerExt, SharedSubscription, Subscriber, TaskHandle,
};

use crate::engine::support::{lock, DrainSlot, UpstreamSlot};
use crate::engine::unicast::{Cell, Counts, Kind, Parent, UnicastWindow};
use crate::engine::StageName;
use crate::stats::FlowStats;

/// How a windowing stage is set up.
pub(crate) struct Setup {
    pub(crate) kind: Kind,
    pub(crate) size: usize,
    pub(crate) timeout: Option<Duration>,
    pub(crate) stats: FlowStats,
}

/// Subscribes `subscriber` to the windows of `upstream`.
pub(crate) fn subscribe<K, P, S>(upstream: P, setup: Setup, subscriber: S)
where
    K: StageName,
    P: Publisher,
    P::Error: Clone,
    S: Subscriber<Item = UnicastWindow<P::Item, P::Error>, Error = P::Error>,
{
    let context = subscriber.context();
    let timer = setup.timeout.map(|d| (d, context.scheduler()));
    let shared = Arc::new_cyclic(|me: &Weak<Shared<P::Item, P::Error>>| Shared {
        kind: setup.kind,
        size: setup.size as u64,
        timer,
        state: Mutex::new(State {
            next_id: 0,
            current: None,
            ready: VecDeque::new(),
            wanted: 0,
            outstanding: 0,
            unbounded: false,
            terminal: None,
            up_done: false,
            outer_cancelled: false,
        }),
        upstream: UpstreamSlot::default(),
        outer: DrainSlot::default(),
        counts: Counts::new(setup.stats),
        me: me.clone(),
    });
    drop(drain::start(
        Outer::<K, P::Item, P::Error> {
            shared: Arc::clone(&shared),
            finished: false,
            _k: PhantomData,
        },
        subscriber,
    ));
    upstream.subscribe(Up { shared, context });
}

struct Current<T, E> {
    cell: Arc<Cell<T, E>>,
    count: u64,
    timer: Option<TaskHandle>,
}

struct State<T: Send + 'static, E: Send + 'static> {
    next_id: u64,
    /// The open window: the one upstream's items go to.
    current: Option<Current<T, E>>,
    /// Windows opened and not handed to the outer subscriber yet.
    ready: VecDeque<UnicastWindow<T, E>>,
    /// Outer demand not covered by `ready` (`u64::MAX`: unbounded).
    wanted: u64,
    /// Items requested upstream and not received (unless `unbounded`).
    outstanding: u64,
    unbounded: bool,
    /// Upstream's end, for the outer subscriber after `ready`.
    terminal: Option<Result<(), Error<E>>>,
    /// Upstream ended, broke the protocol, or was cancelled: its signals are ignored.
    up_done: bool,
    outer_cancelled: bool,
}

struct Shared<T: Send + 'static, E: Send + 'static> {
    kind: Kind,
    size: u64,
    timer: Option<(Duration, Arc<dyn Scheduler>)>,
    state: Mutex<State<T, E>>,
    upstream: UpstreamSlot,
    outer: DrainSlot,
    counts: Arc<Counts>,
    me: Weak<Shared<T, E>>,
}

impl<T: Send + 'static, E: Send + 'static> Shared<T, E> {
    /// What to request upstream now so that it has `room + wanted × size` outstanding.
    fn refill(&self, st: &mut State<T, E>) -> u64 {
        if st.up_done || st.outer_cancelled || st.unbounded {
            return 0;
        }
        // The open window's room counts once downstream asked for it: a window opened
        // by the rest of a timed-out window's request waits unasked, and takes no more.
        let room = st.current.as_ref().map_or(0, |c| {
            let waiting = st
                .ready
                .back()
                .is_some_and(|w| Arc::ptr_eq(w.cell(), &c.cell));
            let demand = self.outer.demand();
            let asked = !waiting || demand.is_unbounded() || demand.get() >= st.ready.len() as u64;
            if asked {
                self.size - c.count
            } else {
                0
            }
        });
        let target = if st.wanted == u64::MAX {
            u64::MAX
        } else {
            st.wanted.saturating_mul(self.size).saturating_add(room)
        };
        if target == u64::MAX {
            st.unbounded = true;
            return u64::MAX;
        }
        if target <= st.outstanding {
            return 0;
        }
        let need = target - st.outstanding;
        st.outstanding = target;
        need
    }

    /// The outer demand, less the windows waiting to be handed out.
    fn update_wanted(&self, st: &mut State<T, E>) {
        let demand = self.outer.demand();
        st.wanted = if demand.is_unbounded() {
            u64::MAX
        } else {
            demand.get().saturating_sub(st.ready.len() as u64)
        };
    }

    /// Ends the open window (full, or timed out). Returns the window to signal and
    /// whether upstream is to be cancelled now (nobody wants its items any more).
    fn close_current(&self, st: &mut State<T, E>) -> (Option<Arc<Cell<T, E>>>, bool) {
        let Some(cur) = st.current.take() else {
            return (None, false);
        };
        if let Some(timer) = cur.timer {
            timer.cancel();
        }
        cur.cell.close(Ok(()));
        let cancel_up = st.outer_cancelled && !st.up_done;
        if cancel_up {
            st.up_done = true;
        }
        (Some(cur.cell), cancel_up)
    }

    fn after(&self, cell: Option<Arc<Cell<T, E>>>, outer: bool, cancel_up: bool, need: u64) {
        if let Some(cell) = cell {
            cell.signal();
        }
        if outer {
            self.outer.signal();
        }
        if cancel_up {
            self.upstream.cancel();
        }
        if need > 0 {
            self.upstream.request(need);
        }
    }

    fn on_next(&self, item: T) {
        self.counts.stats.record_received();
        let mut st = lock(&self.state);
        if st.up_done {
            drop(st);
            drop(item);
            self.counts.discarded(1); // late: after the end or a cancel
            return;
        }
        if !st.unbounded {
            if st.outstanding == 0 {
                return self.violation(st, item);
            }
            st.outstanding -= 1;
        }
        let mut opened = false;
        if st.current.is_none() {
            let id = st.next_id;
            st.next_id += 1;
            let parent: Weak<dyn Parent> = self.me.clone();
            let cell = Cell::new(id, self.kind, Arc::clone(&self.counts), parent);
            st.ready.push_back(UnicastWindow::new(Arc::clone(&cell)));
            if st.wanted != u64::MAX {
                st.wanted = st.wanted.saturating_sub(1);
            }
            let timer = self.timer.as_ref().map(|(d, scheduler)| {
                let me = self.me.clone();
                scheduler.run_after(*d, move || {
                    if let Some(me) = me.upgrade() {
                        me.timed_out(id);
                    }
                })
            });
            st.current = Some(Current {
                cell,
                count: 0,
                timer,
            });
            opened = true;
        }
        let cur = st.current.as_mut().expect("opened above");
        cur.count += 1;
        let refused = cur.cell.push(item).err();
        let full = cur.count == self.size;
        let (cell, cancel_up) = if full {
            self.close_current(&mut st)
        } else {
            (st.current.as_ref().map(|c| Arc::clone(&c.cell)), false)
        };
        let need = self.refill(&mut st);
        drop(st);
        if refused.is_some() {
            drop(refused);
            self.counts.discarded(1); // its window was cancelled
        }
        self.after(cell, opened, cancel_up, need);
    }

    fn violation(&self, mut st: std::sync::MutexGuard<'_, State<T, E>>, item: T) {
        let stage = self.kind.stage();
        let what = "more items than requested";
        st.up_done = true;
        let cur = st.current.take();
        if let Some(cur) = &cur {
            if let Some(t) = &cur.timer {
                t.cancel();
            }
            cur.cell
                .close(Err(Error::ProtocolViolation { stage, what }));
        }
        st.terminal = Some(Err(Error::ProtocolViolation { stage, what }));
        drop(st);
        drop(item);
        self.counts.discarded(1);
        self.upstream.cancel();
        self.after(cur.map(|c| c.cell), true, false, 0);
    }

    fn end(&self, end: Result<(), Error<E>>)
    where
        E: Clone,
    {
        let mut st = lock(&self.state);
        if st.up_done {
            return;
        }
        st.up_done = true;
        let cur = st.current.take();
        if let Some(cur) = &cur {
            if let Some(t) = &cur.timer {
                t.cancel();
            }
            cur.cell.close(end.clone());
        }
        st.terminal = Some(end);
        drop(st);
        self.after(cur.map(|c| c.cell), true, false, 0);
    }

    fn timed_out(&self, id: u64) {
        let mut st = lock(&self.state);
        if st.current.as_ref().is_none_or(|c| c.cell.id() != id) {
            return;
        }
        let (cell, cancel_up) = self.close_current(&mut st);
        let need = self.refill(&mut st);
        drop(st);
        self.after(cell, false, cancel_up, need);
    }

    /// The outer subscriber cancelled: the windows it was not handed are discarded;
    /// upstream is cancelled unless a window handed out is still open.
    fn outer_cancelled(&self) {
        let mut st = lock(&self.state);
        st.outer_cancelled = true;
        st.wanted = 0;
        let discarded = std::mem::take(&mut st.ready);
        for w in &discarded {
            w.cell().discard();
        }
        let open = st.current.as_ref().is_some_and(|c| !c.cell.is_cancelled());
        let mut cancel_up = false;
        if !open {
            if let Some(cur) = st.current.take() {
                if let Some(t) = cur.timer {
                    t.cancel();
                }
            }
            if !st.up_done {
                st.up_done = true;
                cancel_up = true;
            }
        }
        drop(st);
        drop(discarded);
        self.after(None, false, cancel_up, 0);
    }
}

impl<T: Send + 'static, E: Send + 'static> Parent for Shared<T, E> {
    fn cell_cancelled(&self, id: u64) {
        let mut st = lock(&self.state);
        let is_current = st.current.as_ref().is_some_and(|c| c.cell.id() == id);
        if !is_current || !st.outer_cancelled || st.up_done {
            return; // the outer goes on: the stage keeps consuming, dropping the rest
        }
        if let Some(cur) = st.current.take() {
            if let Some(t) = cur.timer {
                t.cancel();
            }
        }
        st.up_done = true;
        drop(st);
        self.upstream.cancel();
    }
}

/// The outer drain's source: hands out the opened windows, then upstream's end.
struct Outer<K, T: Send + 'static, E: Send + 'static> {
    shared: Arc<Shared<T, E>>,
    finished: bool,
    _k: PhantomData<fn() -> K>,
}

impl<K, T, E> Outer<K, T, E>
where
    K: StageName,
    T: Send + 'static,
    E: Send + 'static,
{
    fn end(&mut self, st: &mut State<T, E>) -> Option<Pulled<UnicastWindow<T, E>, E>> {
        if !st.ready.is_empty() {
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
    K: StageName,
    T: Send + 'static,
    E: Send + 'static,
{
    type Item = UnicastWindow<T, E>;
    type Error = E;
    const STAGE: spillway_core::Stage = K::STAGE;
    const SETTLES_DEMAND: bool = true;

    fn attach(&mut self, drain: DrainHandle) {
        self.shared.outer.set(drain);
    }

    fn pull(&mut self, _cx: &mut TaskContext<'_>) -> Pulled<UnicastWindow<T, E>, E> {
        let shared = Arc::clone(&self.shared);
        let mut st = lock(&shared.state);
        if let Some(w) = st.ready.pop_front() {
            shared.outer.produced_one();
            shared.update_wanted(&mut st);
            let need = shared.refill(&mut st);
            drop(st);
            shared.after(None, false, false, need);
            return Pulled::Item(w);
        }
        if let Some(end) = self.end(&mut st) {
            return end;
        }
        shared.update_wanted(&mut st);
        let need = shared.refill(&mut st);
        drop(st);
        shared.after(None, false, false, need);
        Pulled::Pending
    }

    fn poll_end(&mut self, _cx: &mut TaskContext<'_>) -> Option<Pulled<UnicastWindow<T, E>, E>> {
        let shared = Arc::clone(&self.shared);
        let mut st = lock(&shared.state);
        self.end(&mut st)
    }
}

impl<K, T: Send + 'static, E: Send + 'static> Drop for Outer<K, T, E> {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.outer_cancelled();
        }
    }
}

/// The subscriber the stage gives its upstream.
struct Up<T: Send + 'static, E: Send + 'static> {
    shared: Arc<Shared<T, E>>,
    context: Context,
}

impl<T, E> Subscriber for Up<T, E>
where
    T: Send + 'static,
    E: Clone + Send + 'static,
{
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.shared.upstream.set(subscription);
    }

    fn on_next(&mut self, item: T) {
        self.shared.on_next(item);
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
