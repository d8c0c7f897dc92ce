//! What the stages of a [named](crate::OperatorExt::named) pipeline report through the
//! `tracing` and `metrics` features. Without either feature every item here is an empty
//! type or a no-op the compiler removes, so [`named`](crate::named) carries no `cfg`.

#[cfg(any(feature = "tracing", feature = "metrics"))]
pub(crate) use enabled::*;

#[cfg(not(any(feature = "tracing", feature = "metrics")))]
pub(crate) use disabled::*;

#[cfg(not(any(feature = "tracing", feature = "metrics")))]
mod disabled {
    use std::marker::PhantomData;
    use std::sync::Arc;

    use spillway_core::Error;

    use crate::levels::PressureChange;
    use crate::stats::FlowStats;

    /// The pipeline's part of the reporting: nothing without the features.
    pub(crate) struct PipelineReport;

    impl PipelineReport {
        #[inline]
        pub(crate) fn new(_name: &Arc<str>) -> Arc<PipelineReport> {
            Arc::new(PipelineReport)
        }
    }

    /// A stage's part of the reporting: nothing without the features.
    pub(crate) struct Reporting;

    /// The pipeline's span entered: nothing without the `tracing` feature.
    pub(crate) type SpanGuard<'a> = PhantomData<&'a ()>;

    impl Reporting {
        #[inline]
        pub(crate) fn pipeline_end(_pipeline: &Arc<PipelineReport>) -> Reporting {
            Reporting
        }

        #[inline]
        pub(crate) fn stage(
            _pipeline: &Arc<PipelineReport>,
            _label: &Arc<str>,
            _stats: Option<&FlowStats>,
        ) -> Reporting {
            Reporting
        }

        #[inline(always)]
        pub(crate) fn enter(&self) -> SpanGuard<'_> {
            PhantomData
        }

        #[inline(always)]
        pub(crate) fn completed(&self, _passed: u64) {}

        #[inline(always)]
        pub(crate) fn failed<E>(&self, _error: &Error<E>) {}

        #[inline(always)]
        pub(crate) fn cancelled(&self, _passed: u64) {}

        #[inline(always)]
        pub(crate) fn ended(&self, _stats: Option<&FlowStats>) {}
    }

    /// A pressure level changed: nothing without the `tracing` feature.
    #[inline(always)]
    pub(crate) fn pressure_changed(_stats: &FlowStats, _change: &PressureChange) {}
}

#[cfg(any(feature = "tracing", feature = "metrics"))]
mod enabled {
    use std::sync::Arc;

    use spillway_core::Error;

    use crate::levels::PressureChange;
    use crate::stats::{DropReason, FlowStats};

    /// One run (subscription) of a named pipeline: its name and, with `tracing`, its span.
    pub(crate) struct PipelineReport {
        name: Arc<str>,
        #[cfg(feature = "tracing")]
        span: tracing::Span,
    }

    impl PipelineReport {
        pub(crate) fn new(name: &Arc<str>) -> Arc<PipelineReport> {
            Arc::new(PipelineReport {
                name: Arc::clone(name),
                #[cfg(feature = "tracing")]
                span: tracing::info_span!("pipeline", name = %name),
            })
        }
    }

    /// The pipeline's span entered, for the named stage's signals.
    #[cfg(feature = "tracing")]
    pub(crate) type SpanGuard<'a> = Option<tracing::span::Entered<'a>>;
    /// Nothing to enter without the `tracing` feature.
    #[cfg(not(feature = "tracing"))]
    pub(crate) type SpanGuard<'a> = std::marker::PhantomData<&'a ()>;

    /// What a stage of a named pipeline (or the named stage itself, `end`) reports.
    pub(crate) struct Reporting {
        pipeline: Arc<PipelineReport>,
        /// The named stage: it enters the span and reports the pipeline's end.
        end: bool,
        /// The stage's statistics' observer (stages with statistics only).
        observer: Option<Arc<Observer>>,
    }

    impl Reporting {
        pub(crate) fn pipeline_end(pipeline: &Arc<PipelineReport>) -> Reporting {
            Reporting {
                pipeline: Arc::clone(pipeline),
                end: true,
                observer: None,
            }
        }

