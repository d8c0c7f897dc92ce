//! The result of a suite run: one entry per check, each naming its rule.

use std::fmt;

/// How one check ended.
///
/// A check that did not run is not a pass: [`Outcome::Skipped`] (the factory could not
/// give the check what it needs) counts against the implementation in
/// [`Report::assert_all_passed`], unless the configuration declared why with
/// [`TckConfig::skip`](super::TckConfig::skip), which makes it [`Outcome::Excused`].
///
/// ```
/// use spillway_testkit::tck::Outcome;
/// assert!(Outcome::Passed.is_ok());
/// assert!(Outcome::EnforcedByType("subscribe takes the subscriber by value").is_ok());
/// assert!(Outcome::Excused("emits one item".into()).is_ok());
/// assert!(!Outcome::Failed("boom".into()).is_ok());
/// assert!(!Outcome::Skipped("needs 512 elements".into()).is_ok());
/// assert!(!Outcome::Skipped("needs 512 elements".into()).is_failed());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The check ran and the implementation behaved.
    Passed,
    /// The check ran and found a violation, described here.
    Failed(String),
    /// The check did not run because the factory cannot give it what it needs (too few
    /// elements, no failed publisher, an infinite publisher, no cancelling handle).
    /// Counts against the implementation unless excused.
    Skipped(String),
    /// The check did not run because the configuration says why
    /// ([`TckConfig::skip`](super::TckConfig::skip)); the reason is the implementation's.
    Excused(String),
    /// The suite has no check for this rule: a permission, a recommendation, an
    /// obligation of other code, or a rule only observable through another one.
    NotChecked(String),
    /// The rule cannot be broken by safe Rust code using this API, for the reason given.
    EnforcedByType(&'static str),
}

impl Outcome {
    /// False for [`Outcome::Failed`] and [`Outcome::Skipped`]: what
    /// [`Report::assert_all_passed`] rejects.
    pub fn is_ok(&self) -> bool {
        !matches!(self, Outcome::Failed(_) | Outcome::Skipped(_))
    }

    /// True for [`Outcome::Failed`] only.
    pub fn is_failed(&self) -> bool {
        matches!(self, Outcome::Failed(_))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Passed => f.write_str("passed"),
            Outcome::Failed(why) => write!(f, "FAILED: {why}"),
            Outcome::Skipped(why) => write!(f, "SKIPPED (counts against): {why}"),
            Outcome::Excused(why) => write!(f, "excused: {why}"),
            Outcome::NotChecked(why) => write!(f, "not checked: {why}"),
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
/// use spillway_testkit::tck::{self, TckConfig};
/// let config = TckConfig::synchronous().cannot_fail("range cannot fail");
/// let report = tck::verify_publisher_with(tck::publisher_factory(|n| range(0, n)), config);
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

    /// The checks that did not run and were not excused ([`Outcome::Skipped`]).
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::tck::{self, TckConfig};
    /// // A publisher of at most one item cannot be put through the checks that need more.
    /// let factory = tck::publisher_factory(|n| range(0, n.min(1))).max_elements(1);
    /// let report = tck::verify_publisher_with(factory, TckConfig::synchronous());
    /// assert_eq!(report.failures().count(), 0);
    /// assert!(report.unexcused_skips().any(|r| r.rule == "1.1"));
    /// ```
    pub fn unexcused_skips(&self) -> impl Iterator<Item = &RuleResult> {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Skipped(_)))
    }

    /// How many checks ended in each way.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::tck::{self, TckConfig};
    /// let config = TckConfig::synchronous().cannot_fail("range cannot fail");
    /// let report = tck::verify_publisher_with(tck::publisher_factory(|n| range(0, n)), config);
    /// let c = report.counts();
    /// assert!(c.passed > 20);
    /// assert_eq!((c.failed, c.skipped), (0, 0));
    /// ```
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for r in &self.results {
            match r.outcome {
                Outcome::Passed => c.passed += 1,
                Outcome::Failed(_) => c.failed += 1,
                Outcome::Skipped(_) => c.skipped += 1,
                Outcome::Excused(_) => c.excused += 1,
                Outcome::NotChecked(_) | Outcome::EnforcedByType(_) => c.not_applicable += 1,
            }
        }
        c
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

    /// Panics, listing them, if any check failed or was skipped without an excuse
    /// (declare one with [`TckConfig::skip`](super::TckConfig::skip)).
    ///
    /// # Panics
    /// When the report has at least one [`Outcome::Failed`] or [`Outcome::Skipped`]
    /// entry.
    pub fn assert_all_passed(&self) {
        let bad: Vec<String> = self
            .results
            .iter()
            .filter(|r| !r.outcome.is_ok())
            .map(ToString::to_string)
            .collect();
        let c = self.counts();
        assert!(
            bad.is_empty(),
            "{} Reactive Streams check(s) failed and {} were skipped without an excuse \
             (declare one with TckConfig::skip):\n{}\n\nfull report:\n{self}",
            c.failed,
            c.skipped,
            bad.join("\n")
        );
    }
}

/// How many checks of a [`Report`] ended in each way (see [`Report::counts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counts {
    /// Ran and passed.
    pub passed: usize,
    /// Ran and failed.
    pub failed: usize,
    /// Did not run, without an excuse: counts against the implementation.
    pub skipped: usize,
    /// Did not run, for a reason the configuration gave.
    pub excused: usize,
    /// Rules with no check of their own, or enforced by the types.
    pub not_applicable: usize,
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped (counted against), {} excused, {} not applicable",
            self.passed, self.failed, self.skipped, self.excused, self.not_applicable
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.results {
            writeln!(f, "{r}")?;
        }
        writeln!(f, "{}", self.counts())
    }
}
