//! A bounded single-producer / single-consumer hand-off between threads, with a
//! parking protocol for its consumer, for operators that move items from one execution
//! context to another (`publish_on`).
//!
//! [`channel`] makes the two ends: a [`Sender`] for the upstream side and a
//! [`Receiver`] for the drain. Each end is owned by one side (`&mut self`): the upstream
//! of a Reactive Streams stage is serial (its signals never overlap, and there is a
//! happens-before edge between two of them even when they come from different threads),
//! and the drain has a single owner, so the ring needs no read-modify-write at all.
//!
//! # The ring
//! A wait-free SPSC ring ([`rtrb`]): each side keeps a cached copy of the other side's
//! index and reads the real one only when the cached copy says the ring is full (or
//! empty). [`Sender::push_iter`] writes a whole run of items and publishes them with
//! **one** `Release` store of the tail; [`Receiver::drain`] hands out a run and frees
//! its slots with one `Release` store of the head when the run is dropped. A batch from
//! a fused upstream therefore costs two index stores, not one compare-and-swap per item
//! and side as a multi-producer queue does. (Capacities of more than a few MiB of slots
//! use an unbounded linked queue instead, which grows as needed: the caller's demand
//! bounds it.)
//!
//! # The protocol
//! The consumer drains as much as it likes per wake-up. When it finds the ring empty it
//! [`park`](Receiver::park)s: from then on the first push returns [`Pushed::Wake`], and
//! only that one: its caller schedules the consumer. A busy consumer therefore costs the
//! producer no wake-up, no lock and no system call.
//!
//! No wake-up is lost (the Dekker pattern): the producer publishes its items (the tail
//! store), issues a `SeqCst` fence, then reads the state; the consumer writes `PARKED`,
//! issues a `SeqCst` fence, then reads the tail. Of the two fences one comes first in
//! their single total order, so either the producer sees `PARKED` (and claims the
//! wake-up by swapping it back to `RUNNING`), or the consumer sees the items (and takes
//! its park back, unless a producer already claimed it: then the wake-up is on its way
//! and the consumer stops anyway). Exactly one side goes on. The fence is paid once per
//! [`push_iter`](Sender::push_iter) run, not per item.
//!
//! [`close`](Receiver::close) (cancellation, termination) releases the queued items
//! and makes later pushes drop theirs, with the same pattern: a push that raced with
//! `close` finds `CLOSED` after its own fence and lets go of the ring, which frees what
//! is left once both ends have let go.
//!
//! The protocol is model-checked with loom in `core/tests/loom_handoff.rs`; under
//! `--cfg loom` the ring is a model with the same index protocol and orderings (loom
//! cannot see into `rtrb`), the state and fences are loom's.

use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sync::atomic::{fence, AtomicU8, Ordering};

/// The consumer is draining (or about to): pushes need not wake it.
const RUNNING: u8 = 0;
/// The consumer found the ring empty and stopped: the next push wakes it.
const PARKED: u8 = 1;
/// Nobody will pop again: pushes drop their items.
const CLOSED: u8 = 2;

/// What a successful push asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a `Wake` must be acted upon, or the consumer is never scheduled"]
pub enum Pushed {
    /// Queued; the consumer is running and will see it.
    Queued,
    /// Queued, and the consumer had parked: the caller must schedule it.
    Wake,
    /// The hand-off was closed: the items were dropped.
    Closed,
}

/// The state both ends read: on its own cache line, since the producer reads it after
/// every run and the ring's indices are written all the time.
#[repr(align(128))]
struct State(AtomicU8);

