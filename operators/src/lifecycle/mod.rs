//! Stopping pipelines: kill switches and graceful drains.

pub(crate) mod graceful_drain;
pub(crate) mod kill_switch;
