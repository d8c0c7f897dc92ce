//! `on_backpressure_latest`: keep only the latest item downstream has not asked for yet.

use std::fmt;
use std::marker::PhantomData;

use spillway_core::{Publisher, Subscriber};

use crate::engine::gate::{self, GatePolicy, Uncovered};
use crate::stats::{FlowStats, OnDrop};

crate::stage_name!(Named, "on_backpressure_latest");

/// Publisher for the [`on_backpressure_latest`](crate::OperatorExt::on_backpressure_latest)
/// method.
#[must_use = "publishers do nothing until subscribed"]
pub struct OnBackpressureLatest<P: Publisher> {
    upstream: P,
    stats: FlowStats,
    on_drop: Option<OnDrop<P::Item>>,
}

impl<P: Publisher> OnBackpressureLatest<P> {
    pub(crate) fn new(upstream: P) -> Self {
        OnBackpressureLatest {
            upstream,
            stats: FlowStats::new(1),
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

/// Keeps the newest uncovered item, superseding the previous one.
struct LatestPolicy<T>(PhantomData<fn(T) -> T>);

impl<T: Send + 'static> GatePolicy for LatestPolicy<T> {
    type In = T;
    type Out = T;
    fn covered(&mut self, item: T) -> T {
        item
    }
    fn uncovered(&mut self, pending: Option<T>, item: T) -> Uncovered<T> {
        match pending {
            Some(old) => Uncovered::Replace {
                keep: item,
                superseded: old,
            },
            None => Uncovered::Keep(item),
        }
    }
}

impl<P: Publisher> Publisher for OnBackpressureLatest<P> {
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        gate::subscribe::<_, _, Named, _>(
            self.upstream,
            subscriber,
            LatestPolicy(PhantomData),
            self.stats,
            self.on_drop,
        );
    }
}

impl<P: Publisher + fmt::Debug> fmt::Debug for OnBackpressureLatest<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnBackpressureLatest")
            .field("upstream", &self.upstream)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
