//! `sample_with`: emits the latest item each time a notifier publisher emits.

use std::time::Instant;

use crate::engine::timed::{companion_operator, Cx, Sendable, Timing};

companion_operator! {
    /// Publisher for the [`sample_with`](crate::OperatorExt::sample_with) method.
    pub struct SampleWith<N> {
        stage: "sample_with",
        logic: SampleWithLogic,
        notifier: notifier,
        builders: [
            /// Whether an item still pending when the stream ends (upstream or the notifier
            /// completes) is delivered (waiting for demand if needed) before `on_complete`
            /// (`true`, the default) or dropped as
            /// [`DropReason::Discarded`](crate::DropReason::Discarded) (`false`). On an error
            /// (upstream's or the notifier's) the pending item is always dropped as `Discarded`.
            flush_on_complete,
            on_drop,
            stats,
        ],
    }
}

/// `sample_with`: the latest item is kept; each of the notifier's items commits it.
struct SampleWithLogic;

impl Timing for SampleWithLogic {
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
    }
}
