//! `distinct_by_key` and `distinct_by_key_bounded`: drop an item whose key was seen
//! before (every key, or the last `capacity` distinct keys).

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::hash::Hash;

use spillway_core::{ConfigError, Publisher, Subscriber};

use crate::engine::step::{self, Logic, Step};

const STAGE: &str = "distinct";

/// Publisher for the [`distinct_by_key`](crate::OperatorExt::distinct_by_key) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct DistinctByKey<P, F> {
    upstream: P,
    key: F,
}

impl<P, F> DistinctByKey<P, F> {
    pub(crate) fn new(upstream: P, key: F) -> Self {
        DistinctByKey { upstream, key }
    }
}

impl<P, F, K> Publisher for DistinctByKey<P, F>
where
    P: Publisher,
    F: FnMut(&P::Item) -> K + Send + 'static,
    K: Eq + Hash + Send + 'static,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        let logic = DistinctLogic {
            key: self.key,
            seen: HashSet::new(),
        };
        step::subscribe(self.upstream, subscriber, logic);
    }
}

/// Publisher for the
/// [`distinct_by_key_bounded`](crate::OperatorExt::distinct_by_key_bounded) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct DistinctByKeyBounded<P, F> {
    upstream: P,
    key: F,
    capacity: usize,
}

impl<P, F> DistinctByKeyBounded<P, F> {
    pub(crate) fn new(upstream: P, key: F, capacity: usize) -> Result<Self, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::new(
                STAGE,
                "the number of keys remembered must be at least 1",
            ));
        }
        Ok(DistinctByKeyBounded {
            upstream,
            key,
            capacity,
        })
    }
}

impl<P, F, K> Publisher for DistinctByKeyBounded<P, F>
where
    P: Publisher,
    F: FnMut(&P::Item) -> K + Send + 'static,
    K: Eq + Hash + Clone + Send + 'static,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        let logic = DistinctLogic {
            key: self.key,
            seen: Window {
                // Not `with_capacity(capacity)`: a large bound is reserved only as keys come.
                set: HashSet::new(),
                order: VecDeque::new(),
                capacity: self.capacity,
            },
        };
        step::subscribe(self.upstream, subscriber, logic);
    }
}

/// The keys remembered.
trait Seen<K>: Send + 'static {
    /// Remembers `key`; false if it was remembered already.
    fn insert(&mut self, key: K) -> bool;
}

impl<K: Eq + Hash + Send + 'static> Seen<K> for HashSet<K> {
    fn insert(&mut self, key: K) -> bool {
        HashSet::insert(self, key)
    }
}

/// The last `capacity` distinct keys, the oldest (first seen) forgotten first.
struct Window<K> {
    set: HashSet<K>,
    order: VecDeque<K>,
    capacity: usize,
}

impl<K: Eq + Hash + Clone + Send + 'static> Seen<K> for Window<K> {
    fn insert(&mut self, key: K) -> bool {
        if self.set.contains(&key) {
            return false; // a repeat does not refresh the key's age
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.set.remove(&oldest);
            }
        }
        self.order.push_back(key.clone());
        self.set.insert(key);
        true
    }
}

struct DistinctLogic<F, M> {
    key: F,
    seen: M,
}

impl<T, E, F, K, M> Logic<T, E> for DistinctLogic<F, M>
where
    T: Send + 'static,
    F: FnMut(&T) -> K + Send + 'static,
    M: Seen<K>,
{
    type Out = T;
    const STAGE: &'static str = STAGE;

    fn next(&mut self, item: T) -> Step<T> {
        if self.seen.insert((self.key)(&item)) {
            Step::Emit(item)
        } else {
            Step::Skip
        }
    }
}

impl<P: fmt::Debug, F> fmt::Debug for DistinctByKey<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DistinctByKey")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

impl<P: fmt::Debug, F> fmt::Debug for DistinctByKeyBounded<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DistinctByKeyBounded")
            .field("upstream", &self.upstream)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}
