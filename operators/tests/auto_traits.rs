//! Pins the auto traits of every public operator type: a publisher built on `Send`
//! inputs (upstream, functions, schedulers) is `Send`, so that a pipeline can be built on
//! one thread and subscribed on another; the handles and stats shared between threads
//! are also `Sync`. A field change that loses one of these fails to compile here.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Ready;
use std::sync::Arc;

use spillway::operators::tap::{Finally, OnCancel, OnComplete, OnError, OnNext, OnRequest};
use spillway::operators::*;
use spillway::{Never, Range, Scheduler};
use static_assertions::assert_impl_all;

/// The upstream of every operator below: `Send + Sync`, items `u64`.
type Up = Range;
type Sched = Arc<dyn Scheduler>;
type Unary = fn(u64) -> u64;
type Pred = fn(&u64) -> bool;
type Fut = Ready<u64>;

// Transforms and filters.
assert_impl_all!(Map<Up, Unary>: Send, Sync);
assert_impl_all!(Filter<Up, Pred>: Send, Sync);
assert_impl_all!(FilterMap<Up, fn(u64) -> Option<u64>>: Send, Sync);
assert_impl_all!(FlatMapIter<Up, fn(u64) -> Vec<u64>>: Send, Sync);
assert_impl_all!(Scan<Up, u64, fn(&mut u64, u64) -> u64>: Send, Sync);
assert_impl_all!(Reduce<Up, fn(u64, u64) -> u64>: Send, Sync);
assert_impl_all!(Take<Up>: Send, Sync);
assert_impl_all!(TakeWhile<Up, Pred>: Send, Sync);
assert_impl_all!(TakeUntil<Up, Never<(), Infallible>>: Send, Sync);
assert_impl_all!(Skip<Up>: Send, Sync);
assert_impl_all!(SkipWhile<Up, Pred>: Send, Sync);
assert_impl_all!(DistinctUntilChanged<Up>: Send, Sync);
assert_impl_all!(DistinctUntilChangedByKey<Up, fn(&u64) -> u64>: Send, Sync);
assert_impl_all!(DistinctUntilChangedBy<Up, fn(&u64, &u64) -> bool>: Send, Sync);
assert_impl_all!(DistinctByKey<Up, fn(&u64) -> u64>: Send, Sync);
assert_impl_all!(DistinctByKeyBounded<Up, fn(&u64) -> u64>: Send, Sync);
assert_impl_all!(Pairwise<Up>: Send, Sync);
assert_impl_all!(ElementAt<Up>: Send, Sync);
assert_impl_all!(ElementAtOr<Up>: Send, Sync);
assert_impl_all!(StartWith<Up, std::vec::IntoIter<u64>>: Send, Sync);
assert_impl_all!(DefaultIfEmpty<Up>: Send, Sync);
assert_impl_all!(MapAsync<Up, fn(u64) -> Fut>: Send, Sync);
assert_impl_all!(MapAsyncUnordered<Up, fn(u64) -> Fut>: Send, Sync);
assert_impl_all!(Then<Up, fn(u64) -> Fut>: Send, Sync);
assert_impl_all!(TryMapAsync<Up, fn(u64) -> Ready<Result<u64, Infallible>>>: Send, Sync);
assert_impl_all!(Tap<Up, OnNext<fn(&u64)>>: Send, Sync);
assert_impl_all!(Tap<Up, OnRequest<fn(u64)>>: Send, Sync);
assert_impl_all!(Tap<Up, OnCancel<fn()>>: Send, Sync);
assert_impl_all!(Tap<Up, OnComplete<fn()>>: Send, Sync);
assert_impl_all!(Tap<Up, OnError<fn(&spillway::Error<Infallible>)>>: Send, Sync);
assert_impl_all!(Tap<Up, Finally<fn(Termination)>>: Send, Sync);

// Backpressure strategies and batching.
assert_impl_all!(OnBackpressureBuffer<Up>: Send, Sync);
assert_impl_all!(OnBackpressureDrop<Up>: Send, Sync);
assert_impl_all!(OnBackpressureLatest<Up>: Send, Sync);
assert_impl_all!(OnBackpressureReduce<Up, Unary, fn(u64, u64) -> u64, u64>: Send, Sync);
assert_impl_all!(LimitRate<Up>: Send, Sync);
assert_impl_all!(PressureBuffer<Up>: Send, Sync);
assert_impl_all!(Chunks<Up>: Send, Sync);
assert_impl_all!(ChunksSliding<Up>: Send, Sync);
assert_impl_all!(ChunksByKey<Up, fn(&u64) -> u64>: Send, Sync);
assert_impl_all!(ChunksTimeout<Up>: Send, Sync);
assert_impl_all!(ChunksWeighted<Up, fn(&u64) -> u64>: Send, Sync);
assert_impl_all!(BatchWhileBusy<Up>: Send, Sync);

