//! Checks of the publisher rules (1.x) and of the factory itself.

use spillway_core::Error;

use super::config::LONG_RUN_MARGIN;
use super::probe::{Behaviour, RandomRequests, Rng};
use super::publisher_suite::{Check, Ctx};
use super::{Outcome, PublisherFactory, TckConfig};

/// The largest random request of the long runs.
pub(crate) const LONG_RUN_MAX_REQUEST: u64 = 9;

pub(crate) fn checks<F: PublisherFactory>(config: &TckConfig) -> Vec<Check<F>> {
    vec![
        Check::new(
            "setup",
            "create_publisher(1) emits 1 item, then completes",
            1,
            true,
            setup_1,
        ),
        Check::new(
            "setup",
            "create_publisher(3) emits 3 items, then completes",
            3,
            true,
            setup_3,
        ),
        Check::new(
            "1.1",
            "no more on_next than requested (request 1, then 1 + 2)",
            5,
            false,
            spec101,
        ),
        Check::new(
            "1.1",
            "long run: random request sizes from the test and from on_next",
            config.long_run + LONG_RUN_MARGIN,
            false,
            spec101_long,
        ),
        Check::new(
            "1.2",
            "fewer items than requested, then on_complete",
            3,
            true,
            spec102,
        ),
        Check::new(
            "1.3",
            "serial signals under concurrent requests (repeated)",
            10,
            false,
            spec103,
        ),
        Check::with_failed("1.4", "the failed publisher signals on_error", spec104),
        Check::new(
            "1.5",
            "on_complete after the last element",
            3,
            true,
            spec105,
        ),
        Check::new(
            "1.5",
            "an empty publisher completes",
            0,
            true,
            spec105_empty,
        ),
        Check::new(
            "1.7",
            "no signal after on_complete",
            1,
            true,
            spec107_complete,
        ),
        Check::with_failed("1.7", "no signal after on_error", spec107_error),
        Check::new(
            "1.9",
            "on_subscribe first and once; subscribe returns normally",
            0,
            false,
            spec109,
        ),
        Check::with_failed(
            "1.9",
            "a rejecting publisher sends on_subscribe, then on_error",
            spec109_reject,
        ),
    ]
}

pub(crate) fn fixed_entries() -> Vec<(&'static str, &'static str, Outcome)> {
    vec![
        (
            "1.6",
            "subscription considered cancelled after a terminal signal",
            Outcome::NotChecked(
                "not observable; its proxy is checked by 1.7 and 3.15/3.16 (request and cancel after a terminal signal are NOPs)"
                    .to_string(),
            ),
        ),
        (
            "1.8",
            "signals stop eventually after cancel",
            Outcome::NotChecked("checked as rule 3.12".to_string()),
        ),
        (
            "1.9",
            "a null subscriber is rejected",
            Outcome::EnforcedByType("there is no null subscriber: subscribe takes one by value"),
        ),
        (
            "1.10",
            "the same subscriber is not subscribed twice",
            Outcome::EnforcedByType(
                "subscribe takes the subscriber by value: one subscriber cannot be subscribed twice",
            ),
        ),
        (
            "1.11",
            "several subscribers (optional)",
            Outcome::NotChecked(
                "optional; subscribe consumes the publisher, so multi-subscribe is a property of Clone publishers"
                    .to_string(),
            ),
        ),
    ]
}

fn setup_1<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    let h = ctx.subscribe(1, Behaviour::default())?;
    h.request(1);
    h.expect_items(1)?;
    h.request(1);
    h.expect_complete()?;
    h.expect_no_more(1, true)?;
    h.finish()
}

fn setup_3<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    let h = ctx.subscribe(3, Behaviour::default())?;
    for i in 1..=3 {
        h.request(1);
        h.expect_items(i)?;
    }
    h.request(1);
    h.expect_complete()?;
    h.expect_no_more(3, true)?;
    h.finish()
}

fn spec101<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    let h = ctx.subscribe(5, Behaviour::default())?;
    h.expect_no_more(0, false)?;
    h.request(1);
    h.expect_items(1)?;
    h.expect_no_more(1, false)?;
    h.request(1);
    h.request(2);
    h.expect_items(4)?;
    h.expect_no_more(4, false)?;
    h.finish()
}

