//! `Task::run_while`: several firings of a periodic job under one lock, with the same
//! cancellation and panic behaviour as `Task::run`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use spillway_core::{Task, TaskHandle};

/// Sets its flag when dropped: tells when a job (which owns it) was released.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn runs_as_many_firings_as_proceed_allows_and_keeps_the_job() {
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    let task = Task::periodic(move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    let mut asked = 0;
    assert!(task.run_while(|| {
        asked += 1;
        asked <= 4
    }));
    assert_eq!((runs.load(Ordering::SeqCst), asked), (4, 5));
    // Nothing allowed: nothing runs, the task stays schedulable.
    assert!(task.run_while(|| false));
    assert_eq!(runs.load(Ordering::SeqCst), 4);
    assert!(task.run());
    assert_eq!(runs.load(Ordering::SeqCst), 5);
}

#[test]
fn a_job_cancelling_itself_is_not_run_again_and_is_dropped_when_the_run_ends() {
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let handle: Arc<Mutex<Option<TaskHandle>>> = Arc::default();
    let h = handle.clone();
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    let task = Task::periodic(move || {
        let _keep = &flag;
        if r.fetch_add(1, Ordering::SeqCst) == 1 {
            h.lock().unwrap().as_ref().unwrap().cancel();
        }
    });
    *handle.lock().unwrap() = Some(task.handle());
    let mut proceeds = 0;
    assert!(!task.run_while(|| {
        proceeds += 1;
        true
    }));
    assert_eq!(runs.load(Ordering::SeqCst), 2, "no run after the cancel");
    assert_eq!(proceeds, 2, "not even asked after the cancel");
    assert!(dropped.load(Ordering::SeqCst), "the job was released");
    assert!(task.is_cancelled());
}

#[test]
fn a_panicking_job_is_dropped_and_the_panic_goes_on() {
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let mut n = 0;
    let task = Task::periodic(move || {
        let _keep = &flag;
        n += 1;
        if n == 3 {
            panic!("boom");
        }
    });
    let outcome = catch_unwind(AssertUnwindSafe(|| task.run_while(|| true)));
    assert!(outcome.is_err());
    assert!(dropped.load(Ordering::SeqCst));
    assert!(!task.run(), "nothing left to run");
}

#[test]
fn a_one_shot_job_runs_at_most_once() {
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    let task = Task::once(move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    assert!(task.run_while(|| false), "not run: still to be scheduled");
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert!(!task.run_while(|| true));
    assert!(!task.run_while(|| true));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn a_cancelled_task_does_not_run() {
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    let task = Task::periodic(move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    task.handle().cancel();
    assert!(!task.run_while(|| true));
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}
