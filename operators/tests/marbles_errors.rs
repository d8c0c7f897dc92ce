//! Marble snapshots of the error-handling and async operators (timeout, retry,
//! retry_backoff, on_error_resume, on_error_return, map_async, map_async_unordered, then):
//! completion, error, cancellation and slow demand on virtual time, one frame = 1ms.
//! Pictures are drawn by `marble_kit::picture`; a fallback or each resubscription gets
//! its own lanes (`up(<name>) ...`), all on one time axis.
//!
//! The async operators' futures complete on virtual time: each is a oneshot receiver
//! whose sender fires from a `VirtualScheduler` timer (see [`after`]), no tokio sleeps.

mod marble_kit;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::channel::oneshot;
use marble_kit::{ms, picture, Rig};
use spillway::operators::{Backoff, OperatorExt};
use spillway::prelude::*;
use spillway_core::SchedulerExt as _;
use spillway_testkit::VirtualScheduler;

/// A subscriber taking one item every 4 frames.
const SLOW: &str = "r1---r1---r1---r1---r1---r1";

/// A future resolving to `value` after `delay` of virtual time (a `vs` timer completes a
/// oneshot).
fn after(
    vs: &Arc<VirtualScheduler>,
    delay: Duration,
    value: u32,
) -> impl std::future::Future<Output = u32> + Send + 'static {
    let (tx, rx) = oneshot::channel();
    let _ = vs.run_after(delay, move || {
        let _ = tx.send(value);
    });
    async move { rx.await.unwrap_or(u32::MAX) }
}

// ------------------------------------------------------------ timeout

fn timeout(
    rig: &Rig,
    source: &str,
    after_ms: u64,
) -> impl Publisher<Item = u32, Error = &'static str> {
    rig.cold(source).timeout(ms(after_ms)).unwrap()
}

#[test]
fn timeout_completion() {
    // Gaps of 2 frames under a timeout of 3: never fires.
    let p = picture("r∞", 10, |rig| timeout(rig, "-1-2-3-|", 3));
    insta::assert_snapshot!("timeout_completion", p);
}

#[test]
fn timeout_fires() {
    // The method doc's marble: 3 frames after 2 (frame 3) without an item: Timeout at
    // frame 6, upstream cancelled in the same frame.
    let p = picture("r∞", 14, |rig| timeout(rig, "-1-2--------3-|", 3));
    insta::assert_snapshot!("timeout_fires", p);
}

#[test]
fn timeout_error() {
    let p = picture("r∞", 8, |rig| timeout(rig, "-1-#", 3));
    insta::assert_snapshot!("timeout_error", p);
}

#[test]
fn timeout_cancel() {
    let p = picture("r∞---x", 10, |rig| timeout(rig, "-1-2-3-|", 3));
    insta::assert_snapshot!("timeout_cancel", p);
}

#[test]
fn timeout_only_while_demand() {
    // 1 is delivered at frame 0 and nothing is requested until frame 7: no timeout in
    // between (the clock runs only with outstanding demand); from the r1 at frame 7 it
    // fires 3 frames later, at 10 (2 is due only at 11).
    let p = picture("r1------r1", 14, |rig| timeout(rig, "1----------2|", 3));
    insta::assert_snapshot!("timeout_only_while_demand", p);
}

#[test]
fn timeout_slow_demand() {
    // A fast source and a slow subscriber: items are always there when requested.
    let p = picture(SLOW, 20, |rig| timeout(rig, "123456|", 3));
    insta::assert_snapshot!("timeout_slow_demand", p);
}

#[test]
fn timeout_first_fires_on_each_after_the_first_item() {
    // The method doc's marble: 8 frames for the first item (it comes at 6), then 4
    // between items: after 2 (frame 8) nothing until 12: Timeout at 12.
    let p = picture("r∞", 16, |rig| {
        rig.cold("------1-2------3-|")
            .timeout_first(ms(8), ms(4))
            .unwrap()
    });
    insta::assert_snapshot!("timeout_first_fires", p);
}

#[test]
fn timeout_with_switches_to_the_fallback() {
    // The method doc's marble: nothing 4 frames after 2 (frame 3): at frame 7 main is
    // cancelled and the fallback subscribed (its own lanes), with the demand outstanding.
    let p = picture("r∞", 16, |rig| {
        let l = rig.lanes();
        let fallback = l.cold("fallback", "-8-9-|");
        l.cold("main", "-1-2--------3-|")
            .timeout_with(ms(4), fallback)
            .unwrap()
    });
    insta::assert_snapshot!("timeout_with_switches", p);
}

