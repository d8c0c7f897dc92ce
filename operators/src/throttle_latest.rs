//! `throttle_latest`: the first item at once, then at most one per window: the latest.

use crate::engine::timed::timed_operator;

timed_operator! {
    /// Publisher for the [`throttle_latest`](crate::OperatorExt::throttle_latest) method.
    pub struct ThrottleLatest {
        stage: "throttle_latest",
        kind: ThrottleLatest,
        builders: [on, flush_on_complete, on_drop, stats],
    }
}