// Windowing: the operators, and each window (a handle shared between threads).
assert_impl_all!(Window<Up>: Send, Sync);
assert_impl_all!(WindowTimeout<Up>: Send, Sync);
assert_impl_all!(UnicastWindow<u64, Infallible>: Send, Sync, Clone);
assert_impl_all!(GroupBy<Up, fn(&u64) -> u64>: Send, Sync);
assert_impl_all!(GroupedPublisher<u64, u64, Infallible>: Send, Sync, Clone);

// Rate control.
assert_impl_all!(SampleFirst<Up>: Send, Sync);
assert_impl_all!(Sample<Up>: Send, Sync);
assert_impl_all!(ThrottleLatest<Up>: Send, Sync);
assert_impl_all!(Audit<Up>: Send, Sync);
assert_impl_all!(Debounce<Up>: Send, Sync);
assert_impl_all!(RateLimit<Up>: Send, Sync);
assert_impl_all!(DelayElements<Up>: Send, Sync);
assert_impl_all!(AdaptiveRate<Up>: Send, Sync);

// Combination.
// `Merge` and `Concat` hold their sources as boxed `FnOnce + Send`: not `Sync`.
assert_impl_all!(Merge<u64, Infallible>: Send);
assert_impl_all!(Concat<u64, Infallible>: Send);
assert_impl_all!(Zip<Up, Up>: Send, Sync);
assert_impl_all!(CombineLatest<Up, Up, fn(&u64, &u64) -> u64>: Send, Sync);
assert_impl_all!(FlatMap<Up, fn(u64) -> Up>: Send, Sync);
assert_impl_all!(ConcatMap<Up, fn(u64) -> Up>: Send, Sync);
assert_impl_all!(SwitchMap<Up, fn(u64) -> Up>: Send, Sync);

// Errors and time.
assert_impl_all!(Timeout<Up>: Send, Sync);
assert_impl_all!(Retry<Up>: Send, Sync);
assert_impl_all!(RetryWhen<Up, fn(&spillway::Error<Infallible>) -> bool>: Send, Sync);
assert_impl_all!(RetryBackoff<Up>: Send, Sync);
assert_impl_all!(OnErrorResume<Up, fn(spillway::Error<Infallible>) -> Up>: Send, Sync);
assert_impl_all!(OnErrorReturn<Up, fn(spillway::Error<Infallible>) -> u64>: Send, Sync);
assert_impl_all!(MapError<Up, fn(Infallible) -> String>: Send, Sync);
assert_impl_all!(ErrInto<Up, String>: Send, Sync);

// Threads.
assert_impl_all!(PublishOn<Up, Sched>: Send, Sync);
assert_impl_all!(SubscribeOn<Up, Sched>: Send, Sync);

// Sharing.
assert_impl_all!(Publish<Up>: Send, Sync);
assert_impl_all!(RefCount<Up>: Send, Sync);
assert_impl_all!(Connection: Send, Sync);
assert_impl_all!(MulticastProcessor<u64, Infallible>: Send, Sync);

// Resilience.
assert_impl_all!(WithinBudget<Up>: Send, Sync);
assert_impl_all!(CircuitBreakerOp<Up>: Send, Sync);
assert_impl_all!(LoadShed<Up, fn(&u64) -> u64>: Send, Sync);

// Observability.
assert_impl_all!(Named<Up>: Send, Sync);
assert_impl_all!(PipelineHandle: Send, Sync, Clone);
assert_impl_all!(StageReport: Send, Sync);
assert_impl_all!(StageState: Send, Sync, Copy);

// Handles, configuration and statistics, shared between threads.
assert_impl_all!(Budget: Send, Sync);
assert_impl_all!(BudgetStats: Send, Sync);
assert_impl_all!(CircuitBreaker: Send, Sync);
assert_impl_all!(BreakerConfig: Send, Sync);
assert_impl_all!(BreakerStats: Send, Sync);
assert_impl_all!(FlowStats: Send, Sync);
assert_impl_all!(FlowSnapshot: Send, Sync);
assert_impl_all!(PressureGauge: Send, Sync);
assert_impl_all!(PressureLevels: Send, Sync);
assert_impl_all!(PressureChange: Send, Sync);
assert_impl_all!(RateHandle: Send, Sync);
assert_impl_all!(AdaptiveRateConfig: Send, Sync);
assert_impl_all!(TokenBucket: Send, Sync);
assert_impl_all!(Backoff: Send, Sync);
assert_impl_all!(DropReason: Send, Sync);
assert_impl_all!(TryEmitError<u64>: Send, Sync);

// Plain configuration enums.
assert_impl_all!(BufferOverflow: Send, Sync);
assert_impl_all!(MulticastOverflow: Send, Sync);
assert_impl_all!(RateLimitMode: Send, Sync);
assert_impl_all!(BreakerMode: Send, Sync);
assert_impl_all!(BreakerState: Send, Sync);
assert_impl_all!(Pressure: Send, Sync);
assert_impl_all!(Termination: Send, Sync);
