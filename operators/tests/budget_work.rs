//! Issue 11 §4: a `Budget` that bounds the work, not only the items it asked for. Async
//! stages with permits (`permits_from`, `permits_from_weighted`) hold their units from the
//! start of each future until its result is delivered; the total work in progress across
//! every pipeline sharing the budget never exceeds it.
//!
//! Timed futures run on a `VirtualScheduler` (no real sleeps); futures finished by hand use
//! oneshot channels. Every run on real threads or executors is guarded by a watchdog.

#[path = "support/watchdog.rs"]
mod watchdog;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::channel::oneshot;
use futures::future::BoxFuture;
use proptest::prelude::*;
use spillway::operators::Budget;
use spillway::prelude::*;
use spillway::{Error, Scheduler, Task};
use spillway_testkit::{TestPublisher, TestSubscriber, TestSubscriberHandle, VirtualScheduler};

/// A run on real threads that has not finished by then is stuck.
const WATCHDOG: Duration = Duration::from_secs(60);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A sleep on the virtual clock: done when `vs` reaches now + `d`.
fn sleep(vs: &Arc<VirtualScheduler>, d: Duration) -> impl Future<Output = ()> + Send + 'static {
    let (tx, rx) = oneshot::channel::<()>();
    Scheduler::schedule(
        &**vs,
        d,
        Task::once(move || {
            let _ = tx.send(());
        }),
    );
    async move {
        let _ = rx.await;
    }
}

/// The work in progress, counted by hand: units taken when a future starts (in `f`), given
/// back when its result reaches downstream's `on_next` (a `map` right after the stage).
/// With a budget to watch, it also checks, at both moments, that the budget's own count
/// covers the work (the units are held from before `f` until after `on_next`).
#[derive(Clone, Default)]
struct Wip {
    now: Arc<AtomicU64>,
    peak: Arc<AtomicU64>,
    budget: Option<Budget>,
    uncovered: Arc<Mutex<Option<String>>>,
}

impl Wip {
    fn watching(budget: &Budget) -> Wip {
        Wip {
            budget: Some(budget.clone()),
            ..Wip::default()
        }
    }
    fn start(&self, units: u64) {
        let now = self.now.fetch_add(units, Ordering::SeqCst) + units;
        self.peak.fetch_max(now, Ordering::SeqCst);
        self.check("started");
    }
    fn deliver(&self, units: u64) {
        self.check("delivered");
        self.now.fetch_sub(units, Ordering::SeqCst);
    }
    /// Single-threaded runs only: elsewhere the two counts are not read at one instant.
    fn check(&self, when: &str) {
        if let Some(budget) = &self.budget {
            let s = budget.stats();
            if self.now() > s.in_use {
                let mut uncovered = self.uncovered.lock().unwrap();
                uncovered.get_or_insert(format!("{when}: work {} > {s}", self.now()));
            }
        }
    }
    fn uncovered(&self) -> Option<String> {
        self.uncovered.lock().unwrap().clone()
    }
    fn now(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
    fn peak(&self) -> u64 {
        self.peak.load(Ordering::SeqCst)
    }
}

// ------------------------------------------------------------------ random pipelines

/// The async stage under test.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Ordered,
    Unordered,
    Then,
    Try,
}

#[derive(Debug, Clone)]
struct PipeSpec {
    kind: Kind,
    concurrency: usize,
    /// Per item: its future's duration (ms) and its raw weight.
    items: Vec<(u64, u64)>,
    /// Downstream requests this many whenever its demand is used up.
    demand: u64,
}

fn pipe_spec() -> impl Strategy<Value = PipeSpec> {
    (
        prop_oneof![
            Just(Kind::Ordered),
            Just(Kind::Unordered),
            Just(Kind::Then),
            Just(Kind::Try)
        ],
        1usize..5,
        proptest::collection::vec((1u64..60, 0u64..8), 1..12),
        1u64..4,
    )
        .prop_map(|(kind, concurrency, items, demand)| PipeSpec {
            kind,
            concurrency,
            items,
            demand,
        })
}

type Item = (u32, u64);
type Handle = TestSubscriberHandle<Item, Infallible>;