/// The behaviour of the long runs: random requests from about half of the `on_next`
/// calls until `long_run` items were requested in all.
pub(crate) fn long_run_behaviour(config: &TckConfig) -> Behaviour {
    Behaviour {
        random_on_next: Some(RandomRequests {
            max: LONG_RUN_MAX_REQUEST,
            until_requested: config.long_run,
        }),
        ..Behaviour::default()
    }
}

/// Hundreds of items under bounded demand: the test requests random amounts (and waits
/// for them) while `on_next` adds its own; not one item beyond what was requested, at
/// any point, and nothing after the last.
fn spec101_long<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    let config = &ctx.config;
    let h = ctx.subscribe(
        config.long_run + LONG_RUN_MARGIN,
        long_run_behaviour(config),
    )?;
    let mut rng = Rng::new(config.seed);
    let seed = config.seed;
    while h.requested() < config.long_run {
        h.request(rng.between(1, LONG_RUN_MAX_REQUEST));
        h.expect_caught_up()
            .map_err(|e| format!("seed {seed:#x}: {e}"))?;
    }
    h.expect_no_more(h.requested(), false)
        .and_then(|()| h.finish())
        .map_err(|e| format!("seed {seed:#x}: {e}"))
}

fn spec102<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    let h = ctx.subscribe(3, Behaviour::default())?;
    h.request(10);
    h.expect_items(3)?;
    h.expect_complete()?;
    h.expect_no_more(3, true)?;
    h.finish()
}

fn spec103<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    for run in 0..ctx.config.stochastic_runs {
        let behaviour = Behaviour {
            on_next_request: Some(1),
            re_request_until: 5,
            ..Behaviour::default()
        };
        let h = ctx.subscribe(10, behaviour)?;
        let barrier = std::sync::Barrier::new(2);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                barrier.wait();
                for _ in 0..3 {
                    h.request(1);
                }
            });
            barrier.wait();
            for _ in 0..2 {
                h.request(1);
            }
        });
        // 5 from the test threads, 4 from on_next (items 1 to 4).
        h.expect_items(9)
            .and_then(|()| h.expect_no_more(9, true))
            .map_err(|e| format!("run {run}: {e}"))?;
        h.finish().map_err(|e| format!("run {run}: {e}"))?;
    }
    Ok(())
}

fn spec104<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    let h = ctx.subscribe_failed()?;
    h.expect_error("any error", |_| true)?;
    h.expect_no_more(0, true)?;
    h.finish()
}

fn spec105<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    let h = ctx.subscribe(3, Behaviour::default())?;
    for i in 1..=3 {
        h.request(1);
        h.expect_items(i)?;
    }
    h.request(1);
    h.expect_complete()?;
    h.expect_no_more(3, true)?;
    h.finish()
}

fn spec105_empty<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    let h = ctx.subscribe(0, Behaviour::default())?;
    h.request(1);
    h.expect_complete()?;
    h.expect_no_more(0, true)?;
    h.finish()
}

fn spec107_complete<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    let h = ctx.subscribe(1, Behaviour::default())?;
    h.request(10);
    h.expect_items(1)?;
    h.expect_complete()?;
    h.request(10);
    h.expect_no_more(1, true)?;
    h.cancel();
    h.expect_no_more(1, true)?;
    h.finish()
}

fn spec107_error<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    let h = ctx.subscribe_failed()?;
    h.expect_error("any error", |_| true)?;
    h.request(10);
    h.expect_no_more(0, true)?;
    h.cancel();
    h.expect_no_more(0, true)?;
    h.finish()
}

fn spec109<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    // `subscribe` already checks: it returned normally, on_subscribe came first, once.
    let h = ctx.subscribe(0, Behaviour::default())?;
    h.expect_no_more(0, true)?;
    h.finish()
}

fn spec109_reject<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    let h = ctx.subscribe_failed()?;
    h.expect_error("any error", |e| !matches!(e, Error::InvalidRequest { .. }))?;
    h.finish()
}
