//! `range`: consecutive integers.

use std::convert::Infallible;
use std::task::Context;

use crate::drain::{self, BatchContext, Pulled, Source};
use crate::{Publisher, Subscriber};

/// Publisher for [`range`].
#[derive(Debug, Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct Range {
    start: u64,
    end: u64,
}

/// The integers `start..end` (end excluded), emitted only as requested; completes as soon
/// as the last one is delivered, and at once when the range is empty.
///
/// ```
/// use spillway_core::prelude::*;
/// # futures::executor::block_on(async {
/// assert_eq!(range(3, 6).collect().await.unwrap(), vec![3, 4, 5]);
/// assert_eq!(range(6, 3).count().await.unwrap(), 0);
/// # });
/// ```
pub fn range(start: u64, end: u64) -> Range {
    Range { start, end }
}

struct RangeSource {
    next: u64,
    end: u64,
}

impl Source for RangeSource {
    type Item = u64;
    type Error = Infallible;
    const STAGE: &'static str = "range";

    #[inline]
    fn pull(&mut self, _cx: &mut Context<'_>) -> Pulled<u64, Infallible> {
        if self.next < self.end {
            let n = self.next;
            self.next += 1;
            Pulled::Item(n)
        } else {
            Pulled::Complete
        }
    }

    #[inline]
    fn pull_batch<S>(&mut self, sink: &mut S, batch: &BatchContext) -> Option<u64>
    where
        S: Subscriber<Item = u64, Error = Infallible>,
    {
        if self.next >= self.end {
            return None;
        }
        let end = self.end.min(self.next.saturating_add(batch.max_items()));
        if !batch.counts_used() {
            // Unbounded demand: the sink takes everything, and a by-value range is the
            // loop the compiler optimises best (unrolled, branch-free).
            let items = self.next..end;
            self.next = end;
            return Some(sink.on_next_batch(items, batch));
        }
        let limit = batch.limit();
        if limit >= CHUNK_AT_LEAST {
            // Bounded, with enough demand to pay for a call: offer no more than the demand,
            // by value, so the chain takes all of it without a per-item limit check (no
            // early exit: the loop unrolls branch-free). A filter may leave demand over;
            // the drain offers again.
            let end = end.min(self.next.saturating_add(limit));
            let items = self.next..end;
            self.next = end;
            batch.set_within_limit(true);
            return Some(sink.on_next_batch(items, batch));
        }
        // Little demand left: the sink stops at its limit; what it leaves stays here.
        let mut items = self.next..end;
        let used = sink.on_next_batch(&mut items, batch);
        self.next = items.start;
        Some(used)
    }

    fn poll_end(&mut self, _cx: &mut Context<'_>) -> Option<Pulled<u64, Infallible>> {
        (self.next >= self.end).then_some(Pulled::Complete)
    }
}

/// The least outstanding demand for which a bounded batch is offered as a chunk of exactly
/// that many items (see [`BatchContext::within_limit`]); below it, one offer that the chain
/// stops at its limit costs less than the few more chunks a filter would leave for.
const CHUNK_AT_LEAST: u64 = 64;

impl Publisher for Range {
    type Item = u64;
    type Error = Infallible;
    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = u64, Error = Infallible>,
    {
        drain::start(
            RangeSource {
                next: self.start,
                end: self.end,
            },
            subscriber,
        );
    }
}
