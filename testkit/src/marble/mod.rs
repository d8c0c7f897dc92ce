//! Marble diagrams in, marble diagrams out.
//!
//! * **In**: [`cold`] and [`hot`] build publishers from RxJS-style marbles (syntax in
//!   [`Marble`]; unlike RxJS a group `(ab)` takes one frame). One frame is
//!   [`DEFAULT_FRAME`] = 1ms, as in RxJS's `run` mode, so `a 999ms b` puts `b` at 1s;
//!   [`Marble::parse_with_frame`] and [`Scenario::frame`] change it.
//! * **Out**: [`Diagram`] draws any recording (a
//!   [`TestSubscriberHandle`](crate::TestSubscriberHandle), a
//!   [`VerifyReport`](crate::VerifyReport)) as aligned lanes: the items received, the
//!   demand (`r2`, `r∞`, `x` for cancel) and the drops. [`run`] and [`Scenario`] run a
//!   publisher on virtual time against a request plan and return the diagram, ready for an
//!   `insta` snapshot; [`assert_items`] compares what was received with an expected marble
//!   and prints both when they differ.
//!
//! # Demand
//! Marble sources are compliant publishers: nothing is sent beyond demand. What happens
//! to an item due without demand is a [`NoDemand`] policy: a [`Cold`] source buffers by
//! default (the diagram then shows each item at the frame it was *delivered*), a [`Hot`]
//! source drops by default (recorded in a drop lane with [`Hot::record_drops`]); both can
//! fail with `Error::Overflow` instead, as `interval` does.
//!
//! # Example
//! ```
//! use std::time::Duration;
//! use spillway_testkit::marble;
//!
//! // `range` requested two at a time, every 3 frames.
//! let d = marble::run(|_vs| spillway_core::prelude::range(0, 5), "r2--r2--r2", Duration::from_millis(10));
//! assert_eq!(d.to_string(), "\
//! items   (01)--(23)--(4|)
//! demand  r2  --r2  --r2
//! frame   1ms
//! ");
//! ```
//!
//! Same instant, same order every run: at a given virtual instant the plan's requests and
//! cancels come before the source's signals due then.

mod assert;
mod erased;
mod parse;
mod render;
mod run;
mod source;
mod subscriptions;

use std::time::Duration;

pub use self::assert::{assert_items, check_items, Mismatch};
pub use self::erased::MarbleSource;
pub use self::parse::{Marble, ParseError, ParseErrorKind, PlanStep, Reading, RequestPlan};
pub use self::render::{Diagram, RenderOptions, DEFAULT_MAX_DASHES};
pub use self::run::{run, Scenario};
pub use self::source::{cold, cold_rxjs, hot, hot_rxjs, try_cold, try_hot, Cold, Hot, NoDemand};
pub use self::subscriptions::SubscriptionSpan;

/// The duration of one frame (`-`) unless set otherwise: 1ms, as RxJS's `run` mode.
///
/// ```
/// assert_eq!(spillway_testkit::marble::DEFAULT_FRAME, std::time::Duration::from_millis(1));
/// ```
pub const DEFAULT_FRAME: Duration = Duration::from_millis(1);
