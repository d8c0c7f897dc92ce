//! Live statistics of the lossy and buffering operators, and the reasons items are dropped.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Why an operator dropped an item. Every dropped item is counted under one reason and
/// handed to the operator's `on_drop` callback, if one was set.
///
/// # A panic in `on_drop`
/// `on_drop` is user code: a panic in it never unwinds into whoever caused the drop (the
/// producer's `on_next`/`on_error`, `subscribe`, downstream's `request` or `cancel`, a
/// timer, [`BufferRelease::release`](crate::BufferRelease::release),
/// [`Budget::emergency_stop`](crate::Budget::emergency_stop)). The callback is not called
/// again afterwards (later drops are only counted), and every item is counted as dropped
/// all the same, so the statistics stay balanced. What happens next depends on why the
/// item was dropped:
///
/// * while the stage runs (an overflow policy, no demand, superseded, throttled, shed,
///   released): the stage fails as for any panic in user code: it cancels upstream,
///   discards what it holds (as `Discarded`) and sends
///   [`Error::Panicked`](spillway_core::Error::Panicked) naming itself, at once;
/// * because downstream cancelled, or for an item arriving after the end (an upstream
///   ignoring the cancel): nobody is left to tell, the panic is caught and ignored;
/// * because the stage is failing already (an overflow, a protocol violation, an emergency
///   stop, an earlier panic): that first failure is what downstream receives;
/// * because upstream failed (the partial batch of `chunks`, the held item of
///   `on_backpressure_latest` or `sample`, ...), or while upstream's error waits behind
///   buffered items: **upstream's error wins**, delivered as it would have been. It is
///   the cause (the callback ran only because of it), upstream has nothing left to
///   cancel, and downstream's error handling (`retry_when`, `on_error_resume`,
///   `on_error_return`, `map_error`) decides on it: replacing it with `Panicked` would
///   change what they do. It is never lost, nor held back: it is signalled in the same
///   call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum DropReason {
    /// The buffer was full and the policy drops the incoming item.
    BufferFull,
    /// The buffer was full and the policy evicted the oldest buffered item.
    Evicted,
    /// The buffer was full and the policy cleared it.
    BufferCleared,
    /// A newer item replaced this one before downstream asked for it.
    Superseded,
    /// Downstream had no demand when the item arrived.
    NoDemand,
    /// A rate or time-based stage let another item through instead of this one.
    Throttled,
    /// A load-shedding stage refused it.
    Shed,
    /// It was buffered when the pipeline failed or was cancelled.
    Discarded,
}

impl DropReason {
    /// Every reason, in a fixed order (the order of [`FlowSnapshot::dropped_by`]).
    pub const ALL: [DropReason; 8] = [
        DropReason::BufferFull,
        DropReason::Evicted,
        DropReason::BufferCleared,
        DropReason::Superseded,
        DropReason::NoDemand,
        DropReason::Throttled,
        DropReason::Shed,
        DropReason::Discarded,
    ];

    /// The position of this reason in [`DropReason::ALL`] (a match, not a search: it is
    /// on the per-item path of every dropping stage).
    #[inline]
    pub(crate) fn index(self) -> usize {
        match self {
            DropReason::BufferFull => 0,
            DropReason::Evicted => 1,
            DropReason::BufferCleared => 2,
            DropReason::Superseded => 3,
            DropReason::NoDemand => 4,
            DropReason::Throttled => 5,
            DropReason::Shed => 6,
            DropReason::Discarded => 7,
        }
    }
}

impl DropReason {
    /// The reason in snake_case, as serialised and as the `reason` label of the metrics.
    #[cfg(any(feature = "tracing", feature = "metrics"))]
    pub(crate) fn name(self) -> &'static str {
        match self {
            DropReason::BufferFull => "buffer_full",
            DropReason::Evicted => "evicted",
            DropReason::BufferCleared => "buffer_cleared",
            DropReason::Superseded => "superseded",
            DropReason::NoDemand => "no_demand",
            DropReason::Throttled => "throttled",
            DropReason::Shed => "shed",
            DropReason::Discarded => "discarded",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            DropReason::BufferFull => "buffer full",
            DropReason::Evicted => "evicted",
            DropReason::BufferCleared => "buffer cleared",
            DropReason::Superseded => "superseded",
            DropReason::NoDemand => "no demand",
            DropReason::Throttled => "throttled",
            DropReason::Shed => "shed",
            DropReason::Discarded => "discarded",
        };
        f.write_str(s)
    }
}

