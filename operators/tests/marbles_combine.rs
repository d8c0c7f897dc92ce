//! Marble snapshots of the combining operators (merge, concat, zip, combine_latest,
//! flat_map, concat_map, switch_map): completion, error, cancellation and slow demand on
//! virtual time, one frame = 1ms. Every source has its own lanes (`up(<name>) items` /
//! `up(<name>) demand`, see `marble_kit::Rig::lanes`), all on one time axis, so a cancel
//! reaching each upstream reads straight down a column.

mod marble_kit;

use marble_kit::{picture, Lanes};
use spillway::operators::{concat, merge, OperatorExt};
use spillway::prelude::*;

/// A subscriber taking one item every 4 frames.
const SLOW: &str = "r1---r1---r1---r1---r1---r1";

// ------------------------------------------------------------ merge

#[test]
fn merge_completion() {
    // Both sides asked their prefetch up front; completes when both have.
    let p = picture("r∞", 14, |rig| {
        let l = rig.lanes();
        merge([l.cold("a", "-1---3-|"), l.cold("b", "---2-----4-|")])
    });
    insta::assert_snapshot!("merge_completion", p);
}

#[test]
fn merge_error() {
    // a fails at frame 3: delivered at once, b cancelled in the same frame.
    let p = picture("r∞", 12, |rig| {
        let l = rig.lanes();
        merge([l.cold("a", "-1-#"), l.cold("b", "--2-----4|")])
    });
    insta::assert_snapshot!("merge_error", p);
}

#[test]
fn merge_cancel() {
    let p = picture("r∞----x", 12, |rig| {
        let l = rig.lanes();
        merge([l.cold("a", "-1---3-5|"), l.cold("b", "--2---4--6|")])
    });
    insta::assert_snapshot!("merge_cancel", p);
}

#[test]
fn merge_slow_demand() {
    // prefetch 2: each side is asked 2, and asked again only as its items are delivered
    // (replenished at 75% of 2, i.e. after 2 deliveries... see the up lanes); fast sources
    // are paused, nothing is lost.
    let p = picture(SLOW, 30, |rig| {
        let l = rig.lanes();
        merge([l.cold("a", "1234|"), l.cold("b", "5678|")])
            .prefetch(2)
            .unwrap()
    });
    insta::assert_snapshot!("merge_slow_demand", p);
}

// ------------------------------------------------------------ concat

#[test]
fn concat_completion() {
    // b is subscribed only when a completes.
    let p = picture("r∞", 12, |rig| {
        let l = rig.lanes();
        concat([l.cold("a", "-1-2|"), l.cold("b", "-3-4|")])
    });
    insta::assert_snapshot!("concat_completion", p);
}

#[test]
fn concat_carries_demand_over() {
    // r3: a uses 2 of it, so b is asked for the 1 left as soon as it is subscribed; the
    // r∞ at frame 8 goes to b, as 256 at a time (never unbounded).
    let p = picture("r3-------r∞", 14, |rig| {
        let l = rig.lanes();
        concat([l.cold("a", "-1-2|"), l.cold("b", "-3-4-5|")])
    });
    insta::assert_snapshot!("concat_carries_demand_over", p);
}

#[test]
fn concat_error() {
    // a fails: b is never subscribed.
    let p = picture("r∞", 10, |rig| {
        let l = rig.lanes();
        concat([l.cold("a", "-1-#"), l.cold("b", "-3-4|")])
    });
    insta::assert_snapshot!("concat_error", p);
}

#[test]
fn concat_cancel() {
    // Cancelled while b is current: reaches b (a has already completed).
    let p = picture("r∞------x", 14, |rig| {
        let l = rig.lanes();
        concat([l.cold("a", "-1-2|"), l.cold("b", "-3-4-5|")])
    });
    insta::assert_snapshot!("concat_cancel", p);
}

#[test]
fn concat_slow_demand() {
    // Exactly downstream's demand goes to the current source: r1 each time.
    let p = picture(SLOW, 30, |rig| {
        let l = rig.lanes();
        concat([l.cold("a", "12|"), l.cold("b", "34|")])
    });
    insta::assert_snapshot!("concat_slow_demand", p);
}

// ------------------------------------------------------------ zip

