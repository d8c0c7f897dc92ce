//! The runs behind the charts: one pipeline per strategy on a [`VirtualScheduler`], a fast
//! producer (an item every millisecond) and a slow consumer (`delay_elements(5 ms)`: one
//! item every 5 ms), and the strategy's stage's [`FlowStats`] sampled every virtual
//! millisecond.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use spillway::operators::{
    AdaptiveRateConfig, BufferOverflow, FlowStats, PressureLevels, RateLimitMode, TokenBucket,
};
use spillway::prelude::*;
use spillway::ConfigError;
use spillway_testkit::{TestSubscriber, TestSubscriberHandle, VirtualScheduler};

const MS: Duration = Duration::from_millis(1);
/// How long a run lasts, in virtual milliseconds (adaptive rate's: three times as long,
/// to show more than one of its windows' rises and falls).
const RUN_MS: u32 = 1_000;
/// The producer's period: 1,000 items per second.
const PRODUCE_EVERY: Duration = MS;
/// The consumer's time per item: 200 items per second.
const CONSUME_EVERY: Duration = Duration::from_millis(5);
/// The capacity of the buffering strategies.
pub(crate) const CAPACITY: u64 = 50;
/// The watermarks of the pausing strategy.
pub(crate) const HIGH: u64 = 50;
pub(crate) const LOW: u64 = 10;
/// The sampling period of `sample`.
pub(crate) const SAMPLE_EVERY_MS: u64 = 20;
/// `rate_limit`: 100 tokens per second, bursts of 10.
pub(crate) const RATE_PER_SECOND: u64 = 100;
pub(crate) const BURST: u64 = 10;

/// One sample of a stage's statistics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    /// Virtual time, in milliseconds since the subscription.
    pub(crate) t_ms: u32,
    pub(crate) received: u64,
    pub(crate) emitted: u64,
    pub(crate) dropped: u64,
    pub(crate) merged: u64,
    pub(crate) buffered: u64,
    /// Buffer utilisation, 0.0 to 1.0 (0.0 for a stage without a capacity).
    pub(crate) pressure: f64,
}

/// A strategy to chart: the file it goes to, its chart's title, and its pipeline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Strategy {
    /// The file stem: `book/src/charts/<name>.svg`.
    pub(crate) name: &'static str,
    /// The chart's title.
    pub(crate) title: &'static str,
    /// How long it runs, in virtual milliseconds.
    pub(crate) run_ms: u32,
    /// Subscribes the pipeline on `clock`; returns the charted stage's statistics and the
    /// consumer.
    start: fn(&Arc<VirtualScheduler>) -> Result<Started, ConfigError>,
}

type Started = (FlowStats, TestSubscriberHandle<u64, Infallible>);

/// Every charted strategy, in the order of the guide's chapter.
pub(crate) const STRATEGIES: &[Strategy] = &[
    Strategy {
        name: "watermarks",
        title: "on_backpressure_buffer(50, Backpressure).watermarks(50, 10)",
        run_ms: RUN_MS,
        start: watermarks,
    },
    Strategy {
        name: "buffer-drop-newest",
        title: "on_backpressure_buffer(50, DropNewest)",
        run_ms: RUN_MS,
        start: drop_newest,
    },
    Strategy {
        name: "drop",
        title: "on_backpressure_drop()",
        run_ms: RUN_MS,
        start: drop,
    },
    Strategy {
        name: "latest",
        title: "on_backpressure_latest()",
        run_ms: RUN_MS,
        start: latest,
    },
    Strategy {
        name: "rate-limit",
        title: "rate_limit(100/s, burst 10, RateLimitMode::Drop)",
        run_ms: RUN_MS,
        start: rate_limit,
    },
    Strategy {
        name: "sample",
        title: "sample(20 ms)",
        run_ms: RUN_MS,
        start: sample,
    },
    Strategy {
        name: "adaptive-rate",
        title: "adaptive_rate(AIMD, window 100 ms) into pressure(50)",
        run_ms: 3 * RUN_MS,
        start: adaptive_rate,
    },
    Strategy {
        name: "load-shed",
        title: "load_shed(50, priority = item % 4)",
        run_ms: RUN_MS,
        start: load_shed,
    },
];

impl Strategy {
    /// Runs the strategy for `run_ms` virtual milliseconds, sampling its stage's
    /// statistics after every millisecond (and once at the start).
    pub(crate) fn run(&self) -> Result<Vec<Sample>, ConfigError> {
        let clock = VirtualScheduler::new();
        let (stats, consumer) = (self.start)(&clock)?;
        let mut samples = Vec::with_capacity(self.run_ms as usize + 1);
        for t_ms in 0..=self.run_ms {
            if t_ms > 0 {
                clock.advance_by(MS);
            }
            let s = stats.snapshot();
            samples.push(Sample {
                t_ms,
                received: s.received,
                emitted: s.emitted,
                dropped: s.dropped(),
                merged: s.merged,
                buffered: s.buffered,
                pressure: s.pressure(),
            });
        }
        consumer.cancel();
        Ok(samples)
    }
}

