//! `delay_until`: each item waits, in order, until a publisher built from it signals.

use std::fmt;
use std::time::{Duration, Instant};

use spillway_core::{Publisher, Subscriber};

use crate::engine::timed::{self, timed_operator, Cx, Sendable, Settings, Timing};

crate::stage_name!(DelayUntilStage, "delay_until");

/// Publisher for the [`delay_until`](crate::OperatorExt::delay_until) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct DelayUntil<P: Publisher, F> {
    upstream: P,
    trigger: F,
    settings: Settings<P::Item>,
}

impl<P: Publisher, F> DelayUntil<P, F> {
    pub(crate) fn new(upstream: P, trigger: F) -> Self {
        DelayUntil {
            upstream,
            trigger,
            settings: Settings::new(),
        }
    }

    timed_operator!(@builder [
        /// Calls `f` with every item discarded by a cancel or a failure, on the thread that
        /// dropped it (this stage itself never drops an item). A panic in `f` fails the
        /// pipeline with [`Error::Panicked`](spillway_core::Error::Panicked).
    ] on_drop);
    timed_operator!(@builder [] stats);
}

impl<P, F, O> Publisher for DelayUntil<P, F>
where
    P: Publisher,
    F: Fn(&P::Item) -> O + Send + Sync + 'static,
    O: Publisher<Error = P::Error> + 'static,
    O::Item: Send + 'static,
    P::Item: Send + 'static,
    P::Error: Send + 'static,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        let hooks = timed::Hooks {
            companion: Some(timed::companion_fn(self.trigger)),
            ..timed::Hooks::default()
        };
        // Companions are the clock: the period is never read.
        timed::subscribe::<DelayUntilStage, _, _, _>(
            self.upstream,
            DelayUntilLogic,
            Duration::ZERO,
            self.settings,
            hooks,
            subscriber,
        );
    }
}

impl<P: Publisher + fmt::Debug, F> fmt::Debug for DelayUntil<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DelayUntil")
            .field("upstream", &self.upstream)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// `delay_until`: one item at a time is requested and held; its companion is subscribed
/// when it becomes the oldest held item, and its signal releases it.
struct DelayUntilLogic;

impl Timing for DelayUntilLogic {
    type State = ();

    fn start(&self, _now: Instant) {}

    fn lossless(&self) -> bool {
        true
    }

    #[inline]
    fn on_item<T: Sendable, E: Sendable>(
        &self,
        cx: &mut Cx<'_, T, E, Self>,
        item: T,
        _cost: u64,
        _now: Option<Instant>,
    ) {
        cx.hold(item, 0);
        if !cx.timer_armed() {
            cx.start_companion_for_held();
        }
    }

    #[inline]
    fn on_timer<T: Sendable, E: Sendable>(&self, cx: &mut Cx<'_, T, E, Self>, _now: Instant) {
        if let Some(item) = cx.take_held() {
            cx.commit(item);
        }
        if cx.holds_any() {
            cx.start_companion_for_held();
        }
    }

    #[inline]
    fn request<T: Sendable, E: Sendable>(
        &self,
        _cx: &mut Cx<'_, T, E, Self>,
        free: u64,
        outstanding: u64,
        _now: Instant,
    ) -> u64 {
        if outstanding == 0 {
            free.min(1)
        } else {
            0
        }
    }
}
