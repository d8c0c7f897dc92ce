//! Demand arithmetic: the one place where `request(n)` amounts are added and consumed.
//!
//! Rule 3.8 says demand is additive, rule 3.17 that it may reach `u64::MAX`, which
//! Spillway treats as *unbounded*: once reached it is sticky and never counts down.

use crate::sync::atomic::{AtomicU64, Ordering};

/// Outstanding demand: how many items a subscriber has requested and not yet received.
///
/// `Demand::UNBOUNDED` (`u64::MAX`) means "send everything"; adding saturates at it and
/// [`Demand::produced`] never moves it.
///
/// # Examples
/// ```
/// use spillway_core::Demand;
/// let d = Demand::ZERO.add(3).add(u64::MAX);
/// assert!(d.is_unbounded());
/// assert_eq!(Demand::new(5).produced(2), Demand::new(3));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Demand(u64);

impl Demand {
    /// No outstanding demand.
    pub const ZERO: Demand = Demand(0);
    /// Unbounded demand (rule 3.17): never decremented.
    pub const UNBOUNDED: Demand = Demand(u64::MAX);

    /// Demand of exactly `n` items (`u64::MAX` is unbounded).
    pub const fn new(n: u64) -> Demand {
        Demand(n)
    }

    /// The raw count; `u64::MAX` for unbounded.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// True when nothing is outstanding.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// True when demand is unbounded.
    pub const fn is_unbounded(self) -> bool {
        self.0 == u64::MAX
    }

    /// Adds `n`, saturating at unbounded.
    #[must_use]
    pub const fn add(self, n: u64) -> Demand {
        Demand(self.0.saturating_add(n))
    }

    /// Subtracts `n` items that were delivered. Unbounded stays unbounded; the result
    /// never goes below zero.
    #[must_use]
    pub const fn produced(self, n: u64) -> Demand {
        if self.0 == u64::MAX {
            return self;
        }
        Demand(self.0.saturating_sub(n))
    }

    /// `self * factor`, saturating: the upstream demand of a stage that turns `factor`
    /// upstream items into one downstream item (batching).
    #[must_use]
    pub const fn multiply(self, factor: u64) -> Demand {
        Demand(self.0.saturating_mul(factor))
    }
}

impl From<u64> for Demand {
    fn from(n: u64) -> Demand {
        Demand(n)
    }
}

/// After how many delivered items a stage that keeps `prefetch` items requested asks for
/// more: 75% of `prefetch` (at least one), the threshold of Reactor's `prefetch` and
/// `limitRate`. Requesting in such batches, rather than one per item, keeps requests off
/// the per-item path while upstream never runs dry.
///
/// ```
/// use spillway_core::demand::replenish_threshold;
/// assert_eq!(replenish_threshold(256), 192);
/// assert_eq!(replenish_threshold(1), 1);
/// assert_eq!(replenish_threshold(0), 1);
/// ```
pub const fn replenish_threshold(prefetch: u64) -> u64 {
    let threshold = prefetch - prefetch / 4;
    if threshold == 0 {
        1
    } else {
        threshold
    }
}

/// The credit of a single-threaded consumer that keeps up to `prefetch` items requested
/// from its upstream and asks for more in batches of [`replenish_threshold`]: it
/// requests `prefetch` first, counts what arrives against what is outstanding (an item
/// beyond it is a protocol violation) and, as items are consumed, says when and how much
/// to request again.
///
/// ```
/// use spillway_core::demand::Prefetch;
/// let mut credit = Prefetch::new(8);
/// assert_eq!(credit.initial(), 8);
/// let asked: Vec<u64> = (0..8).map(|_| { assert!(credit.received()); credit.consumed() }).collect();
/// assert_eq!(asked, [0, 0, 0, 0, 0, 6, 0, 0]); // 6 more after 6 consumed
/// assert_eq!(credit.outstanding(), 6);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Prefetch {
    prefetch: u64,
    threshold: u64,
    consumed: u64,
    outstanding: u64,
}

impl Prefetch {
    /// Credit for `prefetch` items (0 is taken as 1).
    pub const fn new(prefetch: u64) -> Prefetch {
        let prefetch = if prefetch == 0 { 1 } else { prefetch };
        Prefetch {
            prefetch,
            threshold: replenish_threshold(prefetch),
            consumed: 0,
            outstanding: 0,
        }
    }

    /// The first request: `prefetch` items, now outstanding.
    pub fn initial(&mut self) -> u64 {
        self.outstanding += self.prefetch;
        self.prefetch
    }

    /// An item arrived; false if none was outstanding (upstream broke rule 1.1).
    pub fn received(&mut self) -> bool {
        if self.outstanding == 0 {
            return false;
        }
        self.outstanding -= 1;
        true
    }

