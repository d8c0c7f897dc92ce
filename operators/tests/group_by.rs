//! `group_by(key)`: one publisher per key with demand on two levels, a bounded buffer and
//! a bounded number of open groups; the `groupBy` trap (more groups than the consumer
//! takes at once) ends with a typed error instead of a hang.

#[path = "support/checks.rs"]
mod checks;

#[path = "support/watchdog.rs"]
mod watchdog;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::mpsc;
use std::time::Duration;

use proptest::prelude::*;
use spillway::operators::{
    DropReason, FlowStats, GroupedPublisher, GROUP_BY_TRAP, TOO_MANY_GROUPS,
};
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::{TestPublisher, TestSubscriber, TestSubscriberHandle, Violation};

type Group = GroupedPublisher<u32, u32, String>;

const WATCHDOG: Duration = Duration::from_secs(20);

/// `group_by(x / 10)` (so keys are chosen by the tens digit) with a buffer of `buffer`.
fn stage(
    tp: &TestPublisher<u32, String>,
    buffer: usize,
    max_groups: usize,
    initial: u64,
) -> (FlowStats, TestSubscriberHandle<Group, String>) {
    let (sub, outer) = TestSubscriber::new(initial);
    let op = tp
        .publisher()
        .group_by(|x| x / 10)
        .buffer(buffer)
        .unwrap()
        .max_groups(max_groups)
        .unwrap();
    let stats = op.stats();
    op.subscribe(sub);
    (stats, outer)
}

fn open(
    outer: &TestSubscriberHandle<Group, String>,
    i: usize,
    initial: u64,
) -> TestSubscriberHandle<u32, String> {
    let (sub, inner) = TestSubscriber::new(initial);
    outer.items()[i].clone().subscribe(sub);
    inner
}

fn is_trap(e: &Error<String>) -> bool {
    matches!(e, Error::Rejected { stage: "group_by", reason } if *reason == GROUP_BY_TRAP)
}

#[test]
fn config_zero_max_groups_or_buffer_is_rejected() {
    let e = range(0, 3).group_by(|x| *x).max_groups(0).unwrap_err();
    assert_eq!(e.stage(), "group_by");
    let e = range(0, 3).group_by(|x| *x).buffer(0).unwrap_err();
    assert_eq!(e.stage(), "group_by");
}

#[test]
fn conformance() {
    // The outer stream: one group per item (each dropped unsubscribed: closed).
    checks::conformance(|n| range(0, n).group_by(|x| *x).max_groups(usize::MAX).unwrap());
    // The items of every group, consumed at once.
    checks::conformance(|n| {
        range(0, n)
            .group_by(|x| x % 3)
            .flat_map(|g| g, 3, 8)
            .unwrap()
    });
}

