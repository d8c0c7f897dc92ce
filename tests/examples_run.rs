//! The examples without a test of their own, run as `cargo run --example NAME` runs them
//! (each builds its own runtime and asserts what it shows: the shared budget never
//! exceeded and every stream stopped by the emergency stop; each stage on its thread;
//! both stream bridges delivering in order), under a watchdog so that a hang fails.

use std::time::Duration;

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
