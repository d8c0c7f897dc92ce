//! `sample_first`: lets an item through, then drops everything else for a period.

use std::time::Instant;

use crate::engine::timed::{timed_operator, Cx, Sendable, Timing};
use crate::stats::DropReason;

timed_operator! {
    /// Publisher for the [`sample_first`](crate::OperatorExt::sample_first) method.
    pub struct SampleFirst {
        stage: "sample_first",
        logic: SampleFirstLogic,
        builders: [on, on_drop, stats],
    }
}

/// `sample_first`: an item emitted closes the gate for one period; items arriving while
/// it is closed are dropped.
struct SampleFirstLogic;

/// Until when the gate is closed; `None` with `for_good` set: closed forever (the period
/// ran past the end of time).
struct Gate {
    until: Option<Instant>,
    for_good: bool,
}

impl Timing for SampleFirstLogic {
    type State = Gate;

    fn start(&self, _now: Instant) -> Gate {
        Gate {
            until: None,
            for_good: false,
        }
    }

    fn reads_clock(&self) -> bool {
        true
    }

    #[inline]
    fn on_item<T: Sendable, E: Sendable>(
        &self,
        cx: &mut Cx<'_, T, E, Self>,
        item: T,
        _cost: u64,
        now: Option<Instant>,
    ) {
        let now = now.expect("read for every item");
        let gate = cx.state();
        if gate.for_good || gate.until.is_some_and(|g| now < g) {
            return cx.discard(item, DropReason::Throttled);
        }
        if cx.commit(item) {
            let until = now.checked_add(cx.period());
            let gate = cx.state();
            match until {
                Some(until) => gate.until = Some(until),
                None => gate.for_good = true,
            }
        }
    }
}