/// Subscribes one random pipeline: items `(index, weight)` from a synchronous source, an
/// async stage of `spec.kind` taking its permits from `budget` (weighted or not), futures
/// sleeping on `vs`, and a `map` giving the hand count back at delivery.
fn subscribe_pipe(
    spec: &PipeSpec,
    budget: &Budget,
    weighted: bool,
    wip: &Wip,
    vs: &Arc<VirtualScheduler>,
) -> Handle {
    let durations: Vec<u64> = spec.items.iter().map(|(d, _)| *d).collect();
    let items: Vec<Item> = (0u32..).zip(spec.items.iter().map(|(_, w)| *w)).collect();
    let units = move |w: u64| if weighted { w.max(1) } else { 1 };
    let (wip_start, wip_done, vs2) = (wip.clone(), wip.clone(), vs.clone());
    let f = move |(i, w): Item| {
        wip_start.start(units(w));
        let done = sleep(&vs2, ms(durations[i as usize]));
        async move {
            done.await;
            (i, w)
        }
    };
    let weigh = |&(_, w): &Item| w;
    let source = from_iter(items);
    let stage: BoxedPipe = match (spec.kind, weighted) {
        (Kind::Ordered, false) => Box::new(
            source
                .map_async(spec.concurrency, f)
                .unwrap()
                .permits_from(budget),
        ),
        (Kind::Ordered, true) => Box::new(
            source
                .map_async(spec.concurrency, f)
                .unwrap()
                .permits_from_weighted(budget, weigh),
        ),
        (Kind::Unordered, false) => Box::new(
            source
                .map_async_unordered(spec.concurrency, f)
                .unwrap()
                .permits_from(budget),
        ),
        (Kind::Unordered, true) => Box::new(
            source
                .map_async_unordered(spec.concurrency, f)
                .unwrap()
                .permits_from_weighted(budget, weigh),
        ),
        (Kind::Then, false) => Box::new(source.then(f).permits_from(budget)),
        (Kind::Then, true) => Box::new(source.then(f).permits_from_weighted(budget, weigh)),
        (Kind::Try, w) => {
            let try_f = move |x: Item| {
                let fut = f(x);
                async move { Ok::<Item, Infallible>(fut.await) }
            };
            let stage = source.try_map_async(spec.concurrency, try_f).unwrap();
            if w {
                Box::new(stage.permits_from_weighted(budget, weigh))
            } else {
                Box::new(stage.permits_from(budget))
            }
        }
    };
    let (sub, h) = TestSubscriber::with_scheduler(spec.demand, vs.clone());
    stage.subscribe_boxed(
        Box::new(move |(i, w): Item| {
            wip_done.deliver(units(w));
            (i, w)
        }),
        sub,
    );
    h
}

/// A pipeline of any of the four stage types, subscribed through a `map`.
trait SubscribeBoxed {
    fn subscribe_boxed(
        self: Box<Self>,
        on_delivery: Box<dyn FnMut(Item) -> Item + Send>,
        sub: TestSubscriber<Item, Infallible>,
    );
}

impl<P: Publisher<Item = Item, Error = Infallible>> SubscribeBoxed for P {
    fn subscribe_boxed(
        self: Box<Self>,
        on_delivery: Box<dyn FnMut(Item) -> Item + Send>,
        sub: TestSubscriber<Item, Infallible>,
    ) {
        (*self).map(on_delivery).subscribe(sub);
    }
}

