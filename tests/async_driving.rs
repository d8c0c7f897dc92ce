//! Who polls an async stage, tested the way users run pipelines: every async source and
//! stage, and a five-stage mixed pipeline, awaited (a) in a multi-thread runtime's main
//! future (what `#[tokio::main]` runs), (b) in a current-thread runtime, (c) inside
//! `tokio::spawn`, (d) under `futures::executor::block_on` with no runtime, and (e) with
//! tokio's cooperative budget already spent when the pipeline starts; each with 10,000
//! items ready at once and with items arriving from another thread.
//!
//! Every run is guarded by a watchdog that fails the test with a diagnosis instead of
//! hanging, and counts the polls of the source stream and of the awaiting future: a spin
//! (a pass looping on its own wake-ups) fails the bound instead of burning CPU.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{Stream, StreamExt};
use spillway::prelude::*;
use tokio_stream::wrappers::ReceiverStream;

const N: u64 = 10_000;
/// A test that has not finished by then is stuck.
const WATCHDOG: Duration = Duration::from_secs(60);

// ------------------------------------------------------------------ instruments

/// Counts the polls of the stream it wraps.
struct CountPolls<St> {
    inner: St,
    polls: Arc<AtomicU64>,
}

impl<St: Stream + Unpin> Stream for CountPolls<St> {
    type Item = St::Item;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<St::Item>> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        self.inner.poll_next_unpin(cx)
    }
}

/// Counts the polls of the future it wraps.
struct CountFuturePolls<F> {
    inner: Pin<Box<F>>,
    polls: Arc<AtomicU64>,
}

impl<F: Future> Future for CountFuturePolls<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        self.inner.as_mut().poll(cx)
    }
}

/// Spends the whole cooperative budget of the current tokio task, then polls the inner
/// future in the same poll: the pipeline starts with nothing left.
struct BudgetSpent<F> {
    inner: Pin<Box<F>>,
    spent: bool,
}

impl<F: Future> Future for BudgetSpent<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        if !self.spent {
            self.spent = true;
            let mut units = 0;
            while let Poll::Ready(restore) = tokio::task::coop::poll_proceed(cx) {
                restore.made_progress();
                units += 1;
                assert!(units < 100_000, "not inside a tokio task with a budget");
            }
            assert!(!tokio::task::coop::has_budget_remaining());
        }
        self.inner.as_mut().poll(cx)
    }
}

/// A future that is pending once (waking itself), then ready: an async step that yields.
struct YieldOnce<T> {
    value: Option<T>,
    yielded: bool,
}

impl<T: Unpin> Future for YieldOnce<T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if !self.yielded {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(self.value.take().expect("polled after completion"))
    }
}

fn yield_once<T: Unpin>(value: T) -> YieldOnce<T> {
    YieldOnce {
        value: Some(value),
        yielded: false,
    }
}

// ------------------------------------------------------------------ executors

#[derive(Debug, Clone, Copy, PartialEq)]
enum Exec {
    /// `Runtime::block_on` of a multi-thread runtime: `#[tokio::main]`'s main future.
    MultiThreadMain,
    /// A current-thread runtime (`#[tokio::test]`).
    CurrentThread,
    /// Inside `tokio::spawn` on a multi-thread runtime.
    Spawned,
    /// `futures::executor::block_on`, no runtime at all.
    BlockOn,
    /// A tokio task whose cooperative budget is spent before the pipeline starts.
    BudgetSpent,
}

const EXECUTORS: [Exec; 5] = [
    Exec::MultiThreadMain,
    Exec::CurrentThread,
    Exec::Spawned,
    Exec::BlockOn,
    Exec::BudgetSpent,
];

/// How the source's items arrive.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Feed {
    /// All N items wait in the channel before the pipeline starts.
    ReadyAtOnce,
    /// A producer thread sends them while the pipeline runs.
    FromAnotherThread,
    /// A producer task on the same runtime sends them while the pipeline runs (a thread
    /// under `block_on`, which has no runtime).
    FromAnotherTask,
}

