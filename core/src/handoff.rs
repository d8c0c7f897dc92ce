//! [`Handoff`]: a bounded, lock-free queue between threads, with a parking protocol for
//! its consumer, for operators that move items from one execution context to another
//! (`publish_on`).
//!
//! # The protocol
//! Producers [`push`](Handoff::push) without a lock: one slot write in a ring
//! (crossbeam's `ArrayQueue`) and one read of the consumer's state. The consumer
//! [`pop`](Handoff::pop)s, also without a lock, and drains as much as it likes per
//! wake-up. When it finds the ring empty it [`park`](Handoff::park)s: from then on the
//! first push returns [`Pushed::Wake`], and only that one: its caller schedules the
//! consumer. A busy consumer therefore costs the producer no wake-up, no lock and no
//! system call.
//!
//! No wake-up is lost (the Dekker pattern): the producer makes its item visible, then
//! reads the state; the consumer writes `PARKED`, then looks at the ring again. All four
//! accesses are `SeqCst`: crossbeam-queue 0.3 moves the ring's tail with a `SeqCst`
//! compare-and-swap and reads it `SeqCst` in `is_empty`/`len` (checked in its source;
//! the loom model's ring does the same), the state is read, and swapped, `SeqCst`. In
//! the single total order of `SeqCst` operations one of the two sides comes first, so
//! either the producer sees `PARKED` (and claims the wake-up by swapping it back to
//! `RUNNING`), or the consumer sees the item (and takes its park back, unless a producer
//! already claimed it: then the wake-up is on its way and the consumer stops anyway).
//! Exactly one side goes on.
//!
//! [`close`](Handoff::close) (cancellation, termination) releases the queued items and
//! makes later pushes drop theirs, with the same pattern: a push that raced with `close`
//! finds `CLOSED` after its own push and drops what is left.
//!
//! The protocol is model-checked with loom in `core/tests/loom_handoff.rs`; under
//! `--cfg loom` the ring is a lock-protected queue with a `SeqCst` length counter (loom
//! cannot see into crossbeam), the state and fences are loom's.

use std::fmt;

use crate::sync::atomic::{fence, AtomicU8, Ordering};

/// The consumer is draining (or about to): pushes need not wake it.
const RUNNING: u8 = 0;
/// The consumer found the ring empty and stopped: the next push wakes it.
const PARKED: u8 = 1;
/// Nobody will pop again: pushes drop their items.
const CLOSED: u8 = 2;

/// What a successful [`Handoff::push`] asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a `Wake` must be acted upon, or the consumer is never scheduled"]
pub enum Pushed {
    /// Queued; the consumer is running and will see it.
    Queued,
    /// Queued, and the consumer had parked: the caller must schedule it.
    Wake,
    /// The hand-off was closed: the item was dropped.
    Closed,
}

/// A bounded multi-producer, single-consumer hand-off queue with a park / wake-up
/// protocol: see the [module documentation](self).
///
/// ```
/// use spillway_core::handoff::{Handoff, Pushed};
///
/// let h = Handoff::new(4);
/// assert_eq!(h.push(1), Ok(Pushed::Wake)); // it starts parked
/// assert_eq!(h.push(2), Ok(Pushed::Queued));
/// assert_eq!((h.pop(), h.pop(), h.pop()), (Some(1), Some(2), None));
/// assert!(h.park()); // empty: parked, the next push wakes
/// assert_eq!(h.push(3), Ok(Pushed::Wake));
/// h.close();
/// assert_eq!(h.push(4), Ok(Pushed::Closed));
/// assert_eq!(h.pop(), None);
/// ```
pub struct Handoff<T> {
    ring: Ring<T>,
    /// Its own cache line: producers read it on every push, and the ring's indices are
    /// written all the time.
    state: Padded<AtomicU8>,
}

#[repr(align(128))]
struct Padded<T>(T);

impl<T> Handoff<T> {
    /// A hand-off for at most `capacity` queued items (at least 1), with its consumer
    /// parked: the first push returns [`Pushed::Wake`]. Capacities up to a few MiB of
    /// slots are allocated at once; larger ones grow as needed (still bounded by
    /// `capacity`, which the caller enforces by its demand).
    pub fn new(capacity: usize) -> Handoff<T> {
        Handoff {
            ring: Ring::new(capacity.max(1)),
            state: Padded(AtomicU8::new(PARKED)),
        }
    }

