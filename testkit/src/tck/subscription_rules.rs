//! Checks of the subscription rules (3.x).

use spillway_core::Error;

use super::config::LONG_RUN_MARGIN;
use super::probe::{Behaviour, Harness, Rng};
use super::publisher_rules::{long_run_behaviour, LONG_RUN_MAX_REQUEST};
use super::publisher_suite::{Check, Ctx, ErrOf};
use super::{Outcome, PublisherFactory, TckConfig};

/// Items requested before the cancel of [`spec312`]: far more than any slack.
const CANCEL_DEMAND: u64 = 150;

pub(crate) fn checks<F: PublisherFactory>(factory: &F, config: &TckConfig) -> Vec<Check<F>> {
    let deep = factory.bounded_depth().saturating_add(1);
    vec![
        Check::new(
            "3.2",
            "request from on_subscribe and on_next (re-entrant)",
            6,
            false,
            spec302,
        ),
        Check::new(
            "3.3",
            "re-entrant request has bounded recursion depth",
            deep,
            false,
            spec303,
        ),
        Check::new(
            "3.5",
            "cancel from several threads at once",
            3,
            false,
            spec305,
        ),
        Check::new("3.6", "request after cancel is a NOP", 0, false, spec306),
        Check::new("3.7", "cancel after cancel is a NOP", 1, false, spec307),
        Check::new(
            "3.8",
            "demand is additive: request(1) three times gets three",
            5,
            false,
            spec308,
        ),
        Check::new(
            "3.9",
            "request(0) signals on_error(Error::InvalidRequest)",
            1,
            false,
            spec309,
        ),
        Check::new(
            "3.12",
            "cancel from another thread while on_next runs stops signals (150 requested)",
            CANCEL_DEMAND + 50,
            false,
            spec312,
        ),
        Check::new(
            "3.12",
            "cancel from on_next stops signals",
            100,
            false,
            spec312_from_on_next,
        ),
        Check::new(
            "3.12",
            "long run: cancel from on_next at a random item under random demand",
            config.long_run + LONG_RUN_MARGIN,
            false,
            spec312_long,
        ),
        Check::new(
            "3.13",
            "cancel drops the reference to the subscriber",
            0,
            false,
            spec313,
        ),
        Check::new(
            "3.15",
            "cancel never panics (fresh, cancelled, terminated)",
            0,
            false,
            spec315,
        ),
        Check::new(
            "3.16",
            "request never panics (fresh, cancelled, terminated, n = 0)",
            0,
            false,
            spec316,
        ),
        Check::new(
            "3.17",
            "request(u64::MAX) delivers all, then completes",
            3,
            true,
            spec317_max,
        ),
        Check::new(
            "3.17",
            "request(MAX/2) + request(MAX/2) + request(1): no overflow",
            3,
            true,
            spec317_cumulative,
        ),
        Check::new(
            "3.17",
            "request(MAX - 1) repeated from on_next: no error",
            11,
            false,
            spec317_overflowing,
        ),
    ]
}

pub(crate) fn fixed_entries() -> Vec<(&'static str, &'static str, Outcome)> {
    let unobservable =
        |why: &str| Outcome::NotChecked(format!("not observable by a black-box test: {why}"));
    vec![
        (
            "3.1",
            "only the subscriber calls request/cancel",
            unobservable("an obligation of the subscriber"),
        ),
        (
            "3.4",
            "request is non-obstructing",
            unobservable("no reliable time bound"),
        ),
        (
            "3.10",
            "request may call on_next synchronously (permission)",
            unobservable("a permission"),
        ),
        (
            "3.11",
            "request may call on_complete/on_error synchronously (permission)",
            unobservable("a permission"),
        ),
        (
            "3.14",
            "cancel may shut the publisher down (permission)",
            unobservable("a permission"),
        ),
    ]
}