/// A hand-off for at most `capacity` queued items (at least 1), with its consumer
/// parked: the first push returns [`Pushed::Wake`]. Capacities up to a few MiB of slots
/// are allocated at once; larger ones grow as needed (still bounded by `capacity`, which
/// the caller enforces by its demand).
///
/// ```
/// use spillway_core::handoff::{channel, Pushed};
///
/// let (mut tx, mut rx) = channel(4);
/// assert_eq!(tx.push(1), Ok(Pushed::Wake)); // it starts parked
/// assert_eq!(tx.push(2), Ok(Pushed::Queued));
/// assert_eq!((rx.pop(), rx.pop(), rx.pop()), (Some(1), Some(2), None));
/// assert!(rx.park()); // empty: parked, the next push wakes
/// assert_eq!(tx.push_iter(&mut (3..9), 4), (4, Pushed::Wake)); // one run, one wake-up
/// assert_eq!(rx.drain(usize::MAX).collect::<Vec<_>>(), [3, 4, 5, 6]);
/// rx.close();
/// assert_eq!(tx.push(7), Ok(Pushed::Closed));
/// assert_eq!(rx.pop(), None);
/// ```
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = ring::new(capacity.max(1));
    let state = Arc::new(State(AtomicU8::new(PARKED)));
    (
        Sender {
            ring: Some(tx),
            state: Arc::clone(&state),
        },
        Receiver {
            ring: Some(rx),
            state,
        },
    )
}

/// The producing end of a [`channel`] (one thread at a time: `&mut self`).
///
/// ```
/// use spillway_core::handoff::{channel, Pushed};
///
/// let (mut tx, rx) = channel::<u32>(2);
/// assert_eq!(tx.push(1), Ok(Pushed::Wake));
/// assert_eq!(tx.push(2), Ok(Pushed::Queued));
/// assert_eq!(tx.push(3), Err(3)); // full
/// assert_eq!(rx.len(), 2);
/// ```
pub struct Sender<T> {
    /// `None` once the sender saw `CLOSED`: it let go of the ring, so that what a
    /// racing push left in it is freed with the receiver's end.
    ring: Option<ring::Tx<T>>,
    state: Arc<State>,
}

impl<T> Sender<T> {
    /// Queues `item`. `Err(item)` if the ring is full, which a producer that only sends
    /// what the consumer asked for never sees.
    #[inline]
    pub fn push(&mut self, item: T) -> Result<Pushed, T> {
        let Some(ring) = self.open_ring() else {
            drop(item);
            return Ok(Pushed::Closed);
        };
        ring.push(item)?;
        Ok(self.published())
    }

    /// Moves up to `max` items from `items` into the ring (fewer if `items` ends first,
    /// or if fewer slots are free), publishes them at once, checks the consumer's state
    /// once, and returns how many it took. `max == 0` takes nothing and returns
    /// [`Pushed::Queued`]. After [`close`](Receiver::close) it takes up to `max` items
    /// and drops them ([`Pushed::Closed`]).
    ///
    /// If `items` panics (user code upstream), the items taken before the panic are
    /// published (and the consumer woken if need be) before the panic goes on, so
    /// that they are delivered ahead of the error it becomes.
    ///
    /// ```
    /// use spillway_core::handoff::{channel, Pushed};
    ///
    /// let (mut tx, mut rx) = channel(3);
    /// let mut items = 0..10;
    /// assert_eq!(tx.push_iter(&mut items, 5), (3, Pushed::Wake)); // 3 free slots
    /// assert_eq!(items.next(), Some(3)); // the rest stays in the iterator
    /// assert_eq!(rx.drain(2).collect::<Vec<_>>(), [0, 1]);
    /// assert_eq!(tx.free(), 2);
    /// ```
    #[inline]
    pub fn push_iter<I>(&mut self, items: &mut I, max: usize) -> (usize, Pushed)
    where
        I: Iterator<Item = T>,
    {
        if max == 0 {
            return (0, Pushed::Queued);
        }
        let Some(ring) = self.open_ring() else {
            return (items.take(max).count(), Pushed::Closed);
        };
        let mut guarded = CatchPanic {
            items,
            payload: None,
        };
        let taken = ring.push_iter(&mut guarded, max);
        let pushed = if taken == 0 {
            Pushed::Queued
        } else {
            self.published()
        };
        if let Some(payload) = guarded.payload {
            if pushed == Pushed::Wake {
                // The caller cannot act on the wake-up: give the park back, so that the
                // next push (or the end) wakes the consumer instead.
                let _ = self.state.0.compare_exchange(
                    RUNNING,
                    PARKED,
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                );
            }
            resume_unwind(payload);
        }
        (taken, pushed)
    }

    /// How many slots are free (a snapshot: the consumer may free more meanwhile).
    pub fn free(&self) -> usize {
        self.ring.as_ref().map_or(0, ring::Tx::free)
    }

