//! subscribe_on: subscription, requests and synchronous emission on the given context.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use spillway::prelude::*;
use spillway::{Error, Worker};
use spillway_testkit::tck::{self, publisher_factory, TckConfig};
use spillway_testkit::{TestPublisher, TestSubscriber, VirtualScheduler};

const WAIT: Duration = Duration::from_secs(10);

fn thread_name() -> String {
    thread::current().name().unwrap_or("?").to_string()
}

/// Bounded wait (no sleep) for `on_subscribe`, which subscribe_on delivers asynchronously.
fn wait_subscribed<T, E>(handle: &spillway_testkit::TestSubscriberHandle<T, E>) {
    let deadline = std::time::Instant::now() + WAIT;
    while !handle.is_subscribed() {
        assert!(
            std::time::Instant::now() < deadline,
            "not subscribed in time"
        );
        thread::yield_now();
    }
}

#[test]
fn subscribe_request_and_emission_run_on_the_worker() {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let r = requests.clone();
    let (sub, handle) = TestSubscriber::<(u64, String), Infallible>::new(0);
    range(0, 6)
        .do_on_request(move |n| r.lock().unwrap().push((n, thread_name())))
        .map(|x| (x, thread_name()))
        .subscribe_on(Worker::new("source"))
        .subscribe(sub);
    wait_subscribed(&handle);
    // Requests made here, on the test thread, hop to the worker.
    handle.request(2);
    handle.request(4);
    assert!(handle.await_terminal(WAIT));
    handle.assert_complete();
    let items = handle.items();
    assert_eq!(
        items.iter().map(|(x, _)| *x).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4, 5]
    );
    assert!(items.iter().all(|(_, t)| t == "source"), "{items:?}");
    let requests = requests.lock().unwrap().clone();
    assert_eq!(
        requests,
        vec![(2, "source".to_string()), (4, "source".to_string())]
    );
}

/// Records the thread of `on_subscribe`.
struct SubscribeThread(std::sync::mpsc::Sender<String>);
impl Subscriber for SubscribeThread {
    type Item = u64;
    type Error = Infallible;
    fn on_subscribe(&mut self, s: spillway::SharedSubscription) {
        self.0.send(thread_name()).unwrap();
        s.cancel();
    }
    fn on_next(&mut self, _: u64) {}
    fn on_error(&mut self, _: Error<Infallible>) {}
    fn on_complete(&mut self) {}
}

#[test]
fn on_subscribe_runs_on_the_worker() {
    let (tx, rx) = std::sync::mpsc::channel();
    range(0, 3)
        .subscribe_on(Worker::new("source"))
        .subscribe(SubscribeThread(tx));
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), "source");
}

#[test]
fn nothing_happens_until_the_scheduler_runs() {
    let vs = VirtualScheduler::new();
    let tp = TestPublisher::<u64, Infallible>::new();
    let (sub, handle) = TestSubscriber::new(3);
    tp.publisher().subscribe_on(vs.clone()).subscribe(sub);
    assert_eq!(tp.subscription_count(), 0);
    assert!(!handle.is_subscribed());
    vs.run_until_idle().unwrap();
    tp.assert_subscribed();
    handle.assert_subscribed();
    assert_eq!(tp.total_requested(), 3); // requested on the scheduler: direct
    handle.request(2); // from another thread: one task
    assert_eq!(tp.total_requested(), 3);
    vs.run_until_idle().unwrap();
    assert_eq!(tp.total_requested(), 5);
    tp.next(1).next(2).complete();
    handle.assert_items(&[1, 2]);
    handle.assert_complete();
}

#[test]
fn cancel_reaches_upstream_directly() {
    let vs = VirtualScheduler::new();
    let tp = TestPublisher::<u64, Infallible>::new();
    let (sub, handle) = TestSubscriber::new(1);
    tp.publisher().subscribe_on(vs.clone()).subscribe(sub);
    vs.run_until_idle().unwrap();
    tp.next(1);
    handle.cancel();
    tp.assert_cancelled(); // without running the scheduler
    handle.request(5);
    vs.run_until_idle().unwrap();
    assert_eq!(tp.total_requested(), 1, "no request after cancel");
}

#[test]
fn error_propagates() {
    let (sub, handle) = TestSubscriber::<u64, &str>::new(u64::MAX);
    error("boom").subscribe_on(Worker::new("w")).subscribe(sub);
    assert!(handle.await_terminal(WAIT));
    assert_eq!(handle.error(), Some(Error::User("boom")));
}

#[test]
fn request_zero_is_answered_by_upstream() {
    let (sub, handle) = TestSubscriber::<u64, Infallible>::new(0);
    range(0, 3).subscribe_on(Worker::new("w")).subscribe(sub);
    wait_subscribed(&handle);
    handle.request(0);
    assert!(handle.await_terminal(WAIT));
    handle.assert_error_matches(|e| matches!(e, Error::InvalidRequest { .. }));
}

#[test]
fn conformance_on_a_worker() {
    let worker = Worker::new("tck");
    tck::verify_publisher_with(
        publisher_factory(move |n| range(0, n).subscribe_on(worker.clone())),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}