#[test]
fn timeout_with_slow_demand_hands_over_what_is_outstanding() {
    // r2 at 0: 1 arrives, then nothing for 3 frames: the fallback is asked the 1 left;
    // later requests go to it one to one.
    let p = picture("r2------r1---r1", 16, |rig| {
        let l = rig.lanes();
        let fallback = l.cold("fallback", "789|");
        l.cold("main", "1----------2|")
            .timeout_with(ms(3), fallback)
            .unwrap()
    });
    insta::assert_snapshot!("timeout_with_slow_demand", p);
}

// ------------------------------------------------------------ retry

#[test]
fn retry_exhausted() {
    // retry(2): three subscriptions (one lane), each -1-#; the third error goes down.
    let p = picture("r∞", 12, |rig| rig.cold_clone("-1-#").retry(2));
    insta::assert_snapshot!("retry_exhausted", p);
}

#[test]
fn retry_carries_outstanding_demand() {
    // r3: the first subscription is asked 3 and sends 1; the second is asked the 2 left,
    // the third the 1 left: no item requested twice. Errors need no demand.
    let p = picture("r3", 12, |rig| rig.cold_clone("-1-#").retry(2));
    insta::assert_snapshot!("retry_carries_outstanding_demand", p);
}

#[test]
fn retry_recovers() {
    // The second attempt (its own lane) completes.
    let p = picture("r∞", 12, |rig| {
        let l = rig.lanes();
        let attempt = Arc::new(AtomicU32::new(0));
        defer(move || {
            let n = attempt.fetch_add(1, Ordering::SeqCst) + 1;
            let text = if n == 1 { "-1-#" } else { "-1-2|" };
            l.cold(&format!("attempt {n}"), text)
        })
        .retry(3)
    });
    insta::assert_snapshot!("retry_recovers", p);
}

#[test]
fn retry_cancel() {
    // Cancelled during the second subscription: reaches it.
    let p = picture("r∞----x", 12, |rig| rig.cold_clone("-1-#").retry(2));
    insta::assert_snapshot!("retry_cancel", p);
}

#[test]
fn retry_slow_demand() {
    // The error follows 2 at frame 4, when no demand is left: the resubscription is asked
    // nothing until the r1 at frame 8.
    let p = picture(SLOW, 20, |rig| rig.cold_clone("12#").retry(1));
    insta::assert_snapshot!("retry_slow_demand", p);
}

// ------------------------------------------------------------ retry_backoff

fn backoff() -> Backoff {
    Backoff {
        first: ms(2),
        max: ms(100),
        factor: 2.0,
        jitter: 0.0,
        max_retries: 2,
        ..Backoff::default()
    }
}

#[test]
fn retry_backoff_exhausted() {
    // The method doc's marble: waits 2, then 4, before resubscribing; nothing requested
    // while waiting.
    let p = picture("r∞", 20, |rig| {
        rig.cold_clone("-1-#").retry_backoff(backoff()).unwrap()
    });
    insta::assert_snapshot!("retry_backoff_exhausted", p);
}

#[test]
fn retry_backoff_recovers() {
    let p = picture("r∞", 14, |rig| {
        let l = rig.lanes();
        let attempt = Arc::new(AtomicU32::new(0));
        defer(move || {
            let n = attempt.fetch_add(1, Ordering::SeqCst) + 1;
            let text = if n == 1 { "-1-#" } else { "-1-2|" };
            l.cold(&format!("attempt {n}"), text)
        })
        .retry_backoff(backoff())
        .unwrap()
    });
    insta::assert_snapshot!("retry_backoff_recovers", p);
}

#[test]
fn retry_backoff_cancel_during_delay() {
    // Cancelled at frame 4, during the first delay (frames 3..5): no resubscription.
    let p = picture("r∞---x", 14, |rig| {
        rig.cold_clone("-1-#").retry_backoff(backoff()).unwrap()
    });
    insta::assert_snapshot!("retry_backoff_cancel_during_delay", p);
}

#[test]
fn retry_backoff_slow_demand() {
    // Resubscribed 2 frames after the error (frame 6), asked the outstanding demand: 0
    // until the r1 at frame 8.
    let p = picture(SLOW, 24, |rig| {
        rig.cold_clone("12#").retry_backoff(backoff()).unwrap()
    });
    insta::assert_snapshot!("retry_backoff_slow_demand", p);
}

