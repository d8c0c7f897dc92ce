//! Reference-model checks for the item-by-item operators: run an operator and a plain
//! `Vec` function side by side under a random request schedule, through both delivery
//! protocols (a counting source calling `on_next`: `TestPublisher`; a drain source calling
//! `try_on_next`: `from_iter`). Include with `#[path = "support/model.rs"] mod model;`.
#![allow(dead_code, unused_macros, unused_imports)]

use std::convert::Infallible;
use std::fmt::Debug;

use proptest::prelude::*;
use spillway::prelude::*;
use spillway_testkit::{TestPublisher, TestPublisherSource, TestSubscriber, TestSubscriberHandle};

/// Inputs for the model proptests: small values (so duplicates and predicates both
/// happen) and a schedule of small downstream requests.
pub(crate) fn input_and_schedule() -> impl Strategy<Value = (Vec<u32>, Vec<u64>)> {
    (
        prop::collection::vec(0u32..6, 0..40),
        prop::collection::vec(1u64..5, 0..20),
    )
}

/// Sends upstream items while the operator has demand outstanding upstream.
fn pump(tp: &TestPublisher<u32, Infallible>, input: &[u32], next: &mut usize) {
    while *next < input.len() && tp.outstanding() > 0 && !tp.is_cancelled() {
        tp.next(input[*next]);
        *next += 1;
    }
}

/// Checks what `down` received so far against `expected`: a prefix, within demand.
fn check_prefix<O: PartialEq + Debug + Clone + Send + 'static>(
    down: &TestSubscriberHandle<O, Infallible>,
    expected: &[O],
    requested: u64,
) {
    let got = down.items();
    assert!(
        got.len() as u64 <= requested,
        "more items than requested: {got:?}"
    );
    assert!(
        got.len() <= expected.len(),
        "more items than the model: {got:?} vs {expected:?}"
    );
    assert_eq!(got[..], expected[..got.len()], "not a prefix of the model");
    down.assert_no_protocol_violations();
}

/// The counting-source run: returns the test publisher for demand assertions.
pub(crate) fn run_counting<O, P>(
    build: impl Fn(TestPublisherSource<u32, Infallible>) -> P,
    expected: &[O],
    input: &[u32],
    schedule: &[u64],
) -> TestPublisher<u32, Infallible>
where
    P: Publisher<Item = O, Error = Infallible>,
    O: PartialEq + Debug + Clone + Send + 'static,
{
    let tp = TestPublisher::<u32, Infallible>::new();
    let (sub, down) = TestSubscriber::new(0);
    build(tp.publisher()).subscribe(sub);
    let (mut next, mut requested) = (0usize, 0u64);
    for &k in schedule {
        down.request(k);
        requested += k;
        pump(&tp, input, &mut next);
        check_prefix(&down, expected, requested);
        let stalled = (down.item_count() < requested)
            && next < input.len()
            && !tp.is_cancelled()
            && !down.is_terminated()
            && tp.outstanding() == 0;
        assert!(
            !stalled,
            "demand lost: downstream waits, upstream was not asked"
        );
    }
    down.request(u64::MAX);
    pump(&tp, input, &mut next);
    tp.complete();
    assert_eq!(down.items(), expected, "final items (counting source)");
    down.assert_complete();
    down.assert_no_protocol_violations();
    tp
}

/// The drain-source run (`try_on_next`): `from_iter(input)` under the same schedule.
pub(crate) fn run_drain<O, P>(
    build: impl Fn(spillway::FromIter<std::vec::IntoIter<u32>>) -> P,
    expected: &[O],
    input: &[u32],
    schedule: &[u64],
) where
    P: Publisher<Item = O, Error = Infallible>,
    O: PartialEq + Debug + Clone + Send + 'static,
{
    let (sub, down) = TestSubscriber::new(0);
    build(from_iter(input.to_vec())).subscribe(sub);
    let mut requested = 0u64;
    for &k in schedule {
        down.request(k);
        requested += k;
        check_prefix(&down, expected, requested);
        let delivered = down.item_count() as usize;
        assert!(
            delivered == expected.len() || delivered as u64 == requested,
            "a drain source must fill demand: {delivered} of {requested}"
        );
    }
    down.request(u64::MAX);
    assert_eq!(down.items(), expected, "final items (drain source)");
    down.assert_complete();
}

/// Runs both protocols of one operator against its model; the counting run's test
/// publisher is returned for demand assertions.
/// `check_model!(input, schedule, |p| p.take(3), |v: &[u32]| v[..3.min(v.len())].to_vec())`
macro_rules! check_model {
    ($input:expr, $schedule:expr, |$p:ident| $op:expr, $model:expr) => {{
        let expected = ($model)(&$input[..]);
        model::run_drain(|$p| $op, &expected, &$input, &$schedule);
        model::run_counting(|$p| $op, &expected, &$input, &$schedule)
    }};
}
pub(crate) use check_model;