type BoxedPipe = Box<dyn SubscribeBoxed>;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// 3 to 5 pipelines of random stage types, concurrency, future durations, weights and
    /// downstream demand share a budget smaller than their total concurrency: the work in
    /// progress (counted by hand, from each future's start to its result's delivery) never
    /// exceeds the budget, and the budget's own count always covers it; every pipeline
    /// gets every item (in input order where the stage keeps it), so none starves; at the
    /// end every unit is back and every stage gone.
    #[test]
    fn total_work_in_progress_never_exceeds_the_budget(
        pipes in proptest::collection::vec(pipe_spec(), 3..=5),
        capacity in 1u64..6,
        weighted in any::<bool>(),
        tick in 1u64..15,
    ) {
        let total_concurrency: usize = pipes
            .iter()
            .map(|p| if matches!(p.kind, Kind::Then) { 1 } else { p.concurrency })
            .sum();
        let capacity = capacity.min(total_concurrency as u64 - 1);
        // Weights up to the capacity (an item heavier than the budget fails its stage).
        let pipes: Vec<PipeSpec> = pipes
            .into_iter()
            .map(|mut p| {
                for item in &mut p.items {
                    item.1 %= capacity + 1;
                }
                p
            })
            .collect();
        let budget = Budget::new(capacity).unwrap();
        let vs = VirtualScheduler::new();
        let wip = Wip::watching(&budget);
        let handles: Vec<Handle> = pipes
            .iter()
            .map(|p| subscribe_pipe(p, &budget, weighted, &wip, &vs))
            .collect();
        let mut rounds = 0;
        while !handles.iter().all(|h| h.is_terminated()) {
            rounds += 1;
            prop_assert!(
                rounds < 20_000,
                "starved: {} after {rounds} rounds; items: {:?}",
                budget.stats(),
                handles.iter().map(|h| h.item_count()).collect::<Vec<_>>()
            );
            vs.advance_by(ms(tick));
            for (h, p) in handles.iter().zip(&pipes) {
                if !h.is_terminated() && h.outstanding_demand() == 0 {
                    h.request(p.demand);
                }
            }
            let s = budget.stats();
            prop_assert!(wip.now() <= s.in_use, "work {} not covered: {s}", wip.now());
            prop_assert!(s.in_use <= capacity, "{s}");
        }
        prop_assert!(wip.peak() <= capacity, "peak work {} > {capacity}", wip.peak());
        prop_assert_eq!(wip.uncovered(), None);
        let mut total = 0;
        for (h, p) in handles.iter().zip(&pipes) {
            h.assert_complete();
            h.assert_no_protocol_violations();
            let mut got: Vec<u32> = h.items().into_iter().map(|(i, _)| i).collect();
            if matches!(p.kind, Kind::Unordered) {
                got.sort_unstable();
            }
            prop_assert_eq!(got, (0..p.items.len() as u32).collect::<Vec<_>>());
            total += p.items.len() as u64;
        }
        let s = budget.stats();
        prop_assert_eq!((s.in_use, s.active, s.waiting, s.passed), (0, 0, 0, total));
        prop_assert!(s.peak_in_use <= capacity);
        prop_assert_eq!(wip.now(), 0);
    }
}

/// The reproduction: three `map_async(4)` stages above a `within_budget` of 2 run
/// 12 futures at once (the budget bounds the items *it* asked for); with permits from the
/// same budget, at most 2.
#[test]
fn within_budget_bounds_its_items_permits_bound_the_work() {
    for permits in [false, true] {
        let budget = Budget::new(2).unwrap();
        let vs = VirtualScheduler::new();
        // Futures running at once: from `f` to the future's completion.
        let wip = Wip::default();
        let mut handles = Vec::new();
        for _ in 0..3 {
            let (w1, vs2) = (wip.clone(), vs.clone());
            let stage = range(0, 8)
                .map_async(4, move |x| {
                    w1.start(1);
                    let done = sleep(&vs2, ms(10));
                    let w2 = w1.clone();
                    async move {
                        done.await;
                        w2.deliver(1);
                        x
                    }
                })
                .unwrap();
            let (sub, h) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
            if permits {
                stage.permits_from(&budget).subscribe(sub);
            } else {
                stage.within_budget(&budget).subscribe(sub);
            }
            handles.push(h);
        }
        vs.run_until_idle().unwrap();
        for h in &handles {
            h.assert_item_count(8);
            h.assert_complete();
        }
        if permits {
            assert_eq!(wip.peak(), 2, "permits: the budget bounds the futures");
        } else {
            assert_eq!(wip.peak(), 12, "within_budget: every map_async runs 4");
        }
        assert!(budget.stats().peak_in_use <= 2);
    }
}

// ------------------------------------------------------------------ by hand

/// A pipeline whose futures the test finishes by hand: items `(id, weight)` from a
/// `TestPublisher`, `map_async(concurrency)` with weighted permits, passes run on `vs`.
struct Hand {
    name: &'static str,
    tp: TestPublisher<Item, String>,
    h: TestSubscriberHandle<Item, String>,
    senders: Arc<Mutex<HashMap<u32, oneshot::Sender<()>>>>,
    vs: Arc<VirtualScheduler>,
}