fn spec302<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    let behaviour = Behaviour {
        on_subscribe_requests: vec![1, 1, 1],
        on_next_request: Some(1),
        re_request_until: 3,
        ..Behaviour::default()
    };
    let h = ctx.subscribe(6, behaviour)?;
    h.expect_items(5)?;
    h.request(1);
    h.expect_items(6)?;
    h.finish()
}

fn spec303<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    let n = ctx.factory.bounded_depth().saturating_add(1);
    let behaviour = Behaviour {
        on_next_request: Some(1),
        re_request_until: n,
        ..Behaviour::default()
    };
    let h = ctx.subscribe(n, behaviour)?;
    h.request(1);
    h.expect_items(n)?;
    h.finish()
}

fn spec305<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    let h = ctx.subscribe(3, Behaviour::default())?;
    h.request(1);
    h.expect_items(1)?;
    let barrier = std::sync::Barrier::new(4);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                barrier.wait();
                h.cancel();
            });
        }
    });
    h.request(1);
    h.expect_no_more(1, true)?;
    h.expect_released()?;
    h.finish()
}

fn spec306<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    let h = ctx.subscribe(few(ctx), Behaviour::default())?;
    h.cancel();
    for _ in 0..3 {
        h.request(1);
    }
    h.expect_no_more(0, true)?;
    h.finish()
}

fn spec307<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    let h = ctx.subscribe(1, Behaviour::default())?;
    for _ in 0..3 {
        h.cancel();
    }
    h.expect_no_more(0, true)?;
    h.expect_no_error()?;
    h.finish()
}

fn spec308<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    let h = ctx.subscribe(5, Behaviour::default())?;
    for _ in 0..3 {
        h.request(1);
    }
    h.expect_items(3)?;
    h.expect_no_more(3, false)?;
    h.finish()
}

fn spec309<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    let h = ctx.subscribe(1, Behaviour::default())?;
    h.request(0);
    h.expect_error("Error::InvalidRequest", |e| {
        matches!(e, Error::InvalidRequest { .. })
    })?;
    h.finish()
}

/// The first `on_next` holds while the test cancels from another thread: once it
/// returns, only `cancel_slack` more items may come, although 149 more were requested.
fn spec312<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    let behaviour = Behaviour {
        hold_at: Some(1),
        ..Behaviour::default()
    };
    let h = ctx.subscribe(CANCEL_DEMAND + 50, behaviour)?;
    let slack = ctx.config.cancel_slack;
    std::thread::scope(|scope| {
        // A synchronous publisher delivers inside this request, and holds it there.
        let requester = scope.spawn(|| h.request(CANCEL_DEMAND));
        let held = h.expect_held();
        if held.is_ok() {
            h.cancel();
        }
        h.release_hold();
        let _ = requester.join();
        held
    })?;
    h.expect_no_more(1 + slack, true).map_err(|e| {
        format!("more than {slack} item(s) after a cancel made while on_next #1 ran (TckConfig::cancel_slack): {e}")
    })?;
    h.expect_released()?;
    h.finish()
}

fn spec312_from_on_next<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    let behaviour = Behaviour {
        cancel_at: Some(1),
        ..Behaviour::default()
    };
    let h = ctx.subscribe(100, behaviour)?;
    h.request(100);
    h.expect_items(1)?;
    let slack = ctx.config.cancel_slack;
    h.expect_no_more(1 + slack, true).map_err(|e| {
        format!("more than {slack} item(s) after cancel (TckConfig::cancel_slack): {e}")
    })?;
    h.finish()
}

