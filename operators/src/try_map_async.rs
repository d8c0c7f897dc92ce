//! `try_map_async`: `map_async` with fallible futures; the first `Err` fails the stage.

use std::fmt;
use std::future::Future;

use spillway_core::{ConfigError, Error, Publisher, Stage, Subscriber};

use crate::map_async::{self, Limits};
use crate::support::StageName;

const STAGE: &str = "try_map_async";

/// Publisher for the [`try_map_async`](crate::OperatorExt::try_map_async) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct TryMapAsync<P, F> {
    upstream: P,
    f: F,
    limits: Limits,
}

impl<P, F> TryMapAsync<P, F> {
    pub(crate) fn new(upstream: P, concurrency: usize, f: F) -> Result<Self, ConfigError> {
        Ok(TryMapAsync {
            upstream,
            f,
            limits: Limits::new(STAGE, concurrency)?,
        })
    }

    /// Sets how many finished results may wait for downstream demand (default: the
    /// concurrency), as [`MapAsync::max_queued`](crate::MapAsync::max_queued).
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

impl<P, F, Fut, R> Publisher for TryMapAsync<P, F>
where
    P: Publisher,
    F: FnMut(P::Item) -> Fut + Send + 'static,
    Fut: Future<Output = Result<R, P::Error>> + Send + 'static,
    R: Send + 'static,
{
    type Item = R;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = R, Error = P::Error>,
    {
        map_async::subscribe::<_, _, _, _, Named, _>(
            self.upstream,
            self.f,
            self.limits,
            true,
            |out: Result<R, P::Error>| out.map_err(Error::User),
            subscriber,
        );
    }
}

impl<P: fmt::Debug, F> fmt::Debug for TryMapAsync<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryMapAsync")
            .field("upstream", &self.upstream)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}
