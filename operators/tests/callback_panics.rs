//! Class test (issue 11 §2): a panic in a user callback never unwinds out of the pipeline.
//!
//! The policy (crate docs of `spillway-core`, "Panics in user code"): the stage cancels its
//! upstream and sends `Error::Panicked` naming itself downstream, and the call that ran the
//! callback (`TestPublisher::next`/`error`/`complete`, `subscribe`, the subscriber's
//! `request`/`cancel`, a timer, a handle such as `BufferRelease::release` or
//! `Budget::emergency_stop`) returns normally. Each case below makes one callback panic and
//! checks: nothing unwinds, downstream gets exactly the expected terminal signal (no
//! protocol violation), upstream is cancelled (unless it had already ended), and the
//! stage's statistics, when it has some, balance (`received = emitted + dropped + merged +
//! buffered`, nothing left buffered).
//!
//! Callbacks covered (one case each, or more where the callback runs in several places):
//! * the functions of the one-to-one and filtering stages: `map`, `filter`, `filter_map`,
//!   `flat_map_iter`, `scan`, `take_while`, `skip_while`, `reduce`, the key selector of
//!   `distinct_until_changed_by_key`, the comparator of `distinct_until_changed_by`, the
//!   item's `PartialEq` in `distinct_until_changed`, the item's `Clone` in `pairwise`,
//!   the key selector of `distinct_by_key(_bounded)` and the key's `Hash`,
//!   `start_with`'s iterator;
//! * the mappers and combiners: `map_async`, `map_async_unordered`, `then`,
//!   `try_map_async`, `flat_map`, `concat_map`, `switch_map`, `combine_latest`; for the
//!   four async stages also the weigher of `permits_from_weighted`, and `map_async`'s `f`
//!   with permits (called on the drain loop once the item's units are granted);
//! * the error handlers: `retry_when`, `on_error_resume`, `on_error_return`, `map_error`;
//! * the taps: `do_on_next`, `do_on_request`, `do_on_cancel`, `do_on_complete`,
//!   `do_on_error`, `do_finally`;
//! * the backpressure stages: `on_drop` of `on_backpressure_buffer` (every lossy policy,
//!   the `Fail` policy, the release handle, cancel), `on_backpressure_buffer_unbounded`,
//!   `on_backpressure_drop`, `on_backpressure_latest`, `on_backpressure_reduce(_with)`
//!   (plus `seed` and `reduce`), `limit_rate(_with)`, `pressure` (plus its `on_change`
//!   callback, on the producer's and on the consumer's side);
//! * the batching stages: `on_drop` of `chunks`, `chunks_timeout`, `chunks_every`,
//!   `chunks_with`, `chunks_weighted` (plus
//!   `weigh`), `batch_while_busy`; the item's `Clone` in `chunks_sliding`, the key
//!   selector of `chunks_by_key`;
//! * the time-based stages: `on_drop` of `sample_first`, `sample`, `throttle_latest`,
//!   `throttle`, `sample_with`, `sample_first_with` (plus its `window` function), `audit`,
//!   `debounce`, `delay_elements`, `delay_until` (plus its `trigger` function),
//!   `rate_limit` (plus its `cost` function);
//! * `within_budget`'s `on_drop` (an item after a cancel or an emergency stop, a
//!   protocol violation), `circuit_breaker`'s `on_drop` and `on_state_change` listener,
//!   `load_shed`'s `priority` function, its key's `Ord` and its `on_drop`, `publish`'s
//!   `on_drop` (the disconnection's `Rejected` wins; nothing unwinds out of `disconnect`);
//! * items arriving after a cancel (an upstream ignoring it) for the `on_drop` of
//!   `on_backpressure_buffer`, `on_backpressure_drop`, `chunks`, `load_shed`.
//!
//! Where the stage was already ending when the callback panicked, the documented rule
//! decides, and the case says so with its expected terminal signal: a panic in `on_drop`
//! while items are discarded because downstream cancelled has nobody to go to (caught and
//! ignored); while the stage fails for another reason (overflow, protocol violation,
//! emergency stop), the first failure wins; while upstream's error discards a partial
//! batch or a held item, upstream's error wins (see `chunks`' docs).
//!
//! Adding an operator: give every user callback it takes a case in [`cases`] (build the
//! pipeline on a `TestPublisher`, make the callback panic with [`boom`], trigger it in the
//! steps passed to [`observe`]), or, if it takes none, list it in [`NO_CALLBACK`] with the
//! reason. `every_operator_is_listed` fails for a method of `OperatorExt` in neither.

#[path = "support/operator_list.rs"]
mod operator_list;

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::fmt::Debug;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use spillway::operators::{
    BreakerConfig, BreakerMode, Budget, BufferOverflow, CircuitBreaker, DropReason, FlowSnapshot,
    FlowStats, PressureLevels, RateLimitMode, ThrottleMode, TokenBucket,
};
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::{
    PublisherProbe, TestPublisher, TestSubscriber, TestSubscriberHandle, Violation,
    VirtualScheduler,
};

/// Every panic this file provokes starts with this, so the panic hook stays quiet about
/// them (and `Error::Panicked` is checked to carry the callback's own message).
const BOOM: &str = "boom";

type Tp = TestPublisher<u32, String>;
type Handle<O> = TestSubscriberHandle<O, String>;

/// How many callbacks panicked so far: each case must make at least one panic (a case
/// whose callback never runs would pass vacuously).
static BOOMS: AtomicU64 = AtomicU64::new(0);

/// The panic of every callback here.
fn boom() -> ! {
    BOOMS.fetch_add(1, Ordering::SeqCst);
    panic!("boom: user callback")
}

/// A panicking `on_drop`.
fn boom_drop<T>(_: T, _: DropReason) {
    boom()
}

fn tp() -> Tp {
    TestPublisher::new()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// What a case observed.
#[derive(Debug)]
struct Outcome {
    /// The panic that escaped `subscribe` or the steps, and where.
    unwound: Option<String>,
    error: Option<Error<String>>,
    completed: bool,
    upstream_cancelled: bool,
    violations: usize,
    stats: Option<FlowSnapshot>,
}

/// Subscribes a recording subscriber (requesting `initial`, on the virtual clock `vs`) to
/// `op`, runs `steps` (which make the callback panic), and reports. `subscribe` and the
/// steps each run under `catch_unwind`: nothing may escape either.
fn observe<O, P>(
    op: P,
    initial: u64,
    vs: &Arc<VirtualScheduler>,
    upstream_cancelled: impl Fn() -> bool,
    stats: Option<FlowStats>,
    steps: impl FnOnce(&Handle<O>),
) -> Outcome
where
    P: Publisher<Item = O, Error = String>,
    O: Debug + Send + 'static,
{
    let (sub, h) = TestSubscriber::with_scheduler(initial, vs.clone());
    let unwound = match catch_unwind(AssertUnwindSafe(|| op.subscribe(sub))) {
        Err(p) => Some(format!("out of subscribe: {}", message(&*p))),
        Ok(()) => catch_unwind(AssertUnwindSafe(|| steps(&h)))
            .err()
            .map(|p| format!("out of the trigger: {}", message(&*p))),
    };
    Outcome {
        unwound,
        error: h.error(),
        completed: h.is_complete(),
        upstream_cancelled: upstream_cancelled(),
        violations: h.violations().len(),
        stats: stats.map(|s| s.snapshot()),
    }
}

/// [`observe`] on a `TestPublisher` upstream, with a fresh virtual clock.
fn on_tp<O, P>(
    tp: &Tp,
    op: P,
    initial: u64,
    stats: Option<FlowStats>,
    steps: impl FnOnce(&Handle<O>),
) -> Outcome
where
    P: Publisher<Item = O, Error = String>,
    O: Debug + Send + 'static,
{
    let t = tp.clone();
    observe(
        op,
        initial,
        &VirtualScheduler::new(),
        move || t.is_cancelled(),
        stats,
        steps,
    )
}

fn message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string payload".to_string()
    }
}

