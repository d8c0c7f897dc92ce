//! The result of a suite run: one entry per check, each naming its rule.

use std::fmt;

/// How one check ended.
///
/// ```
/// use spillway_testkit::tck::Outcome;
/// assert!(Outcome::Passed.is_ok());
/// assert!(Outcome::EnforcedByType("subscribe takes the subscriber by value").is_ok());
/// assert!(!Outcome::Failed("boom".into()).is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The check ran and the implementation behaved.
    Passed,
    /// The check ran and found a violation, described here.
    Failed(String),
    /// The check did not run, for the reason given (too few elements, no failed
    /// publisher, skipped in the configuration, not observable).
    Skipped(String),
    /// The rule cannot be broken by safe Rust code using this API, for the reason given.
    EnforcedByType(&'static str),
}

impl Outcome {
    /// False only for [`Outcome::Failed`].
    pub fn is_ok(&self) -> bool {
        !matches!(self, Outcome::Failed(_))
    }

    /// True for [`Outcome::Failed`].
    pub fn is_failed(&self) -> bool {
        !self.is_ok()
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Passed => f.write_str("passed"),
            Outcome::Failed(why) => write!(f, "FAILED: {why}"),
            Outcome::Skipped(why) => write!(f, "skipped: {why}"),
            Outcome::EnforcedByType(why) => write!(f, "enforced by type: {why}"),
        }
    }
}

/// One check of a rule and how it ended.
///
/// ```
/// use spillway_testkit::tck::{Outcome, RuleResult};
/// let r = RuleResult { rule: "3.9", check: "request(0) signals InvalidRequest", outcome: Outcome::Passed };
/// assert_eq!(r.to_string(), "3.9   request(0) signals InvalidRequest: passed");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleResult {
    /// The Reactive Streams rule number, e.g. `"3.9"` (`"setup"` for sanity checks of
    /// the factory itself).
    pub rule: &'static str,
    /// What the check does, in a few words.
    pub check: &'static str,
    /// How it ended.
    pub outcome: Outcome,
}

impl fmt::Display for RuleResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<5} {}: {}", self.rule, self.check, self.outcome)
    }
}

/// Everything a suite run found, in rule order.
///
/// ```
/// use spillway_core::prelude::*;
/// use spillway_testkit::tck;
/// let report = tck::verify_publisher(tck::publisher_factory(|n| range(0, n)));
/// assert!(report.passed("1.1"));
/// assert!(report.outcome("1.10").unwrap().is_ok()); // enforced by type
/// report.assert_all_passed();
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    results: Vec<RuleResult>,
}

impl Report {
    pub(crate) fn push(&mut self, rule: &'static str, check: &'static str, outcome: Outcome) {
        self.results.push(RuleResult {
            rule,
            check,
            outcome,
        });
    }

    /// Orders the entries by rule number (`"setup"` first), keeping the order within a rule.
    pub(crate) fn sort(&mut self) {
        fn key(rule: &str) -> (u32, u32) {
            let mut parts = rule.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
            (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
        }
        self.results.sort_by_key(|r| key(r.rule));
    }

    /// Every check, in rule order.
    pub fn results(&self) -> &[RuleResult] {
        &self.results
    }

    /// The checks that failed.
    pub fn failures(&self) -> impl Iterator<Item = &RuleResult> {
        self.results.iter().filter(|r| r.outcome.is_failed())
    }

    /// The summary outcome of `rule`: its first failure if any check of it failed,
    /// else its first passed check, else its first entry; `None` if the suite has no
    /// entry for it.
    pub fn outcome(&self, rule: &str) -> Option<&Outcome> {
        let of_rule = || self.results.iter().filter(move |r| r.rule == rule);
        of_rule()
            .find(|r| r.outcome.is_failed())
            .or_else(|| of_rule().find(|r| r.outcome == Outcome::Passed))
            .or_else(|| of_rule().next())
            .map(|r| &r.outcome)
    }

    /// True if at least one check of `rule` ran and passed, and none failed.
    pub fn passed(&self, rule: &str) -> bool {
        self.outcome(rule) == Some(&Outcome::Passed)
    }

    /// True if some check of `rule` failed.
    pub fn failed(&self, rule: &str) -> bool {
        self.outcome(rule).is_some_and(Outcome::is_failed)
    }

    /// Panics, listing every failed check, if any check failed.
    ///
    /// # Panics
    /// When the report has at least one [`Outcome::Failed`] entry.
    pub fn assert_all_passed(&self) {
        let failures: Vec<String> = self.failures().map(ToString::to_string).collect();
        assert!(
            failures.is_empty(),
            "{} Reactive Streams check(s) failed:\n{}\n\nfull report:\n{self}",
            failures.len(),
            failures.join("\n")
        );
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.results {
            writeln!(f, "{r}")?;
        }
        Ok(())
    }
}
