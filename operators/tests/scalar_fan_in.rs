//! The scalar fast path of `flat_map`, `concat_map` and `switch_map`: inner publishers
//! that answer `Publisher::into_scalar` (`just`, `empty`, `error`, or a user's own) are
//! not subscribed, yet the outcome is that of subscribing them: exact demand, order,
//! completion, fail fast, cancellation, and an outer upstream whose demand stays bounded
//! by the concurrency.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use proptest::prelude::*;
use spillway::prelude::*;
use spillway::{Error, Scalar};
use spillway_testkit::tck::{self, TckConfig};
use spillway_testkit::{TestPublisher, TestSubscriber, TestSubscriberHandle, Violation};

type Handle<T, E = String> = TestSubscriberHandle<T, E>;

fn subscribe<P: Publisher>(p: P, initial: u64) -> Handle<P::Item, P::Error> {
    let (sub, handle) = TestSubscriber::new(initial);
    p.subscribe(sub);
    handle
}

/// An inner publisher of the tests: scalar kinds answer `into_scalar` unless `opt_out`,
/// and every subscription is counted, so a test can tell which path was taken.
#[derive(Debug, Clone)]
enum Inner {
    Just(u64),
    Empty,
    Fail(&'static str),
    /// Several items, never a scalar.
    Many(Vec<u64>),
    /// Never completes.
    Never,
}

#[derive(Debug, Clone)]
struct Probe {
    inner: Inner,
    /// Subscribe even a scalar kind (the reference behaviour).
    opt_out: bool,
    subscriptions: Arc<AtomicUsize>,
}

impl Publisher for Probe {
    type Item = u64;
    type Error = String;
    fn subscribe<S: Subscriber<Item = u64, Error = String>>(self, s: S) {
        self.subscriptions.fetch_add(1, Ordering::SeqCst);
        match self.inner {
            Inner::Just(x) => items(vec![x]).subscribe(s),
            Inner::Empty => items(Vec::new()).subscribe(s),
            Inner::Fail(e) => error(e.to_string()).subscribe(s),
            Inner::Many(v) => items(v).subscribe(s),
            Inner::Never => never().subscribe(s),
        }
    }
    fn into_scalar(self) -> Result<Scalar<u64, String>, Self> {
        if self.opt_out {
            return Err(self);
        }
        match self.inner {
            Inner::Just(x) => Ok(Scalar::Item(x)),
            Inner::Empty => Ok(Scalar::Empty),
            Inner::Fail(e) => Ok(Scalar::Error(Error::User(e.to_string()))),
            Inner::Many(_) | Inner::Never => Err(self),
        }
    }
}

/// A subscribed (never scalar) source of `v`.
fn items(v: Vec<u64>) -> impl Publisher<Item = u64, Error = String> {
    from_iter(v).map_error(|e: Infallible| -> String { match e {} })
}

fn probe(inner: Inner, opt_out: bool, subscriptions: &Arc<AtomicUsize>) -> Probe {
    Probe {
        inner,
        opt_out,
        subscriptions: subscriptions.clone(),
    }
}

#[test]
fn just_inners_one_request_at_a_time() {
    let h = subscribe(range(0, 50).flat_map(|x| just(x * 10), 8, 1).unwrap(), 0);
    h.assert_items(&[]);
    for k in 1..=50u64 {
        h.request(1);
        assert_eq!(h.item_count(), k, "exactly one more item per request");
    }
    let want: Vec<u64> = (0..50).map(|x| x * 10).collect();
    h.assert_items(&want);
    h.assert_complete();
    h.assert_no_protocol_violations();
}

#[test]
fn concat_map_just_one_request_at_a_time() {
    let h = subscribe(range(0, 30).concat_map(|x| just(x + 1)), 0);
    for k in 1..=30u64 {
        h.request(1);
        assert_eq!(h.item_count(), k);
    }
    h.assert_items(&(1..=30).collect::<Vec<_>>());
    h.assert_complete();
    h.assert_no_protocol_violations();
}

#[test]
fn scalar_inners_are_not_subscribed() {
    let subs = Arc::new(AtomicUsize::new(0));
    let s = subs.clone();
    let h = subscribe(
        range(0, 10)
            .map_error(|e: Infallible| -> String { match e {} })
            .flat_map(move |x| probe(Inner::Just(x), false, &s), 4, 1)
            .unwrap(),
        u64::MAX,
    );
    h.assert_items(&(0..10).collect::<Vec<_>>());
    h.assert_complete();
    assert_eq!(
        subs.load(Ordering::SeqCst),
        0,
        "the scalar path subscribes nothing"
    );
}

#[test]
fn outer_demand_stays_bounded_without_downstream_demand() {
    let outer = TestPublisher::<u64, Infallible>::new();
    let h = subscribe(outer.publisher().flat_map(just, 4, 1).unwrap(), 0);
    assert_eq!(outer.total_requested(), 4, "the concurrency");
    for x in 0..4 {
        outer.next(x);
    }
    // Four finished scalar inners queued, none delivered: their places are not handed
    // back, so the outer cannot be made to queue more.
    assert_eq!(outer.total_requested(), 4);
    assert_eq!(outer.outstanding(), 0);
    h.request(2);
    h.assert_items(&[0, 1]);
    // outstanding + queued never exceeds the concurrency.
    assert!(outer.outstanding() + 2 <= 4, "{}", outer.outstanding());
    assert!(
        outer.total_requested() >= 5,
        "places handed back: none was outstanding"
    );
    h.request(10);
    h.assert_items(&[0, 1, 2, 3]);
    assert!(outer.outstanding() <= 4);
    outer.complete();
    h.assert_complete();
    h.assert_no_protocol_violations();
}

#[test]
fn held_back_places_go_when_the_outer_runs_dry() {
    // Concurrency 2 hands places back two at a time, unless the outer has nothing
    // outstanding: then a held-back place must go at once, or a never-ending inner
    // would stall the operator with a free place.
    let outer = TestPublisher::<u64, String>::new();
    let subs = Arc::new(AtomicUsize::new(0));
    let s = subs.clone();
    let h = subscribe(
        outer
            .publisher()
            .flat_map(
                move |x| probe(if x < 2 { Inner::Just(x) } else { Inner::Never }, false, &s),
                2,
                1,
            )
            .unwrap(),
        0,
    );
    outer.next(0).next(1);
    h.request(1);
    h.request(1);
    h.assert_items(&[0, 1]);
    assert_eq!(outer.outstanding(), 1);
    outer.next(2); // a never-ending inner takes the outstanding place
    assert_eq!(
        outer.outstanding(),
        1,
        "the held-back place was handed back"
    );
    outer.next(3);
    assert_eq!(
        outer.outstanding(),
        0,
        "both places taken by never-ending inners"
    );
    assert_eq!(subs.load(Ordering::SeqCst), 2);
    h.assert_not_terminated();
}

#[test]
fn outer_is_replenished_in_batches() {
    let outer = TestPublisher::<u64, Infallible>::new();
    let h = subscribe(outer.publisher().flat_map(just, 8, 1).unwrap(), u64::MAX);
    for x in 0..64 {
        assert!(outer.outstanding() > 0, "never stalls");
        outer.next(x);
    }
    outer.complete();
    h.assert_items(&(0..64).collect::<Vec<_>>());
    h.assert_complete();
    let sizes: Vec<u64> = outer.requests().iter().map(|&(_, n)| n).collect();
    assert_eq!(sizes[0], 8);
    assert!(
        sizes[1..].iter().all(|&n| n >= 6),
        "replenished per 75% of the concurrency, not per item: {sizes:?}"
    );
}

#[test]
fn batched_outer_replenishes_per_batch() {
    // `range` is fused into the outer subscriber: its items come in batches.
    let counted = Arc::new(AtomicUsize::new(0));
    let c = counted.clone();
    let h = subscribe(
        range(0, 1000)
            .flat_map(
                move |x| {
                    c.fetch_add(1, Ordering::SeqCst);
                    just(x)
                },
                8,
                1,
            )
            .unwrap(),
        u64::MAX,
    );
    assert_eq!(h.item_count(), 1000);
    assert_eq!(h.items().iter().sum::<u64>(), (0..1000).sum());
    h.assert_complete();
    assert_eq!(counted.load(Ordering::SeqCst), 1000);
}

#[test]
fn empty_inners_complete_without_items() {
    let outer = TestPublisher::<u64, Infallible>::new();
    let h = subscribe(
        outer
            .publisher()
            .flat_map(|_| empty::<u64, Infallible>(), 3, 1)
            .unwrap(),
        1,
    );
    for x in 0..20 {
        assert!(
            outer.outstanding() > 0,
            "an empty inner hands its place back at once"
        );
        outer.next(x);
    }
    h.assert_items(&[]);
    h.assert_not_terminated();
    outer.complete();
    h.assert_complete();
    // Also on the batched path.
    let h = subscribe(
        range(0, 100)
            .flat_map(|_| empty::<u64, Infallible>(), 8, 1)
            .unwrap(),
        1,
    );
    h.assert_items(&[]);
    h.assert_complete();
}

#[test]
fn error_inner_fails_fast_and_cancels_outer() {
    let outer = TestPublisher::<u64, String>::new();
    let h = subscribe(
        outer
            .publisher()
            .flat_map(
                |x| {
                    let subs = Arc::new(AtomicUsize::new(0));
                    if x == 2 {
                        probe(Inner::Fail("boom"), false, &subs)
                    } else {
                        probe(Inner::Just(x), false, &subs)
                    }
                },
                4,
                1,
            )
            .unwrap(),
        u64::MAX,
    );
    outer.next(0).next(1).next(2);
    h.assert_items(&[0, 1]);
    h.assert_error_matches(|e| matches!(e, Error::User(m) if m == "boom"));
    outer.assert_cancelled();
    h.assert_no_protocol_violations();
}

#[test]
fn error_inner_on_the_batched_path_keeps_the_items_before_it() {
    let h = subscribe(
        range(0, 100)
            .map_error(|e: Infallible| -> String { match e {} })
            .flat_map(
                |x| {
                    let subs = Arc::new(AtomicUsize::new(0));
                    let kind = if x == 5 {
                        Inner::Fail("boom")
                    } else {
                        Inner::Just(x)
                    };
                    probe(kind, false, &subs)
                },
                8,
                1,
            )
            .unwrap(),
        u64::MAX,
    );
    h.assert_items(&[0, 1, 2, 3, 4]);
    h.assert_error_matches(|e| matches!(e, Error::User(m) if m == "boom"));
}

#[test]
fn mapper_panic_on_the_batched_path() {
    let h = subscribe(
        range(0, 100)
            .flat_map(
                |x| {
                    assert!(x != 3, "mapper blew up");
                    just(x)
                },
                8,
                1,
            )
            .unwrap(),
        u64::MAX,
    );
    h.assert_items(&[0, 1, 2]);
    h.assert_error_matches(|e| {
        matches!(
            e,
            Error::Panicked {
                stage: "flat_map",
                ..
            }
        )
    });
}

#[test]
fn cancel_midway_reaches_the_outer() {
    let outer = TestPublisher::<u64, Infallible>::new();
    let h = subscribe(outer.publisher().flat_map(just, 4, 1).unwrap(), 2);
    outer.next(0).next(1).next(2);
    h.assert_items(&[0, 1]);
    h.cancel();
    outer.assert_cancelled();
    h.request(5);
    h.assert_items(&[0, 1]);
    h.assert_not_terminated();
    // The same through the batched path: cancelling from inside on_next.
    let (sub, h) = TestSubscriber::<u64, Infallible>::new(u64::MAX);
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    range(0, u64::MAX)
        .do_on_next(move |_: &u64| {
            s.fetch_add(1, Ordering::SeqCst);
        })
        .flat_map(just, 8, 1)
        .unwrap()
        .take(10)
        .subscribe(sub);
    h.assert_items(&(0..10).collect::<Vec<_>>());
    h.assert_complete();
    let outer_items = seen.load(Ordering::SeqCst);
    assert!(
        (10..=18).contains(&outer_items),
        "take cancels: the outer stops within one concurrency ({outer_items})"
    );
}

#[test]
fn non_compliant_outer_is_a_protocol_violation() {
    let outer = TestPublisher::<u64, Infallible>::non_compliant(&[Violation::EmitWithoutDemand]);
    let h = subscribe(outer.publisher().flat_map(just, 2, 1).unwrap(), 0);
    outer.next(0).next(1).next(2);
    h.assert_error_matches(|e| {
        matches!(
            e,
            Error::ProtocolViolation {
                stage: "flat_map",
                ..
            }
        )
    });
}

#[test]
fn switch_map_scalar_replaces_what_the_previous_inner_left() {
    let outer = TestPublisher::<u64, Infallible>::new();
    let h = subscribe(outer.publisher().switch_map(just), 0);
    outer.next(1).next(2).next(3);
    h.request(5);
    h.assert_items(&[3]);
    outer.next(4);
    h.assert_items(&[3, 4]);
    outer.complete();
    h.assert_complete();
    // With demand, every scalar is delivered before the next outer item arrives.
    let h = subscribe(range(0, 20).switch_map(just), u64::MAX);
    h.assert_items(&(0..20).collect::<Vec<_>>());
    h.assert_complete();
}

#[test]
fn concat_map_mixed_inners_keep_order_under_limited_demand() {
    let subs = Arc::new(AtomicUsize::new(0));
    let s = subs.clone();
    let kinds = move |x: u64| match x % 4 {
        0 => Inner::Just(x * 100),
        1 => Inner::Many(vec![x * 100, x * 100 + 1, x * 100 + 2]),
        2 => Inner::Empty,
        _ => Inner::Many(vec![]),
    };
    let h = subscribe(
        range(0, 12)
            .map_error(|e: Infallible| -> String { match e {} })
            .concat_map(move |x| probe(kinds(x), false, &s)),
        0,
    );
    let want: Vec<u64> = (0..12u64)
        .flat_map(|x| match x % 4 {
            0 => vec![x * 100],
            1 => vec![x * 100, x * 100 + 1, x * 100 + 2],
            _ => vec![],
        })
        .collect();
    for k in 1..=want.len() as u64 {
        h.request(1);
        assert_eq!(h.item_count(), k, "no over-delivery");
    }
    h.assert_items(&want);
    h.assert_complete();
    assert_eq!(
        subs.load(Ordering::SeqCst),
        6,
        "only the non-scalar inners subscribed"
    );
}

#[test]
fn merge_takes_scalar_sources_without_subscribing() {
    let subs = Arc::new(AtomicUsize::new(0));
    let p = |k| probe(k, false, &subs);
    let h = subscribe(
        spillway::operators::merge(vec![
            p(Inner::Just(1)),
            p(Inner::Many(vec![10, 11])),
            p(Inner::Empty),
            p(Inner::Just(2)),
        ]),
        0,
    );
    h.request(1);
    h.assert_items(&[1]);
    h.request(10);
    let mut items = h.items();
    items.sort_unstable();
    assert_eq!(items, vec![1, 2, 10, 11]);
    h.assert_complete();
    assert_eq!(subs.load(Ordering::SeqCst), 1, "only the non-scalar source");
    h.assert_no_protocol_violations();
}

#[test]
fn merge_scalar_error_fails_at_once_and_skips_the_rest() {
    let subs = Arc::new(AtomicUsize::new(0));
    let p = |k| probe(k, false, &subs);
    let h = subscribe(
        spillway::operators::merge(vec![
            p(Inner::Just(1)),
            p(Inner::Fail("bad source")),
            p(Inner::Many(vec![10])),
        ]),
        0,
    );
    h.assert_items(&[]);
    h.assert_error_matches(|e| matches!(e, Error::User(m) if m == "bad source"));
    assert_eq!(
        subs.load(Ordering::SeqCst),
        0,
        "sources after the error not subscribed"
    );
}

#[test]
fn stress_outer_on_another_thread() {
    // The outer produces on its own thread only when it has demand (`Error` overflow:
    // a push without demand would fail the pipeline); downstream requests in small steps
    // from this thread. Every item arrives once, never beyond demand, and the held-back
    // places always reach the producer (it would wait forever otherwise).
    const N: u64 = 3_000;
    for round in 0..5u64 {
        let outer = create(OverflowStrategy::Error, |e: Emitter<u64, String>| {
            std::thread::spawn(move || {
                for i in 0..N {
                    if !e.wait_for_demand(std::time::Duration::from_secs(30)) {
                        return;
                    }
                    if e.next(i).is_err() {
                        return;
                    }
                }
                e.complete();
            });
        });
        let subs = Arc::new(AtomicUsize::new(0));
        let s = subs.clone();
        let h = subscribe(
            outer
                .flat_map(
                    move |x| {
                        let kind = match x % 5 {
                            0 => Inner::Many(vec![x]),
                            1 => Inner::Empty,
                            _ => Inner::Just(x),
                        };
                        probe(kind, false, &s)
                    },
                    1 + round as usize,
                    1,
                )
                .unwrap(),
            0,
        );
        let mut step = 0u64;
        while !h.is_terminated() && h.item_count() < N {
            step = step % 7 + 1;
            h.request(step);
            std::thread::yield_now();
        }
        h.request(u64::MAX);
        assert!(
            h.await_terminal(std::time::Duration::from_secs(30)),
            "stalled"
        );
        h.assert_complete();
        h.assert_no_protocol_violations();
        let mut items = h.items();
        items.sort_unstable();
        let want: Vec<u64> = (0..N).filter(|x| x % 5 != 1).collect();
        assert_eq!(items, want);
    }
}

#[test]
fn conformance() {
    tck::verify_publisher_with(
        tck::publisher_factory(|n| range(0, n).flat_map(just, 4, 1).unwrap()).max_elements(3_000),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
    tck::verify_publisher_with(
        tck::publisher_factory(|n| range(0, n).concat_map(just)).max_elements(3_000),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
    tck::verify_publisher_with(
        tck::publisher_factory(|n| spillway::operators::merge((0..n).map(just))).max_elements(300),
        TckConfig::default()
            .cannot_fail(
                "no failing form here; every operator's is checked in conformance_every_operator",
            )
            .long_run(150),
    )
    .assert_all_passed();
}

/// Events of a run, for comparing the scalar path with subscribing the same inners.
fn run(
    op: u8,
    kinds: &[Inner],
    concurrency: usize,
    requests: &[u64],
    opt_out: bool,
) -> (Vec<u64>, Option<Error<String>>, bool, usize) {
    let subs = Arc::new(AtomicUsize::new(0));
    let kinds = kinds.to_vec();
    let s = subs.clone();
    let n = kinds.len() as u64;
    let make = move |i: u64| probe(kinds[i as usize].clone(), opt_out, &s);
    let outer = range(0, n).map_error(|e: Infallible| -> String { match e {} });
    let h = match op {
        0 => subscribe(outer.concat_map(make), 0),
        _ => subscribe(outer.flat_map(make, concurrency, 1).unwrap(), 0),
    };
    let mut delivered = 0;
    for &r in requests {
        h.request(r);
        let now = h.item_count();
        assert!(
            now <= delivered + r,
            "over-delivery: {now} > {delivered} + {r}"
        );
        delivered = now;
    }
    h.request(u64::MAX);
    h.assert_no_protocol_violations();
    (
        h.items(),
        h.error(),
        h.is_complete(),
        subs.load(Ordering::SeqCst),
    )
}

fn inner_kind() -> impl Strategy<Value = Inner> {
    prop_oneof![
        4 => (0u64..1000).prop_map(Inner::Just),
        1 => Just(Inner::Empty),
        1 => prop::collection::vec(0u64..1000, 0..4).prop_map(Inner::Many),
        1 => Just(Inner::Fail("inner failed")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// concat_map: the scalar path gives exactly the events of subscribing every inner.
    #[test]
    fn concat_map_matches_subscribing(
        kinds in prop::collection::vec(inner_kind(), 0..24),
        requests in prop::collection::vec(1u64..4, 0..20),
    ) {
        let fast = run(0, &kinds, 1, &requests, false);
        let slow = run(0, &kinds, 1, &requests, true);
        prop_assert_eq!(&fast.0, &slow.0);
        prop_assert_eq!(&fast.1, &slow.1);
        prop_assert_eq!(fast.2, slow.2);
    }

    /// flat_map: the same items (each inner's in its order), the same terminal signal,
    /// never more than requested.
    #[test]
    fn flat_map_matches_subscribing(
        kinds in prop::collection::vec(inner_kind().prop_filter("no error", |k| !matches!(k, Inner::Fail(_))), 0..24),
        concurrency in 1usize..6,
        requests in prop::collection::vec(1u64..4, 0..20),
    ) {
        let mut fast = run(1, &kinds, concurrency, &requests, false);
        let mut slow = run(1, &kinds, concurrency, &requests, true);
        prop_assert!(fast.2 && slow.2);
        fast.0.sort_unstable();
        slow.0.sort_unstable();
        prop_assert_eq!(fast.0, slow.0);
        let scalars = kinds.iter().filter(|k| !matches!(k, Inner::Many(_))).count();
        prop_assert_eq!(slow.3 - fast.3, scalars, "scalar inners were not subscribed");
    }
}
