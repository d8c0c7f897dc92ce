//! `window`: consecutive windows of `size` items, each a publisher of its items.

use std::fmt;

use spillway_core::{ConfigError, Publisher, Subscriber};

use crate::engine::unicast::{Kind, UnicastWindow};
use crate::engine::windowing::{self, Setup};
use crate::stats::FlowStats;

const STAGE: &str = "window";

crate::stage_name!(Marker, STAGE);

/// Publisher for the [`window`](crate::OperatorExt::window) method.
///
/// # Examples
/// ```
/// use spillway::prelude::*;
/// # futures::executor::block_on(async {
/// let op = range(0, 4).window(2)?;
/// let stats = op.stats();
/// let sums = op.concat_map(|w| w.reduce(|a, x| a + x)).collect().await.unwrap();
/// assert_eq!(sums, vec![1, 5]);
/// assert_eq!(stats.snapshot().emitted, 4);
/// # Ok::<(), spillway::ConfigError>(())
/// # }).unwrap();
/// ```
#[must_use = "publishers do nothing until subscribed"]
pub struct Window<P> {
    upstream: P,
    size: usize,
    stats: FlowStats,
}

impl<P> Window<P> {
    pub(crate) fn new(upstream: P, size: usize) -> Result<Self, ConfigError> {
        if size == 0 {
            return Err(ConfigError::new(
                STAGE,
                "the window size must be at least 1",
            ));
        }
        Ok(Window {
            upstream,
            size,
            stats: FlowStats::new(size),
        })
    }

    /// The live statistics of this stage, in items (shared by all its subscriptions):
    /// `received` from upstream, `emitted` by the windows to their subscribers,
    /// `buffered` held in windows, `dropped` (as `Discarded`) by cancelled windows.
    ///
    /// ```
    /// use spillway::prelude::*;
    /// # futures::executor::block_on(async {
    /// let op = range(0, 4).window(2)?;
    /// let stats = op.stats();
    /// // Windows dropped unsubscribed are cancelled: their items are discarded.
    /// assert_eq!(op.collect().await.unwrap().len(), 2);
    /// let s = stats.snapshot();
    /// assert_eq!((s.received, s.dropped()), (4, 4));
    /// # Ok::<(), spillway::ConfigError>(())
    /// # }).unwrap();
    /// ```
    pub fn stats(&self) -> FlowStats {
        self.stats.clone()
    }
}

impl<P> Publisher for Window<P>
where
    P: Publisher,
    P::Error: Clone,
{
    type Item = UnicastWindow<P::Item, P::Error>;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = Self::Item, Error = P::Error>,
    {
        let setup = Setup {
            kind: Kind::Window,
            size: self.size,
            timeout: None,
            stats: self.stats,
        };
        windowing::subscribe::<Marker, _, _>(self.upstream, setup, subscriber);
    }
}

impl<P: fmt::Debug> fmt::Debug for Window<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Window")
            .field("upstream", &self.upstream)
            .field("size", &self.size)
            .field("stats", &self.stats)
            .finish()
    }
}
