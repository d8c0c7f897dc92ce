//! Backpressure: buffers with overflow policies and watermarks, dropping, keeping the latest, shedding, shared budgets and circuit breaking.

pub(crate) mod budget;
pub(crate) mod budget_permits;
pub(crate) mod circuit_breaker;
pub(crate) mod limit_rate;
pub(crate) mod load_shed;
pub(crate) mod on_backpressure_buffer;
pub(crate) mod on_backpressure_drop;
pub(crate) mod on_backpressure_latest;
pub(crate) mod on_backpressure_reduce;
pub(crate) mod pressure;
pub(crate) mod within_budget;
