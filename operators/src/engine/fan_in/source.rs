//! The downstream side of a combining operator, run by the drain loop.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Context as TaskContext;

use spillway_core::drain::{BatchContext, DrainHandle, Pulled, Source};
use spillway_core::{SharedSubscription, Stage, Subscriber};

use crate::engine::StageName;

use super::{Fan, LanePolicy};

/// The downstream side, pulled by the drain loop.
pub(super) struct FanSource<T, E, P: LanePolicy<T, E>> {
    pub(super) fan: Arc<Fan<T, E>>,
    pub(super) policy: P,
    /// The replenishing requests taken from the state (kept for its allocation).
    pub(super) requests: Vec<(SharedSubscription, u64)>,
    /// Outputs popped under one lock for a batch, and those the sink left (kept for its
    /// allocation).
    pub(super) out: VecDeque<P::Out>,
    /// Set by `pull_batch` when, under the lock, the policy had nothing to give and was
    /// not finished: the `pull` that follows in the same pass answers `Pending` without
    /// locking again. Sound because anything that could change that answer (an item in
    /// an empty lane, a lane's end, an error, the outer end) signals the drain, which
    /// then runs another pass.
    pub(super) idle: bool,
}

impl<T, E, P> FanSource<T, E, P>
where
    T: Send + 'static,
    E: Send + 'static,
    P: LanePolicy<T, E>,
{
    /// Makes the replenishing requests gathered under the lock, once it is released.
    pub(super) fn make_requests(&mut self) {
        for (up, n) in self.requests.drain(..) {
            up.request(n);
        }
    }

    /// Pops the next output (or the terminal signal) and makes the replenishing
    /// requests once the lock is released.
    pub(super) fn step(&mut self, want_item: bool) -> Option<Pulled<P::Out, E>> {
        let mut st = self.fan.lock();
        if let Some(e) = st.error.take() {
            return Some(Pulled::Error(e));
        }
        let out = if want_item {
            self.policy.next(&mut st)
        } else {
            None
        };
        // Outputs popped for a batch and left by the sink still have to go out.
        let finished = out.is_none() && self.out.is_empty() && self.policy.finished(&st);
        st.flush_refill();
        std::mem::swap(&mut st.requests, &mut self.requests);
        drop(st);
        self.make_requests();
        match out {
            Some(item) => Some(Pulled::Item(item)),
            None if finished => Some(Pulled::Complete),
            None => None,
        }
    }
}

impl<T, E, P> Source for FanSource<T, E, P>
where
    T: Send + 'static,
    E: Send + 'static,
    P: LanePolicy<T, E>,
{
    type Item = P::Out;
    type Error = E;
    const STAGE: Stage = <P::Stage as StageName>::STAGE;

    fn attach(&mut self, drain: DrainHandle) {
        self.fan.drain.set(drain);
    }

    fn pull(&mut self, _cx: &mut TaskContext<'_>) -> Pulled<P::Out, E> {
        if let Some(item) = self.out.pop_front() {
            return Pulled::Item(item);
        }
        if std::mem::take(&mut self.idle) {
            return Pulled::Pending;
        }
        self.step(true).unwrap_or(Pulled::Pending)
    }

    /// Pops outputs under one lock (up to the outstanding demand) and hands them over as
    /// one batch. The batch ends early right after an output whose lane asked for
    /// replenishment, so the request is made (and a synchronous upstream refills its
    /// lane) exactly where item-by-item pulling would make it: the order of the outputs
    /// does not change. Outputs a sink leaves are kept and handed out first next time.
    fn pull_batch<S>(&mut self, sink: &mut S, batch: &BatchContext) -> Option<u64>
    where
        S: Subscriber<Item = P::Out, Error = E>,
    {
        if self.out.is_empty() {
            if self.idle {
                return None; // `pull` answers
            }
            let max = usize::try_from(batch.limit().min(batch.max_items())).unwrap_or(usize::MAX);
            let mut st = self.fan.lock();
            if st.error.is_some() {
                return None; // `pull` delivers it
            }
            let policy = &mut self.policy;
            let out = &mut self.out;
            let exhausted = batch.run(Self::STAGE, || policy.next_batch(&mut st, out, max));
            let finished = exhausted && self.policy.finished(&st);
            st.flush_refill();
            std::mem::swap(&mut st.requests, &mut self.requests);
            drop(st);
            self.idle = exhausted && !finished;
            self.make_requests();
            if self.out.is_empty() {
                return None;
            }
        }
        let out = &mut self.out;
        Some(sink.on_next_batch(std::iter::from_fn(|| out.pop_front()), batch))
    }

    fn poll_end(&mut self, _cx: &mut TaskContext<'_>) -> Option<Pulled<P::Out, E>> {
        self.idle = false;
        // No demand: an error is delivered at once (fail fast), completion as soon as
        // nothing is left.
        self.step(false)
    }
}

impl<T, E, P: LanePolicy<T, E>> Drop for FanSource<T, E, P> {
    fn drop(&mut self) {
        // Cancelled downstream, or terminated: every upstream still running is cancelled.
        self.fan.shutdown();
    }
}
