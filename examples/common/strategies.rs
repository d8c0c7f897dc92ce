//! Three backpressure strategies as Spillway pipelines, each a few lines: the seed
//! document's examples 1, 3 and 4 ("Backpressure Handling in JavaScript"). Shared by the
//! runnable examples `watermarks`, `adaptive_controller` and `producer_consumer`, which
//! run them in real time, and by `tests/strategy_examples.rs`, which runs them on virtual
//! time.
#![allow(dead_code)] // each example uses only its own pipeline

use std::convert::Infallible;
use std::time::Duration;

use spillway::operators::{
    AdaptiveRateConfig, BufferOverflow, FlowStats, PressureChange, PressureLevels, RateHandle,
};
use spillway::prelude::*;
use spillway::ConfigError;

/// Example 1, `BackpressureAwareStream`: a producer paused at a high watermark of 100
/// buffered items and resumed, in one batch, when the buffer drains to 20; a consumer
/// that takes `consume_every` per item. Returns the pipeline and its live statistics
/// (produced = received, consumed = emitted, backpressure events = paused, max buffer =
/// peak buffered, dropped = 0).
pub(crate) fn watermarked_stream(
    producer: impl Publisher<Item = u64, Error = Infallible>,
    consume_every: Duration,
) -> Result<(impl Publisher<Item = u64, Error = Infallible>, FlowStats), ConfigError> {
    let buffered = producer
        .on_backpressure_buffer(100, BufferOverflow::Backpressure)?
        .watermarks(100, 20)?;
    let stats = buffered.stats();
    Ok((buffered.delay_elements(consume_every)?, stats))
}

/// Example 3, `AdvancedBackpressureController`: production paced by an adaptive rate that
/// rises while the consumer keeps up and falls when it does not, in front of a buffer of
/// 1,000 that reports the seed's pressure levels (medium at 50%, high at 70%, critical at
/// 90%) to `on_level`.
pub(crate) fn adaptive_controller(
    producer: impl Publisher<Item = u64, Error = Infallible>,
    consume_every: Duration,
    on_level: impl Fn(PressureChange) + Send + Sync + 'static,
) -> Result<
    (
        impl Publisher<Item = u64, Error = Infallible>,
        RateHandle,
        FlowStats,
    ),
    ConfigError,
> {
    let paced = producer.adaptive_rate(AdaptiveRateConfig {
        min: 1.0,
        max: 1_000.0,
        initial: 100.0,
        increase: 5.0,
        decrease_factor: 0.8,
        window: Duration::from_millis(500),
    })?;
    let rate = paced.rate();
    let levels = paced.pressure(1_000, PressureLevels::seed(), on_level)?;
    let stats = levels.stats();
    Ok((levels.delay_elements(consume_every)?, rate, stats))
}

/// Example 4, `BackpressureAwareProducerConsumer`: a producer that cannot be paused (one
/// item every `produce_every`, like the seed's timer loop) into a buffer of 20 that drops
/// the newest item when full, and a consumer taking `consume_every` per item. The
/// buffer's pressure is the seed's utilisation, classified by [`PressureLevels::seed`].
pub(crate) fn producer_consumer(
    produce_every: Duration,
    consume_every: Duration,
) -> Result<(impl Publisher<Item = u64, Error = Infallible>, FlowStats), ConfigError> {
    let buffered =
        interval(produce_every)?.on_backpressure_buffer(20, BufferOverflow::DropNewest)?;
    let stats = buffered.stats();
    Ok((buffered.delay_elements(consume_every)?, stats))
}