#[test]
fn zip_completion() {
    // b completes at frame 9 with nothing queued: no pair can follow, a is cancelled.
    let p = picture("r∞", 14, |rig| {
        let l = rig.lanes();
        l.cold("a", "-1---2---3-|").zip(l.cold("b", "---4---5-|"))
    });
    insta::assert_snapshot!("zip_completion", p);
}

#[test]
fn zip_error() {
    let p = picture("r∞", 12, |rig| {
        let l = rig.lanes();
        l.cold("a", "-1---2---3|").zip(l.cold("b", "---4-#"))
    });
    insta::assert_snapshot!("zip_error", p);
}

#[test]
fn zip_cancel() {
    let p = picture("r∞----x", 12, |rig| {
        let l = rig.lanes();
        l.cold("a", "-1-2-3-4|").zip(l.cold("b", "--5-6-7-8|"))
    });
    insta::assert_snapshot!("zip_cancel", p);
}

#[test]
fn zip_slow_demand() {
    // prefetch 2: each side asked 2, replenished in one batch once paired and delivered.
    let p = picture(SLOW, 30, |rig| {
        let l = rig.lanes();
        l.cold("a", "1234|")
            .zip(l.cold("b", "5678|"))
            .prefetch(2)
            .unwrap()
    });
    insta::assert_snapshot!("zip_slow_demand", p);
}

// ------------------------------------------------------------ combine_latest

fn tens(a: &u32, b: &u32) -> u32 {
    a * 10 + b
}

#[test]
fn combine_latest_completion() {
    let p = picture("r∞", 16, |rig| {
        let l = rig.lanes();
        l.cold("a", "-1-----2-----|")
            .combine_latest(l.cold("b", "----5-----6--|"), tens)
    });
    insta::assert_snapshot!("combine_latest_completion", p);
}

#[test]
fn combine_latest_error() {
    let p = picture("r∞", 12, |rig| {
        let l = rig.lanes();
        l.cold("a", "-1-----2|")
            .combine_latest(l.cold("b", "---5-#"), tens)
    });
    insta::assert_snapshot!("combine_latest_error", p);
}

#[test]
fn combine_latest_cancel() {
    let p = picture("r∞-----x", 14, |rig| {
        let l = rig.lanes();
        l.cold("a", "-1---2---3|")
            .combine_latest(l.cold("b", "--5---6---|"), tens)
    });
    insta::assert_snapshot!("combine_latest_cancel", p);
}

#[test]
fn combine_latest_slow_demand() {
    // Every combination is queued and delivered, none skipped; prefetch 2 pauses the
    // sources.
    let p = picture(SLOW, 30, |rig| {
        let l = rig.lanes();
        l.cold("a", "12|")
            .combine_latest(l.cold("b", "-56|"), tens)
            .prefetch(2)
            .unwrap()
    });
    insta::assert_snapshot!("combine_latest_slow_demand", p);
}

// ------------------------------------------------------------ flat_map

