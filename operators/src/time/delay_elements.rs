//! `delay_elements`: lossless spacing: each item is delayed by a period, one at a time.

use std::time::Instant;

use crate::engine::timed::{self, timed_operator, Cx, Sendable, Timing};

timed_operator! {
    /// Publisher for the [`delay_elements`](crate::OperatorExt::delay_elements) method.
    pub struct DelayElements {
        stage: "delay_elements",
        logic: DelayLogic,
        builders: [
            on,
            /// Calls `f` with every item discarded by a cancel or a failure, on the thread that
            /// dropped it (this stage itself never drops an item). A panic in `f` fails the
            /// pipeline with [`Error::Panicked`](spillway_core::Error::Panicked).
            on_drop,
            stats,
        ],
    }
}

/// `delay_elements`: one item at a time is requested, held for one period, and emitted.
struct DelayLogic;

impl Timing for DelayLogic {
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
            let period = cx.period();
            cx.start_timer(period);
        }
    }

    #[inline]
    fn on_timer<T: Sendable, E: Sendable>(&self, cx: &mut Cx<'_, T, E, Self>, _now: Instant) {
        if let Some(item) = cx.take_held() {
            cx.commit(item);
        }
        if cx.holds_any() {
            let period = cx.period();
            cx.start_timer(period);
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
