//! `named` and `PipelineHandle`: the walk of a running pipeline's stages (state, demand
//! outstanding below each, buffered counts) with a stalled consumer; the states after
//! completion, an error and a cancel; which stages the walk sees (nesting, a panic in
//! `subscribe`, `subscribe_on`, stages subscribed after `subscribe` returned).

use std::convert::Infallible;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use spillway::operators::{BufferOverflow, StageReport, StageState};
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::{TestPublisher, TestSubscriber, VirtualScheduler};

fn operators(stages: &[StageReport]) -> Vec<&'static str> {
    stages.iter().map(|s| s.operator).collect()
}

fn states(stages: &[StageReport]) -> Vec<StageState> {
    stages.iter().map(|s| s.state).collect()
}

/// source -> buffer(8, backpressure) -> chunks(2) -> named, the consumer asking for one
/// chunk at a time.
#[test]
fn the_walk_shows_demand_and_buffered_counts_of_a_stalled_pipeline() {
    let source = TestPublisher::<u64, Infallible>::new();
    let pipeline = source
        .publisher()
        .on_backpressure_buffer(8, BufferOverflow::Backpressure)
        .unwrap()
        .chunks(2)
        .unwrap()
        .named("walk");
    let handle = pipeline.handle();
    assert_eq!(handle.state(), StageState::Pending);
    let (subscriber, consumer) = TestSubscriber::<Vec<u64>, Infallible>::new(1);
    pipeline.subscribe(subscriber);

    let stages = handle.stages();
    assert_eq!(operators(&stages), ["on_backpressure_buffer", "chunks"]);
    assert_eq!(states(&stages), [StageState::Running, StageState::Running]);
    // One chunk asked for: chunks asks the buffer for 2 items, the buffer asks for 8.
    assert_eq!((stages[0].demand, stages[1].demand), (2, 1));
    assert_eq!(handle.demand(), 1);
    source.assert_requested_at_least(8);

    // The producer sends 8: 2 go on as one chunk, 6 wait in the buffer; nobody asks more.
    for i in 0..8 {
        source.next(i);
    }
    consumer.assert_items(&[vec![0, 1]]);
    let stages = handle.stages();
    assert_eq!((stages[0].demand, stages[1].demand), (0, 0));
    assert_eq!(stages[0].buffered(), 6);
    assert_eq!(stages[1].buffered(), 0);
    let buffer = stages[0].stats.unwrap();
    assert_eq!(
        (buffer.received, buffer.emitted, buffer.capacity),
        (8, 2, 8)
    );
    assert_eq!((handle.demand(), handle.passed()), (0, 1));

    // Two more chunks: 4 more items leave the buffer.
    consumer.request(2);
    consumer.assert_items(&[vec![0, 1], vec![2, 3], vec![4, 5]]);
    let stages = handle.stages();
    assert_eq!(stages[0].buffered(), 2);
    assert_eq!((stages[0].demand, stages[1].demand), (0, 0));
    assert_eq!((handle.demand(), handle.passed()), (0, 3));

    // The consumer asks for more than there is: the demand waits below each stage.
    consumer.request(5);
    let stages = handle.stages();
    assert_eq!(stages[0].buffered(), 0);
    assert_eq!((stages[0].demand, stages[1].demand), (8, 4));
    assert_eq!((handle.demand(), handle.passed()), (4, 4));

    source.complete();
    consumer.assert_complete();
    assert_eq!(
        states(&handle.stages()),
        [StageState::Completed, StageState::Completed]
    );
    assert_eq!(handle.state(), StageState::Completed);
}

