//! Marble snapshots of the rate-control and sampling operators (sample_first, sample,
//! throttle_latest, throttle in each mode, sample_with, sample_first_with, audit,
//! debounce, rate_limit in each mode, delay_elements, delay_until):
//! completion, error, cancellation and slow demand on virtual time, one frame = 1ms.
//! Pictures are drawn by `marble_kit::picture` (downstream lanes, then upstream).

mod marble_kit;

use marble_kit::{ms, picture, Rig};
use spillway::operators::{OperatorExt, RateLimitMode, ThrottleMode, TokenBucket};
use spillway::prelude::*;

/// A fast source (one item per frame) and a subscriber taking one item every 4 frames.
const FAST: &str = "123456789|";
const SLOW: &str = "r1---r1---r1---r1";

// ------------------------------------------------------------ sample_first

fn sample_first(
    rig: &Rig,
    source: &str,
    period: u64,
) -> impl Publisher<Item = u32, Error = &'static str> {
    let op = rig
        .cold(source)
        .sample_first(ms(period))
        .unwrap()
        .on_drop(rig.drops());
    rig.stats(op.stats());
    op
}

#[test]
fn sample_first_completion() {
    // Windows [1,6) and [11,16): 2, 3 and 5 are throttled; nothing held, so the
    // completion passes at once.
    let p = picture("r∞", 20, |rig| sample_first(rig, "-1-2-3-----4-5-|", 5));
    insta::assert_snapshot!("sample_first_completion", p);
}

#[test]
fn sample_first_error() {
    let p = picture("r∞", 10, |rig| sample_first(rig, "-1-2-#", 5));
    insta::assert_snapshot!("sample_first_error", p);
}

#[test]
fn sample_first_cancel() {
    let p = picture("r∞-----x", 20, |rig| {
        sample_first(rig, "-1-2-3-----4-5-|", 5)
    });
    insta::assert_snapshot!("sample_first_cancel", p);
}

#[test]
fn sample_first_slow_demand() {
    // period 2: an item without demand is dropped as "no demand" and opens no window.
    let p = picture(SLOW, 14, |rig| sample_first(rig, FAST, 2));
    insta::assert_snapshot!("sample_first_slow_demand", p);
}

// ------------------------------------------------------------ sample

fn sample(
    rig: &Rig,
    source: &str,
    period: u64,
) -> impl Publisher<Item = u32, Error = &'static str> {
    let op = rig
        .cold(source)
        .sample(ms(period))
        .unwrap()
        .on_drop(rig.drops());
    rig.stats(op.stats());
    op
}

#[test]
fn sample_completion_flushes() {
    // Ticks every 4 frames; 7 is pending at the completion (frame 18): flushed first.
    let p = picture("r∞", 22, |rig| sample(rig, "-1-2---3-4-5-----7|", 4));
    insta::assert_snapshot!("sample_completion", p);
}

#[test]
fn sample_completion_without_flush() {
    let p = picture("r∞", 22, |rig| {
        let op = rig
            .cold("-1-2---3-4-5-----7|")
            .sample(ms(4))
            .unwrap()
            .flush_on_complete(false)
            .on_drop(rig.drops());
        rig.stats(op.stats());
        op
    });
    insta::assert_snapshot!("sample_completion_no_flush", p);
}

#[test]
fn sample_error() {
    // 3 is pending when the error comes: discarded, the error at once.
    let p = picture("r∞", 10, |rig| sample(rig, "-1-2-3#", 4));
    insta::assert_snapshot!("sample_error", p);
}

#[test]
fn sample_cancel() {
    let p = picture("r∞-----x", 14, |rig| sample(rig, "-1-2---3-4-5-|", 4));
    insta::assert_snapshot!("sample_cancel", p);
}

#[test]
fn sample_slow_demand() {
    // Ticks every 2 frames; a tick without demand drops its sample as "no demand".
    let p = picture(SLOW, 14, |rig| sample(rig, FAST, 2));
    insta::assert_snapshot!("sample_slow_demand", p);
}

// ------------------------------------------------------------ throttle_latest

