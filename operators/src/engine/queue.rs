//! The two-sided queueing stage: the skeleton behind every operator that holds items
//! between an upstream side (a [`Subscriber`](spillway_core::Subscriber) that receives
//! them) and a downstream side (a drain [`Source`](spillway_core::drain::Source) that
//! hands them out): the buffers, the gates, the batching operators, `load_shed`,
//! `within_budget`, `adaptive_rate`, `take_last`. The async and timed engines keep their
//! own state but share its [`Lifecycle`].
//!
//! [`QueueCore`] owns what they all share, so that an operator file holds only its own
//! logic (what happens when an item arrives, what it releases, how much it asks for):
//! - the [`Lifecycle`]: upstream's end waits behind the held items, a failure of the stage
//!   overtakes them, a closed stage discards what arrives late, and upstream is cancelled
//!   exactly when it has not ended by itself;
//! - both slots: the upstream subscription (with requests made before it arrived) and the
//!   downstream drain;
//! - the upstream side's `on_subscribe`, `on_error`, `on_complete`;
//! - the downstream side's terminal ordering (`pull`'s end, `poll_end`) and its release
//!   on drop (cancel upstream, account for every held item).
//!
//! The held items are anything [`Held`]: a `VecDeque`, or a queue of `(priority, item)`.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use spillway_core::drain::Pulled;
use spillway_core::{Error, SharedSubscription, Stage};

use crate::engine::support::{self, DrainSlot, Dropper, Panic, UpstreamSlot};
use crate::stats::DropReason;

/// What a queueing stage holds for downstream, as the skeleton sees it.
pub(crate) trait Held: Send + 'static {
    /// The items held (what `on_drop` sees when they are discarded; downstream may
    /// receive them grouped, as the batching operators' `Vec`s).
    type Item: Send + 'static;
    /// How many items are held.
    fn len(&self) -> usize;
    /// Takes every held item out (to be discarded: the stage closed or failed).
    fn take_all(&mut self) -> Vec<Self::Item>;
}

impl<T: Send + 'static> Held for VecDeque<T> {
    type Item = T;

    fn len(&self) -> usize {
        VecDeque::len(self)
    }

    fn take_all(&mut self) -> Vec<T> {
        self.drain(..).collect()
    }
}

/// Where a queueing stage is in its life. The rules every such stage follows:
/// - upstream's terminal signal (`end`) is delivered after the held items;
/// - a failure of the stage itself (an overflow, a panic in user code) is delivered at
///   once, ahead of them, and the held items are discarded;
/// - once downstream cancelled (`closed`), the stage failed, or upstream ended, items
///   arriving are late: counted and discarded;
/// - upstream is cancelled once, and only if it has not ended by itself.
#[derive(Debug)]
pub(crate) struct Lifecycle<E> {
    /// Upstream's terminal signal, delivered after the held items; taken when delivered.
    end: Option<Result<(), Error<E>>>,
    /// The stage's own failure, delivered at once; taken when delivered.
    failed: Option<Error<E>>,
    /// Downstream cancelled, or the drain terminated.
    closed: bool,
    /// Upstream ended, or the stage cancelled it: never cancelled (again). Unlike `end`,
    /// never taken.
    upstream_done: bool,
}

impl<E> Default for Lifecycle<E> {
    fn default() -> Self {
        Lifecycle {
            end: None,
            failed: None,
            closed: false,
            upstream_done: false,
        }
    }
}

impl<E> Lifecycle<E> {
    /// True while an item arriving from upstream can still be delivered: until upstream
    /// ends, the stage fails or downstream cancels. Each of those sets `upstream_done`
    /// (the one flag the per-item paths read).
    #[inline]
    pub(crate) fn is_open(&self) -> bool {
        !self.upstream_done
    }

    /// Downstream is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Upstream ended or was cancelled by the stage.
    pub(crate) fn upstream_done(&self) -> bool {
        self.upstream_done
    }

    /// The stage failed and the failure is not delivered yet.
    pub(crate) fn has_failed(&self) -> bool {
        self.failed.is_some()
    }

    /// Upstream's end waits to be delivered.
    pub(crate) fn has_end(&self) -> bool {
        self.end.is_some()
    }