#[test]
fn a_lossy_stage_with_a_stalled_consumer_holds_and_drops_while_the_rest_completed() {
    let pipeline = range(0, 1_000)
        .on_backpressure_buffer(100, BufferOverflow::Backpressure)
        .unwrap()
        .chunks(10)
        .unwrap()
        .on_backpressure_buffer(3, BufferOverflow::DropOldest)
        .unwrap()
        .named("lossy");
    let handle = pipeline.handle();
    let (subscriber, consumer) = TestSubscriber::<Vec<u64>, Infallible>::new(2);
    pipeline.subscribe(subscriber);

    let stages = handle.stages();
    assert_eq!(
        stages.iter().map(|s| s.label.as_str()).collect::<Vec<_>>(),
        [
            "on_backpressure_buffer_2",
            "chunks",
            "on_backpressure_buffer"
        ]
    );
    // Everything upstream of the lossy buffer ran to the end.
    assert_eq!(
        states(&stages),
        [
            StageState::Completed,
            StageState::Completed,
            StageState::Running
        ]
    );
    let last = stages[2].stats.unwrap();
    assert_eq!((last.received, last.emitted, last.buffered), (100, 2, 3));
    assert_eq!(last.dropped(), 95);
    assert_eq!(stages[1].demand, u64::MAX); // the lossy buffer asks for everything
    assert_eq!((handle.demand(), handle.passed()), (0, 2));

    consumer.request(10);
    assert_eq!(consumer.item_count(), 5);
    consumer.assert_complete();
    assert!(handle
        .stages()
        .iter()
        .all(|s| s.state == StageState::Completed));
}

#[test]
fn an_error_fails_the_stages_below_it_and_the_pipeline() {
    let source = TestPublisher::<u64, String>::new();
    let pipeline = source
        .publisher()
        .on_backpressure_buffer(2, BufferOverflow::FailFast)
        .unwrap()
        .chunks(2)
        .unwrap()
        .named("failing");
    let handle = pipeline.handle();
    let (subscriber, consumer) = TestSubscriber::<Vec<u64>, String>::new(0);
    pipeline.subscribe(subscriber);
    for i in 0..3 {
        source.next(i); // the third goes into a full buffer nobody drains
    }
    consumer.assert_error_matches(|e| {
        matches!(
            e,
            Error::Overflow {
                stage: "on_backpressure_buffer",
                ..
            }
        )
    });
    assert_eq!(
        states(&handle.stages()),
        [StageState::Failed, StageState::Failed]
    );
    assert_eq!(handle.state(), StageState::Failed);
    source.assert_cancelled();
}

#[test]
fn a_cancel_reaches_every_stage_still_running() {
    let source = TestPublisher::<u64, Infallible>::new();
    let pipeline = source
        .publisher()
        .on_backpressure_latest()
        .sample(Duration::from_secs(1))
        .unwrap()
        .named("cancelled");
    let handle = pipeline.handle();
    let vs = VirtualScheduler::new();
    let (subscriber, consumer) = TestSubscriber::<u64, Infallible>::with_scheduler(1, vs.clone());
    pipeline.subscribe(subscriber);
    source.next(1).next(2).next(3);
    vs.advance_by(Duration::from_secs(1));
    consumer.assert_items(&[3]);
    assert_eq!(
        operators(&handle.stages()),
        ["on_backpressure_latest", "sample"]
    );
    assert_eq!(handle.stages()[1].demand, 0);

    consumer.cancel();
    assert_eq!(
        states(&handle.stages()),
        [StageState::Cancelled, StageState::Cancelled]
    );
    assert_eq!(handle.state(), StageState::Cancelled);
    source.assert_cancelled();
}

#[test]
fn a_filter_below_the_named_stage_leaves_the_demand_of_the_items_it_discards() {
    let pipeline = range(0, 10)
        .on_backpressure_buffer(16, BufferOverflow::Backpressure)
        .unwrap()
        .named("filtered");
    let handle = pipeline.handle();
    let (subscriber, consumer) = TestSubscriber::<u64, Infallible>::new(3);
    pipeline.filter(|x| x % 2 == 0).subscribe(subscriber);
    consumer.assert_items(&[0, 2, 4]);
    // 5 items passed the named stage for 3 units of demand; none outstanding.
    assert_eq!((handle.passed(), handle.demand()), (5, 0));
}

#[test]
fn unbounded_demand_reads_as_u64_max_and_fused_items_are_counted() {
    let pipeline = range(0, 1_000).map(|x| x + 1).named("fused");
    let handle = pipeline.handle();
    let sum = futures::executor::block_on(pipeline.fold(0, |a, b| a + b)).unwrap();
    assert_eq!(sum, 500_500);
    assert_eq!(handle.passed(), 1_000);
    assert_eq!(handle.demand(), u64::MAX);
    assert!(handle.stages().is_empty()); // map keeps no statistics
}