// ------------------------------------------------------------ on_error_resume

#[test]
fn on_error_resume_completion() {
    let p = picture("r∞", 12, |rig| {
        let l = rig.lanes();
        let fallback = l.cold("fallback", "-7-8-|");
        l.cold("main", "-1-2-#").on_error_resume(move |_| fallback)
    });
    insta::assert_snapshot!("on_error_resume_completion", p);
}

#[test]
fn on_error_resume_carries_demand() {
    // r3: main sends 2, the fallback is asked the 1 left.
    let p = picture("r3", 12, |rig| {
        let l = rig.lanes();
        let fallback = l.cold("fallback", "-7-8-|");
        l.cold("main", "-1-2-#").on_error_resume(move |_| fallback)
    });
    insta::assert_snapshot!("on_error_resume_carries_demand", p);
}

#[test]
fn on_error_resume_fallback_error() {
    let p = picture("r∞", 10, |rig| {
        let l = rig.lanes();
        let fallback = l.cold("fallback", "-7#");
        l.cold("main", "-1-#").on_error_resume(move |_| fallback)
    });
    insta::assert_snapshot!("on_error_resume_fallback_error", p);
}

#[test]
fn on_error_resume_cancel() {
    // Cancelled while on the fallback: reaches it.
    let p = picture("r∞-----x", 12, |rig| {
        let l = rig.lanes();
        let fallback = l.cold("fallback", "-7-8-9|");
        l.cold("main", "-1-#").on_error_resume(move |_| fallback)
    });
    insta::assert_snapshot!("on_error_resume_cancel", p);
}

#[test]
fn on_error_resume_slow_demand() {
    let p = picture(SLOW, 20, |rig| {
        let l = rig.lanes();
        let fallback = l.cold("fallback", "78|");
        l.cold("main", "12#").on_error_resume(move |_| fallback)
    });
    insta::assert_snapshot!("on_error_resume_slow_demand", p);
}

// ------------------------------------------------------------ on_error_return

#[test]
fn on_error_return_completion() {
    // The method doc's marble.
    let p = picture("r∞", 8, |rig| rig.cold("-1-2-#").on_error_return(|_| 0));
    insta::assert_snapshot!("on_error_return_completion", p);
}

#[test]
fn on_error_return_no_error() {
    let p = picture("r∞", 8, |rig| rig.cold("-1-2|").on_error_return(|_| 0));
    insta::assert_snapshot!("on_error_return_no_error", p);
}

#[test]
fn on_error_return_cancel() {
    let p = picture("r∞--x", 8, |rig| {
        rig.cold("-1-2-#").on_error_return(|_| 0)
    });
    insta::assert_snapshot!("on_error_return_cancel", p);
}

#[test]
fn on_error_return_waits_for_demand() {
    // The error arrives at frame 2 with no demand left: 0 waits for the r1 at frame 6.
    let p = picture("r2-----r1", 10, |rig| {
        rig.cold("12#").on_error_return(|_| 0)
    });
    insta::assert_snapshot!("on_error_return_waits_for_demand", p);
}

#[test]
fn on_error_return_slow_demand() {
    let p = picture(SLOW, 16, |rig| rig.cold("12#").on_error_return(|_| 0));
    insta::assert_snapshot!("on_error_return_slow_demand", p);
}

// ------------------------------------------------------------ map_async

/// Item `x` takes `delays[x]` frames; the result is `x + 5`.
fn delayed(
    rig: &Rig,
    delays: &'static [u64],
) -> impl FnMut(u32) -> std::pin::Pin<Box<dyn std::future::Future<Output = u32> + Send>> + Send + 'static
{
    let vs = rig.vs.clone();
    move |x| Box::pin(after(&vs, ms(delays[x as usize]), x + 5))
}

/// Delays by item: 1 takes 3 frames, 2 and 3 take 1.
const D: &[u64] = &[1, 3, 1, 1, 1, 1, 1, 1, 1, 1];

#[test]
fn map_async_completion() {
    // f(1) takes 3 frames (1 -> 4), f(2) one (3 -> 4): both out at frame 4, in input
    // order; a slot freed is one more request upstream (both wake-ups of frame 4 are
    // served by one pass, so the two slots are asked for in one request).
    let p = picture("r∞", 12, |rig| {
        let f = delayed(rig, D);
        rig.cold("-1-2-3-|").map_async(2, f).unwrap()
    });
    insta::assert_snapshot!("map_async_completion", p);
}