#[derive(Default)]
struct Counters {
    received: AtomicU64,
    emitted: AtomicU64,
    merged: AtomicU64,
    dropped: [AtomicU64; 8],
    paused: AtomicU64,
    buffered: AtomicU64,
    peak: AtomicU64,
    capacity: AtomicU64,
    /// Where the stage reports when it runs in a named pipeline (the first one it ran in).
    #[cfg(any(feature = "tracing", feature = "metrics"))]
    observer: std::sync::OnceLock<Arc<crate::observe::Observer>>,
}

/// Runs `$body` with the observer of `$stats` bound to `$o`, if the stage runs in a named
/// pipeline; nothing at all without the `tracing` and `metrics` features.
macro_rules! observe {
    ($stats:expr, |$o:ident| $body:expr) => {
        #[cfg(any(feature = "tracing", feature = "metrics"))]
        {
            if let Some($o) = $stats.counters.observer.get() {
                $body;
            }
        }
    };
}

/// A live view of an operator's counters, cheap to clone and readable from any thread
/// while the pipeline runs (the seed document's `getStats()`).
///
/// Invariant, at any quiescent moment: `received = emitted + dropped + merged + buffered`
/// (`merged` is non-zero only for the merging operators, such as `on_backpressure_reduce`).
///
/// The counters are independent relaxed atomics: a snapshot taken while items are in
/// flight may see one counter already updated and another not yet (for the buffering
/// stages, an item counted as received whose drop is not counted yet, or the counts of
/// the item a thread is handling right now), so it balances only once the stage is
/// quiescent. The buffering stages count under the lock they already hold and publish
/// with plain stores, one writer per counter.
///
/// # Examples
/// ```
/// use spillway_operators::{DropReason, FlowStats};
/// let stats = FlowStats::new(10);
/// stats.record_received();
/// stats.record_dropped(DropReason::NoDemand);
/// let s = stats.snapshot();
/// assert_eq!((s.received, s.dropped()), (1, 1));
/// assert!(s.is_balanced());
/// ```
#[derive(Clone, Default)]
pub struct FlowStats {
    counters: Arc<Counters>,
}

/// The counters of a [`FlowStats`] at one moment.
///
/// With the `serde` feature it serialises as a flat record, `dropped_by` as a map from
/// the reason (`"buffer_full"`, `"no_demand"`, ...) to its count, ready for a `/stats`
/// endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FlowSnapshot {
    /// Items taken from upstream.
    pub received: u64,
    /// Items sent downstream.
    pub emitted: u64,
    /// Items dropped, by reason, in the order of [`DropReason::ALL`].
    #[cfg_attr(feature = "serde", serde(serialize_with = "serialize_dropped_by"))]
    pub dropped_by: [u64; 8],
    /// Items merged into a held item instead of being delivered on their own (merging
    /// operators only): nothing is lost, but they are not emitted one by one either.
    pub merged: u64,
    /// How many times the operator stopped requesting from upstream (reached its high
    /// watermark).
    pub paused: u64,
    /// Items held now.
    pub buffered: u64,
    /// The most items held at once.
    pub peak_buffered: u64,
    /// The capacity, if the operator has one (0 if not).
    pub capacity: u64,
}

/// `dropped_by` as `{ "buffer_full": n, ... }`, every reason present.
#[cfg(feature = "serde")]
fn serialize_dropped_by<S: serde::Serializer>(counts: &[u64; 8], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(counts.len()))?;
    for (reason, n) in DropReason::ALL.iter().zip(counts) {
        map.serialize_entry(reason, n)?;
    }
    map.end()
}

