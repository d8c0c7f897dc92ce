//! The publisher suite: which checks exist, when each is skipped, and how they run.

use std::sync::Arc;

use spillway_core::Publisher;

use super::probe::{Behaviour, Harness};
use super::runner::run_isolated;
use super::{publisher_rules, subscription_rules, Outcome, PublisherFactory, Report, TckConfig};

/// The error type of a factory's publishers.
pub(crate) type ErrOf<F> = <<F as PublisherFactory>::Publisher as Publisher>::Error;

/// What a check receives.
pub(crate) struct Ctx<F> {
    pub(crate) factory: Arc<F>,
    pub(crate) config: TckConfig,
}

impl<F: PublisherFactory> Ctx<F> {
    /// A probe subscribed to `create_publisher(elements)`.
    pub(crate) fn subscribe(
        &self,
        elements: u64,
        behaviour: Behaviour,
    ) -> Result<Harness<ErrOf<F>>, String> {
        let (publisher, accounting) = self.factory.create_accounted(elements);
        let mut harness = Harness::subscribe(
            publisher,
            behaviour,
            self.factory.bounded_depth(),
            &self.config,
        )?;
        harness.set_accounting(accounting);
        Ok(harness)
    }

    /// A probe subscribed to the failed publisher.
    pub(crate) fn subscribe_failed(&self) -> Result<Harness<ErrOf<F>>, String> {
        let publisher = self
            .factory
            .create_failed_publisher()
            .ok_or("create_failed_publisher returned None")?;
        let h = Harness::subscribe(
            publisher,
            Behaviour::default(),
            self.factory.bounded_depth(),
            &self.config,
        )?;
        // A source that fails when pulled (a failing generator) needs demand to notice.
        if !h.is_terminated() {
            h.request(1);
        }
        Ok(h)
    }

    pub(crate) fn has_failed_publisher(&self) -> bool {
        self.factory.create_failed_publisher().is_some()
    }

    pub(crate) fn is_infinite(&self) -> bool {
        self.factory.max_elements() == u64::MAX
    }
}

/// One check of the publisher suite.
pub(crate) struct Check<F> {
    pub(crate) rule: &'static str,
    pub(crate) name: &'static str,
    /// Elements the check needs from `create_publisher`.
    pub(crate) elements: u64,
    /// True if the check needs the publisher to complete.
    pub(crate) completes: bool,
    /// True if the check needs the failed publisher.
    pub(crate) failed: bool,
    pub(crate) run: fn(&Ctx<F>) -> Result<(), String>,
}

impl<F> Check<F> {
    pub(crate) fn new(
        rule: &'static str,
        name: &'static str,
        elements: u64,
        completes: bool,
        run: fn(&Ctx<F>) -> Result<(), String>,
    ) -> Self {
        Check {
            rule,
            name,
            elements,
            completes,
            failed: false,
            run,
        }
    }

    pub(crate) fn with_failed(
        rule: &'static str,
        name: &'static str,
        run: fn(&Ctx<F>) -> Result<(), String>,
    ) -> Self {
        Check {
            failed: true,
            ..Check::new(rule, name, 0, false, run)
        }
    }
}

/// Why `check` does not run: excused by the configuration, or skipped because the
/// factory cannot give it what it needs (which counts against the publisher).
fn skip_reason<F: PublisherFactory>(check: &Check<F>, ctx: &Ctx<F>) -> Option<Outcome> {
    if let Some(why) = ctx.config.skip_reason(check.rule) {
        return Some(Outcome::Excused(why.to_string()));
    }
    let limit = limit_reason(check, ctx)?;
    let no_failure = check.failed && !ctx.has_failed_publisher();
    let excuse = match &ctx.config.cannot_fail {
        Some(why) if no_failure => Some(why.as_str()),
        _ => ctx.config.excuse_reason(check.rule),
    };
    Some(match excuse {
        Some(why) => Outcome::Excused(format!("{why} ({limit})")),
        None => Outcome::Skipped(limit),
    })
}

fn limit_reason<F: PublisherFactory>(check: &Check<F>, ctx: &Ctx<F>) -> Option<String> {
    let max = ctx.factory.max_elements();
    if check.failed && !ctx.has_failed_publisher() {
        return Some("no failed publisher (create_failed_publisher returned None)".to_string());
    }
    if check.completes && max == u64::MAX {
        return Some(
            "needs completion; the publisher is infinite (max_elements = u64::MAX)".to_string(),
        );
    }
    if check.elements > max {
        return Some(format!(
            "needs {} element(s); max_elements is {max}",
            check.elements
        ));
    }
    None
}

/// Runs the publisher suite with `config`.
pub(crate) fn run<F: PublisherFactory>(factory: F, config: TckConfig) -> Report {
    let ctx = Arc::new(Ctx {
        factory: Arc::new(factory),
        config,
    });
    let mut report = Report::default();
    let mut checks = publisher_rules::checks::<F>(&ctx.config);
    checks.extend(subscription_rules::checks::<F>(&*ctx.factory, &ctx.config));
    for check in checks {
        let outcome = match skip_reason(&check, &ctx) {
            Some(outcome) => outcome,
            None => {
                let ctx = Arc::clone(&ctx);
                let run = check.run;
                run_isolated(check.rule, ctx.config.check_timeout, move || run(&ctx))
            }
        };
        report.push(check.rule, check.name, outcome);
    }
    let mut fixed = publisher_rules::fixed_entries();
    fixed.extend(subscription_rules::fixed_entries());
    for (rule, check, why) in fixed {
        let outcome = match ctx.config.skip_reason(rule) {
            Some(reason) => Outcome::Excused(reason.to_string()),
            None => why,
        };
        report.push(rule, check, outcome);
    }
    report.sort();
    report
}