fn throttle_latest(
    rig: &Rig,
    source: &str,
    period: u64,
) -> impl Publisher<Item = u32, Error = &'static str> {
    let op = rig
        .cold(source)
        .throttle_latest(ms(period))
        .unwrap()
        .on_drop(rig.drops());
    rig.stats(op.stats());
    op
}

#[test]
fn throttle_latest_completion_flushes() {
    // 1 at once; 2 arrives in its window and is pending when upstream completes at
    // frame 4: flushed at once, before the window ends.
    let p = picture("r∞", 14, |rig| throttle_latest(rig, "-1-2|", 4));
    insta::assert_snapshot!("throttle_latest_completion", p);
}

#[test]
fn throttle_latest_doc_marble() {
    let p = picture("r∞", 20, |rig| {
        throttle_latest(rig, "-1-2--3------4-|", 4)
    });
    insta::assert_snapshot!("throttle_latest_doc", p);
}

#[test]
fn throttle_latest_error() {
    let p = picture("r∞", 10, |rig| throttle_latest(rig, "-1-2#", 4));
    insta::assert_snapshot!("throttle_latest_error", p);
}

#[test]
fn throttle_latest_cancel() {
    let p = picture("r∞---x", 10, |rig| throttle_latest(rig, "-1-2-3-|", 4));
    insta::assert_snapshot!("throttle_latest_cancel", p);
}

#[test]
fn throttle_latest_slow_demand() {
    let p = picture(SLOW, 14, |rig| throttle_latest(rig, FAST, 2));
    insta::assert_snapshot!("throttle_latest_slow_demand", p);
}

// ------------------------------------------------------------ audit

fn audit(rig: &Rig, source: &str, period: u64) -> impl Publisher<Item = u32, Error = &'static str> {
    let op = rig
        .cold(source)
        .audit(ms(period))
        .unwrap()
        .on_drop(rig.drops());
    rig.stats(op.stats());
    op
}

#[test]
fn audit_completion_flushes() {
    // The doc marble, plus a last item (5) pending at the completion: flushed at once.
    let p = picture("r∞", 24, |rig| audit(rig, "-1-2-3-------4-----5|", 3));
    insta::assert_snapshot!("audit_completion", p);
}

#[test]
fn audit_error() {
    let p = picture("r∞", 10, |rig| audit(rig, "-1-2#", 4));
    insta::assert_snapshot!("audit_error", p);
}

#[test]
fn audit_cancel() {
    let p = picture("r∞--x", 10, |rig| audit(rig, "-1-2-3-|", 3));
    insta::assert_snapshot!("audit_cancel", p);
}

#[test]
fn audit_slow_demand() {
    let p = picture("r1-------r1-------r1", 14, |rig| audit(rig, FAST, 2));
    insta::assert_snapshot!("audit_slow_demand", p);
}

// ------------------------------------------------------------ debounce

fn debounce(
    rig: &Rig,
    source: &str,
    period: u64,
) -> impl Publisher<Item = u32, Error = &'static str> {
    let op = rig
        .cold(source)
        .debounce(ms(period))
        .unwrap()
        .on_drop(rig.drops());
    rig.stats(op.stats());
    op
}

#[test]
fn debounce_completion_flushes() {
    // The doc marble; then 6 is pending at the completion: flushed at once.
    let p = picture("r∞", 24, |rig| {
        debounce(rig, "-1-2-----3-4-5-------6|", 3)
    });
    insta::assert_snapshot!("debounce_completion", p);
}

#[test]
fn debounce_error() {
    let p = picture("r∞", 10, |rig| debounce(rig, "-1-2#", 3));
    insta::assert_snapshot!("debounce_error", p);
}

#[test]
fn debounce_cancel() {
    let p = picture("r∞--x", 10, |rig| debounce(rig, "-1---2-|", 3));
    insta::assert_snapshot!("debounce_cancel", p);
}

#[test]
fn debounce_slow_demand() {
    // Items 4 frames apart settle after 2; the subscriber asks one every 8 frames.
    let p = picture("r1-------r1-------r1", 22, |rig| {
        debounce(rig, "1---2---3---4---5|", 2)
    });
    insta::assert_snapshot!("debounce_slow_demand", p);
}

