//! Batching: items into `Vec`s by count, time, a clock, a boundary publisher, weight, or
//! while downstream is busy.

pub(crate) mod batch_while_busy;
pub(crate) mod chunks;
pub(crate) mod chunks_by_key;
pub(crate) mod chunks_every;
pub(crate) mod chunks_sliding;
pub(crate) mod chunks_timeout;
pub(crate) mod chunks_weighted;
pub(crate) mod chunks_with;
