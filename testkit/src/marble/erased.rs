//! [`MarbleSource`]: a cold or a hot marble publisher behind one type.

use spillway_core::{Publisher, Subscriber};

use crate::marble::source::{Cold, Hot};
use crate::marble::SubscriptionSpan;
use crate::signal::Event;
use crate::VirtualScheduler;

/// A [`Cold`] or a [`Hot`] marble publisher behind one type, so that the inputs of one
/// test (some cold, some hot) can sit in one collection and go to an n-ary operator
/// (`merge_all`, `zip_all`, `combine_latest_all`) while each keeps its subscription log.
/// Clones share the log, as [`Cold`]'s and [`Hot`]'s do.
///
/// ```
/// use std::time::Duration;
/// use spillway_core::prelude::*;
/// use spillway_testkit::marble::{self, MarbleSource};
/// use spillway_testkit::{TestSubscriber, VirtualScheduler};
///
/// let vs = VirtualScheduler::new();
/// let v = [('a', 1), ('b', 2), ('c', 3)];
/// let inputs: Vec<MarbleSource<u32, ()>> = vec![
///     marble::cold("-a--|", &v, None).into(),
///     marble::hot("^-b-c|", &v, None, vs.clone()).into(),
/// ];
/// let (sub, h) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
/// inputs[0].clone().subscribe(sub);
/// vs.advance_by(Duration::from_millis(10));
/// h.assert_items(&[1]);
/// inputs[0].assert_subscriptions(&vs, &["^---!"]);
/// inputs[1].assert_subscriptions(&vs, &[]);
/// ```
pub enum MarbleSource<T, E> {
    /// A cold source: each subscription replays the timeline from its start.
    Cold(Cold<T, E>),
    /// A hot source: its timeline runs on the virtual clock whoever listens.
    Hot(Hot<T, E>),
}

impl<T: Clone + Send + 'static, E: Clone + Send + 'static> MarbleSource<T, E> {
    /// Every subscription so far (see [`Cold::subscriptions`]).
    pub fn subscriptions(&self, scheduler: &VirtualScheduler) -> Vec<SubscriptionSpan> {
        match self {
            MarbleSource::Cold(c) => c.subscriptions(scheduler),
            MarbleSource::Hot(h) => h.subscriptions(scheduler),
        }
    }

    /// Asserts every subscription so far against subscription marbles (see
    /// [`Cold::assert_subscriptions`]).
    #[track_caller]
    pub fn assert_subscriptions(&self, scheduler: &VirtualScheduler, expected: &[&str]) {
        match self {
            MarbleSource::Cold(c) => c.assert_subscriptions(scheduler, expected),
            MarbleSource::Hot(h) => h.assert_subscriptions(scheduler, expected),
        }
    }

    /// The parsed timeline.
    pub fn timeline(&self) -> &[Event<T, E>] {
        match self {
            MarbleSource::Cold(c) => c.timeline(),
            MarbleSource::Hot(h) => h.timeline(),
        }
    }

    /// Whether it is hot.
    pub fn is_hot(&self) -> bool {
        matches!(self, MarbleSource::Hot(_))
    }
}

impl<T, E> Clone for MarbleSource<T, E> {
    fn clone(&self) -> Self {
        match self {
            MarbleSource::Cold(c) => MarbleSource::Cold(c.clone()),
            MarbleSource::Hot(h) => MarbleSource::Hot(h.clone()),
        }
    }
}

impl<T, E> From<Cold<T, E>> for MarbleSource<T, E> {
    fn from(cold: Cold<T, E>) -> Self {
        MarbleSource::Cold(cold)
    }
}

impl<T, E> From<Hot<T, E>> for MarbleSource<T, E> {
    fn from(hot: Hot<T, E>) -> Self {
        MarbleSource::Hot(hot)
    }
}

impl<T, E> Publisher for MarbleSource<T, E>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    type Item = T;
    type Error = E;

    fn subscribe<S: Subscriber<Item = T, Error = E>>(self, subscriber: S) {
        match self {
            MarbleSource::Cold(c) => c.subscribe(subscriber),
            MarbleSource::Hot(h) => h.subscribe(subscriber),
        }
    }
}

impl<T: Clone + Send + 'static, E: Clone + Send + 'static> std::fmt::Debug for MarbleSource<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.is_hot() { "Hot" } else { "Cold" };
        f.debug_struct("MarbleSource")
            .field("kind", &kind)
            .field("events", &self.timeline().len())
            .finish()
    }
}
