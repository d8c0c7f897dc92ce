//! `on_backpressure_drop`: drop the items downstream has not asked for.

use std::fmt;

use spillway_core::{Publisher, Subscriber};

use crate::engine::gate::{self, GatePolicy, Uncovered};
use crate::stats::{FlowStats, OnDrop};

crate::stage_name!(Named, "on_backpressure_drop");

/// Publisher for the [`on_backpressure_drop`](crate::OperatorExt::on_backpressure_drop)
/// method.
#[must_use = "publishers do nothing until subscribed"]
pub struct OnBackpressureDrop<P: Publisher> {
    upstream: P,
    stats: FlowStats,
    on_drop: Option<OnDrop<P::Item>>,
}

impl<P: Publisher> OnBackpressureDrop<P> {
    pub(crate) fn new(upstream: P) -> Self {
        OnBackpressureDrop {
            upstream,
            stats: FlowStats::new(0),
            on_drop: None,
        }
    }

    crate::drop_builders! {
        item: P::Item,
        /// Calls `f` with every dropped item and the reason, on the thread that dropped it.
        /// A panic in `f` never unwinds into the caller: the stage cancels upstream and fails
        /// with [`Error::Panicked`](spillway_core::Error::Panicked), unless it was ending
        /// already (see [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
        on_drop,
        /// The live statistics of this stage (shared by all its subscriptions).
        stats,
    }
}

/// Forwards covered items, rejects the others.
struct DropPolicy<T>(std::marker::PhantomData<fn(T) -> T>);

impl<T: Send + 'static> GatePolicy for DropPolicy<T> {
    type In = T;
    type Out = T;
    fn covered(&mut self, item: T) -> T {
        item
    }
    fn uncovered(&mut self, pending: Option<T>, item: T) -> Uncovered<T> {
        debug_assert!(pending.is_none(), "the drop policy never holds an item");
        Uncovered::Reject(item)
    }
}

impl<P: Publisher> Publisher for OnBackpressureDrop<P> {
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        gate::subscribe::<_, _, Named, _>(
            self.upstream,
            subscriber,
            DropPolicy(std::marker::PhantomData),
            self.stats,
            self.on_drop,
        );
    }
}

impl<P: Publisher + fmt::Debug> fmt::Debug for OnBackpressureDrop<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnBackpressureDrop")
            .field("upstream", &self.upstream)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
