//! Async stages: an async function per item, with bounded concurrency.

pub(crate) mod map_async;
pub(crate) mod map_async_unordered;
pub(crate) mod then;
pub(crate) mod try_map_async;
