//! `audit`: on an item, opens a window and emits the latest item when it closes.

use std::time::Instant;

use crate::engine::timed::{timed_operator, Cx, Sendable, Timing};

timed_operator! {
    /// Publisher for the [`audit`](crate::OperatorExt::audit) method.
    pub struct Audit {
        stage: "audit",
        logic: AuditLogic,
        builders: [on, flush_on_complete, on_drop, stats],
    }
}

/// `audit`: the first item opens a window of one period; when it closes, the latest item
/// of the window is emitted.
struct AuditLogic;

impl Timing for AuditLogic {
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
        cx.replace_pending(item);
        if !*cx.state() {
            *cx.state() = true;
            let period = cx.period();
            cx.start_timer(period);
        }
    }

    #[inline]
    fn on_timer<T: Sendable, E: Sendable>(&self, cx: &mut Cx<'_, T, E, Self>, _now: Instant) {
        *cx.state() = false;
        if let Some(item) = cx.take_held() {
            cx.commit(item);
        }
    }
}