/// A long run under random demand, cancelled from inside the `on_next` of a random
/// item: nothing after it, although more was requested.
fn spec312_long<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    let config = &ctx.config;
    let mut rng = Rng::new(config.seed ^ 0x312);
    let cancel_at = rng.between(config.long_run / 4, config.long_run);
    let behaviour = Behaviour {
        cancel_at: Some(cancel_at),
        ..long_run_behaviour(config)
    };
    let h = ctx.subscribe(config.long_run + LONG_RUN_MARGIN, behaviour)?;
    let seed = config.seed;
    let failed = |e: String| format!("seed {seed:#x}, cancel at item {cancel_at}: {e}");
    // (A lossy stage may complete before `cancel_at`: nothing is left to cancel then.)
    while h.received() < cancel_at && !h.is_terminated() {
        h.request(rng.between(1, LONG_RUN_MAX_REQUEST));
        // Until the cancel, every requested item must arrive.
        h.expect_items(h.requested().min(cancel_at))
            .map_err(failed)?;
    }
    let slack = config.cancel_slack;
    h.expect_no_more(cancel_at + slack, true).map_err(|e| {
        failed(format!(
            "more than {slack} item(s) after cancel from on_next: {e}"
        ))
    })?;
    h.expect_released().map_err(failed)?;
    h.finish().map_err(failed)
}

fn spec313<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    let h = ctx.subscribe(few(ctx), Behaviour::default())?;
    h.request(1);
    h.cancel();
    h.expect_released()?;
    h.finish()
}

/// 3 elements, or fewer if the publisher cannot produce 3.
fn few<F: PublisherFactory>(ctx: &Ctx<F>) -> u64 {
    ctx.factory.max_elements().min(3)
}

/// Subscriptions in each state in which request and cancel must return normally.
fn sweep<F: PublisherFactory>(ctx: &Ctx<F>, op: impl Fn(&Harness<ErrOf<F>>)) -> Result<(), String> {
    let n = few(ctx);
    let in_state = |state: &str, h: Harness<ErrOf<F>>| {
        op(&h);
        h.finish().map_err(|e| format!("{state}: {e}"))
    };
    in_state("fresh", ctx.subscribe(n, Behaviour::default())?)?;
    let h = ctx.subscribe(n, Behaviour::default())?;
    h.cancel();
    in_state("after cancel", h)?;
    let h = ctx.subscribe(n, Behaviour::default())?;
    if !h.is_terminated() {
        h.request(0);
        h.expect_error("Error::InvalidRequest", |e| {
            matches!(e, Error::InvalidRequest { .. })
        })?;
        in_state("after request(0)", h)?;
    }
    if !ctx.is_infinite() {
        let h = ctx.subscribe(0, Behaviour::default())?;
        h.request(1);
        h.expect_complete()?;
        in_state("after on_complete", h)?;
    }
    if ctx.has_failed_publisher() {
        let h = ctx.subscribe_failed()?;
        h.expect_error("any error", |_| true)?;
        in_state("after on_error", h)?;
    }
    Ok(())
}

fn spec315<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    sweep(ctx, |h| {
        h.cancel();
        h.cancel();
    })
}

fn spec316<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    sweep(ctx, |h| {
        h.request(1);
        h.request(0);
        h.request(u64::MAX);
    })
}

fn spec317_max<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    let h = ctx.subscribe(3, Behaviour::default())?;
    h.request(u64::MAX);
    h.expect_items(3)?;
    h.expect_complete()?;
    h.finish()
}

fn spec317_cumulative<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    let h = ctx.subscribe(3, Behaviour::default())?;
    h.request(u64::MAX / 2);
    h.request(u64::MAX / 2);
    h.request(1);
    h.expect_items(3)?;
    h.expect_complete()?;
    h.finish()
}

fn spec317_overflowing<F: PublisherFactory>(ctx: &Ctx<F>) -> Result<(), String> {
    let behaviour = Behaviour {
        on_next_request: Some(u64::MAX - 1),
        re_request_until: 10,
        cancel_at: Some(10),
        ..Behaviour::default()
    };
    let h = ctx.subscribe(11, behaviour)?;
    h.request(1);
    h.expect_items(10)?;
    h.expect_no_more(11, true)?;
    h.expect_no_error()?;
    h.finish()
}
