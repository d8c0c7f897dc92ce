//! `window_timeout(n, d)`: windows closing after `n` items or `d` after their first item,
//! on the subscriber's scheduler (a virtual clock here); demand and cancellation as
//! `window`, plus what a window closed early leaves outstanding upstream.

#[path = "support/checks.rs"]
mod checks;

#[path = "support/watchdog.rs"]
mod watchdog;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use spillway::operators::{DropReason, FlowStats, UnicastWindow};
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::{
    TestPublisher, TestSubscriber, TestSubscriberHandle, Violation, VirtualScheduler,
};

type Win = UnicastWindow<u32, String>;

const D: Duration = Duration::from_secs(1);
const WATCHDOG: Duration = Duration::from_secs(20);

fn stage(
    tp: &TestPublisher<u32, String>,
    size: usize,
    initial: u64,
) -> (
    Arc<VirtualScheduler>,
    FlowStats,
    TestSubscriberHandle<Win, String>,
) {
    let vs = VirtualScheduler::new();
    let (sub, outer) = TestSubscriber::with_scheduler(initial, vs.clone());
    let op = tp.publisher().window_timeout(size, D).unwrap();
    let stats = op.stats();
    op.subscribe(sub);
    (vs, stats, outer)
}

fn open(
    outer: &TestSubscriberHandle<Win, String>,
    i: usize,
    initial: u64,
) -> TestSubscriberHandle<u32, String> {
    let (sub, inner) = TestSubscriber::new(initial);
    outer.items()[i].clone().subscribe(sub);
    inner
}

#[test]
fn config_zero_size_or_timeout_is_rejected() {
    assert_eq!(
        range(0, 3).window_timeout(0, D).unwrap_err().stage(),
        "window_timeout"
    );
    assert_eq!(
        range(0, 3)
            .window_timeout(2, Duration::ZERO)
            .unwrap_err()
            .stage(),
        "window_timeout"
    );
}

#[test]
fn conformance() {
    // With a timeout far away every window closes by count: as `window`.
    checks::conformance(|n| {
        range(0, 2 * n)
            .window_timeout(2, Duration::from_secs(3600))
            .unwrap()
    });
}

#[test]
fn a_window_closes_by_count_or_by_its_timer_whichever_first() {
    let tp = TestPublisher::<u32, String>::new();
    let (vs, _, outer) = stage(&tp, 3, u64::MAX);
    tp.next(1).next(2).next(3); // by count
    let first = open(&outer, 0, u64::MAX);
    first.assert_items(&[1, 2, 3]);
    first.assert_complete();
    vs.advance_by(Duration::from_millis(300));
    tp.next(4);
    let second = open(&outer, 1, u64::MAX);
    vs.advance_by(Duration::from_millis(999));
    tp.next(5);
    second.assert_not_terminated();
    vs.advance_by(Duration::from_millis(1)); // a second after its first item
    second.assert_items(&[4, 5]);
    second.assert_complete();
    assert_eq!(outer.item_count(), 2, "no window before the next item");
    vs.advance_by(Duration::from_secs(10));
    assert_eq!(
        outer.item_count(),
        2,
        "the clock runs only while a window is open"
    );
    tp.next(6);
    assert_eq!(outer.item_count(), 3);
    outer.assert_no_protocol_violations();
}

#[test]
fn demand_counts_windows_and_a_timed_out_window_leaves_its_rest_outstanding() {
    let tp = TestPublisher::<u32, String>::new();
    let (vs, stats, outer) = stage(&tp, 3, 1);
    assert_eq!(tp.total_requested(), 3, "one window of 3");
    tp.next(1);
    vs.advance_by(D); // closes with one item; 2 still requested
    assert_eq!(tp.outstanding(), 2);
    assert_eq!(tp.total_requested(), 3, "no more without outer demand");
    tp.next(2).next(3); // open the next window before it is asked for: held
    assert_eq!(outer.item_count(), 1);
    assert_eq!(stats.snapshot().buffered, 3);
    outer.request(1);
    assert_eq!(outer.item_count(), 2);
    let second = open(&outer, 1, u64::MAX);
    second.assert_items(&[2, 3]);
    assert_eq!(tp.outstanding(), 1, "topped up to the window's room");
    tp.next(4);
    second.assert_items(&[2, 3, 4]);
    second.assert_complete();
    outer.assert_no_protocol_violations();
}

