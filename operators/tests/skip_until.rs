//! `skip_until(other)`: items dropped until `other` emits or completes, then passed; the
//! dropped items do not use downstream's demand (a replacement request, or the drain
//! loop told so); other's error before the opening fails, after it is ignored; cancel
//! reaches both; conformance; a model under random demand.

#[path = "support/checks.rs"]
mod checks;

use std::convert::Infallible;

use proptest::prelude::*;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::{TestPublisher, TestSubscriber, Violation};

type Rig = (
    TestPublisher<u32, String>,
    TestPublisher<(), String>,
    spillway_testkit::TestSubscriberHandle<u32, String>,
);

fn rig(initial: u64) -> Rig {
    let main = TestPublisher::<u32, String>::new();
    let other = TestPublisher::<(), String>::new();
    let (sub, down) = TestSubscriber::new(initial);
    main.publisher()
        .skip_until(other.publisher())
        .subscribe(sub);
    (main, other, down)
}

#[test]
fn conformance() {
    // `empty` completes at once: the gate is open before the first item.
    checks::conformance(|n| range(0, n).skip_until(empty::<(), _>()));
}

#[test]
fn items_before_the_other_emits_are_dropped_then_all_pass() {
    let (main, other, down) = rig(u64::MAX);
    assert_eq!(other.total_requested(), u64::MAX, "other: unbounded");
    main.next(1).next(2);
    down.assert_items(&[]);
    other.next(());
    other.assert_cancelled();
    main.next(3).next(4);
    down.assert_items(&[3, 4]);
    main.complete();
    down.assert_complete();
    main.assert_not_cancelled();
}

#[test]
fn the_other_completing_without_an_item_opens_the_gate_too() {
    let (main, other, down) = rig(u64::MAX);
    main.next(1);
    other.complete();
    main.next(2);
    down.assert_items(&[2]);
}

#[test]
fn dropped_items_do_not_use_downstream_demand() {
    // A test publisher calls on_next: each dropped item is replaced by a request(1).
    let (main, other, down) = rig(2);
    assert_eq!(main.total_requested(), 2);
    main.next(1).next(2).next(3);
    assert_eq!(
        main.total_requested(),
        5,
        "one replacement per dropped item"
    );
    other.next(());
    main.next(4).next(5);
    down.assert_items(&[4, 5]);
    assert_eq!(
        main.outstanding(),
        0,
        "exactly what downstream asked, from the opening"
    );
    // A drain-loop source is told the item was not used (try_on_next), so it sends the
    // next one without a request: downstream still gets what it asked for.
    let (sub, h) = TestSubscriber::<u64, Infallible>::new(3);
    let opener = TestPublisher::<(), Infallible>::new();
    range(0, 10).skip_until(opener.publisher()).subscribe(sub);
    h.assert_items(&[]); // all 10 were offered and dropped while closed
    h.assert_complete();
    let (sub, h) = TestSubscriber::<u64, Infallible>::new(3);
    range(0, 10).skip_until(empty::<(), _>()).subscribe(sub);
    h.assert_items(&[0, 1, 2]);
}

#[test]
fn an_error_of_the_other_before_the_opening_fails_and_cancels_the_main() {
    let (main, other, down) = rig(5);
    main.next(1);
    other.error("closed".to_string());
    down.assert_error_matches(|e| matches!(e, Error::User(s) if s == "closed"));
    main.assert_cancelled();
}

#[test]
fn an_error_of_the_other_after_the_opening_is_ignored() {
    let main = TestPublisher::<u32, String>::new();
    let other = TestPublisher::<(), String>::non_compliant(&[Violation::IgnoreCancel]);
    let (sub, down) = TestSubscriber::new(u64::MAX);
    main.publisher()
        .skip_until(other.publisher())
        .subscribe(sub);
    other.next(());
    other.error("late".to_string()); // after its cancel
    main.next(7).complete();
    down.assert_items(&[7]);
    down.assert_complete();
}

#[test]
fn errors_and_completion_of_the_main_pass_and_cancel_the_other() {
    let (main, other, down) = rig(5);
    main.error("boom".to_string());
    down.assert_error_matches(|e| matches!(e, Error::User(s) if s == "boom"));
    other.assert_cancelled();
    let (main, other, down) = rig(5);
    main.complete();
    down.assert_complete();
    other.assert_cancelled();
}

#[test]
fn cancel_reaches_both_sides() {
    let (main, other, down) = rig(1);
    down.cancel();
    main.assert_cancelled();
    other.assert_cancelled();
}

#[test]
fn request_zero_fails_through_the_main() {
    let (sub, h) = TestSubscriber::<u64, Infallible>::new(0);
    range(0, 5).skip_until(empty::<(), _>()).subscribe(sub);
    h.request(0);
    h.assert_error_matches(|e| matches!(e, Error::InvalidRequest { .. }));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// The other opens after `open_at` main items; downstream asks in random steps.
    #[test]
    fn matches_the_model(
        len in 0u32..40,
        open_at in 0u32..45,
        schedule in proptest::collection::vec(1u64..6, 0..15),
    ) {
        let (main, other, down) = rig(0);
        let mut asked = 0u64;
        let mut steps = schedule.iter();
        for i in 0..len {
            if i == open_at {
                other.next(());
            }
            // Emit only what is outstanding upstream (a compliant source).
            while main.outstanding() == 0 {
                match steps.next() {
                    Some(&n) => { down.request(n); asked += n; }
                    None => { down.request(100); asked += 100; }
                }
            }
            main.next(i);
        }
        main.complete();
        let model: Vec<u32> = (open_at.min(len)..len).collect();
        let got = down.items();
        prop_assert!(got.len() as u64 <= asked);
        prop_assert_eq!(got, model);
        down.assert_complete();
    }
}
