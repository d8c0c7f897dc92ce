//! `window(n)`: consecutive windows of `n` items, each a publisher of its items; demand
//! on two levels (outer: windows, inner: items), upstream asked for `n` items per window
//! requested; Reactor's cancellation rules (the outer's cancel cuts no open window; a
//! cancelled window drops the rest of its items and the stage goes on).

#[path = "support/checks.rs"]
mod checks;
#[path = "support/model.rs"]
mod model;

#[path = "support/watchdog.rs"]
mod watchdog;

use std::convert::Infallible;
use std::time::Duration;

use proptest::prelude::*;
use spillway::operators::DropReason;
use spillway::operators::{FlowStats, UnicastWindow};
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::{TestPublisher, TestSubscriber, TestSubscriberHandle, Violation};

type Win = UnicastWindow<u32, String>;

const WATCHDOG: Duration = Duration::from_secs(20);

/// Subscribes a test subscriber requesting `initial` to window `i` of `outer`.
fn open(
    outer: &TestSubscriberHandle<Win, String>,
    i: usize,
    initial: u64,
) -> TestSubscriberHandle<u32, String> {
    let (sub, inner) = TestSubscriber::new(initial);
    outer.items()[i].clone().subscribe(sub);
    inner
}

/// The windows as `Vec`s, through `concat_map` (each window a one-batch `chunks`).
fn flat<P>(p: P, size: usize) -> impl Publisher<Item = Vec<P::Item>, Error = P::Error>
where
    P: Publisher,
    P::Error: Clone,
{
    p.window(size)
        .unwrap()
        .concat_map(move |w| w.chunks(size).unwrap())
}

#[test]
fn config_zero_size_is_rejected() {
    assert_eq!(range(0, 3).window(0).unwrap_err().stage(), "window");
}

#[test]
fn conformance() {
    // The outer stream: exactly n windows (handed out, then dropped unsubscribed).
    checks::conformance(|n| range(0, 2 * n).window(2).unwrap());
    // The windows' items, flattened.
    checks::conformance(|n| flat(range(0, 3 * n), 3));
}

#[test]
fn windows_of_n_items_then_the_partial_last() {
    let out = futures::executor::block_on(flat(range(1, 8), 3).collect()).unwrap();
    assert_eq!(out, vec![vec![1, 2, 3], vec![4, 5, 6], vec![7]]);
    let exact = futures::executor::block_on(flat(range(1, 7), 3).collect()).unwrap();
    assert_eq!(exact, vec![vec![1, 2, 3], vec![4, 5, 6]], "no empty window");
    let none = futures::executor::block_on(flat(range(0, 0), 3).collect()).unwrap();
    assert!(none.is_empty());
}

fn stage(
    tp: &TestPublisher<u32, String>,
    size: usize,
    initial: u64,
) -> (FlowStats, TestSubscriberHandle<Win, String>) {
    let (sub, outer) = TestSubscriber::new(initial);
    let op = tp.publisher().window(size).unwrap();
    let stats = op.stats();
    op.subscribe(sub);
    (stats, outer)
}

#[test]
fn outer_demand_counts_windows_upstream_gets_size_per_window() {
    let tp = TestPublisher::<u32, String>::new();
    let (_, outer) = stage(&tp, 3, 0);
    assert_eq!(tp.total_requested(), 0, "nothing without demand");
    outer.request(2);
    assert_eq!(tp.total_requested(), 6, "two windows of 3");
    for i in 0..6 {
        tp.next(i);
    }
    assert_eq!(outer.item_count(), 2);
    assert_eq!(tp.outstanding(), 0, "nothing beyond the windows asked for");
    outer.request(1);
    assert_eq!(tp.total_requested(), 9);
    tp.next(6);
    assert_eq!(outer.item_count(), 3);
    outer.assert_no_protocol_violations();
}

#[test]
fn inner_demand_counts_items_and_the_window_holds_the_rest() {
    let tp = TestPublisher::<u32, String>::new();
    let (stats, outer) = stage(&tp, 4, 1);
    tp.next(1);
    let inner = open(&outer, 0, 1);
    inner.assert_items(&[1]);
    tp.next(2).next(3);
    inner.assert_items(&[1]);
    assert_eq!(
        stats.snapshot().buffered,
        2,
        "held for the window's subscriber"
    );
    inner.request(1);
    inner.assert_items(&[1, 2]);
    tp.next(4);
    inner.assert_not_terminated();
    inner.request(5);
    inner.assert_items(&[1, 2, 3, 4]);
    inner.assert_complete();
    let s = stats.snapshot();
    assert_eq!((s.received, s.emitted, s.buffered), (4, 4, 0));
    assert!(s.is_balanced());
    inner.assert_no_protocol_violations();
}

