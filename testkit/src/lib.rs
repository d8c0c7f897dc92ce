//! Spillway's test kit: deterministic, fast tests of pipelines.
//!
//! * [`VirtualScheduler`]: a clock that moves only when the test moves it.
//! * [`TestSubscriber`]: records every signal with its virtual time.
//! * [`TestPublisher`]: a publisher driven by the test, recording requests and cancels.
//! * [`StepVerifier`]: a step-by-step expectation DSL in the spirit of Reactor's.
//! * [`marble`]: marble diagrams in, marble diagrams out.
//! * [`tck`]: the Reactive Streams conformance suite, for any publisher.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod marble;
mod signal;
mod step_verifier;
pub mod tck;
mod test_publisher;
mod test_subscriber;
mod virtual_scheduler;

pub use crate::signal::*;
pub use crate::step_verifier::*;
pub use crate::test_publisher::*;
pub use crate::test_subscriber::*;
pub use crate::virtual_scheduler::*;
