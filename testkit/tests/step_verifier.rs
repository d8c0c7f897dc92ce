//! StepVerifier against core sources, on virtual time, and its failure messages.

use std::convert::Infallible;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use spillway_core::prelude::*;
use spillway_core::Error;
use spillway_testkit::{StepVerifier, TestPublisher, VirtualScheduler};

fn panic_message(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("should have panicked");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap()
}

#[test]
fn range_backpressured_step_by_step() {
    let report = StepVerifier::create(range(0, 5), 0)
        .expect_subscription()
        .expect_no_event(Duration::ZERO)
        .then_request(2)
        .expect_next_seq([0, 1])
        .then_request(1)
        .expect_next_matches(|x| *x == 2, "two")
        .then_request(10)
        .consume_next_with(|x| assert_eq!(x, 3))
        .expect_next_count(1)
        .verify_complete();
    assert_eq!(report.items(), vec![0, 1, 2, 3, 4]);
    report.handle().assert_no_protocol_violations();
}

#[test]
fn interval_on_virtual_time() {
    let vs = VirtualScheduler::new();
    let report = StepVerifier::create(interval(Duration::from_secs(3600)).unwrap(), 1)
        .with_scheduler(vs.clone())
        .expect_no_event(Duration::from_secs(3599))
        .then_await(Duration::from_secs(1))
        .expect_next(0)
        .then_request(2)
        .expect_next(1) // auto-advances to the next tick
        .expect_next(2)
        .then_cancel()
        .verify();
    assert_eq!(report.virtual_elapsed(), Duration::from_secs(3 * 3600));
    assert_eq!(vs.pending(), 0, "cancel must cancel the interval's timer");
    let at: Vec<Duration> = report.handle().with_events(|ev| {
        ev.iter()
            .filter(|e| e.signal.as_next().is_some())
            .map(|e| e.at)
            .collect()
    });
    assert_eq!(at, [1, 2, 3].map(|h| Duration::from_secs(h * 3600)));
}

#[test]
fn interval_without_demand_overflows() {
    StepVerifier::with_virtual_time(interval(Duration::from_secs(1)).unwrap(), 1)
        .expect_next(0)
        .expect_error_matches(|e| {
            matches!(
                e,
                Error::Overflow {
                    stage: "interval",
                    capacity: 0
                }
            )
        })
        .verify();
}

#[test]
fn error_source() {
    StepVerifier::create(error::<u8, _>("boom"), 0)
        .expect_error_matches(|e| *e == Error::User("boom"))
        .verify();
    let msg = panic_message(|| {
        StepVerifier::create(error::<u8, _>("boom"), 0).verify_complete();
    });
    assert!(msg.contains("step 1 of 1: expect_complete()"), "{msg}");
    assert!(msg.contains("seen:     error(User(\"boom\"))"), "{msg}");
    let msg = panic_message(|| {
        StepVerifier::create(error::<u8, _>("boom"), 0)
            .expect_error_matches(|e| *e == Error::User("other"))
            .verify();
    });
    assert!(msg.contains("the error does not match"), "{msg}");
}

#[test]
fn never_with_expect_no_event_over_a_day() {
    let report = StepVerifier::with_virtual_time(never::<u8, Infallible>(), 1)
        .expect_subscription()
        .expect_no_event(Duration::from_secs(86_400))
        .then_cancel()
        .verify();
    assert_eq!(report.virtual_elapsed(), Duration::from_secs(86_400));
}

#[test]
fn expect_no_event_includes_its_end_instant_and_the_before_form_excludes_it() {
    let hour = Duration::from_secs(3600);
    // The first tick is due at exactly one hour: it falls inside expect_no_event(1 h)...
    let err = StepVerifier::with_virtual_time(interval(hour).unwrap(), 1)
        .expect_no_event(hour)
        .then_cancel()
        .try_verify()
        .expect_err("a tick at the end instant is inside the window");
    assert!(err.to_string().contains("expect_no_event(3600s)"), "{err}");
    // ...and outside expect_no_event_before(1 h), which leaves it for the next step.
    let report = StepVerifier::with_virtual_time(interval(hour).unwrap(), 1)
        .expect_no_event_before(hour)
        .expect_next(0)
        .then_cancel()
        .verify();
    assert_eq!(
        report.virtual_elapsed(),
        hour,
        "the clock advanced by the whole hour"
    );
    // A tick before the end still fails the before form.
    let err = StepVerifier::with_virtual_time(interval(hour).unwrap(), 1)
        .expect_no_event_before(hour + Duration::from_nanos(2))
        .then_cancel()
        .try_verify()
        .expect_err("a tick before the end");
    assert!(
        err.to_string().contains("its end instant excluded"),
        "{err}"
    );
}

