//! Timeouts and skips of a suite run.

use std::time::Duration;

/// Settings of a suite run. Every wait of the suite is bounded by one of these; none
/// is a sleep: a wait ends as soon as what it waits for happens.
///
/// * `timeout` bounds every wait for an expected signal (and for the release of the
///   subscriber after cancel, rule 3.13). It only costs time when something is missing.
/// * `no_signal_wait` is how long "no further signal" checks watch. This is the one
///   wait that a *passing* publisher pays for: an asynchronous publisher could signal
///   late, so a check has to watch for a while. A synchronous publisher (one that
///   signals only from inside `subscribe`/`request`/`cancel`) has already done all it
///   will do when the call returns, so it can use [`TckConfig::synchronous`] and pay
///   nothing; with it, a late asynchronous signal goes unseen.
///
/// ```
/// use std::time::Duration;
/// use spillway_testkit::tck::TckConfig;
/// let config = TckConfig::default()
///     .timeout(Duration::from_millis(500))
///     .skip("3.3", "recursion is bounded by construction");
/// assert_eq!(config.timeout, Duration::from_millis(500));
/// assert_eq!(TckConfig::synchronous().no_signal_wait, Duration::ZERO);
/// ```
#[derive(Debug, Clone)]
pub struct TckConfig {
    /// Upper bound of a wait for an expected signal (default 1 s).
    pub timeout: Duration,
    /// How long "nothing more arrives" checks watch (default 10 ms).
    pub no_signal_wait: Duration,
    /// How many items may still arrive after `cancel` (rule 3.12: signals stop
    /// *eventually*); default 16.
    pub cancel_slack: u64,
    /// How often the stochastic serial-signals check (rule 1.3) repeats; default 10.
    pub stochastic_runs: u32,
    /// A check that has not finished after this long (a deadlock, or a publisher that
    /// loops forever) is reported failed and abandoned on its thread (default 10 s).
    pub check_timeout: Duration,
    pub(crate) skips: Vec<(String, String)>,
}

impl Default for TckConfig {
    fn default() -> Self {
        TckConfig {
            timeout: Duration::from_secs(1),
            no_signal_wait: Duration::from_millis(10),
            cancel_slack: 16,
            stochastic_runs: 10,
            check_timeout: Duration::from_secs(10),
            skips: Vec::new(),
        }
    }
}

impl TckConfig {
    /// The default settings with `no_signal_wait` zero: for publishers that signal
    /// only from inside `subscribe`, `request` and `cancel`.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::tck::{self, TckConfig};
    /// tck::verify_publisher_with(tck::publisher_factory(|n| range(0, n)), TckConfig::synchronous())
    ///     .assert_all_passed();
    /// ```
    pub fn synchronous() -> Self {
        TckConfig {
            no_signal_wait: Duration::ZERO,
            ..TckConfig::default()
        }
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

    /// Skips every check of `rule` (e.g. `"1.1"`), reporting `reason`.
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
