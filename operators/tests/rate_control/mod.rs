//! Shared harness of the rate-control tests (sample_first, sample, throttle_latest, audit,
//! debounce, rate_limit, delay_elements): virtual-time scenarios as plain functions, and a
//! small reference model of each lossy operator for the property tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use spillway::operators::{DropReason, FlowStats};
use spillway::prelude::*;
use spillway_testkit::{
    Signal, TestPublisher, TestSubscriber, TestSubscriberHandle, VirtualScheduler,
};

pub type Handle = TestSubscriberHandle<u32, ()>;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A virtual clock and a test publisher recording on it.
pub fn rig() -> (Arc<VirtualScheduler>, TestPublisher<u32, ()>) {
    let vs = VirtualScheduler::new();
    let tp = TestPublisher::new().with_scheduler(vs.clone());
    (vs, tp)
}

/// Subscribes a recording subscriber that brings `vs` in its context.
pub fn subscribe<P>(op: P, vs: &Arc<VirtualScheduler>, initial: u64) -> Handle
where
    P: Publisher<Item = u32, Error = ()>,
{
    let (sub, h) = TestSubscriber::with_scheduler(initial, vs.clone());
    op.subscribe(sub);
    h
}

/// The items received, with their virtual time in milliseconds.
pub fn timed_items(h: &Handle) -> Vec<(u64, u32)> {
    h.events()
        .into_iter()
        .filter_map(|e| match e.signal {
            Signal::Next(x) => Some((e.at.as_millis() as u64, x)),
            _ => None,
        })
        .collect()
}

/// The stats invariant: nothing vanished unseen.
#[track_caller]
pub fn assert_balanced(stats: &FlowStats) {
    let s = stats.snapshot();
    assert!(s.is_balanced(), "unbalanced stats: {s}");
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Item(u32),
    Request(u64),
}

/// Items and requests at absolute virtual times (ms), then completion at `end`, then a
/// last request (0: none).
#[derive(Debug, Clone)]
pub struct Scenario {
    pub steps: Vec<(u64, Step)>,
    pub end: u64,
    pub final_request: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    pub out: Vec<(u64, u32)>,
    pub throttled: u64,
    pub no_demand: u64,
    pub discarded: u64,
    pub complete: bool,
}

/// Random scenarios: up to 30 items and requests over 200 ms.
pub fn scenarios() -> impl Strategy<Value = Scenario> {
    let step = prop_oneof![
        3 => Just(None),
        2 => (1u64..4).prop_map(Some),
    ];
    (proptest::collection::vec((0u64..200, step), 0..30), 0u64..3).prop_map(
        |(mut raw, final_request)| {
            raw.sort_by_key(|(t, _)| *t);
            let mut next = 0u32;
            let steps: Vec<(u64, Step)> = raw
                .into_iter()
                .map(|(t, r)| match r {
                    None => {
                        next += 1;
                        (t, Step::Item(next))
                    }
                    Some(n) => (t, Step::Request(n)),
                })
                .collect();
            let end = steps.last().map_or(0, |(t, _)| *t) + 1;
            Scenario {
                steps,
                end,
                final_request,
            }
        },
    )
}

/// Runs `op` (built on `tp`) through the scenario on `vs`.
pub fn run<P>(
    op: P,
    stats: FlowStats,
    vs: &Arc<VirtualScheduler>,
    tp: &TestPublisher<u32, ()>,
    sc: &Scenario,
) -> Outcome
where
    P: Publisher<Item = u32, Error = ()>,
{
    let h = subscribe(op, vs, 0);
    for (t, step) in &sc.steps {
        vs.advance_to(ms(*t));
        match step {
            Step::Item(i) => {
                tp.next(*i);
            }
            Step::Request(n) => h.request(*n),
        }
    }
    vs.advance_to(ms(sc.end));
    tp.complete();
    if sc.final_request > 0 {
        h.request(sc.final_request);
    }
    h.assert_no_protocol_violations();
    assert_balanced(&stats);
    let s = stats.snapshot();
    Outcome {
        out: timed_items(&h),
        throttled: s.dropped_for(DropReason::Throttled),
        no_demand: s.dropped_for(DropReason::NoDemand),
        discarded: s.dropped_for(DropReason::Discarded),
        complete: h.is_complete(),
    }
}

