//! `then`: run an async function per item, one at a time.

use std::fmt;
use std::future::Future;

use spillway_core::{Publisher, Stage, Subscriber};

use crate::map_async::{self, Limits};
use crate::support::StageName;

const STAGE: &str = "then";

/// Publisher for the [`then`](crate::OperatorExt::then) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct Then<P, F> {
    upstream: P,
    f: F,
    abort_on_error: bool,
}

impl<P, F> Then<P, F> {
    pub(crate) fn new(upstream: P, f: F) -> Self {
        Then {
            upstream,
            f,
            abort_on_error: false,
        }
    }

    /// On an upstream error, drops the future in flight and sends the error at once. By
    /// default it finishes first and its result goes out ahead of the error, as
    /// [`MapAsync::abort_on_error`](crate::MapAsync::abort_on_error) shows.
    pub fn abort_on_error(mut self) -> Self {
        self.abort_on_error = true;
        self
    }
}

struct Named;
impl StageName for Named {
    const STAGE: Stage = STAGE;
}

impl<P, F, Fut> Publisher for Then<P, F>
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
        let mut limits = Limits::new(STAGE, 1).expect("1 is a valid concurrency");
        limits.abort_on_error = self.abort_on_error;
        map_async::subscribe::<_, _, _, _, Named, _>(
            self.upstream,
            self.f,
            limits,
            true,
            Ok,
            subscriber,
        );
    }
}

impl<P: fmt::Debug, F> fmt::Debug for Then<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Then")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}