/// The order futures started in, across pipelines: (pipeline, id).
type StartLog = Arc<Mutex<Vec<(&'static str, u32)>>>;

impl Hand {
    fn new(
        name: &'static str,
        budget: &Budget,
        concurrency: usize,
        demand: u64,
        vs: &Arc<VirtualScheduler>,
        log: &StartLog,
    ) -> Hand {
        let tp = TestPublisher::new();
        let senders: Arc<Mutex<HashMap<u32, oneshot::Sender<()>>>> = Arc::default();
        let (s2, log) = (senders.clone(), log.clone());
        let f = move |(id, w): Item| -> BoxFuture<'static, Result<Item, String>> {
            log.lock().unwrap().push((name, id));
            let (tx, rx) = oneshot::channel();
            s2.lock().unwrap().insert(id, tx);
            Box::pin(async move {
                match rx.await {
                    Ok(()) => Ok((id, w)),
                    Err(_) => Err(format!("{name} {id} failed")), // sender dropped: fail
                }
            })
        };
        let (sub, h) = TestSubscriber::with_scheduler(demand, vs.clone());
        tp.publisher()
            .try_map_async(concurrency, f)
            .unwrap()
            .permits_from_weighted(budget, |&(_, w): &Item| w)
            .subscribe(sub);
        Hand {
            name,
            tp,
            h,
            senders,
            vs: vs.clone(),
        }
    }

    fn send(&self, id: u32, weight: u64) {
        self.tp.next((id, weight));
        self.vs.run_until_idle().unwrap();
    }

    /// Finishes future `id`, then runs what its wake-up scheduled.
    fn finish(&self, id: u32) {
        let tx = self.senders.lock().unwrap().remove(&id);
        tx.unwrap_or_else(|| panic!("{} {id} is not running", self.name))
            .send(())
            .unwrap();
        self.vs.run_until_idle().unwrap();
    }

    /// Fails future `id` (its result is an `Err`).
    fn fail(&self, id: u32) {
        drop(self.senders.lock().unwrap().remove(&id).expect("running"));
        self.vs.run_until_idle().unwrap();
    }

    fn request(&self, n: u64) {
        self.h.request(n);
        self.vs.run_until_idle().unwrap();
    }

    /// Futures started and not finished (or dropped) yet.
    fn running(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .senders
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, tx)| !tx.is_canceled())
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }
}

fn log() -> StartLog {
    Arc::default()
}

fn started(log: &StartLog) -> Vec<(&'static str, u32)> {
    log.lock().unwrap().clone()
}

/// Strict FIFO across pipelines: a heavy waiter gets the units returned before later light
/// ones, however many of them there are (round-robin would have started C's light item as
/// soon as one unit came back).
#[test]
fn a_heavy_waiter_is_served_before_later_light_ones() {
    let budget = Budget::new(4).unwrap();
    let vs = VirtualScheduler::new();
    let log = log();
    let a = Hand::new("a", &budget, 4, u64::MAX, &vs, &log);
    let b = Hand::new("b", &budget, 4, u64::MAX, &vs, &log);
    let c = Hand::new("c", &budget, 4, u64::MAX, &vs, &log);
    a.send(0, 1);
    a.send(1, 2);
    assert_eq!(budget.stats().in_use, 3);
    b.send(0, 4); // needs everything: waits, holding the one free unit
    let s = budget.stats();
    assert_eq!((s.in_use, s.waiting), (4, 1), "{s}");
    c.send(0, 1);
    c.send(1, 1);
    assert_eq!(budget.stats().waiting, 2);
    a.finish(0); // one unit back: to B (it has 2 of its 4)
    assert_eq!(started(&log), [("a", 0), ("a", 1)]);
    // Two units back: both to B, which starts; round-robin would have given C one.
    a.finish(1);
    assert_eq!(started(&log), [("a", 0), ("a", 1), ("b", 0)]);
    assert_eq!(c.running(), Vec::<u32>::new(), "C waits behind B");
    b.finish(0);
    assert_eq!(
        started(&log),
        [("a", 0), ("a", 1), ("b", 0), ("c", 0), ("c", 1)]
    );
    c.finish(0);
    c.finish(1);
    for p in [&a, &b, &c] {
        p.tp.complete();
        p.vs.run_until_idle().unwrap();
        p.h.assert_complete();
    }
    let s = budget.stats();
    assert_eq!((s.in_use, s.active, s.passed, s.peak_in_use), (0, 0, 5, 4));
}

/// Within one stage, items start in arrival order: a light item does not overtake a heavy
/// one waiting ahead of it, even with units free for it.
#[test]
fn items_of_a_stage_start_in_arrival_order() {
    let budget = Budget::new(3).unwrap();
    let vs = VirtualScheduler::new();
    let log = log();
    let a = Hand::new("a", &budget, 4, u64::MAX, &vs, &log);
    a.send(0, 2);
    a.send(1, 3); // waits for 3, holding 1
    a.send(2, 1); // one unit would fit, but it comes after item 1
    assert_eq!(started(&log), [("a", 0)]);
    a.finish(0);
    assert_eq!(started(&log), [("a", 0), ("a", 1)]);
    a.finish(1);
    assert_eq!(started(&log), [("a", 0), ("a", 1), ("a", 2)]);
    a.finish(2);
    a.h.assert_items(&[(0, 2), (1, 3), (2, 1)]);
}

