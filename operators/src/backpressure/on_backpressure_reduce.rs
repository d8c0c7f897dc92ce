//! `on_backpressure_reduce`: merge the items downstream has not asked for yet into one.

use std::fmt;
use std::marker::PhantomData;

use spillway_core::{Publisher, Subscriber};

use crate::engine::gate::{self, GatePolicy, Uncovered};
use crate::stats::{FlowStats, OnDrop};

crate::stage_name!(Named, "on_backpressure_reduce");

/// Publisher for the [`on_backpressure_reduce`](crate::OperatorExt::on_backpressure_reduce)
/// and [`on_backpressure_reduce_with`](crate::OperatorExt::on_backpressure_reduce_with)
/// methods.
#[must_use = "publishers do nothing until subscribed"]
pub struct OnBackpressureReduce<P, S, F, A> {
    upstream: P,
    seed: S,
    reduce: F,
    stats: FlowStats,
    on_drop: Option<OnDrop<A>>,
}

impl<P, S, F, A> OnBackpressureReduce<P, S, F, A>
where
    P: Publisher,
    S: FnMut(P::Item) -> A + Send + 'static,
    F: FnMut(A, P::Item) -> A + Send + 'static,
    A: Send + 'static,
{
    pub(crate) fn new(upstream: P, seed: S, reduce: F) -> Self {
        OnBackpressureReduce {
            upstream,
            seed,
            reduce,
            stats: FlowStats::new(1),
            on_drop: None,
        }
    }

    crate::drop_builders! {
        item: A,
        /// Calls `f` with every dropped item and the reason, on the thread that dropped it.
        /// Nothing is dropped while the pipeline runs: only a held item at cancellation or
        /// error, and late items after a terminal signal ([`DropReason::Discarded`](crate::DropReason::Discarded)).
        /// A panic in `f` never unwinds into the caller; upstream's error, or the cancel, that
        /// caused the drop is what downstream sees (see
        /// [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
        on_drop,
        /// The live statistics of this stage (shared by all its subscriptions).
        stats,
    }
}

/// Seeds covered items, merges uncovered ones into the pending item.
struct ReducePolicy<T, S, F, A> {
    seed: S,
    reduce: F,
    _types: PhantomData<fn(T) -> A>,
}

impl<T, S, F, A> GatePolicy for ReducePolicy<T, S, F, A>
where
    T: Send + 'static,
    A: Send + 'static,
    S: FnMut(T) -> A + Send + 'static,
    F: FnMut(A, T) -> A + Send + 'static,
{
    type In = T;
    type Out = A;
    fn covered(&mut self, item: T) -> A {
        (self.seed)(item)
    }
    fn uncovered(&mut self, pending: Option<A>, item: T) -> Uncovered<A> {
        match pending {
            Some(acc) => Uncovered::Merged((self.reduce)(acc, item)),
            None => Uncovered::Keep((self.seed)(item)),
        }
    }
}

impl<P, S, F, A> Publisher for OnBackpressureReduce<P, S, F, A>
where
    P: Publisher,
    S: FnMut(P::Item) -> A + Send + 'static,
    F: FnMut(A, P::Item) -> A + Send + 'static,
    A: Send + 'static,
{
    type Item = A;
    type Error = P::Error;

    fn subscribe<Sub>(self, subscriber: Sub)
    where
        Sub: Subscriber<Item = A, Error = P::Error>,
    {
        let policy = ReducePolicy {
            seed: self.seed,
            reduce: self.reduce,
            _types: PhantomData,
        };
        gate::subscribe::<_, _, Named, _>(
            self.upstream,
            subscriber,
            policy,
            self.stats,
            self.on_drop,
        );
    }
}

impl<P: fmt::Debug, S, F, A> fmt::Debug for OnBackpressureReduce<P, S, F, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnBackpressureReduce")
            .field("upstream", &self.upstream)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