// ------------------------------------------------------------ rate_limit

/// One token every 2 frames, bursts of 2.
fn bucket() -> TokenBucket {
    TokenBucket {
        rate: 1,
        per: ms(2),
        burst: 2,
    }
}

fn rate_limit(
    rig: &Rig,
    source: &str,
    mode: RateLimitMode,
) -> impl Publisher<Item = u32, Error = &'static str> {
    let op = rig
        .cold(source)
        .rate_limit(bucket(), mode)
        .unwrap()
        .on_drop(rig.drops());
    rig.stats(op.stats());
    op
}

#[test]
fn rate_limit_delay_completion() {
    // Shaping a fast source: 1, 2 from the full bucket, then one every 2 frames; the
    // completion after the last item.
    let p = picture("r∞", 14, |rig| {
        rate_limit(rig, "123456|", RateLimitMode::Delay)
    });
    insta::assert_snapshot!("rate_limit_delay_completion", p);
}

#[test]
fn rate_limit_delay_error() {
    let p = picture("r∞", 14, |rig| {
        rate_limit(rig, "1234#", RateLimitMode::Delay)
    });
    insta::assert_snapshot!("rate_limit_delay_error", p);
}

#[test]
fn rate_limit_delay_cancel() {
    let p = picture("r∞---x", 14, |rig| {
        rate_limit(rig, "123456|", RateLimitMode::Delay)
    });
    insta::assert_snapshot!("rate_limit_delay_cancel", p);
}

#[test]
fn rate_limit_delay_slow_demand() {
    let p = picture(SLOW, 16, |rig| rate_limit(rig, FAST, RateLimitMode::Delay));
    insta::assert_snapshot!("rate_limit_delay_slow_demand", p);
}

#[test]
fn rate_limit_drop_completion() {
    // The doc marble: d finds the bucket empty (throttled).
    let p = picture("r∞", 14, |rig| {
        rate_limit(rig, "-1234-5---6-|", RateLimitMode::Drop)
    });
    insta::assert_snapshot!("rate_limit_drop_completion", p);
}

#[test]
fn rate_limit_drop_error() {
    let p = picture("r∞", 10, |rig| {
        rate_limit(rig, "-123#", RateLimitMode::Drop)
    });
    insta::assert_snapshot!("rate_limit_drop_error", p);
}

#[test]
fn rate_limit_drop_cancel() {
    let p = picture("r∞---x", 14, |rig| {
        rate_limit(rig, "-1234-5---6-|", RateLimitMode::Drop)
    });
    insta::assert_snapshot!("rate_limit_drop_cancel", p);
}

#[test]
fn rate_limit_drop_slow_demand() {
    // Items the bucket could pay for but without demand: "no demand", no token spent.
    let p = picture(SLOW, 14, |rig| rate_limit(rig, FAST, RateLimitMode::Drop));
    insta::assert_snapshot!("rate_limit_drop_slow_demand", p);
}

#[test]
fn rate_limit_fail_completion() {
    // Within the limit: passes everything.
    let p = picture("r∞", 14, |rig| {
        rate_limit(rig, "-1-2-3-4-|", RateLimitMode::Fail)
    });
    insta::assert_snapshot!("rate_limit_fail_completion", p);
}

#[test]
fn rate_limit_fail_over_the_limit() {
    // The third item of a burst of 2: Error::Rejected, upstream cancelled.
    let p = picture("r∞", 10, |rig| {
        rate_limit(rig, "-(123)-4|", RateLimitMode::Fail)
    });
    insta::assert_snapshot!("rate_limit_fail_rejected", p);
}

#[test]
fn rate_limit_fail_error() {
    let p = picture("r∞", 10, |rig| {
        rate_limit(rig, "-1-2#", RateLimitMode::Fail)
    });
    insta::assert_snapshot!("rate_limit_fail_error", p);
}