/// Subscribes a consumer that takes [`CONSUME_EVERY`] per item to `stage` on `clock`.
fn consume(
    stage: impl Publisher<Item = u64, Error = Infallible>,
    clock: &Arc<VirtualScheduler>,
) -> Result<TestSubscriberHandle<u64, Infallible>, ConfigError> {
    let (subscriber, handle) = TestSubscriber::with_scheduler(u64::MAX, clock.clone());
    stage.delay_elements(CONSUME_EVERY)?.subscribe(subscriber);
    Ok(handle)
}

/// A producer that can be paused: as many items as requested, at most one per millisecond.
fn pausable_producer() -> Result<impl Publisher<Item = u64, Error = Infallible>, ConfigError> {
    range(0, u64::MAX).rate_limit(
        TokenBucket::per_second(1_000).burst(1),
        RateLimitMode::Delay,
    )
}

fn watermarks(clock: &Arc<VirtualScheduler>) -> Result<Started, ConfigError> {
    let stage = pausable_producer()?
        .on_backpressure_buffer(CAPACITY as usize, BufferOverflow::Backpressure)?
        .watermarks(HIGH as usize, LOW as usize)?;
    Ok((stage.stats(), consume(stage, clock)?))
}

// DropOldest, DropBuffer and KeepLatest give the same counts as DropNewest (a full buffer
// drops one item per item received); only which items differs, which a chart of counts
// cannot show.
fn buffer(clock: &Arc<VirtualScheduler>, policy: BufferOverflow) -> Result<Started, ConfigError> {
    let stage = interval(PRODUCE_EVERY)?.on_backpressure_buffer(CAPACITY as usize, policy)?;
    Ok((stage.stats(), consume(stage, clock)?))
}

fn drop_newest(clock: &Arc<VirtualScheduler>) -> Result<Started, ConfigError> {
    buffer(clock, BufferOverflow::DropNewest)
}

fn drop(clock: &Arc<VirtualScheduler>) -> Result<Started, ConfigError> {
    let stage = interval(PRODUCE_EVERY)?.on_backpressure_drop();
    Ok((stage.stats(), consume(stage, clock)?))
}

fn latest(clock: &Arc<VirtualScheduler>) -> Result<Started, ConfigError> {
    let stage = interval(PRODUCE_EVERY)?.on_backpressure_latest();
    Ok((stage.stats(), consume(stage, clock)?))
}

fn rate_limit(clock: &Arc<VirtualScheduler>) -> Result<Started, ConfigError> {
    let bucket = TokenBucket::per_second(RATE_PER_SECOND).burst(BURST);
    let stage = interval(PRODUCE_EVERY)?.rate_limit(bucket, RateLimitMode::Drop)?;
    Ok((stage.stats(), consume(stage, clock)?))
}

fn sample(clock: &Arc<VirtualScheduler>) -> Result<Started, ConfigError> {
    let stage = interval(PRODUCE_EVERY)?.sample(Duration::from_millis(SAMPLE_EVERY_MS))?;
    Ok((stage.stats(), consume(stage, clock)?))
}

fn adaptive_rate(clock: &Arc<VirtualScheduler>) -> Result<Started, ConfigError> {
    let paced = range(0, u64::MAX).adaptive_rate(AdaptiveRateConfig {
        min: 10.0,
        max: 1_000.0,
        initial: 100.0,
        increase: 50.0,
        decrease_factor: 0.5,
        window: Duration::from_millis(100),
    })?;
    let stage = paced.pressure(CAPACITY as usize, PressureLevels::seed(), |_| {})?;
    Ok((stage.stats(), consume(stage, clock)?))
}

fn load_shed(clock: &Arc<VirtualScheduler>) -> Result<Started, ConfigError> {
    let stage = interval(PRODUCE_EVERY)?.load_shed(CAPACITY as usize, |item| item % 4)?;
    Ok((stage.stats(), consume(stage, clock)?))
}