#[test]
fn outer_cancel_keeps_the_open_window_until_its_timer() {
    let tp = TestPublisher::<u32, String>::new();
    let (vs, _, outer) = stage(&tp, 5, 1);
    tp.next(1);
    let inner = open(&outer, 0, u64::MAX);
    outer.cancel();
    tp.assert_not_cancelled();
    tp.next(2);
    vs.advance_by(D);
    inner.assert_items(&[1, 2]);
    inner.assert_complete();
    tp.assert_cancelled();
}

#[test]
fn cancel_reaches_upstream() {
    checks::cancel_reaches_upstream(|p| p.window_timeout(3, D).unwrap());
}

#[test]
fn a_window_cancelled_midway_drops_its_rest_and_the_stream_goes_on() {
    let tp = TestPublisher::<u32, String>::new();
    let (vs, stats, outer) = stage(&tp, 3, 2);
    tp.next(1);
    let first = open(&outer, 0, u64::MAX);
    first.cancel();
    tp.next(2); // dropped
    vs.advance_by(D); // the first window's time is up
    tp.next(3);
    let second = open(&outer, 1, u64::MAX);
    second.assert_items(&[3]);
    let s = stats.snapshot();
    assert_eq!(s.dropped_for(DropReason::Discarded), 1);
    assert!(s.is_balanced());
    tp.assert_not_cancelled();
}

#[test]
fn unsubscribed_windows_close_by_their_timers_without_a_hang() {
    let got = watchdog::watchdog("unsubscribed timed windows", WATCHDOG, || {
        let tp = TestPublisher::<u32, String>::new();
        let (vs, _, outer) = stage(&tp, 10, u64::MAX);
        for i in 0..3 {
            tp.next(i);
            vs.advance_by(D);
        }
        tp.complete();
        outer.assert_complete();
        outer
            .items()
            .into_iter()
            .map(|w| {
                let (sub, h) = TestSubscriber::<u32, String>::new(u64::MAX);
                w.subscribe(sub);
                h.assert_complete();
                h.items()
            })
            .collect::<Vec<_>>()
    });
    assert_eq!(got, vec![vec![0], vec![1], vec![2]]);
}

#[test]
fn error_halfway_reaches_the_open_window_and_the_outer() {
    let tp = TestPublisher::<u32, String>::new();
    let (_, _, outer) = stage(&tp, 3, u64::MAX);
    tp.next(1);
    let inner = open(&outer, 0, u64::MAX);
    tp.error("boom".to_string());
    inner.assert_items(&[1]);
    inner.assert_error_matches(|e| *e == Error::User("boom".to_string()));
    outer.assert_error_matches(|e| *e == Error::User("boom".to_string()));
    checks::error_propagates(|p| p.window_timeout(2, D).unwrap());
}

#[test]
fn request_zero_fails() {
    checks::request_zero_fails(|p| p.window_timeout(3, D).unwrap());
}

#[test]
fn late_signals_dropped() {
    checks::late_signals_dropped(|p| p.window_timeout(3, D).unwrap());
}

#[test]
fn second_subscription_is_rejected() {
    let tp = TestPublisher::<u32, String>::new();
    let (_, _, outer) = stage(&tp, 3, 1);
    tp.next(1);
    let _first = open(&outer, 0, u64::MAX);
    let second = open(&outer, 0, u64::MAX);
    second.assert_error_matches(|e| {
        matches!(
            e,
            Error::Rejected {
                stage: "window_timeout",
                ..
            }
        )
    });
}

#[test]
fn non_compliant_upstream_fails_the_open_window_and_the_outer() {
    let tp = TestPublisher::non_compliant(&[Violation::EmitWithoutDemand]);
    let (vs, _, outer) = stage(&tp, 2, 1);
    tp.next(1);
    vs.advance_by(D); // closes [1]; 1 still outstanding
    tp.next(2); // opens the next window (held: no outer demand)
    tp.next(3); // never requested
    tp.assert_cancelled();
    // The error waits behind the window opened before it, as batches do in `chunks`.
    assert_eq!(outer.item_count(), 1);
    outer.assert_not_terminated();
    outer.request(1);
    assert_eq!(outer.item_count(), 2);
    outer.assert_error_matches(|e| {
        matches!(
            e,
            Error::ProtocolViolation {
                stage: "window_timeout",
                ..
            }
        )
    });
    let held = open(&outer, 1, u64::MAX);
    held.assert_items(&[2]);
    held.assert_error_matches(|e| matches!(e, Error::ProtocolViolation { .. }));
}