/// Runs `make()`'s future on `exec` under the watchdog; returns its output and how many
/// times it was polled.
fn run_on<T, Fut>(name: &str, exec: Exec, make: impl FnOnce() -> Fut + Send + 'static) -> (T, u64)
where
    T: Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let (tx, rx) = std_mpsc::channel();
    let polls = Arc::new(AtomicU64::new(0));
    let counted = polls.clone();
    std::thread::Builder::new()
        .name(format!("{name}-{exec:?}"))
        .spawn(move || {
            let counted_future = move || CountFuturePolls {
                inner: Box::pin(make()),
                polls: counted,
            };
            let out = match exec {
                Exec::MultiThreadMain => {
                    multi_thread().block_on(async move { counted_future().await })
                }
                Exec::CurrentThread => tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(async move { counted_future().await }),
                Exec::Spawned => {
                    let rt = multi_thread();
                    rt.block_on(async move { tokio::spawn(counted_future()).await.unwrap() })
                }
                Exec::BlockOn => futures::executor::block_on(counted_future()),
                Exec::BudgetSpent => multi_thread().block_on(async move {
                    tokio::spawn(BudgetSpent {
                        inner: Box::pin(counted_future()),
                        spent: false,
                    })
                    .await
                    .unwrap()
                }),
            };
            let _ = tx.send(out);
        })
        .unwrap();
    match rx.recv_timeout(WATCHDOG) {
        Ok(out) => (out, polls.load(Ordering::Relaxed)),
        Err(_) => panic!(
            "{name} under {exec:?} did not finish within {WATCHDOG:?}: a hang or a spin \
             (the awaiting future was polled {} times so far)",
            polls.load(Ordering::Relaxed)
        ),
    }
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Sends 0..N into `tx` from a task of the current runtime, or from a thread outside one.
fn spawn_producer(tx: tokio::sync::mpsc::Sender<u64>) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => drop(handle.spawn(async move {
            for i in 0..N {
                if tx.send(i).await.is_err() {
                    return;
                }
            }
        })),
        Err(_) => drop(std::thread::spawn(move || {
            for i in 0..N {
                if tx.blocking_send(i).is_err() {
                    return;
                }
            }
        })),
    }
}

/// A tokio channel holding the N items (or fed by a thread, or by a task once the
/// pipeline's future starts), wrapped to count its polls; the sender for a task feed.
fn source(
    feed: Feed,
    polls: &Arc<AtomicU64>,
) -> (
    CountPolls<ReceiverStream<u64>>,
    Option<tokio::sync::mpsc::Sender<u64>>,
) {
    // Small for a live feed, so the producer really waits for the pipeline.
    let capacity = if feed == Feed::ReadyAtOnce {
        N as usize
    } else {
        64
    };
    let (tx, rx) = tokio::sync::mpsc::channel(capacity);
    let mut task_feed = None;
    match feed {
        Feed::ReadyAtOnce => {
            for i in 0..N {
                tx.try_send(i).unwrap();
            }
        }
        Feed::FromAnotherThread => {
            std::thread::spawn(move || {
                for i in 0..N {
                    if tx.blocking_send(i).is_err() {
                        return; // the pipeline was dropped
                    }
                }
            });
        }
        Feed::FromAnotherTask => task_feed = Some(tx),
    }
    let stream = CountPolls {
        inner: ReceiverStream::new(rx),
        polls: polls.clone(),
    };
    (stream, task_feed)
}

/// A bound on polls that a spin cannot meet. Every poll either yields an item (N) or
/// ends a pass with `Pending`; a pass starts from a wake-up (at most one per item sent),
/// from a downstream request (at most one per item), or continues one that hit its pull
/// bound or tokio's budget (one per 128 pulls). A wake-up that lands while a pass is
/// still running starts a pass that finds nothing, so a busy machine legitimately
/// exceeds 2 polls per item (20,936 for 10,000 items was seen under CI load). A pass that
/// loops on its own wake-ups polls without bound: millions, at 100% CPU.
fn assert_no_spin(name: &str, exec: Exec, feed: Feed, what: &str, polls: u64) {
    let bound = 3 * N + N / 128 + 200;
    assert!(
        polls <= bound,
        "{name} under {exec:?} ({feed:?}): {what} polled {polls} times for {N} items \
         (bound {bound}): a pass loops on its own wake-ups"
    );
}

type Pipeline =
    fn(CountPolls<ReceiverStream<u64>>) -> Pin<Box<dyn Future<Output = Vec<u64>> + Send>>;

