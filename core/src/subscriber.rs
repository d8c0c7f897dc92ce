//! The `Subscriber` trait: the receiving end of a pipeline.

use crate::drain::BatchContext;
use crate::{Context, Error, SharedSubscription};

/// Receives the signals of one subscription, strictly one at a time (rule 1.3):
/// `on_subscribe` once, then `on_next` at most as many times as requested, then at most
/// one of `on_error` / `on_complete`.
///
/// A subscriber asks for items through the subscription it receives in `on_subscribe`;
/// nothing is sent before it requests.
///
/// # Examples
/// ```
/// use spillway_core::{prelude::*, Error, SharedSubscription, Subscriber};
///
/// struct Sum { total: u64, sub: Option<SharedSubscription> }
/// impl Subscriber for Sum {
///     type Item = u64;
///     type Error = std::convert::Infallible;
///     fn on_subscribe(&mut self, s: SharedSubscription) {
///         s.request(1); // one at a time: the slowest consumer there is
///         self.sub = Some(s);
///     }
///     fn on_next(&mut self, item: u64) {
///         self.total += item;
///         self.sub.as_ref().unwrap().request(1); // re-entrant: no recursion, a drain loop runs
///     }
///     fn on_error(&mut self, _e: Error<Self::Error>) {}
///     fn on_complete(&mut self) { assert_eq!(self.total, 45); }
/// }
/// range(0, 10).subscribe(Sum { total: 0, sub: None });
/// ```
pub trait Subscriber: Send + 'static {
    /// The item type it accepts.
    type Item;
    /// The user error type of the pipeline it accepts.
    type Error;

    /// The first signal: the subscription through which to request items.
    fn on_subscribe(&mut self, subscription: SharedSubscription);
    /// One item; never more than requested.
    fn on_next(&mut self, item: Self::Item);

    /// Offers one item and returns whether it was *used*: `false` means the subscriber
    /// (a filtering stage, say) discarded it, and the unit of demand it would have used
    /// is still outstanding. Sources built on the [drain loop](crate::drain) call this
    /// instead of `on_next` and do not count discarded items against demand, so a filter
    /// needs no replacement `request(1)` per rejected item (Reactor's
    /// `ConditionalSubscriber`). The default delivers the item and returns `true`;
    /// operators forward it so that the saving reaches the source.
    #[inline]
    fn try_on_next(&mut self, item: Self::Item) -> bool {
        self.on_next(item);
        true
    }
    /// True if this subscriber, and everything downstream of it, can take items in
    /// batches through [`on_next_batch`](Self::on_next_batch): Spillway's synchronous
    /// stages (`map`, `filter`) and folding sinks (`fold`, `collect`, `count`, `last`,
    /// `for_each`) do, so a chain of them is *fused* into one tight loop. The default is
    /// false, and hand-written subscribers keep receiving one `on_next` at a time.
    ///
    /// A stage that accepts batches and passes them on hands its downstream at most one
    /// item per item it takes (a map, a filter; not a flat-map): that is what lets a
    /// source promise, with [`BatchContext::within_limit`], that a batch yields no more
    /// than the outstanding demand all the way down the chain.
    #[inline]
    fn accepts_batches(&self) -> bool {
        false
    }

    /// Takes items from `items` and returns how many were *used*, as
    /// [`try_on_next`](Self::try_on_next) would for each. It must stop taking once it has
    /// used [`batch.limit()`](BatchContext::limit) items (the outstanding demand); the
    /// items it leaves in the iterator stay with the source. When
    /// [`batch.within_limit()`](BatchContext::within_limit) is true the batch holds no
    /// more than the limit, and a sink may take it all without checking (a loop the
    /// compiler unrolls branch-free). Called by sources on the
    /// drain loop only when [`accepts_batches`](Self::accepts_batches) is true.
    /// Stages run their user code through [`BatchContext::run`], so a panic inside a batch is
    /// reported against the right stage.
    #[inline]
    fn on_next_batch<I>(&mut self, items: I, batch: &BatchContext) -> u64
    where
        I: Iterator<Item = Self::Item>,
        Self: Sized,
    {
        let mut items = items;
        let limit = batch.limit();
        let mut used = 0;
        while used < limit {
            let Some(item) = items.next() else { break };
            used += u64::from(self.try_on_next(item));
        }
        used
    }

    /// The pipeline failed; no signal follows.
    fn on_error(&mut self, error: Error<Self::Error>);
    /// The pipeline ended normally; no signal follows.
    fn on_complete(&mut self);

    /// What this subscriber brings to the pipeline it subscribes to, above all the
    /// [`Scheduler`](crate::Scheduler) that time-based stages use. Operators forward the
    /// context of their downstream, so a test subscriber carrying a virtual clock makes
    /// a whole production pipeline run on virtual time.
    fn context(&self) -> Context {
        Context::default()
    }
}

/// A boxed subscriber (`Box<dyn Subscriber<..>>` too) forwards every signal. It accepts
/// batches when the inner one does, so the stages above it stay fused; the batch reaches
/// the inner subscriber item by item, through `try_on_next` (its own `on_next_batch` is
/// generic, so it cannot be called through the box).
impl<S: Subscriber + ?Sized> Subscriber for Box<S> {
    type Item = S::Item;
    type Error = S::Error;
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        (**self).on_subscribe(subscription)
    }
    fn on_next(&mut self, item: Self::Item) {
        (**self).on_next(item)
    }
    fn try_on_next(&mut self, item: Self::Item) -> bool {
        (**self).try_on_next(item)
    }
    fn accepts_batches(&self) -> bool {
        (**self).accepts_batches()
    }
    fn on_error(&mut self, error: Error<Self::Error>) {
        (**self).on_error(error)
    }
    fn on_complete(&mut self) {
        (**self).on_complete()
    }
    fn context(&self) -> Context {
        (**self).context()
    }
}