        /// Installs an observer in `stats` (the first named pipeline a stage runs in
        /// keeps it) and reports through whichever is installed.
        pub(crate) fn stage(
            pipeline: &Arc<PipelineReport>,
            label: &Arc<str>,
            stats: Option<&FlowStats>,
        ) -> Reporting {
            let observer = stats.map(|stats| {
                stats.observe_with(|| {
                    Arc::new(Observer::new(
                        Arc::clone(pipeline),
                        Arc::clone(label),
                        stats,
                    ))
                })
            });
            Reporting {
                pipeline: Arc::clone(pipeline),
                end: false,
                observer,
            }
        }

        #[inline]
        pub(crate) fn enter(&self) -> SpanGuard<'_> {
            #[cfg(feature = "tracing")]
            {
                self.end.then(|| self.pipeline.span.enter())
            }
            #[cfg(not(feature = "tracing"))]
            {
                std::marker::PhantomData
            }
        }

        pub(crate) fn completed(&self, passed: u64) {
            #[cfg(feature = "tracing")]
            if self.end {
                let p = &self.pipeline;
                tracing::debug!(parent: &p.span, pipeline = %p.name, passed, "pipeline completed");
            }
            let _ = passed;
        }

        pub(crate) fn failed<E>(&self, error: &Error<E>) {
            #[cfg(feature = "tracing")]
            if self.end {
                let p = &self.pipeline;
                let stage = error.stage().unwrap_or("(user error)");
                let error = describe(error);
                tracing::error!(parent: &p.span, pipeline = %p.name, stage, %error, "pipeline failed");
            }
            let _ = error;
        }

        pub(crate) fn cancelled(&self, passed: u64) {
            #[cfg(feature = "tracing")]
            if self.end {
                let p = &self.pipeline;
                tracing::debug!(parent: &p.span, pipeline = %p.name, passed, "pipeline cancelled");
            }
            let _ = passed;
        }

