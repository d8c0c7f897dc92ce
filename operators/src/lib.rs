//! Spillway's operators: transform, filter, and — above all — the backpressure
//! strategies: bounded buffers with overflow policies and watermarks, dropping, keeping
//! the latest, rate control, sampling and batching, each with live statistics.
//!
//! Every operator is a method of [`OperatorExt`], implemented for every publisher.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod async_stages;
mod backpressure;
mod batching;
mod combine;
mod engine;
mod errors;
mod ext;
mod levels;
mod lifecycle;
mod multicast;
mod named;
mod observe;
mod stats;
mod sync;
mod threads;
mod time;
mod transform;
mod windowing;
pub use crate::async_stages::map_async::MapAsync;
pub use crate::async_stages::map_async_unordered::MapAsyncUnordered;
pub use crate::async_stages::then::Then;
pub use crate::async_stages::try_map_async::TryMapAsync;
pub use crate::backpressure::budget::{Budget, BudgetStats};
pub use crate::backpressure::circuit_breaker::{
    BreakerConfig, BreakerMode, BreakerState, BreakerStats, CircuitBreaker, CircuitBreakerOp,
};
pub use crate::backpressure::limit_rate::LimitRate;
pub use crate::backpressure::load_shed::LoadShed;
pub use crate::backpressure::on_backpressure_buffer::{
    BufferOverflow, BufferRelease, OnBackpressureBuffer,
};
pub use crate::backpressure::on_backpressure_drop::OnBackpressureDrop;
pub use crate::backpressure::on_backpressure_latest::OnBackpressureLatest;
pub use crate::backpressure::on_backpressure_reduce::OnBackpressureReduce;
pub use crate::backpressure::pressure::{
    Pressure, PressureBuffer, PressureChange, PressureGauge, PressureLevels,
};
pub use crate::backpressure::within_budget::WithinBudget;
pub use crate::batching::batch_while_busy::BatchWhileBusy;
pub use crate::batching::chunks::Chunks;
pub use crate::batching::chunks_by_key::ChunksByKey;
pub use crate::batching::chunks_every::{ChunksEvery, DEFAULT_MAX_SIZE};
pub use crate::batching::chunks_sliding::ChunksSliding;
pub use crate::batching::chunks_timeout::ChunksTimeout;
pub use crate::batching::chunks_weighted::ChunksWeighted;
pub use crate::batching::chunks_with::ChunksWith;
pub use crate::combine::combine_latest::CombineLatest;
pub use crate::combine::combine_latest_all::{combine_latest_all, CombineLatestAll};
pub use crate::combine::concat::{concat, Concat};
pub use crate::combine::concat_map::ConcatMap;
pub use crate::combine::flat_map::FlatMap;
pub use crate::combine::merge::{merge, Merge};
pub use crate::combine::switch_map::SwitchMap;
pub use crate::combine::zip::Zip;
pub use crate::combine::zip_all::{zip_all, ZipAll};
pub use crate::engine::unicast::UnicastWindow;
pub use crate::errors::err_into::ErrInto;
pub use crate::errors::map_error::MapError;
pub use crate::errors::on_error_resume::OnErrorResume;
pub use crate::errors::on_error_return::OnErrorReturn;
pub use crate::errors::retry::Retry;
pub use crate::errors::retry_backoff::{Backoff, RetryBackoff, DEFAULT_BACKOFF_SEED};
pub use crate::errors::retry_when::RetryWhen;
pub use crate::ext::OperatorExt;
pub use crate::lifecycle::graceful_drain::{DrainReport, GracefulDrain, DEADLINE_PASSED};
pub use crate::lifecycle::kill_switch::{KillSwitch, SwitchState, WithKillSwitch};
pub use crate::multicast::processor::{MulticastOverflow, MulticastProcessor, TryEmitError};
pub use crate::multicast::publish::{Connection, Publish, RefCount, DEFAULT_PREFETCH};
pub use crate::named::{Named, PipelineHandle, StageReport, StageState};
pub use crate::stats::{DropReason, FlowSnapshot, FlowStats};
pub use crate::threads::poll_on::PollOn;
pub use crate::threads::publish_on::PublishOn;
pub use crate::threads::subscribe_on::SubscribeOn;
pub use crate::time::adaptive_rate::{AdaptiveRate, AdaptiveRateConfig, RateHandle};
pub use crate::time::audit::Audit;
pub use crate::time::debounce::Debounce;
pub use crate::time::delay_elements::DelayElements;
pub use crate::time::delay_subscription::DelaySubscription;
pub use crate::time::delay_until::DelayUntil;
pub use crate::time::rate_limit::{RateLimit, RateLimitMode, TokenBucket};
pub use crate::time::sample::Sample;
pub use crate::time::sample_first::SampleFirst;
pub use crate::time::sample_first_with::SampleFirstWith;
pub use crate::time::sample_with::SampleWith;
pub use crate::time::throttle::{Throttle, ThrottleMode};
pub use crate::time::throttle_latest::ThrottleLatest;
pub use crate::time::timeout::{NoFallback, OnTimeout, Timeout};
pub use crate::transform::all::All;
pub use crate::transform::any::Any;
pub use crate::transform::count_items::CountItems;
pub use crate::transform::default_if_empty::DefaultIfEmpty;
pub use crate::transform::distinct_by_key::{DistinctByKey, DistinctByKeyBounded};
pub use crate::transform::distinct_until_changed::{
    DistinctUntilChanged, DistinctUntilChangedByKey,
};
pub use crate::transform::distinct_until_changed_by::DistinctUntilChangedBy;
pub use crate::transform::element_at::{ElementAt, ElementAtOr};
pub use crate::transform::filter::Filter;
pub use crate::transform::filter_map::FilterMap;
pub use crate::transform::first_or::FirstOr;
pub use crate::transform::flat_map_iter::FlatMapIter;
pub use crate::transform::last_or::LastOr;
pub use crate::transform::map::Map;
pub use crate::transform::pairwise::Pairwise;
pub use crate::transform::reduce::Reduce;
pub use crate::transform::scan::Scan;
pub use crate::transform::skip::Skip;
pub use crate::transform::skip_until::SkipUntil;
pub use crate::transform::skip_while::SkipWhile;
pub use crate::transform::start_with::StartWith;
pub use crate::transform::take::Take;
pub use crate::transform::take_last::TakeLast;
pub use crate::transform::take_until::TakeUntil;
pub use crate::transform::take_while::TakeWhile;
pub use crate::transform::tap::{self, Tap, Termination};
pub use crate::transform::try_filter::TryFilter;
pub use crate::transform::try_filter_map::TryFilterMap;
pub use crate::transform::try_map::TryMap;
pub use crate::windowing::group_by::{
    GroupBy, GroupedPublisher, DEFAULT_GROUP_BUFFER, DEFAULT_MAX_GROUPS, GROUP_BY_TRAP,
    TOO_MANY_GROUPS,
};
pub use crate::windowing::window::Window;
pub use crate::windowing::window_timeout::WindowTimeout;