#[test]
fn map_async_order() {
    // 1 takes 3 frames, 2 only 1: f(2) is ready at frame 2 but waits for f(1) (frame 3).
    let p = picture("r∞", 10, |rig| {
        let f = delayed(rig, D);
        rig.cold("12|").map_async(2, f).unwrap()
    });
    insta::assert_snapshot!("map_async_order", p);
}

#[test]
fn map_async_error() {
    // The upstream error waits for f(2), still running: its result goes out first, then
    // the error (`abort_on_error` would drop it and fail at once). Upstream, already
    // terminated, is not cancelled.
    let p = picture("r∞", 10, |rig| {
        let f = delayed(rig, &[1, 1, 5, 1, 1, 1, 1, 1, 1, 1]);
        rig.cold("-12#").map_async(2, f).unwrap()
    });
    insta::assert_snapshot!("map_async_error", p);
}

#[test]
fn map_async_cancel() {
    let p = picture("r∞--x", 10, |rig| {
        let f = delayed(rig, D);
        rig.cold("-1-2-3-|").map_async(2, f).unwrap()
    });
    insta::assert_snapshot!("map_async_cancel", p);
}

#[test]
fn map_async_slow_demand() {
    // concurrency 2 (max_queued 2): 2 requested at first, one more per freed slot, until
    // 2 results wait for demand: then requests stop; never more than 4 requested and not
    // emitted.
    let p = picture(SLOW, 30, |rig| {
        let f = delayed(rig, &[1; 10]);
        rig.cold("123456|").map_async(2, f).unwrap()
    });
    insta::assert_snapshot!("map_async_slow_demand", p);
}

// ------------------------------------------------------------ map_async_unordered

#[test]
fn map_async_unordered_completion() {
    // Results as they finish: f(2) (frame 2) before f(1) (frame 3).
    let p = picture("r∞", 10, |rig| {
        let f = delayed(rig, D);
        rig.cold("12-3|").map_async_unordered(2, f).unwrap()
    });
    insta::assert_snapshot!("map_async_unordered_completion", p);
}

#[test]
fn map_async_unordered_error() {
    let p = picture("r∞", 10, |rig| {
        let f = delayed(rig, &[1, 1, 5, 1, 1, 1, 1, 1, 1, 1]);
        rig.cold("-12#").map_async_unordered(2, f).unwrap()
    });
    insta::assert_snapshot!("map_async_unordered_error", p);
}

#[test]
fn map_async_unordered_cancel() {
    let p = picture("r∞--x", 10, |rig| {
        let f = delayed(rig, D);
        rig.cold("-1-2-3-|").map_async_unordered(2, f).unwrap()
    });
    insta::assert_snapshot!("map_async_unordered_cancel", p);
}

#[test]
fn map_async_unordered_slow_demand() {
    let p = picture(SLOW, 30, |rig| {
        let f = delayed(rig, &[1; 10]);
        rig.cold("123456|").map_async_unordered(2, f).unwrap()
    });
    insta::assert_snapshot!("map_async_unordered_slow_demand", p);
}

// ------------------------------------------------------------ then

#[test]
fn then_completion() {
    // One at a time: 2 is requested only once f(1) finished.
    let p = picture("r∞", 12, |rig| {
        let f = delayed(rig, &[1, 3, 1, 1, 1, 1, 1, 1, 1, 1]);
        rig.cold("12|").then(f)
    });
    insta::assert_snapshot!("then_completion", p);
}

#[test]
fn then_error() {
    let p = picture("r∞", 10, |rig| {
        let f = delayed(rig, &[1, 1, 5, 1, 1, 1, 1, 1, 1, 1]);
        rig.cold("-12#").then(f)
    });
    insta::assert_snapshot!("then_error", p);
}

#[test]
fn then_cancel() {
    let p = picture("r∞--x", 10, |rig| {
        let f = delayed(rig, &[1, 3, 1, 1, 1, 1, 1, 1, 1, 1]);
        rig.cold("123|").then(f)
    });
    insta::assert_snapshot!("then_cancel", p);
}

#[test]
fn then_slow_demand() {
    // At most one finished result waits for demand: upstream is paused meanwhile.
    let p = picture(SLOW, 24, |rig| {
        let f = delayed(rig, &[1; 10]);
        rig.cold("12345|").then(f)
    });
    insta::assert_snapshot!("then_slow_demand", p);
}