/// What each chart is meant to show, checked on the data behind it.
#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str) -> Vec<Sample> {
        let strategy = STRATEGIES.iter().find(|s| s.name == name).expect(name);
        strategy.run().expect("a valid pipeline")
    }

    fn last(samples: &[Sample]) -> Sample {
        *samples.last().expect("samples")
    }

    #[test]
    fn every_sample_of_every_chart_accounts_for_every_item() {
        for strategy in STRATEGIES {
            let samples = strategy.run().unwrap();
            assert_eq!(samples.len(), strategy.run_ms as usize + 1);
            for s in &samples {
                assert_eq!(
                    s.received,
                    s.emitted + s.dropped + s.merged + s.buffered,
                    "{}: received = emitted + dropped + merged + buffered at {s:?}",
                    strategy.name
                );
                assert!(
                    (0.0..=1.0).contains(&s.pressure),
                    "{}: {s:?}",
                    strategy.name
                );
            }
            // The counters only grow.
            for w in samples.windows(2) {
                assert!(w[0].received <= w[1].received && w[0].emitted <= w[1].emitted);
                assert!(w[0].dropped <= w[1].dropped, "{}: {w:?}", strategy.name);
            }
        }
    }

    #[test]
    fn watermarks_pause_and_resume_without_dropping() {
        let samples = run("watermarks");
        assert!(samples.iter().all(|s| s.dropped == 0 && s.buffered <= HIGH));
        // The producer pauses: the count received stands still for a while, several times.
        let paused_ms = samples
            .windows(2)
            .filter(|w| w[0].received == w[1].received)
            .count();
        assert!(paused_ms > 500, "paused {paused_ms} ms of 1,000");
        // The buffer saw-tooths: production resumes only once the buffer has drained to
        // the low watermark (within the one item the resumed producer sends at once),
        // again and again.
        let resumes: Vec<_> = samples
            .windows(3)
            .filter(|w| w[0].received == w[1].received && w[1].received < w[2].received)
            .map(|w| w[2])
            .collect();
        assert!(resumes.len() >= 4, "{resumes:?}");
        assert!(resumes.iter().all(|s| s.buffered <= LOW + 1), "{resumes:?}");
        // The consumer sets the pace: one item per 5 ms.
        assert!(
            (195..=205).contains(&last(&samples).emitted),
            "{:?}",
            last(&samples)
        );
    }

    #[test]
    fn a_full_dropping_buffer_drops_all_the_consumer_cannot_take() {
        let samples = run("buffer-drop-newest");
        assert!(samples.iter().all(|s| s.buffered <= CAPACITY));
        let end = last(&samples);
        assert_eq!(end.received, 1_000, "the producer is never paused");
        assert_eq!(end.buffered, CAPACITY);
        assert_eq!(end.pressure, 1.0);
        assert_eq!(end.dropped, 1_000 - 200 - CAPACITY);
    }

    #[test]
    fn drop_holds_nothing_and_latest_holds_one() {
        for (name, hold) in [("drop", 0), ("latest", 1)] {
            let samples = run(name);
            assert!(samples.iter().all(|s| s.buffered <= hold), "{name}");
            let end = last(&samples);
            assert_eq!(end.received, 1_000, "{name}");
            assert!((195..=205).contains(&end.emitted), "{name}: {end:?}");
            assert!(end.dropped >= 1_000 - 205 - hold, "{name}: {end:?}");
        }
    }

    #[test]
    fn rate_limit_and_sample_emit_at_their_own_pace_not_the_consumers() {
        for s in run("rate-limit") {
            let allowed = BURST + RATE_PER_SECOND * u64::from(s.t_ms) / 1_000;
            assert!(s.emitted <= allowed, "{s:?} above {allowed}");
        }
        assert!(last(&run("rate-limit")).emitted >= RATE_PER_SECOND);
        for s in run("sample") {
            assert!(s.emitted <= u64::from(s.t_ms) / SAMPLE_EVERY_MS, "{s:?}");
        }
        assert_eq!(last(&run("sample")).emitted, 1_000 / SAMPLE_EVERY_MS);
    }

    #[test]
    fn adaptive_rate_drops_nothing_and_its_buffer_rises_and_falls() {
        let samples = run("adaptive-rate");
        assert!(samples
            .iter()
            .all(|s| s.dropped == 0 && s.buffered <= CAPACITY));
        let peak = samples.iter().map(|s| s.buffered).max().unwrap();
        assert!(peak > 10, "the rate overshoots the consumer: peak {peak}");
        assert!(
            samples.iter().filter(|s| s.buffered == 0).count() > 100,
            "and falls back below it"
        );
    }

    #[test]
    fn load_shed_keeps_its_buffer_bounded_and_sheds_the_excess() {
        let samples = run("load-shed");
        assert!(samples.iter().all(|s| s.buffered <= CAPACITY));
        let end = last(&samples);
        assert_eq!(end.dropped, 1_000 - 200 - CAPACITY);
    }
}