    /// True once the receiver [closed](Receiver::close) the hand-off.
    pub fn is_closed(&self) -> bool {
        self.state.0.load(Ordering::Acquire) == CLOSED
    }

    /// The ring, unless the hand-off is closed (then it lets go of it).
    #[inline]
    fn open_ring(&mut self) -> Option<&mut ring::Tx<T>> {
        if self.state.0.load(Ordering::Relaxed) == CLOSED {
            self.ring = None;
        }
        self.ring.as_mut()
    }

    /// After items were published: the Dekker check against a parking consumer.
    #[inline]
    fn published(&mut self) -> Pushed {
        // Publish (the ring's `Release` tail store, above), fence, then read the state;
        // the consumer's `park` does the mirror image. See the module documentation.
        fence(Ordering::SeqCst);
        match self.state.0.load(Ordering::Relaxed) {
            RUNNING => Pushed::Queued,
            PARKED => match self.state.0.compare_exchange(
                PARKED,
                RUNNING,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => Pushed::Wake,
                // The consumer took its park back (it saw the items), or closed.
                Err(CLOSED) => self.closed(),
                Err(_) => Pushed::Queued,
            },
            _ => self.closed(),
        }
    }

    /// The receiver closed while items were being pushed: it has drained the ring, or
    /// will see these items when it does; letting go of the ring frees any left over
    /// once the receiver has let go too.
    #[cold]
    fn closed(&mut self) -> Pushed {
        self.ring = None;
        Pushed::Closed
    }
}

/// Ends an iteration at a panic, keeping the payload: the items taken before it are
/// published by the caller, which then resumes the panic. (Costs nothing unless the
/// iterator panics.)
struct CatchPanic<'a, I> {
    items: &'a mut I,
    payload: Option<Box<dyn Any + Send>>,
}

impl<I: Iterator> Iterator for CatchPanic<'_, I> {
    type Item = I::Item;

    #[inline(always)]
    fn next(&mut self) -> Option<I::Item> {
        match catch_unwind(AssertUnwindSafe(|| self.items.next())) {
            Ok(item) => item,
            Err(payload) => {
                self.payload = Some(payload);
                None
            }
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("free", &self.free())
            .field("state", &self.state.0.load(Ordering::Relaxed))
            .finish()
    }
}

/// How many times, and for at least how long, the consumer looks again (one pause
/// between looks, then yields) before parking, while upstream owes it items. The owed items may
/// be a wake-up away (a producer thread that had run dry is woken by our request):
/// parking sooner would add our own wake-up to that on every batch.
///
/// The ring's tail is written once per pushed run, so looking at it costs nothing
/// until the producer publishes: the consumer looks after every pause (a pause can take
/// ~50 ns on a virtual machine, so a growing back-off would add microseconds of
/// latency to every hand-off), and yields early: on a loaded machine a consumer that
/// keeps its core spinning delays the producer it waits for (measured: spinning 6 us
/// before the first yield was ~1.5x slower than 0.4 us, spinning 50 us ~5x).
const SPIN_STEPS: u32 = 8;
const SPIN_TIME: Duration = Duration::from_micros(50);

/// From this many pauses on, items that stopped coming are taken as they are.
const STALL_STEP: u32 = 16;

/// The consuming end of a [`channel`] (one thread at a time: `&mut self`).
///
/// ```
/// use spillway_core::handoff::{channel, Pushed};
///
/// let (mut tx, mut rx) = channel(8);
/// assert_eq!(tx.push_iter(&mut (0..5), 5), (5, Pushed::Wake));
/// let mut run = rx.drain(3);
/// assert_eq!(run.next(), Some(0));
/// drop(run); // only the items taken leave the ring
/// assert_eq!(rx.len(), 4);
/// assert!(!rx.park()); // items are queued: it must go on
/// rx.close(); // releases them
/// assert!(rx.is_empty());
/// ```
pub struct Receiver<T> {
    /// `None` once closed.
    ring: Option<ring::Rx<T>>,
    state: Arc<State>,
}