/// A weight of 0 counts as 1: the budget bounds how many futures run, whatever they weigh.
#[test]
fn a_zero_weight_takes_one_unit() {
    let budget = Budget::new(2).unwrap();
    let vs = VirtualScheduler::new();
    let log = log();
    let a = Hand::new("a", &budget, 4, u64::MAX, &vs, &log);
    for id in 0..4 {
        a.send(id, 0);
    }
    assert_eq!(a.running(), [0, 1]);
    assert_eq!(budget.stats().in_use, 2);
    a.finish(0);
    assert_eq!(a.running(), [1, 2]);
}

/// A unit is held until the result has been delivered downstream: a finished result
/// waiting for demand keeps its unit, and the waiting stage gets it only after delivery.
#[test]
fn a_result_waiting_for_demand_keeps_its_unit() {
    let budget = Budget::new(1).unwrap();
    let vs = VirtualScheduler::new();
    let log = log();
    let a = Hand::new("a", &budget, 2, 0, &vs, &log);
    let b = Hand::new("b", &budget, 2, u64::MAX, &vs, &log);
    a.send(0, 1);
    b.send(0, 1);
    a.finish(0); // finished, not delivered: no demand
    assert_eq!(started(&log), [("a", 0)]);
    assert_eq!(budget.stats().in_use, 1);
    a.request(1);
    a.h.assert_items(&[(0, 1)]);
    assert_eq!(started(&log), [("a", 0), ("b", 0)]);
}

/// A grant only schedules the waiting stage: the thread that returned the unit runs none of
/// its code (its `f`, its futures); the pass the grant scheduled does.
#[test]
fn a_grant_only_schedules_the_waiting_stage() {
    let budget = Budget::new(1).unwrap();
    let vs = VirtualScheduler::new();
    let log = log();
    let a = Hand::new("a", &budget, 2, 0, &vs, &log);
    let b = Hand::new("b", &budget, 2, u64::MAX, &vs, &log);
    a.send(0, 1);
    b.send(0, 1);
    a.finish(0);
    a.h.request(1); // delivers A's result, returns its unit: granted to B
    a.h.assert_items(&[(0, 1)]);
    assert_eq!(
        started(&log),
        [("a", 0)],
        "B's f did not run on this thread"
    );
    assert_eq!(vs.pending(), 1, "B's pass is scheduled");
    vs.run_due();
    assert_eq!(started(&log), [("a", 0), ("b", 0)]);
}

// ------------------------------------------------------------------ every unit back

/// Cancelling a stage with futures running, a result waiting for demand and items waiting
/// for units returns every unit (the next waiter gets them), drops its futures and cancels
/// upstream.
#[test]
fn cancel_mid_flight_returns_every_unit() {
    let budget = Budget::new(3).unwrap();
    let vs = VirtualScheduler::new();
    let log = log();
    let a = Hand::new("a", &budget, 4, 0, &vs, &log);
    let b = Hand::new("b", &budget, 2, u64::MAX, &vs, &log);
    for id in 0..4 {
        a.send(id, 1);
    }
    a.finish(0); // a result waiting for demand
    b.send(0, 2);
    let s = budget.stats();
    assert_eq!((s.in_use, s.waiting, s.active), (3, 2, 2), "{s}");
    assert_eq!(a.running(), [1, 2]);
    a.h.cancel();
    vs.run_until_idle().unwrap();
    a.tp.assert_cancelled();
    assert_eq!(a.running(), Vec::<u32>::new(), "A's futures were dropped");
    assert_eq!(b.running(), [0], "B got A's units");
    let s = budget.stats();
    assert_eq!((s.in_use, s.waiting, s.active), (2, 0, 1), "{s}");
    b.finish(0);
    b.tp.complete();
    vs.run_until_idle().unwrap();
    let s = budget.stats();
    assert_eq!((s.in_use, s.waiting, s.active), (0, 0, 0), "{s}");
}

/// A failing future (`try_map_async`'s `Err`) fails the stage and returns every unit,
/// including those of the futures still running and of a partial grant.
#[test]
fn an_error_mid_flight_returns_every_unit() {
    let budget = Budget::new(4).unwrap();
    let vs = VirtualScheduler::new();
    let log = log();
    let a = Hand::new("a", &budget, 4, u64::MAX, &vs, &log);
    a.send(0, 1);
    a.send(1, 2);
    a.send(2, 3); // waits, holding the one unit left
    assert_eq!(budget.stats().in_use, 4);
    a.fail(1);
    assert_eq!(a.h.error(), Some(Error::User("a 1 failed".to_string())));
    a.tp.assert_cancelled();
    let s = budget.stats();
    assert_eq!((s.in_use, s.waiting, s.active), (0, 0, 0), "{s}");
}