    /// An item was consumed; returns how many to request now: 0, or the threshold once
    /// that many were consumed since the last request.
    pub fn consumed(&mut self) -> u64 {
        self.consumed += 1;
        if self.consumed < self.threshold {
            return 0;
        }
        let n = std::mem::take(&mut self.consumed);
        self.outstanding += n;
        n
    }

    /// Items requested and not yet arrived.
    pub fn outstanding(&self) -> u64 {
        self.outstanding
    }
}

/// A demand counter shared between threads: `request` adds from any thread, the
/// drain loop subtracts what it delivered once per pass.
#[derive(Debug, Default)]
pub struct AtomicDemand(AtomicU64);

impl AtomicDemand {
    /// A counter starting at zero.
    pub fn new() -> AtomicDemand {
        AtomicDemand(AtomicU64::new(0))
    }

    /// Adds `n` (saturating at unbounded) and returns the demand **before** the add:
    /// a caller that sees zero moved the counter from idle and usually owns the drain.
    pub fn add(&self, n: u64) -> Demand {
        let mut current = self.0.load(Ordering::Acquire);
        loop {
            if current == u64::MAX {
                return Demand::UNBOUNDED;
            }
            let next = current.saturating_add(n);
            match self
                .0
                .compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(previous) => return Demand(previous),
                Err(actual) => current = actual,
            }
        }
    }

    /// Subtracts `n` delivered items (never below zero, never from unbounded) and returns
    /// the demand left.
    pub fn produced(&self, n: u64) -> Demand {
        if n == 0 {
            return self.get();
        }
        let mut current = self.0.load(Ordering::Acquire);
        loop {
            if current == u64::MAX {
                return Demand::UNBOUNDED;
            }
            let next = current.saturating_sub(n);
            match self
                .0
                .compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Demand(next),
                Err(actual) => current = actual,
            }
        }
    }

    /// The current outstanding demand.
    pub fn get(&self) -> Demand {
        Demand(self.0.load(Ordering::Acquire))
    }
}

/// What may still be requested upstream in all, shared between threads: the cap of a
/// stage that needs at most `n` items (`take(n)`). Each request downstream makes is
/// granted up to what is left, so upstream is never asked for more than the cap, however
/// requests race.
///
/// ```
/// use spillway_core::demand::AtomicAllowance;
/// let cap = AtomicAllowance::new(5);
/// assert_eq!(cap.grant(3), 3);
/// assert_eq!(cap.grant(u64::MAX), 2); // only 2 were left
/// assert_eq!(cap.grant(1), 0);
/// ```
#[derive(Debug, Default)]
pub struct AtomicAllowance(AtomicU64);

impl AtomicAllowance {
    /// An allowance of `n` items in all.
    pub fn new(n: u64) -> AtomicAllowance {
        AtomicAllowance(AtomicU64::new(n))
    }