impl<T> Receiver<T> {
    /// Takes the oldest item.
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        self.ring.as_mut()?.pop()
    }

    /// The queued items, oldest first, up to `max` (those queued now: the run does not
    /// wait for more). Only the items taken from the iterator leave the ring; their
    /// slots are freed at once when the run is dropped.
    #[inline]
    pub fn drain(&mut self, max: usize) -> Drain<'_, T> {
        Drain(self.ring.as_mut().map(|ring| ring.drain(max)))
    }

    /// True if nothing is queued.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many items are queued (a snapshot).
    #[inline]
    pub fn len(&self) -> usize {
        self.ring.as_ref().map_or(0, ring::Rx::len)
    }

    /// Waits a little (spins, then yields: some tens of microseconds at most) for a *run*
    /// of `target` items rather than for one, so that a consumer does not chase its
    /// producer item by item (each look at the ring moves its cache lines between the
    /// cores). True once `target` items are queued, or items that stopped coming, or when
    /// `stop` says so (an end, a cancel); false if the ring stayed empty. Reads only: no
    /// lock, no write.
    pub fn wait_for_run(&self, target: usize, stop: impl Fn() -> bool) -> bool {
        let mut seen = 0;
        let start = Instant::now();
        for step in 0.. {
            if step < SPIN_STEPS {
                std::hint::spin_loop();
            } else {
                if start.elapsed() >= SPIN_TIME {
                    break;
                }
                std::thread::yield_now();
            }
            if stop() {
                return true;
            }
            let len = self.len();
            // Items that stopped coming are taken only after the early, short pauses:
            // a producer between two pushes must not look stalled.
            if len >= target || (len > 0 && len == seen && step >= STALL_STEP) {
                return true;
            }
            seen = len;
        }
        !self.is_empty()
    }

    /// The consumer found the ring empty and wants to stop. True: it is parked (or the
    /// hand-off is closed) and may stop, a later push returns [`Pushed::Wake`] (or a
    /// wake-up was already claimed). False: items arrived meanwhile, it is running again
    /// and must pop them.
    pub fn park(&self) -> bool {
        match self
            .state
            .0
            .compare_exchange(RUNNING, PARKED, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) | Err(PARKED) => {}
            Err(_) => return true, // closed
        }
        fence(Ordering::SeqCst);
        if self.is_empty() {
            return true;
        }
        // Take the park back; if a producer swapped it first, its wake-up is on the way.
        self.state
            .0
            .compare_exchange(PARKED, RUNNING, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
    }

    /// Closes the hand-off and drops every queued item; later pushes drop theirs.
    pub fn close(&mut self) {
        self.state.0.swap(CLOSED, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if let Some(mut ring) = self.ring.take() {
            let mut run = ring.drain(usize::MAX);
            while let Some(item) = run.next() {
                drop(item);
            }
        }
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.state.0.load(Ordering::Acquire) == CLOSED
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .field("state", &self.state.0.load(Ordering::Relaxed))
            .finish()
    }
}

/// A run of queued items from [`Receiver::drain`]: an iterator that frees the slots of
/// the items it yielded when dropped.
///
/// ```
/// use spillway_core::handoff::channel;
///
/// let (mut tx, mut rx) = channel(4);
/// let _ = tx.push_iter(&mut (1..=4), 4);
/// assert_eq!(rx.drain(usize::MAX).sum::<u32>(), 10);
/// assert_eq!(tx.free(), 4);
/// ```
pub struct Drain<'a, T>(Option<ring::Run<'a, T>>);

impl<T> Iterator for Drain<'_, T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        self.0.as_mut()?.next()
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.as_ref().map_or((0, Some(0)), ring::Run::size_hint)
    }
}

impl<T> fmt::Debug for Drain<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Drain")
            .field("left", &self.size_hint().0)
            .finish()
    }
}

/// The ring: `rtrb`'s SPSC ring buffer, or for very large capacities crossbeam's linked
/// `SegQueue` (unbounded by itself; the caller's demand bounds it).
#[cfg(not(loom))]
mod ring {
    use crossbeam_queue::SegQueue;
    use std::sync::Arc;

    /// Rings up to this many bytes of slots are allocated at once; larger capacities use
    /// linked blocks allocated as needed.
    const MAX_ARRAY_BYTES: usize = 4 << 20;