#[test]
fn rate_limit_fail_cancel() {
    let p = picture("r∞--x", 10, |rig| {
        rate_limit(rig, "-1-2-3-|", RateLimitMode::Fail)
    });
    insta::assert_snapshot!("rate_limit_fail_cancel", p);
}

#[test]
fn rate_limit_fail_slow_demand() {
    let p = picture(SLOW, 14, |rig| {
        rate_limit(rig, "1-2-3-4-5-6-7|", RateLimitMode::Fail)
    });
    insta::assert_snapshot!("rate_limit_fail_slow_demand", p);
}

// ------------------------------------------------------------ delay_elements

fn delay_elements(
    rig: &Rig,
    source: &str,
    period: u64,
) -> impl Publisher<Item = u32, Error = &'static str> {
    let op = rig
        .cold(source)
        .delay_elements(ms(period))
        .unwrap()
        .on_drop(rig.drops());
    rig.stats(op.stats());
    op
}

#[test]
fn delay_elements_completion() {
    // The doc marble: one item requested at a time, each emitted 2 frames later; the
    // completion right after the last one.
    let p = picture("r∞", 10, |rig| delay_elements(rig, "123|", 2));
    insta::assert_snapshot!("delay_elements_completion", p);
}

#[test]
fn delay_elements_error() {
    // The error arrives while 2 is being delayed: delivered after it.
    let p = picture("r∞", 10, |rig| delay_elements(rig, "12#", 2));
    insta::assert_snapshot!("delay_elements_error", p);
}

#[test]
fn delay_elements_cancel() {
    // Cancelled while 2 is being delayed: 2 discarded, upstream cancelled.
    let p = picture("r∞--x", 10, |rig| delay_elements(rig, "123|", 2));
    insta::assert_snapshot!("delay_elements_cancel", p);
}

#[test]
fn delay_elements_slow_demand() {
    // The next item is requested only when downstream has demand.
    let p = picture(SLOW, 16, |rig| delay_elements(rig, FAST, 2));
    insta::assert_snapshot!("delay_elements_slow_demand", p);
}

#[test]
fn rate_limit_delay_doc_marble() {
    // The doc marble: a source that has everything ready, shaped to the full bucket (2)
    // then one item every 2 frames.
    let p = picture("r∞", 14, |rig| {
        rate_limit(rig, "(123456|)", RateLimitMode::Delay)
    });
    insta::assert_snapshot!("rate_limit_delay_doc", p);
}

// ------------------------------------------------------------ delay_subscription

#[test]
fn delay_subscription_completion() {
    // The doc marble: the cold source starts at frame 3, so everything moves by 3.
    let p = picture("r∞", 10, |rig| {
        rig.cold("-1-2-|").delay_subscription(ms(3))
    });
    insta::assert_snapshot!("delay_subscription_completion", p);
}

#[test]
fn delay_subscription_cancel_before_the_delay() {
    // Cancelled at frame 2: the source is never subscribed (no upstream demand at all).
    let p = picture("r∞-x", 10, |rig| {
        rig.cold("-1-2-|").delay_subscription(ms(3))
    });
    insta::assert_snapshot!("delay_subscription_cancel_before_the_delay", p);
}

#[test]
fn delay_subscription_slow_demand() {
    // The r1 of frame 0 waits for the subscription at frame 3 and goes up then; later
    // requests pass one to one.
    let p = picture(SLOW, 16, |rig| rig.cold(FAST).delay_subscription(ms(3)));
    insta::assert_snapshot!("delay_subscription_slow_demand", p);
}

// ------------------------------------------------------------ throttle (each mode)

fn throttle(
    rig: &Rig,
    source: &str,
    period: u64,
    mode: ThrottleMode,
) -> impl Publisher<Item = u32, Error = &'static str> {
    let op = rig
        .cold(source)
        .throttle(ms(period), mode)
        .unwrap()
        .on_drop(rig.drops());
    rig.stats(op.stats());
    op
}