/// An upstream error: with `abort_on_error` every unit comes back at once; without, the
/// futures in flight and the items received before the error still run (each with its
/// units) and go out first.
#[test]
fn an_upstream_error_returns_every_unit() {
    for abort in [true, false] {
        let budget = Budget::new(2).unwrap();
        let vs = VirtualScheduler::new();
        let senders: Arc<Mutex<Vec<oneshot::Sender<u32>>>> = Arc::default();
        let s2 = senders.clone();
        let tp = TestPublisher::<u32, String>::new();
        let stage = tp
            .publisher()
            .map_async(3, move |x| {
                let (tx, rx) = oneshot::channel();
                s2.lock().unwrap().push(tx);
                async move { rx.await.unwrap_or(x) }
            })
            .unwrap()
            .permits_from(&budget);
        let stage = if abort { stage.abort_on_error() } else { stage };
        let (sub, h) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
        stage.subscribe(sub);
        tp.next(1).next(2).next(3); // two start, one waits for a unit
        tp.error("upstream".to_string());
        vs.run_until_idle().unwrap();
        if abort {
            assert_eq!(h.error(), Some(Error::User("upstream".to_string())));
            h.assert_items(&[]);
        } else {
            assert!(!h.is_terminated(), "waits for the work in flight");
            for round in 0..3 {
                let tx = senders.lock().unwrap().remove(0);
                tx.send(10 * (round + 1)).unwrap();
                vs.run_until_idle().unwrap();
            }
            h.assert_items(&[10, 20, 30]);
            assert_eq!(h.error(), Some(Error::User("upstream".to_string())));
        }
        let s = budget.stats();
        assert_eq!(
            (s.in_use, s.waiting, s.active),
            (0, 0, 0),
            "abort {abort}: {s}"
        );
    }
}

/// An emergency stop fails every stage taking units from the budget (async stages with
/// permits, running or waiting, and `within_budget`), cancels their upstreams, drops the
/// running futures and returns every unit; until `resume`, a new pipeline fails at
/// subscription; after it, pipelines run again.
#[test]
fn emergency_stop_fails_every_stage_and_returns_every_unit() {
    let budget = Budget::new(4).unwrap();
    let vs = VirtualScheduler::new();
    let log = log();
    let a = Hand::new("a", &budget, 3, u64::MAX, &vs, &log);
    let b = Hand::new("b", &budget, 3, u64::MAX, &vs, &log);
    for id in 0..3 {
        a.send(id, 1);
    }
    let within = TestPublisher::<u32, String>::new();
    let (sub, hw) = TestSubscriber::with_scheduler(5, vs.clone());
    within.publisher().within_budget(&budget).subscribe(sub);
    b.send(0, 2); // waits
    let s = budget.stats();
    assert_eq!((s.in_use, s.active), (4, 3), "{s}");

    budget.emergency_stop();
    vs.run_until_idle().unwrap();
    let stopped = Error::Rejected {
        stage: "budget",
        reason: "emergency stop",
    };
    assert_eq!(a.h.error(), Some(stopped.clone()));
    assert_eq!(b.h.error(), Some(stopped.clone()));
    assert_eq!(hw.error(), Some(stopped.clone()));
    a.tp.assert_cancelled();
    b.tp.assert_cancelled();
    within.assert_cancelled();
    assert_eq!(a.running(), Vec::<u32>::new(), "A's futures were dropped");
    let s = budget.stats();
    assert_eq!(
        (s.in_use, s.waiting, s.active, s.stopped),
        (0, 0, 0, true),
        "{s}"
    );

    let late = Hand::new("late", &budget, 1, u64::MAX, &vs, &log);
    vs.run_until_idle().unwrap();
    assert_eq!(late.h.error(), Some(stopped));
    assert_eq!(late.tp.subscription_count(), 0, "never subscribed upstream");

    budget.resume();
    let again = Hand::new("again", &budget, 1, u64::MAX, &vs, &log);
    again.send(0, 4);
    again.finish(0);
    again.tp.complete();
    vs.run_until_idle().unwrap();
    again.h.assert_items(&[(0, 4)]);
    again.h.assert_complete();
    assert_eq!(budget.stats().in_use, 0);
}