#[test]
fn unbounded_outer_demand_is_passed_on() {
    let tp = TestPublisher::<u32, String>::new();
    let (_, _outer) = stage(&tp, 3, u64::MAX);
    assert_eq!(tp.total_requested(), u64::MAX);
}

#[test]
fn outer_cancel_keeps_the_open_window_then_cancels_upstream() {
    let tp = TestPublisher::<u32, String>::new();
    let (_, outer) = stage(&tp, 3, 1);
    tp.next(1);
    let inner = open(&outer, 0, u64::MAX);
    outer.cancel();
    tp.assert_not_cancelled();
    tp.next(2);
    tp.assert_not_cancelled();
    tp.next(3);
    inner.assert_items(&[1, 2, 3]);
    inner.assert_complete();
    tp.assert_cancelled();
    inner.assert_no_protocol_violations();
}

#[test]
fn outer_cancel_then_window_cancel_cancels_upstream() {
    let tp = TestPublisher::<u32, String>::new();
    let (_, outer) = stage(&tp, 3, 1);
    tp.next(1);
    let inner = open(&outer, 0, u64::MAX);
    outer.cancel();
    tp.assert_not_cancelled();
    inner.cancel();
    tp.assert_cancelled();
}

#[test]
fn outer_cancel_with_no_open_window_cancels_upstream() {
    checks::cancel_reaches_upstream(|p| p.window(3).unwrap());
    // Between windows: the last one closed already.
    let tp = TestPublisher::<u32, String>::new();
    let (_, outer) = stage(&tp, 2, 2);
    tp.next(1).next(2);
    let _inner = open(&outer, 0, u64::MAX);
    outer.cancel();
    tp.assert_cancelled();
}

#[test]
fn a_window_cancelled_midway_drops_its_rest_and_the_stream_goes_on() {
    let tp = TestPublisher::<u32, String>::new();
    let (stats, outer) = stage(&tp, 3, 2);
    tp.next(1);
    let first = open(&outer, 0, u64::MAX);
    tp.next(2);
    first.cancel();
    tp.assert_not_cancelled();
    tp.next(3); // the rest of the first window: dropped
    tp.next(4);
    let second = open(&outer, 1, u64::MAX);
    tp.next(5).next(6);
    first.assert_items(&[1, 2]);
    second.assert_items(&[4, 5, 6]);
    second.assert_complete();
    let s = stats.snapshot();
    assert_eq!(s.dropped_for(DropReason::Discarded), 1);
    assert_eq!((s.received, s.emitted), (6, 5));
    assert!(s.is_balanced());
}

#[test]
fn unsubscribed_windows_hold_their_items_and_close_without_a_hang() {
    let (windows, stats) = watchdog::watchdog("unsubscribed windows", WATCHDOG, || {
        let tp = TestPublisher::<u32, String>::new();
        let (stats, outer) = stage(&tp, 2, u64::MAX);
        for i in 0..9 {
            tp.next(i);
        }
        tp.complete();
        outer.assert_complete();
        (outer.items(), stats)
    });
    assert_eq!(windows.len(), 5);
    assert_eq!(
        stats.snapshot().buffered,
        9,
        "each window keeps its items (at most 2)"
    );
    // Subscribed late, each still delivers its items and its end.
    let mut got = Vec::new();
    for w in windows {
        let (sub, inner) = TestSubscriber::<u32, String>::new(u64::MAX);
        w.subscribe(sub);
        inner.assert_complete();
        got.push(inner.items());
    }
    assert_eq!(
        got,
        vec![vec![0, 1], vec![2, 3], vec![4, 5], vec![6, 7], vec![8]]
    );
    assert_eq!(stats.snapshot().buffered, 0);
}

#[test]
fn a_window_dropped_unsubscribed_is_cancelled() {
    let op = range(0, 7).window(3).unwrap();
    let stats = op.stats();
    // Each window is dropped as it arrives, never subscribed.
    let out = futures::executor::block_on(op.map(|w| w.index()).collect()).unwrap();
    assert_eq!(out, vec![0, 1, 2], "the stream goes on");
    let s = stats.snapshot();
    assert_eq!(
        s.dropped_for(DropReason::Discarded),
        7,
        "their items are discarded"
    );
    assert_eq!((s.emitted, s.buffered), (0, 0));
    assert!(s.is_balanced());
}

