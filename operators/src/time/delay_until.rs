//! `delay_until`: each item waits, in order, until a publisher built from it signals.

use std::time::Instant;

use crate::engine::timed::{self, companion_operator, Cx, Sendable, Timing};

companion_operator! {
    /// Publisher for the [`delay_until`](crate::OperatorExt::delay_until) method.
    pub struct DelayUntil<F> {
        stage: "delay_until",
        logic: DelayUntilLogic,
        per_item: trigger,
        builders: [
            /// Calls `f` with every item discarded by a cancel or a failure, on the thread that
            /// dropped it (this stage itself never drops an item). A panic in `f` fails the
            /// pipeline with [`Error::Panicked`](spillway_core::Error::Panicked).
            on_drop,
            stats,
        ],
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
        timed::one_at_a_time(free, outstanding)
    }
}
