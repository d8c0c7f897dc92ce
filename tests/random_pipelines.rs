//! The randomized pipeline checker: random sources, one to six random stages, random
//! request plans (requests made from inside `on_next`, in random sizes) and random
//! cancels, each checked for the protocol rules (never more than requested, nothing after
//! a terminal signal or after the cancel, one terminal signal), for delivery against a
//! plain-iterator model, and for termination within a watchdog.
//!
//! Seeded and reproducible (proptest: a failure is shrunk to a short pipeline and its seed
//! saved in `tests/random_pipelines.proptest-regressions`). CI runs `CASES` cases; run
//! longer on demand with `PROPTEST_CASES=20000 cargo test --release --test random_pipelines`.
//!
//! Every stage in the generator is lossless, so the model is exact; a new operator joins
//! by adding a `Stage` variant, its model and its application.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

use proptest::prelude::*;
use spillway::operators::BufferOverflow;
use spillway::prelude::*;
use spillway::{Error, SharedSubscription, Worker};

/// Cases per run in CI (overridden by `PROPTEST_CASES`).
const CASES: u32 = 160;
/// A pipeline that has not ended by then hangs.
const WATCHDOG: Duration = Duration::from_secs(20);

type E = std::convert::Infallible;

// ------------------------------------------------------------------ type erasure

/// Pipelines of random shape share one type.
type Boxed = spillway::BoxPublisher<u64, E>;

fn boxed(p: impl Publisher<Item = u64, Error = E> + Send + 'static) -> Boxed {
    p.boxed()
}

// ------------------------------------------------------------------ the generator

#[derive(Debug, Clone)]
enum Source {
    Range(u64),
    FromIter(u64),
    Generate(u64),
    FromStream(u64),
    /// `range` behind `retry(1)`: a source that delivers with `on_next` (no `try_on_next`).
    RangeRetry(u64),
}

#[derive(Debug, Clone)]
enum Stage {
    Map(u64),
    Filter(u64),
    TryMap(u64),
    TryFilterMap(u64),
    Skip(u64),
    Take(u64),
    FlatMapIter(usize),
    Scan,
    LimitRate(usize),
    Buffer(usize),
    PublishOn(usize),
    SubscribeOn,
    MapAsync(usize),
    Then,
    ConcatRange(u64),
    StartWith(u64),
    ChunksFlattened(usize),
    DistinctUntilChanged,
    DefaultIfEmpty,
    /// `delay_until` with a trigger that fires inside its own subscribe (`empty()`).
    DelayUntilAtOnce,
    /// `delay_until` with a trigger that completes on a worker thread.
    DelayUntilOnWorker,
    /// `first_or(8888)`: one item, upstream cancelled after it.
    FirstOr,
    /// `window(n)` with each window concatenated back: publishers of publishers, demand
    /// on both levels.
    WindowFlattened(usize),
    /// `chunks_every(1 ms).max_size(n)` flattened back: batches on a real clock.
    ChunksEveryFlattened(usize),
}

fn source() -> impl Strategy<Value = Source> {
    prop_oneof![
        (0u64..40).prop_map(Source::Range),
        (0u64..40).prop_map(Source::FromIter),
        (0u64..40).prop_map(Source::Generate),
        (0u64..40).prop_map(Source::FromStream),
        (0u64..40).prop_map(Source::RangeRetry),
    ]
}