impl FlowSnapshot {
    /// All dropped items.
    pub fn dropped(&self) -> u64 {
        self.dropped_by.iter().sum()
    }

    /// Items dropped for `reason`.
    pub fn dropped_for(&self, reason: DropReason) -> u64 {
        self.dropped_by[reason.index()]
    }

    /// Buffer utilisation from 0.0 (empty) to 1.0 (full); 0.0 without a capacity.
    pub fn pressure(&self) -> f64 {
        if self.capacity == 0 {
            return 0.0;
        }
        (self.buffered as f64 / self.capacity as f64).min(1.0)
    }

    /// True when `received = emitted + dropped + merged + buffered`: nothing vanished
    /// unseen.
    pub fn is_balanced(&self) -> bool {
        self.received == self.emitted + self.dropped() + self.merged + self.buffered
    }
}

impl FlowStats {
    /// Counters for an operator holding at most `capacity` items (0: no buffer).
    pub fn new(capacity: usize) -> FlowStats {
        let stats = FlowStats::default();
        stats
            .counters
            .capacity
            .store(capacity as u64, Ordering::Relaxed);
        stats
    }

    /// Reads all counters.
    pub fn snapshot(&self) -> FlowSnapshot {
        let c = &self.counters;
        let mut dropped_by = [0; 8];
        for (slot, counter) in dropped_by.iter_mut().zip(&c.dropped) {
            *slot = counter.load(Ordering::Relaxed);
        }
        FlowSnapshot {
            received: c.received.load(Ordering::Relaxed),
            emitted: c.emitted.load(Ordering::Relaxed),
            dropped_by,
            merged: c.merged.load(Ordering::Relaxed),
            paused: c.paused.load(Ordering::Relaxed),
            buffered: c.buffered.load(Ordering::Relaxed),
            peak_buffered: c.peak.load(Ordering::Relaxed),
            capacity: c.capacity.load(Ordering::Relaxed),
        }
    }

    /// Counts one item taken from upstream.
    pub fn record_received(&self) {
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        observe!(self, |o| o.received(1));
    }

    /// Counts `n` items sent downstream.
    pub fn record_emitted(&self, n: u64) {
        self.counters.emitted.fetch_add(n, Ordering::Relaxed);
        observe!(self, |o| o.emitted(n));
    }

    /// Counts one item merged into a held item.
    pub fn record_merged(&self) {
        self.counters.merged.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one dropped item.
    pub fn record_dropped(&self, reason: DropReason) {
        self.counters.dropped[reason.index()].fetch_add(1, Ordering::Relaxed);
        observe!(self, |o| o.dropped(self, reason, None));
    }

    /// Counts one pause of upstream.
    pub fn record_paused(&self) {
        self.counters.paused.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets the number of items held now (and the peak).
    pub fn set_buffered(&self, n: usize) {
        let n = n as u64;
        self.counters.buffered.store(n, Ordering::Relaxed);
        self.counters.peak.fetch_max(n, Ordering::Relaxed);
        observe!(self, |o| o
            .buffered(n, self.counters.capacity.load(Ordering::Relaxed)));
    }

    /// The observer of the named pipeline this stage runs in, if any.
    #[cfg(feature = "tracing")]
    #[inline]
    pub(crate) fn observer(&self) -> Option<&Arc<crate::observe::Observer>> {
        self.counters.observer.get()
    }

    /// The observer installed, installing the one `make` builds if there is none yet (the
    /// first named pipeline a stage runs in keeps it).
    #[cfg(any(feature = "tracing", feature = "metrics"))]
    pub(crate) fn observe_with(
        &self,
        make: impl FnOnce() -> Arc<crate::observe::Observer>,
    ) -> Arc<crate::observe::Observer> {
        Arc::clone(self.counters.observer.get_or_init(make))
    }

    /// The counters a single-writer stage keeps itself (see [`LocalCounts`]), starting
    /// from their current values.
    pub(crate) fn local_counts(&self) -> LocalCounts {
        let c = &self.counters;
        let mut dropped = [0; 8];
        for (slot, counter) in dropped.iter_mut().zip(&c.dropped) {
            *slot = counter.load(Ordering::Relaxed);
        }
        LocalCounts {
            received: c.received.load(Ordering::Relaxed),
            emitted: c.emitted.load(Ordering::Relaxed),
            peak: c.peak.load(Ordering::Relaxed),
            dropped,
        }
    }
}

/// `received`, `emitted`, `dropped` and the peak of a stage that is the only writer of these
/// counters and updates them under its own lock: it counts here and publishes the new
/// value with a plain store, not a read-modify-write on a line shared with the other
/// side of the stage. Readers see exactly what they would with `record_*` (relaxed
/// counters, balanced once quiescent).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LocalCounts {
    received: u64,
    emitted: u64,
    peak: u64,
    /// Only for the stages that count their drops here too (never mixed with
    /// [`FlowStats::record_dropped`] on the same stats).
    dropped: [u64; 8],
}

impl LocalCounts {
    /// Counts one item taken from upstream.
    #[inline]
    pub(crate) fn received(&mut self, stats: &FlowStats) {
        self.received += 1;
        stats
            .counters
            .received
            .store(self.received, Ordering::Relaxed);
        observe!(stats, |o| o.received_total(self.received));
    }