/// Every async source and stage, each ending in a future that yields the items seen.
fn pipelines() -> Vec<(&'static str, Pipeline)> {
    vec![
        ("from_stream.collect", |s| {
            Box::pin(async move { from_stream(s).collect().await.unwrap() })
        }),
        ("from_try_stream.collect", |s| {
            Box::pin(async move {
                from_try_stream(s.map(Ok::<u64, ()>))
                    .collect()
                    .await
                    .unwrap()
            })
        }),
        ("from_stream.count", |s| {
            Box::pin(async move { vec![from_stream(s).count().await.unwrap()] })
        }),
        ("from_stream.fold", |s| {
            Box::pin(async move {
                from_stream(s)
                    .fold(Vec::new(), |mut v, x| {
                        v.push(x);
                        v
                    })
                    .await
                    .unwrap()
            })
        }),
        ("map_async", |s| {
            Box::pin(async move {
                from_stream(s)
                    .map_async(4, yield_once)
                    .unwrap()
                    .collect()
                    .await
                    .unwrap()
            })
        }),
        ("map_async_unordered", |s| {
            Box::pin(async move {
                let mut v = from_stream(s)
                    .map_async_unordered(4, yield_once)
                    .unwrap()
                    .collect()
                    .await
                    .unwrap();
                v.sort_unstable();
                v
            })
        }),
        ("then", |s| {
            Box::pin(async move { from_stream(s).then(yield_once).collect().await.unwrap() })
        }),
        ("try_map_async", |s| {
            Box::pin(async move {
                from_stream(s)
                    .try_map_async(4, |x| async move { Ok(yield_once(x).await) })
                    .unwrap()
                    .collect()
                    .await
                    .unwrap()
            })
        }),
        ("for_each_async", |s| {
            Box::pin(async move {
                let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
                let out = seen.clone();
                from_stream(s)
                    .for_each_async(4, move |x| {
                        let seen = seen.clone();
                        async move {
                            let x = yield_once(x).await;
                            seen.lock().unwrap().push(x);
                        }
                    })
                    .await
                    .unwrap();
                let mut v = out.lock().unwrap().clone();
                v.sort_unstable(); // four at a time: completion order may differ
                v
            })
        }),
        ("into_stream", |s| {
            Box::pin(async move {
                from_stream(s)
                    .into_stream(16)
                    .map(Result::unwrap)
                    .collect::<Vec<_>>()
                    .await
            })
        }),
        ("five_stages", |s| {
            // async source -> async map -> sync filter+map -> batches -> async sink
            Box::pin(async move {
                let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
                let out = seen.clone();
                from_stream(s)
                    .map_async(4, |x| async move { yield_once(x).await })
                    .unwrap()
                    .filter(|_| true)
                    .map(|x| x)
                    .chunks(100)
                    .unwrap()
                    .for_each_async(2, move |batch| {
                        let seen = seen.clone();
                        async move {
                            let batch = yield_once(batch).await;
                            seen.lock().unwrap().push(batch);
                        }
                    })
                    .await
                    .unwrap();
                let mut batches = out.lock().unwrap().clone();
                batches.sort_unstable_by_key(|b: &Vec<u64>| b[0]);
                batches.into_iter().flatten().collect()
            })
        }),
    ]
}

fn check(name: &'static str, pipeline: Pipeline, exec: Exec, feed: Feed) {
    let source_polls = Arc::new(AtomicU64::new(0));
    let (s, task_feed) = source(feed, &source_polls);
    let (items, future_polls) = run_on(name, exec, move || {
        let run = pipeline(s);
        async move {
            if let Some(tx) = task_feed {
                spawn_producer(tx);
            }
            run.await
        }
    });
    if name == "from_stream.count" {
        assert_eq!(items, vec![N], "{name} under {exec:?} ({feed:?})");
    } else {
        assert!(
            items.iter().copied().eq(0..N),
            "{name} under {exec:?} ({feed:?}): {} items, not 0..{N} in order",
            items.len()
        );
    }
    assert_no_spin(
        name,
        exec,
        feed,
        "the source stream",
        source_polls.load(Ordering::Relaxed),
    );
    assert_no_spin(name, exec, feed, "the awaiting future", future_polls);
}

#[test]
fn every_async_stage_on_every_executor_with_items_ready_at_once() {
    for (name, pipeline) in pipelines() {
        for exec in EXECUTORS {
            check(name, pipeline, exec, Feed::ReadyAtOnce);
        }
    }
}

#[test]
fn every_async_stage_on_every_executor_with_items_from_another_thread() {
    for (name, pipeline) in pipelines() {
        for exec in EXECUTORS {
            check(name, pipeline, exec, Feed::FromAnotherThread);
        }
    }
}