#[test]
fn items_go_to_the_group_of_their_key_opened_by_its_first_item() {
    let groups = futures::executor::block_on(
        from_iter([1u32, 12, 3, 14, 25, 6])
            .group_by(|x| x / 10)
            .collect(),
    )
    .unwrap();
    assert_eq!(
        groups.iter().map(|g| *g.key()).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    let items: Vec<Vec<u32>> = groups
        .into_iter()
        .map(|g| futures::executor::block_on(g.collect()).unwrap())
        .collect();
    assert_eq!(items, vec![vec![1, 3, 6], vec![12, 14], vec![25]]);
}

#[test]
fn demand_outer_counts_groups_inner_counts_items_upstream_bounded_by_the_buffer() {
    let tp = TestPublisher::<u32, String>::new();
    let (stats, outer) = stage(&tp, 8, 16, 0);
    assert_eq!(tp.total_requested(), 0, "nothing before downstream asks");
    outer.request(1);
    assert_eq!(tp.total_requested(), 8, "the buffer");
    tp.next(1).next(2).next(3);
    assert_eq!(outer.item_count(), 1);
    let g0 = open(&outer, 0, 1);
    g0.assert_items(&[1]);
    assert_eq!(
        stats.snapshot().buffered,
        2,
        "held until its subscriber asks"
    );
    tp.next(11); // a second key: a group not asked for yet
    assert_eq!(outer.item_count(), 1);
    outer.request(1);
    assert_eq!(outer.item_count(), 2);
    assert_eq!(*outer.items()[1].key(), 1);
    // 4 held + 4 in flight = 8: nothing more until items are taken.
    assert_eq!(tp.outstanding(), 4);
    g0.request(2);
    assert_eq!(tp.outstanding(), 6, "topped up as items are taken");
    assert!(stats.snapshot().peak_buffered <= 8);
    outer.assert_no_protocol_violations();
    g0.assert_no_protocol_violations();
}

#[test]
fn too_many_groups_fails_with_a_typed_error() {
    let tp = TestPublisher::<u32, String>::new();
    let (stats, outer) = stage(&tp, 8, 2, u64::MAX);
    tp.next(1).next(11);
    let g0 = open(&outer, 0, u64::MAX);
    tp.next(21); // a third key while 2 are open
    let too_many = |e: &Error<String>| matches!(e, Error::Rejected { stage: "group_by", reason } if *reason == TOO_MANY_GROUPS);
    outer.assert_error_matches(too_many);
    g0.assert_items(&[1]);
    g0.assert_error_matches(too_many);
    tp.assert_cancelled();
    assert!(stats.snapshot().is_balanced());
}

#[test]
fn a_closed_group_frees_its_place() {
    let tp = TestPublisher::<u32, String>::new();
    let (_, outer) = stage(&tp, 8, 1, u64::MAX);
    tp.next(1);
    let g0 = open(&outer, 0, u64::MAX);
    g0.cancel();
    tp.next(11); // the only place is free again
    outer.assert_not_terminated();
    assert_eq!(outer.item_count(), 2);
}

/// The trap, step by step: one group consumed at a time (as `flat_map` of concurrency
/// 1), items of a second key fill the buffer while the first group waits for items.
#[test]
fn the_group_by_trap_fails_instead_of_hanging() {
    watchdog::watchdog("trap", WATCHDOG, || {
        let tp = TestPublisher::<u32, String>::new();
        let (stats, outer) = stage(&tp, 4, 16, 1);
        tp.next(1);
        let g0 = open(&outer, 0, u64::MAX);
        g0.assert_items(&[1]);
        tp.next(11).next(12).next(13);
        outer.assert_not_terminated();
        tp.next(14); // the buffer is full of key 1, which nobody asked for; g0 waits
        outer.assert_error_matches(is_trap);
        g0.assert_error_matches(is_trap);
        tp.assert_cancelled();
        let s = stats.snapshot();
        assert_eq!(
            s.dropped_for(DropReason::Discarded),
            4,
            "the group not handed out"
        );
        assert!(s.is_balanced());
    });
}

/// The same when the waiting subscriber asks after the buffer filled.
#[test]
fn the_trap_is_seen_when_a_group_starts_waiting() {
    let tp = TestPublisher::<u32, String>::new();
    let (_, outer) = stage(&tp, 3, 16, 1);
    tp.next(1);
    let g0 = open(&outer, 0, 0);
    g0.request(1); // takes 1: holds nothing
    tp.next(11).next(12).next(13); // full of key 1; g0 has no demand: just a pause
    outer.assert_not_terminated();
    g0.request(1); // now g0 waits for items that can never come
    g0.assert_error_matches(is_trap);
    outer.assert_error_matches(is_trap);
}

/// The trap in a real pipeline: `flat_map` with a concurrency below the number of keys.
fn trap_pipeline() -> Result<Vec<u64>, Error<Infallible>> {
    futures::executor::block_on(
        range(0, 100_000)
            .group_by(|x| x % 8)
            .buffer(32)
            .unwrap()
            .flat_map(|g| g, 2, 4)
            .unwrap()
            .collect(),
    )
}

#[test]
fn the_trap_with_flat_map_under_block_on() {
    let out = watchdog::watchdog("trap under block_on", WATCHDOG, trap_pipeline);
    assert!(
        matches!(out, Err(Error::Rejected { stage: "group_by", reason }) if reason == GROUP_BY_TRAP),
        "{out:?}"
    );
}

#[tokio::test]
async fn the_trap_with_flat_map_under_tokio() {
    let out = tokio::time::timeout(WATCHDOG, async {
        range(0, 100_000)
            .group_by(|x| x % 8)
            .buffer(32)
            .unwrap()
            .publish_on(spillway::ThreadScheduler::global(), 4)
            .unwrap()
            .flat_map(|g| g, 2, 4)
            .unwrap()
            .collect()
            .await
    })
    .await
    .expect("a hang");
    assert!(
        matches!(out, Err(Error::Rejected { stage: "group_by", reason }) if reason == GROUP_BY_TRAP),
        "{out:?}"
    );
}

/// Groups handed to tasks on a thread pool, each subscribed when its task runs: the
/// buffer may fill before a task subscribes, while another group waits; the outer still
/// asks for groups, so that is not the trap.
#[test]
fn groups_subscribed_later_from_other_tasks_are_not_the_trap() {
    let sums = watchdog::watchdog("spawned groups", WATCHDOG, || {
        let pool = futures::executor::ThreadPool::new().unwrap();
        let (tx, rx) = mpsc::channel();
        let out = futures::executor::block_on(
            range(0, 20_000)
                .group_by(|x| x % 4)
                .buffer(8)
                .unwrap()
                .for_each(move |g| {
                    let tx = tx.clone();
                    pool.spawn_ok(async move {
                        let k = *g.key();
                        let sum = g.fold(0u64, |a, x| a + x).await;
                        tx.send((k, sum)).unwrap();
                    });
                }),
        );
        assert_eq!(out, Ok(()));
        let mut sums: Vec<(u64, Result<u64, Error<Infallible>>)> = rx.iter().take(4).collect();
        sums.sort_by_key(|(k, _)| *k);
        sums
    });
    for (k, sum) in sums {
        let expected: u64 = (0..20_000).filter(|x| x % 4 == k).sum();
        assert_eq!(sum, Ok(expected), "key {k}");
    }
}

#[test]
fn a_slow_group_is_backpressure_not_the_trap() {
    let tp = TestPublisher::<u32, String>::new();
    let (_, outer) = stage(&tp, 4, 16, 2);
    tp.next(1).next(2).next(3);
    let g0 = open(&outer, 0, 0); // slow: holds 3
    tp.next(11);
    let g1 = open(&outer, 1, u64::MAX); // took 11, waits for more
    g1.assert_items(&[11]);
    tp.next(4); // full: 4 held by g0, which may still ask
    outer.assert_not_terminated();
    assert_eq!(tp.outstanding(), 0, "paused");
    g0.request(4);
    g0.assert_items(&[1, 2, 3, 4]);
    assert!(tp.outstanding() > 0, "resumed");
    tp.next(12);
    g1.assert_items(&[11, 12]);
    outer.assert_not_terminated();
}

#[test]
fn outer_cancel_keeps_the_groups_handed_out_then_cancels_upstream() {
    let tp = TestPublisher::<u32, String>::new();
    let (stats, outer) = stage(&tp, 8, 16, 1);
    tp.next(1);
    let g0 = open(&outer, 0, u64::MAX);
    tp.next(11); // pending: discarded by the cancel
    outer.cancel();
    tp.assert_not_cancelled();
    tp.next(2).next(21); // 21: a new key after the cancel, dropped
    g0.assert_items(&[1, 2]);
    g0.cancel();
    tp.assert_cancelled();
    let s = stats.snapshot();
    assert_eq!(s.dropped_for(DropReason::Discarded), 2);
    assert!(s.is_balanced());
}

#[test]
fn cancel_reaches_upstream() {
    checks::cancel_reaches_upstream(|p| p.group_by(|x| *x));
}

#[test]
fn a_cancelled_group_drops_its_items_and_its_key_opens_a_new_group() {
    let tp = TestPublisher::<u32, String>::new();
    let (stats, outer) = stage(&tp, 8, 16, u64::MAX);
    tp.next(1).next(2);
    let g0 = open(&outer, 0, 1);
    g0.cancel(); // 2 was held
    tp.next(3);
    assert_eq!(outer.item_count(), 2, "a new group for key 0");
    assert_eq!(*outer.items()[1].key(), 0);
    let again = open(&outer, 1, u64::MAX);
    again.assert_items(&[3]);
    let s = stats.snapshot();
    assert_eq!(s.dropped_for(DropReason::Discarded), 1);
    assert!(s.is_balanced());
}

#[test]
fn a_group_dropped_unsubscribed_is_cancelled() {
    let op = range(0, 6).group_by(|x| x % 2);
    let stats = op.stats();
    let keys = futures::executor::block_on(op.map(|g| *g.key()).collect()).unwrap();
    // Each group dropped at once: its key opens a new group at its next item.
    assert_eq!(keys, vec![0, 1, 0, 1, 0, 1]);
    let s = stats.snapshot();
    assert_eq!(s.dropped_for(DropReason::Discarded), 6);
    assert!(s.is_balanced());
}

#[test]
fn a_group_subscribed_twice_rejects_the_second_subscriber() {
    let tp = TestPublisher::<u32, String>::new();
    let (_, outer) = stage(&tp, 8, 16, 1);
    tp.next(1);
    let first = open(&outer, 0, u64::MAX);
    let second = open(&outer, 0, u64::MAX);
    second.assert_error_matches(|e| {
        matches!(
            e,
            Error::Rejected {
                stage: "group_by",
                ..
            }
        )
    });
    tp.next(2);
    first.assert_items(&[1, 2]);
}

#[test]
fn error_halfway_reaches_every_group_after_its_items() {
    let tp = TestPublisher::<u32, String>::new();
    let (_, outer) = stage(&tp, 8, 16, 2);
    tp.next(1).next(11).next(2);
    let g0 = open(&outer, 0, 0);
    let g1 = open(&outer, 1, u64::MAX);
    tp.error("boom".to_string());
    g1.assert_items(&[11]);
    g1.assert_error_matches(|e| *e == Error::User("boom".to_string()));
    g0.assert_not_terminated();
    g0.request(5);
    g0.assert_items(&[1, 2]);
    g0.assert_error_matches(|e| *e == Error::User("boom".to_string()));
    outer.assert_error_matches(|e| *e == Error::User("boom".to_string()));
    checks::error_propagates(|p| p.group_by(|x| *x));
}

#[test]
fn completion_completes_every_group_and_then_the_outer() {
    let tp = TestPublisher::<u32, String>::new();
    let (_, outer) = stage(&tp, 8, 16, 1);
    tp.next(1).next(11);
    let g0 = open(&outer, 0, u64::MAX);
    tp.complete();
    g0.assert_complete();
    outer.assert_not_terminated(); // group 1 is still to be handed out
    outer.request(1);
    outer.assert_complete();
    let g1 = open(&outer, 1, u64::MAX);
    g1.assert_items(&[11]);
    g1.assert_complete();
}

#[test]
fn request_zero_fails() {
    checks::request_zero_fails(|p| p.group_by(|x| x % 2));
}

#[test]
fn late_signals_dropped() {
    checks::late_signals_dropped(|p| p.group_by(|x| *x));
}

#[test]
fn a_panicking_key_fails_the_stage() {
    checks::callback_panics("group_by", |p| {
        p.group_by(|x| {
            checks::boom(*x);
            *x
        })
    });
}

#[test]
fn non_compliant_upstream_is_a_protocol_violation() {
    let tp = TestPublisher::non_compliant(&[Violation::EmitWithoutDemand]);
    let (_, outer) = stage(&tp, 2, 16, 1);
    tp.next(1);
    let g0 = open(&outer, 0, 0);
    tp.next(2); // requested: the buffer of 2
    tp.next(3); // never requested
    let violation = |e: &Error<String>| {
        matches!(
            e,
            Error::ProtocolViolation {
                stage: "group_by",
                ..
            }
        )
    };
    outer.assert_error_matches(violation);
    tp.assert_cancelled();
    g0.request(5);
    g0.assert_items(&[1, 2]);
    g0.assert_error_matches(violation);
}

/// Every group consumed at once, one item at a time on tokio's paused clock.
#[tokio::test(start_paused = true)]
async fn slow_consumer_under_tokio() {
    use futures::StreamExt;
    let op = range(0, 300).group_by(|x| x % 5).buffer(16).unwrap();
    let stats = op.stats();
    let mut s = op
        .flat_map(
            |g| {
                let k = *g.key();
                g.map(move |x| (k, x))
            },
            5,
            2,
        )
        .unwrap()
        .into_stream(1);
    let mut seen: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    while let Some(x) = s.next().await {
        let (k, x) = x.unwrap();
        tokio::time::sleep(Duration::from_millis(3)).await;
        seen.entry(k).or_default().push(x);
    }
    for (k, xs) in &seen {
        assert_eq!(*xs, (0..300).filter(|x| x % 5 == *k).collect::<Vec<_>>());
    }
    assert_eq!(seen.len(), 5);
    let s = stats.snapshot();
    assert!(s.peak_buffered <= 16, "held {}", s.peak_buffered);
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

#[test]
fn slow_consumer_under_block_on() {
    let seen = watchdog::watchdog("block_on", WATCHDOG, || {
        futures::executor::block_on(async {
            use futures::StreamExt;
            let mut s = range(0, 300)
                .group_by(|x| x % 4)
                .buffer(8)
                .unwrap()
                .flat_map(|g| g, 4, 2)
                .unwrap()
                .into_stream(1);
            let mut seen = Vec::new();
            while let Some(x) = s.next().await {
                yield_now().await;
                seen.push(x.unwrap());
            }
            seen
        })
    });
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..300).collect::<Vec<_>>());
}