    /// Takes up to `n` from what is left and returns what was taken.
    pub fn grant(&self, n: u64) -> u64 {
        let before = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                Some(left - left.min(n))
            })
            .unwrap_or(0);
        before.min(n)
    }

    /// What is left.
    pub fn left(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// The running total of items a consumer on one thread has allowed a producer on another
/// to send; it only grows. The producer keeps its own side, an [`Allowance`], and reads
/// this total only when its last reading is used up, so a producer within its allowance
/// touches no line the consumer writes (`publish_on`'s hand-off).
///
/// ```
/// use spillway_core::demand::{Allowance, Granted};
/// let granted = Granted::default();
/// let mut producer = Allowance::default();
/// granted.grant(2);
/// assert_eq!(producer.room(&granted, 5), 2);
/// producer.sent(2);
/// assert!(!producer.send_one(&granted)); // a third item was never allowed
/// ```
#[derive(Debug, Default)]
pub struct Granted(AtomicU64);

impl Granted {
    /// Allows `n` more items.
    pub fn grant(&self, n: u64) {
        self.0.fetch_add(n, Ordering::AcqRel);
    }

    /// Everything allowed so far.
    pub fn total(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Allowed and not yet `taken` (the consumer's count of what it received).
    pub fn outstanding(&self, taken: u64) -> u64 {
        self.total().saturating_sub(taken)
    }
}

/// The producer's side of a [`Granted`] total: what it sent, and the total it last read.
#[derive(Debug, Default, Clone, Copy)]
pub struct Allowance {
    sent: u64,
    known: u64,
}

impl Allowance {
    /// Counts one item sent: false if it was not allowed (a non-compliant producer).
    #[inline]
    pub fn send_one(&mut self, granted: &Granted) -> bool {
        self.sent += 1;
        if self.sent > self.known {
            self.known = granted.total();
        }
        self.sent <= self.known
    }

    /// How many of the next `want` items may be sent now (then count them with
    /// [`sent`](Self::sent)).
    #[inline]
    pub fn room(&mut self, granted: &Granted, want: u64) -> u64 {
        if self.sent.saturating_add(want) > self.known {
            self.known = granted.total();
        }
        self.known.saturating_sub(self.sent).min(want)
    }

    /// Counts `n` items sent within the [`room`](Self::room) there was.
    #[inline]
    pub fn sent(&mut self, n: u64) {
        self.sent += n;
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn add_saturates_and_unbounded_is_sticky() {
        let d = Demand::new(u64::MAX / 2).add(u64::MAX / 2).add(1);
        assert!(d.is_unbounded());
        assert_eq!(d.produced(10), Demand::UNBOUNDED);
        assert_eq!(Demand::new(3).produced(5), Demand::ZERO);
        assert_eq!(Demand::new(3).multiply(u64::MAX), Demand::UNBOUNDED);
    }

    proptest::proptest! {
        /// Whatever the grants and sends, the producer is told exactly what is left of
        /// its allowance, and an item beyond it is refused.
        #[test]
        fn an_allowance_never_lets_more_through_than_was_granted(
            ops in proptest::collection::vec((0u8..3, 0u64..20), 0..200),
        ) {
            let granted = Granted::default();
            let mut producer = Allowance::default();
            let (mut total, mut sent) = (0u64, 0u64);
            for (op, n) in ops {
                match op {
                    0 => {
                        granted.grant(n);
                        total += n;
                    }
                    1 => {
                        let room = producer.room(&granted, n);
                        proptest::prop_assert_eq!(room, (total - sent).min(n));
                        producer.sent(room);
                        sent += room;
                    }
                    _ => {
                        let ok = producer.send_one(&granted);
                        proptest::prop_assert_eq!(ok, sent < total);
                        if ok {
                            sent += 1;
                        } else {
                            return Ok(()); // the stage fails here: nothing after counts
                        }
                    }
                }
                proptest::prop_assert_eq!(granted.outstanding(sent), total - sent);
            }
        }

        /// Whatever the order of arrivals and consumption, what was requested minus what
        /// arrived is what is outstanding, never above `prefetch`; items arrived but not
        /// consumed plus outstanding never exceed `prefetch` either.
        #[test]
        fn prefetch_never_exceeds_its_window(
            prefetch in 1u64..40,
            steps in proptest::collection::vec(proptest::bool::ANY, 0..400),
        ) {
            let mut credit = Prefetch::new(prefetch);
            let (mut requested, mut arrived, mut held) = (credit.initial(), 0u64, 0u64);
            for arrive in steps {
                if (arrive || held == 0) && credit.outstanding() > 0 {
                    proptest::prop_assert!(credit.received());
                    arrived += 1;
                    held += 1;
                } else if held > 0 {
                    held -= 1;
                    requested += credit.consumed();
                } else {
                    proptest::prop_assert!(false, "no credit and nothing held: the consumer would stall");
                }
                proptest::prop_assert_eq!(requested - arrived, credit.outstanding());
                proptest::prop_assert!(credit.outstanding() + held <= prefetch);
            }
        }
    }

    #[test]
    fn prefetch_of_one_asks_one_at_a_time() {
        let mut one = Prefetch::new(1);
        assert_eq!(one.initial(), 1);
        assert!(one.received());
        assert!(!one.received(), "nothing outstanding");
        assert_eq!(one.consumed(), 1);
        assert_eq!(replenish_threshold(4), 3);
    }

    #[test]
    fn racing_grants_never_exceed_the_allowance() {
        let cap = std::sync::Arc::new(AtomicAllowance::new(1_000));
        let granted: u64 = (0..4)
            .map(|_| {
                let cap = std::sync::Arc::clone(&cap);
                std::thread::spawn(move || (0..500).map(|i| cap.grant(i % 3 + 1)).sum::<u64>())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!((granted, cap.left()), (1_000, 0));
    }

    #[test]
    fn atomic_add_returns_previous() {
        let d = AtomicDemand::new();
        assert_eq!(d.add(2), Demand::ZERO);
        assert_eq!(d.add(3), Demand::new(2));
        assert_eq!(d.produced(4), Demand::new(1));
        assert_eq!(d.produced(4), Demand::ZERO);
        d.add(u64::MAX);
        assert_eq!(d.produced(100), Demand::UNBOUNDED);
        assert_eq!(d.add(1), Demand::UNBOUNDED);
    }
}