/// Which lossy operator the model follows.
#[derive(Debug, Clone, Copy)]
pub enum Model {
    SampleFirst,
    Sample,
    ThrottleLatest,
    /// `throttle(.., ThrottleMode::Trailing)`: the first item is held and opens a window;
    /// the window's end emits the latest item, which opens the next window.
    ThrottleTrailing,
    Audit,
    Debounce,
    /// rate_limit in Drop mode: `rate` tokens per `per` ms, `burst` capacity, cost 1.
    RateDrop {
        rate: u64,
        per: u64,
        burst: u64,
    },
}

/// The reference model: a direct, single-threaded simulation of the documented semantics
/// (timers due at an instant fire before the item or request at that instant).
pub fn model(kind: Model, period: u64, sc: &Scenario) -> Outcome {
    struct St {
        demand: u64,
        o: Outcome,
    }
    fn commit(st: &mut St, t: u64, item: u32) -> bool {
        if st.demand > 0 {
            st.demand -= 1;
            st.o.out.push((t, item));
            true
        } else {
            st.o.no_demand += 1;
            false
        }
    }
    let mut st = St {
        demand: 0,
        o: Outcome::default(),
    };
    let mut pending: Option<u32> = None;
    let mut timer: Option<u64> = None;
    let mut window = false;
    let mut gate: Option<u64> = None;
    let mut next_tick = period;
    let (rate, per_ns, burst) = match kind {
        Model::RateDrop { rate, per, burst } => {
            (rate as u128, per as u128 * 1_000_000, burst as u128)
        }
        _ => (1, 1, 1),
    };
    let mut credit: u128 = burst * per_ns;
    let mut refilled: u64 = 0;

    let fire = |t: u64,
                st: &mut St,
                pending: &mut Option<u32>,
                timer: &mut Option<u64>,
                window: &mut bool,
                next_tick: &mut u64| {
        match kind {
            Model::Sample => {
                while *next_tick <= t {
                    if let Some(i) = pending.take() {
                        commit(st, *next_tick, i);
                    }
                    *next_tick += period;
                }
            }
            _ => {
                while let Some(due) = *timer {
                    if due > t {
                        break;
                    }
                    *timer = None;
                    match kind {
                        Model::ThrottleLatest | Model::ThrottleTrailing => {
                            let committed = match pending.take() {
                                Some(i) => commit(st, due, i),
                                None => false,
                            };
                            *window = committed;
                            if committed {
                                *timer = Some(due + period);
                            }
                        }
                        Model::Audit | Model::Debounce => {
                            *window = false;
                            if let Some(i) = pending.take() {
                                commit(st, due, i);
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    };

    for (t, step) in &sc.steps {
        let t = *t;
        fire(
            t,
            &mut st,
            &mut pending,
            &mut timer,
            &mut window,
            &mut next_tick,
        );
        match *step {
            Step::Request(n) => st.demand = st.demand.saturating_add(n),
            Step::Item(i) => match kind {
                Model::SampleFirst => {
                    if gate.is_none_or(|g| t >= g) {
                        if commit(&mut st, t, i) {
                            gate = Some(t + period);
                        }
                    } else {
                        st.o.throttled += 1;
                    }
                }
                Model::Sample | Model::Audit | Model::Debounce => {
                    if pending.replace(i).is_some() {
                        st.o.throttled += 1;
                    }
                    match kind {
                        Model::Audit if !window => {
                            window = true;
                            timer = Some(t + period);
                        }
                        Model::Debounce => timer = Some(t + period),
                        _ => {}
                    }
                }
                Model::ThrottleTrailing => {
                    if pending.replace(i).is_some() {
                        st.o.throttled += 1;
                    }
                    if !window {
                        window = true;
                        timer = Some(t + period);
                    }
                }
                Model::ThrottleLatest => {
                    if window {
                        if pending.replace(i).is_some() {
                            st.o.throttled += 1;
                        }
                    } else if commit(&mut st, t, i) {
                        window = true;
                        timer = Some(t + period);
                    }
                }
                Model::RateDrop { rate: _, .. } => {
                    let elapsed = (t - refilled) as u128 * 1_000_000;
                    refilled = t;
                    credit = (credit + elapsed * rate).min(burst * per_ns);
                    if credit < per_ns {
                        st.o.throttled += 1;
                    } else if st.demand > 0 {
                        credit -= per_ns;
                        commit(&mut st, t, i);
                    } else {
                        st.o.no_demand += 1;
                    }
                }
            },
        }
    }
    fire(
        sc.end,
        &mut st,
        &mut pending,
        &mut timer,
        &mut window,
        &mut next_tick,
    );
    // Completion: the pending item is flushed (the default), waiting for demand.
    match pending {
        None => st.o.complete = true,
        Some(i) => {
            st.demand = st.demand.saturating_add(sc.final_request);
            if st.demand > 0 {
                st.o.out.push((sc.end, i));
                st.o.complete = true;
            }
        }
    }
    st.o
}

/// Builds the operator under test on an upstream, returning it with its stats.
pub trait Make<P>: Fn(spillway_testkit::TestPublisherSource<u32, ()>) -> (P, FlowStats) {}
impl<P, F: Fn(spillway_testkit::TestPublisherSource<u32, ()>) -> (P, FlowStats)> Make<P> for F {}

/// Cancel mid-stream: reaches upstream, cancels the timers, discards what is held.
pub fn check_cancel<P: Publisher<Item = u32, Error = ()>>(make: impl Make<P>) {
    let (vs, tp) = rig();
    let (op, stats) = make(tp.publisher());
    let h = subscribe(op, &vs, 1);
    for i in 1..=2 {
        if tp.outstanding() > 0 {
            tp.next(i);
        }
    }
    vs.advance_by(ms(1));
    h.cancel();
    tp.assert_cancelled();
    assert_eq!(vs.pending(), 0, "timers left: {}", vs.describe_pending());
    assert_balanced(&stats);
    assert_eq!(stats.snapshot().buffered, 0);
    h.assert_not_terminated();
}

/// An upstream error is delivered; a pending item is dropped as Discarded.
pub fn check_error<P: Publisher<Item = u32, Error = ()>>(make: impl Make<P>) {
    let (vs, tp) = rig();
    let (op, stats) = make(tp.publisher());
    let h = subscribe(op, &vs, u64::MAX);
    tp.next(1);
    tp.error(());
    vs.advance_by(ms(1000)); // lossless stages deliver it after the delayed item
    h.assert_error_matches(|e| *e == spillway::Error::User(()));
    assert_eq!(vs.pending(), 0);
    assert_balanced(&stats);
}

/// request(0) ends with InvalidRequest naming the stage.
pub fn check_request_zero<P: Publisher<Item = u32, Error = ()>>(
    make: impl Make<P>,
    stage: &'static str,
) {
    let (vs, tp) = rig();
    let (op, _stats) = make(tp.publisher());
    let h = subscribe(op, &vs, 0);
    h.request(0);
    h.assert_error_matches(|e| *e == spillway::Error::InvalidRequest { stage });
    tp.assert_cancelled();
}

/// A non-compliant upstream that signals after its terminal: the late item is dropped
/// as Discarded, the late terminal ignored; downstream sees one terminal.
pub fn check_late_signals<P: Publisher<Item = u32, Error = ()>>(make: impl Make<P>) {
    use spillway_testkit::Violation;
    let vs = VirtualScheduler::new();
    let tp =
        TestPublisher::non_compliant(&[Violation::EmitAfterTerminate, Violation::TerminateTwice])
            .with_scheduler(vs.clone());
    let (op, stats) = make(tp.publisher());
    let h = subscribe(op, &vs, u64::MAX);
    tp.complete();
    h.assert_complete();
    let before = h.item_count();
    tp.next(99);
    tp.complete();
    vs.advance_by(Duration::from_secs(3600));
    assert_eq!(h.item_count(), before);
    h.assert_no_protocol_violations();
    assert_eq!(stats.snapshot().dropped_for(DropReason::Discarded), 1);
    assert_balanced(&stats);
}

/// Starting at request(0): nothing is emitted, upstream is asked for unbounded demand.
pub fn check_backpressured<P: Publisher<Item = u32, Error = ()>>(make: impl Make<P>) {
    let (vs, tp) = rig();
    let (op, stats) = make(tp.publisher());
    let h = subscribe(op, &vs, 0);
    assert_eq!(tp.total_requested(), u64::MAX);
    for t in 0..50 {
        vs.advance_to(ms(t));
        tp.next(t as u32);
    }
    assert!(h.items().is_empty());
    assert_balanced(&stats);
}

/// One request and one item per round, rounds far apart (25 ms, over a 10 ms period):
/// every round emits its item.
pub fn check_incremental_request<P: Publisher<Item = u32, Error = ()>>(make: impl Make<P>) {
    let (vs, tp) = rig();
    let (op, stats) = make(tp.publisher());
    let h = subscribe(op, &vs, 0);
    let mut expected = 0;
    for round in 0..5u32 {
        h.request(1);
        tp.next(round);
        vs.advance_by(ms(25));
        expected += 1;
        assert_eq!(h.item_count(), expected);
    }
    assert_balanced(&stats);
}

/// With unbounded demand, items `gap` apart (longer than the period) all get through.
pub fn check_unbounded<P: Publisher<Item = u32, Error = ()>>(make: impl Make<P>, gap: Duration) {
    let (vs, tp) = rig();
    let (op, _stats) = make(tp.publisher());
    let h = subscribe(op, &vs, u64::MAX);
    for i in 0..100 {
        tp.next(i);
        vs.advance_by(gap);
    }
    assert_eq!(h.item_count(), 100);
}

/// Trailing stages (`sample`, `audit`, `debounce`): a timer that fires while downstream
/// has no demand drops (and counts) the pending item instead of emitting it.
pub fn check_trailing_timer_without_demand<P: Publisher<Item = u32, Error = ()>>(
    make: impl Make<P>,
) {
    let (vs, tp) = rig();
    let (op, stats) = make(tp.publisher());
    let h = subscribe(op, &vs, 0);
    tp.next(1);
    vs.advance_by(ms(10)); // the period ends without demand
    assert!(h.items().is_empty());
    assert_eq!(stats.snapshot().dropped_for(DropReason::NoDemand), 1);
    h.request(1);
    tp.next(2);
    vs.advance_by(ms(10));
    assert_eq!(timed_items(&h), vec![(20, 2)]);
    h.assert_no_protocol_violations();
    assert_balanced(&stats);
}

/// Items 1 and 2, then completion, with `initial` demand: the timers are cancelled and
/// the pending item (2) waits for demand, then is delivered before `on_complete`;
/// `expected` is everything delivered.
pub fn check_complete_flushes_pending<P: Publisher<Item = u32, Error = ()>>(
    make: impl Make<P>,
    initial: u64,
    expected: &[u32],
) {
    let (vs, tp) = rig();
    let (op, stats) = make(tp.publisher());
    let h = subscribe(op, &vs, initial);
    tp.next(1);
    tp.next(2);
    tp.complete();
    assert_eq!(vs.pending(), 0, "timers cancelled at completion");
    h.assert_not_terminated(); // the pending item waits for demand
    assert_eq!(stats.snapshot().buffered, 1);
    h.request(1);
    h.assert_items(expected);
    h.assert_complete();
    assert_balanced(&stats);
}

/// `make` sets `flush_on_complete(false)`: items 1 and 2, then completion, with
/// unbounded demand: completion is at once, the pending item is dropped as Discarded;
/// `emitted` items got through before.
pub fn check_complete_without_flush<P: Publisher<Item = u32, Error = ()>>(
    make: impl Make<P>,
    emitted: usize,
) {
    let (vs, tp) = rig();
    let (op, stats) = make(tp.publisher());
    let h = subscribe(op, &vs, u64::MAX);
    tp.next(1);
    tp.next(2);
    tp.complete();
    h.assert_complete();
    assert_eq!(h.items().len(), emitted);
    assert_eq!(stats.snapshot().dropped_for(DropReason::Discarded), 1);
    assert_balanced(&stats);
}

/// `make` sets an `on_drop` that panics: three items at once (at least one of them
/// dropped) fail the pipeline with Panicked naming `stage`, cancel upstream and the timers.
pub fn check_on_drop_panic_fails<P: Publisher<Item = u32, Error = ()>>(
    make: impl Make<P>,
    stage: &'static str,
) {
    let (vs, tp) = rig();
    let (op, stats) = make(tp.publisher());
    let h = subscribe(op, &vs, u64::MAX);
    tp.next(1);
    tp.next(2);
    tp.next(3); // at least one of these is throttled: on_drop panics
    h.assert_error_matches(
        |e| matches!(e, spillway::Error::Panicked { stage: s, .. } if *s == stage),
    );
    tp.assert_cancelled();
    assert_eq!(vs.pending(), 0);
    vs.advance_by(ms(100));
    assert!(h.item_count() <= 1);
    assert_balanced(&stats);
}

/// An `on_drop` callback, boxed so that the checks can hand one to `make`.
pub type OnDropFn = Box<dyn Fn(u32, DropReason) + Send + Sync>;

/// `make(up, record)` sets `on_drop(record)`: five items at once, with unbounded demand,
/// reach `on_drop` exactly as counted in the stats, all Throttled.
pub fn check_on_drop_sees_every_throttled<P: Publisher<Item = u32, Error = ()>>(
    make: impl FnOnce(spillway_testkit::TestPublisherSource<u32, ()>, OnDropFn) -> (P, FlowStats),
) {
    let (vs, tp) = rig();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let (op, stats) = make(
        tp.publisher(),
        Box::new(move |x, r| s2.lock().unwrap().push((x, r))),
    );
    let _h = subscribe(op, &vs, u64::MAX);
    for i in 0..5 {
        tp.next(i);
    }
    vs.advance_by(ms(100));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len() as u64, stats.snapshot().dropped());
    assert!(seen.iter().all(|(_, r)| *r == DropReason::Throttled));
}

/// Runs `op` (built on `tp`, reporting to `stats`) through `sc` on `vs` and checks it
/// against the reference model of `kind`; returns what it did.
pub fn check_against_model<P: Publisher<Item = u32, Error = ()>>(
    (op, stats): (P, FlowStats),
    vs: &Arc<VirtualScheduler>,
    tp: &TestPublisher<u32, ()>,
    kind: Model,
    period: u64,
    sc: &Scenario,
) -> Result<Outcome, TestCaseError> {
    let got = run(op, stats, vs, tp, sc);
    prop_assert_eq!(&got, &model(kind, period, sc));
    Ok(got)
}

/// Runs `make(interval)` over a simulated day: `interval` ticks once a minute, first at
/// `first_tick`. Returns the items with their virtual times and the stage's stats, after
/// checking that the stats balance, that a cancel leaves no timer, and that virtual time
/// ran fast.
pub fn run_over_a_simulated_day<P>(
    first_tick: Duration,
    make: impl FnOnce(spillway::Interval) -> (P, FlowStats),
) -> (Vec<(Duration, u64)>, FlowStats)
where
    P: Publisher<Item = u64, Error = std::convert::Infallible>,
{
    let started = std::time::Instant::now();
    let vs = VirtualScheduler::new();
    let (sub, h) =
        TestSubscriber::<u64, std::convert::Infallible>::with_scheduler(u64::MAX, vs.clone());
    let minutes = interval(Duration::from_secs(60))
        .unwrap()
        .first_after(first_tick);
    let (op, stats) = make(minutes);
    op.subscribe(sub);
    vs.advance_by(Duration::from_secs(24 * 3600));
    let items = h
        .events()
        .into_iter()
        .filter_map(|e| e.signal.as_next().map(|x| (e.at, *x)))
        .collect();
    assert_balanced(&stats);
    h.cancel();
    assert_eq!(vs.pending(), 0);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "virtual time must be fast"
    );
    (items, stats)
}

/// Defines, in a test file, how to build the operator under test over a test publisher
/// (`TestPublisherSource<u32, ()>`, aliased `Up`), with its stats:
/// `op_with(up, period_ms, configure)` applies the builder methods in `configure`,
/// `op(up, period_ms)` and `op10(up)` (a period of 10 ms) use the defaults.
#[allow(unused_macros)] // not every test crate of the family uses it
macro_rules! operator_under_test {
    ($op:ident, $method:ident) => {
        type Up = spillway_testkit::TestPublisherSource<u32, ()>;

        #[allow(dead_code)]
        fn op_with(
            up: Up,
            period: u64,
            configure: impl FnOnce(spillway::operators::$op<Up>) -> spillway::operators::$op<Up>,
        ) -> (spillway::operators::$op<Up>, spillway::operators::FlowStats) {
            let s = configure(up.$method(rate_control::ms(period)).unwrap());
            let stats = s.stats();
            (s, stats)
        }

        fn op(
            up: Up,
            period: u64,
        ) -> (spillway::operators::$op<Up>, spillway::operators::FlowStats) {
            op_with(up, period, |s| s)
        }

        fn op10(up: Up) -> (spillway::operators::$op<Up>, spillway::operators::FlowStats) {
            op(up, 10)
        }
    };
}
#[allow(unused_imports)]
pub(crate) use operator_under_test;

/// A marble as a virtual-time scenario: with unbounded demand, each `(t, item)` is sent at
/// `t` ms, then upstream completes at `end` ms. Returns the items received with their
/// times, the stage's stats (checked balanced) and whether downstream completed.
pub fn run_timeline<P: Publisher<Item = u32, Error = ()>>(
    make: impl Make<P>,
    timeline: &[(u64, u32)],
    end: u64,
) -> (Vec<(u64, u32)>, FlowStats, bool) {
    let (vs, tp) = rig();
    let (op, stats) = make(tp.publisher());
    let h = subscribe(op, &vs, u64::MAX);
    for &(t, item) in timeline {
        vs.advance_to(ms(t));
        tp.next(item);
    }
    vs.advance_to(ms(end));
    tp.complete();
    assert_balanced(&stats);
    (timed_items(&h), stats, h.is_complete())
}
