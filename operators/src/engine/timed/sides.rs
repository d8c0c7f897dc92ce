//! The two sides of a timed stage: the drain source that hands out committed items and
//! the subscriber that takes upstream's signals into the engine.

use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Context as TaskContext;

use spillway_core::drain::{DrainHandle, Pulled, Source};
use spillway_core::{Context, Demand, Error, SharedSubscription, Stage, Subscriber};

use super::effects::Effects;
use super::{Shared, Timing};
use crate::engine::support;
use crate::engine::StageName;
use crate::stats::DropReason;

/// The downstream side: the drain loop pulls committed items from here.
pub(super) struct TimedSource<T, E, L: Timing, N> {
    shared: Arc<Shared<T, E, L>>,
    _stage: PhantomData<fn() -> N>,
}

impl<T, E, L: Timing, N> TimedSource<T, E, L, N> {
    pub(super) fn new(shared: Arc<Shared<T, E, L>>) -> Self {
        TimedSource {
            shared,
            _stage: PhantomData,
        }
    }
}

impl<T, E, L, N> Source for TimedSource<T, E, L, N>
where
    T: Send + 'static,
    E: Send + 'static,
    L: Timing,
    N: StageName,
{
    type Item = T;
    type Error = E;
    const STAGE: Stage = N::STAGE;
    // Timers decide on `demand - committed` under the state lock, so an item must leave
    // `ready` and the demand together.
    const SETTLES_DEMAND: bool = true;

    fn attach(&mut self, drain: DrainHandle) {
        let _ = self.shared.drain.set(drain);
    }

    fn pull(&mut self, _cx: &mut TaskContext<'_>) -> Pulled<T, E> {
        let shared = &self.shared;
        // Lossless kinds may have to request from upstream here: they always look.
        if !shared.logic.lossless() && !shared.work.load(Ordering::Acquire) {
            return Pulled::Pending;
        }
        let mut eff = Effects::new();
        let mut st = shared.lock();
        if let Some(failure) = st.life.take_failure() {
            st.life.close();
            return failure;
        }
        let mut item = st.ready.pop_front();
        if item.is_none() && st.life.has_end() && !shared.logic.lossless() {
            // Flushing a pending item at completion (held only if flush is on).
            item = st.held.pop_front().map(|(i, _)| i);
        }
        if let Some(item) = item {
            if let Some(d) = shared.drain.get() {
                d.produced(1);
            }
            st.counts.emitted(&shared.stats);
            if shared.logic.lossless() {
                let now = shared.scheduler.now();
                shared.replenish(&mut st, now, &mut eff);
            }
            shared.count_held(&mut st);
            drop(st);
            shared.apply(eff);
            return Pulled::Item(item);
        }
        if st.held.is_empty() {
            if let Some(end) = st.life.take_end() {
                st.life.close();
                return end;
            }
        }
        if shared.logic.lossless() {
            let now = shared.scheduler.now();
            shared.replenish(&mut st, now, &mut eff);
        }
        drop(st);
        shared.apply(eff);
        Pulled::Pending
    }

    fn poll_end(&mut self, _cx: &mut TaskContext<'_>) -> Option<Pulled<T, E>> {
        let mut st = self.shared.lock();
        let end = match st.life.take_failure() {
            None if !st.ready.is_empty() || !st.held.is_empty() => return None,
            None => st.life.take_end()?,
            failure => failure?,
        };
        // Terminated: nothing more is taken in.
        st.life.close();
        Some(end)
    }
}

impl<T, E, L: Timing, N> Drop for TimedSource<T, E, L, N> {
    fn drop(&mut self) {
        // Downstream cancelled, or the stage terminated: stop the timers and upstream,
        // and account for whatever is still held.
        let shared = &self.shared;
        let mut st = support::lock(&shared.state);
        let cancel = st.life.close();
        st.timer_gen = st.timer_gen.wrapping_add(1);
        if let Some(t) = st.timer.take() {
            t.cancel();
        }
        if let Some(t) = st.ticker.take() {
            t.cancel();
        }
        let mut left: Vec<T> = st.ready.drain(..).collect();
        left.extend(st.held.drain(..).map(|(i, _)| i));
        for _ in &left {
            st.counts.dropped(&shared.stats, DropReason::Discarded);
        }
        st.counts.buffered(&shared.stats, 0);
        drop(st);
        if cancel {
            shared.upstream.cancel();
        }
        for item in left {
            if let Some(f) = &shared.on_drop {
                if !shared.on_drop_panicked.load(Ordering::Acquire) {
                    // Nobody is left to tell of a panic here.
                    if catch_unwind(AssertUnwindSafe(|| f(item, DropReason::Discarded))).is_err() {
                        shared.on_drop_panicked.store(true, Ordering::Release);
                    }
                }
            }
        }
    }
}

/// The upstream side.
pub(super) struct TimedUpstream<T, E, L: Timing> {
    shared: Arc<Shared<T, E, L>>,
    context: Context,
}

impl<T, E, L: Timing> TimedUpstream<T, E, L> {
    pub(super) fn new(shared: Arc<Shared<T, E, L>>, context: Context) -> Self {
        TimedUpstream { shared, context }
    }
}

impl<T: Send + 'static, E: Send + 'static, L: Timing> Subscriber for TimedUpstream<T, E, L> {
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let shared = &self.shared;
        if shared.upstream.is_set() {
            subscription.cancel(); // rule 2.5: a second subscription is refused
            return;
        }
        let mut eff = Effects::new();
        let mut st = shared.lock();
        if st.life.is_closed() {
            drop(st);
            subscription.cancel();
            return;
        }
        st.subscribed = true;
        if shared.logic.lossless() {
            let now = shared.scheduler.now();
            shared.replenish(&mut st, now, &mut eff);
        } else {
            eff.request = Demand::UNBOUNDED.get();
        }
        drop(st);
        // Before `set`: the first request and the drain's reach upstream one by one.
        shared.apply(eff);
        shared.upstream.set(subscription);
    }

    fn on_next(&mut self, item: T) {
        let shared = &self.shared;
        let mut eff = Effects::new();
        let cost = match &shared.cost {
            None => 1,
            Some(f) => match catch_unwind(AssertUnwindSafe(|| f(&item))) {
                Ok(c) => c,
                Err(payload) => {
                    let mut st = shared.lock();
                    st.counts.received(&shared.stats);
                    shared.discard(&mut st, &mut eff, item, DropReason::Discarded);
                    shared.fail(&mut st, Error::from_panic(shared.stage, payload), &mut eff);
                    shared.count_held(&mut st);
                    drop(st);
                    shared.apply(eff);
                    return;
                }
            },
        };
        // Only the kinds that decide on the time of arrival read the clock per item.
        let now = shared.logic.reads_clock().then(|| shared.scheduler.now());
        let mut st = shared.lock();
        st.counts.received(&shared.stats);
        if !st.life.is_open() {
            shared.discard(&mut st, &mut eff, item, DropReason::Discarded);
        } else {
            shared.on_item(&mut st, now, item, cost, &mut eff);
            if shared.logic.lossless() {
                let now = now.unwrap_or_else(|| shared.scheduler.now());
                shared.replenish(&mut st, now, &mut eff);
            }
        }
        shared.count_held(&mut st);
        drop(st);
        shared.apply(eff);
    }

    fn on_error(&mut self, error: Error<E>) {
        self.shared.on_terminal(Err(error));
    }

    fn on_complete(&mut self) {
        self.shared.on_terminal(Ok(()));
    }

    fn context(&self) -> Context {
        self.context.clone()
    }
}
