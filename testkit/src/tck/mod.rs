//! The Reactive Streams conformance suite (a Rust port of the Reactive Streams TCK
//! 1.0.4), for any [`Publisher`](spillway_core::Publisher) and any
//! [`Subscriber`](spillway_core::Subscriber).
//!
//! * [`verify_publisher`]: give it a [`PublisherFactory`] (or closures through
//!   [`publisher_factory`]); it subscribes its own probe subscribers and returns a
//!   [`Report`] with one entry per check, each naming its rule.
//! * [`verify_subscriber`]: give it a [`SubscriberFactory`]; it drives the subscriber
//!   with a puppet subscription.
//! * A **processor** is checked by running both suites: `verify_publisher` with a
//!   factory that subscribes the processor to a source of `n` elements and returns it,
//!   and `verify_subscriber` with a factory that returns the processor itself (rule 4.1).
//!   For an operator, [`operator_subscriber`] is that second factory: it hands the suite
//!   the subscriber the operator gives its upstream.
//!
//! ```
//! use spillway_core::prelude::*;
//! use spillway_testkit::tck::{self, TckConfig};
//!
//! // A check that cannot run counts against the publisher unless the config says why.
//! let config = TckConfig::default().cannot_fail("range has no failing form");
//! let report = tck::verify_publisher_with(tck::publisher_factory(|n| range(0, n)), config);
//! assert!(report.passed("3.9"));
//! report.assert_all_passed();
//! ```
//!
//! # What every publisher check also checks
//! The probe subscriber checks the protocol on every signal, in every check:
//! the grammar `on_subscribe on_next* (on_error | on_complete)?` (rules 1.7, 1.9), at
//! most as many `on_next` as requested (1.1), serial signals (1.3: a signal that starts
//! on another thread while one is still running is a violation; nested entry on the
//! same thread is allowed), recursion depth of re-entrant requests (3.3), and that
//! `request`/`cancel` return normally (3.15, 3.16). Any violation fails the check in
//! which it happened, with the rule named in the reason.
//!
//! # Isolation and waiting
//! Each check runs on its own thread with a large stack; a panic, a deadlock or an
//! endless loop in the code under test fails that check after
//! [`TckConfig::check_timeout`] and the suite goes on. Waits are bounded condvar
//! waits that end as soon as the awaited signal arrives; see [`TckConfig`] for the
//! one wait a passing asynchronous publisher pays for (`no_signal_wait`).
//!
//! Recursion is capped: a probe stops requesting from `on_next` once the depth passes
//! [`PublisherFactory::bounded_depth`], so a publisher that recurses on re-entrant
//! requests fails rule 3.3 instead of overflowing the stack. (A publisher that
//! recurses on its own, without being asked, can still overflow it: a stack overflow
//! aborts the process and cannot be caught.)
//!
//! # Rust adaptations
//! * `request` takes a `u64`: the only illegal request is `request(0)`, answered with
//!   `on_error(Error::InvalidRequest)` (3.9); `u64::MAX` is unbounded demand (3.17).
//! * Null rules (1.9, 2.13) and subscribing a subscriber twice (1.10, 2.12) are
//!   [`Outcome::EnforcedByType`].
//! * Rule 3.13 is deterministic: the probe owns a token whose `Weak` must stop
//!   upgrading once the publisher has dropped the probe after `cancel`.
//! * Rule 1.3 (serial signals) is, for safe code, also enforced by `&mut self` on the
//!   subscriber methods: overlapping calls need `unsafe`. The runtime guard is kept.

mod config;
mod factory;
mod operator;
mod probe;
mod publisher_rules;
mod publisher_suite;
mod report;
mod runner;
mod subscriber_suite;
mod subscription_rules;

pub use self::config::{TckConfig, LONG_RUN_MARGIN};
pub use self::factory::{
    publisher_factory, Accounting, AccountingFn, Either, FnPublisherFactory, PublisherFactory,
};
pub use self::operator::{
    operator_subscriber, CapturedUpstream, OperatorHandle, OperatorSubscriberFactory,
    UpstreamSubscriber,
};
pub use self::report::{Counts, Outcome, Report, RuleResult};
pub use self::subscriber_suite::SubscriberFactory;

