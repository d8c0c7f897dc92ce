//! The outer upstream of `flat_map`, `concat_map` and `switch_map`: each of its items
//! opens a lane.

use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use spillway_core::drain::BatchContext;
use spillway_core::{Context, Error, Publisher, Scalar, SharedSubscription, Subscriber};

use super::{Fan, Lanes};

/// The outer subscriber of `flat_map`, `concat_map` and `switch_map`: maps each outer
/// item to an inner publisher and opens a lane for it, or takes its signal directly if
/// it is a scalar (see the module docs).
pub(crate) struct OuterSubscriber<T, E, F, In> {
    pub(super) fan: Arc<Fan<T, E>>,
    pub(super) f: F,
    /// Requested from the outer upstream at subscribe time.
    pub(super) initial: u64,
    /// `switch_map`: each new inner cancels the previous ones.
    pub(super) switch: bool,
    pub(super) done: bool,
    /// The scalar items of one batch of outer items (kept for its allocation).
    pub(super) scalars: Vec<T>,
    pub(super) _in: PhantomData<fn(In)>,
}

impl<T, E, F, In> OuterSubscriber<T, E, F, In> {
    /// The outer subscriber of a fan whose lanes are `lanes` (not [`Lanes::Fixed`]).
    pub(crate) fn new(fan: Arc<Fan<T, E>>, f: F, lanes: Lanes) -> Self {
        let (initial, switch) = match lanes {
            Lanes::Bounded { concurrency } => (concurrency, false),
            Lanes::Switching => (u64::MAX, true),
            Lanes::Fixed => unreachable!("a fixed set of lanes has no outer upstream"),
        };
        OuterSubscriber {
            fan,
            f,
            initial,
            switch,
            done: false,
            scalars: Vec::new(),
            _in: PhantomData,
        }
    }
}

impl<T, E, F, In, Q> OuterSubscriber<T, E, F, In>
where
    T: Send + 'static,
    E: Send + 'static,
    In: Send + 'static,
    F: FnMut(In) -> Q + Send + 'static,
    Q: Publisher<Item = T, Error = E>,
{
    /// Maps an outer item to its inner publisher, or to that publisher's one signal if
    /// it is a scalar. A panic in the user code becomes the error to fail with.
    pub(super) fn map(&mut self, item: In) -> Result<Scalar<T, E>, Q> {
        let f = &mut self.f;
        catch_unwind(AssertUnwindSafe(|| f(item).into_scalar()))
            .unwrap_or_else(|payload| Ok(Scalar::Error(Error::from_panic(self.fan.stage, payload))))
    }

    /// Subscribes a non-scalar inner publisher to a new lane.
    pub(super) fn open(&self, inner: Q) {
        if self.switch {
            self.fan.cancel_lanes();
        }
        if let Some(lane) = self.fan.open_lane() {
            inner.subscribe(lane);
        }
    }
}

impl<T, E, F, In, Q> Subscriber for OuterSubscriber<T, E, F, In>
where
    T: Send + 'static,
    E: Send + 'static,
    In: Send + 'static,
    F: FnMut(In) -> Q + Send + 'static,
    Q: Publisher<Item = T, Error = E>,
{
    type Item = In;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.fan.set_outer(subscription, self.initial);
    }

    fn on_next(&mut self, item: In) {
        if self.done || !self.fan.outer_item() {
            return;
        }
        match self.map(item) {
            Err(inner) => self.open(inner),
            Ok(scalar) => {
                if self.switch {
                    self.fan.cancel_lanes();
                }
                match scalar {
                    Scalar::Item(x) => {
                        self.scalars.push(x);
                        self.fan.push_scalars(0, &mut self.scalars, 0);
                        self.scalars.clear(); // closed: dropped
                    }
                    Scalar::Empty => {
                        self.fan.push_scalars(0, &mut Vec::new(), 1);
                    }
                    Scalar::Error(e) => {
                        self.done = true;
                        self.fan.fail(e);
                    }
                }
            }
        }
    }

    /// A synchronous outer upstream hands its items over in batches: the scalar inners of
    /// a batch are queued under one lock, with one signal to the drain. A non-scalar inner
    /// or an error first hands over the scalars before it, so the order and what is
    /// delivered before an error are those of item-by-item delivery. Not for
    /// `switch_map`, where each new inner discards what the previous one left.
    fn accepts_batches(&self) -> bool {
        !self.switch
    }

    fn on_next_batch<I>(&mut self, items: I, batch: &BatchContext) -> u64
    where
        I: Iterator<Item = In>,
    {
        let limit = if batch.counts_used() {
            batch.limit()
        } else {
            u64::MAX
        };
        let mut items = items;
        let mut buf = std::mem::take(&mut self.scalars);
        // Outer items taken, and those not yet accounted for with the fan.
        let mut used = 0u64;
        let mut pending = 0u64;
        let mut empties = 0u64;
        while used < limit && !self.done {
            let Some(item) = items.next() else { break };
            used += 1;
            pending += 1;
            match self.map(item) {
                Ok(Scalar::Item(x)) => buf.push(x),
                Ok(Scalar::Empty) => empties += 1,
                Ok(Scalar::Error(e)) => {
                    self.done = true;
                    if self.fan.push_scalars(pending, &mut buf, empties) {
                        self.fan.fail(e);
                    }
                    pending = 0;
                }
                Err(inner) => {
                    let open = self.fan.push_scalars(pending, &mut buf, empties);
                    (pending, empties) = (0, 0);
                    if !open {
                        self.done = true;
                        break;
                    }
                    self.open(inner);
                }
            }
        }
        if pending > 0 && !self.done && !self.fan.push_scalars(pending, &mut buf, empties) {
            self.done = true;
        }
        buf.clear();
        self.scalars = buf;
        used
    }

    fn on_error(&mut self, error: Error<E>) {
        if !std::mem::replace(&mut self.done, true) {
            // The outer subscription ended with this signal: not cancelled (rule 2.3).
            self.fan.lock().outer = None;
            self.fan.fail(error);
        }
    }

    fn on_complete(&mut self) {
        if !std::mem::replace(&mut self.done, true) {
            self.fan.close_outer();
        }
    }

    fn context(&self) -> Context {
        self.fan.context.clone()
    }
}
