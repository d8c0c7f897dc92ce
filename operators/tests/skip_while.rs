//! `skip_while`: skipped items replaced (counting source), then 1:1.

#[path = "support/checks.rs"]
mod checks;
#[path = "support/model.rs"]
mod model;

use proptest::prelude::*;
use spillway::prelude::*;
use spillway_testkit::{TestPublisher, TestSubscriber};

#[test]
fn conformance() {
    checks::conformance(|n| range(0, n + 2).skip_while(|x| *x < 2));
}

#[test]
fn skips_then_passes_everything() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(0);
    tp.publisher().skip_while(|x| *x < 4).subscribe(sub);
    down.request(1);
    tp.next(1);
    assert_eq!(tp.total_requested(), 2, "one replacement per skipped item");
    tp.next(5);
    down.request(1);
    tp.next(2); // the predicate is no longer asked
    down.assert_items(&[5, 2]);
    assert_eq!(tp.total_requested(), 3);
}

#[test]
fn callback_panics() {
    checks::callback_panics("skip_while", |p| {
        p.skip_while(|x| {
            checks::boom(*x);
            true
        })
    });
}

#[test]
fn cancel_mid_stream_reaches_upstream() {
    checks::cancel_reaches_upstream(|p| p.skip_while(|_| true));
}

#[test]
fn error_propagates() {
    checks::error_propagates(|p| p.skip_while(|_| false));
}

#[test]
fn late_signals_dropped() {
    checks::late_signals_dropped(|p| p.skip_while(|_| false));
}

proptest! {
    #[test]
    fn matches_vec_model((input, schedule) in model::input_and_schedule(), k in 0u32..6) {
        model::check_model!(input, schedule, |p| p.skip_while(move |x| *x < k), |v: &[u32]| {
            v.iter().copied().skip_while(|x| *x < k).collect::<Vec<_>>()
        });
    }
}
