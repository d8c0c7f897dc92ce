//! The machinery the operators share, so that an operator file holds only its own logic.
//!
//! - [`support`]: poison-free locking, the upstream and drain slots, the dropped-item
//!   reporter.
//! - [`step`]: the synchronous item-by-item stages (`filter_map`, `take`, `scan`, ...) as
//!   small `Logic` types.
//! - [`queue`]: the two-sided queueing stage (an upstream side that receives, a drain
//!   that delivers) and its lifecycle; [`bounded`] (the buffers with overflow policies and
//!   watermarks), [`gate`] (drop, latest, reduce), `load_shed`, `within_budget`,
//!   `adaptive_rate` and `take_last` are built on it.
//! - [`batching`] and [`timed`]: the engines of the batching and the time-based operators;
//!   [`async_map`]: of the async stages (`map_async`, `then`, ...).
//! - [`windowing`]: the engine of `window` and `window_timeout`; [`unicast`]: the
//!   inner publishers (windows, groups) the windowing operators hand out.
//! - [`fan_in`], [`sequence`] and [`arbiter`]: several inputs into one (merge, zip,
//!   flat_map), one after another (concat, retry), and the demand hand-over between them.
//!
//! Demand arithmetic is not here: it lives in `spillway_core::demand`, and the one
//! work-in-progress loop in `spillway_core::wip`.
//!
//! # Which file to copy for a new operator
//! - Item by item, on the caller's thread (a filter, a counter, a cap): a [`step`]
//!   `Logic`, as `transform/skip_while.rs` (one predicate) or `transform/take.rs` (a cap
//!   on demand). Not `map.rs` or `filter.rs`: they are hand-fused for speed.
//! - Holding items between a producer and a slower consumer: a [`queue`] stage, as
//!   `transform/take_last.rs` (the smallest: keep, then release at the end) or
//!   `backpressure/load_shed.rs` (user code per item, drops through `on_drop`).
//! - Decided by a clock (windows, delays, rates): a [`timed`] `Timing`, as
//!   `time/audit.rs` (a window and a timer) or `time/delay_elements.rs` (lossless, with
//!   its own requests).
//! - Several inputs: a [`fan_in`] `LanePolicy`, as `combine/merge.rs`.
//! - Steered by a second publisher's first signal: [`until`], as
//!   `transform/skip_until.rs`.

pub(crate) mod arbiter;
pub(crate) mod async_map;
pub(crate) mod batching;
pub(crate) mod bounded;
pub(crate) mod fan_in;
pub(crate) mod gate;
pub(crate) mod queue;
pub(crate) mod sequence;
pub(crate) mod step;
pub(crate) mod support;
pub(crate) mod timed;
pub(crate) mod unicast;
pub(crate) mod until;
pub(crate) mod windowing;

use spillway_core::Stage;

/// The stage name of an operator, as a type: an engine's drain source has its name as a
/// constant (`Source::STAGE`), so an engine shared by several operators is generic over a
/// marker type per operator. Declare one with [`stage_name!`](crate::stage_name).
pub(crate) trait StageName: Send + Sync + 'static {
    const STAGE: Stage;
}

/// Declares a marker type naming an operator's stage: `stage_name!(Named, "chunks");`.
#[macro_export]
#[doc(hidden)]
macro_rules! stage_name {
    ($marker:ident, $name:expr) => {
        struct $marker;
        impl $crate::engine::StageName for $marker {
            const STAGE: spillway_core::Stage = $name;
        }
    };
}

/// The `on_drop(f)` and `stats()` builders of a stage whose publisher keeps
/// `stats: FlowStats` and `on_drop: Option<OnDrop<item>>`, with the operator's own docs
/// (what it drops, and when, differs from one operator to the next):
///
/// ```ignore
/// impl<P: Publisher> Chunks<P> {
///     crate::drop_builders! {
///         item: P::Item,
///         /// Calls `f` with every dropped item ...
///         on_drop,
///         /// The live statistics of this stage ...
///         stats,
///     }
/// }
/// ```
#[macro_export]
#[doc(hidden)]
macro_rules! drop_builders {
    (
        item: $item:ty,
        $(#[$drop_doc:meta])*
        on_drop,
        $(#[$stats_doc:meta])*
        stats $(,)?
    ) => {
        $(#[$drop_doc])*
        pub fn on_drop<D>(mut self, f: D) -> Self
        where
            D: Fn($item, $crate::DropReason) + Send + Sync + 'static,
        {
            self.on_drop = Some($crate::engine::support::on_drop(f));
            self
        }

        $(#[$stats_doc])*
        pub fn stats(&self) -> $crate::FlowStats {
            self.stats.clone()
        }
    };
}