/// The terminal signal a case expects downstream.
#[derive(Clone, Copy)]
enum Terminal {
    /// `Error::Panicked` naming the stage, with the callback's message.
    Panicked,
    /// A documented error that wins over the panic: what it is, and how to recognise it.
    Wins(&'static str, fn(&Error<String>) -> bool),
    /// None: downstream cancelled (the trigger), so nobody is told of the panic.
    None,
    /// `on_complete`: the stream was over when the callback panicked.
    Complete,
}

/// What must have happened upstream.
#[derive(Clone, Copy, PartialEq)]
enum Upstream {
    /// Cancelled by the stage (or by downstream's cancel).
    Cancelled,
    /// Already ended (its terminal signal ran the callback), or never subscribed: nothing
    /// to cancel, not checked.
    Ended,
}

struct Case {
    /// The `OperatorExt` method (or the API) the callback belongs to.
    operator: &'static str,
    /// Which callback panics, and when.
    callback: &'static str,
    stage: &'static str,
    terminal: Terminal,
    upstream: Upstream,
    run: fn() -> Outcome,
}

fn case(
    operator: &'static str,
    callback: &'static str,
    stage: &'static str,
    terminal: Terminal,
    upstream: Upstream,
    run: fn() -> Outcome,
) -> Case {
    Case {
        operator,
        callback,
        stage,
        terminal,
        upstream,
        run,
    }
}

/// The usual case: `Error::Panicked` naming `stage`, upstream cancelled.
fn panics(
    operator: &'static str,
    callback: &'static str,
    stage: &'static str,
    run: fn() -> Outcome,
) -> Case {
    case(
        operator,
        callback,
        stage,
        Terminal::Panicked,
        Upstream::Cancelled,
        run,
    )
}

/// `Error::Panicked` naming `stage`; upstream had ended already.
fn panics_after_end(
    operator: &'static str,
    callback: &'static str,
    stage: &'static str,
    run: fn() -> Outcome,
) -> Case {
    case(
        operator,
        callback,
        stage,
        Terminal::Panicked,
        Upstream::Ended,
        run,
    )
}

/// The panic runs in a downstream cancel: contained, upstream cancelled all the same.
fn on_cancel(
    operator: &'static str,
    callback: &'static str,
    stage: &'static str,
    run: fn() -> Outcome,
) -> Case {
    case(
        operator,
        callback,
        stage,
        Terminal::None,
        Upstream::Cancelled,
        run,
    )
}

fn is_upstream_error(e: &Error<String>) -> bool {
    *e == Error::User("upstream".to_string())
}

const UPSTREAM_ERROR: Terminal = Terminal::Wins("upstream's own error", is_upstream_error);

/// Upstream's error discards held items; the panic in `on_drop` does not replace it.
fn upstream_error_wins(
    operator: &'static str,
    callback: &'static str,
    stage: &'static str,
    run: fn() -> Outcome,
) -> Case {
    case(
        operator,
        callback,
        stage,
        UPSTREAM_ERROR,
        Upstream::Ended,
        run,
    )
}

/// Checks one case; the description of what went wrong, if anything.
fn check(c: &Case) -> Option<String> {
    let before = BOOMS.load(Ordering::SeqCst);
    let o = (c.run)();
    let mut wrong = Vec::new();
    if BOOMS.load(Ordering::SeqCst) == before {
        wrong.push("the callback never ran (the case tests nothing)".to_string());
    }
    if let Some(u) = &o.unwound {
        wrong.push(format!("a panic unwound {u}"));
    }
    match (c.terminal, &o.error) {
        (Terminal::Panicked, Some(Error::Panicked { stage, message }))
            if *stage == c.stage && message.starts_with(BOOM) => {}
        (Terminal::Panicked, e) => wrong.push(format!(
            "expected Error::Panicked {{ stage: {:?}, message: \"{BOOM}...\" }}, \
             got {e:?} (completed: {})",
            c.stage, o.completed
        )),
        (Terminal::Wins(_, pred), Some(e)) if pred(e) => {}
        (Terminal::Wins(what, _), e) => wrong.push(format!(
            "expected {what} to win, got {e:?} (completed: {})",
            o.completed
        )),
        (Terminal::None, None) if !o.completed => {}
        (Terminal::None, e) => wrong.push(format!(
            "downstream cancelled: expected no terminal signal, got {e:?} (completed: {})",
            o.completed
        )),
        (Terminal::Complete, None) if o.completed => {}
        (Terminal::Complete, e) => wrong.push(format!(
            "expected on_complete, got {e:?} (completed: {})",
            o.completed
        )),
    }
    if c.upstream == Upstream::Cancelled && !o.upstream_cancelled {
        wrong.push("upstream was not cancelled".to_string());
    }
    if o.violations != 0 {
        wrong.push(format!("{} protocol violations downstream", o.violations));
    }
    if let Some(s) = o.stats {
        if !s.is_balanced() || s.buffered != 0 {
            wrong.push(format!(
                "statistics: {s:?} (unbalanced, or items left held)"
            ));
        }
    }
    (!wrong.is_empty()).then(|| {
        format!(
            "{}: panicking {} (stage {:?}): {}",
            c.operator,
            c.callback,
            c.stage,
            wrong.join("; ")
        )
    })
}

/// Keeps the expected panics quiet; every other panic (a failed assertion) still prints.
fn quiet_booms() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !message(info.payload()).starts_with(BOOM) {
                default(info);
            }
        }));
    });
}

