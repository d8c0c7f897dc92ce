//! `KillSwitch` and the `kill_switch` stage: shutdown completes, abort fails, first
//! command wins, one switch stops many pipelines, a late subscriber ends at once, a
//! command racing the items from another thread is serialised with them, and a graceful
//! stop lets the work in flight finish — under `block_on` and in tokio tasks.

#[path = "support/checks.rs"]
mod checks;

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use spillway::operators::{KillSwitch, SwitchState};
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::{TestPublisher, TestSubscriber, Violation};

const WATCHDOG: Duration = Duration::from_secs(20);

fn aborted(reason: &str) -> Error<String> {
    Error::Aborted {
        stage: "kill_switch",
        reason: reason.to_string(),
    }
}

#[test]
fn shutdown_cancels_upstream_and_completes_after_the_items_before_it() {
    let switch = KillSwitch::new();
    let tp = TestPublisher::<u32, String>::non_compliant(&[Violation::IgnoreCancel]);
    let (sub, down) = TestSubscriber::new(10);
    tp.publisher().kill_switch(&switch).subscribe(sub);
    tp.next(1).next(2);
    switch.shutdown();
    tp.assert_cancelled();
    down.assert_items(&[1, 2]);
    down.assert_complete();
    let after = down.event_count();
    tp.next(3).error("late".to_string());
    assert_eq!(down.event_count(), after, "signals after the shutdown");
    down.assert_no_protocol_violations();
    assert_eq!(switch.state(), SwitchState::ShutDown);
}

#[test]
fn abort_fails_with_its_reason_and_the_first_command_wins() {
    let switch = KillSwitch::new();
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(10);
    tp.publisher().kill_switch(&switch).subscribe(sub);
    tp.next(1);
    switch.abort("maintenance");
    switch.shutdown(); // ignored
    switch.abort("again"); // ignored
    tp.assert_cancelled();
    down.assert_items(&[1]);
    down.assert_error_matches(|e| *e == aborted("maintenance"));
    assert_eq!(switch.state(), SwitchState::Aborted("maintenance".into()));
}

#[test]
fn one_switch_stops_every_pipeline_under_it() {
    let switch = KillSwitch::new();
    let rigs: Vec<_> = (0..3)
        .map(|_| {
            let tp = TestPublisher::<u32, String>::new();
            let (sub, down) = TestSubscriber::new(u64::MAX);
            tp.publisher()
                .map(|x| x + 1)
                .kill_switch(&switch)
                .subscribe(sub);
            (tp, down)
        })
        .collect();
    assert_eq!(switch.active(), 3);
    switch.shutdown();
    for (tp, down) in &rigs {
        tp.assert_cancelled();
        down.assert_complete();
    }
    assert_eq!(switch.active(), 0);
}

#[test]
fn a_pipeline_subscribed_after_the_command_ends_right_after_on_subscribe() {
    let switch = KillSwitch::new();
    switch.abort("closed");
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(5);
    tp.publisher().kill_switch(&switch).subscribe(sub);
    tp.assert_cancelled();
    down.assert_error_matches(|e| *e == aborted("closed"));
    down.assert_no_protocol_violations(); // on_subscribe came first
    let shut = KillSwitch::new();
    shut.shutdown();
    let n = futures::executor::block_on(range(0, 100).kill_switch(&shut).count()).unwrap();
    assert_eq!(n, 0);
}

#[test]
fn a_command_from_inside_on_next_follows_that_item() {
    let switch = KillSwitch::new();
    let stop = switch.clone();
    let out = futures::executor::block_on(
        range(0, 1_000_000)
            .kill_switch(&switch)
            .do_on_next(move |x| {
                if *x == 4 {
                    stop.abort("enough");
                }
            })
            .collect(),
    );
    assert_eq!(
        out,
        Err(Error::Aborted {
            stage: "kill_switch",
            reason: "enough".into()
        })
    );
}

#[test]
fn downstream_cancel_releases_the_stage_and_leaves_the_switch() {
    let switch = KillSwitch::new();
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(1);
    tp.publisher().kill_switch(&switch).subscribe(sub);
    assert_eq!(switch.active(), 1);
    down.cancel();
    tp.assert_cancelled();
    assert_eq!(switch.active(), 0);
    assert_eq!(switch.state(), SwitchState::Active);
}

