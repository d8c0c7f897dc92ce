//! The one-item operators that answer a question about the whole stream: `any`, `all`,
//! `count_items`, `first_or`, `last_or`. Each: nothing requested before downstream asks,
//! the answer against a model (proptest), upstream cancelled as soon as the answer is
//! known, an error halfway, a non-compliant upstream, conformance, and the ways users
//! run it (tokio, block_on).

use proptest::prelude::*;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::{self, TckConfig};
use spillway_testkit::{TestPublisher, TestSubscriber, Violation};

type Tp = TestPublisher<u32, String>;

#[test]
fn any_and_all_decide_at_the_first_deciding_item_and_cancel_upstream() {
    let tp = Tp::new();
    let (sub, down) = TestSubscriber::new(0);
    tp.publisher().any(|x| x % 2 == 0).subscribe(sub);
    assert_eq!(tp.total_requested(), 0, "nothing before downstream asks");
    down.request(1);
    assert_eq!(tp.total_requested(), u64::MAX);
    tp.next(1).next(3);
    down.assert_items(&[]);
    tp.next(4);
    down.assert_items(&[true]);
    down.assert_complete();
    assert!(tp.is_cancelled());

    let tp = Tp::new();
    let (sub, down) = TestSubscriber::new(1);
    tp.publisher().all(|x| x % 2 == 0).subscribe(sub);
    tp.next(2).next(4).next(5);
    down.assert_items(&[false]);
    down.assert_complete();
    assert!(tp.is_cancelled());
}

#[test]
fn an_undecided_stream_answers_at_completion() {
    for (all, expected) in [(false, false), (true, true)] {
        let tp = Tp::new();
        let (sub, down) = TestSubscriber::new(1);
        if all {
            tp.publisher().all(|x| *x < 10).subscribe(sub);
        } else {
            tp.publisher().any(|x| *x >= 10).subscribe(sub);
        }
        tp.next(1).next(2);
        down.assert_items(&[]);
        tp.complete();
        down.assert_items(&[expected]);
        down.assert_complete();
    }
}

#[test]
fn count_items_counts_at_completion_and_only_after_a_request() {
    let tp = Tp::new();
    let (sub, down) = TestSubscriber::new(0);
    tp.publisher().count_items().subscribe(sub);
    assert_eq!(tp.total_requested(), 0);
    down.request(1);
    tp.next(1).next(2).next(3).complete();
    down.assert_items(&[3]);
    down.assert_complete();
}

#[test]
fn first_or_takes_one_item_and_cancels() {
    let tp = Tp::new();
    let (sub, down) = TestSubscriber::new(5);
    tp.publisher().first_or(0).subscribe(sub);
    assert_eq!(tp.total_requested(), 1, "one item asked for");
    tp.next(7);
    down.assert_items(&[7]);
    down.assert_complete();
    assert!(tp.is_cancelled());
}

#[test]
fn defaults_for_an_empty_upstream() {
    let out = futures::executor::block_on(async {
        (
            range(0, 0).first_or(1).collect().await.unwrap(),
            range(0, 0).last_or(2).collect().await.unwrap(),
            range(0, 0).count_items().collect().await.unwrap(),
        )
    });
    assert_eq!(out, (vec![1], vec![2], vec![0]));
}

#[test]
fn an_error_halfway_fails_without_an_answer() {
    type Op = fn(spillway_testkit::TestPublisherSource<u32, String>, TestSubscriber<u64, String>);
    let cases: [(&str, Op); 3] = [
        ("count_items", |p, s| p.count_items().subscribe(s)),
        ("any", |p, s| {
            p.any(|x| *x > 100).map(u64::from).subscribe(s)
        }),
        ("last_or", |p, s| p.last_or(0).map(u64::from).subscribe(s)),
    ];
    for (name, subscribe) in cases {
        let tp = Tp::new();
        let (sub, down) = TestSubscriber::new(1);
        subscribe(tp.publisher(), sub);
        tp.next(1).error("boom".to_string());
        down.assert_items(&[]);
        down.assert_error_matches(|e| matches!(e, Error::User(m) if m == "boom"));
        assert!(
            !tp.is_cancelled(),
            "{name}: an ended upstream is not cancelled"
        );
    }
}