#[test]
fn a_nested_named_pipeline_keeps_its_own_stages() {
    let inner = range(0, 10).on_backpressure_drop().named("inner");
    let inner_handle = inner.handle();
    let outer = inner
        .on_backpressure_latest()
        .chunks(5)
        .unwrap()
        .named("outer");
    let outer_handle = outer.handle();
    let _ = outer.subscribe_fn(|_| {});
    assert_eq!(
        operators(&outer_handle.stages()),
        ["on_backpressure_latest", "chunks"]
    );
    assert_eq!(operators(&inner_handle.stages()), ["on_backpressure_drop"]);
    assert_eq!(inner_handle.passed(), 10);
    assert_eq!(outer_handle.passed(), 2);
}

#[test]
fn the_scope_ends_with_subscribe_even_when_it_panics() {
    struct Boom;
    impl Publisher for Boom {
        type Item = u64;
        type Error = Infallible;
        fn subscribe<S: Subscriber<Item = u64, Error = Infallible>>(self, _: S) {
            panic!("boom");
        }
    }
    let pipeline = Boom.on_backpressure_drop().named("boom");
    let handle = pipeline.handle();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let _ = pipeline.subscribe_fn(|_| {});
    }));
    assert!(outcome.is_err());
    assert_eq!(operators(&handle.stages()), ["on_backpressure_drop"]);

    // Subscribed afterwards on the same thread, outside any named pipeline: not seen.
    let _ = range(0, 3).on_backpressure_latest().subscribe_fn(|_| {});
    assert_eq!(handle.stages().len(), 1);
}

#[test]
fn a_pipeline_subscribed_from_on_next_is_not_a_stage() {
    let pipeline = range(0, 3).on_backpressure_drop().named("outer");
    let handle = pipeline.handle();
    let _ = pipeline.subscribe_fn(|_| {
        // Runs while the outer `subscribe` has not returned yet.
        let _ = range(0, 1).on_backpressure_latest().subscribe_fn(|_| {});
    });
    assert_eq!(handle.passed(), 3);
    assert_eq!(operators(&handle.stages()), ["on_backpressure_drop"]);
}

#[test]
fn subscribe_on_carries_the_pipeline_to_where_it_subscribes() {
    let vs = VirtualScheduler::new();
    let pipeline = range(0, 5)
        .on_backpressure_drop()
        .subscribe_on(vs.clone())
        .on_backpressure_latest()
        .named("hop");
    let handle = pipeline.handle();
    let (subscriber, consumer) = TestSubscriber::<u64, Infallible>::new(u64::MAX);
    pipeline.subscribe(subscriber);
    // Only the stage below `subscribe_on` subscribed so far.
    assert_eq!(operators(&handle.stages()), ["on_backpressure_latest"]);
    vs.run_until_idle().unwrap();
    consumer.assert_complete();
    assert_eq!(
        operators(&handle.stages()),
        ["on_backpressure_drop", "on_backpressure_latest"]
    );
    assert_eq!(handle.passed(), 5);
}

/// A source that fails after two items on its first subscription, after one on its
/// second: `(attempt, items sent)`, the attempt counted across subscriptions.
fn failing_twice(attempts: Arc<AtomicU64>) -> impl Publisher<Item = u64, Error = String> + Clone {
    try_generate(None, move |st: &mut Option<(u64, u64)>| {
        let (attempt, sent) =
            st.get_or_insert_with(|| (attempts.fetch_add(1, Ordering::Relaxed) + 1, 0));
        let limit = if *attempt == 1 { 2 } else { 1 };
        if *sent == limit {
            return Err(format!("attempt {attempt}"));
        }
        *sent += 1;
        Ok(Some(*attempt * 10 + *sent))
    })
}

#[test]
fn the_handle_follows_the_latest_subscription() {
    let attempts = Arc::new(AtomicU64::new(0));
    let named = failing_twice(Arc::clone(&attempts)).named("retried");
    let handle = named.handle();
    let (subscriber, consumer) = TestSubscriber::<u64, String>::new(3);
    named.retry(1).subscribe(subscriber);
    // The first run sent 2 and failed; retry subscribed a clone: the handle shows that run.
    assert_eq!(attempts.load(Ordering::Relaxed), 2);
    consumer.assert_items(&[11, 12, 21]);
    assert_eq!(handle.state(), StageState::Running);
    assert_eq!((handle.passed(), handle.demand()), (1, 0));
    consumer.request(1);
    consumer.assert_error_matches(|e| *e == Error::User("attempt 2".to_string()));
    assert_eq!(handle.state(), StageState::Failed);
}