fn stage() -> impl Strategy<Value = Stage> {
    prop_oneof![
        (1u64..5).prop_map(Stage::Map),
        (2u64..4).prop_map(Stage::Filter),
        (1u64..5).prop_map(Stage::TryMap),
        (2u64..4).prop_map(Stage::TryFilterMap),
        (0u64..5).prop_map(Stage::Skip),
        (0u64..30).prop_map(Stage::Take),
        (0usize..3).prop_map(Stage::FlatMapIter),
        Just(Stage::Scan),
        (1usize..6).prop_map(Stage::LimitRate),
        (1usize..6).prop_map(Stage::Buffer),
        (1usize..6).prop_map(Stage::PublishOn),
        Just(Stage::SubscribeOn),
        (1usize..4).prop_map(Stage::MapAsync),
        Just(Stage::Then),
        (0u64..5).prop_map(Stage::ConcatRange),
        (0u64..4).prop_map(Stage::StartWith),
        (1usize..5).prop_map(Stage::ChunksFlattened),
        Just(Stage::DistinctUntilChanged),
        Just(Stage::DefaultIfEmpty),
        Just(Stage::DelayUntilAtOnce),
        Just(Stage::DelayUntilOnWorker),
        Just(Stage::FirstOr),
        (1usize..5).prop_map(Stage::WindowFlattened),
        (1usize..5).prop_map(Stage::ChunksEveryFlattened),
    ]
}

/// How the subscriber asks: a first request, then, whenever its demand runs out inside
/// `on_next`, the next size of `refills` (cycled); optionally a cancel at item `cancel_at`.
#[derive(Debug, Clone)]
struct Plan {
    first: u64,
    refills: Vec<u64>,
    cancel_at: Option<usize>,
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        prop_oneof![1u64..5, Just(u64::MAX)],
        proptest::collection::vec(prop_oneof![1u64..5, Just(u64::MAX)], 1..4),
        proptest::option::weighted(0.3, 1usize..20),
    )
        .prop_map(|(first, refills, cancel_at)| Plan {
            first,
            refills,
            cancel_at,
        })
}

// ------------------------------------------------------------------ model and pipeline

fn model_source(s: &Source) -> Vec<u64> {
    match *s {
        Source::Range(n)
        | Source::FromIter(n)
        | Source::Generate(n)
        | Source::FromStream(n)
        | Source::RangeRetry(n) => (0..n).collect(),
    }
}

fn model_stage(items: Vec<u64>, st: &Stage) -> Vec<u64> {
    match *st {
        Stage::Map(k) | Stage::TryMap(k) => items.into_iter().map(|x| x + k).collect(),
        Stage::Filter(m) => items.into_iter().filter(|x| x % m != 0).collect(),
        Stage::TryFilterMap(m) => items
            .into_iter()
            .filter(|x| x % m != 0)
            .map(|x| x * 2)
            .collect(),
        Stage::Skip(k) => items.into_iter().skip(k as usize).collect(),
        Stage::Take(k) => items.into_iter().take(k as usize).collect(),
        Stage::FlatMapIter(r) => items
            .into_iter()
            .flat_map(|x| std::iter::repeat_n(x, r))
            .collect(),
        Stage::Scan => items
            .into_iter()
            .scan(0u64, |acc, x| {
                *acc = acc.wrapping_add(x);
                Some(*acc)
            })
            .collect(),
        Stage::ConcatRange(r) => items.into_iter().chain(1000..1000 + r).collect(),
        Stage::StartWith(r) => (2000..2000 + r).chain(items).collect(),
        Stage::DistinctUntilChanged => {
            let mut out: Vec<u64> = Vec::new();
            for x in items {
                if out.last() != Some(&x) {
                    out.push(x);
                }
            }
            out
        }
        Stage::DefaultIfEmpty => {
            if items.is_empty() {
                vec![7777]
            } else {
                items
            }
        }
        Stage::FirstOr => vec![items.first().copied().unwrap_or(8888)],
        Stage::LimitRate(_)
        | Stage::DelayUntilAtOnce
        | Stage::WindowFlattened(_)
        | Stage::ChunksEveryFlattened(_)
        | Stage::DelayUntilOnWorker
        | Stage::Buffer(_)
        | Stage::PublishOn(_)
        | Stage::SubscribeOn
        | Stage::MapAsync(_)
        | Stage::Then
        | Stage::ChunksFlattened(_) => items,
    }
}

fn worker() -> Worker {
    static WORKER: OnceLock<Worker> = OnceLock::new();
    WORKER
        .get_or_init(|| Worker::new("random-pipelines"))
        .clone()
}

