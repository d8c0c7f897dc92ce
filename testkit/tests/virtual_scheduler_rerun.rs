//! VirtualScheduler: a periodic task that runs again at once, without going back through
//! the heap or the lock, must keep the documented firing order and clock: other timers
//! (including those it schedules itself) interleave exactly as before, `now()` is each
//! firing's due time, timers scheduled after an advance count from the right time, and
//! the task budget and cancellation still hold.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use spillway_core::{Scheduler, SchedulerExt, TaskHandle};
use spillway_testkit::VirtualScheduler;

type Log = Arc<Mutex<Vec<String>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn push(log: &Log, s: String) {
    log.lock().unwrap().push(s);
}

fn taken(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}

/// `name@elapsed` at the time of the call.
fn stamp(vs: &VirtualScheduler, name: &str) -> String {
    format!("{name}@{:?}", vs.elapsed())
}

#[test]
fn a_timer_scheduled_by_the_periodic_task_runs_before_its_next_firing() {
    let vs = VirtualScheduler::new();
    let l = log();
    let (l2, vs2) = (l.clone(), vs.clone());
    let mut n = 0;
    let _h = vs.run_every(ms(1), ms(1), move || {
        n += 1;
        push(&l2, stamp(&vs2, "p"));
        if n == 3 {
            let (l3, vs3) = (l2.clone(), vs2.clone());
            let _ = vs2.run_after(us(500), move || push(&l3, stamp(&vs3, "once")));
        }
    });
    assert_eq!(vs.advance_by(ms(6)), 7);
    assert_eq!(
        taken(&l),
        [
            "p@1ms",
            "p@2ms",
            "p@3ms",
            "once@3.5ms",
            "p@4ms",
            "p@5ms",
            "p@6ms"
        ]
    );
}

#[test]
fn a_timer_scheduled_from_another_task_at_the_same_instant_keeps_its_turn() {
    // A every 1ms (scheduled first) and B every 3ms: at 3ms and 6ms B was queued before
    // A's re-run, so B goes first; A's lock-free re-runs must not jump ahead of it.
    let vs = VirtualScheduler::new();
    let l = log();
    let (la, vsa) = (l.clone(), vs.clone());
    let _a = vs.run_every(ms(1), ms(1), move || push(&la, stamp(&vsa, "a")));
    let (lb, vsb) = (l.clone(), vs.clone());
    let _b = vs.run_every(ms(3), ms(3), move || push(&lb, stamp(&vsb, "b")));
    assert_eq!(vs.advance_by(ms(6)), 8);
    assert_eq!(
        taken(&l),
        ["a@1ms", "a@2ms", "b@3ms", "a@3ms", "a@4ms", "a@5ms", "b@6ms", "a@6ms"]
    );
}

#[test]
fn now_is_each_firing_due_time_and_later_timers_count_from_the_clock() {
    let vs = VirtualScheduler::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (s2, vs2) = (seen.clone(), vs.clone());
    let _h = vs.run_every(ms(1), ms(1), move || {
        s2.lock().unwrap().push(vs2.now() - vs2.origin());
    });
    vs.advance_by(us(5500));
    assert_eq!(*seen.lock().unwrap(), (1..=5).map(ms).collect::<Vec<_>>());
    assert_eq!(vs.elapsed(), us(5500));
    // Scheduled after the advance: due 1ms after 5.5ms, not after the last locked run.
    let _once = vs.run_after(ms(1), || {});
    let due: Vec<Duration> = vs.pending_timers().iter().map(|t| t.due).collect();
    assert_eq!(due, [ms(6), us(6500)]);
    assert_eq!(
        format!("{vs:?}"),
        "VirtualScheduler { elapsed: 5.5ms, timers: 2 }"
    );
}