#[test]
fn non_compliant_upstream_is_a_protocol_violation() {
    for stage in ["any", "all", "count_items"] {
        let tp = Tp::non_compliant(&[Violation::EmitWithoutDemand]);
        let (sub, down) = TestSubscriber::<u64, String>::new(0);
        let p = tp.publisher();
        match stage {
            "any" => p.any(|_| false).map(u64::from).subscribe(sub),
            "all" => p.all(|_| true).map(u64::from).subscribe(sub),
            _ => p.count_items().subscribe(sub),
        }
        // Detected when the answer finds no demand for it.
        tp.next(1).complete();
        down.assert_error_matches(
            |e| matches!(e, Error::ProtocolViolation { stage: s, .. } if *s == stage),
        );
        down.assert_no_protocol_violations();
    }
}

#[test]
fn conformance() {
    // Each emits exactly one item: the suite's n is 0 or 1 (`take(n)` makes the empty
    // case: the stage is cancelled before its answer).
    let config = || {
        TckConfig::synchronous()
            .cannot_fail("over a range")
            .excuse("*", "emits exactly one item")
    };
    let reports = [
        tck::verify_publisher_with(
            tck::publisher_factory(|n| range(0, n + 3).any(|x| *x == 1).take(n)).max_elements(1),
            config(),
        ),
        tck::verify_publisher_with(
            tck::publisher_factory(|n| range(0, n + 3).all(|x| *x < 1000).take(n)).max_elements(1),
            config(),
        ),
        tck::verify_publisher_with(
            tck::publisher_factory(|n| range(0, n).count_items().take(n)).max_elements(1),
            config(),
        ),
    ];
    for report in reports {
        report.assert_all_passed();
        for rule in ["setup", "1.5", "3.9", "3.13"] {
            assert!(report.passed(rule), "{rule}:\n{report}");
        }
    }
}

/// As users run it: per-line checks of a file-like stream inside `tokio::spawn`.
#[tokio::test]
async fn inside_tokio_spawn() {
    let task = tokio::spawn(async {
        let lines = from_iter(["ok", "ok", "bad", "ok"].map(String::from));
        let all_ok = lines.all(|l: &String| l == "ok").collect().await.unwrap();
        let count = from_iter(0..1000u32).count_items().collect().await.unwrap();
        (all_ok, count)
    });
    assert_eq!(task.await.unwrap(), (vec![false], vec![1000]));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// Against the iterator answers, over random inputs and a random threshold.
    #[test]
    fn answers_match_the_iterator(items in proptest::collection::vec(0u32..20, 0..30), k in 0u32..20) {
        let run = |f: fn(spillway::BoxPublisher<u32, std::convert::Infallible>, u32) -> spillway::BoxPublisher<u64, std::convert::Infallible>| {
            futures::executor::block_on(f(from_iter(items.clone()).boxed(), k).collect()).unwrap()
        };
        prop_assert_eq!(run(|p, k| p.any(move |x| *x == k).map(u64::from).boxed()), vec![u64::from(items.contains(&k))]);
        prop_assert_eq!(run(|p, k| p.all(move |x| *x < k).map(u64::from).boxed()), vec![u64::from(items.iter().all(|x| *x < k))]);
        prop_assert_eq!(run(|p, _| p.count_items().boxed()), vec![items.len() as u64]);
        prop_assert_eq!(run(|p, k| p.first_or(k).map(u64::from).boxed()), vec![u64::from(*items.first().unwrap_or(&k))]);
        prop_assert_eq!(run(|p, k| p.last_or(k).map(u64::from).boxed()), vec![u64::from(*items.last().unwrap_or(&k))]);
    }
}