#[test]
fn a_window_subscribed_twice_rejects_the_second_subscriber() {
    let tp = TestPublisher::<u32, String>::new();
    let (_, outer) = stage(&tp, 3, 1);
    tp.next(1);
    let first = open(&outer, 0, u64::MAX);
    let second = open(&outer, 0, u64::MAX);
    second.assert_error_matches(|e| {
        matches!(e, Error::Rejected { stage: "window", reason } if reason.contains("only once"))
    });
    tp.next(2);
    first.assert_items(&[1, 2]);
    first.assert_not_terminated();
}

#[test]
fn error_halfway_reaches_the_open_window_and_the_outer() {
    let tp = TestPublisher::<u32, String>::new();
    let (_, outer) = stage(&tp, 2, u64::MAX);
    tp.next(1).next(2).next(3);
    let first = open(&outer, 0, u64::MAX);
    let second = open(&outer, 1, 0);
    tp.error("boom".to_string());
    first.assert_complete();
    second.assert_not_terminated(); // its item comes first
    second.request(1);
    second.assert_items(&[3]);
    second.assert_error_matches(|e| *e == Error::User("boom".to_string()));
    outer.assert_error_matches(|e| *e == Error::User("boom".to_string()));
    checks::error_propagates(|p| p.window(2).unwrap());
}

#[test]
fn completion_reaches_the_open_window_and_the_outer() {
    let tp = TestPublisher::<u32, String>::new();
    let (_, outer) = stage(&tp, 3, u64::MAX);
    tp.next(1);
    let inner = open(&outer, 0, u64::MAX);
    tp.complete();
    inner.assert_items(&[1]);
    inner.assert_complete();
    outer.assert_complete();
}

#[test]
fn request_zero_fails_outer_and_inner() {
    checks::request_zero_fails(|p| p.window(3).unwrap());
    let tp = TestPublisher::<u32, String>::new();
    let (_, outer) = stage(&tp, 3, 1);
    tp.next(1);
    let inner = open(&outer, 0, 0);
    inner.request(0);
    inner.assert_error_matches(|e| matches!(e, Error::InvalidRequest { stage: "window" }));
}

#[test]
fn late_signals_dropped() {
    checks::late_signals_dropped(|p| p.window(3).unwrap());
}

#[test]
fn non_compliant_upstream_is_a_protocol_violation() {
    let tp = TestPublisher::non_compliant(&[Violation::EmitWithoutDemand]);
    let (stats, outer) = stage(&tp, 2, 1);
    tp.next(1);
    let inner = open(&outer, 0, u64::MAX);
    tp.next(2); // requested
    tp.next(3); // never requested
    inner.assert_items(&[1, 2]);
    inner.assert_complete();
    outer.assert_error_matches(|e| {
        matches!(
            e,
            Error::ProtocolViolation {
                stage: "window",
                ..
            }
        )
    });
    tp.assert_cancelled();
    assert!(stats.snapshot().is_balanced());
    outer.assert_no_protocol_violations();
}

/// Windows consumed slowly, one item at a time, on tokio's paused clock: every item in
/// order, and the stage never holds more than the windows asked for.
#[tokio::test(start_paused = true)]
async fn slow_consumer_under_tokio() {
    let op = range(0, 200).window(7).unwrap();
    let stats = op.stats();
    let mut outer = op.into_stream(1);
    let mut seen = Vec::new();
    use futures::StreamExt;
    while let Some(w) = outer.next().await {
        let mut items = w.unwrap().into_stream(1);
        while let Some(x) = items.next().await {
            tokio::time::sleep(Duration::from_millis(5)).await;
            seen.push(x.unwrap());
        }
    }
    assert_eq!(seen, (0..200).collect::<Vec<_>>());
    let s = stats.snapshot();
    assert!(s.peak_buffered <= 2 * 7, "held {} items", s.peak_buffered);
    assert!(s.is_balanced());
}

/// A future that hands control back to the executor once.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

/// The same under `futures::executor::block_on`, the consumer yielding between items.
#[test]
fn slow_consumer_under_block_on() {
    let (seen, stats) = watchdog::watchdog("block_on", WATCHDOG, || {
        futures::executor::block_on(async {
            use futures::StreamExt;
            let op = range(0, 200).window(5).unwrap();
            let stats = op.stats();
            let mut outer = op.into_stream(1);
            let mut seen = Vec::new();
            while let Some(w) = outer.next().await {
                let mut items = w.unwrap().into_stream(2);
                while let Some(x) = items.next().await {
                    yield_now().await; // hand control back once
                    seen.push(x.unwrap());
                }
            }
            (seen, stats)
        })
    });
    assert_eq!(seen, (0..200).collect::<Vec<_>>());
    let s = stats.snapshot();
    assert!(s.peak_buffered <= 2 * 5, "held {} items", s.peak_buffered);
}

