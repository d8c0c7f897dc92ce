//! Windowing: the stream split into publishers of items (publishers of publishers), by
//! count, by count or time, or by key.

pub(crate) mod group_by;
pub(crate) mod window;
pub(crate) mod window_timeout;
