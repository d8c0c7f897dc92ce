//! Timeouts and skips of a suite run.

use std::time::Duration;

/// Settings of a suite run. Every wait of the suite is bounded by one of these; none
/// is a sleep: a wait ends as soon as what it waits for happens.
///
/// * `timeout` bounds every wait for an expected signal (and for the release of the
///   subscriber after cancel, rule 3.13). It only costs time when something is missing.
/// * `no_signal_wait` (the *settle time*) is how long "no further signal" checks watch.
///   This is the one wait that a *passing* publisher pays for: an asynchronous
///   publisher could signal late, so a check has to watch for a while.
/// * `synchronous`: a synchronous publisher (one that signals only from inside
///   `subscribe`/`request`/`cancel`, on the caller's thread) has done all it will do
///   when the call returns, so [`TckConfig::synchronous`] watches for nothing. The claim
///   is checked, not trusted: in this mode a signal that arrives on a thread that is not
///   inside one of the suite's calls fails the check ("an asynchronous signal"), so a
///   late signal cannot go unseen; run such a publisher with the default settings.
///
/// ```
/// use std::time::Duration;
/// use spillway_testkit::tck::TckConfig;
/// let config = TckConfig::default()
///     .timeout(Duration::from_millis(500))
///     .skip("3.3", "recursion is bounded by construction");
/// assert_eq!(config.timeout, Duration::from_millis(500));
/// assert_eq!(TckConfig::synchronous().no_signal_wait, Duration::ZERO);
/// assert!(TckConfig::synchronous().synchronous);
/// assert_eq!(TckConfig::default().cancel_slack, 0);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TckConfig {
    /// Upper bound of a wait for an expected signal (default 1 s).
    pub timeout: Duration,
    /// How long "nothing more arrives" checks watch (default 25 ms; zero when
    /// `synchronous`).
    pub no_signal_wait: Duration,
    /// Declares the publisher synchronous: no settle time, and a signal from outside
    /// the suite's own calls is a violation (default false).
    pub synchronous: bool,
    /// How many items may still arrive after a `cancel` that was made while nothing
    /// more was in flight (rule 3.12): from inside `on_next`, or from another thread
    /// while an `on_next` ran. Default 0: a publisher that checks for cancellation
    /// before each `on_next` sends nothing more. A publisher whose items travel a
    /// queue it cannot recall may declare how many it has in flight.
    pub cancel_slack: u64,
    /// How often the stochastic serial-signals check (rule 1.3) repeats; default 10.
    pub stochastic_runs: u32,
    /// Items of the long bounded-demand runs (rules 1.1 and 3.12, random request sizes
    /// from the test and from `on_next`); the publisher must be able to produce this
    /// many plus [`LONG_RUN_MARGIN`]. Default 400.
    pub long_run: u64,
    /// Seed of the random request sizes and cancel points (default fixed, so a run is
    /// reproducible; failures name it).
    pub seed: u64,
    /// A check that has not finished after this long (a deadlock, or a publisher that
    /// loops forever) is reported failed and abandoned on its thread (default 10 s).
    pub check_timeout: Duration,
    pub(crate) skips: Vec<(String, String)>,
    pub(crate) excuses: Vec<(String, String)>,
    pub(crate) cannot_fail: Option<String>,
}

/// How many more elements than [`TckConfig::long_run`] a long run asks of the
/// factory, so that the publisher has more to give than is requested.
pub const LONG_RUN_MARGIN: u64 = 112;

impl Default for TckConfig {
    fn default() -> Self {
        TckConfig {
            timeout: Duration::from_secs(1),
            no_signal_wait: Duration::from_millis(25),
            synchronous: false,
            cancel_slack: 0,
            stochastic_runs: 10,
            long_run: 400,
            seed: 0x5EED_CAFE,
            check_timeout: Duration::from_secs(10),
            skips: Vec::new(),
            excuses: Vec::new(),
            cannot_fail: None,
        }
    }
}

impl TckConfig {
    /// The default settings for a synchronous publisher: no settle time, and any signal
    /// from outside `subscribe`, `request` and `cancel` is a violation.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::tck::{self, TckConfig};
    /// let config = TckConfig::synchronous().cannot_fail("range has no failing form");
    /// tck::verify_publisher_with(tck::publisher_factory(|n| range(0, n)), config)
    ///     .assert_all_passed();
    /// ```
    pub fn synchronous() -> Self {
        TckConfig {
            no_signal_wait: Duration::ZERO,
            synchronous: true,
            ..TckConfig::default()
        }
    }