/// Slow windows on tokio's paused clock, the tokio timer closing them.
#[tokio::test(start_paused = true)]
async fn slow_consumer_under_tokio() {
    use futures::StreamExt;
    let op = range(0, 60)
        .window_timeout(4, Duration::from_millis(50))
        .unwrap();
    let stats = op.stats();
    let mut outer = op.into_stream(1);
    let mut seen = Vec::new();
    while let Some(w) = outer.next().await {
        let mut items = w.unwrap().into_stream(1);
        while let Some(x) = items.next().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
            seen.push(x.unwrap());
        }
    }
    assert_eq!(seen, (0..60).collect::<Vec<_>>());
    let s = stats.snapshot();
    assert!(s.peak_buffered <= 2 * 4, "held {} items", s.peak_buffered);
    assert!(s.is_balanced());
}

/// Under `futures::executor::block_on` (the default scheduler's timers, none firing
/// in so short a run matters: windows close by count).
#[test]
fn slow_consumer_under_block_on() {
    let seen = watchdog::watchdog("block_on", WATCHDOG, || {
        futures::executor::block_on(async {
            use futures::StreamExt;
            let op = range(0, 100)
                .window_timeout(5, Duration::from_secs(3600))
                .unwrap();
            let mut outer = op.into_stream(1);
            let mut seen = Vec::new();
            while let Some(w) = outer.next().await {
                let mut items = w.unwrap().into_stream(2);
                while let Some(x) = items.next().await {
                    seen.push(x.unwrap());
                }
            }
            seen
        })
    });
    assert_eq!(seen, (0..100).collect::<Vec<_>>());
}

/// The model: each item with the virtual time it arrives at; a window starts with an
/// item and takes the next ones until `size` or until `d` after its first item.
fn model(arrivals: &[(u64, u32)], size: usize, d: u64) -> Vec<Vec<u32>> {
    let mut out: Vec<Vec<u32>> = Vec::new();
    let mut opened = 0;
    let mut open = false;
    for &(t, x) in arrivals {
        if open && (t >= opened + d || out.last().unwrap().len() == size) {
            open = false;
        }
        if !open {
            out.push(Vec::new());
            opened = t;
            open = true;
        }
        out.last_mut().unwrap().push(x);
    }
    out
}

proptest! {
    #[test]
    fn matches_the_timed_model(
        gaps in prop::collection::vec((0u64..4, 0u32..9), 0..30),
        size in 1usize..5,
        d in 1u64..5,
    ) {
        let vs = VirtualScheduler::new();
        let tp = TestPublisher::<u32, Infallible>::new();
        let (sub, outer) =
            TestSubscriber::<UnicastWindow<u32, Infallible>, Infallible>::with_scheduler(
                u64::MAX,
                vs.clone(),
            );
        let op = tp.publisher().window_timeout(size, Duration::from_millis(d)).unwrap();
        let stats = op.stats();
        op.subscribe(sub);
        let mut inners = Vec::new();
        let mut arrivals = Vec::new();
        let mut now = 0;
        for (gap, x) in gaps {
            vs.advance_by(Duration::from_millis(gap));
            now += gap;
            tp.next(x);
            arrivals.push((now, x));
            for w in outer.items().into_iter().skip(inners.len()) {
                let (s, h) = TestSubscriber::<u32, Infallible>::new(u64::MAX);
                w.subscribe(s);
                inners.push(h);
            }
        }
        tp.complete();
        outer.assert_complete();
        let got: Vec<Vec<u32>> = inners.iter().map(|h| {
            h.assert_complete();
            h.items()
        }).collect();
        prop_assert_eq!(got, model(&arrivals, size, d));
        let s = stats.snapshot();
        prop_assert!(s.is_balanced());
        prop_assert!(s.peak_buffered <= size as u64);
    }
}
