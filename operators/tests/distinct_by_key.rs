//! `distinct_by_key` and `distinct_by_key_bounded`: items with a key seen before use no
//! demand or are replaced; the bounded form forgets the oldest key beyond its capacity.

#[path = "support/checks.rs"]
mod checks;
#[path = "support/model.rs"]
mod model;

use std::collections::{HashSet, VecDeque};

use proptest::prelude::*;
use spillway::prelude::*;
use spillway::Error;
use spillway_testkit::{TestPublisher, TestSubscriber};

#[test]
fn conformance() {
    checks::conformance(|n| range(0, 2 * n).distinct_by_key(|x| x / 2));
    checks::conformance(|n| {
        // 0, 0, 1, 1, ...: each second item is a repeat the window still remembers.
        range(0, 2 * n)
            .distinct_by_key_bounded(|x| x / 2, 1)
            .unwrap()
    });
}

#[test]
fn drops_every_key_seen_before() {
    let (sub, down) = TestSubscriber::new(u64::MAX);
    from_iter([3u32, 1, 3, 2, 1, 1, 4, 2])
        .distinct_by_key(|x| *x)
        .subscribe(sub);
    down.assert_items(&[3, 1, 2, 4]);
    down.assert_complete();
}

#[test]
fn bounded_forgets_the_oldest_key_and_lets_it_pass_again() {
    let (sub, down) = TestSubscriber::new(u64::MAX);
    from_iter([1u32, 2, 1, 3, 2, 1, 3])
        .distinct_by_key_bounded(|x| *x, 2)
        .unwrap()
        .subscribe(sub);
    // [1] [1,2] 1 dropped; 3 forgets 1: [2,3]; 2 dropped; 1 passes again, forgets 2:
    // [3,1]; 3 dropped.
    down.assert_items(&[1, 2, 3, 1]);
    down.assert_complete();
}

#[test]
fn bounded_repeat_does_not_refresh_the_key() {
    let (sub, down) = TestSubscriber::new(u64::MAX);
    // 1 is repeated just before 3, yet 3 forgets 1 (the first seen), not 2: then 1
    // passes again (forgetting 2), and 2 too. With refreshing it would be [1, 2, 3, 2].
    from_iter([1u32, 2, 1, 3, 1, 2])
        .distinct_by_key_bounded(|x| *x, 2)
        .unwrap()
        .subscribe(sub);
    down.assert_items(&[1, 2, 3, 1, 2]);
}

#[test]
fn capacity_zero_is_a_config_error() {
    let err = range(0, 3).distinct_by_key_bounded(|x| *x, 0).unwrap_err();
    assert!(err.to_string().contains("distinct"), "{err}");
}

#[test]
fn duplicates_are_replaced_upstream() {
    for bounded in [false, true] {
        let tp = TestPublisher::<u32, String>::new();
        let (sub, down) = TestSubscriber::new(0);
        if bounded {
            tp.publisher()
                .distinct_by_key_bounded(|x| *x, 4)
                .unwrap()
                .subscribe(sub);
        } else {
            tp.publisher().distinct_by_key(|x| *x).subscribe(sub);
        }
        down.request(2);
        tp.next(7).next(7);
        assert_eq!(checks::requests(&tp), vec![2, 1], "2 + 1 replacement");
        tp.next(8);
        down.assert_items(&[7, 8]);
        assert_eq!(tp.outstanding(), 0);
        down.assert_no_protocol_violations();
    }
}

#[test]
fn error_after_items_is_passed_on() {
    let tp = TestPublisher::<u32, String>::new();
    let (sub, down) = TestSubscriber::new(u64::MAX);
    tp.publisher().distinct_by_key(|x| *x).subscribe(sub);
    tp.next(1).next(1).next(2).error("boom".to_string());
    down.assert_items(&[1, 2]);
    down.assert_error_matches(|e| *e == Error::User("boom".to_string()));
}

#[test]
fn callback_panics() {
    checks::callback_panics("distinct", |p| {
        p.distinct_by_key(|x| {
            checks::boom(*x);
            *x
        })
    });
    checks::callback_panics("distinct", |p| {
        p.distinct_by_key_bounded(
            |x| {
                checks::boom(*x);
                *x
            },
            3,
        )
        .unwrap()
    });
}

#[test]
fn cancel_mid_stream_reaches_upstream() {
    checks::cancel_reaches_upstream(|p| p.distinct_by_key(|x| *x));
    checks::cancel_reaches_upstream(|p| p.distinct_by_key_bounded(|x| *x, 2).unwrap());
}

#[test]
fn error_propagates() {
    checks::error_propagates(|p| p.distinct_by_key(|x| *x));
    checks::error_propagates(|p| p.distinct_by_key_bounded(|x| *x, 2).unwrap());
}

#[test]
fn request_zero_fails() {
    checks::request_zero_fails(|p| p.distinct_by_key(|x| *x));
    checks::request_zero_fails(|p| p.distinct_by_key_bounded(|x| *x, 2).unwrap());
}

#[test]
fn late_signals_dropped() {
    // A non-compliant upstream (emits and terminates after completing).
    checks::late_signals_dropped(|p| p.distinct_by_key(|x| *x));
    checks::late_signals_dropped(|p| p.distinct_by_key_bounded(|x| *x, 2).unwrap());
}

/// The plain model of the bounded form: a FIFO of the last `cap` distinct keys.
fn bounded_model(v: &[u32], cap: usize) -> Vec<u32> {
    let mut order = VecDeque::new();
    let mut out = Vec::new();
    for &x in v {
        if order.contains(&x) {
            continue;
        }
        if order.len() == cap {
            order.pop_front();
        }
        order.push_back(x);
        out.push(x);
    }
    out
}

proptest! {
    #[test]
    fn matches_vec_model((input, schedule) in model::input_and_schedule()) {
        model::check_model!(input, schedule, |p| p.distinct_by_key(|x| *x), |v: &[u32]| {
            let mut seen = HashSet::new();
            v.iter().copied().filter(|x| seen.insert(*x)).collect::<Vec<_>>()
        });
    }

    #[test]
    fn bounded_matches_vec_model((input, schedule) in model::input_and_schedule(), cap in 1usize..5) {
        model::check_model!(
            input,
            schedule,
            |p| p.distinct_by_key_bounded(|x| *x, cap).unwrap(),
            |v: &[u32]| bounded_model(v, cap)
        );
    }
}
