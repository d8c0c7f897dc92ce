//! The `metrics` feature: every stage of a named pipeline exports its statistics through
//! the `metrics` facade, labelled `pipeline` and `stage` (and `reason` for drops), with
//! the same values as its `FlowSnapshot`. Checked with `metrics-util`'s
//! `DebuggingRecorder`, set as the local recorder only around `subscribe`: the handles
//! are made then, once, and keep counting afterwards.
#![cfg(feature = "metrics")]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use spillway::operators::{BufferOverflow, DropReason, FlowSnapshot, StageReport};
use spillway::prelude::*;
use spillway_testkit::{TestPublisher, TestSubscriber, VirtualScheduler};

/// `(metric, pipeline, stage, reason)` -> value (gauges as `f64`, counters as `u64 as f64`).
type Values = BTreeMap<(String, String, String, String), f64>;

/// Reads every metric once (the debugging recorder resets what it reads).
fn read(snapshotter: &Snapshotter) -> Values {
    let mut values = Values::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let label = |name: &str| {
            key.labels()
                .find(|l| l.key() == name)
                .map_or(String::new(), |l| l.value().to_string())
        };
        let value = match value {
            DebugValue::Counter(n) => n as f64,
            DebugValue::Gauge(g) => g.into_inner(),
            DebugValue::Histogram(_) => panic!("no histograms expected"),
        };
        let id = (
            key.name().to_string(),
            label("pipeline"),
            label("stage"),
            label("reason"),
        );
        values.insert(id, value);
    }
    values
}

fn get(values: &Values, metric: &str, pipeline: &str, stage: &str, reason: &str) -> f64 {
    let id = (
        metric.to_string(),
        pipeline.to_string(),
        stage.to_string(),
        reason.to_string(),
    );
    *values
        .get(&id)
        .unwrap_or_else(|| panic!("no {id:?} in {values:#?}"))
}

/// Every exported value of `stage` equals its snapshot's.
fn assert_exported(values: &Values, pipeline: &str, stage: &StageReport) {
    let s: FlowSnapshot = stage.stats.unwrap();
    let label = stage.label.as_str();
    assert_eq!(
        get(values, "spillway_received_total", pipeline, label, ""),
        s.received as f64,
        "{label} received"
    );
    assert_eq!(
        get(values, "spillway_emitted_total", pipeline, label, ""),
        s.emitted as f64,
        "{label} emitted"
    );
    for reason in DropReason::ALL {
        let name = serde_json::to_value(reason).unwrap();
        let name = name.as_str().unwrap();
        assert_eq!(
            get(values, "spillway_dropped_total", pipeline, label, name),
            s.dropped_for(reason) as f64,
            "{label} dropped for {name}"
        );
    }
    assert_eq!(
        get(values, "spillway_buffered", pipeline, label, ""),
        s.buffered as f64,
        "{label} buffered"
    );
    assert_eq!(
        get(values, "spillway_pressure", pipeline, label, ""),
        s.pressure(),
        "{label} pressure"
    );
}

#[test]
fn every_stage_exports_what_its_snapshot_says() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let pipeline = range(0, 1_000)
        .on_backpressure_buffer(100, BufferOverflow::Backpressure)
        .unwrap()
        .chunks(10)
        .unwrap()
        .on_backpressure_buffer(4, BufferOverflow::DropOldest)
        .unwrap()
        .on_backpressure_latest()
        .named("export");
    let handle = pipeline.handle();
    let (subscriber, consumer) = TestSubscriber::<Vec<u64>, Infallible>::new(2);
    metrics::with_local_recorder(&recorder, || pipeline.subscribe(subscriber));
    // Outside the local recorder now: the handles made at subscribe keep counting.
    consumer.request(3);

    let stages = handle.stages();
    let labels: Vec<&str> = stages.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "on_backpressure_buffer_2",
            "chunks",
            "on_backpressure_buffer",
            "on_backpressure_latest"
        ]
    );
    let values = read(&snapshotter);
    for stage in &stages {
        assert_exported(&values, "export", stage);
    }
    // The numbers are not all zero: the last stage superseded most of the chunks.
    let latest = stages[3].stats.unwrap();
    assert!(latest.dropped_for(DropReason::Superseded) > 50, "{latest}");
    assert_eq!(
        get(
            &values,
            "spillway_dropped_total",
            "export",
            "on_backpressure_latest",
            "superseded"
        ),
        latest.dropped_for(DropReason::Superseded) as f64
    );
    // 4 metrics and 8 drop reasons per stage, nothing else.
    assert_eq!(values.len(), stages.len() * (4 + 8));
}

#[test]
fn time_based_stages_export_too() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let vs = VirtualScheduler::new();
    let source = TestPublisher::<u64, Infallible>::new();
    let pipeline = source
        .publisher()
        .sample(Duration::from_secs(1))
        .unwrap()
        .named("sampled");
    let handle = pipeline.handle();
    let (subscriber, consumer) =
        TestSubscriber::<u64, Infallible>::with_scheduler(u64::MAX, vs.clone());
    metrics::with_local_recorder(&recorder, || pipeline.subscribe(subscriber));
    for i in 0..10 {
        source.next(i);
    }
    vs.advance_by(Duration::from_secs(1));
    source.next(10).next(11);
    source.complete();
    vs.advance_by(Duration::from_secs(1));
    consumer.assert_complete();

    let stage = &handle.stages()[0];
    assert_eq!(stage.label, "sample");
    let s = stage.stats.unwrap();
    assert_eq!(s.received, 12);
    assert!(s.dropped_for(DropReason::Superseded) + s.dropped_for(DropReason::Throttled) > 0);
    assert_exported(&read(&snapshotter), "sampled", stage);
}

#[test]
fn a_pipeline_without_a_name_exports_nothing() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let lossy = range(0, 100).on_backpressure_drop();
    let stats = lossy.stats();
    let (subscriber, _consumer) = TestSubscriber::<u64, Infallible>::new(0);
    metrics::with_local_recorder(&recorder, || lossy.subscribe(subscriber));
    assert_eq!(stats.snapshot().dropped(), 100);
    assert!(read(&snapshotter).is_empty());
}
