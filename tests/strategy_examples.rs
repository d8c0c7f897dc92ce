//! The strategy examples (`watermarks`, `adaptive_controller`, `producer_consumer`: the
//! seed document's examples 1, 3 and 4) run on virtual time: the same pipeline functions
//! as `cargo run --example NAME`, their behaviour pinned.

#[path = "../examples/common/strategies.rs"]
mod pipelines;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use spillway::operators::{DropReason, Pressure, PressureLevels};
use spillway::prelude::*;
use spillway_testkit::{TestSubscriber, VirtualScheduler};

const MS: Duration = Duration::from_millis(1);

/// Records every request a stage makes of its upstream.
fn recorded(
    source: impl Publisher<Item = u64, Error = Infallible>,
) -> (
    impl Publisher<Item = u64, Error = Infallible>,
    Arc<Mutex<Vec<u64>>>,
) {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = requests.clone();
    (
        source.do_on_request(move |n| log.lock().unwrap().push(n)),
        requests,
    )
}

#[test]
fn example_1_pauses_at_the_high_watermark_and_resumes_in_one_batch_at_the_low_one() {
    let vs = VirtualScheduler::new();
    let (producer, requests) = recorded(range(0, 1_000));
    let (pipeline, stats) = pipelines::watermarked_stream(producer, 10 * MS).unwrap();
    let (subscriber, consumer) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
    pipeline.subscribe(subscriber);
    vs.run_until_idle().unwrap();

    consumer.assert_items(&(0..1_000).collect::<Vec<_>>());
    consumer.assert_complete();
    assert_eq!(vs.elapsed(), 1_000 * 10 * MS, "the consumer set the pace");
    let requests = requests.lock().unwrap().clone();
    assert_eq!(requests[0], 100, "fill up to the high watermark");
    assert!(
        requests[1..].iter().all(|&n| n == 80),
        "resume in one batch of high - low: {requests:?}"
    );
    let s = stats.snapshot();
    assert_eq!((s.received, s.emitted, s.dropped()), (1_000, 1_000, 0));
    assert!(s.peak_buffered <= 100);
    assert!(s.paused >= 10, "backpressure events were counted: {s}");
    assert!(s.is_balanced());
}

#[test]
fn example_3_adapts_its_rate_to_the_consumer_and_reports_pressure_levels() {
    let vs = VirtualScheduler::new();
    let changes = Arc::new(Mutex::new(Vec::new()));
    let log = changes.clone();
    let (pipeline, rate, stats) = pipelines::adaptive_controller(
        range(0, u64::MAX),
        10 * MS, // a consumer of 100 items per second
        move |change| log.lock().unwrap().push(change.to),
    )
    .unwrap();
    let (subscriber, consumer) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
    pipeline.subscribe(subscriber);
    vs.advance_by(Duration::from_secs(60));
    consumer.cancel();

    // The producer started at 100/s and may have risen; a consumer of 100/s keeps the
    // buffer from growing without end, and nothing is lost.
    let s = stats.snapshot();
    assert!(s.is_balanced());
    assert_eq!(
        s.dropped(),
        s.dropped_for(DropReason::Discarded),
        "lossless: the only items dropped are those still buffered when the consumer cancelled"
    );
    assert!(
        consumer.item_count() >= 5_900,
        "about 100/s for 60 s: {}",
        consumer.item_count()
    );
    assert!(rate.current() >= 1.0 && rate.current() <= 1_000.0);
    // Any level change reported is a real transition between the seed's levels.
    let changes = changes.lock().unwrap().clone();
    assert!(changes.windows(2).all(|w| w[0] != w[1]), "{changes:?}");
    if s.peak_buffered >= 500 {
        assert!(changes.contains(&Pressure::Medium), "{changes:?} with {s}");
    }
}

#[test]
fn example_4_drops_when_the_buffer_is_full_and_accounts_for_every_item() {
    let vs = VirtualScheduler::new();
    let (pipeline, stats) = pipelines::producer_consumer(10 * MS, 200 * MS).unwrap();
    let (subscriber, consumer) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
    pipeline.subscribe(subscriber);
    let levels = PressureLevels::seed();
    vs.advance_by(Duration::from_secs(5));
    assert_eq!(
        levels.classify(stats.snapshot().pressure()),
        Pressure::Critical
    );
    vs.advance_by(Duration::from_secs(25));
    consumer.cancel();

    // 30 s of a producer every 10 ms and a consumer every 200 ms, through 20 slots.
    let s = stats.snapshot();
    assert_eq!(s.received, 3_000);
    assert!(
        (149..=151).contains(&consumer.item_count()),
        "{}",
        consumer.item_count()
    );
    assert!(s.dropped() > 2_800, "{s}");
    assert!(s.peak_buffered <= 20);
    assert!(
        s.is_balanced(),
        "received = emitted + dropped + buffered: {s}"
    );
    // The items that got through are in order, the first one without delay.
    let items = consumer.items();
    assert_eq!(items[0], 0);
    assert!(items.windows(2).all(|w| w[0] < w[1]));
}
