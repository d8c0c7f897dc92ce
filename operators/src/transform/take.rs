//! `take(n)`: the first `n` items, then complete and cancel upstream.

use spillway_core::{Publisher, Subscriber};

use crate::engine::step::{self, Logic, RequestPolicy, Step};

/// Publisher for the [`take`](crate::OperatorExt::take) method.
#[derive(Clone, Debug)]
#[must_use = "publishers do nothing until subscribed"]
pub struct Take<P> {
    upstream: P,
    n: u64,
}

impl<P> Take<P> {
    pub(crate) fn new(upstream: P, n: u64) -> Self {
        Take { upstream, n }
    }
}

impl<P: Publisher> Publisher for Take<P> {
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        step::subscribe(
            self.upstream,
            subscriber,
            TakeLogic {
                left: self.n,
                cap: self.n,
            },
        );
    }
}

struct TakeLogic {
    cap: u64,
    left: u64,
}

impl<T: Send + 'static, E> Logic<T, E> for TakeLogic {
    type Out = T;
    const STAGE: &'static str = "take";

    fn policy(&self) -> RequestPolicy {
        RequestPolicy::Cap(self.cap)
    }

    fn done_at_start(&self) -> bool {
        self.cap == 0
    }

    fn next(&mut self, item: T) -> Step<T> {
        // A non-compliant upstream sending more than requested: the extra is never seen,
        // as the n-th item completes the stage.
        self.left -= 1;
        if self.left == 0 {
            Step::Last(item)
        } else {
            Step::Emit(item)
        }
    }
}