#[test]
fn waiting_on_never_fails_at_once_instead_of_hanging() {
    let started = Instant::now();
    let err = StepVerifier::with_virtual_time(never::<u8, Infallible>(), 1)
        .expect_next(1)
        .try_verify()
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("step 1 of 1: expect_next(1)"), "{msg}");
    assert!(msg.contains("seen:     nothing"), "{msg}");
    assert!(msg.contains("no timer is pending"), "{msg}");
    assert!(msg.contains("failing at once"), "{msg}");
    assert!(msg.contains("outstanding demand: 1"), "{msg}");
    assert!(msg.contains("pending timers: none"), "{msg}");
    // Not a measurement: a generous bound that a hang would blow.
    assert!(started.elapsed() < Duration::from_secs(30));

    // Without a scheduler too.
    let err = StepVerifier::create(never::<u8, Infallible>(), 1)
        .expect_complete()
        .try_verify()
        .unwrap_err();
    assert!(err.to_string().contains("verify_timeout"), "{err}");
}

#[test]
fn waiting_without_demand_on_interval_diagnoses_overflow_not_hang() {
    // Zero demand: the first tick fails the stream; the step sees the error.
    let err = StepVerifier::with_virtual_time(interval(Duration::from_secs(5)).unwrap(), 0)
        .expect_next(0)
        .try_verify()
        .unwrap_err();
    assert!(err.seen.as_deref().unwrap().contains("Overflow"), "{err}");
    assert_eq!(err.virtual_elapsed, Some(Duration::from_secs(5)));
}

#[test]
fn create_source_driven_from_then() {
    let (tx, rx) = std::sync::mpsc::channel::<Emitter<u32, Infallible>>();
    let p = create(OverflowStrategy::Buffer(8), move |em| tx.send(em).unwrap());
    let slot = std::rc::Rc::new(std::cell::RefCell::new(None));
    let (s1, s2) = (slot.clone(), slot.clone());
    StepVerifier::create(p, 1)
        .then(move || *s1.borrow_mut() = Some(rx.recv().unwrap()))
        .expect_no_event(Duration::ZERO)
        .then(move || {
            let em = s2.borrow().clone().unwrap();
            em.next(10).unwrap();
            em.next(11).unwrap();
            em.complete();
        })
        .expect_next(10)
        .expect_no_event(Duration::ZERO) // 11 is buffered: no demand
        .then_request(1)
        .expect_next(11)
        .verify_complete();
}

#[test]
fn test_publisher_driven_steps() {
    let tp = TestPublisher::<&'static str, ()>::new();
    let t = tp.clone();
    let t2 = tp.clone();
    StepVerifier::create(tp.publisher(), 2)
        .then(move || {
            t.next("a").next("b");
        })
        .expect_next_seq(["a", "b"])
        .then_cancel()
        .then(move || t2.assert_cancelled())
        .verify();
}

#[test]
fn mismatch_message_names_step_signal_and_timeline() {
    let msg = panic_message(|| {
        StepVerifier::create(range(1, 4), 3)
            .expect_next(1)
            .expect_next(5)
            .verify_complete();
    });
    assert!(
        msg.contains("failed at step 2 of 3: expect_next(5)"),
        "{msg}"
    );
    assert!(msg.contains("expected: next(5)"), "{msg}");
    assert!(msg.contains("seen:     next(2)"), "{msg}");
    assert!(msg.contains("the item does not match"), "{msg}");
    assert!(msg.contains("recorded timeline:"), "{msg}");
    assert!(msg.contains("request(3)"), "{msg}");
}

