//! `concat` / `concat_with`: STYLE 3.6 checklist, demand carried over from one source to
//! the next, cancellation, errors, conformance, reference-model proptest, non-compliant
//! source.

mod combining;

use combining::*;
use proptest::prelude::*;
use spillway::operators::concat;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::tck::{self, TckConfig};
use spillway_testkit::{PublisherProbe, TestPublisher, TestSubscriber, Violation};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

fn two() -> [TestPublisher<u32, String>; 2] {
    [TestPublisher::new(), TestPublisher::new()]
}

fn concatenated(tps: &[TestPublisher<u32, String>], initial: u64) -> Handle<u32> {
    subscribe(concat(tps.iter().map(|tp| tp.publisher())), initial)
}

#[test]
fn normal() {
    let h = subscribe(concat(vec![numbers(0, 3), numbers(10, 12)]), u64::MAX);
    assert_completed(&h);
    h.assert_items(&[0, 1, 2, 10, 11]);
}

#[test]
fn concat_with_chains() {
    let h = subscribe(
        numbers(0, 2)
            .concat_with(numbers(5, 6).map(|x| x))
            .with(numbers(9, 10)),
        100,
    );
    assert_completed(&h);
    h.assert_items(&[0, 1, 5, 9]);
}

#[test]
fn subscribes_one_source_at_a_time() {
    let tps = two();
    let h = concatenated(&tps, 0);
    tps[0].assert_subscribed();
    assert_eq!(tps[1].subscription_count(), 0, "second not subscribed yet");
    tps[0].complete();
    tps[1].assert_subscribed();
    h.assert_not_terminated();
}

#[test]
fn backpressured_requests_nothing_at_zero_demand() {
    let tps = two();
    let h = concatenated(&tps, 0);
    assert_eq!(tps[0].total_requested(), 0);
    h.request(3);
    assert_eq!(tps[0].total_requested(), 3, "exactly downstream's demand");
}

#[test]
fn incremental_request() {
    let tps = two();
    let h = concatenated(&tps, 1);
    tps[0].next(1);
    h.request(2);
    send(&tps[0], [2, 3]);
    h.assert_items(&[1, 2, 3]);
    assert_eq!(tps[0].total_requested(), 3);
}

#[test]
fn unused_demand_is_carried_over_to_the_next_source() {
    let tps = two();
    let h = concatenated(&tps, 5);
    send(&tps[0], [1, 2]);
    tps[0].complete();
    assert_eq!(tps[1].total_requested(), 3, "5 requested - 2 delivered");
    send(&tps[1], [3, 4, 5]);
    h.assert_items(&[1, 2, 3, 4, 5]);
    h.request(1);
    assert_eq!(tps[1].total_requested(), 4);
}

#[test]
fn unbounded_demand_is_requested_in_bounded_steps() {
    let tps = two();
    let h = concatenated(&tps, u64::MAX);
    send(&tps[0], 0..10);
    let asked = |tp: &TestPublisher<u32, String>| -> Vec<u64> {
        tp.requests().iter().map(|r| r.1).collect()
    };
    assert_eq!(
        asked(&tps[0]),
        vec![256],
        "never unbounded: a synchronous source would run to its end"
    );
    send(&tps[0], 10..100);
    assert_eq!(
        asked(&tps[0]),
        vec![256, 64],
        "topped up once a quarter went out"
    );
    tps[0].complete();
    assert_eq!(tps[1].total_requested(), 256);
    tps[1].complete();
    h.assert_item_count(100);
    assert_completed(&h);
}

/// Requests unbounded demand in `on_subscribe` and cancels from `on_next` at the k-th item.
struct CancelAt {
    k: u64,
    seen: Arc<AtomicU64>,
    subscription: Option<spillway::SharedSubscription>,
}

impl Subscriber for CancelAt {
    type Item = u64;
    type Error = std::convert::Infallible;
    fn on_subscribe(&mut self, s: spillway::SharedSubscription) {
        self.subscription = Some(s.clone());
        s.request(u64::MAX);
    }
    fn on_next(&mut self, _: u64) {
        if self.seen.fetch_add(1, Ordering::SeqCst) + 1 == self.k {
            if let Some(s) = self.subscription.take() {
                s.cancel();
            }
        }
    }
    fn on_error(&mut self, _: Error<Self::Error>) {}
    fn on_complete(&mut self) {}
}

/// Rules 3.4, 3.12, 3.13: under unbounded demand over an endless synchronous source, the
/// first items reach the subscriber while `request` runs, a cancel from `on_next` stops
/// the source within the prefetch, and `subscribe` (which made the request) returns.
#[test]
fn an_endless_synchronous_source_under_unbounded_demand_stays_live() {
    let pulled = Arc::new(AtomicU64::new(0));
    let seen = Arc::new(AtomicU64::new(0));
    let (p, s) = (pulled.clone(), seen.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let endless = generate(0u64, move |n| {
            p.fetch_add(1, Ordering::SeqCst);
            *n += 1;
            Some(*n)
        });
        endless.concat_with(empty()).subscribe(CancelAt {
            k: 3,
            seen: s,
            subscription: None,
        });
        let _ = tx.send(());
    });
    rx.recv_timeout(std::time::Duration::from_secs(20))
        .expect("subscribe never returned: the request pulled an endless source");
    assert_eq!(seen.load(Ordering::SeqCst), 3, "nothing after the cancel");
    let pulls = pulled.load(Ordering::SeqCst);
    assert!(
        pulls <= 3 + 256,
        "the source was pulled {pulls} times for 3 items"
    );
}

