//! `delay_elements`: lossless spacing: each item is delayed by a period, one at a time.

use crate::engine::timed::timed_operator;

timed_operator! {
    /// Publisher for the [`delay_elements`](crate::OperatorExt::delay_elements) method.
    pub struct DelayElements {
        stage: "delay_elements",
        kind: DelayElements,
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