    /// Upstream ended with an error that still waits to be delivered.
    pub(crate) fn ends_in_error(&self) -> bool {
        matches!(self.end, Some(Err(_)))
    }

    /// Upstream's terminal signal arrived: kept for after the held items. False if it is
    /// late (upstream already ended, or the stage cancelled it) and was ignored.
    pub(crate) fn end_upstream(&mut self, end: Result<(), Error<E>>) -> bool {
        if self.upstream_done {
            return false;
        }
        self.upstream_done = true;
        self.end = Some(end);
        true
    }

    /// The stage ends with `end` after the held items, whatever upstream does: the `Fail`
    /// overflow policy. Returns true if upstream must be cancelled.
    pub(crate) fn finish(&mut self, end: Result<(), Error<E>>) -> bool {
        let cancel = !self.upstream_done;
        self.upstream_done = true;
        self.end = Some(end);
        cancel
    }

    /// The stage fails at once with `error` (the first failure wins; nothing fails once
    /// downstream is gone). Returns true if upstream must be cancelled; the caller
    /// discards the held items.
    pub(crate) fn fail(&mut self, error: Error<E>) -> bool {
        if !self.closed && self.failed.is_none() {
            self.failed = Some(error);
        }
        let cancel = !self.upstream_done;
        self.upstream_done = true;
        cancel
    }

    /// Downstream cancelled or the drain terminated. Returns true if upstream must be
    /// cancelled.
    pub(crate) fn close(&mut self) -> bool {
        self.closed = true;
        let cancel = !self.upstream_done && self.end.is_none();
        self.upstream_done = true;
        cancel
    }

    /// The failure, if the stage failed (delivered at once).
    #[inline]
    pub(crate) fn take_failure<T>(&mut self) -> Option<Pulled<T, E>> {
        self.failed.take().map(Pulled::Error)
    }

    /// Upstream's end, once nothing is held any more.
    pub(crate) fn take_end<T>(&mut self) -> Option<Pulled<T, E>> {
        self.end.take().map(|end| match end {
            Ok(()) => Pulled::Complete,
            Err(e) => Pulled::Error(e),
        })
    }
}

/// What a queueing stage keeps under its one lock: the held items, the operator's own
/// counters (`S`), and the lifecycle.
#[derive(Debug)]
pub(crate) struct Locked<H, S, E> {
    pub(crate) held: H,
    pub(crate) state: S,
    pub(crate) life: Lifecycle<E>,
}

/// The shared half of a queueing stage, behind an `Arc` held by both sides.
pub(crate) struct QueueCore<H: Held, S, E> {
    locked: Mutex<Locked<H, S, E>>,
    pub(crate) upstream: UpstreamSlot,
    pub(crate) drain: DrainSlot,
    /// Counts every item the stage does not deliver, and calls the user's `on_drop`.
    pub(crate) dropper: Dropper<H::Item>,
    /// The operator's name, for the errors the stage raises itself.
    pub(crate) stage: Stage,
}

