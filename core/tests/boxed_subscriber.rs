//! A boxed subscriber keeps the fusion of the stages above it (issue 11 §5): it says it
//! accepts batches when the inner one does, so a batching source offers batches, and every
//! item still arrives, within demand, in order.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use spillway_core::drain::BatchContext;
use spillway_core::prelude::*;
use spillway_core::{Error, SharedSubscription};

/// Accepts batches, requests in steps of 7, records items and how many batch calls came.
struct Batching {
    items: Arc<Mutex<Vec<u64>>>,
    batch_calls: Arc<AtomicU64>,
    subscription: Option<SharedSubscription>,
    outstanding: u64,
}

impl Subscriber for Batching {
    type Item = u64;
    type Error = Infallible;
    fn on_subscribe(&mut self, s: SharedSubscription) {
        self.subscription = Some(s.clone());
        self.outstanding = 7;
        s.request(7);
    }
    fn on_next(&mut self, item: u64) {
        assert!(self.outstanding > 0, "an item beyond demand");
        self.outstanding -= 1;
        self.items.lock().unwrap().push(item);
        if self.outstanding == 0 {
            self.outstanding = 7;
            if let Some(s) = &self.subscription {
                s.request(7);
            }
        }
    }
    fn accepts_batches(&self) -> bool {
        true
    }
    fn on_next_batch<I: Iterator<Item = u64>>(&mut self, items: I, batch: &BatchContext) -> u64 {
        self.batch_calls.fetch_add(1, Ordering::SeqCst);
        let mut used = 0;
        for item in items.take(batch.limit() as usize) {
            self.on_next(item);
            used += 1;
        }
        used
    }
    fn on_error(&mut self, e: Error<Infallible>) {
        panic!("{e:?}");
    }
    fn on_complete(&mut self) {}
}

#[test]
fn a_boxed_subscriber_accepts_batches_when_the_inner_one_does() {
    let items = Arc::new(Mutex::new(Vec::new()));
    let inner = Batching {
        items: items.clone(),
        batch_calls: Arc::new(AtomicU64::new(0)),
        subscription: None,
        outstanding: 0,
    };
    let boxed: Box<dyn Subscriber<Item = u64, Error = Infallible>> = Box::new(inner);
    assert!(boxed.accepts_batches(), "fusion is kept through the box");
    range(0, 100).subscribe(boxed);
    assert_eq!(*items.lock().unwrap(), (0..100).collect::<Vec<_>>());
}
