//! Marble snapshots of the everyday transforms (map, filter, filter_map, scan, take,
//! take_while, take_until, skip, skip_while, distinct_until_changed(_by),
//! distinct_by_key(_bounded), pairwise, element_at, start_with, default_if_empty, reduce,
//! flat_map_iter): completion, error, cancellation and slow demand on virtual time, one
//! frame = 1ms, plus the scenarios showing each operator's documented demand behaviour.
//! Pictures are drawn by `marble_kit::picture` (downstream lanes, then upstream).

mod marble_kit;

use marble_kit::{picture, Rig};
use spillway::operators::OperatorExt;
use spillway::prelude::*;

/// A subscriber taking one item every 4 frames.
const SLOW: &str = "r1---r1---r1---r1---r1---r1";

/// The four standard scenarios of one operator: `op` applied to a cold source of each
/// given marble, snapshots `<name>_completion` (unbounded demand), `<name>_error`,
/// `<name>_cancel` (cancel at frame 4) and `<name>_slow_demand` (`SLOW`).
fn four<P, F>(name: &str, op: F, completion: &str, error: &str, cancel: &str, slow: &str)
where
    P: Publisher,
    P::Item: std::fmt::Debug,
    P::Error: std::fmt::Debug,
    F: Fn(&Rig, &str) -> P,
{
    let cases = [
        ("completion", "r∞", completion, 14),
        ("error", "r∞", error, 10),
        ("cancel", "r∞---x", cancel, 10),
        ("slow_demand", SLOW, slow, 24),
    ];
    for (case, plan, source, duration) in cases {
        let p = picture(plan, duration, |rig| op(rig, source));
        insta::assert_snapshot!(format!("{name}_{case}"), p);
    }
}

#[test]
fn map() {
    four(
        "map",
        |rig, s| rig.cold(s).map(|x| x + 1),
        "-1-2-3-|",
        "-1-2#",
        "-1-2-3-4|",
        "123456|",
    );
}

#[test]
fn filter() {
    // Odd items use no demand (the cold source counts only accepted items): slow demand
    // asks r1 upstream per r1 and still gets an even item each time.
    four(
        "filter",
        |rig, s| rig.cold(s).filter(|x| x % 2 == 0),
        "-1-2-3-4-|",
        "-1-2#",
        "-1-2-3-4|",
        "123456789|",
    );
}

#[test]
fn filter_map() {
    four(
        "filter_map",
        |rig, s| rig.cold(s).filter_map(|x| (x % 2 == 0).then_some(x + 1)),
        "-1-2-3-4-|",
        "-1-2#",
        "-1-2-3-4|",
        "123456789|",
    );
}

#[test]
fn scan() {
    four(
        "scan",
        |rig, s| rig.cold(s).scan(0, |a, x| a + x),
        "-1-2-3-|",
        "-1-2#",
        "-1-2-3-4|",
        "123456|",
    );
}

#[test]
fn take() {
    // take(3): exactly 3 requested upstream under r∞, and 1 per r1 under slow demand;
    // upstream cancelled at the third item, completion at once.
    four(
        "take",
        |rig, s| rig.cold(s).take(3),
        "-1-2-3-4-5-|",
        "-1#",
        "-1-2-3-4|",
        "123456|",
    );
}

#[test]
fn take_while() {
    // 5 fails the predicate: dropped, upstream cancelled, completion.
    four(
        "take_while",
        |rig, s| rig.cold(s).take_while(|x| *x < 4),
        "-1-2-5-3-|",
        "-1-2#",
        "-1-2-3-1|",
        "123123|",
    );
    // Under slow demand 5 comes with the third r1: dropped, upstream cancelled, completion.
    // (Only three requests: later ones are forwarded to the cancelled upstream, see the
    // report of this file.)
    let p = picture("r1---r1---r1", 14, |rig| {
        rig.cold("1251|").take_while(|x| *x < 4)
    });
    insta::assert_snapshot!("take_while_slow_demand_stop", p);
}

