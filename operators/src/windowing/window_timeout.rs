//! `window_timeout`: windows of up to `size` items, each closed early when `timeout` has
//! passed since its first item.

use std::fmt;
use std::time::Duration;

use spillway_core::{ConfigError, Publisher, Subscriber};

use crate::engine::unicast::{Kind, UnicastWindow};
use crate::engine::windowing::{self, Setup};
use crate::stats::FlowStats;

const STAGE: &str = "window_timeout";

crate::stage_name!(Marker, STAGE);

/// Publisher for the [`window_timeout`](crate::OperatorExt::window_timeout) method.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use spillway::prelude::*;
/// # futures::executor::block_on(async {
/// let op = range(0, 5).window_timeout(2, Duration::from_secs(60))?;
/// let stats = op.stats();
/// let sizes = op.concat_map(|w| w.reduce(|a, x| a.max(x))).collect().await.unwrap();
/// assert_eq!(sizes, vec![1, 3, 4]);
/// assert!(stats.snapshot().is_balanced());
/// # Ok::<(), spillway::ConfigError>(())
/// # }).unwrap();
/// ```
#[must_use = "publishers do nothing until subscribed"]
pub struct WindowTimeout<P> {
    upstream: P,
    size: usize,
    timeout: Duration,
    stats: FlowStats,
}

impl<P> WindowTimeout<P> {
    pub(crate) fn new(upstream: P, size: usize, timeout: Duration) -> Result<Self, ConfigError> {
        if size == 0 {
            return Err(ConfigError::new(
                STAGE,
                "the window size must be at least 1",
            ));
        }
        if timeout.is_zero() {
            return Err(ConfigError::new(
                STAGE,
                "the timeout must be greater than zero",
            ));
        }
        Ok(WindowTimeout {
            upstream,
            size,
            timeout,
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
    /// let op = range(0, 4).window_timeout(2, std::time::Duration::from_secs(60))?;
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

impl<P> Publisher for WindowTimeout<P>
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
            kind: Kind::WindowTimeout,
            size: self.size,
            timeout: Some(self.timeout),
            stats: self.stats,
        };
        windowing::subscribe::<Marker, _, _>(self.upstream, setup, subscriber);
    }
}

impl<P: fmt::Debug> fmt::Debug for WindowTimeout<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WindowTimeout")
            .field("upstream", &self.upstream)
            .field("size", &self.size)
            .field("timeout", &self.timeout)
            .field("stats", &self.stats)
            .finish()
    }
}