    /// Queues `item` (any thread). `Err(item)` if the ring is full, which a producer
    /// that only sends what the consumer asked for never sees (very large capacities
    /// are not checked here: the caller's demand bounds them).
    #[inline]
    pub fn push(&self, item: T) -> Result<Pushed, T> {
        if self.state.0.load(Ordering::Relaxed) == CLOSED {
            drop(item);
            return Ok(Pushed::Closed);
        }
        // The push publishes the item with a `SeqCst` read-modify-write of the ring's
        // tail, and the state is read `SeqCst` after it: no fence is needed (see the
        // module documentation), which saves an `mfence` (~5 ns) per item on x86.
        self.ring.push(item)?;
        match self.state.0.load(Ordering::SeqCst) {
            RUNNING => Ok(Pushed::Queued),
            PARKED => match self.state.0.compare_exchange(
                PARKED,
                RUNNING,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => Ok(Pushed::Wake),
                // The consumer took its park back (it saw the item), or closed.
                Err(CLOSED) => Ok(self.drop_all()),
                Err(_) => Ok(Pushed::Queued),
            },
            _ => Ok(self.drop_all()),
        }
    }

    /// Takes the oldest item (the consumer).
    #[inline]
    pub fn pop(&self) -> Option<T> {
        self.ring.pop()
    }

    /// True if nothing is queued.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// How many items are queued (a snapshot).
    pub fn len(&self) -> usize {
        self.ring.len()
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
        if self.ring.is_empty() {
            return true;
        }
        // Take the park back; if a producer swapped it first, its wake-up is on the way.
        self.state
            .0
            .compare_exchange(PARKED, RUNNING, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
    }

    /// Closes the hand-off and drops every queued item; later pushes drop theirs.
    pub fn close(&self) {
        self.state.0.swap(CLOSED, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let _ = self.drop_all();
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.state.0.load(Ordering::Acquire) == CLOSED
    }

    fn drop_all(&self) -> Pushed {
        while let Some(item) = self.ring.pop() {
            drop(item);
        }
        Pushed::Closed
    }
}

impl<T> fmt::Debug for Handoff<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handoff")
            .field("len", &self.ring.len())
            .field("state", &self.state.0.load(Ordering::Relaxed))
            .finish()
    }
}

/// Rings up to this many bytes of slots are allocated at once (`ArrayQueue`); larger
/// capacities use linked blocks allocated as needed (`SegQueue`).
#[cfg(not(loom))]
const MAX_ARRAY_BYTES: usize = 4 << 20;

#[cfg(not(loom))]
enum Ring<T> {
    Array(crossbeam_queue::ArrayQueue<T>),
    /// Unbounded by itself: the bound is the caller's (its demand).
    Segments(crossbeam_queue::SegQueue<T>),
}

#[cfg(not(loom))]
impl<T> Ring<T> {
    fn new(capacity: usize) -> Ring<T> {
        let slot = std::mem::size_of::<T>() + std::mem::size_of::<usize>();
        if capacity.saturating_mul(slot) <= MAX_ARRAY_BYTES {
            Ring::Array(crossbeam_queue::ArrayQueue::new(capacity))
        } else {
            Ring::Segments(crossbeam_queue::SegQueue::new())
        }
    }

    #[inline]
    fn push(&self, item: T) -> Result<(), T> {
        match self {
            Ring::Array(q) => q.push(item),
            Ring::Segments(q) => {
                q.push(item);
                Ok(())
            }
        }
    }

    #[inline]
    fn pop(&self) -> Option<T> {
        match self {
            Ring::Array(q) => q.pop(),
            Ring::Segments(q) => q.pop(),
        }
    }

    #[inline]
    fn is_empty(&self) -> bool {
        match self {
            Ring::Array(q) => q.is_empty(),
            Ring::Segments(q) => q.is_empty(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Ring::Array(q) => q.len(),
            Ring::Segments(q) => q.len(),
        }
    }
}

/// The model's ring: a linearizable bounded queue whose emptiness is read through a
/// `SeqCst` counter, as `ArrayQueue::is_empty` reads its indices.
#[cfg(loom)]
struct Ring<T> {
    items: crate::sync::Mutex<std::collections::VecDeque<T>>,
    len: crate::sync::atomic::AtomicUsize,
    capacity: usize,
}

#[cfg(loom)]
impl<T> Ring<T> {
    fn new(capacity: usize) -> Ring<T> {
        Ring {
            items: crate::sync::Mutex::new(std::collections::VecDeque::new()),
            len: crate::sync::atomic::AtomicUsize::new(0),
            capacity,
        }
    }

    fn push(&self, item: T) -> Result<(), T> {
        let mut items = crate::sync::lock(&self.items);
        if items.len() >= self.capacity {
            return Err(item);
        }
        items.push_back(item);
        self.len.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn pop(&self) -> Option<T> {
        let mut items = crate::sync::lock(&self.items);
        let item = items.pop_front();
        if item.is_some() {
            self.len.fetch_sub(1, Ordering::SeqCst);
        }
        item
    }

    fn is_empty(&self) -> bool {
        self.len.load(Ordering::SeqCst) == 0
    }

    fn len(&self) -> usize {
        self.len.load(Ordering::SeqCst)
    }
}
