//! Rules 3.4, 3.12 and 3.13 for every stage, over an endless synchronous source (item by
//! item, and one that offers fused batches), with three request patterns: unbounded in
//! `on_subscribe`; `request(1)` then unbounded from `on_next`; `request(2)` again from
//! every `on_next`. A cancel from `on_next` at the third item must let `subscribe` return
//! (a request never pulls a source to its end), stop the source within the stage's
//! documented prefetch, and deliver nothing more.
//!
//! `concat` pulled the current source to its end inside one unbounded request, and the
//! batching stages did the same once a large request came from `on_next`: over an endless
//! source nothing more arrived and `subscribe` never returned.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use spillway::operators::BufferOverflow;
use spillway::prelude::*;
use spillway::{Error, SharedSubscription};

const CANCEL_AT: u64 = 3;
const WATCHDOG: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy)]
enum Pattern {
    UnboundedAtOnce,
    OneThenUnbounded,
    TwoPerItem,
}

const PATTERNS: [Pattern; 3] = [
    Pattern::UnboundedAtOnce,
    Pattern::OneThenUnbounded,
    Pattern::TwoPerItem,
];

/// Requests by `pattern`, cancels from `on_next` at the `CANCEL_AT`-th item, counts what
/// arrives after.
struct CancelAt<T> {
    pattern: Pattern,
    seen: Arc<AtomicU64>,
    subscription: Option<SharedSubscription>,
    _item: std::marker::PhantomData<fn(T)>,
}

impl<T: Send + 'static> Subscriber for CancelAt<T> {
    type Item = T;
    type Error = std::convert::Infallible;
    fn on_subscribe(&mut self, s: SharedSubscription) {
        self.subscription = Some(s.clone());
        match self.pattern {
            Pattern::UnboundedAtOnce => s.request(u64::MAX),
            Pattern::OneThenUnbounded => s.request(1),
            Pattern::TwoPerItem => s.request(2),
        }
    }
    fn on_next(&mut self, _: T) {
        let n = self.seen.fetch_add(1, Ordering::SeqCst) + 1;
        let Some(s) = self.subscription.clone() else {
            return; // after the cancel: counted, and the test fails on it
        };
        if n == CANCEL_AT {
            self.subscription = None;
            s.cancel();
            return;
        }
        match self.pattern {
            Pattern::UnboundedAtOnce => {}
            Pattern::OneThenUnbounded if n == 1 => s.request(u64::MAX),
            Pattern::OneThenUnbounded => {}
            Pattern::TwoPerItem => s.request(2),
        }
    }
    fn on_error(&mut self, e: Error<Self::Error>) {
        panic!("unexpected error {e:?}");
    }
    fn on_complete(&mut self) {
        panic!("an endless source completed");
    }
}

/// Subscribes `make(source)` on a thread with each pattern and checks the rules.
fn check<P, F>(what: &str, prefetch: u64, make: F)
where
    P: Publisher<Error = std::convert::Infallible> + 'static,
    P::Item: Send + Debug + 'static,
    F: Fn(Endless) -> P + Send + Sync + Copy + 'static,
{
    for fused in [false, true] {
        for pattern in PATTERNS {
            let pulled = Arc::new(AtomicU64::new(0));
            let seen = Arc::new(AtomicU64::new(0));
            let (p, s) = (pulled.clone(), seen.clone());
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let source = Endless { pulled: p, fused };
                make(source).subscribe(CancelAt::<P::Item> {
                    pattern,
                    seen: s,
                    subscription: None,
                    _item: std::marker::PhantomData,
                });
                let _ = tx.send(());
            });
            let case = format!("{what} ({pattern:?}, fused source: {fused})");
            rx.recv_timeout(WATCHDOG).unwrap_or_else(|_| {
                panic!("{case}: subscribe did not return: a request pulled the endless source")
            });
            assert_eq!(
                seen.load(Ordering::SeqCst),
                CANCEL_AT,
                "{case}: items after the cancel"
            );
            let pulls = pulled.load(Ordering::SeqCst);
            assert!(
                pulls <= CANCEL_AT + prefetch,
                "{case}: the source was pulled {pulls} times for {CANCEL_AT} items (prefetch {prefetch})"
            );
        }
    }
}

/// An endless synchronous source of 0, 1, 2, ... counting its pulls; `fused` offers
/// batches (`range`), otherwise one item per pull (`generate`).
#[derive(Clone)]
struct Endless {
    pulled: Arc<AtomicU64>,
    fused: bool,
}

impl Publisher for Endless {
    type Item = u64;
    type Error = std::convert::Infallible;
    fn subscribe<S: Subscriber<Item = u64, Error = Self::Error>>(self, s: S) {
        let pulled = self.pulled;
        if self.fused {
            range(0, u64::MAX)
                .do_on_next(move |_| {
                    pulled.fetch_add(1, Ordering::SeqCst);
                })
                .subscribe(s)
        } else {
            generate(0u64, move |n| {
                pulled.fetch_add(1, Ordering::SeqCst);
                *n += 1;
                Some(*n)
            })
            .subscribe(s)
        }
    }
}

#[test]
fn one_to_one_stages() {
    check("none", 0, |s| s);
    check("map", 0, |s| s.map(|x| x + 1));
    check("do_on_next", 0, |s| s.do_on_next(|_| {}));
    check("scan", 0, |s| s.scan(0u64, |a, x| a + x));
    check("take", 0, |s| s.take(1_000_000));
    check("take_while", 0, |s| s.take_while(|_| true));
    check("take_until", 0, |s| s.take_until(never::<(), _>()));
    check("timeout", 0, |s| {
        s.timeout(Duration::from_secs(3600)).unwrap()
    });
    check("on_error_return", 0, |s| s.on_error_return(|_| 0));
    check("retry", 0, |s| s.retry(1));
    check("default_if_empty", 0, |s| s.default_if_empty(0));
}

#[test]
fn filtering_stages() {
    // A discarded item is replaced: pulls count the discards too.
    check("filter", 6, |s| s.filter(|x| x % 2 == 0));
    check("filter_map", 6, |s| {
        s.filter_map(|x| (x % 2 == 0).then_some(x))
    });
    check("skip", 5, |s| s.skip(5));
    check("skip_while", 5, |s| s.skip_while(|x| *x < 5));
}

#[test]
fn sequencing_and_fan_in_stages() {
    check("concat_with", 256, |s| s.concat_with(empty()));
    check("merge_with", 256, |s| s.merge_with(never()));
    check("flat_map_iter", 256, |s| s.flat_map_iter(|x| [x]));
    check("start_with", 0, |s| s.start_with(vec![7]));
}

#[test]
fn batching_stages() {
    check("chunks", 3 * 2 + 256, |s| s.chunks(2).unwrap());
    check("chunks_timeout", 3 * 2 + 256, |s| {
        s.chunks_timeout(2, Duration::from_secs(3600)).unwrap()
    });
    check("chunks_weighted", 256, |s| {
        s.chunks_weighted(2, |_| 1).unwrap()
    });
    check("batch_while_busy", 8, |s| s.batch_while_busy(8).unwrap());
}

#[test]
fn queueing_stages() {
    check("limit_rate", 16, |s| s.limit_rate(16).unwrap());
    check("on_backpressure_buffer", 16, |s| {
        s.on_backpressure_buffer(16, BufferOverflow::Backpressure)
            .unwrap()
    });
}
