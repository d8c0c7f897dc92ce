//! Spillway's operators: transform, filter, and — above all — the backpressure
//! strategies: bounded buffers with overflow policies and watermarks, dropping, keeping
//! the latest, rate control, sampling and batching, each with live statistics.
//!
//! Every operator is a method of [`OperatorExt`], implemented for every publisher.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod ext;
mod filter;
mod map;
mod on_backpressure_buffer;
mod stats;
mod support;

pub use crate::ext::OperatorExt;
pub use crate::filter::Filter;
pub use crate::map::Map;
pub use crate::on_backpressure_buffer::{BufferOverflow, OnBackpressureBuffer};
pub use crate::stats::{DropReason, FlowSnapshot, FlowStats};