#[test]
fn every_async_stage_on_every_executor_with_items_from_another_task() {
    for (name, pipeline) in pipelines() {
        for exec in EXECUTORS {
            check(name, pipeline, exec, Feed::FromAnotherTask);
        }
    }
}

/// The reported hang, word for word: 1,000 items already waiting in a tokio `mpsc`
/// channel, counted by a pipeline awaited directly in a multi-thread runtime's main
/// future (what `#[tokio::main]` runs). It spun at 100% CPU forever: tokio's budget ran
/// out, the channel answered `Pending` and woke at once, and the wake ran the next pass
/// on the same stack, so control never went back to the runtime.
#[test]
fn regression_from_stream_count_awaited_in_tokio_main_finishes() {
    let (n, polls) = run_on("tokio_main_count", Exec::MultiThreadMain, || async {
        let (tx, rx) = tokio::sync::mpsc::channel(1000);
        for i in 0..1000u64 {
            tx.send(i).await.unwrap();
        }
        drop(tx);
        from_stream(ReceiverStream::new(rx)).count().await.unwrap()
    });
    assert_eq!(n, 1000);
    assert!(polls < 100, "polled {polls} times for 1,000 ready items");
}

/// A pipeline waiting on nothing uses no CPU: on tokio's paused clock, the runtime
/// advances time only when every task is idle, so a one-hour timeout fires at once in
/// virtual time if, and only if, the pipeline stopped polling. A pipeline that kept
/// rescheduling itself would never let the clock move (and the watchdog would fail).
#[test]
fn a_pipeline_waiting_on_nothing_is_idle() {
    let polls = Arc::new(AtomicU64::new(0));
    let counted = polls.clone();
    let (timed_out, _) = run_on("idle", Exec::CurrentThread, move || async move {
        tokio::time::pause();
        let (tx, rx) = tokio::sync::mpsc::channel::<u64>(1);
        let s = CountPolls {
            inner: ReceiverStream::new(rx),
            polls: counted,
        };
        let pipeline = from_stream(s).map_async(2, yield_once).unwrap().count();
        let out = tokio::time::timeout(Duration::from_secs(3600), pipeline).await;
        drop(tx);
        out.is_err()
    });
    assert!(
        timed_out,
        "the pipeline ended although its source never did"
    );
    assert!(
        polls.load(Ordering::Relaxed) <= 2,
        "the idle source was polled {} times",
        polls.load(Ordering::Relaxed)
    );
}

/// A pipeline ending in a plain subscriber (no future to drive it) runs its async
/// stages on the context's executor: tokio's runtime inside one, the shared timer thread
/// outside, or the spawner named with `poll_on`.
#[test]
fn a_plain_subscriber_is_driven_by_the_ambient_or_named_executor() {
    fn collect_with(
        subscribe: impl FnOnce(std_mpsc::Sender<u64>) -> spillway::Disposable,
    ) -> Vec<u64> {
        let (tx, rx) = std_mpsc::channel();
        let _handle = subscribe(tx);
        (0..N)
            .map(|_| {
                rx.recv_timeout(WATCHDOG)
                    .expect("an item within the watchdog")
            })
            .collect()
    }
    let expected: Vec<u64> = (0..N).collect();
    let polls = Arc::new(AtomicU64::new(0));

    // No runtime: the shared timer thread runs the passes.
    let (s, _) = source(Feed::FromAnotherThread, &polls);
    let got = collect_with(move |tx| {
        from_stream(s)
            .then(yield_once)
            .subscribe_fn(move |x| tx.send(x).unwrap())
    });
    assert_eq!(got, expected);

    // Inside a tokio runtime: tokio runs them.
    let rt = multi_thread();
    let (s, _) = source(Feed::FromAnotherThread, &polls);
    let got = collect_with(move |tx| {
        let _guard = rt.enter();
        let h = from_stream(s)
            .then(yield_once)
            .subscribe_fn(move |x| tx.send(x).unwrap());
        std::mem::forget(rt); // kept running for the rest of the test process
        h
    });
    assert_eq!(got, expected);

    // Named: a futures thread pool.
    let pool = futures::executor::ThreadPool::new().unwrap();
    let (s, _) = source(Feed::FromAnotherThread, &polls);
    let got = collect_with(move |tx| {
        from_stream(s)
            .then(yield_once)
            .poll_on(Arc::new(pool))
            .subscribe_fn(move |x| tx.send(x).unwrap())
    });
    assert_eq!(got, expected);
}