#[test]
fn items_received_before_an_error_go_out_before_it() {
    use futures::StreamExt;
    let out = futures::executor::block_on(async {
        from_try_stream(futures::stream::iter(vec![Ok(1), Ok(2), Err("e")]))
            .concat_with(empty())
            .into_stream(16)
            .collect::<Vec<_>>()
            .await
    });
    assert_eq!(out.len(), 3);
    assert!(matches!(out[0], Ok(1)) && matches!(out[1], Ok(2)));
    assert!(matches!(out[2], Err(Error::User("e"))));
}

#[test]
fn cancel_mid_stream_reaches_the_current_source() {
    let tps = two();
    let h = concatenated(&tps, 2);
    tps[0].next(1);
    h.cancel();
    tps[0].assert_cancelled();
    assert_eq!(tps[1].subscription_count(), 0, "never subscribed");
}

#[test]
fn cancel_reaches_a_probed_core_source() {
    let (a, probe) = PublisherProbe::wrap(numbers(0, 1_000));
    let h = subscribe(concat(vec![a]).with(numbers(0, 1)), 3);
    h.assert_items(&[0, 1, 2]);
    h.cancel();
    probe.assert_cancelled();
}

#[test]
fn error_propagates_and_skips_the_rest() {
    let tps = two();
    let h = concatenated(&tps, 0);
    tps[0].error("boom".to_string());
    h.assert_error_matches(|e| is_user(e, "boom"));
    assert_eq!(tps[1].subscription_count(), 0);
}

#[test]
fn completes_after_the_last_source_even_without_demand() {
    let h = subscribe(concat(vec![empty::<u32, String>(), empty(), empty()]), 0);
    h.assert_complete();
    let empty = subscribe(
        concat(Vec::<spillway_testkit::TestPublisherSource<u32, String>>::new()),
        0,
    );
    empty.assert_complete();
}

#[test]
fn many_synchronous_sources_do_not_grow_the_stack() {
    let h = subscribe(concat((0..20_000).map(|i| numbers(i, i + 1))), u64::MAX);
    assert_completed(&h);
    assert_eq!(h.item_count(), 20_000);
}

#[test]
fn late_signals_after_terminal_are_dropped() {
    let tps: [TestPublisher<u32, String>; 1] = [TestPublisher::non_compliant(&[
        Violation::EmitAfterTerminate,
        Violation::TerminateTwice,
        Violation::EmitWithoutDemand,
    ])];
    let h = concatenated(&tps, 5);
    tps[0].next(1).complete();
    tps[0].next(2).error("late".to_string());
    h.assert_items(&[1]);
    h.assert_complete();
    h.assert_no_protocol_violations();
}

#[test]
fn non_compliant_source_fails_with_protocol_violation() {
    let tps: [TestPublisher<u32, String>; 1] = [TestPublisher::non_compliant(&[
        Violation::EmitWithoutDemand,
    ])];
    let h = concatenated(&tps, 1);
    send(&tps[0], [1, 2]);
    h.assert_items(&[1]);
    h.assert_error_matches(|e| {
        matches!(
            e,
            Error::ProtocolViolation {
                stage: "concat",
                ..
            }
        )
    });
    tps[0].assert_cancelled();
}

#[test]
fn request_zero_is_invalid() {
    let tps = two();
    let h = concatenated(&tps, 0);
    h.request(0);
    h.assert_error_matches(|e| matches!(e, Error::InvalidRequest { .. }));
    tps[0].assert_cancelled();
}

#[test]
fn conformance() {
    tck::verify_publisher_with(
        tck::publisher_factory(|n| {
            let half = (n / 2) as u32;
            concat(vec![numbers(0, half), numbers(half, n as u32)])
        })
        .max_elements(10_000)
        .failed(|| concat(vec![numbers(0, 0)]).with(error::<u32, String>("boom".to_string()))),
        TckConfig::default().cannot_fail(
            "no failing form here; every operator's is checked in conformance_every_operator",
        ),
    )
    .assert_all_passed();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn matches_the_reference_model(
        sizes in proptest::collection::vec(0u32..10, 0..6),
        schedule in proptest::collection::vec(0u64..6, 0..12),
    ) {
        let mut start = 0;
        let sources: Vec<_> = sizes.iter().map(|&n| { let s = numbers(start, start + n); start += n; s }).collect();
        let (sub, h) = TestSubscriber::<u32, String>::new(0);
        concat(sources).subscribe(sub);
        let mut asked = 0;
        for &n in &schedule {
            if n > 0 {
                h.request(n);
                asked += n;
            }
            // Exact: every request is served at once by synchronous sources.
            prop_assert_eq!(h.item_count(), asked.min(u64::from(start)));
        }
        let items = drain_with(&h, &[]);
        h.assert_complete();
        prop_assert_eq!(items, (0..start).collect::<Vec<_>>());
    }
}
