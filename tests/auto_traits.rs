//! Pins the auto traits of the public types that cross threads: a change that makes one
//! of them `!Send` or `!Sync` (an `Rc`, a `RefCell`, a raw pointer slipping in) breaks
//! this file at compile time, not a user's build.

use std::convert::Infallible;
use std::future::Ready;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use spillway::prelude::*;
use spillway::{
    AtomicDemand, ConfigError, Context, Create, Defer, Demand, Disposable, EmitError, Emitter,
    EmitterStats, Empty, Error, Fail, Fold, ForEachAsync, FromIter, FromStream, FromTryStream,
    Generate, Interval, IntoStream, Just, Never, NoopSubscription, Range, Scheduler, SchedulerExt,
    SharedSubscription, Task, TaskHandle, ThreadScheduler, TokioScheduler, TryGenerate,
};
use static_assertions::{assert_impl_all, assert_not_impl_any};

type Items = std::vec::IntoIter<u64>;
type ItemStream = futures::stream::Iter<Items>;
type TryItemStream = futures::stream::Iter<std::vec::IntoIter<Result<u64, String>>>;

// The protocol.
assert_impl_all!(SharedSubscription: Send, Sync, Clone);
assert_impl_all!(NoopSubscription: Send, Sync);
assert_impl_all!(Error<String>: Send, Sync, Clone);
assert_impl_all!(Error<Infallible>: Send, Sync);
assert_not_impl_any!(Error<Rc<u8>>: Send, Sync);
assert_impl_all!(Demand: Send, Sync, Copy);
assert_impl_all!(AtomicDemand: Send, Sync);
assert_impl_all!(Context: Send, Sync, Clone);
assert_impl_all!(ConfigError: Send, Sync);

// Time.
assert_impl_all!(Task: Send);
assert_impl_all!(TaskHandle: Send, Sync, Clone);
assert_impl_all!(ThreadScheduler: Send, Sync);
assert_impl_all!(TokioScheduler: Send, Sync);
assert_impl_all!(Arc<dyn Scheduler>: Scheduler, Send, Sync);

// create's producer side: moved to other threads and shared there.
assert_impl_all!(Emitter<u64, String>: Send, Sync, Clone);
assert_not_impl_any!(Emitter<Rc<u8>, String>: Send, Sync);
assert_impl_all!(EmitError<u64>: Send, Sync);
assert_impl_all!(EmitterStats: Send, Sync, Copy);
assert_impl_all!(OverflowStrategy: Send, Sync, Copy);
assert_impl_all!(Disposable: Send, Sync);

// The publishers of every source.
assert_impl_all!(Range: Send, Sync, Clone);
assert_impl_all!(FromIter<Items>: Send, Sync, Clone);
assert_impl_all!(Just<u64>: Send, Sync, Clone);
assert_impl_all!(Empty<u64, String>: Send, Sync, Clone);
assert_impl_all!(Empty<Rc<u8>, Rc<u8>>: Send, Sync); // holds no T or E
assert_impl_all!(Fail<u64, String>: Send, Sync, Clone);
assert_impl_all!(Never<u64, String>: Send, Sync, Clone);
assert_impl_all!(Defer<fn() -> Range>: Send, Sync, Clone);
assert_impl_all!(Generate<u64, fn(&mut u64) -> Option<u64>>: Send, Sync, Clone);
assert_impl_all!(TryGenerate<u64, fn(&mut u64) -> Result<Option<u64>, String>>: Send, Sync);
assert_impl_all!(Interval: Send, Sync, Clone);
assert_impl_all!(FromStream<ItemStream>: Send, Sync);
assert_impl_all!(FromTryStream<TryItemStream>: Send, Sync);
assert_impl_all!(Create<u64, String, fn(Emitter<u64, String>)>: Send, Sync);

// The sinks' futures and streams, for Send item types: spawnable on a multi-thread runtime.
assert_impl_all!(IntoStream<Range>: Send, Unpin);
assert_impl_all!(Fold<Range, u64, fn(u64, u64) -> u64>: Send, Unpin);
assert_impl_all!(ForEachAsync<Range, fn(u64) -> Ready<()>, Ready<()>>: Send, Unpin);

/// The sinks of a real pipeline can be spawned onto tokio's multi-thread runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_futures_spawn_on_a_multi_thread_runtime() {
    let sum = tokio::spawn(range(0, 100).fold(0u64, |a, b| a + b));
    assert_eq!(sum.await.unwrap().unwrap(), 4950);
    let done = tokio::spawn(range(0, 10).for_each_async(2, |_| async {}));
    assert!(done.await.unwrap().is_ok());
    let items = tokio::spawn(async {
        use futures::StreamExt;
        range(0, 5)
            .into_stream(2)
            .map(Result::unwrap)
            .collect::<Vec<_>>()
            .await
    });
    assert_eq!(items.await.unwrap(), vec![0, 1, 2, 3, 4]);
}

/// `Arc<dyn Scheduler>` is usable everywhere a scheduler is: the extension methods, a
/// `Context`, `interval(..).on(..)`.
#[test]
fn arc_dyn_scheduler_works() {
    let scheduler: Arc<dyn Scheduler> = Arc::new(ThreadScheduler::new());
    let (tx, rx) = std::sync::mpsc::channel();
    let _handle = scheduler.run_after(Duration::ZERO, move || tx.send(7).unwrap());
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 7);

    let cx = Context::with_scheduler(Arc::clone(&scheduler));
    assert!(cx.has_scheduler());
    assert!(cx.scheduler().now() <= std::time::Instant::now());

    let (tx, rx) = std::sync::mpsc::channel();
    let handle = interval(Duration::from_millis(1))
        .unwrap()
        .on(scheduler)
        .subscribe_fn(move |t| {
            let _ = tx.send(t);
        });
    // Unbounded demand: ticks arrive in order.
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 0);
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 1);
    handle.cancel();
}