    /// Counts `n` items taken from upstream at once (a fused batch).
    #[inline]
    pub(crate) fn received_n(&mut self, stats: &FlowStats, n: u64) {
        self.received += n;
        stats
            .counters
            .received
            .store(self.received, Ordering::Relaxed);
        observe!(stats, |o| o.received_total(self.received));
    }

    /// Counts `n` items handed downstream at once (a fused batch); `n` may be negative for
    /// items handed out and given back unused.
    #[inline]
    pub(crate) fn emitted_n(&mut self, stats: &FlowStats, n: i64) {
        self.emitted = self.emitted.wrapping_add_signed(n);
        stats
            .counters
            .emitted
            .store(self.emitted, Ordering::Relaxed);
        observe!(stats, |o| o.emitted_total(self.emitted));
    }

    /// Counts one item sent downstream.
    #[inline]
    pub(crate) fn emitted(&mut self, stats: &FlowStats) {
        self.emitted += 1;
        stats
            .counters
            .emitted
            .store(self.emitted, Ordering::Relaxed);
        observe!(stats, |o| o.emitted_total(self.emitted));
    }

    /// Counts one dropped item (for a stage that counts all its drops here).
    #[inline]
    pub(crate) fn dropped(&mut self, stats: &FlowStats, reason: DropReason) {
        let i = reason.index();
        self.dropped[i] += 1;
        stats.counters.dropped[i].store(self.dropped[i], Ordering::Relaxed);
        observe!(stats, |o| o.dropped(stats, reason, Some(self.dropped[i])));
    }

    /// Sets the number of items held now (and the peak, stored only when it grows).
    #[inline]
    pub(crate) fn buffered(&mut self, stats: &FlowStats, n: usize) {
        let n = n as u64;
        stats.counters.buffered.store(n, Ordering::Relaxed);
        if n > self.peak {
            self.peak = n;
            stats.counters.peak.store(n, Ordering::Relaxed);
        }
        observe!(stats, |o| o
            .buffered(n, stats.counters.capacity.load(Ordering::Relaxed)));
    }
}

impl fmt::Debug for FlowStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.snapshot().fmt(f)
    }
}

impl fmt::Display for FlowSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "received {} emitted {} dropped {} buffered {} (peak {}, pressure {:.0}%) paused {}",
            self.received,
            self.emitted,
            self.dropped(),
            self.buffered,
            self.peak_buffered,
            self.pressure() * 100.0,
            self.paused
        )
    }
}

/// The callback that receives each dropped item with its reason.
pub(crate) type OnDrop<T> = Arc<dyn Fn(T, DropReason) + Send + Sync>;
