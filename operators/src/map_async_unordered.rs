//! `map_async_unordered`: run an async function per item, `concurrency` at a time,
//! results emitted as they finish.

use std::fmt;
use std::future::Future;

use spillway_core::{ConfigError, Publisher, Stage, Subscriber};

use crate::map_async::{self, Limits};
use crate::support::StageName;

const STAGE: &str = "map_async_unordered";

/// Publisher for the [`map_async_unordered`](crate::OperatorExt::map_async_unordered)
/// method.
#[must_use = "publishers do nothing until subscribed"]
pub struct MapAsyncUnordered<P, F> {
    upstream: P,
    f: F,
    limits: Limits,
}

impl<P, F> MapAsyncUnordered<P, F> {
    pub(crate) fn new(upstream: P, concurrency: usize, f: F) -> Result<Self, ConfigError> {
        Ok(MapAsyncUnordered {
            upstream,
            f,
            limits: Limits::new(STAGE, concurrency)?,
        })
    }

    /// Sets how many finished results may wait for downstream demand (default: the
    /// concurrency). `0` is allowed: finished results then occupy a concurrency slot until
    /// they are emitted.
    pub fn max_queued(mut self, queue: usize) -> Self {
        self.limits.queue = queue;
        self
    }
    /// On an upstream error, drops the futures in flight and sends the error at once.
    /// By default they finish first and their results go out ahead of the error, as
    /// [`MapAsync::abort_on_error`](crate::MapAsync::abort_on_error) shows.
    pub fn abort_on_error(mut self) -> Self {
        self.limits.abort_on_error = true;
        self
    }
}

struct Named;
impl StageName for Named {
    const STAGE: Stage = STAGE;
}

impl<P, F, Fut> Publisher for MapAsyncUnordered<P, F>
where
    P: Publisher,
    F: FnMut(P::Item) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    type Item = Fut::Output;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = Fut::Output, Error = P::Error>,
    {
        map_async::subscribe::<_, _, _, _, Named, _>(
            self.upstream,
            self.f,
            self.limits,
            false,
            Ok,
            subscriber,
        );
    }
}

impl<P: fmt::Debug, F> fmt::Debug for MapAsyncUnordered<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapAsyncUnordered")
            .field("upstream", &self.upstream)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}