#[test]
fn take_until() {
    // `other` (its own lanes) fires at frame 7: both cancelled, completion. `other` is
    // asked r∞ and subscribed first.
    let other = |rig: &Rig, main: &str, other: &str| {
        let l = rig.lanes();
        l.cold("source", main).take_until(l.cold("other", other))
    };
    let cases = [
        ("completion", "r∞", "-1-2-3-4-5-|", "-------0|", 14),
        ("other_completes", "r∞", "-1-2-3-4-5-|", "-----|", 14),
        ("source_completes", "r∞", "-1-2|", "-------0|", 14),
        ("error", "r∞", "-1-2#", "-------0|", 10),
        ("other_error", "r∞", "-1-2-3-|", "---#", 10),
        ("cancel", "r∞---x", "-1-2-3-4|", "-------0|", 10),
        ("slow_demand", SLOW, "123456|", "-----------0|", 24),
    ];
    for (case, plan, main, o, duration) in cases {
        let p = picture(plan, duration, |rig| other(rig, main, o));
        insta::assert_snapshot!(format!("take_until_{case}"), p);
    }
}

#[test]
fn skip_until() {
    // `other` (its own lanes) fires at frame 5: items before it are dropped without
    // using demand (the cold source is told so and sends on), `other` is cancelled once,
    // the rest passes.
    let other = |rig: &Rig, main: &str, other: &str| {
        let l = rig.lanes();
        l.cold("source", main).skip_until(l.cold("other", other))
    };
    let cases = [
        ("completion", "r∞", "-1-2-3-4-5-|", "-----0|", 14),
        ("other_completes", "r∞", "-1-2-3-4-5-|", "-----|", 14),
        ("other_error", "r∞", "-1-2-3-|", "---#", 10),
        ("error", "r∞", "-1-2-3-#", "---0|", 10),
        ("cancel", "r∞---x", "-1-2-3-4|", "--0|", 10),
        ("slow_demand", SLOW, "123456|", "--0|", 24),
    ];
    for (case, plan, main, o, duration) in cases {
        let p = picture(plan, duration, |rig| other(rig, main, o));
        insta::assert_snapshot!(format!("skip_until_{case}"), p);
    }
}

#[test]
fn skip() {
    // Skipped items use no demand: under slow demand, r1 upstream per r1.
    four(
        "skip",
        |rig, s| rig.cold(s).skip(2),
        "-1-2-3-4-|",
        "-1-2-3#",
        "-1-2-3-4|",
        "123456|",
    );
}

#[test]
fn skip_while() {
    four(
        "skip_while",
        |rig, s| rig.cold(s).skip_while(|x| *x < 4),
        "-1-2-5-3-|",
        "-1-2-5#",
        "-5-2-3-4|",
        "1256123|",
    );
}

#[test]
fn distinct_until_changed() {
    four(
        "distinct_until_changed",
        |rig, s| rig.cold(s).distinct_until_changed(),
        "-1-1-2-2-1-|",
        "-1-1-2#",
        "-1-1-2-2|",
        "11223344|",
    );
}

#[test]
fn distinct_until_changed_by() {
    // Equal: differ by at most 1, against the last item emitted (1, then 3, then 9).
    four(
        "distinct_until_changed_by",
        |rig, s| {
            rig.cold(s)
                .distinct_until_changed_by(|a, b| a.abs_diff(*b) <= 1)
        },
        "-1-2-3-9-8-|",
        "-1-2-3#",
        "-1-2-3-4|",
        "12345678|",
    );
}

#[test]
fn distinct_by_key() {
    four(
        "distinct_by_key",
        |rig, s| rig.cold(s).distinct_by_key(|x| *x),
        "-1-2-1-3-2-|",
        "-1-1-2#",
        "-1-1-2-2|",
        "11223344|",
    );
    // Remembers 2 keys: 3 makes it forget 1, which then passes again.
    four(
        "distinct_by_key_bounded",
        |rig, s| rig.cold(s).distinct_by_key_bounded(|x| *x, 2).unwrap(),
        "-1-2-1-3-1-|",
        "-1-1-2#",
        "-1-1-2-2|",
        "12131412|",
    );
}

#[test]
fn pairwise() {
    // The first item has no pair and uses no demand (the cold source counts only
    // accepted items): under slow demand, r1 upstream per r1, as for skip.
    four(
        "pairwise",
        |rig, s| rig.cold(s).pairwise(),
        "-1-2-3-4-|",
        "-1-2-3#",
        "-1-2-3-4|",
        "123456|",
    );
}

