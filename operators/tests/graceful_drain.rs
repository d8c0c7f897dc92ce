//! `GracefulDrain`: no new input once draining, the work in flight finishes and is
//! delivered, pipelines still running at the deadline are aborted, and the report counts
//! both — in tokio tasks as a service runs them, and on the virtual clock.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use spillway::operators::{GracefulDrain, DEADLINE_PASSED};
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::VirtualScheduler;

const WATCHDOG: Duration = Duration::from_secs(20);

/// An endless pipeline between the drain's switches, with async work in flight; counts
/// the items that reached the end.
fn endless(
    drain: &GracefulDrain,
    delivered: &Arc<AtomicU64>,
) -> impl Publisher<Item = u64, Error = std::convert::Infallible> {
    let delivered = Arc::clone(delivered);
    generate(0u64, |n| {
        *n += 1;
        Some(*n)
    })
    .kill_switch(drain.input())
    .map_async(8, |n| async move {
        tokio::task::yield_now().await;
        n
    })
    .unwrap()
    .kill_switch(drain.output())
    .do_on_next(move |_| {
        delivered.fetch_add(1, Ordering::Relaxed);
    })
}

/// Yields until `ready` holds; fails the test after the watchdog instead of hanging.
async fn wait_until(ready: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + WATCHDOG;
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting");
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_pipelines_finish_their_work_in_flight_and_complete() {
    let drain = GracefulDrain::new();
    let delivered = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..3)
        .map(|_| tokio::spawn(endless(&drain, &delivered).count()))
        .collect();
    wait_until(|| delivered.load(Ordering::Relaxed) >= 300 && drain.output().active() == 3).await;
    let report = tokio::time::timeout(WATCHDOG, drain.drain(Duration::from_secs(10)))
        .await
        .expect("the drain ends");
    assert_eq!((report.finished, report.aborted), (3, 0));
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap().expect("completed, not aborted");
    }
    // Everything each pipeline took in came out: the counts add up to what was delivered.
    assert_eq!(total, delivered.load(Ordering::Relaxed));
    // After the drain, a new pipeline takes nothing.
    let late = endless(&drain, &delivered).count().await.unwrap();
    assert_eq!(late, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_stuck_below_the_input_is_aborted_at_the_deadline() {
    let drain = GracefulDrain::new();
    let delivered = Arc::new(AtomicU64::new(0));
    let good = tokio::spawn(endless(&drain, &delivered).count());
    // Its source is done, but the stage below never completes.
    let stuck = tokio::spawn(
        just(1u64)
            .kill_switch(drain.input())
            .concat_with(never())
            .kill_switch(drain.output())
            .count(),
    );
    wait_until(|| delivered.load(Ordering::Relaxed) >= 10 && drain.output().active() == 2).await;
    let report = tokio::time::timeout(WATCHDOG, drain.drain(Duration::from_millis(200)))
        .await
        .expect("the drain ends at its deadline");
    assert_eq!((report.finished, report.aborted), (1, 1));
    assert!(good.await.unwrap().is_ok());
    assert_eq!(
        stuck.await.unwrap(),
        Err(Error::Aborted {
            stage: "kill_switch",
            reason: DEADLINE_PASSED.into()
        })
    );
    assert_eq!(drain.output().active(), 0);
}

#[test]
fn the_deadline_runs_on_the_given_clock() {
    let clock = VirtualScheduler::new();
    let drain = GracefulDrain::new().on(clock.clone() as Arc<dyn spillway::Scheduler>);
    let (sub, down) =
        spillway_testkit::TestSubscriber::<u64, std::convert::Infallible>::new(u64::MAX);
    never::<u64, std::convert::Infallible>()
        .kill_switch(drain.input())
        .concat_with(never())
        .kill_switch(drain.output())
        .subscribe(sub);
    let mut draining = Box::pin(drain.drain(Duration::from_secs(3600)));
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    // The input stage completed, but concat_with waits on `never`: still running.
    assert!(draining.as_mut().poll(&mut cx).is_pending());
    clock.advance_by(Duration::from_secs(3599));
    assert!(draining.as_mut().poll(&mut cx).is_pending());
    clock.advance_by(Duration::from_secs(1));
    let report = match draining.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(r) => r,
        std::task::Poll::Pending => panic!("an hour passed on the virtual clock"),
    };
    assert_eq!((report.finished, report.aborted), (0, 1));
    down.assert_error_matches(|e| matches!(e, Error::Aborted { .. }));
}

#[test]
fn nothing_happens_until_the_drain_is_polled() {
    let drain = GracefulDrain::new();
    let pending = drain.drain(Duration::from_secs(1));
    assert_eq!(
        drain.input().state(),
        spillway::operators::SwitchState::Active
    );
    drop(pending);
    let n = futures::executor::block_on(range(0, 5).kill_switch(drain.input()).count());
    assert_eq!(n.unwrap(), 5);
}
