//! Threads: moving signals onto a scheduler or an executor.

pub(crate) mod poll_on;
pub(crate) mod publish_on;
pub(crate) mod subscribe_on;