/// The outer stream and every window each drained on the thread scheduler: the stage's
/// signals come from several threads at once (a smoke test for its locking).
#[test]
fn windows_drained_on_other_threads() {
    let total = watchdog::watchdog("threads", WATCHDOG, || {
        futures::executor::block_on(
            range(0, 20_000)
                .window(7)
                .unwrap()
                .publish_on(spillway::ThreadScheduler::global(), 4)
                .unwrap()
                .flat_map(
                    |w| {
                        w.publish_on(spillway::ThreadScheduler::global(), 3)
                            .unwrap()
                    },
                    3,
                    2,
                )
                .unwrap()
                .fold(0u64, |a, x| a + x),
        )
    });
    assert_eq!(total, Ok((0..20_000u64).sum()));
}

/// The two levels of demand against the model (`input` cut in windows of `size`),
/// under a random schedule of outer requests, inner requests and upstream items.
#[derive(Debug, Clone)]
enum Op {
    Outer(u64),
    Inner(usize, u64),
    Push,
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            (1u64..3).prop_map(Op::Outer),
            (0usize..8, 1u64..4).prop_map(|(i, k)| Op::Inner(i, k)),
            Just(Op::Push),
            Just(Op::Push),
        ],
        0..60,
    )
}

fn run_two_level(input: &[u32], size: usize, schedule: &[Op]) {
    let tp = TestPublisher::<u32, Infallible>::new();
    let (sub, outer) = TestSubscriber::<UnicastWindow<u32, Infallible>, Infallible>::new(0);
    let op = tp.publisher().window(size).unwrap();
    let stats = op.stats();
    op.subscribe(sub);
    let model: Vec<Vec<u32>> = input.chunks(size).map(<[u32]>::to_vec).collect();
    let mut inners: Vec<(TestSubscriberHandle<u32, Infallible>, u64)> = Vec::new();
    let (mut next, mut outer_requested) = (0usize, 0u64);
    let subscribe_new = |inners: &mut Vec<(TestSubscriberHandle<u32, Infallible>, u64)>| {
        let windows = outer.items();
        for w in windows.into_iter().skip(inners.len()) {
            let (s, h) = TestSubscriber::new(0);
            w.subscribe(s);
            inners.push((h, 0));
        }
    };
    for op in schedule {
        match op {
            Op::Outer(k) => {
                outer.request(*k);
                outer_requested += k;
            }
            Op::Inner(i, k) => {
                if !inners.is_empty() {
                    let j = i % inners.len();
                    inners[j].0.request(*k);
                    inners[j].1 += k;
                }
            }
            Op::Push => {
                if next < input.len() && tp.outstanding() > 0 {
                    tp.next(input[next]);
                    next += 1;
                }
            }
        }
        subscribe_new(&mut inners);
        // Demand on both levels.
        assert!(outer.item_count() <= outer_requested);
        assert!(
            tp.total_requested() <= outer_requested * size as u64,
            "upstream asked {} for {outer_requested} windows of {size}",
            tp.total_requested()
        );
        assert!(stats.snapshot().buffered <= outer_requested * size as u64);
        for (j, (h, requested)) in inners.iter().enumerate() {
            let got = h.items();
            assert!(got.len() as u64 <= *requested);
            assert_eq!(got[..], model[j][..got.len()], "window {j}: not a prefix");
            h.assert_no_protocol_violations();
        }
        let stalled =
            outer.item_count() < outer_requested && next < input.len() && tp.outstanding() == 0;
        assert!(
            !stalled,
            "demand lost: the outer waits, upstream was not asked"
        );
    }
    outer.request(u64::MAX);
    while next < input.len() {
        tp.next(input[next]);
        next += 1;
    }
    tp.complete();
    subscribe_new(&mut inners);
    outer.assert_complete();
    let mut got = Vec::new();
    for (h, _) in &inners {
        h.request(u64::MAX);
        h.assert_complete();
        got.push(h.items());
    }
    assert_eq!(got, model);
    let s = stats.snapshot();
    assert_eq!(
        (s.received, s.emitted, s.buffered),
        (input.len() as u64, input.len() as u64, 0)
    );
}

proptest! {
    #[test]
    fn two_levels_of_demand_match_the_model(
        input in prop::collection::vec(0u32..6, 0..40),
        size in 1usize..5,
        schedule in ops(),
    ) {
        run_two_level(&input, size, &schedule);
    }

    #[test]
    fn flattened_matches_vec_model(
        (input, schedule) in model::input_and_schedule(),
        size in 1usize..5,
    ) {
        model::check_model!(
            input,
            schedule,
            |p| flat(p, size),
            |v: &[u32]| v.chunks(size).map(<[u32]>::to_vec).collect::<Vec<_>>()
        );
    }
}
