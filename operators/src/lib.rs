//! Spillway's operators: transform, filter, and — above all — the backpressure
//! strategies: bounded buffers with overflow policies and watermarks, dropping, keeping
//! the latest, rate control, sampling and batching, each with live statistics.
//!
//! Every operator is a method of [`OperatorExt`], implemented for every publisher.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod audit;
mod batch_while_busy;
mod batching;
mod bounded;
mod chunks;
mod chunks_timeout;
mod chunks_weighted;
mod combine_latest;
mod concat;
mod concat_map;
mod debounce;
mod delay_elements;
mod ext;
mod distinct_until_changed;
mod fan_in;
mod filter_map;
mod flat_map;
mod reduce;
mod scan;
mod skip;
mod skip_while;
mod step;
pub mod tap;
mod take;
mod take_while;
mod take_until;
mod flat_map_iter;
mod sequence;
mod start_with;
mod default_if_empty;
mod filter;
mod gate;
mod limit_rate;
mod map;
mod map_async;
mod map_async_unordered;
mod merge;
mod on_backpressure_buffer;
mod on_backpressure_drop;
mod on_backpressure_latest;
mod on_backpressure_reduce;
mod pressure;
mod rate_limit;
mod sample;
mod sample_first;
mod stats;
mod support;
mod switch_map;
mod then;
mod throttle_latest;
mod timed;
mod try_map_async;
mod zip;

pub use crate::audit::Audit;
pub use crate::batch_while_busy::BatchWhileBusy;
pub use crate::chunks::Chunks;
pub use crate::chunks_timeout::ChunksTimeout;
pub use crate::chunks_weighted::ChunksWeighted;
pub use crate::combine_latest::CombineLatest;
pub use crate::concat::{concat, Concat};
pub use crate::concat_map::ConcatMap;
pub use crate::debounce::Debounce;
pub use crate::delay_elements::DelayElements;
pub use crate::ext::OperatorExt;
pub use crate::distinct_until_changed::{DistinctUntilChanged, DistinctUntilChangedByKey};
pub use crate::filter_map::FilterMap;
pub use crate::flat_map::FlatMap;
pub use crate::reduce::Reduce;
pub use crate::scan::Scan;
pub use crate::skip::Skip;
pub use crate::skip_while::SkipWhile;
pub use crate::tap::{Tap, Termination};
pub use crate::take::Take;
pub use crate::take_while::TakeWhile;
pub use crate::take_until::TakeUntil;
pub use crate::flat_map_iter::FlatMapIter;
pub use crate::start_with::StartWith;
pub use crate::default_if_empty::DefaultIfEmpty;
pub use crate::filter::Filter;
pub use crate::limit_rate::LimitRate;
pub use crate::map::Map;
pub use crate::map_async::MapAsync;
pub use crate::map_async_unordered::MapAsyncUnordered;
pub use crate::merge::{merge, Merge};
pub use crate::on_backpressure_buffer::{BufferOverflow, OnBackpressureBuffer};
pub use crate::on_backpressure_drop::OnBackpressureDrop;
pub use crate::on_backpressure_latest::OnBackpressureLatest;
pub use crate::on_backpressure_reduce::OnBackpressureReduce;
pub use crate::pressure::{
    Pressure, PressureBuffer, PressureChange, PressureGauge, PressureLevels,
};
pub use crate::rate_limit::{RateLimit, RateLimitMode, TokenBucket};
pub use crate::sample::Sample;
pub use crate::sample_first::SampleFirst;
pub use crate::stats::{DropReason, FlowSnapshot, FlowStats};
pub use crate::switch_map::SwitchMap;
pub use crate::then::Then;
pub use crate::throttle_latest::ThrottleLatest;
pub use crate::try_map_async::TryMapAsync;
pub use crate::zip::Zip;