    pub(super) enum Tx<T> {
        Spsc(rtrb::Producer<T>),
        Segments(Arc<SegQueue<T>>),
    }

    pub(super) enum Rx<T> {
        Spsc(rtrb::Consumer<T>),
        Segments(Arc<SegQueue<T>>),
    }

    pub(super) fn new<T>(capacity: usize) -> (Tx<T>, Rx<T>) {
        let slot = std::mem::size_of::<T>().max(1);
        if capacity.saturating_mul(slot) <= MAX_ARRAY_BYTES {
            let (tx, rx) = rtrb::RingBuffer::new(capacity);
            (Tx::Spsc(tx), Rx::Spsc(rx))
        } else {
            let q = Arc::new(SegQueue::new());
            (Tx::Segments(Arc::clone(&q)), Rx::Segments(q))
        }
    }

    impl<T> Tx<T> {
        #[inline]
        pub(super) fn push(&mut self, item: T) -> Result<(), T> {
            match self {
                Tx::Spsc(p) => p.push(item).map_err(|rtrb::PushError::Full(item)| item),
                Tx::Segments(q) => {
                    q.push(item);
                    Ok(())
                }
            }
        }

        /// Up to `max` items, published with one tail store.
        #[inline]
        pub(super) fn push_iter<I: Iterator<Item = T>>(
            &mut self,
            items: &mut I,
            max: usize,
        ) -> usize {
            match self {
                Tx::Spsc(p) => {
                    let chunk = match p.write_chunk_uninit(max) {
                        Ok(chunk) => chunk,
                        Err(rtrb::chunks::ChunkError::TooFewSlots(free)) => {
                            match p.write_chunk_uninit(free) {
                                Ok(chunk) => chunk,
                                Err(_) => return 0,
                            }
                        }
                    };
                    chunk.fill_from_iter(items)
                }
                Tx::Segments(q) => items.take(max).map(|item| q.push(item)).count(),
            }
        }

        pub(super) fn free(&self) -> usize {
            match self {
                Tx::Spsc(p) => p.slots(),
                Tx::Segments(_) => usize::MAX,
            }
        }
    }

    impl<T> Rx<T> {
        #[inline]
        pub(super) fn pop(&mut self) -> Option<T> {
            match self {
                Rx::Spsc(c) => c.pop().ok(),
                Rx::Segments(q) => q.pop(),
            }
        }

        #[inline]
        pub(super) fn len(&self) -> usize {
            match self {
                Rx::Spsc(c) => c.slots(),
                Rx::Segments(q) => q.len(),
            }
        }

        #[inline]
        pub(super) fn drain(&mut self, max: usize) -> Run<'_, T> {
            match self {
                Rx::Spsc(c) => {
                    let n = max.min(c.slots());
                    match c.read_chunk(n) {
                        Ok(chunk) => Run::Chunk(chunk.into_iter()),
                        Err(_) => Run::Empty,
                    }
                }
                Rx::Segments(q) => Run::Queue { q, left: max },
            }
        }
    }

    pub(super) enum Run<'a, T> {
        Chunk(rtrb::chunks::ReadChunkIntoIter<'a, T>),
        Queue { q: &'a SegQueue<T>, left: usize },
        Empty,
    }

    impl<T> Run<'_, T> {
        #[inline]
        pub(super) fn next(&mut self) -> Option<T> {
            match self {
                Run::Chunk(it) => it.next(),
                Run::Queue { q, left } => {
                    if *left == 0 {
                        return None;
                    }
                    let item = q.pop()?;
                    *left -= 1;
                    Some(item)
                }
                Run::Empty => None,
            }
        }

        pub(super) fn size_hint(&self) -> (usize, Option<usize>) {
            match self {
                Run::Chunk(it) => it.size_hint(),
                Run::Queue { left, .. } => (0, Some(*left)),
                Run::Empty => (0, Some(0)),
            }
        }
    }
}

