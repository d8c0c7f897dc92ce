//! `throttle_latest`: the first item at once, then at most one per window: the latest.

use std::time::Instant;

use crate::engine::timed::{timed_operator, Cx, Sendable, Timing};

timed_operator! {
    /// Publisher for the [`throttle_latest`](crate::OperatorExt::throttle_latest) method.
    pub struct ThrottleLatest {
        stage: "throttle_latest",
        logic: ThrottleLatestLogic,
        builders: [on, flush_on_complete, on_drop, stats],
    }
}

/// `throttle_latest`: an item emitted opens a window of one period, during which the
/// latest item is kept; when it closes, that item is emitted (and opens the next window).
struct ThrottleLatestLogic;

impl Timing for ThrottleLatestLogic {
    /// Whether a window is open.
    type State = bool;

    fn start(&self, _now: Instant) -> bool {
        false
    }

    #[inline]
    fn on_item<T: Sendable, E: Sendable>(
        &self,
        cx: &mut Cx<'_, T, E, Self>,
        item: T,
        _cost: u64,
        _now: Option<Instant>,
    ) {
        if *cx.state() {
            cx.replace_pending(item);
        } else if cx.commit(item) {
            *cx.state() = true;
            let period = cx.period();
            cx.start_timer(period);
        }
    }

    #[inline]
    fn on_timer<T: Sendable, E: Sendable>(&self, cx: &mut Cx<'_, T, E, Self>, _now: Instant) {
        let committed = match cx.take_held() {
            Some(item) => cx.commit(item),
            None => false,
        };
        // A new window starts at each emission.
        *cx.state() = committed;
        if committed {
            let period = cx.period();
            cx.start_timer(period);
        }
    }
}