        /// The stage ended (its terminal signal went downstream, or downstream cancelled):
        /// the final drop summary, if it dropped anything.
        pub(crate) fn ended(&self, stats: Option<&FlowStats>) {
            #[cfg(feature = "tracing")]
            if let (Some(observer), Some(stats)) = (&self.observer, stats) {
                observer.summaries.ended(observer, stats);
            }
            let _ = (stats, &self.observer, &self.pipeline.name, self.end);
        }
    }

    /// A pressure level changed in a `pressure` stage: an event, if the stage is in a named
    /// pipeline (`warn` when it rises to `high` or `critical`, `info` otherwise).
    pub(crate) fn pressure_changed(stats: &FlowStats, change: &PressureChange) {
        #[cfg(feature = "tracing")]
        if let Some(o) = stats.observer() {
            let p = &o.pipeline;
            let (from, to) = (change.from.to_string(), change.to.to_string());
            let (buffered, capacity) = (change.buffered, change.capacity);
            if change.to > change.from && change.to >= crate::Pressure::High {
                tracing::warn!(parent: &p.span, pipeline = %p.name, stage = %o.label, from, to, buffered, capacity, "pressure level changed");
            } else {
                tracing::info!(parent: &p.span, pipeline = %p.name, stage = %o.label, from, to, buffered, capacity, "pressure level changed");
            }
        }
        let _ = (stats, change);
    }

    /// A flow-control error's message; a user error's type is unknown here.
    #[cfg(feature = "tracing")]
    fn describe<E>(error: &Error<E>) -> String {
        use std::convert::Infallible;
        let plain: Error<Infallible> = match error {
            Error::User(_) => return "user error".to_owned(),
            Error::InvalidRequest { stage } => Error::InvalidRequest { stage },
            Error::Overflow { stage, capacity } => Error::Overflow {
                stage,
                capacity: *capacity,
            },
            Error::Timeout { stage, after } => Error::Timeout {
                stage,
                after: *after,
            },
            Error::ProtocolViolation { stage, what } => Error::ProtocolViolation { stage, what },
            Error::Panicked { stage, message } => Error::Panicked {
                stage,
                message: message.clone(),
            },
            Error::Rejected { stage, reason } => Error::Rejected { stage, reason },
            Error::Aborted { stage, reason } => Error::Aborted {
                stage,
                reason: reason.clone(),
            },
            _ => return "error".to_owned(),
        };
        plain.to_string()
    }

    /// Installed in a [`FlowStats`] when its stage subscribes in a named pipeline: every
    /// count the stage makes also goes to the metric handles (made once, here) and feeds
    /// the drop summaries.
    pub(crate) struct Observer {
        #[cfg(feature = "tracing")]
        pipeline: Arc<PipelineReport>,
        #[cfg(feature = "tracing")]
        label: Arc<str>,
        #[cfg(feature = "tracing")]
        summaries: Summaries,
        #[cfg(feature = "metrics")]
        metrics: StageMetrics,
    }

    impl Observer {
        fn new(pipeline: Arc<PipelineReport>, label: Arc<str>, stats: &FlowStats) -> Observer {
            #[cfg(not(feature = "tracing"))]
            let _ = &label;
            #[cfg(not(feature = "metrics"))]
            let _ = stats;
            Observer {
                #[cfg(feature = "metrics")]
                metrics: StageMetrics::new(&pipeline.name, &label, stats),
                #[cfg(feature = "tracing")]
                pipeline,
                #[cfg(feature = "tracing")]
                label,
                #[cfg(feature = "tracing")]
                summaries: Summaries::new(),
            }
        }

        /// `n` more items received (a counter updated with a read-modify-write).
        #[inline]
        pub(crate) fn received(&self, n: u64) {
            #[cfg(feature = "metrics")]
            self.metrics.received.increment(n);
            let _ = n;
        }

        /// The received count is now `total` (a single-writer counter).
        #[inline]
        pub(crate) fn received_total(&self, total: u64) {
            #[cfg(feature = "metrics")]
            self.metrics.received.absolute(total);
            let _ = total;
        }

        /// `n` more items emitted.
        #[inline]
        pub(crate) fn emitted(&self, n: u64) {
            #[cfg(feature = "metrics")]
            self.metrics.emitted.increment(n);
            let _ = n;
        }

        /// The emitted count is now `total`.
        #[inline]
        pub(crate) fn emitted_total(&self, total: u64) {
            #[cfg(feature = "metrics")]
            self.metrics.emitted.absolute(total);
            let _ = total;
        }

        /// One more item dropped for `reason`; `total` is the new count for that reason
        /// when the stage counts its drops itself (single writer), `None` otherwise.
        #[inline]
        pub(crate) fn dropped(&self, stats: &FlowStats, reason: DropReason, total: Option<u64>) {
            #[cfg(feature = "metrics")]
            {
                let counter = &self.metrics.dropped[reason.index()];
                match total {
                    Some(total) => counter.absolute(total),
                    None => counter.increment(1),
                }
            }
            #[cfg(feature = "tracing")]
            self.summaries.dropped(self, stats, reason);
            let _ = (stats, reason, total);
        }

        /// `n` items held now, of `capacity` (0: no capacity).
        #[inline]
        pub(crate) fn buffered(&self, n: u64, capacity: u64) {
            #[cfg(feature = "metrics")]
            {
                self.metrics.buffered.set(n as f64);
                if capacity > 0 {
                    self.metrics
                        .pressure
                        .set((n as f64 / capacity as f64).min(1.0));
                }
            }
            let _ = (n, capacity);
        }
    }

    /// The metric handles of one stage, labelled `pipeline` and `stage`.
    #[cfg(feature = "metrics")]
    struct StageMetrics {
        received: metrics::Counter,
        emitted: metrics::Counter,
        /// In the order of [`DropReason::ALL`], each labelled `reason` too.
        dropped: [metrics::Counter; 8],
        buffered: metrics::Gauge,
        pressure: metrics::Gauge,
    }

    #[cfg(feature = "metrics")]
    impl StageMetrics {
        /// Registers the handles with the recorder in use (the global one, or a local one
        /// set around `subscribe`) and starts them at the stage's current counts.
        fn new(pipeline: &Arc<str>, stage: &Arc<str>, stats: &FlowStats) -> StageMetrics {
            let labels = [
                ("pipeline", pipeline.to_string()),
                ("stage", stage.to_string()),
            ];
            let dropped = DropReason::ALL.map(|reason| {
                let mut labels = labels.to_vec();
                labels.push(("reason", reason.name().to_owned()));
                metrics::counter!("spillway_dropped_total", &labels)
            });
            let metrics = StageMetrics {
                received: metrics::counter!("spillway_received_total", &labels),
                emitted: metrics::counter!("spillway_emitted_total", &labels),
                dropped,
                buffered: metrics::gauge!("spillway_buffered", &labels),
                pressure: metrics::gauge!("spillway_pressure", &labels),
            };
            let now = stats.snapshot();
            metrics.received.absolute(now.received);
            metrics.emitted.absolute(now.emitted);
            for (counter, n) in metrics.dropped.iter().zip(now.dropped_by) {
                counter.absolute(n);
            }
            metrics.buffered.set(now.buffered as f64);
            metrics.pressure.set(now.pressure());
            metrics
        }
    }

    /// The rate limit of a stage's drop events: an event at the first drop, then a
    /// summary each time the count has doubled since the last one, or (looked at every
    /// [`CHECK_EVERY`] drops) when a second has passed since the last one, and a final
    /// one when the stage ends. Never an event per item: `n` drops give at most
    /// `log2(n) + 2` events, plus one per second of dropping.
    #[cfg(feature = "tracing")]
    struct Summaries {
        /// Drops seen since the observer was installed.
        count: std::sync::atomic::AtomicU64,
        /// The count at which the next doubling summary is due.
        next: std::sync::atomic::AtomicU64,
        /// When the last event went out, in nanoseconds since `start`.
        last: std::sync::atomic::AtomicU64,
        start: std::time::Instant,
    }

    /// How often (in drops) the time since the last summary is looked at: reading the
    /// clock on every drop would cost more than the drop.
    #[cfg(feature = "tracing")]
    const CHECK_EVERY: u64 = 64;

    #[cfg(feature = "tracing")]
    impl Summaries {
        fn new() -> Summaries {
            use std::sync::atomic::AtomicU64;
            Summaries {
                count: AtomicU64::new(0),
                next: AtomicU64::new(1),
                last: AtomicU64::new(0),
                start: std::time::Instant::now(),
            }
        }

        fn elapsed_nanos(&self) -> u64 {
            u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
        }

        #[inline]
        fn dropped(&self, observer: &Observer, stats: &FlowStats, reason: DropReason) {
            use std::sync::atomic::Ordering::Relaxed;
            let n = self.count.fetch_add(1, Relaxed) + 1;
            let next = self.next.load(Relaxed);
            let summary = if n >= next {
                // Whoever moves the threshold reports; a concurrent dropper does not.
                if self
                    .next
                    .compare_exchange(next, n.saturating_mul(2), Relaxed, Relaxed)
                    .is_err()
                {
                    return;
                }
                self.last.store(self.elapsed_nanos(), Relaxed);
                if n == 1 {
                    "first"
                } else {
                    "doubled"
                }
            } else if n % CHECK_EVERY == 0 {
                let (now, last) = (self.elapsed_nanos(), self.last.load(Relaxed));
                let second_passed = now.saturating_sub(last) >= 1_000_000_000;
                if !second_passed
                    || self
                        .last
                        .compare_exchange(last, now, Relaxed, Relaxed)
                        .is_err()
                {
                    return;
                }
                "periodic"
            } else {
                return;
            };
            event(observer, stats, Some(reason), summary);
        }

        fn ended(&self, observer: &Observer, stats: &FlowStats) {
            if self.count.load(std::sync::atomic::Ordering::Relaxed) > 0 {
                event(observer, stats, None, "final");
            }
        }
    }

    /// A drop event: the stage's drops so far, by reason.
    #[cfg(feature = "tracing")]
    #[cold]
    fn event(observer: &Observer, stats: &FlowStats, reason: Option<DropReason>, summary: &str) {
        let now = stats.snapshot();
        let by_reason = DropReason::ALL
            .iter()
            .zip(now.dropped_by)
            .filter(|(_, n)| *n > 0)
            .map(|(reason, n)| format!("{}={n}", reason.name()))
            .collect::<Vec<_>>()
            .join(" ");
        let p = &observer.pipeline;
        let reason = reason.map_or("", DropReason::name);
        tracing::warn!(
            parent: &p.span,
            pipeline = %p.name,
            stage = %observer.label,
            dropped = now.dropped(),
            reason,
            by_reason,
            summary,
            "items dropped"
        );
    }
}