/// An item heavier than the whole budget could never start: a typed error naming the
/// stage, upstream cancelled, every unit back; no hang.
#[test]
fn a_weight_above_the_capacity_is_a_typed_error() {
    let budget = Budget::new(3).unwrap();
    let vs = VirtualScheduler::new();
    let log = log();
    let a = Hand::new("a", &budget, 2, u64::MAX, &vs, &log);
    a.send(0, 2);
    a.send(1, 4);
    assert_eq!(
        a.h.error(),
        Some(Error::Rejected {
            stage: "try_map_async",
            reason: "item weight above the budget's capacity"
        })
    );
    a.tp.assert_cancelled();
    assert_eq!(a.running(), Vec::<u32>::new());
    assert_eq!(budget.stats().in_use, 0);

    // The same awaited on an executor, under the watchdog, for each stage type.
    let out = watchdog::watchdog("too-heavy", WATCHDOG, || {
        futures::executor::block_on(async {
            let budget = Budget::new(3).unwrap();
            let weigh = |x: &u64| *x;
            let ordered = from_iter(vec![1u64, 9, 1])
                .map_async(2, |x| async move { x })
                .unwrap()
                .permits_from_weighted(&budget, weigh)
                .collect()
                .await;
            let then = from_iter(vec![9u64])
                .then(|x| async move { x })
                .permits_from_weighted(&budget, weigh)
                .collect()
                .await;
            let unordered = from_iter(vec![9u64])
                .map_async_unordered(2, |x| async move { x })
                .unwrap()
                .permits_from_weighted(&budget, weigh)
                .collect()
                .await;
            (ordered, then, unordered, budget.stats().in_use)
        })
    });
    let reason = "item weight above the budget's capacity";
    assert_eq!(
        out.0,
        Err(Error::Rejected {
            stage: "map_async",
            reason
        })
    );
    assert_eq!(
        out.1,
        Err(Error::Rejected {
            stage: "then",
            reason
        })
    );
    assert_eq!(
        out.2,
        Err(Error::Rejected {
            stage: "map_async_unordered",
            reason
        })
    );
    assert_eq!(out.3, 0);
}

// ------------------------------------------------------------------ races

/// No lost wake-up: a unit returned on one thread while another thread's stage asks for it
/// (between its "none free" and its wait) always reaches the waiter. Two threads race, many
/// times: one delivers the result that holds the only unit (returning it), the other sends
/// the item that wants it, to an async stage with permits or to `within_budget`. Then the
/// passes the race scheduled run; a lost grant leaves the item undelivered (no hang: the
/// virtual clock runs only what was scheduled).
#[test]
fn a_grant_racing_a_request_for_units_is_never_lost() {
    for round in 0..1000 {
        let budget = Budget::new(1).unwrap();
        let vs = VirtualScheduler::new();
        let holder = TestPublisher::<u32, ()>::new();
        let (sub, held) = TestSubscriber::with_scheduler(0, vs.clone());
        holder
            .publisher()
            .map_async(1, |x| async move { x })
            .unwrap()
            .permits_from(&budget)
            .subscribe(sub);
        holder.next(1); // finished, waiting for demand: holds the unit
        assert_eq!(budget.stats().in_use, 1);

        // The async stage asks for its unit when the item arrives; `within_budget` when
        // downstream requests.
        let is_async = round % 2 == 0;
        let wanting = TestPublisher::<u32, ()>::new();
        let (sub, hw) = TestSubscriber::with_scheduler(u64::from(is_async), vs.clone());
        if is_async {
            wanting
                .publisher()
                .map_async(1, |x| async move { x })
                .unwrap()
                .permits_from(&budget)
                .subscribe(sub);
        } else {
            wanting.publisher().within_budget(&budget).subscribe(sub);
        }
        let start = Arc::new(Barrier::new(2));
        let s2 = start.clone();
        let releaser = std::thread::spawn(move || {
            s2.wait();
            held.request(1);
            held
        });
        start.wait();
        if is_async {
            wanting.next(2);
        } else {
            hw.request(1);
        }
        let held = releaser.join().unwrap();
        vs.run_until_idle().unwrap();
        if !is_async {
            assert_eq!(
                wanting.outstanding(),
                1,
                "round {round}: the grant was lost: {}",
                budget.stats()
            );
            wanting.next(2);
            vs.run_until_idle().unwrap();
        }
        held.assert_items(&[1]);
        assert_eq!(
            hw.items(),
            [2],
            "round {round}: the grant was lost: {}",
            budget.stats()
        );
        assert_eq!(budget.stats().in_use, 0, "round {round}");
    }
}

// ------------------------------------------------------------------ executors

/// A future that is pending `n` times (waking itself each time), then ready: real
/// executors interleave the pipelines at every yield.
struct Yields {
    left: u32,
}