/// Stages after an async source run on the task that awaits the pipeline, never on the
/// thread that wakes the source (here a producer thread of our own).
#[test]
fn stages_after_a_wake_up_run_on_the_awaiting_task_not_the_waking_thread() {
    let (threads, _) = run_on("which_thread", Exec::CurrentThread, || async {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        std::thread::Builder::new()
            .name("waker".into())
            .spawn(move || {
                for i in 0..1000u64 {
                    tx.blocking_send(i).unwrap();
                }
            })
            .unwrap();
        from_stream(ReceiverStream::new(rx))
            .map(|_| std::thread::current().name().map(String::from))
            .collect()
            .await
            .unwrap()
    });
    assert_eq!(threads.len(), 1000);
    assert!(
        threads.iter().all(|t| t.as_deref() != Some("waker")),
        "a stage ran on the waking thread"
    );
}

/// One busy pipeline cannot starve the other tasks of its worker: on a current-thread
/// runtime, a pipeline counting 100,000 items of an always-ready stream hands control back
/// after each bounded pass, so a ticker task sharing the thread keeps running meanwhile.
#[test]
fn a_busy_pipeline_yields_to_other_tasks_on_its_worker() {
    const ITEMS: u64 = 100_000;
    let ((count, ticks_during), _) = run_on("fairness", Exec::CurrentThread, || async {
        let ticks = Arc::new(AtomicU64::new(0));
        let ticker_ticks = ticks.clone();
        let ticker = tokio::spawn(async move {
            loop {
                ticker_ticks.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        });
        tokio::task::yield_now().await; // let the ticker start
        let before = ticks.load(Ordering::Relaxed);
        let count = from_stream(futures::stream::iter(0..ITEMS))
            .count()
            .await
            .unwrap();
        let during = ticks.load(Ordering::Relaxed) - before;
        ticker.abort();
        (count, during)
    });
    assert_eq!(count, ITEMS);
    let passes = ITEMS / u64::from(spillway::drain::ASYNC_PASS_PULLS);
    assert!(
        ticks_during >= passes / 2,
        "the ticker ran {ticks_during} times while the pipeline made about {passes} passes: \
         the pipeline kept the thread"
    );
}

/// Counts the futures that ran to the end and those dropped before.
#[derive(Default)]
struct Tally {
    finished: AtomicU64,
    dropped: AtomicU64,
}

/// Pending `n` times (waking itself each time), then ready: work that is still in flight
/// after the few passes it takes for an upstream error to arrive.
async fn yield_n<T>(value: T, n: usize) -> T {
    for _ in 0..n {
        yield_once(()).await;
    }
    value
}

/// A unit of work that reports how it ended (the report is armed when it is made, so a
/// future dropped before its first poll counts too).
fn unit_of_work(tally: Arc<Tally>) -> impl Future<Output = ()> {
    struct Guard(Arc<Tally>, bool);
    impl Drop for Guard {
        fn drop(&mut self) {
            let counter = if self.1 {
                &self.0.finished
            } else {
                &self.0.dropped
            };
            counter.fetch_add(1, Ordering::SeqCst);
        }
    }
    let guard = Guard(tally, false);
    async move {
        let mut guard = guard; // the whole guard, not just its flag
        yield_n((), 20).await;
        guard.1 = true;
    }
}

/// An upstream error after N items: the N units in flight complete and the error comes
/// after them (`completed()` says N); with `abort_on_error()` they are dropped.
#[test]
fn for_each_async_finishes_in_flight_work_on_upstream_error_unless_aborting() {
    const IN_FLIGHT: u64 = 6;
    for abort in [false, true] {
        let tally = Arc::new(Tally::default());
        let t = tally.clone();
        let (result, completed) = futures::executor::block_on(async move {
            let items = (0..IN_FLIGHT).map(Ok).chain([Err("bad line")]);
            let source = from_try_stream(futures::stream::iter(items));
            // One slot more than items: the error arrives while all N are in flight.
            let slots = IN_FLIGHT as usize + 1;
            let run = source.for_each_async(slots, move |_| unit_of_work(t.clone()));
            let mut run = if abort { run.abort_on_error() } else { run };
            let result = (&mut run).await;
            (result, run.completed())
        });
        assert!(matches!(result, Err(spillway::Error::User("bad line"))));
        if abort {
            assert_eq!(completed, 0);
            assert_eq!(tally.dropped.load(Ordering::SeqCst), IN_FLIGHT, "dropped");
        } else {
            assert_eq!(completed, IN_FLIGHT, "every unit in flight completed");
            assert_eq!(tally.finished.load(Ordering::SeqCst), IN_FLIGHT);
            assert_eq!(tally.dropped.load(Ordering::SeqCst), 0);
        }
    }
}

/// The same for the `map_async` family: the results in flight go out before the error.
#[test]
fn map_async_delivers_in_flight_results_before_an_upstream_error_unless_aborting() {
    const IN_FLIGHT: u64 = 5;
    for abort in [false, true] {
        let out = futures::executor::block_on(async move {
            let items = (0..IN_FLIGHT).map(Ok).chain([Err("bad line")]);
            let stage = from_try_stream(futures::stream::iter(items))
                .map_async(IN_FLIGHT as usize + 1, |x| yield_n(x, 20))
                .unwrap();
            let stage = if abort { stage.abort_on_error() } else { stage };
            stage.into_stream(16).collect::<Vec<_>>().await
        });
        let (oks, errs): (Vec<_>, Vec<_>) = out.into_iter().partition(Result::is_ok);
        assert_eq!(errs.len(), 1, "the error, last");
        if abort {
            assert!(oks.is_empty(), "aborted: nothing in flight delivered");
        } else {
            let oks: Vec<u64> = oks.into_iter().map(Result::unwrap).collect();
            assert_eq!(
                oks,
                (0..IN_FLIGHT).collect::<Vec<_>>(),
                "all in flight, in order"
            );
        }
    }
}

/// As a user runs it: a file read by tokio line by line in `#[tokio::main]`'s runtime,
/// parsed, batched and written by a slow async sink four at a time, with a bad line
/// halfway. Every batch completed before the bad line is written, the sinks in flight
/// finish, then the parse error comes; a second run is cancelled by dropping it midway.
#[test]
fn a_file_read_by_tokio_with_a_bad_line_halfway() {
    use tokio::io::AsyncBufReadExt;
    const LINES: u64 = 20_000;
    const BAD: u64 = 10_000;
    let path = std::env::temp_dir().join(format!("spillway-lines-{}.txt", std::process::id()));
    let text: String = (0..LINES)
        .map(|i| {
            if i == BAD {
                "not a number\n".to_string()
            } else {
                format!("{i}\n")
            }
        })
        .collect();
    std::fs::write(&path, text).unwrap();
    let file_path = path.clone();
    let ((result, completed, written), _) =
        run_on("file_lines", Exec::MultiThreadMain, move || async move {
            let file = tokio::fs::File::open(&file_path).await.unwrap();
            let lines =
                tokio_stream::wrappers::LinesStream::new(tokio::io::BufReader::new(file).lines());
            let parsed = lines.map(|line| line.unwrap().parse::<u64>().map_err(|e| e.to_string()));
            let written = Arc::new(AtomicU64::new(0));
            let w = written.clone();
            let mut run =
                from_try_stream(parsed)
                    .chunks(100)
                    .unwrap()
                    .for_each_async(4, move |batch| {
                        let w = w.clone();
                        async move {
                            tokio::task::yield_now().await; // a slow sink
                            w.fetch_add(batch.len() as u64, Ordering::SeqCst);
                        }
                    });
            let result = (&mut run).await;
            (result, run.completed(), written.load(Ordering::SeqCst))
        });
    assert!(matches!(result, Err(spillway::Error::User(ref e)) if e.contains("invalid digit")));
    // The partial batch at the error is discarded by `chunks` (documented); every full
    // batch before it reached the sink, and every sink in flight finished.
    assert_eq!(written, BAD / 100 * 100);
    assert_eq!(completed, BAD / 100);

    // Cancelled midway: the future is dropped after 50 batches; nothing hangs.
    let file_path = path.clone();
    let (seen, _) = run_on(
        "file_lines_cancel",
        Exec::MultiThreadMain,
        move || async move {
            let file = tokio::fs::File::open(&file_path).await.unwrap();
            let lines =
                tokio_stream::wrappers::LinesStream::new(tokio::io::BufReader::new(file).lines());
            let mut batches = from_stream(lines).chunks(100).unwrap().into_stream(2);
            let mut seen = 0;
            while let Some(batch) = batches.next().await {
                seen += batch.unwrap().len();
                if seen >= 5_000 {
                    break; // dropping the stream cancels the pipeline and the file read
                }
            }
            seen
        },
    );
    assert_eq!(seen, 5_000);
    std::fs::remove_file(&path).unwrap();
}
