//! The subscriber of one inner upstream: its items go into its lane.

use std::sync::Arc;

use spillway_core::drain::BatchContext;
use spillway_core::{Context, Error, SharedSubscription, Subscriber};

use super::{send_requests, Fan, LaneKey};

/// Subscribes to one inner upstream and feeds its lane.
pub(crate) struct InnerSubscriber<T, E> {
    pub(super) fan: Arc<Fan<T, E>>,
    pub(super) key: LaneKey,
    /// A batch from upstream, gathered outside the lock (its iterator may run user code).
    pub(super) buf: Vec<T>,
}

impl<T: Send + 'static, E: Send + 'static> InnerSubscriber<T, E> {
    /// Queues `items` in this lane under one lock; signals the drain only if the lane was
    /// empty (a lane that already had items changes nothing a policy can see: the drain
    /// either has a pass on its way or waits for downstream demand).
    pub(super) fn push(&mut self, items: impl Iterator<Item = T>) {
        let mut guard = self.fan.lock();
        let st = &mut *guard;
        let mut seq = st.seq;
        let Some(lane) = st.lane_mut(self.key) else {
            return; // late: cancelled, switched away or failed; the items are dropped
        };
        if lane.done {
            return; // after on_complete: dropped
        }
        let was_empty = lane.queue.is_empty();
        let mut violated = false;
        for item in items {
            if !lane.credit.received() {
                violated = true;
                break;
            }
            lane.queue.push_back((seq, item));
            seq += 1;
        }
        let pushed = !lane.queue.is_empty();
        st.seq = seq;
        drop(guard);
        if violated {
            self.fan
                .violation("an inner publisher sent more items than requested");
        } else if was_empty && pushed {
            self.fan.drain.signal();
        }
    }
}

impl<T: Send + 'static, E: Send + 'static> Subscriber for InnerSubscriber<T, E> {
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let mut st = self.fan.lock();
        let n = match st.lane_mut(self.key) {
            Some(lane) if lane.upstream.is_none() && !lane.done => {
                lane.upstream = Some(subscription.clone());
                lane.credit.initial()
            }
            // Closed or switched away meanwhile, or a second subscription (rule 2.5).
            _ => 0,
        };
        drop(st);
        if n == 0 {
            subscription.cancel();
        } else {
            subscription.request(n);
        }
    }

    fn on_next(&mut self, item: T) {
        self.push(std::iter::once(item));
    }

    fn accepts_batches(&self) -> bool {
        true
    }

    fn on_next_batch<I>(&mut self, items: I, batch: &BatchContext) -> u64
    where
        I: Iterator<Item = T>,
    {
        // Gathered first, outside the lock: the iterator may run upstream user code.
        // Never more than requested: what is left stays with the source.
        let limit = if batch.counts_used() {
            usize::try_from(batch.limit()).unwrap_or(usize::MAX)
        } else {
            usize::MAX
        };
        let mut buf = std::mem::take(&mut self.buf);
        buf.extend(items.take(limit));
        let n = buf.len() as u64;
        self.push(buf.drain(..));
        self.buf = buf;
        n
    }

    fn on_error(&mut self, error: Error<E>) {
        // The lane's subscription ended with this signal: not cancelled (rule 2.3).
        let live = match self.fan.lock().lane_mut(self.key) {
            Some(lane) => {
                lane.upstream = None;
                true
            }
            None => false,
        };
        if live {
            self.fan.fail(error);
        }
    }

    fn on_complete(&mut self) {
        let mut st = self.fan.lock();
        let Some(lane) = st.lane_mut(self.key) else {
            return;
        };
        lane.done = true;
        lane.upstream = None;
        let drained = lane.queue.is_empty();
        if drained {
            // Ends the lane and (flat_map family) asks the outer for one more item; a lane
            // with items left does both when the drain pops its last item.
            st.end(self.key.slot);
        }
        let requests = std::mem::take(&mut st.requests);
        // A lane with items left is removed by the drain when it pops the last one; an
        // empty one that goes matters to a round robin only if it was the last.
        let wake = !st.quiet_lane_end || (drained && st.all_done());
        drop(st);
        send_requests(requests);
        if wake {
            self.fan.drain.signal();
        }
    }

    fn context(&self) -> Context {
        self.fan.context.clone()
    }
}