/// A value whose `PartialEq` panics (user code the stage calls through a trait).
#[derive(Debug, Clone)]
struct Touchy(#[allow(dead_code)] u32);
impl PartialEq for Touchy {
    fn eq(&self, _: &Touchy) -> bool {
        boom()
    }
}

/// A value whose `Clone` panics (user code the stage calls through a trait).
#[derive(Debug)]
struct Prickly(#[allow(dead_code)] u32);
impl Clone for Prickly {
    fn clone(&self) -> Prickly {
        boom()
    }
}

/// A priority whose `Ord` panics (and a key whose `Hash` panics).
#[derive(Debug, Clone, Copy)]
struct Grumpy;
impl PartialEq for Grumpy {
    fn eq(&self, _: &Grumpy) -> bool {
        boom()
    }
}
impl Eq for Grumpy {}
impl PartialOrd for Grumpy {
    fn partial_cmp(&self, other: &Grumpy) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl std::hash::Hash for Grumpy {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {
        boom()
    }
}
impl Ord for Grumpy {
    fn cmp(&self, _: &Grumpy) -> std::cmp::Ordering {
        boom()
    }
}

/// The methods of `OperatorExt` that take no user callback, and why.
const NO_CALLBACK: &[(&str, &str)] = &[
    ("merge_with", "combines publishers only"),
    ("concat_with", "combines publishers only"),
    ("zip", "pairs items, no function"),
    ("take", "a count"),
    ("take_last", "a count"),
    ("element_at", "an index"),
    ("element_at_or", "an index and a value"),
    ("first_or", "a value"),
    ("last_or", "a value"),
    ("count_items", "no function"),
    ("kill_switch", "a switch, no function"),
    ("named", "a name, no function"),
    ("take_until", "a publisher"),
    ("skip_until", "a publisher"),
    ("delay_subscription", "a duration"),
    ("skip", "a count"),
    ("default_if_empty", "a value"),
    ("timeout", "a duration"),
    ("timeout_first", "two durations"),
    ("timeout_with", "a duration and a publisher"),
    ("retry", "a count"),
    ("retry_backoff", "a backoff schedule"),
    ("err_into", "a `From` conversion"),
    (
        "publish_on",
        "a scheduler (an implementation, not a callback)",
    ),
    ("poll_on", "a spawner (an implementation, not a callback)"),
    (
        "subscribe_on",
        "a scheduler (an implementation, not a callback)",
    ),
    ("share", "no callback (`publish`'s `on_drop` is covered)"),
    (
        "replay",
        "a history size (`publish`'s `on_drop` is covered)",
    ),
    ("adaptive_rate", "a configuration and a watched `FlowStats`"),
    ("window", "a count"),
    ("window_timeout", "a count and a duration"),
];

#[allow(clippy::too_many_lines)]
fn cases() -> Vec<Case> {
    vec![
        // ---- one-to-one and filtering stages -------------------------------------------
        panics("map", "f", "map", || {
            let tp = tp();
            let op = tp.publisher().map(|_: u32| -> u32 { boom() });
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics("filter", "predicate", "filter", || {
            let tp = tp();
            let op = tp.publisher().filter(|_| boom());
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics("filter_map", "f", "filter_map", || {
            let tp = tp();
            let op = tp.publisher().filter_map(|_| -> Option<u32> { boom() });
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics("try_map", "f", "try_map", || {
            let tp = tp();
            let op = tp
                .publisher()
                .try_map(|_| -> Result<u32, String> { boom() });
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics("try_filter", "predicate", "try_filter", || {
            let tp = tp();
            let op = tp
                .publisher()
                .try_filter(|_| -> Result<bool, String> { boom() });
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics("try_filter_map", "f", "try_filter_map", || {
            let tp = tp();
            let op = tp
                .publisher()
                .try_filter_map(|_| -> Result<Option<u32>, String> { boom() });
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics("flat_map_iter", "f", "flat_map_iter", || {
            let tp = tp();
            let op = tp.publisher().flat_map_iter(|_| -> Vec<u32> { boom() });
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics("scan", "f", "scan", || {
            let tp = tp();
            let op = tp.publisher().scan(0u32, |_, _| boom());
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics("take_while", "predicate", "take_while", || {
            let tp = tp();
            let op = tp.publisher().take_while(|_| boom());
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics("skip_while", "predicate", "skip_while", || {
            let tp = tp();
            let op = tp.publisher().skip_while(|_| boom());
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics(
            "distinct_until_changed",
            "the item's PartialEq",
            "distinct_until_changed",
            || {
                let tp = TestPublisher::<Touchy, String>::new();
                let op = tp.publisher().distinct_until_changed();
                let t = tp.clone();
                observe(
                    op,
                    5,
                    &VirtualScheduler::new(),
                    move || t.is_cancelled(),
                    None,
                    |_| {
                        tp.next(Touchy(1)).next(Touchy(2));
                    },
                )
            },
        ),
        panics(
            "distinct_until_changed_by_key",
            "key",
            "distinct_until_changed",
            || {
                let tp = tp();
                let op = tp
                    .publisher()
                    .distinct_until_changed_by_key(|_| -> u32 { boom() });
                on_tp(&tp, op, 1, None, |_| {
                    tp.next(1);
                })
            },
        ),
        panics("pairwise", "the item's Clone", "pairwise", || {
            let tp = TestPublisher::<Prickly, String>::new();
            let op = tp.publisher().pairwise();
            let t = tp.clone();
            observe(
                op,
                5,
                &VirtualScheduler::new(),
                move || t.is_cancelled(),
                None,
                |_| {
                    tp.next(Prickly(1));
                },
            )
        }),
        panics(
            "distinct_until_changed_by",
            "equal",
            "distinct_until_changed",
            || {
                let tp = tp();
                let op = tp
                    .publisher()
                    .distinct_until_changed_by(|_, _| -> bool { boom() });
                // The comparator runs from the second item on.
                on_tp(&tp, op, 2, None, |_| {
                    tp.next(1).next(2);
                })
            },
        ),
        panics("distinct_by_key", "key", "distinct", || {
            let tp = tp();
            let op = tp.publisher().distinct_by_key(|_| -> u32 { boom() });
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics("distinct_by_key", "the key's Hash", "distinct", || {
            let tp = tp();
            let op = tp.publisher().distinct_by_key(|_| Grumpy);
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics("distinct_by_key_bounded", "key", "distinct", || {
            let tp = tp();
            let op = tp
                .publisher()
                .distinct_by_key_bounded(|_| -> u32 { boom() }, 2)
                .unwrap();
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        // The prefix comes first: upstream is not subscribed yet when the iterator fails.
        panics_after_end("start_with", "the iterator", "start_with", || {
            let tp = tp();
            let op = tp
                .publisher()
                .start_with((0..1u32).map(|_| -> u32 { boom() }));
            on_tp(&tp, op, 0, None, |h| h.request(1))
        }),
        panics("any", "predicate", "any", || {
            let tp = tp();
            let op = tp.publisher().any(|_| boom());
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics("all", "predicate", "all", || {
            let tp = tp();
            let op = tp.publisher().all(|_| boom());
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics("reduce", "f", "reduce", || {
            let tp = tp();
            let op = tp.publisher().reduce(|_, _| boom());
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1).next(2);
            })
        }),
        // ---- mappers and combiners --------------------------------------------------
        panics("map_async", "f", "map_async", || {
            let tp = tp();
            let op = tp
                .publisher()
                .map_async(2, |_| -> std::future::Ready<u32> { boom() })
                .unwrap();
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics("map_async", "the future", "map_async", || {
            let tp = tp();
            let op = tp
                .publisher()
                .map_async(2, |_| async { boom() })
                .unwrap()
                .map(|()| 0u32);
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics("map_async_unordered", "f", "map_async_unordered", || {
            let tp = tp();
            let op = tp
                .publisher()
                .map_async_unordered(2, |_| -> std::future::Ready<u32> { boom() })
                .unwrap();
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics("then", "f", "then", || {
            let tp = tp();
            let op = tp
                .publisher()
                .then(|_| -> std::future::Ready<u32> { boom() });
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics("try_map_async", "f", "try_map_async", || {
            let tp = tp();
            let op = tp
                .publisher()
                .try_map_async(2, |_| -> std::future::Ready<Result<u32, String>> { boom() })
                .unwrap();
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics("map_async", "f, with permits", "map_async", || {
            let tp = tp();
            let budget = Budget::new(2).unwrap();
            let op = tp
                .publisher()
                .map_async(2, |_| -> std::future::Ready<u32> { boom() })
                .unwrap()
                .permits_from(&budget);
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics("map_async", "weigh", "map_async", || {
            let tp = tp();
            let budget = Budget::new(2).unwrap();
            let op = tp
                .publisher()
                .map_async(2, |x| async move { x })
                .unwrap()
                .permits_from_weighted(&budget, |_: &u32| -> u64 { boom() });
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics(
            "map_async_unordered",
            "weigh",
            "map_async_unordered",
            || {
                let tp = tp();
                let budget = Budget::new(2).unwrap();
                let op = tp
                    .publisher()
                    .map_async_unordered(2, |x| async move { x })
                    .unwrap()
                    .permits_from_weighted(&budget, |_: &u32| -> u64 { boom() });
                on_tp(&tp, op, 1, None, |_| {
                    tp.next(1);
                })
            },
        ),
        panics("then", "weigh", "then", || {
            let tp = tp();
            let budget = Budget::new(2).unwrap();
            let op = tp
                .publisher()
                .then(|x| async move { x })
                .permits_from_weighted(&budget, |_: &u32| -> u64 { boom() });
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics("try_map_async", "weigh", "try_map_async", || {
            let tp = tp();
            let budget = Budget::new(2).unwrap();
            let op = tp
                .publisher()
                .try_map_async(2, |x| async move { Ok::<u32, String>(x) })
                .unwrap()
                .permits_from_weighted(&budget, |_: &u32| -> u64 { boom() });
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics("flat_map", "f", "flat_map", || {
            let tp = tp();
            let op = tp
                .publisher()
                .flat_map(|_| -> TestPublisherSourceU32 { boom() }, 2, 4)
                .unwrap();
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics("concat_map", "f", "concat_map", || {
            let tp = tp();
            let op = tp
                .publisher()
                .concat_map(|_| -> TestPublisherSourceU32 { boom() });
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics("switch_map", "f", "switch_map", || {
            let tp = tp();
            let op = tp
                .publisher()
                .switch_map(|_| -> TestPublisherSourceU32 { boom() });
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics("combine_latest", "f", "combine_latest", || {
            let (a, b) = (tp(), tp());
            let op = a
                .publisher()
                .combine_latest(b.publisher(), |_, _| -> u32 { boom() });
            let (ca, cb) = (a.clone(), b.clone());
            observe(
                op,
                1,
                &VirtualScheduler::new(),
                move || ca.is_cancelled() && cb.is_cancelled(),
                None,
                |_| {
                    a.next(1);
                    b.next(2);
                },
            )
        }),
        // ---- error handlers: upstream's error ran the callback, so it has ended ---------
        panics_after_end("retry_when", "predicate", "retry_when", || {
            let tp = tp();
            let op = tp.publisher().retry_when(|_| boom());
            on_tp(&tp, op, 1, None, |_| {
                tp.error("upstream".to_string());
            })
        }),
        panics_after_end("on_error_resume", "f", "on_error_resume", || {
            let tp = tp();
            let op = tp
                .publisher()
                .on_error_resume(|_| -> TestPublisherSourceU32 { boom() });
            on_tp(&tp, op, 1, None, |_| {
                tp.error("upstream".to_string());
            })
        }),
        panics_after_end("on_error_return", "f", "on_error_return", || {
            let tp = tp();
            let op = tp.publisher().on_error_return(|_| -> u32 { boom() });
            on_tp(&tp, op, 1, None, |_| {
                tp.error("upstream".to_string());
            })
        }),
        panics_after_end("map_error", "f", "map_error", || {
            let tp = tp();
            let op = tp.publisher().map_error(|_: String| -> String { boom() });
            on_tp(&tp, op, 1, None, |_| {
                tp.error("upstream".to_string());
            })
        }),
        // ---- taps -----------------------------------------------------------------
        panics("do_on_next", "f", "do_on_next", || {
            let tp = tp();
            let op = tp.publisher().do_on_next(|_| boom());
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        // Reported at the next upstream signal (the request itself returns normally).
        panics("do_on_request", "f", "do_on_request", || {
            let tp = tp();
            let op = tp.publisher().do_on_request(|_| boom());
            on_tp(&tp, op, 0, None, |h| {
                h.request(1);
                tp.next(1);
            })
        }),
        on_cancel("do_on_cancel", "f", "do_on_cancel", || {
            let tp = tp();
            let op = tp.publisher().do_on_cancel(|| boom());
            on_tp(&tp, op, 1, None, |h| h.cancel())
        }),
        panics_after_end("do_on_complete", "f", "do_on_complete", || {
            let tp = tp();
            let op = tp.publisher().do_on_complete(|| boom());
            on_tp(&tp, op, 1, None, |_| {
                tp.complete();
            })
        }),
        panics_after_end("do_on_error", "f", "do_on_error", || {
            let tp = tp();
            let op = tp.publisher().do_on_error(|_| boom());
            on_tp(&tp, op, 1, None, |_| {
                tp.error("upstream".to_string());
            })
        }),
        case(
            "do_finally",
            "f (after on_complete)",
            "do_finally",
            Terminal::Complete,
            Upstream::Ended,
            || {
                let tp = tp();
                let op = tp.publisher().do_finally(|_| boom());
                on_tp(&tp, op, 1, None, |_| {
                    tp.complete();
                })
            },
        ),
        on_cancel("do_finally", "f (on cancel)", "do_finally", || {
            let tp = tp();
            let op = tp.publisher().do_finally(|_| boom());
            on_tp(&tp, op, 1, None, |h| h.cancel())
        }),
        // ---- on_backpressure_buffer: every lossy policy drops as items arrive ---------------
        panics(
            "on_backpressure_buffer",
            "on_drop (DropNewest)",
            "on_backpressure_buffer",
            || buffer_overflow(BufferOverflow::DropNewest),
        ),
        panics(
            "on_backpressure_buffer",
            "on_drop (DropOldest)",
            "on_backpressure_buffer",
            || buffer_overflow(BufferOverflow::DropOldest),
        ),
        panics(
            "on_backpressure_buffer",
            "on_drop (KeepLatest)",
            "on_backpressure_buffer",
            || buffer_overflow(BufferOverflow::KeepLatest),
        ),
        panics(
            "on_backpressure_buffer",
            "on_drop (DropBuffer)",
            "on_backpressure_buffer",
            || buffer_overflow(BufferOverflow::DropBuffer),
        ),
        case(
            "on_backpressure_buffer",
            "on_drop (FailFast: the overflow discards the buffer)",
            "on_backpressure_buffer",
            Terminal::Wins("Error::Overflow (the first failure)", |e| {
                matches!(
                    e,
                    Error::Overflow {
                        stage: "on_backpressure_buffer",
                        capacity: 1
                    }
                )
            }),
            Upstream::Cancelled,
            || buffer_overflow(BufferOverflow::FailFast),
        ),
        panics(
            "on_backpressure_buffer",
            "on_drop (BufferRelease::release)",
            "on_backpressure_buffer",
            || {
                let tp = tp();
                let op = tp
                    .publisher()
                    .on_backpressure_buffer(4, BufferOverflow::Backpressure)
                    .unwrap()
                    .on_drop(boom_drop);
                let (stats, release) = (op.stats(), op.release_handle());
                on_tp(&tp, op, 0, Some(stats), |_| {
                    tp.next(1).next(2);
                    release.release(1.0);
                })
            },
        ),
        on_cancel(
            "on_backpressure_buffer",
            "on_drop (cancel)",
            "on_backpressure_buffer",
            || {
                let tp = tp();
                let op = tp
                    .publisher()
                    .on_backpressure_buffer(4, BufferOverflow::Backpressure)
                    .unwrap()
                    .on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 0, Some(stats), |h| {
                    tp.next(1).next(2);
                    h.cancel();
                })
            },
        ),
        panics(
            "on_backpressure_buffer_unbounded",
            "on_drop (BufferRelease::release)",
            "on_backpressure_buffer",
            || {
                let tp = tp();
                let op = tp
                    .publisher()
                    .on_backpressure_buffer_unbounded()
                    .on_drop(boom_drop);
                let (stats, release) = (op.stats(), op.release_handle());
                on_tp(&tp, op, 0, Some(stats), |_| {
                    tp.next(1).next(2);
                    release.release(0.5);
                })
            },
        ),
        // ---- late items (an upstream ignoring the cancel): nobody to tell ---------------
        on_cancel(
            "on_backpressure_buffer",
            "on_drop (an item after the cancel)",
            "on_backpressure_buffer",
            || {
                let tp = late_tp();
                let op = tp
                    .publisher()
                    .on_backpressure_buffer(4, BufferOverflow::DropOldest)
                    .unwrap()
                    .on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 1, Some(stats), |h| {
                    h.cancel();
                    tp.next(1);
                })
            },
        ),
        on_cancel(
            "on_backpressure_drop",
            "on_drop (an item after the cancel)",
            "on_backpressure_drop",
            || {
                let tp = late_tp();
                let op = tp.publisher().on_backpressure_drop().on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 1, Some(stats), |h| {
                    h.cancel();
                    tp.next(1);
                })
            },
        ),
        on_cancel(
            "chunks",
            "on_drop (an item after the cancel)",
            "chunks",
            || {
                let tp = late_tp();
                let op = tp.publisher().chunks(2).unwrap().on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 1, Some(stats), |h| {
                    h.cancel();
                    tp.next(1);
                })
            },
        ),
        on_cancel(
            "load_shed",
            "on_drop (an item after the cancel)",
            "load_shed",
            || {
                let tp = late_tp();
                let op = tp
                    .publisher()
                    .load_shed(2, |x| *x)
                    .unwrap()
                    .on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 1, Some(stats), |h| {
                    h.cancel();
                    tp.next(1);
                })
            },
        ),
        // ---- the gate stages -----------------------------------------------------------
        panics(
            "on_backpressure_drop",
            "on_drop (no demand)",
            "on_backpressure_drop",
            || {
                let tp = tp();
                let op = tp.publisher().on_backpressure_drop().on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 1, Some(stats), |_| {
                    tp.next(1).next(2);
                })
            },
        ),
        panics(
            "on_backpressure_drop",
            "on_drop (inside subscribe)",
            "on_backpressure_drop",
            || {
                let (up, probe) = PublisherProbe::wrap(synchronous_source());
                let op = up.on_backpressure_drop().on_drop(boom_drop);
                let stats = op.stats();
                observe(
                    op,
                    0,
                    &VirtualScheduler::new(),
                    move || probe.was_cancelled(),
                    Some(stats),
                    |_| {},
                )
            },
        ),
        panics(
            "on_backpressure_latest",
            "on_drop (superseded)",
            "on_backpressure_latest",
            || {
                let tp = tp();
                let op = tp.publisher().on_backpressure_latest().on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 0, Some(stats), |_| {
                    tp.next(1).next(2);
                })
            },
        ),
        panics(
            "on_backpressure_latest",
            "on_drop (inside subscribe)",
            "on_backpressure_latest",
            || {
                let (up, probe) = PublisherProbe::wrap(synchronous_source());
                let op = up.on_backpressure_latest().on_drop(boom_drop);
                let stats = op.stats();
                observe(
                    op,
                    0,
                    &VirtualScheduler::new(),
                    move || probe.was_cancelled(),
                    Some(stats),
                    |_| {},
                )
            },
        ),
        upstream_error_wins(
            "on_backpressure_latest",
            "on_drop (the held item, on upstream's error)",
            "on_backpressure_latest",
            || {
                let tp = tp();
                let op = tp.publisher().on_backpressure_latest().on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 0, Some(stats), |_| {
                    tp.next(1).error("upstream".to_string());
                })
            },
        ),
        on_cancel(
            "on_backpressure_latest",
            "on_drop (cancel)",
            "on_backpressure_latest",
            || {
                let tp = tp();
                let op = tp.publisher().on_backpressure_latest().on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 0, Some(stats), |h| {
                    tp.next(1);
                    h.cancel();
                })
            },
        ),
        panics(
            "on_backpressure_reduce",
            "reduce",
            "on_backpressure_reduce",
            || {
                let tp = tp();
                let op = tp.publisher().on_backpressure_reduce(|_, _| boom());
                let stats = op.stats();
                on_tp(&tp, op, 0, Some(stats), |_| {
                    tp.next(1).next(2);
                })
            },
        ),
        upstream_error_wins(
            "on_backpressure_reduce",
            "on_drop (the pending item, on upstream's error)",
            "on_backpressure_reduce",
            || {
                let tp = tp();
                let op = tp
                    .publisher()
                    .on_backpressure_reduce(|a, b| a + b)
                    .on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 0, Some(stats), |_| {
                    tp.next(1).next(2).error("upstream".to_string());
                })
            },
        ),
        on_cancel(
            "on_backpressure_reduce",
            "on_drop (cancel)",
            "on_backpressure_reduce",
            || {
                let tp = tp();
                let op = tp
                    .publisher()
                    .on_backpressure_reduce(|a, b| a + b)
                    .on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 0, Some(stats), |h| {
                    tp.next(1);
                    h.cancel();
                })
            },
        ),
        panics(
            "on_backpressure_reduce_with",
            "seed",
            "on_backpressure_reduce",
            || {
                let tp = tp();
                let op = tp
                    .publisher()
                    .on_backpressure_reduce_with(|_| -> u32 { boom() }, |a, b| a + b);
                let stats = op.stats();
                on_tp(&tp, op, 1, Some(stats), |_| {
                    tp.next(1);
                })
            },
        ),
        panics(
            "on_backpressure_reduce_with",
            "reduce",
            "on_backpressure_reduce",
            || {
                let tp = tp();
                let op = tp
                    .publisher()
                    .on_backpressure_reduce_with(|x| x, |_, _| -> u32 { boom() });
                let stats = op.stats();
                on_tp(&tp, op, 0, Some(stats), |_| {
                    tp.next(1).next(2);
                })
            },
        ),
        // ---- the bounded queue's other users -------------------------------------------
        on_cancel("limit_rate", "on_drop (cancel)", "limit_rate", || {
            let tp = tp();
            let op = tp.publisher().limit_rate(4).unwrap().on_drop(boom_drop);
            let stats = op.stats();
            on_tp(&tp, op, 0, Some(stats), |h| {
                tp.next(1).next(2);
                h.cancel();
            })
        }),
        case(
            "limit_rate_with",
            "on_drop (an upstream overfilling the buffer)",
            "limit_rate",
            Terminal::Wins("Error::Overflow (the first failure)", |e| {
                matches!(
                    e,
                    Error::Overflow {
                        stage: "limit_rate",
                        ..
                    }
                )
            }),
            Upstream::Cancelled,
            || {
                let tp = Tp::non_compliant(&[Violation::EmitWithoutDemand]);
                let op = tp
                    .publisher()
                    .limit_rate_with(2, 1)
                    .unwrap()
                    .on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 0, Some(stats), |_| {
                    tp.next(1).next(2).next(3);
                })
            },
        ),
        panics(
            "pressure",
            "on_change (the producer fills the buffer)",
            "pressure",
            || {
                let tp = tp();
                let op = tp
                    .publisher()
                    .pressure(4, PressureLevels::seed(), |_| boom())
                    .unwrap();
                let stats = op.stats();
                on_tp(&tp, op, 0, Some(stats), |_| {
                    for i in 0..4 {
                        tp.next(i);
                    }
                })
            },
        ),
        panics(
            "pressure",
            "on_change (the consumer drains the buffer)",
            "pressure",
            || {
                let tp = tp();
                let armed = Arc::new(AtomicBool::new(false));
                let a = armed.clone();
                let op = tp
                    .publisher()
                    .pressure(4, PressureLevels::seed(), move |_| {
                        if a.load(Ordering::SeqCst) {
                            boom()
                        }
                    })
                    .unwrap();
                let stats = op.stats();
                on_tp(&tp, op, 0, Some(stats), |h| {
                    for i in 0..4 {
                        tp.next(i);
                    }
                    armed.store(true, Ordering::SeqCst);
                    h.request(4);
                })
            },
        ),
        on_cancel("pressure", "on_drop (cancel)", "pressure", || {
            let tp = tp();
            let op = tp
                .publisher()
                .pressure(4, PressureLevels::seed(), |_| {})
                .unwrap()
                .on_drop(boom_drop);
            let stats = op.stats();
            on_tp(&tp, op, 0, Some(stats), |h| {
                tp.next(1);
                h.cancel();
            })
        }),
        // ---- batching ------------------------------------------------------------------
        panics("group_by", "key", "group_by", || {
            let tp = tp();
            let op = tp.publisher().group_by(|_| -> u32 { boom() });
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics("chunks_by_key", "key", "chunks_by_key", || {
            let tp = tp();
            let op = tp.publisher().chunks_by_key(|_| -> u32 { boom() });
            on_tp(&tp, op, 1, None, |_| {
                tp.next(1);
            })
        }),
        panics(
            "chunks_sliding",
            "the item's Clone",
            "chunks_sliding",
            || {
                let tp = TestPublisher::<Prickly, String>::new();
                let op = tp.publisher().chunks_sliding(2, 1).unwrap();
                let t = tp.clone();
                // The second item belongs to two windows: it is cloned once.
                observe(
                    op,
                    1,
                    &VirtualScheduler::new(),
                    move || t.is_cancelled(),
                    None,
                    |_| {
                        tp.next(Prickly(1)).next(Prickly(2));
                    },
                )
            },
        ),
        upstream_error_wins(
            "chunks",
            "on_drop (the partial batch, on upstream's error)",
            "chunks",
            || {
                let tp = tp();
                let op = tp.publisher().chunks(3).unwrap().on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 1, Some(stats), |_| {
                    tp.next(1).next(2).error("upstream".to_string());
                })
            },
        ),
        upstream_error_wins(
            "chunks",
            "on_drop (inside subscribe, on upstream's error)",
            "chunks",
            || {
                let (up, probe) =
                    PublisherProbe::wrap(
                        synchronous_source()
                            .concat_with(error::<u32, String>("upstream".to_string())),
                    );
                let op = up.chunks(100).unwrap().on_drop(boom_drop);
                let stats = op.stats();
                observe(
                    op,
                    1,
                    &VirtualScheduler::new(),
                    move || probe.was_cancelled(),
                    Some(stats),
                    |_| {},
                )
            },
        ),
        on_cancel("chunks", "on_drop (cancel)", "chunks", || {
            let tp = tp();
            let op = tp.publisher().chunks(3).unwrap().on_drop(boom_drop);
            let stats = op.stats();
            on_tp(&tp, op, 1, Some(stats), |h| {
                tp.next(1);
                h.cancel();
            })
        }),
        upstream_error_wins(
            "chunks_timeout",
            "on_drop (the open batch, on upstream's error)",
            "chunks_timeout",
            || {
                let tp = tp();
                let op = tp
                    .publisher()
                    .chunks_timeout(3, ms(10))
                    .unwrap()
                    .on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 1, Some(stats), |_| {
                    tp.next(1).error("upstream".to_string());
                })
            },
        ),
        on_cancel("chunks_every", "on_drop (cancel)", "chunks_every", || {
            let tp = tp();
            let op = tp
                .publisher()
                .chunks_every(ms(10))
                .unwrap()
                .on_drop(boom_drop);
            let stats = op.stats();
            on_tp(&tp, op, 1, Some(stats), |h| {
                tp.next(1);
                h.cancel();
            })
        }),
        upstream_error_wins(
            "chunks_with",
            "on_drop (the open batch, on upstream's error)",
            "chunks_with",
            || {
                let tp = tp();
                let op = tp
                    .publisher()
                    .chunks_with(never::<(), String>())
                    .on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 1, Some(stats), |_| {
                    tp.next(1).error("upstream".to_string());
                })
            },
        ),
        panics("chunks_weighted", "weigh", "chunks_weighted", || {
            let tp = tp();
            let op = tp.publisher().chunks_weighted(10, |_| boom()).unwrap();
            let stats = op.stats();
            on_tp(&tp, op, 1, Some(stats), |_| {
                tp.next(1);
            })
        }),
        upstream_error_wins(
            "chunks_weighted",
            "on_drop (the open batch, on upstream's error)",
            "chunks_weighted",
            || {
                let tp = tp();
                let op = tp
                    .publisher()
                    .chunks_weighted(10, |_| 1)
                    .unwrap()
                    .on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 1, Some(stats), |_| {
                    tp.next(1).error("upstream".to_string());
                })
            },
        ),
        upstream_error_wins(
            "batch_while_busy",
            "on_drop (the collected items, on upstream's error)",
            "batch_while_busy",
            || {
                let tp = tp();
                let op = tp
                    .publisher()
                    .batch_while_busy(4)
                    .unwrap()
                    .on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 1, Some(stats), |_| {
                    tp.next(1).next(2).error("upstream".to_string());
                })
            },
        ),
        on_cancel(
            "batch_while_busy",
            "on_drop (cancel)",
            "batch_while_busy",
            || {
                let tp = tp();
                let op = tp
                    .publisher()
                    .batch_while_busy(4)
                    .unwrap()
                    .on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 1, Some(stats), |h| {
                    tp.next(1).next(2);
                    h.cancel();
                })
            },
        ),
        // ---- the time-based family -------------------------------------------------------
        panics(
            "sample_first",
            "on_drop (throttled)",
            "sample_first",
            || {
                let tp = tp();
                let op = tp
                    .publisher()
                    .sample_first(ms(100))
                    .unwrap()
                    .on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 5, Some(stats), |_| {
                    tp.next(1).next(2);
                })
            },
        ),
        panics("sample", "on_drop (replaced)", "sample", || {
            let tp = tp();
            let op = tp.publisher().sample(ms(100)).unwrap().on_drop(boom_drop);
            let stats = op.stats();
            on_tp(&tp, op, 5, Some(stats), |_| {
                tp.next(1).next(2);
            })
        }),
        panics(
            "throttle_latest",
            "on_drop (replaced in the window)",
            "throttle_latest",
            || {
                let tp = tp();
                let op = tp
                    .publisher()
                    .throttle_latest(ms(100))
                    .unwrap()
                    .on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 5, Some(stats), |_| {
                    tp.next(1).next(2).next(3);
                })
            },
        ),
        panics("throttle", "on_drop (throttled)", "throttle", || {
            let tp = tp();
            let op = tp
                .publisher()
                .throttle(ms(100), ThrottleMode::Leading)
                .unwrap()
                .on_drop(boom_drop);
            let stats = op.stats();
            on_tp(&tp, op, 5, Some(stats), |_| {
                tp.next(1).next(2);
            })
        }),
        panics("sample_with", "on_drop (replaced)", "sample_with", || {
            let tp = tp();
            let op = tp
                .publisher()
                .sample_with(never::<(), String>())
                .on_drop(boom_drop);
            let stats = op.stats();
            on_tp(&tp, op, 5, Some(stats), |_| {
                tp.next(1).next(2);
            })
        }),
        panics("sample_first_with", "window", "sample_first_with", || {
            let tp = tp();
            let op = tp
                .publisher()
                .sample_first_with(|_| -> spillway::Never<(), String> { boom() });
            let stats = op.stats();
            on_tp(&tp, op, 5, Some(stats), |_| {
                tp.next(1);
            })
        }),
        panics(
            "sample_first_with",
            "on_drop (throttled)",
            "sample_first_with",
            || {
                let tp = tp();
                let op = tp
                    .publisher()
                    .sample_first_with(|_| never::<(), String>())
                    .on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 5, Some(stats), |_| {
                    tp.next(1).next(2);
                })
            },
        ),
        panics("delay_until", "trigger", "delay_until", || {
            let tp = tp();
            let op = tp
                .publisher()
                .delay_until(|_| -> spillway::Never<(), String> { boom() });
            let stats = op.stats();
            on_tp(&tp, op, 5, Some(stats), |_| {
                tp.next(1);
            })
        }),
        on_cancel("delay_until", "on_drop (cancel)", "delay_until", || {
            let tp = tp();
            let op = tp
                .publisher()
                .delay_until(|_| never::<(), String>())
                .on_drop(boom_drop);
            let stats = op.stats();
            on_tp(&tp, op, 5, Some(stats), |h| {
                tp.next(1);
                h.cancel();
            })
        }),
        panics("audit", "on_drop (replaced)", "audit", || {
            let tp = tp();
            let op = tp.publisher().audit(ms(100)).unwrap().on_drop(boom_drop);
            let stats = op.stats();
            on_tp(&tp, op, 5, Some(stats), |_| {
                tp.next(1).next(2);
            })
        }),
        panics("debounce", "on_drop (replaced)", "debounce", || {
            let tp = tp();
            let op = tp.publisher().debounce(ms(100)).unwrap().on_drop(boom_drop);
            let stats = op.stats();
            on_tp(&tp, op, 5, Some(stats), |_| {
                tp.next(1).next(2);
            })
        }),
        panics(
            "sample",
            "on_drop (a tick without demand)",
            "sample",
            || {
                let tp = tp();
                let vs = VirtualScheduler::new();
                let op = tp.publisher().sample(ms(100)).unwrap().on_drop(boom_drop);
                let stats = op.stats();
                let t = tp.clone();
                let clock = vs.clone();
                observe(
                    op,
                    0,
                    &vs,
                    move || t.is_cancelled(),
                    Some(stats),
                    |_| {
                        tp.next(1);
                        clock.advance_by(ms(100));
                    },
                )
            },
        ),
        upstream_error_wins(
            "sample",
            "on_drop (the held item, on upstream's error)",
            "sample",
            || {
                let tp = tp();
                let op = tp.publisher().sample(ms(100)).unwrap().on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 5, Some(stats), |_| {
                    tp.next(1).error("upstream".to_string());
                })
            },
        ),
        on_cancel(
            "delay_elements",
            "on_drop (cancel)",
            "delay_elements",
            || {
                let tp = tp();
                let op = tp
                    .publisher()
                    .delay_elements(ms(100))
                    .unwrap()
                    .on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 5, Some(stats), |h| {
                    tp.next(1);
                    h.cancel();
                })
            },
        ),
        panics("rate_limit", "cost", "rate_limit", || {
            let tp = tp();
            let op = tp
                .publisher()
                .rate_limit(TokenBucket::per_second(10), RateLimitMode::Drop)
                .unwrap()
                .cost(|_| boom());
            let stats = op.stats();
            on_tp(&tp, op, 5, Some(stats), |_| {
                tp.next(1);
            })
        }),
        panics("rate_limit", "on_drop (throttled)", "rate_limit", || {
            let tp = tp();
            let op = tp
                .publisher()
                .rate_limit(TokenBucket::per_second(1), RateLimitMode::Drop)
                .unwrap()
                .on_drop(boom_drop);
            let stats = op.stats();
            on_tp(&tp, op, 5, Some(stats), |_| {
                tp.next(1).next(2);
            })
        }),
        // ---- budget, circuit breaker, load shedding, publish -----------------------------
        // Single-threaded, within_budget holds nothing (every item arrives covered by a
        // unit and is delivered at once): its on_drop runs for items that arrive late.
        on_cancel(
            "within_budget",
            "on_drop (an item after the cancel)",
            "budget",
            || {
                let budget = Budget::new(4).unwrap();
                let tp = late_tp();
                let op = tp.publisher().within_budget(&budget).on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 1, Some(stats), |h| {
                    h.cancel();
                    tp.next(1);
                })
            },
        ),
        case(
            "within_budget",
            "on_drop (an item after Budget::emergency_stop)",
            "budget",
            Terminal::Wins("Error::Rejected (the emergency stop)", |e| {
                matches!(
                    e,
                    Error::Rejected {
                        stage: "budget",
                        ..
                    }
                )
            }),
            Upstream::Cancelled,
            || {
                let budget = Budget::new(4).unwrap();
                let tp = late_tp();
                let op = tp.publisher().within_budget(&budget).on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 1, Some(stats), |_| {
                    budget.emergency_stop();
                    tp.next(1);
                })
            },
        ),
        case(
            "within_budget",
            "on_drop (an item sent without demand)",
            "budget",
            Terminal::Wins("Error::ProtocolViolation (the first failure)", |e| {
                matches!(
                    e,
                    Error::ProtocolViolation {
                        stage: "budget",
                        ..
                    }
                )
            }),
            Upstream::Cancelled,
            || {
                let budget = Budget::new(4).unwrap();
                let tp = Tp::non_compliant(&[Violation::EmitWithoutDemand]);
                let op = tp.publisher().within_budget(&budget).on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 0, Some(stats), |_| {
                    tp.next(1);
                })
            },
        ),
        panics(
            "circuit_breaker",
            "on_drop (shed while open)",
            "circuit_breaker",
            || {
                let breaker = CircuitBreaker::new(BreakerConfig::default()).unwrap();
                breaker.trip();
                let tp = tp();
                let op = tp
                    .publisher()
                    .circuit_breaker(&breaker, BreakerMode::Shed)
                    .on_drop(boom_drop);
                let stats = op.stats();
                on_tp(&tp, op, 1, Some(stats), |_| {
                    tp.next(1);
                })
            },
        ),
        panics(
            "circuit_breaker",
            "on_state_change (an item trips it)",
            "circuit_breaker",
            || {
                let breaker = CircuitBreaker::new(BreakerConfig::default()).unwrap();
                let watched = FlowStats::new(1);
                watched.set_buffered(1); // full: the next admission opens the breaker
                breaker.trip_on_pressure(watched, 0.5);
                breaker.on_state_change(|_, _| boom());
                let tp = tp();
                let op = tp.publisher().circuit_breaker(&breaker, BreakerMode::Shed);
                let stats = op.stats();
                on_tp(&tp, op, 1, Some(stats), |_| {
                    tp.next(1);
                })
            },
        ),
        panics("load_shed", "priority", "load_shed", || {
            let tp = tp();
            let op = tp.publisher().load_shed(2, |_| -> u32 { boom() }).unwrap();
            let stats = op.stats();
            on_tp(&tp, op, 0, Some(stats), |_| {
                tp.next(1);
            })
        }),
        panics("load_shed", "the priority's Ord", "load_shed", || {
            let tp = tp();
            let op = tp.publisher().load_shed(1, |_| Grumpy).unwrap();
            let stats = op.stats();
            on_tp(&tp, op, 0, Some(stats), |_| {
                tp.next(1).next(2);
            })
        }),
        panics("load_shed", "on_drop (shed)", "load_shed", || {
            let tp = tp();
            let op = tp
                .publisher()
                .load_shed(1, |x| *x)
                .unwrap()
                .on_drop(boom_drop);
            let stats = op.stats();
            on_tp(&tp, op, 0, Some(stats), |_| {
                tp.next(1).next(2);
            })
        }),
        on_cancel("load_shed", "on_drop (cancel)", "load_shed", || {
            let tp = tp();
            let op = tp
                .publisher()
                .load_shed(2, |x| *x)
                .unwrap()
                .on_drop(boom_drop);
            let stats = op.stats();
            on_tp(&tp, op, 0, Some(stats), |h| {
                tp.next(1);
                h.cancel();
            })
        }),
        case(
            "publish",
            "on_drop (Connection::disconnect discards the queue)",
            "publish",
            Terminal::Wins("Error::Rejected (the disconnection)", |e| {
                matches!(
                    e,
                    Error::Rejected {
                        stage: "publish",
                        ..
                    }
                )
            }),
            Upstream::Cancelled,
            || {
                let tp = tp();
                let shared = tp.publisher().publish().on_drop(boom_drop);
                let stats = shared.stats();
                let (sub, h) = TestSubscriber::with_scheduler(0, VirtualScheduler::new());
                let mut unwound = None;
                let steps = catch_unwind(AssertUnwindSafe(|| {
                    shared.clone().subscribe(sub);
                    let connection = shared.connect();
                    tp.next(1);
                    connection.disconnect();
                }));
                if let Err(p) = steps {
                    unwound = Some(format!("out of the trigger: {}", message(&*p)));
                }
                Outcome {
                    unwound,
                    error: h.error(),
                    completed: h.is_complete(),
                    upstream_cancelled: tp.is_cancelled(),
                    violations: h.violations().len(),
                    stats: Some(stats.snapshot()),
                }
            },
        ),
    ]
}

/// The inner publisher type of the mapping stages' cases (never built: `f` panics).
type TestPublisherSourceU32 = spillway_testkit::TestPublisherSource<u32, String>;

/// A source that emits synchronously inside `subscribe` (to make a callback panic there).
fn synchronous_source() -> impl Publisher<Item = u32, Error = String> + Clone {
    range(0, 5)
        .map(|x| x as u32)
        .map_error(|e: Infallible| -> String { match e {} })
}

/// An upstream that keeps sending after a cancel (and without demand).
fn late_tp() -> Tp {
    Tp::non_compliant(&[Violation::IgnoreCancel, Violation::EmitWithoutDemand])
}

/// A full `on_backpressure_buffer(1, overflow)` receiving one more item without demand.
fn buffer_overflow(overflow: BufferOverflow) -> Outcome {
    let tp = tp();
    let op = tp
        .publisher()
        .on_backpressure_buffer(1, overflow)
        .unwrap()
        .on_drop(boom_drop);
    let stats = op.stats();
    on_tp(&tp, op, 0, Some(stats), |_| {
        tp.next(1).next(2);
    })
}

#[test]
fn a_panicking_callback_fails_its_stage_and_never_unwinds() {
    quiet_booms();
    let cases = cases();
    let mut failures = Vec::new();
    for c in &cases {
        if let Some(wrong) = check(c) {
            failures.push(wrong);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases broke the panic policy:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The methods of the `OperatorExt` trait, read from its source.
#[test]
fn every_operator_is_listed() {
    let methods = operator_list::operator_methods();
    let covered: BTreeSet<String> = cases()
        .iter()
        .map(|c| c.operator.to_string())
        .chain(NO_CALLBACK.iter().map(|(m, _)| m.to_string()))
        .collect();
    let missing: Vec<&String> = methods.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "OperatorExt methods with neither a case nor a NO_CALLBACK entry: {missing:?}"
    );
    // Names that are not methods must be APIs of the operators' own types.
    let extra: Vec<&String> = covered.difference(&methods).collect();
    assert!(extra.is_empty(), "not OperatorExt methods: {extra:?}");
}
