//! `sample`: emits, every period, the latest item seen in that period.

use crate::engine::timed::timed_operator;

timed_operator! {
    /// Publisher for the [`sample`](crate::OperatorExt::sample) method.
    pub struct Sample {
        stage: "sample",
        kind: Sample,
        builders: [on, flush_on_complete, on_drop, stats],
    }
}
