//! `debounce`: emits an item once a period has passed without a newer one.

use crate::engine::timed::timed_operator;

timed_operator! {
    /// Publisher for the [`debounce`](crate::OperatorExt::debounce) method.
    pub struct Debounce {
        stage: "debounce",
        kind: Debounce,
        builders: [on, flush_on_complete, on_drop, stats],
    }
}
