//! `sample_first`: lets an item through, then drops everything else for a period.

use crate::engine::timed::timed_operator;

timed_operator! {
    /// Publisher for the [`sample_first`](crate::OperatorExt::sample_first) method.
    pub struct SampleFirst {
        stage: "sample_first",
        kind: SampleFirst,
        builders: [on, on_drop, stats],
    }
}