#[test]
fn count_and_completion_failures() {
    let err = StepVerifier::create(range(0, 2), u64::MAX)
        .expect_next_count(3)
        .try_verify()
        .unwrap_err();
    assert_eq!(err.step, "expect_next_count(3)");
    assert_eq!(err.seen.as_deref(), Some("complete"));
    assert!(err.expected.contains("item 3 of 3"), "{err}");

    let err = StepVerifier::create(range(0, 2), u64::MAX)
        .expect_next(0)
        .try_verify()
        .unwrap_err();
    assert!(err.diagnosis.contains("after the last step"), "{err}");
    assert_eq!(err.seen.as_deref(), Some("next(1)"));
}

#[test]
fn expect_no_event_fails_when_something_arrives() {
    let err = StepVerifier::with_virtual_time(interval(Duration::from_secs(10)).unwrap(), 5)
        .expect_no_event(Duration::from_secs(30))
        .try_verify()
        .unwrap_err();
    assert_eq!(err.step, "expect_no_event(30s)");
    assert_eq!(err.seen.as_deref(), Some("next(0)"));
    assert!(err.diagnosis.contains("arrived meanwhile"), "{err}");
}

#[test]
fn expect_subscription_failure() {
    let err = StepVerifier::create(just(1), 1)
        .expect_next(1)
        .expect_subscription()
        .try_verify()
        .unwrap_err();
    assert_eq!(err.step_index, 1);
    assert_eq!(err.seen.as_deref(), Some("complete"));
}

#[test]
fn protocol_violations_fail_verification() {
    let tp =
        TestPublisher::<u8, ()>::non_compliant(&[spillway_testkit::Violation::EmitWithoutDemand]);
    let t = tp.clone();
    let err = StepVerifier::create(tp.publisher(), 1)
        .then(move || {
            t.next(1).next(2);
        })
        .expect_next(1)
        .expect_next(2)
        .then_cancel()
        .try_verify()
        .unwrap_err();
    assert!(err.diagnosis.contains("broke the protocol"), "{err}");
    assert_eq!(err.violations.len(), 1);
    assert!(err.to_string().contains("beyond demand"), "{err}");
}

#[test]
fn real_time_verify_timeout() {
    let p = create(
        OverflowStrategy::Buffer(16),
        |em: Emitter<u32, Infallible>| {
            std::thread::spawn(move || {
                for i in 0..3 {
                    em.next(i).unwrap();
                }
                em.complete();
            });
        },
    );
    StepVerifier::create(p, u64::MAX)
        .expect_next_seq([0, 1, 2])
        .expect_complete()
        .verify_timeout(Duration::from_secs(30));

    let err = StepVerifier::create(never::<u8, Infallible>(), 1)
        .expect_next(0)
        .try_verify_timeout(Duration::from_millis(5))
        .unwrap_err();
    assert!(err.diagnosis.contains("timed out"), "{err}");
}

#[test]
fn report_dropped_by_stage() {
    let report = StepVerifier::create_with(
        |drops| {
            let mut on_drop = drops.on_drop::<u64>("on_backpressure_drop");
            on_drop(&3);
            on_drop(&4);
            drops.record("sample", "9");
            range(0, 2)
        },
        2,
    )
    .expect_next_seq([0, 1])
    .verify_complete();
    assert_eq!(report.dropped_count("on_backpressure_drop"), 2);
    assert_eq!(report.dropped_count("sample"), 1);
    assert_eq!(
        report.dropped()[0],
        ("on_backpressure_drop", "3".to_string())
    );
    assert!(report.timeline().contains("dropped[sample](9)"));
}

#[test]
fn deterministic_timeline_on_virtual_time() {
    let run = || {
        StepVerifier::with_virtual_time(interval(Duration::from_millis(100)).unwrap(), 3)
            .expect_next_seq([0, 1, 2])
            .then_cancel()
            .verify()
            .timeline()
    };
    let first = run();
    assert!(first.contains("300ms next(2)"), "{first}");
    assert_eq!(run(), first);
}
