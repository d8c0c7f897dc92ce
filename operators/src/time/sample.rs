//! `sample`: emits, every period, the latest item seen in that period.

use std::time::Instant;

use crate::engine::timed::{timed_operator, Cx, Sendable, Timing};

timed_operator! {
    /// Publisher for the [`sample`](crate::OperatorExt::sample) method.
    pub struct Sample {
        stage: "sample",
        logic: SampleLogic,
        builders: [on, flush_on_complete, on_drop, stats],
    }
}

/// `sample`: the latest item is kept; the engine's ticker emits it once per period.
struct SampleLogic;

impl Timing for SampleLogic {
    type State = ();

    fn start(&self, _now: Instant) {}

    fn ticks(&self) -> bool {
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
        cx.replace_pending(item);
    }
}