#[test]
fn the_task_budget_counts_every_rerun() {
    let vs = VirtualScheduler::new();
    let runs = Arc::new(Mutex::new(0u32));
    let r = runs.clone();
    let _h = vs.run_every(ms(1), ms(1), move || *r.lock().unwrap() += 1);
    let err = vs.run_until_idle_bounded(5).unwrap_err();
    assert_eq!(err.ran, 5);
    assert_eq!(*runs.lock().unwrap(), 5);
    assert_eq!(err.elapsed, ms(5));
    assert_eq!(err.pending.len(), 1);
    assert_eq!(err.pending[0].due, ms(6));
}

#[test]
fn a_periodic_task_cancelling_itself_stops_at_once() {
    let vs = VirtualScheduler::new();
    let l = log();
    let slot: Arc<Mutex<Option<TaskHandle>>> = Arc::new(Mutex::new(None));
    let (l2, vs2, slot2) = (l.clone(), vs.clone(), slot.clone());
    let mut n = 0;
    let h = vs.run_every(ms(1), ms(1), move || {
        n += 1;
        push(&l2, stamp(&vs2, "p"));
        if n == 4 {
            if let Some(h) = slot2.lock().unwrap().as_ref() {
                h.cancel();
            }
        }
    });
    *slot.lock().unwrap() = Some(h);
    assert_eq!(vs.advance_by(ms(100)), 4);
    assert_eq!(taken(&l), ["p@1ms", "p@2ms", "p@3ms", "p@4ms"]);
    assert_eq!(vs.pending(), 0);
    assert_eq!(vs.elapsed(), ms(100));
}

#[test]
fn a_window_ending_between_firings_stops_the_reruns() {
    let vs = VirtualScheduler::new();
    let l = log();
    let (l2, vs2) = (l.clone(), vs.clone());
    let _h = vs.run_every(ms(1), ms(1), move || push(&l2, stamp(&vs2, "p")));
    assert_eq!(vs.advance_by(us(2500)), 2);
    assert_eq!(vs.elapsed(), us(2500));
    assert_eq!(vs.advance_by(us(500)), 1);
    assert_eq!(taken(&l), ["p@1ms", "p@2ms", "p@3ms"]);
    assert_eq!(vs.next_due(), Some(ms(4)));
}

#[test]
fn a_timer_scheduled_from_another_thread_is_not_overtaken() {
    // The periodic task hands a schedule request to a thread and waits for it to be
    // done: the timer appears while the runner is between firings, without the lock.
    let vs = VirtualScheduler::new();
    let l = log();
    let (l2, vs2) = (l.clone(), vs.clone());
    let mut n = 0;
    let _h = vs.run_every(ms(1), ms(1), move || {
        n += 1;
        push(&l2, stamp(&vs2, "p"));
        if n == 2 {
            let (l3, vs3) = (l2.clone(), vs2.clone());
            let vs4 = vs2.clone();
            std::thread::spawn(move || {
                let _ = vs4.run_after(us(100), move || push(&l3, stamp(&vs3, "t")));
            })
            .join()
            .unwrap();
        }
    });
    vs.advance_by(ms(4));
    assert_eq!(taken(&l), ["p@1ms", "p@2ms", "t@2.1ms", "p@3ms", "p@4ms"]);
}

#[test]
fn firings_beyond_the_nanosecond_mirror_still_run_in_order() {
    // 100-year periods over 1000 years: the due times pass u64::MAX nanoseconds (about
    // 584 years), where re-runs hand over to the locked path.
    let year = Duration::from_secs(365 * 24 * 3600);
    let vs = VirtualScheduler::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (s2, vs2) = (seen.clone(), vs.clone());
    let _h = vs.run_every(year * 100, year * 100, move || {
        s2.lock().unwrap().push(vs2.elapsed());
    });
    assert_eq!(vs.advance_by(year * 1000), 10);
    let expected: Vec<Duration> = (1..=10).map(|i| year * 100 * i).collect();
    assert_eq!(*seen.lock().unwrap(), expected);
    assert_eq!(vs.elapsed(), year * 1000);
}
