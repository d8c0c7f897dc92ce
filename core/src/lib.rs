//! The Spillway protocol: [`Publisher`], [`Subscriber`] and [`Subscription`] with
//! demand-based backpressure, following the Reactive Streams rules; the sources and sinks
//! that start and end a pipeline; the [`Scheduler`] through which all time flows; and
//! bridges to and from `futures::Stream`.
//!
//! Most users depend on the `spillway` facade crate instead, which re-exports all of this
//! together with the operators.
//!
//! # The protocol in one example
//! ```
//! use spillway_core::prelude::*;
//! # futures::executor::block_on(async {
//! // Nothing is produced until the consumer asks: `into_stream(4)` requests 4 items,
//! // then 3 more each time 3 were consumed.
//! use futures::StreamExt;
//! let firsts: Vec<u64> = range(0, u64::MAX).into_stream(4).take(5).map(Result::unwrap).collect().await;
//! assert_eq!(firsts, vec![0, 1, 2, 3, 4]);
//! # });
//! ```
//!
//! # Panics in user code
//! A panic inside a closure that Spillway calls (an iterator or generator of a source, a
//! sink callback, an operator's function) does not unwind through the pipeline: the stage
//! cancels its upstream and sends [`Error::Panicked`] downstream, naming itself. A panic
//! inside a hand-written [`Subscriber`] (which breaks rule 2.13) cancels its subscription,
//! releases the subscriber and is re-raised to whoever called `request` or `subscribe`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![doc(test(attr(deny(warnings))))]

mod config;
mod context;
pub mod coop;
pub mod demand;
pub mod drain;
pub mod driver;
mod erased;
mod error;
pub mod handoff;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "io")]
pub mod io;
mod publisher;
mod scheduler;
mod sink;
mod source;
mod subscriber;
mod subscription;
mod sync;
pub mod upstream;
pub mod wip;

pub use crate::config::ConfigError;
pub use crate::context::Context;
pub use crate::demand::{AtomicDemand, Demand};
pub use crate::driver::{BoxTask, Spawner};
pub use crate::erased::{BoxPublisher, Either, LocalBoxPublisher};
pub use crate::error::{Error, Stage};
pub use crate::publisher::{Processor, Publisher, Scalar};
#[cfg(feature = "tokio")]
pub use crate::scheduler::TokioScheduler;
pub use crate::scheduler::{
    default_scheduler, Scheduler, SchedulerExt, Task, TaskHandle, ThreadScheduler, Worker,
};
pub use crate::sink::{
    Collect, Count, Disposable, FnSubscriber, Fold, FoldStep, ForEach, ForEachAsync, ForEachStep,
    IntoStream, Last, PublisherExt,
};
pub use crate::source::*;
pub use crate::subscriber::Subscriber;
pub use crate::subscription::{NoopSubscription, SharedSubscription, Subscription};

/// The sources, sinks and traits most pipelines need: `use spillway_core::prelude::*;`.
pub mod prelude {
    pub use crate::sink::PublisherExt;
    pub use crate::source::{
        create, defer, empty, error, from_iter, from_stream, from_try_stream, generate, interval,
        just, never, range, try_generate, Emitter, OverflowStrategy,
    };
    pub use crate::{Publisher, Subscriber, Subscription};
}
