//! `sample_first_with`: lets an item through, then drops everything else until a
//! publisher built from that item signals.

use std::time::Instant;

use crate::engine::timed::{companion_operator, Cx, Sendable, Timing};
use crate::stats::DropReason;

companion_operator! {
    /// Publisher for the [`sample_first_with`](crate::OperatorExt::sample_first_with) method.
    pub struct SampleFirstWith<F> {
        stage: "sample_first_with",
        logic: SampleFirstWithLogic,
        per_item: window,
        builders: [on_drop, stats],
    }
}

/// `sample_first_with`: an item emitted closes the gate until its companion signals;
/// items arriving while it is closed are dropped.
struct SampleFirstWithLogic;

impl Timing for SampleFirstWithLogic {
    /// Whether the gate is closed.
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
            return cx.discard(item, DropReason::Throttled);
        }
        if cx.commit_with_companion(item) {
            *cx.state() = true;
        }
    }

    #[inline]
    fn on_timer<T: Sendable, E: Sendable>(&self, cx: &mut Cx<'_, T, E, Self>, _now: Instant) {
        *cx.state() = false;
    }
}