/// The model's ring: an SPSC ring with the index protocol and orderings of `rtrb` (each
/// side caches the other's index and reloads it `Acquire` only when the cached copy says
/// full / empty; a run is published with one `Release` store of the tail, and freed
/// with one `Release` store of the head). The slots hold their items behind locks,
/// since this crate has no `unsafe`; a slot that the indices say is filled but holds
/// nothing fails the model.
#[cfg(loom)]
mod ring {
    use crate::sync::atomic::{AtomicUsize, Ordering};
    use crate::sync::{lock, Mutex};
    use std::sync::Arc;

    struct Shared<T> {
        slots: Box<[Mutex<Option<T>>]>,
        head: AtomicUsize,
        tail: AtomicUsize,
    }

    pub(super) struct Tx<T> {
        ring: Arc<Shared<T>>,
        tail: usize,
        cached_head: usize,
    }

    pub(super) struct Rx<T> {
        ring: Arc<Shared<T>>,
        head: usize,
        cached_tail: usize,
    }

    pub(super) fn new<T>(capacity: usize) -> (Tx<T>, Rx<T>) {
        let ring = Arc::new(Shared {
            slots: (0..capacity).map(|_| Mutex::new(None)).collect(),
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
        });
        (
            Tx {
                ring: Arc::clone(&ring),
                tail: 0,
                cached_head: 0,
            },
            Rx {
                ring,
                head: 0,
                cached_tail: 0,
            },
        )
    }

    impl<T> Tx<T> {
        fn cap(&self) -> usize {
            self.ring.slots.len()
        }

        pub(super) fn push(&mut self, item: T) -> Result<(), T> {
            let mut item = Some(item);
            let mut one = std::iter::from_fn(|| item.take());
            if self.push_iter(&mut one, 1) == 1 {
                Ok(())
            } else {
                Err(one.next().expect("not taken"))
            }
        }

        pub(super) fn push_iter<I: Iterator<Item = T>>(
            &mut self,
            items: &mut I,
            max: usize,
        ) -> usize {
            let cap = self.cap();
            if cap - (self.tail - self.cached_head) < max {
                self.cached_head = self.ring.head.load(Ordering::Acquire);
            }
            let n = max.min(cap - (self.tail - self.cached_head));
            let mut taken = 0;
            while taken < n {
                let Some(item) = items.next() else { break };
                let mut slot = lock(&self.ring.slots[(self.tail + taken) % cap]);
                assert!(slot.is_none(), "overwrote a queued item");
                *slot = Some(item);
                taken += 1;
            }
            if taken > 0 {
                self.tail += taken;
                self.ring.tail.store(self.tail, Ordering::Release);
            }
            taken
        }

        pub(super) fn free(&self) -> usize {
            self.cap() - (self.tail - self.ring.head.load(Ordering::Acquire))
        }
    }

    impl<T> Rx<T> {
        pub(super) fn pop(&mut self) -> Option<T> {
            self.drain(1).next()
        }

        pub(super) fn len(&self) -> usize {
            self.ring.tail.load(Ordering::Acquire) - self.head
        }

        pub(super) fn drain(&mut self, max: usize) -> Run<'_, T> {
            if self.cached_tail - self.head < max {
                self.cached_tail = self.ring.tail.load(Ordering::Acquire);
            }
            let left = max.min(self.cached_tail - self.head);
            Run {
                rx: self,
                left,
                taken: 0,
            }
        }
    }

    pub(super) struct Run<'a, T> {
        rx: &'a mut Rx<T>,
        left: usize,
        taken: usize,
    }

    impl<T> Run<'_, T> {
        pub(super) fn next(&mut self) -> Option<T> {
            if self.left == 0 {
                return None;
            }
            let cap = self.rx.ring.slots.len();
            let index = (self.rx.head + self.taken) % cap;
            let item = lock(&self.rx.ring.slots[index]).take();
            assert!(item.is_some(), "read a slot before its item was visible");
            self.left -= 1;
            self.taken += 1;
            item
        }

        pub(super) fn size_hint(&self) -> (usize, Option<usize>) {
            (self.left, Some(self.left))
        }
    }

    impl<T> Drop for Run<'_, T> {
        fn drop(&mut self) {
            if self.taken > 0 {
                self.rx.head += self.taken;
                self.rx.ring.head.store(self.rx.head, Ordering::Release);
            }
        }
    }
}