impl<H: Held, S, E> QueueCore<H, S, E> {
    pub(crate) fn new(stage: Stage, held: H, state: S, dropper: Dropper<H::Item>) -> Self {
        QueueCore {
            locked: Mutex::new(Locked {
                held,
                state,
                life: Lifecycle::default(),
            }),
            upstream: UpstreamSlot::default(),
            drain: DrainSlot::default(),
            dropper,
            stage,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Locked<H, S, E>> {
        support::lock(&self.locked)
    }

    /// The upstream side's `on_subscribe`: a second subscription is refused (rule 2.5), a
    /// stage that closed meanwhile cancels it, otherwise `first` (under the lock) says how
    /// much to request. True if the subscription was taken. The first request is made
    /// before the subscription is set, so that it and the drain's requests reach upstream
    /// one after another (see [`UpstreamSlot`]).
    pub(crate) fn upstream_subscribed(
        &self,
        subscription: SharedSubscription,
        first: impl FnOnce(&mut Locked<H, S, E>) -> u64,
    ) -> bool {
        if self.upstream.is_set() {
            subscription.cancel();
            return false;
        }
        let mut locked = self.lock();
        if locked.life.is_closed() || locked.life.upstream_done() {
            drop(locked);
            subscription.cancel();
            return false;
        }
        let n = first(&mut locked);
        drop(locked);
        self.upstream.request(n);
        self.upstream.set(subscription)
    }

    /// The upstream side's `on_error` / `on_complete`: the end waits behind the held items.
    /// `unused` runs under the lock the first time (to give back what was requested and
    /// will never come). A late end is ignored.
    pub(crate) fn upstream_ended(
        &self,
        end: Result<(), Error<E>>,
        unused: impl FnOnce(&mut Locked<H, S, E>),
    ) {
        let mut locked = self.lock();
        if !locked.life.end_upstream(end) {
            return;
        }
        unused(&mut locked);
        drop(locked);
        self.drain.signal();
    }

    /// An item that arrived after the stage was over: counted as discarded. A panic in
    /// `on_drop` here has nobody to go to.
    pub(crate) fn discard_late(&self, item: H::Item) {
        self.dropper
            .discard_quietly(Some(item), DropReason::Discarded);
    }

    /// Fails the stage with `error`, delivered at once: upstream is cancelled unless it
    /// ended, the held items and `extra` are discarded (`on_drop` is not called again if
    /// it is the culprit), and the drain is woken.
    pub(crate) fn fail(&self, error: Error<E>, extra: Option<H::Item>) {
        self.fail_and(error, extra, |_| {});
    }

    /// [`fail`](Self::fail), with `release` run under the same lock (to stop what the
    /// stage runs besides: a timer).
    pub(crate) fn fail_and(
        &self,
        error: Error<E>,
        extra: Option<H::Item>,
        release: impl FnOnce(&mut Locked<H, S, E>),
    ) {
        let mut locked = self.lock();
        let cancel = locked.life.fail(error);
        release(&mut locked);
        let left = locked.held.take_all();
        self.dropper.stats.set_buffered(0);
        drop(locked);
        if cancel {
            self.upstream.cancel();
        }
        self.dropper
            .discard_quietly(left.into_iter().chain(extra), DropReason::Discarded);
        self.drain.signal();
    }

    /// [`fail`](Self::fail) with a panic caught in user code.
    pub(crate) fn fail_panicked(&self, payload: Panic, extra: Option<H::Item>) {
        self.fail(Error::from_panic(self.stage, payload), extra);
    }

    /// Drops `items` for `reason` through `on_drop`; a panic in it fails the stage.
    pub(crate) fn drop_or_fail(
        &self,
        items: impl IntoIterator<Item = H::Item>,
        reason: DropReason,
    ) {
        if let Err(payload) = self.dropper.try_drop_all(items, reason) {
            self.fail_panicked(payload, None);
        }
    }

    /// The downstream side's `pull`: the failure first, then the next item that `take`
    /// gives (under the lock), then upstream's end. `Pending` when there is none of them.
    pub(crate) fn pull(
        &self,
        take: impl FnOnce(&mut Locked<H, S, E>) -> Option<H::Item>,
    ) -> Pulled<H::Item, E> {
        let mut locked = self.lock();
        if let Some(failure) = locked.life.take_failure() {
            return failure;
        }
        if let Some(item) = take(&mut locked) {
            return Pulled::Item(item);
        }
        locked.life.take_end().unwrap_or(Pulled::Pending)
    }

    /// The downstream side's `poll_end` (asked when downstream has no demand): the failure
    /// at once; upstream's end only when nothing is held.
    pub(crate) fn poll_end(&self) -> Option<Pulled<H::Item, E>> {
        let mut locked = self.lock();
        if let Some(failure) = locked.life.take_failure() {
            return Some(failure);
        }
        if locked.held.len() > 0 {
            return None;
        }
        locked.life.take_end()
    }

    /// The downstream side's drop (downstream cancelled, or the stage terminated): upstream
    /// is cancelled unless it ended, and what is still held is counted as discarded.
    /// `release` runs under the lock first, and its result is returned (what the stage
    /// holds besides items, to give back). Nobody is left to tell of a panic in `on_drop`
    /// here: caught and ignored.
    pub(crate) fn close<R>(&self, release: impl FnOnce(&mut Locked<H, S, E>) -> R) -> R {
        let mut locked = self.lock();
        let cancel = locked.life.close();
        let released = release(&mut locked);
        let left = locked.held.take_all();
        self.dropper.stats.set_buffered(0);
        drop(locked);
        if cancel {
            self.upstream.cancel();
        }
        self.dropper.discard_quietly(left, DropReason::Discarded);
        released
    }
}

impl<T: Send + 'static, S, E> QueueCore<VecDeque<T>, S, E> {
    /// Queues `item` under the lock the caller holds, publishes the buffer level, and
    /// wakes the drain once the lock is released.
    pub(crate) fn queue(&self, mut locked: MutexGuard<'_, Locked<VecDeque<T>, S, E>>, item: T) {
        locked.held.push_back(item);
        self.dropper.stats.set_buffered(locked.held.len());
        drop(locked);
        self.drain.signal();
    }

    /// Hands out the oldest held item to a source that settles demand item by item: one
    /// unit of downstream's demand is used, the level published, the item counted as
    /// emitted.
    #[inline]
    pub(crate) fn hand_out(&self, locked: &mut Locked<VecDeque<T>, S, E>) -> Option<T> {
        let item = locked.held.pop_front()?;
        self.drain.produced_one();
        self.dropper.stats.record_emitted(1);
        self.dropper.stats.set_buffered(locked.held.len());
        Some(item)
    }

    /// The failure of a stage whose upstream sent an item it was not asked for.
    pub(crate) fn unrequested(&self) -> Error<E> {
        Error::ProtocolViolation {
            stage: self.stage,
            what: "an item arrived without demand",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_waits_for_the_held_items_and_a_failure_does_not() {
        let mut life: Lifecycle<()> = Lifecycle::default();
        assert!(life.is_open());
        assert!(life.end_upstream(Ok(())));
        assert!(!life.is_open());
        assert!(!life.end_upstream(Ok(())), "a second end is late");
        assert!(
            !life.fail(Error::Rejected {
                stage: "test",
                reason: "test"
            }),
            "upstream ended: nothing to cancel"
        );
        assert!(matches!(life.take_failure::<u8>(), Some(Pulled::Error(_))));
        assert!(matches!(life.take_end::<u8>(), Some(Pulled::Complete)));
        assert!(life.take_end::<u8>().is_none());
    }

    #[test]
    fn upstream_is_cancelled_once_and_only_if_it_has_not_ended() {
        let mut life: Lifecycle<()> = Lifecycle::default();
        assert!(life.close());
        assert!(!life.close());
        assert!(!life.fail(Error::Rejected {
            stage: "test",
            reason: "test"
        }));
        assert!(
            life.take_failure::<u8>().is_none(),
            "nobody to fail after a cancel"
        );

        let mut ended: Lifecycle<()> = Lifecycle::default();
        ended.end_upstream(Ok(()));
        assert!(!ended.close());

        let mut failed: Lifecycle<()> = Lifecycle::default();
        assert!(failed.fail(Error::Rejected {
            stage: "test",
            reason: "test"
        }));
        assert!(!failed.close());
        assert!(!failed.is_open());
    }

    #[test]
    fn every_way_of_ending_closes_the_stage_to_new_items() {
        let rejected = || Error::Rejected {
            stage: "test",
            reason: "test",
        };
        let ends: [fn(&mut Lifecycle<()>); 4] = [
            |l| {
                let _ = l.end_upstream(Ok(()));
            },
            |l| {
                let _ = l.finish(Err(Error::Rejected {
                    stage: "t",
                    reason: "t",
                }));
            },
            |l| {
                let _ = l.fail(Error::Rejected {
                    stage: "t",
                    reason: "t",
                });
            },
            |l| {
                let _ = l.close();
            },
        ];
        for end in ends {
            let mut life: Lifecycle<()> = Lifecycle::default();
            end(&mut life);
            assert!(!life.is_open());
            assert!(!life.end_upstream(Err(rejected())), "a later end is late");
        }
    }

    #[test]
    fn the_first_failure_wins() {
        let mut life: Lifecycle<&str> = Lifecycle::default();
        life.fail(Error::User("first"));
        life.fail(Error::User("second"));
        match life.take_failure::<u8>() {
            Some(Pulled::Error(Error::User(e))) => assert_eq!(e, "first"),
            _ => panic!("the first failure is delivered"),
        }
    }
}