impl Future for Yields {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.left == 0 {
            return Poll::Ready(());
        }
        self.left -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Pipeline `p` of a run on a real executor: 40 items, `map_async(4)` with permits, each
/// future yielding a pipeline- and item-dependent number of times; the hand count checked.
fn pipeline_on_executor(
    p: u32,
    budget: &Budget,
    wip: &Wip,
) -> impl Future<Output = Result<u64, Error<Infallible>>> + Send + 'static {
    let (w1, w2) = (wip.clone(), wip.clone());
    let stage = range(0, 40).map_async(4, move |x| {
        w1.start(1);
        let left = (x as u32 * 7 + p * 3) % 5;
        async move {
            Yields { left }.await;
            x
        }
    });
    stage
        .unwrap()
        .permits_from(budget)
        .map(move |x| {
            w2.deliver(1);
            x
        })
        .count()
}

/// Under `futures::executor::block_on` (no runtime): four pipelines awaited together.
#[test]
fn pipelines_under_block_on_share_the_budget() {
    let (counts, peak, stats) = watchdog::watchdog("block_on", WATCHDOG, || {
        let budget = Budget::new(3).unwrap();
        let wip = Wip::default();
        let runs: Vec<_> = (0..4)
            .map(|p| pipeline_on_executor(p, &budget, &wip))
            .collect();
        let counts = futures::executor::block_on(futures::future::join_all(runs));
        (counts, wip.peak(), budget.stats())
    });
    assert!(counts.iter().all(|c| *c == Ok(40)), "{counts:?}");
    assert!(peak <= 3, "peak work {peak}");
    assert_eq!((stats.in_use, stats.active, stats.passed), (0, 0, 160));
}

/// Under tokio, across threads: each pipeline awaited in its own runtime on its own thread
/// (grants and wake-ups cross threads and runtimes), plus one on a futures thread pool.
#[test]
fn pipelines_on_many_threads_share_the_budget() {
    let (counts, peak, stats) = watchdog::watchdog("threads", WATCHDOG, || {
        let budget = Budget::new(3).unwrap();
        let wip = Wip::default();
        let mut threads = Vec::new();
        for p in 0..3 {
            let run = pipeline_on_executor(p, &budget, &wip);
            threads.push(std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(async move { tokio::spawn(run).await.unwrap() })
            }));
        }
        let pool = futures::executor::ThreadPool::builder()
            .pool_size(2)
            .create()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let run = pipeline_on_executor(3, &budget, &wip);
        pool.spawn_ok(async move {
            let _ = tx.send(run.await);
        });
        let mut counts: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        counts.push(rx.recv().unwrap());
        (counts, wip.peak(), budget.stats())
    });
    assert!(counts.iter().all(|c| *c == Ok(40)), "{counts:?}");
    assert!(peak <= 3, "peak work {peak}");
    assert_eq!((stats.in_use, stats.active, stats.passed), (0, 0, 160));
}

/// A tokio test (current-thread runtime, paused clock): pipelines spawned as tasks, their
/// futures sleeping on tokio's timer, the budget bounding their work; cancelling one
/// (dropping its task) returns its units.
#[tokio::test(start_paused = true)]
async fn pipelines_as_tokio_tasks_share_the_budget() {
    let budget = Budget::new(2).unwrap();
    let wip = Wip::default();
    let mut tasks = Vec::new();
    for p in 0..3u64 {
        let (w1, w2) = (wip.clone(), wip.clone());
        let run = range(0, 10)
            .map_async_unordered(3, move |x| {
                w1.start(1);
                async move {
                    tokio::time::sleep(ms(5 + (x * 3 + p) % 7)).await;
                    x
                }
            })
            .unwrap()
            .permits_from(&budget)
            .map(move |x| {
                w2.deliver(1);
                x
            })
            .count();
        tasks.push(tokio::spawn(run));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), Ok(10));
    }
    assert!(wip.peak() <= 2, "peak work {}", wip.peak());
    let never = range(0, 10)
        .map_async(2, |x| async move {
            futures::future::pending::<()>().await;
            x
        })
        .unwrap()
        .permits_from(&budget)
        .count();
    let never = tokio::spawn(never);
    for _ in 0..100 {
        if budget.stats().in_use == 2 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(
        budget.stats().in_use,
        2,
        "the never-ending pipeline holds both"
    );
    never.abort();
    let _ = never.await;
    let s = budget.stats();
    assert_eq!((s.in_use, s.active, s.waiting), (0, 0, 0), "{s}");
}
