//! A terminal future's poll hands control back after a bounded amount of work, even when
//! every async stage is always ready: a `map_async` over a `from_stream` used to run a
//! whole million-item stream inside one poll (each pass was bounded; their re-entrant sum
//! was not). Checked for every async stage and every terminal future, under
//! `futures::executor::block_on` (no tokio budget to lean on) and in a tokio task.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::StreamExt;
use spillway::coop::POLL_BUDGET;
use spillway::prelude::*;
use spillway::BoxPublisher;

const N: u64 = 50_000;

type E = std::convert::Infallible;

/// An always-ready endless source, counting what passes.
fn source(seen: &Arc<AtomicU64>) -> impl Publisher<Item = u64, Error = E> + Send + 'static {
    let seen = Arc::clone(seen);
    from_stream(futures::stream::repeat(1u64)).do_on_next(move |_| {
        seen.fetch_add(1, Ordering::Relaxed);
    })
}

/// Every async stage over the source, with futures that are ready at once.
fn stages(seen: &Arc<AtomicU64>) -> Vec<(&'static str, BoxPublisher<u64, E>)> {
    vec![
        ("from_stream", source(seen).boxed()),
        (
            "map_async",
            source(seen)
                .map_async(4, |x| async move { x })
                .unwrap()
                .boxed(),
        ),
        (
            "map_async_unordered",
            source(seen)
                .map_async_unordered(4, |x| async move { x })
                .unwrap()
                .boxed(),
        ),
        ("then", source(seen).then(|x| async move { x }).boxed()),
        (
            "try_map_async",
            source(seen)
                .try_map_async(4, |x| async move { Ok(x) })
                .unwrap()
                .boxed(),
        ),
        (
            "map_async twice",
            source(seen)
                .map_async(4, |x| async move { x })
                .unwrap()
                .map_async(2, |x| async move { x })
                .unwrap()
                .boxed(),
        ),
    ]
}

type Terminal = Pin<Box<dyn Future<Output = u64> + Send>>;

/// Every terminal future over `p`, each ending after N items.
fn terminals(p: BoxPublisher<u64, E>, which: usize) -> Terminal {
    let p = p.take(N);
    match which {
        0 => Box::pin(async move { p.count().await.unwrap() }),
        _ => Box::pin(async move {
            p.for_each_async(4, |_| async {}).await.unwrap();
            N
        }),
    }
}

const TERMINALS: [&str; 3] = ["count", "for_each_async", "into_stream"];

/// What had passed the source when a future joined after the pipeline first ran; for
/// `into_stream` (whose consumer decides when to yield), when its first item came out.
fn seen_at_first_yield(stage: usize, terminal: usize) -> (String, u64) {
    let seen = Arc::new(AtomicU64::new(0));
    let (name, p) = stages(&seen).swap_remove(stage);
    let watch = Arc::clone(&seen);
    let (total, at) = if TERMINALS[terminal] == "into_stream" {
        futures::executor::block_on(async move {
            let mut items = p.take(N).into_stream(64);
            items.next().await.expect("an item").unwrap();
            let at = watch.load(Ordering::Relaxed);
            (1 + items.count().await as u64, at)
        })
    } else {
        let pipeline = terminals(p, terminal);
        futures::executor::block_on(async move {
            futures::join!(pipeline, async move { watch.load(Ordering::Relaxed) })
        })
    };
    assert_eq!(total, N, "{name}: the pipeline delivered everything");
    (format!("{name} into {}", TERMINALS[terminal]), at)
}

#[test]
fn every_async_stage_and_terminal_yields_within_the_budget() {
    // A few passes' worth: the budget, plus what stages buffer (concurrency, batches).
    let bound = u64::from(POLL_BUDGET) * 4;
    let stage_count = stages(&Arc::new(AtomicU64::new(0))).len();
    for stage in 0..stage_count {
        for terminal in 0..TERMINALS.len() {
            let (name, at) = seen_at_first_yield(stage, terminal);
            assert!(
                at <= bound,
                "{name}: {at} items passed before the poll handed control back (bound {bound})"
            );
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_tokio_task_beside_an_always_ready_pipeline_gets_to_run() {
    let seen = Arc::new(AtomicU64::new(0));
    let pipeline = tokio::spawn(
        source(&seen)
            .map_async(4, |x| async move { x })
            .unwrap()
            .take(N)
            .count(),
    );
    let watch = Arc::clone(&seen);
    // On a current-thread runtime, this task runs only when the pipeline yields.
    let ticker = tokio::spawn(async move { watch.load(Ordering::Relaxed) });
    let at = ticker.await.unwrap();
    assert!(
        at < N,
        "the ticker ran only after the whole stream ({at} items)"
    );
    assert_eq!(pipeline.await.unwrap().unwrap(), N);
}