/// Runs the publisher suite with the default [`TckConfig`].
///
/// ```
/// use spillway_core::prelude::*;
/// use spillway_testkit::tck;
/// let report = tck::verify_publisher(tck::publisher_factory(|n| from_iter(0..n)));
/// assert!(report.results().iter().any(|r| r.rule == "3.17"));
/// assert_eq!(report.failures().count(), 0);
/// // from_iter cannot fail: the checks of a failing publisher did not run.
/// assert_eq!(report.unexcused_skips().count(), 3);
/// ```
pub fn verify_publisher<F: PublisherFactory>(factory: F) -> Report {
    verify_publisher_with(factory, TckConfig::default())
}

/// Runs the publisher suite with `config`.
///
/// ```
/// use spillway_core::prelude::*;
/// use spillway_testkit::tck::{self, TckConfig};
/// let config = TckConfig::synchronous().skip("1.3", "not today");
/// let report = tck::verify_publisher_with(tck::publisher_factory(|n| range(0, n)), config);
/// assert_eq!(report.outcome("1.3"), Some(&tck::Outcome::Excused("not today".into())));
/// ```
pub fn verify_publisher_with<F: PublisherFactory>(factory: F, config: TckConfig) -> Report {
    publisher_suite::run(factory, config)
}

/// Runs the subscriber suite with the default [`TckConfig`].
///
/// ```
/// use std::convert::Infallible;
/// use spillway_core::{Error, FnSubscriber, Subscriber};
/// use spillway_testkit::tck::{self, SubscriberFactory};
///
/// struct Fns;
/// impl SubscriberFactory for Fns {
///     type Subscriber = Box<dyn Subscriber<Item = u8, Error = Infallible>>;
///     type Handle = spillway_core::Disposable;
///     fn create_subscriber(&self) -> (Self::Subscriber, Self::Handle) {
///         let (s, h) = FnSubscriber::new(|_: u8| {}, |_: Error<Infallible>| {}, || {});
///         (Box::new(s), h)
///     }
///     fn create_element(&self, i: u64) -> u8 {
///         i as u8
///     }
///     // Rules 2.6 and 2.8 need it; without it they are skipped, which counts against.
///     fn cancels_on_handle_drop(&self) -> bool {
///         true
///     }
/// }
/// let report = tck::verify_subscriber(Fns);
/// assert!(report.passed("2.1"));
/// report.assert_all_passed();
/// ```
pub fn verify_subscriber<F: SubscriberFactory>(factory: F) -> Report {
    verify_subscriber_with(factory, TckConfig::default())
}

/// Runs the subscriber suite with `config`.
///
/// ```
/// # use std::convert::Infallible;
/// # use spillway_core::{Error, FnSubscriber, Subscriber};
/// use spillway_testkit::tck::{self, SubscriberFactory, TckConfig};
/// # struct Fns;
/// # impl SubscriberFactory for Fns {
/// #     type Subscriber = Box<dyn Subscriber<Item = u8, Error = Infallible>>;
/// #     type Handle = spillway_core::Disposable;
/// #     fn create_subscriber(&self) -> (Self::Subscriber, Self::Handle) {
/// #         let (s, h) = FnSubscriber::new(|_: u8| {}, |_: Error<Infallible>| {}, || {});
/// #         (Box::new(s), h)
/// #     }
/// #     fn create_element(&self, i: u64) -> u8 { i as u8 }
/// # }
/// let report = tck::verify_subscriber_with(Fns, TckConfig::default().skip("2.5", "known"));
/// assert!(!report.failed("2.5"));
/// ```
pub fn verify_subscriber_with<F: SubscriberFactory>(factory: F, config: TckConfig) -> Report {
    subscriber_suite::run(factory, config)
}
