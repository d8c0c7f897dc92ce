//! The demo (the README's first command), run for one second, its rows checked against
//! what each strategy promises; and the examples without a test of their own, run as `cargo run --example NAME` runs them
//! (each builds its own runtime and asserts what it shows: the shared budget never
//! exceeded and every stream stopped by the emergency stop; each stage on its thread;
//! both stream bridges delivering in order), under a watchdog so that a hang fails.

use std::time::Duration;

#[allow(dead_code)]
#[path = "../examples/demo.rs"]
mod demo;

#[allow(dead_code)]
#[path = "../examples/global_budget.rs"]
mod global_budget;

#[allow(dead_code)]
#[path = "../examples/threads.rs"]
mod threads;

#[allow(dead_code)]
#[path = "../examples/streams.rs"]
mod streams;

/// Runs `main` on its own thread; fails if it panics or has not returned in `limit`.
fn run_with_watchdog(name: &str, limit: Duration, main: fn()) {
    let (done, finished) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        main();
        let _ = done.send(());
    });
    match finished.recv_timeout(limit) {
        Ok(()) => worker.join().expect("the example does not panic"),
        Err(_) => {
            if worker.is_finished() {
                // Ended without sending: it panicked; show its panic.
                worker.join().expect("the example does not panic");
            }
            panic!("{name} did not end within {limit:?}");
        }
    }
}

#[test]
fn global_budget_runs_and_stops_every_stream() {
    run_with_watchdog("global_budget", Duration::from_secs(30), || {
        global_budget::main().expect("a valid budget")
    });
}

#[test]
fn threads_runs_each_stage_on_its_thread() {
    run_with_watchdog("threads", Duration::from_secs(30), threads::main);
}

#[test]
fn streams_bridges_both_ways() {
    run_with_watchdog("streams", Duration::from_secs(30), streams::main);
}

/// The demo's rows after one second (plain output): the pausing and adaptive rows lose
/// nothing, every dropping row drops with its own reason, the failing policies fail with
/// an overflow, and every row's counters balance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_each_strategy_doing_what_it_promises() {
    use spillway::operators::DropReason;
    let summary = tokio::time::timeout(
        Duration::from_secs(30),
        demo::run(Duration::from_secs(1), false),
    )
    .await
    .expect("the demo ends")
    .expect("a valid configuration");
    let row = |name: &str| {
        summary
            .iter()
            .find(|(n, _, _)| *n == name)
            .unwrap_or_else(|| panic!("a row named {name}"))
    };
    for (name, s, _) in &summary {
        assert!(s.is_balanced(), "{name}: {s}");
    }
    for lossless in ["pause 50/10", "adaptive rate"] {
        let (_, s, error) = row(lossless);
        assert_eq!((s.dropped(), error.is_none()), (0, true), "{lossless}: {s}");
        assert!(s.emitted > 0, "{lossless} delivered");
    }
    for (name, reason) in [
        ("buffer drop newest", DropReason::BufferFull),
        ("buffer drop oldest", DropReason::Evicted),
        ("buffer drop buffer", DropReason::BufferCleared),
        ("buffer keep latest", DropReason::Superseded),
        ("drop", DropReason::NoDemand),
        ("latest", DropReason::Superseded),
        ("sample 10 ms", DropReason::Throttled),
        ("load shed", DropReason::Shed),
    ] {
        let (_, s, error) = row(name);
        assert!(s.dropped_for(reason) > 0, "{name} drops as {reason:?}: {s}");
        assert!(error.is_none(), "{name} completes");
    }
    // The token bucket starts full: in the first second the consumer, not the limit,
    // is what drops (as "no demand"); over the demo's 10 s the limit does ("throttled").
    let (_, s, error) = row("rate limit 100/s");
    assert!(s.dropped() > 0 && error.is_none(), "rate limit: {s}");
    for failing in ["buffer fail", "buffer fail fast"] {
        let (_, _, error) = row(failing);
        assert!(
            matches!(error, Some(spillway::Error::Overflow { capacity: 50, .. })),
            "{failing}: {error:?}"
        );
    }
}
