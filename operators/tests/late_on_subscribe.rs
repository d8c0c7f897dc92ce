//! An upstream whose `on_subscribe` arrives after the stage was subscribed (from another
//! thread, as under `subscribe_on`): what the stage asked of it before must not be lost.
//! A request dropped there stalled the pipeline (`range(0, 3).subscribe_on(w)
//! .flat_map_iter(..)` never resolved); a cancel dropped there leaked the upstream
//! (`publish_on` answering `request(0)` before `on_subscribe` never cancelled it).
//!
//! Every stage that keeps its upstream subscription in a slot is run over a source whose
//! `on_subscribe` the test delivers by hand: demand made before it reaches the upstream,
//! and a cancel (or a `request(0)`) made before it cancels the upstream when it comes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use spillway::operators::{Budget, BufferOverflow, PressureLevels};
use spillway::prelude::*;
use spillway::{Error, SharedSubscription, Subscription, Worker};
use spillway_testkit::TestSubscriber;

/// Records what the stage asks of its upstream.
#[derive(Debug, Default)]
struct Recorded {
    requested: AtomicU64,
    cancelled: AtomicBool,
}

impl Subscription for Recorded {
    fn request(&self, n: u64) {
        self.requested.fetch_add(n.min(1 << 40), Ordering::SeqCst);
    }
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }
}

type Arrival = Box<dyn FnOnce(SharedSubscription) + Send>;

/// A source that keeps its subscriber and calls `on_subscribe` when the test says so.
#[derive(Clone, Default)]
struct Late {
    arrival: Arc<Mutex<Option<Arrival>>>,
    recorded: Arc<Recorded>,
}

impl Late {
    /// Delivers `on_subscribe` now.
    fn arrive(&self) {
        let arrival = self.arrival.lock().unwrap().take().expect("subscribed");
        arrival(self.recorded.clone());
    }
}

impl Publisher for Late {
    type Item = u64;
    type Error = ();
    fn subscribe<S: Subscriber<Item = u64, Error = ()>>(self, mut s: S) {
        *self.arrival.lock().unwrap() = Some(Box::new(move |sub| {
            s.on_subscribe(sub);
            std::mem::forget(s); // keep the subscriber (and what it holds) alive
        }));
    }
}

/// Demand before arrival reaches upstream; a cancel before arrival cancels it.
fn check<P, T>(what: &str, make: impl Fn(Late) -> P)
where
    P: Publisher<Item = T, Error = ()>,
    T: Send + std::fmt::Debug + 'static,
{
    let late = Late::default();
    let (sub, _h) = TestSubscriber::<T, ()>::new(3);
    make(late.clone()).subscribe(sub);
    late.arrive();
    assert!(
        late.recorded.requested.load(Ordering::SeqCst) > 0,
        "{what}: the demand made before on_subscribe never reached upstream"
    );

    let late = Late::default();
    let (sub, h) = TestSubscriber::<T, ()>::new(3);
    make(late.clone()).subscribe(sub);
    h.cancel();
    late.arrive();
    assert!(
        late.recorded.cancelled.load(Ordering::SeqCst),
        "{what}: the cancel made before on_subscribe never reached upstream"
    );
}

#[test]
fn every_slotted_stage_keeps_what_was_asked_before_on_subscribe() {
    let worker = Worker::new("late-on-subscribe");
    let budget = Budget::new(4).unwrap();
    check("flat_map_iter", |p| p.flat_map_iter(|x| [x, x]));
    check("map_async", |p| {
        p.map_async(2, |x| async move { x }).unwrap()
    });
    check("then", |p| p.then(|x| async move { x }));
    check("publish_on", |p| p.publish_on(worker.clone(), 4).unwrap());
    check("limit_rate", |p| p.limit_rate(4).unwrap());
    check("on_backpressure_buffer", |p| {
        p.on_backpressure_buffer(4, BufferOverflow::Backpressure)
            .unwrap()
    });
    check("pressure", |p| {
        p.pressure(4, PressureLevels::default(), |_| {}).unwrap()
    });
    check("chunks", |p| p.chunks(2).unwrap());
    check("chunks_timeout", |p| {
        p.chunks_timeout(2, Duration::from_secs(3600)).unwrap()
    });
    check("load_shed", |p| p.load_shed(4, |x: &u64| *x).unwrap());
    check("within_budget", |p| p.within_budget(&budget));
    check("sample", |p| p.sample(Duration::from_secs(3600)).unwrap());
    check("debounce", |p| {
        p.debounce(Duration::from_secs(3600)).unwrap()
    });
    check("share", |p| p.share());
}

#[test]
fn publish_on_cancels_an_upstream_that_subscribes_after_a_bad_request() {
    let worker = Worker::new("late-bad-request");
    let late = Late::default();
    let (sub, h) = TestSubscriber::<u64, ()>::new(0);
    late.clone().publish_on(worker, 1).unwrap().subscribe(sub);
    h.request(0);
    assert!(h.await_terminal(Duration::from_secs(10)));
    h.assert_error_matches(|e| matches!(e, Error::InvalidRequest { .. }));
    late.arrive();
    assert!(
        late.recorded.cancelled.load(Ordering::SeqCst),
        "the upstream chain leaked"
    );
}

#[test]
fn regression_subscribe_on_then_flat_map_iter_resolves() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let out = futures::executor::block_on(
            range(0, 3)
                .subscribe_on(Worker::new("source"))
                .take(10)
                .flat_map_iter(|x| vec![x, x])
                .collect(),
        );
        let _ = tx.send(out);
    });
    let out = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the pipeline never resolved");
    assert_eq!(out.unwrap(), vec![0, 0, 1, 1, 2, 2]);
}