    /// Sets [`TckConfig::cancel_slack`].
    ///
    /// ```
    /// # use spillway_testkit::tck::TckConfig;
    /// assert_eq!(TckConfig::default().cancel_slack(2).cancel_slack, 2);
    /// ```
    pub fn cancel_slack(mut self, items: u64) -> Self {
        self.cancel_slack = items;
        self
    }

    /// Sets [`TckConfig::seed`].
    ///
    /// ```
    /// # use spillway_testkit::tck::TckConfig;
    /// assert_eq!(TckConfig::default().seed(7).seed, 7);
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets [`TckConfig::long_run`].
    ///
    /// ```
    /// # use spillway_testkit::tck::TckConfig;
    /// assert_eq!(TckConfig::default().long_run(1_000).long_run, 1_000);
    /// ```
    pub fn long_run(mut self, items: u64) -> Self {
        self.long_run = items;
        self
    }

    /// Sets [`TckConfig::timeout`].
    ///
    /// ```
    /// # use std::time::Duration; use spillway_testkit::tck::TckConfig;
    /// assert_eq!(TckConfig::default().timeout(Duration::from_secs(2)).timeout, Duration::from_secs(2));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`TckConfig::no_signal_wait`].
    ///
    /// ```
    /// # use std::time::Duration; use spillway_testkit::tck::TckConfig;
    /// let c = TckConfig::default().no_signal_wait(Duration::from_millis(50));
    /// assert_eq!(c.no_signal_wait, Duration::from_millis(50));
    /// ```
    pub fn no_signal_wait(mut self, wait: Duration) -> Self {
        self.no_signal_wait = wait;
        self
    }

    /// Skips every check of `rule` (e.g. `"1.1"`), reporting `reason`: the checks are
    /// [`Outcome::Excused`](super::Outcome::Excused), not failed. This is how an
    /// implementation declares why a check cannot apply to it; a check skipped without
    /// such a declaration counts against it.
    ///
    /// ```
    /// # use spillway_testkit::tck::TckConfig;
    /// let c = TckConfig::default().skip("3.3", "why");
    /// assert_eq!(c.skip_reason("3.3"), Some("why"));
    /// assert_eq!(c.skip_reason("3.9"), None);
    /// ```
    pub fn skip(mut self, rule: &str, reason: &str) -> Self {
        self.skips.push((rule.to_string(), reason.to_string()));
        self
    }

    /// Excuses the checks of `rule` that cannot run because of the factory's limits
    /// (too few elements, no failed publisher, an infinite publisher), for `reason`;
    /// the checks of `rule` that can run still run. Use it for what the publisher
    /// cannot do by nature (a `reduce` emits one item), not to hide a failure. The rule
    /// `"*"` excuses every check the limits skip (for `empty`, `just`, `error`).
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::tck::{self, Outcome, TckConfig};
    /// let factory = tck::publisher_factory(|n| range(0, n));
    /// let config = TckConfig::synchronous().excuse("1.1", "emits at most 3 items").cannot_fail("no");
    /// let report = tck::verify_publisher_with(factory.max_elements(3), config);
    /// assert!(matches!(report.outcome("1.1"), Some(Outcome::Excused(_))));
    /// assert!(report.unexcused_skips().any(|r| r.rule == "3.12"));
    /// ```
    pub fn excuse(mut self, rule: &str, reason: &str) -> Self {
        self.excuses.push((rule.to_string(), reason.to_string()));
        self
    }

    /// Excuses the checks that need a failed publisher (rules 1.4, 1.7, 1.9), for a
    /// publisher that has no failing form: `reason` says why.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::tck::{self, Outcome, TckConfig};
    /// let config = TckConfig::synchronous().cannot_fail("range has no failing form");
    /// let report = tck::verify_publisher_with(tck::publisher_factory(|n| range(0, n)), config);
    /// assert!(matches!(report.outcome("1.4"), Some(Outcome::Excused(_))));
    /// report.assert_all_passed();
    /// ```
    pub fn cannot_fail(mut self, reason: &str) -> Self {
        self.cannot_fail = Some(reason.to_string());
        self
    }

    /// The excuse declared for `rule`, if any.
    pub(crate) fn excuse_reason(&self, rule: &str) -> Option<&str> {
        self.excuses
            .iter()
            .find(|(r, _)| r == rule || r == "*")
            .map(|(_, why)| why.as_str())
    }

    /// Why `rule` is skipped, if it is.
    ///
    /// ```
    /// # use spillway_testkit::tck::TckConfig;
    /// assert_eq!(TckConfig::default().skip_reason("1.1"), None);
    /// ```
    pub fn skip_reason(&self, rule: &str) -> Option<&str> {
        self.skips
            .iter()
            .find(|(r, _)| r == rule)
            .map(|(_, why)| why.as_str())
    }
}