#[test]
fn element_at() {
    // index + 1 = 3 requested once at the first request, whatever its size; upstream
    // cancelled at the third item, completion at once.
    four(
        "element_at",
        |rig, s| rig.cold(s).element_at(2),
        "-1-2-3-4-|",
        "-1#",
        "-1-2-3-4|",
        "123456|",
    );
    // Upstream ends before index 5: element_at completes empty, element_at_or emits 0.
    let p = picture("r∞", 8, |rig| rig.cold("-1-2-|").element_at(5));
    insta::assert_snapshot!("element_at_too_short", p);
    let p = picture("r∞", 8, |rig| rig.cold("-1-2-|").element_at_or(5, 0));
    insta::assert_snapshot!("element_at_or_too_short", p);
}

#[test]
fn start_with() {
    // 7 and 8 first; upstream is subscribed once they are delivered and asked what
    // downstream requested and has not received (nothing under slow demand, until the
    // next r1).
    four(
        "start_with",
        |rig, s| rig.cold(s).start_with([7, 8]),
        "-1-2-|",
        "-1#",
        "-1-2-3|",
        "123|",
    );
    let p = picture("r3------r∞", 12, |rig| {
        rig.cold("-1-2-|").start_with([7, 8])
    });
    insta::assert_snapshot!("start_with_carries_demand", p);
}

#[test]
fn default_if_empty() {
    four(
        "default_if_empty",
        |rig, s| rig.cold(s).default_if_empty(7),
        "---|",
        "---#",
        "------|",
        "-1-2|",
    );
    // Upstream completes empty at frame 3 with no demand: 7 waits for the r1 at frame 6.
    let p = picture("------r1", 10, |rig| rig.cold("---|").default_if_empty(7));
    insta::assert_snapshot!("default_if_empty_waits_for_demand", p);
    let p = picture("r∞", 8, |rig| rig.cold("-1-2|").default_if_empty(7));
    insta::assert_snapshot!("default_if_empty_not_empty", p);
}

#[test]
fn reduce() {
    // r∞ upstream at downstream's first request, even under slow demand.
    four(
        "reduce",
        |rig, s| rig.cold(s).reduce(|a, b| a + b),
        "-1-2-3-|",
        "-1-2#",
        "-1-2-3-4|",
        "123|",
    );
    // Nothing requested until frame 5: nothing asked upstream either.
    let p = picture("-----r1", 10, |rig| rig.cold("12-3|").reduce(|a, b| a + b));
    insta::assert_snapshot!("reduce_late_request", p);
}

#[test]
fn flat_map_iter() {
    // One upstream item at a time, only once the iterator is exhausted and downstream
    // has demand.
    four(
        "flat_map_iter",
        |rig, s| rig.cold(s).flat_map_iter(|x| 0..x),
        "-1------2---|",
        "-3#",
        "-3-2|",
        "32|",
    );
}

#[test]
fn first_or_and_last_or() {
    // first_or: one item asked at the first request, upstream cancelled at it.
    four(
        "first_or",
        |rig, s| rig.cold(s).first_or(0),
        "---1-2-|",
        "-#",
        "-----1|",
        "123456|",
    );
    // last_or: unbounded at the first request; the last item at completion.
    four(
        "last_or",
        |rig, s| rig.cold(s).last_or(0),
        "-1-2-3-|",
        "-1-2#",
        "-1-2-3-4|",
        "123456|",
    );
    let p = picture("r∞", 8, |rig| rig.cold("---|").first_or(9));
    insta::assert_snapshot!("first_or_empty", p);
    let p = picture("r∞", 8, |rig| rig.cold("---|").last_or(9));
    insta::assert_snapshot!("last_or_empty", p);
}

#[test]
fn any_all_and_count_items() {
    // any/all: unbounded at the first request, the answer at the deciding item (upstream
    // cancelled) or at completion.
    four(
        "any",
        |rig, s| rig.cold(s).any(|x| *x == 3),
        "-1-2-3-4-|",
        "-1-2#",
        "-1-2-5-6|",
        "124356|",
    );
    four(
        "all",
        |rig, s| rig.cold(s).all(|x| *x < 3),
        "-1-2-|",
        "-1-2#",
        "-1-2-1-2|",
        "121256|",
    );
    four(
        "count_items",
        |rig, s| rig.cold(s).count_items(),
        "-1-2-3-|",
        "-1-2#",
        "-1-2-3-4|",
        "123456|",
    );
}