/// The outer stream and every group each drained on the thread scheduler (a smoke test
/// for the stage's locking under signals from several threads).
#[test]
fn groups_drained_on_other_threads() {
    let total = watchdog::watchdog("threads", WATCHDOG, || {
        futures::executor::block_on(
            range(0, 20_000)
                .group_by(|x| x % 5)
                .buffer(16)
                .unwrap()
                .publish_on(spillway::ThreadScheduler::global(), 8)
                .unwrap()
                .flat_map(
                    |g| {
                        g.publish_on(spillway::ThreadScheduler::global(), 3)
                            .unwrap()
                    },
                    5,
                    2,
                )
                .unwrap()
                .fold(0u64, |a, x| a + x),
        )
    });
    assert_eq!(total, Ok((0..20_000u64).sum()));
}

proptest! {
    /// Consumed with `flat_map` of concurrency >= the keys: the items of each key in
    /// order, the keys in the order of their first item, the buffer never exceeded.
    #[test]
    fn matches_the_by_key_model(
        input in prop::collection::vec(0u32..30, 0..60),
        keys in 1u32..5,
        buffer in 1usize..6,
        batch in 1usize..4,
    ) {
        let op = from_iter(input.clone())
            .group_by(move |x| x % keys)
            .buffer(buffer)
            .unwrap();
        let stats = op.stats();
        let out = futures::executor::block_on(
            op.flat_map(|g| { let k = *g.key(); g.map(move |x| (k, x)) }, keys as usize, batch)
                .unwrap()
                .collect(),
        )
        .unwrap();
        let mut got: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for (k, x) in out {
            got.entry(k).or_default().push(x);
        }
        let mut model: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for x in &input {
            model.entry(x % keys).or_default().push(*x);
        }
        prop_assert_eq!(got, model);
        let s = stats.snapshot();
        prop_assert!(s.peak_buffered <= buffer as u64);
        prop_assert!(s.is_balanced());
        prop_assert_eq!(s.emitted, input.len() as u64);
    }
}