/// The inner publisher for upstream item `x`, in lane `inner x`.
fn inner(
    l: &Lanes,
    x: u32,
    text: &[(u32, &'static str)],
) -> impl Publisher<Item = u32, Error = &'static str> {
    let t = text.iter().find(|(k, _)| *k == x).map_or("|", |(_, t)| *t);
    l.cold(&format!("inner {x}"), t)
}

#[test]
fn flat_map_completion() {
    // concurrency 2: upstream asked 2 at first, one more per completed inner.
    const INNERS: &[(u32, &str)] = &[(1, "-1---2-|"), (2, "-3-|"), (3, "-4|")];
    let p = picture("r∞", 16, |rig| {
        let l = rig.lanes();
        let f = l.clone();
        l.cold("outer", "-1-2-----3-|")
            .flat_map(move |x| inner(&f, x, INNERS), 2, 4)
            .unwrap()
    });
    insta::assert_snapshot!("flat_map_completion", p);
}

#[test]
fn flat_map_inner_error() {
    // inner 2 fails: delivered at once, outer and inner 1 cancelled.
    const INNERS: &[(u32, &str)] = &[(1, "-1-----2|"), (2, "--#")];
    let p = picture("r∞", 12, |rig| {
        let l = rig.lanes();
        let f = l.clone();
        l.cold("outer", "-1-2-----|")
            .flat_map(move |x| inner(&f, x, INNERS), 2, 4)
            .unwrap()
    });
    insta::assert_snapshot!("flat_map_inner_error", p);
}

#[test]
fn flat_map_cancel() {
    // Cancelled with two inners active: reaches outer and both inners.
    const INNERS: &[(u32, &str)] = &[(1, "-1---2---|"), (2, "-3---4---|")];
    let p = picture("r∞-----x", 14, |rig| {
        let l = rig.lanes();
        let f = l.clone();
        l.cold("outer", "-1-2-------|")
            .flat_map(move |x| inner(&f, x, INNERS), 2, 4)
            .unwrap()
    });
    insta::assert_snapshot!("flat_map_cancel", p);
}

#[test]
fn flat_map_slow_demand() {
    // concurrency 2, prefetch 2: outer asked 2; each inner asked 2 (paused there, its
    // items delivered round robin one per request); outer asked 1 more when inner 1 has
    // completed (frame 10), and inner 3 subscribed then.
    // (Inners complete only after their items were delivered: an inner completing with
    // items still queued refills the outer too early, see the report of this file.)
    const INNERS: &[(u32, &str)] = &[(1, "12--------|"), (2, "34--------|"), (3, "5|")];
    let p = picture(SLOW, 30, |rig| {
        let l = rig.lanes();
        let f = l.clone();
        l.cold("outer", "123|")
            .flat_map(move |x| inner(&f, x, INNERS), 2, 2)
            .unwrap()
    });
    insta::assert_snapshot!("flat_map_slow_demand", p);
}

// ------------------------------------------------------------ concat_map

#[test]
fn concat_map_completion() {
    // Outer asked 1 at a time: item 2 is requested only when inner 1 completes.
    const INNERS: &[(u32, &str)] = &[(1, "-1-2|"), (2, "-3|")];
    let p = picture("r∞", 12, |rig| {
        let l = rig.lanes();
        let f = l.clone();
        l.cold("outer", "-12|")
            .concat_map(move |x| inner(&f, x, INNERS))
    });
    insta::assert_snapshot!("concat_map_completion", p);
}

#[test]
fn concat_map_error() {
    const INNERS: &[(u32, &str)] = &[(1, "-1-#"), (2, "-3|")];
    let p = picture("r∞", 10, |rig| {
        let l = rig.lanes();
        let f = l.clone();
        l.cold("outer", "-12|")
            .concat_map(move |x| inner(&f, x, INNERS))
    });
    insta::assert_snapshot!("concat_map_error", p);
}

#[test]
fn concat_map_cancel() {
    const INNERS: &[(u32, &str)] = &[(1, "-1-2-3|"), (2, "-4|")];
    let p = picture("r∞---x", 10, |rig| {
        let l = rig.lanes();
        let f = l.clone();
        l.cold("outer", "-12|")
            .concat_map(move |x| inner(&f, x, INNERS))
    });
    insta::assert_snapshot!("concat_map_cancel", p);
}

#[test]
fn concat_map_slow_demand() {
    // Outer asked one at a time; inner 1 asked its prefetch of 2, inner 2 subscribed when
    // inner 1 completes (frame 6) and asked 2 as well; one item per downstream request.
    const INNERS: &[(u32, &str)] = &[(1, "12----|"), (2, "34|")];
    let p = picture(SLOW, 20, |rig| {
        let l = rig.lanes();
        let f = l.clone();
        l.cold("outer", "12|")
            .concat_map(move |x| inner(&f, x, INNERS))
            .prefetch(2)
            .unwrap()
    });
    insta::assert_snapshot!("concat_map_slow_demand", p);
}

// ------------------------------------------------------------ switch_map

#[test]
fn switch_map_completion() {
    // The method doc's marble: 2 arriving at frame 8 cancels inner 1 (its 3 never comes).
    const INNERS: &[(u32, &str)] = &[(1, "-1--2----3|"), (2, "-4--5-|")];
    let p = picture("r∞", 20, |rig| {
        let l = rig.lanes();
        let f = l.clone();
        l.cold("outer", "-1------2-------|")
            .switch_map(move |x| inner(&f, x, INNERS))
    });
    insta::assert_snapshot!("switch_map_completion", p);
}

#[test]
fn switch_map_error() {
    const INNERS: &[(u32, &str)] = &[(1, "-1------2|")];
    let p = picture("r∞", 12, |rig| {
        let l = rig.lanes();
        let f = l.clone();
        l.cold("outer", "-1---#")
            .switch_map(move |x| inner(&f, x, INNERS))
    });
    insta::assert_snapshot!("switch_map_error", p);
}

#[test]
fn switch_map_cancel() {
    const INNERS: &[(u32, &str)] = &[(1, "-1--2----|"), (2, "-4--5--|")];
    let p = picture("r∞------x", 14, |rig| {
        let l = rig.lanes();
        let f = l.clone();
        l.cold("outer", "-1--2------|")
            .switch_map(move |x| inner(&f, x, INNERS))
    });
    insta::assert_snapshot!("switch_map_cancel", p);
}

#[test]
fn switch_map_slow_demand() {
    // Inner 1's undelivered items are discarded when 2 arrives (outer asked r∞).
    const INNERS: &[(u32, &str)] = &[(1, "123|"), (2, "456|")];
    let p = picture(SLOW, 24, |rig| {
        let l = rig.lanes();
        let f = l.clone();
        l.cold("outer", "1----2|")
            .switch_map(move |x| inner(&f, x, INNERS))
            .prefetch(2)
            .unwrap()
    });
    insta::assert_snapshot!("switch_map_slow_demand", p);
}

// ------------------------------------------------------------ zip_all, combine_latest_all

/// A row of digits as one number, so that it fits a marble lane: [1, 4, 7] is 147.
fn digits(row: Vec<u32>) -> u32 {
    row.iter().fold(0, |acc, d| acc * 10 + d)
}

#[test]
fn zip_all_completion() {
    // b completes at frame 8 with nothing queued after its 2nd row: a and c are both
    // cancelled in that same frame (nested binary zips would reach them one after the
    // other).
    let p = picture("r∞", 14, |rig| {
        let l = rig.lanes();
        spillway::operators::zip_all([
            l.cold("a", "-1---2---3-|"),
            l.cold("b", "---4---5|"),
            l.cold("c", "-----7-8---9|"),
        ])
        .map(digits)
    });
    insta::assert_snapshot!("zip_all_completion", p);
}

#[test]
fn zip_all_error() {
    let p = picture("r∞", 12, |rig| {
        let l = rig.lanes();
        spillway::operators::zip_all([
            l.cold("a", "-1---2---3|"),
            l.cold("b", "---4-#"),
            l.cold("c", "--7---8|"),
        ])
        .map(digits)
    });
    insta::assert_snapshot!("zip_all_error", p);
}

#[test]
fn zip_all_cancel() {
    let p = picture("r∞----x", 12, |rig| {
        let l = rig.lanes();
        spillway::operators::zip_all([
            l.cold("a", "-1-2-3-4|"),
            l.cold("b", "--5-6-7-8|"),
            l.cold("c", "-7-8-9-1|"),
        ])
        .map(digits)
    });
    insta::assert_snapshot!("zip_all_cancel", p);
}

#[test]
fn zip_all_slow_demand() {
    // prefetch 2: each source asked 2, replenished in one batch once zipped and delivered.
    let p = picture(SLOW, 30, |rig| {
        let l = rig.lanes();
        spillway::operators::zip_all([
            l.cold("a", "1234|"),
            l.cold("b", "5678|"),
            l.cold("c", "9123|"),
        ])
        .prefetch(2)
        .unwrap()
        .map(digits)
    });
    insta::assert_snapshot!("zip_all_slow_demand", p);
}

#[test]
fn combine_latest_all_completion() {
    // A row for each update once all three have emitted; completes when all three have.
    let p = picture("r∞", 16, |rig| {
        let l = rig.lanes();
        spillway::operators::combine_latest_all([
            l.cold("a", "-1-----2-----|"),
            l.cold("b", "---4---------|"),
            l.cold("c", "-----7----8--|"),
        ])
        .map(digits)
    });
    insta::assert_snapshot!("combine_latest_all_completion", p);
}

#[test]
fn combine_latest_all_a_silent_source_ends_it() {
    // c completes at frame 5 without an item: no row can ever be made; a and b are
    // cancelled at once.
    let p = picture("r∞", 10, |rig| {
        let l = rig.lanes();
        spillway::operators::combine_latest_all([
            l.cold("a", "-1---2---|"),
            l.cold("b", "---4-----|"),
            l.cold("c", "-----|"),
        ])
        .map(digits)
    });
    insta::assert_snapshot!("combine_latest_all_a_silent_source_ends_it", p);
}