/// A shutdown from another thread while a worker thread delivers items as fast as it
/// can: every run delivers a prefix of the items, in order, then exactly one
/// `on_complete`, nothing after it, no overlapping signals, and the source is cancelled.
#[test]
fn a_command_racing_the_items_is_serialised_with_them() {
    for round in 0..300 {
        let switch = KillSwitch::new();
        let pulled = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&pulled);
        let (sub, down) = TestSubscriber::<u64, Infallible>::new(u64::MAX);
        generate(0u64, move |n| {
            counter.fetch_add(1, Ordering::Relaxed);
            *n += 1;
            Some(*n)
        })
        .subscribe_on(spillway::ThreadScheduler::global())
        .kill_switch(&switch)
        .subscribe(sub);
        while down.items().len() < (round % 7) as usize {
            std::thread::yield_now();
        }
        switch.shutdown();
        down.await_terminal(WATCHDOG);
        down.assert_complete();
        down.assert_no_protocol_violations();
        let items = down.items();
        assert!(
            items.iter().copied().eq(1..=items.len() as u64),
            "round {round}: not a prefix in order"
        );
        // The source is released (its closure, which holds `pulled`, dropped): it
        // stopped. A source that kept running would hold it for ever.
        let deadline = std::time::Instant::now() + WATCHDOG;
        while Arc::strong_count(&pulled) > 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "round {round}: the source was not released after the shutdown"
            );
            std::thread::yield_now();
        }
    }
}

#[tokio::test]
async fn graceful_stop_of_an_endless_pipeline_in_a_tokio_task() {
    let switch = KillSwitch::new();
    let processed = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&processed);
    let task = tokio::spawn(
        generate(0u64, |n| {
            *n += 1;
            Some(*n)
        })
        .kill_switch(&switch)
        .map_async(4, |n| async move {
            tokio::task::yield_now().await;
            n
        })
        .unwrap()
        .for_each(move |_| {
            seen.fetch_add(1, Ordering::Relaxed);
        }),
    );
    while processed.load(Ordering::Relaxed) < 100 {
        tokio::task::yield_now().await;
    }
    switch.shutdown();
    let outcome = tokio::time::timeout(WATCHDOG, task)
        .await
        .expect("the pipeline ends after the shutdown")
        .expect("the task does not panic");
    assert!(outcome.is_ok(), "a shutdown completes: {outcome:?}");
    assert!(processed.load(Ordering::Relaxed) >= 100);
}

#[test]
fn the_stage_keeps_backpressure_and_forwards_request_zero() {
    let switch = KillSwitch::new();
    let (sub, down) = TestSubscriber::<u64, Infallible>::new(3);
    range(0, 1_000).kill_switch(&switch).subscribe(sub);
    down.assert_items(&[0, 1, 2]);
    checks::request_zero_fails(|p| p.kill_switch(&KillSwitch::new()));
}

#[test]
fn the_style_checklist() {
    checks::cancel_reaches_upstream(|p| p.kill_switch(&KillSwitch::new()));
    checks::error_propagates(|p| p.kill_switch(&KillSwitch::new()));
    checks::late_signals_dropped(|p| p.kill_switch(&KillSwitch::new()));
}

#[test]
fn commands_from_many_threads_at_once_end_each_pipeline_once() {
    let switch = KillSwitch::new();
    let (tx, rx) = mpsc::channel();
    let downs: Vec<_> = (0..4)
        .map(|_| {
            let (sub, down) = TestSubscriber::<u64, Infallible>::new(u64::MAX);
            never().kill_switch(&switch).subscribe(sub);
            down
        })
        .collect();
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let s = switch.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                if i % 2 == 0 {
                    s.shutdown();
                } else {
                    s.abort("racing");
                }
                tx.send(()).unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(rx.try_iter().count(), 4);
    let state = switch.state();
    for down in &downs {
        down.await_terminal(WATCHDOG);
        down.assert_no_protocol_violations();
        match &state {
            SwitchState::ShutDown => down.assert_complete(),
            SwitchState::Aborted(r) => down.assert_error_matches(|e| {
                *e == Error::Aborted {
                    stage: "kill_switch",
                    reason: r.clone(),
                }
            }),
            SwitchState::Active => panic!("a command was lost"),
        }
    }
}