fn build_source(s: &Source) -> Boxed {
    match *s {
        Source::Range(n) => boxed(range(0, n)),
        Source::FromIter(n) => boxed(from_iter((0..n).collect::<Vec<_>>())),
        Source::Generate(n) => boxed(generate(0u64, move |i| {
            let out = (*i < n).then_some(*i);
            *i += 1;
            out
        })),
        Source::FromStream(n) => boxed(from_stream(futures::stream::iter(0..n))),
        Source::RangeRetry(n) => boxed(range(0, n).retry(1)),
    }
}

fn apply(p: Boxed, st: &Stage) -> Boxed {
    match *st {
        Stage::Map(k) => boxed(p.map(move |x| x + k)),
        Stage::Filter(m) => boxed(p.filter(move |x| x % m != 0)),
        Stage::TryMap(k) => boxed(p.try_map(move |x| Ok(x + k))),
        Stage::TryFilterMap(m) => {
            boxed(p.try_filter_map(move |x| Ok((x % m != 0).then_some(x * 2))))
        }
        Stage::Skip(k) => boxed(p.skip(k)),
        Stage::Take(k) => boxed(p.take(k)),
        Stage::FlatMapIter(r) => boxed(p.flat_map_iter(move |x| std::iter::repeat_n(x, r))),
        Stage::Scan => boxed(p.scan(0u64, |acc, x| acc.wrapping_add(x))),
        Stage::LimitRate(k) => boxed(p.limit_rate(k).unwrap()),
        Stage::Buffer(k) => boxed(
            p.on_backpressure_buffer(k, BufferOverflow::Backpressure)
                .unwrap(),
        ),
        Stage::PublishOn(k) => boxed(p.publish_on(worker(), k).unwrap()),
        Stage::SubscribeOn => boxed(p.subscribe_on(worker())),
        Stage::MapAsync(c) => boxed(p.map_async(c, |x| async move { x }).unwrap()),
        Stage::Then => boxed(p.then(|x| async move { x })),
        Stage::ConcatRange(r) => boxed(p.concat_with(range(1000, 1000 + r))),
        Stage::StartWith(r) => boxed(p.start_with((2000..2000 + r).collect::<Vec<_>>())),
        Stage::ChunksFlattened(n) => boxed(p.chunks(n).unwrap().flat_map_iter(|v| v)),
        Stage::DistinctUntilChanged => boxed(p.distinct_until_changed()),
        Stage::DefaultIfEmpty => boxed(p.default_if_empty(7777)),
        Stage::DelayUntilAtOnce => boxed(p.delay_until(|_| empty::<(), E>())),
        Stage::DelayUntilOnWorker => {
            boxed(p.delay_until(|_| empty::<(), E>().subscribe_on(worker())))
        }
        Stage::FirstOr => boxed(p.first_or(8888)),
        Stage::WindowFlattened(n) => boxed(p.window(n).unwrap().concat_map(|w| w)),
        Stage::ChunksEveryFlattened(n) => boxed(
            p.chunks_every(Duration::from_millis(1))
                .unwrap()
                .max_size(n)
                .unwrap()
                .flat_map_iter(|v| v),
        ),
    }
}

// ------------------------------------------------------------------ the checking subscriber

#[derive(Debug, Default)]
struct Outcome {
    items: Vec<u64>,
    completed: bool,
    error: Option<String>,
    violations: Vec<String>,
}

struct Checker {
    plan: Plan,
    outstanding: u64,
    refill: usize,
    subscription: Option<SharedSubscription>,
    cancelled: bool,
    terminated: bool,
    outcome: Arc<Mutex<Outcome>>,
    done: Option<mpsc::Sender<()>>,
}

impl Checker {
    fn request(&mut self, n: u64) {
        self.outstanding = self.outstanding.saturating_add(n);
        if let Some(s) = self.subscription.clone() {
            s.request(n);
        }
    }
    fn violation(&self, what: String) {
        self.outcome.lock().unwrap().violations.push(what);
    }
    fn finish(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
    }
}

impl Subscriber for Checker {
    type Item = u64;
    type Error = E;

