//! `audit`: on an item, opens a window and emits the latest item when it closes.

use crate::engine::timed::timed_operator;

timed_operator! {
    /// Publisher for the [`audit`](crate::OperatorExt::audit) method.
    pub struct Audit {
        stage: "audit",
        kind: Audit,
        builders: [on, flush_on_complete, on_drop, stats],
    }
}
