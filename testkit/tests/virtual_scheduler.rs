//! VirtualScheduler: firing order, periodic catch-up, determinism, idle detection.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use spillway_core::prelude::*;
use spillway_core::{Scheduler, SchedulerExt};
use spillway_testkit::{TestSubscriber, VirtualScheduler};

fn log() -> Arc<Mutex<Vec<String>>> {
    Arc::new(Mutex::new(Vec::new()))
}

fn push(log: &Arc<Mutex<Vec<String>>>, s: impl Into<String>) {
    log.lock().unwrap().push(s.into());
}

fn taken(log: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

#[test]
fn same_instant_tasks_run_in_scheduling_order() {
    let vs = VirtualScheduler::new();
    let l = log();
    for name in ["a", "b", "c", "d"] {
        let l = l.clone();
        let _ = vs.run_after(Duration::from_secs(5), move || push(&l, name));
    }
    let l2 = l.clone();
    let _ = vs.run_after(Duration::from_secs(1), move || push(&l2, "early"));
    assert_eq!(vs.advance_by(Duration::from_secs(5)), 5);
    assert_eq!(taken(&l), ["early", "a", "b", "c", "d"]);
}

#[test]
fn nothing_runs_until_time_is_moved() {
    let vs = VirtualScheduler::new();
    let l = log();
    let l2 = l.clone();
    let _ = vs.run_after(Duration::ZERO, move || push(&l2, "now"));
    assert!(
        taken(&l).is_empty(),
        "a zero delay must not run inside schedule"
    );
    assert_eq!(vs.run_due(), 1);
    assert_eq!(taken(&l), ["now"]);
    assert_eq!(vs.elapsed(), Duration::ZERO);
}

#[test]
fn periodic_task_catches_up_once_per_period_at_its_due_times() {
    let vs = VirtualScheduler::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (s, v) = (seen.clone(), vs.clone());
    let h = vs.run_every(Duration::from_secs(1), Duration::from_secs(2), move || {
        s.lock().unwrap().push(v.elapsed());
    });
    vs.advance_by(Duration::from_secs(8));
    let secs: Vec<u64> = seen.lock().unwrap().iter().map(|d| d.as_secs()).collect();
    assert_eq!(secs, [1, 3, 5, 7]);
    h.cancel();
    vs.advance_by(Duration::from_secs(100));
    assert_eq!(seen.lock().unwrap().len(), 4);
    assert_eq!(vs.pending(), 0);
}

#[test]
fn tasks_scheduled_by_a_running_task_inside_the_window_run_in_the_same_advance() {
    let vs = VirtualScheduler::new();
    let l = log();
    let (l1, v1) = (l.clone(), vs.clone());
    let _ = vs.run_after(Duration::from_secs(1), move || {
        push(&l1, format!("outer@{:?}", v1.elapsed()));
        let (l2, v2) = (l1.clone(), v1.clone());
        let _ = v1.run_after(Duration::from_secs(2), move || {
            push(&l2, format!("inner@{:?}", v2.elapsed()));
        });
        let l3 = l1.clone();
        let _ = v1.run_after(Duration::ZERO, move || push(&l3, "zero"));
    });
    vs.advance_by(Duration::from_secs(3));
    assert_eq!(taken(&l), ["outer@1s", "zero", "inner@3s"]);
    assert_eq!(vs.elapsed(), Duration::from_secs(3));
}

#[test]
fn a_task_due_after_the_window_waits() {
    let vs = VirtualScheduler::new();
    let _ = vs.run_after(Duration::from_secs(10), || {});
    assert_eq!(vs.advance_by(Duration::from_secs(9)), 0);
    assert_eq!(vs.pending(), 1);
    assert_eq!(vs.next_due(), Some(Duration::from_secs(10)));
    assert_eq!(vs.advance_to(Duration::from_secs(10)), 1);
}

#[test]
fn now_is_origin_plus_elapsed_and_never_goes_back() {
    let vs = VirtualScheduler::new();
    let origin = vs.now();
    vs.advance_by(Duration::from_millis(1500));
    assert_eq!(vs.now(), origin + Duration::from_millis(1500));
    vs.advance_to(Duration::from_secs(1));
    assert_eq!(vs.elapsed(), Duration::from_millis(1500));
    let dynamic: Arc<dyn Scheduler> = vs.clone();
    assert_eq!(dynamic.now(), vs.origin() + vs.elapsed());
}

#[test]
fn cancelled_timers_are_skipped_and_do_not_move_time_when_idling() {
    let vs = VirtualScheduler::new();
    let h = vs.run_after(Duration::from_secs(50), || panic!("cancelled task ran"));
    let _ = vs.run_after(Duration::from_secs(5), || {});
    h.cancel();
    assert_eq!(vs.run_until_idle(), Ok(1));
    assert_eq!(vs.elapsed(), Duration::from_secs(5));
}

#[test]
fn run_until_idle_reports_a_periodic_task_instead_of_looping_forever() {
    let vs = VirtualScheduler::new();
    let _h = vs.run_every(Duration::from_secs(1), Duration::from_secs(1), || {});
    let err = vs.run_until_idle().unwrap_err();
    assert_eq!(err.ran, spillway_testkit::DEFAULT_IDLE_LIMIT);
    assert_eq!(err.pending.len(), 1);
    let msg = err.to_string();
    assert!(msg.contains("never became idle"), "{msg}");
    assert!(msg.contains("every 1s"), "{msg}");
}

#[test]
fn zero_delay_livelock_panics_with_a_diagnosis() {
    fn again(vs: Arc<VirtualScheduler>) {
        let v = vs.clone();
        let _ = vs.run_after(Duration::ZERO, move || again(v));
    }
    let vs = VirtualScheduler::new();
    again(vs.clone());
    let err = std::panic::catch_unwind(|| vs.run_due()).unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(msg.contains("livelock"), "{msg}");
}

#[test]
fn describes_pending_timers() {
    let vs = VirtualScheduler::new();
    let _a = vs.run_after(Duration::from_secs(3), || {});
    let _b = vs.run_every(Duration::from_secs(1), Duration::from_secs(2), || {});
    assert_eq!(vs.describe_pending(), "every 2s, next at 1s, once at 3s");
    assert!(format!("{vs:?}").contains("VirtualScheduler"));
}

/// One tick per hour over a simulated day: exactly 24, with the same timeline every run.
fn day_of_hourly_ticks() -> Vec<(Duration, u64)> {
    let vs = VirtualScheduler::new();
    let (sub, handle) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
    interval(Duration::from_secs(3600)).unwrap().subscribe(sub);
    vs.advance_by(Duration::from_secs(24 * 3600));
    handle.cancel();
    handle.assert_no_protocol_violations();
    handle.with_events(|events| {
        events
            .iter()
            .filter_map(|e| e.signal.as_next().map(|n| (e.at, *n)))
            .collect()
    })
}

#[test]
fn hourly_interval_over_a_virtual_day_is_exactly_24_ticks_and_deterministic() {
    let first = day_of_hourly_ticks();
    assert_eq!(first.len(), 24);
    for (i, (at, n)) in first.iter().enumerate() {
        assert_eq!(*n, i as u64);
        assert_eq!(*at, Duration::from_secs(3600 * (i as u64 + 1)));
    }
    for _ in 0..3 {
        assert_eq!(day_of_hourly_ticks(), first);
    }
}

#[test]
fn many_events_are_cheap() {
    // 200k virtual ticks: runs in well under a second even in debug builds.
    let vs = VirtualScheduler::new();
    let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let c = count.clone();
    let h = vs.run_every(
        Duration::from_millis(1),
        Duration::from_millis(1),
        move || {
            c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        },
    );
    vs.advance_by(Duration::from_secs(200));
    h.cancel();
    assert_eq!(count.load(std::sync::atomic::Ordering::Relaxed), 200_000);
}