    fn on_subscribe(&mut self, s: SharedSubscription) {
        if self.subscription.is_some() {
            self.violation("rule 2.5: a second on_subscribe".into());
            return s.cancel();
        }
        self.subscription = Some(s);
        let first = self.plan.first;
        self.request(first);
    }

    fn on_next(&mut self, item: u64) {
        if self.terminated {
            self.violation(format!(
                "rule 1.7: on_next({item}) after the terminal signal"
            ));
        }
        if self.cancelled {
            self.violation(format!("rule 3.12: on_next({item}) after cancel"));
            return;
        }
        if self.outstanding == 0 {
            self.violation(format!("rule 1.1: on_next({item}) without demand"));
        }
        if self.outstanding != u64::MAX {
            self.outstanding = self.outstanding.saturating_sub(1);
        }
        let seen = {
            let mut out = self.outcome.lock().unwrap();
            out.items.push(item);
            out.items.len()
        };
        if self.plan.cancel_at == Some(seen) {
            self.cancelled = true;
            if let Some(s) = self.subscription.take() {
                s.cancel();
            }
            return self.finish();
        }
        if self.outstanding == 0 {
            let n = self.plan.refills[self.refill % self.plan.refills.len()];
            self.refill += 1;
            self.request(n);
        }
    }

    fn on_error(&mut self, e: Error<E>) {
        if std::mem::replace(&mut self.terminated, true) {
            self.violation("rule 1.7: a second terminal signal".into());
        }
        self.outcome.lock().unwrap().error = Some(format!("{e:?}"));
        self.finish();
    }

    fn on_complete(&mut self) {
        if std::mem::replace(&mut self.terminated, true) {
            self.violation("rule 1.7: a second terminal signal".into());
        }
        self.outcome.lock().unwrap().completed = true;
        self.finish();
    }
}

/// Runs one pipeline to its end (or to the cancel) under the watchdog.
fn run(src: &Source, stages: &[Stage], plan: &Plan) -> Result<Outcome, String> {
    let mut p = build_source(src);
    for st in stages {
        p = apply(p, st);
    }
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let (done_tx, done_rx) = mpsc::channel();
    let checker = Checker {
        plan: plan.clone(),
        outstanding: 0,
        refill: 0,
        subscription: None,
        cancelled: false,
        terminated: false,
        outcome: outcome.clone(),
        done: Some(done_tx),
    };
    let subscribed = Arc::new(AtomicBool::new(false));
    let flag = subscribed.clone();
    std::thread::spawn(move || {
        p.subscribe(checker);
        flag.store(true, Ordering::SeqCst);
    });
    if done_rx.recv_timeout(WATCHDOG).is_err() {
        let out = outcome.lock().unwrap();
        return Err(format!(
            "no end within {WATCHDOG:?} (subscribe returned: {}; {} items so far: {:?})",
            subscribed.load(Ordering::SeqCst),
            out.items.len(),
            &out.items[..out.items.len().min(20)]
        ));
    }
    // A moment for late signals to show up as violations: the checker counts them.
    std::thread::yield_now();
    let out = std::mem::take(&mut *outcome.lock().unwrap());
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(CASES)
    ))]

    #[test]
    fn random_pipelines_deliver_the_model_in_order_and_end(
        src in source(),
        stages in proptest::collection::vec(stage(), 1..7),
        plan in plan(),
    ) {
        let expected = stages.iter().fold(model_source(&src), model_stage);
        let out = run(&src, &stages, &plan).map_err(TestCaseError::fail)?;
        prop_assert!(out.violations.is_empty(), "violations: {:?}", out.violations);
        prop_assert_eq!(out.error, None);
        match plan.cancel_at {
            Some(k) if k <= expected.len() => {
                prop_assert_eq!(&out.items[..], &expected[..k], "cancelled at item {}", k);
            }
            _ => {
                prop_assert!(out.completed, "not completed; got {} of {} items", out.items.len(), expected.len());
                prop_assert_eq!(out.items, expected);
            }
        }
    }
}

