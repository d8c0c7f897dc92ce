//! `debounce`: emits an item once a period has passed without a newer one.

use std::time::Instant;

use crate::engine::timed::{timed_operator, Cx, Sendable, Timing};

timed_operator! {
    /// Publisher for the [`debounce`](crate::OperatorExt::debounce) method.
    pub struct Debounce {
        stage: "debounce",
        logic: DebounceLogic,
        builders: [on, flush_on_complete, on_drop, stats],
    }
}

/// `debounce`: every item restarts the timer; when it fires, the latest item is emitted.
struct DebounceLogic;

impl Timing for DebounceLogic {
    type State = ();

    fn start(&self, _now: Instant) {}

    #[inline]
    fn on_item<T: Sendable, E: Sendable>(
        &self,
        cx: &mut Cx<'_, T, E, Self>,
        item: T,
        _cost: u64,
        _now: Option<Instant>,
    ) {
        cx.replace_pending(item);
        let period = cx.period();
        cx.start_timer(period);
    }

    #[inline]
    fn on_timer<T: Sendable, E: Sendable>(&self, cx: &mut Cx<'_, T, E, Self>, _now: Instant) {
        if let Some(item) = cx.take_held() {
            cx.commit(item);
        }
    }
}
