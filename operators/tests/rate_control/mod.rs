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
                        Model::ThrottleLatest => {
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
