//! `from_iter`: the items of an iterator.

use std::convert::Infallible;
use std::fmt;
use std::task::Context;

use crate::drain::{self, BatchContext, Pulled, Source};
use crate::{Publisher, Subscriber};

/// Publisher for [`from_iter`].
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct FromIter<I> {
    iter: I,
}

/// The items of `iter`, pulled only as requested. It completes once the iterator is
/// exhausted (at once, without a further request, when its `size_hint` says so). A panic
/// inside the iterator becomes [`Error::Panicked`](crate::Error::Panicked).
///
/// ```
/// use spillway_core::prelude::*;
/// # futures::executor::block_on(async {
/// let words = from_iter(vec!["a", "b"]).collect().await.unwrap();
/// assert_eq!(words, vec!["a", "b"]);
/// # });
/// ```
pub fn from_iter<I>(iter: I) -> FromIter<I::IntoIter>
where
    I: IntoIterator,
    I::IntoIter: Send + 'static,
    I::Item: Send + 'static,
{
    FromIter {
        iter: iter.into_iter(),
    }
}

struct IterSource<I>(I);

impl<I> Source for IterSource<I>
where
    I: Iterator + Send + 'static,
    I::Item: Send + 'static,
{
    type Item = I::Item;
    type Error = Infallible;
    const STAGE: &'static str = "from_iter";

    #[inline]
    fn pull(&mut self, _cx: &mut Context<'_>) -> Pulled<I::Item, Infallible> {
        match self.0.next() {
            Some(item) => Pulled::Item(item),
            None => Pulled::Complete,
        }
    }

    fn pull_batch<S>(&mut self, sink: &mut S, batch: &BatchContext) -> Option<u64>
    where
        S: Subscriber<Item = I::Item, Error = Infallible>,
    {
        if self.0.size_hint().1 == Some(0) {
            return None;
        }
        let iter = &mut self.0;
        let mut max_items = batch.max_items();
        if batch.counts_used() && batch.limit() >= 64 {
            // Offer no more than the demand, so the chain need not check it per item.
            max_items = max_items.min(batch.limit());
            batch.set_within_limit(true);
        }
        let mut taken = 0u64;
        let items = std::iter::from_fn(|| {
            if taken == max_items {
                return None;
            }
            let item = batch.run(Self::STAGE, || iter.next())?; // the iterator is user code
            taken += 1;
            Some(item)
        });
        let used = sink.on_next_batch(items, batch);
        // Nothing taken means the iterator is exhausted: let `pull` complete.
        (taken > 0).then_some(used)
    }

    fn poll_end(&mut self, _cx: &mut Context<'_>) -> Option<Pulled<I::Item, Infallible>> {
        (self.0.size_hint().1 == Some(0)).then_some(Pulled::Complete)
    }
}

impl<I> Publisher for FromIter<I>
where
    I: Iterator + Send + 'static,
    I::Item: Send + 'static,
{
    type Item = I::Item;
    type Error = Infallible;
    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = I::Item, Error = Infallible>,
    {
        drain::start(IterSource(self.iter), subscriber);
    }
}

impl<I> fmt::Debug for FromIter<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromIter").finish_non_exhaustive()
    }
}