#[test]
fn throttle_each_mode() {
    // The doc marble (period 5), then the usual cases. Leading: as sample_first;
    // LeadingAndTrailing: as throttle_latest; Trailing: the first item is held, and the
    // item emitted at a window's end opens the next window.
    let modes = [
        ("leading", ThrottleMode::Leading),
        ("trailing", ThrottleMode::Trailing),
        ("both", ThrottleMode::LeadingAndTrailing),
    ];
    let cases = [
        ("doc", "r∞", "-1-2-3-----4-5-|", 5, 22),
        ("completion", "r∞", "-1-2|", 4, 10),
        ("error", "r∞", "-1-2#", 4, 10),
        ("cancel", "r∞---x", "-1-2-3-|", 4, 10),
        ("slow_demand", SLOW, FAST, 2, 14),
    ];
    for (mode_name, mode) in modes {
        for (case, plan, source, period, duration) in cases {
            let p = picture(plan, duration, |rig| throttle(rig, source, period, mode));
            insta::assert_snapshot!(format!("throttle_{mode_name}_{case}"), p);
        }
    }
}

// ------------------------------------------------------------ sample_with

#[test]
fn sample_with() {
    // The notifier has its own lanes; it is subscribed first and asked r∞.
    let cases = [
        ("doc", "r∞", "-1-2-3---4-5-6--|", "----0-----0-0-----", 20),
        ("notifier_completes", "r∞", "-1-2-3-4-5|", "---0---|", 12),
        ("error", "r∞", "-1-2#", "---0---0", 10),
        ("notifier_error", "r∞", "-1-2-3-|", "---0-#", 10),
        ("cancel", "r∞---x", "-1-2-3-|", "--0-0-0-0", 10),
        ("slow_demand", SLOW, FAST, "-0-0-0-0-0-0-0", 14),
    ];
    for (case, plan, main, notifier, duration) in cases {
        let p = picture(plan, duration, |rig| {
            let l = rig.lanes();
            let op = l
                .cold("source", main)
                .sample_with(l.cold("notifier", notifier))
                .on_drop(rig.drops());
            rig.stats(op.stats());
            op
        });
        insta::assert_snapshot!(format!("sample_with_{case}"), p);
    }
}

// ------------------------------------------------------------ sample_first_with

#[test]
fn sample_first_with() {
    // Each emitted item opens a window that lasts as many frames as the item's value
    // (its own `window` lane, subscribed when the item is emitted).
    let window = |l: &marble_kit::Lanes, x: u32| {
        let text = format!("{}0", "-".repeat(x as usize));
        l.cold("window", &text)
    };
    let cases = [
        ("doc", "r∞", "-1-3-2----4-5-|", 16),
        ("error", "r∞", "-3-2#", 10),
        ("cancel", "r∞--x", "-3-2-1-|", 10),
        ("slow_demand", SLOW, "1212121212|", 14),
    ];
    for (case, plan, main, duration) in cases {
        let p = picture(plan, duration, |rig| {
            let l = rig.lanes();
            let w = l.clone();
            let op = l
                .cold("source", main)
                .sample_first_with(move |x| window(&w, *x))
                .on_drop(rig.drops());
            rig.stats(op.stats());
            op
        });
        insta::assert_snapshot!(format!("sample_first_with_{case}"), p);
    }
}

// ------------------------------------------------------------ delay_until

#[test]
fn delay_until() {
    // Each item waits as many frames as its value, after the item before it was emitted.
    let trigger = |l: &marble_kit::Lanes, x: u32| {
        let text = format!("{}0", "-".repeat(x as usize));
        l.cold("trigger", &text)
    };
    let cases = [
        ("doc", "r∞", "-2-4------|", 14),
        ("completion_waits", "r∞", "-3|", 8),
        ("error_after_held", "r∞", "-3#", 8),
        ("cancel", "r∞--x", "-3-1|", 8),
        ("slow_demand", SLOW, "1111|", 18),
    ];
    for (case, plan, main, duration) in cases {
        let p = picture(plan, duration, |rig| {
            let l = rig.lanes();
            let t = l.clone();
            let op = l
                .cold("source", main)
                .delay_until(move |x| trigger(&t, *x))
                .on_drop(rig.drops());
            rig.stats(op.stats());
            op
        });
        insta::assert_snapshot!(format!("delay_until_{case}"), p);
    }
}
