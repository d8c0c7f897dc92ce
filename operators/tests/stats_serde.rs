//! With the `serde` feature the statistics serialise for a `/stats` endpoint: field names
//! as in the structs, drop counts as a map keyed by reason, enums in snake_case.

use serde_json::json;
use spillway::operators::{
    BreakerConfig, Budget, BufferOverflow, CircuitBreaker, DropReason, Pressure, PressureLevels,
};
use spillway::prelude::*;
use spillway_testkit::TestSubscriber;

#[test]
fn a_flow_snapshot_is_a_flat_record_with_drops_by_reason() {
    // 10 items into a buffer of 3 with no demand: 7 evicted, 3 buffered.
    let stage = range(0, 10)
        .on_backpressure_buffer(3, BufferOverflow::DropOldest)
        .unwrap();
    let stats = stage.stats();
    let (sub, down) = TestSubscriber::<u64, std::convert::Infallible>::new(0);
    stage.subscribe(sub);
    let value = serde_json::to_value(stats.snapshot()).unwrap();
    assert_eq!(
        value,
        json!({
            "received": 10,
            "emitted": 0,
            "dropped_by": {
                "buffer_full": 0, "evicted": 7, "buffer_cleared": 0, "superseded": 0,
                "no_demand": 0, "throttled": 0, "shed": 0, "discarded": 0
            },
            "merged": 0,
            "paused": 0,
            "buffered": 3,
            "peak_buffered": 3,
            "capacity": 3
        })
    );
    down.cancel();
    assert_eq!(
        serde_json::to_value(DropReason::NoDemand).unwrap(),
        json!("no_demand")
    );
}

#[test]
fn budget_breaker_pressure_and_emitter_stats_serialise() {
    let budget = Budget::new(4).unwrap();
    let v = serde_json::to_value(budget.stats()).unwrap();
    assert_eq!(v["capacity"], 4);
    assert_eq!(v["stopped"], false);

    let breaker = CircuitBreaker::new(BreakerConfig::default()).unwrap();
    let v = serde_json::to_value(breaker.stats()).unwrap();
    assert_eq!(v["state"], "closed");
    assert_eq!(v["times_opened"], 0);

    assert_eq!(
        serde_json::to_value(Pressure::Critical).unwrap(),
        json!("critical")
    );
    let changes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = changes.clone();
    let (sub, down) = TestSubscriber::<u64, std::convert::Infallible>::new(0);
    range(0, 4)
        .pressure(4, PressureLevels::seed(), move |c| {
            log.lock().unwrap().push(c)
        })
        .unwrap()
        .subscribe(sub);
    let first = serde_json::to_value(changes.lock().unwrap()[0]).unwrap();
    assert_eq!(first["from"], "low");
    assert_eq!(first["capacity"], 4);
    down.cancel();

    let (tx, rx) = std::sync::mpsc::channel();
    let events = create(
        OverflowStrategy::Buffer(8),
        move |emitter: Emitter<u64, std::convert::Infallible>| {
            emitter.next(1).unwrap();
            tx.send(emitter.stats()).unwrap();
        },
    );
    let (sub, _down) = TestSubscriber::<u64, std::convert::Infallible>::new(0);
    events.subscribe(sub);
    let v = serde_json::to_value(rx.recv().unwrap()).unwrap();
    assert_eq!(
        (v["pushed"].clone(), v["queued"].clone()),
        (json!(1), json!(1))
    );
}
