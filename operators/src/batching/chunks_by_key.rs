//! `chunks_by_key`: batches of consecutive items with the same key.

use std::fmt;

use spillway_core::{Publisher, Subscriber};

use crate::engine::batching::{self, Rule, Setup};
use crate::stats::FlowStats;

const STAGE: &str = "chunks_by_key";

crate::stage_name!(Marker, STAGE);

/// Publisher for the [`chunks_by_key`](crate::OperatorExt::chunks_by_key) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct ChunksByKey<P, F> {
    upstream: P,
    key: F,
}

impl<P, F> ChunksByKey<P, F> {
    pub(crate) fn new(upstream: P, key: F) -> Self {
        ChunksByKey { upstream, key }
    }
}

impl<P, F, K> Publisher for ChunksByKey<P, F>
where
    P: Publisher,
    F: FnMut(&P::Item) -> K + Send + 'static,
    K: PartialEq + Send + 'static,
{
    type Item = Vec<P::Item>;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = Vec<P::Item>, Error = P::Error>,
    {
        let mut key = self.key;
        let mut last: Option<K> = None;
        // The engine calls this once per item, in order, outside its lock and under
        // `catch_unwind` (the key selector and the key's `PartialEq` are user code): 1
        // marks an item whose key differs from the previous item's, which closes the
        // batch before it.
        let changed = move |item: &P::Item| {
            let k = key(item);
            let changed = last.as_ref().is_some_and(|l| *l != k);
            last = Some(k);
            u64::from(changed)
        };
        let setup = Setup {
            rule: Rule::KeyChange,
            weigh: Some(Box::new(changed)),
            clone: None,
            timeout: None,
            ticks: None,
            // Internal statistics (the stage report of `named`).
            stats: FlowStats::new(0),
            on_drop: None,
        };
        batching::subscribe::<Marker, _, _>(self.upstream, setup, subscriber);
    }
}

impl<P: fmt::Debug, F> fmt::Debug for ChunksByKey<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunksByKey")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}