// ------------------------------------------------------------------ served as an HTTP body

/// The runtime the HTTP-body cases run on, as a tokio service would.
fn service_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// Reads `body` frame by frame as an HTTP client's connection would, yielding to the
/// runtime after the frames `yields` marks, and leaves (drops the body) after `leave_at`
/// items if set (0: after one poll, which starts the pipeline).
async fn read_as_client(
    body: spillway::http::PublisherBody<impl Publisher<Item = bytes::Bytes, Error = E>>,
    leave_at: Option<usize>,
    yields: &[bool],
) -> Result<Vec<u64>, String> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut items = Vec::new();
    if leave_at == Some(0) {
        // Leaves at once, after the connection polled the body once (it has started).
        let first = futures::poll!(body.frame());
        if let std::task::Poll::Ready(Some(Err(e))) = first {
            return Err(e.to_string());
        }
        return Ok(items);
    }
    while leave_at != Some(items.len()) {
        let Some(frame) = body.frame().await else {
            break;
        };
        let data = frame
            .map_err(|e| e.to_string())?
            .into_data()
            .map_err(|_| "a trailers frame".to_string())?;
        let bytes: [u8; 8] = data[..]
            .try_into()
            .map_err(|_| format!("a frame of {} bytes", data.len()))?;
        items.push(u64::from_le_bytes(bytes));
        if yields[items.len() % yields.len()] {
            tokio::task::yield_now().await;
        }
    }
    Ok(items)
}

/// A source that notes whether it was subscribed: one that never was (below a `take(0)`,
/// a body dropped unpolled) has nothing to release.
struct Tracked {
    inner: Boxed,
    subscribed: Arc<AtomicBool>,
}

impl Publisher for Tracked {
    type Item = u64;
    type Error = E;

    fn subscribe<S: spillway::Subscriber<Item = u64, Error = E>>(self, subscriber: S) {
        self.subscribed.store(true, Ordering::SeqCst);
        self.inner.subscribe(subscriber);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(CASES / 2)
    ))]

    /// Every random pipeline, served as a response body to a client reading at its own
    /// pace, delivers the model (or, for a client that leaves, its prefix), and its source
    /// is released once the body is gone: the path of `tests/http.rs` for every stage.
    #[test]
    fn random_pipelines_served_as_http_bodies_deliver_and_release_their_source(
        src in source(),
        stages in proptest::collection::vec(stage(), 1..6),
        leave_at in proptest::option::weighted(0.4, 0usize..25),
        yields in proptest::collection::vec(any::<bool>(), 1..5),
    ) {
        let expected = stages.iter().fold(model_source(&src), model_stage);
        let (released, subscribed) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let flag = Arc::clone(&released);
        let source = Tracked { inner: build_source(&src), subscribed: Arc::clone(&subscribed) };
        let mut p = boxed(source.do_finally(move |_| flag.store(true, Ordering::SeqCst)));
        for st in &stages {
            p = apply(p, st);
        }
        let body = spillway::http::body(p.map(|n| bytes::Bytes::copy_from_slice(&n.to_le_bytes())));
        let outcome = service_runtime().block_on(async {
            let items = tokio::time::timeout(WATCHDOG, read_as_client(body, leave_at, &yields))
                .await
                .map_err(|_| format!("the body did not end within {WATCHDOG:?}"))??;
            // The body is dropped: the source is released, soon.
            tokio::time::timeout(WATCHDOG, async {
                while subscribed.load(Ordering::SeqCst) && !released.load(Ordering::SeqCst) {
                    tokio::task::yield_now().await;
                }
            })
            .await
            .map_err(|_| "the source was not released after the body was dropped".to_string())?;
            Ok::<_, String>(items)
        });
        let items = outcome.map_err(TestCaseError::fail)?;
        match leave_at {
            Some(0) => prop_assert!(items.is_empty()),
            Some(k) if k <= expected.len() => prop_assert_eq!(&items[..], &expected[..k]),
            _ => prop_assert_eq!(items, expected),
        }
    }
}
