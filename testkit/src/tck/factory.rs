//! What the user supplies to the publisher suite.

use std::fmt;

use spillway_core::Publisher;

/// One of two publishers: lets a factory return a different type from
/// `create_failed_publisher` than from `create_publisher` (spillway-core's own `Either`).
pub use spillway_core::Either;

/// Makes the publishers the publisher suite checks: a fresh one per check, since
/// `subscribe` consumes a publisher.
///
/// ```
/// use spillway_core::{prelude::*, Empty, Fail, Range};
/// use spillway_testkit::tck::{self, Either, PublisherFactory, TckConfig};
///
/// // `empty` and `error` as the two faces of the `error` source's test.
/// struct Failing;
/// impl PublisherFactory for Failing {
///     type Publisher = Either<Empty<u64, String>, Fail<u64, String>>;
///     fn create_publisher(&self, _elements: u64) -> Self::Publisher {
///         Either::Left(empty())
///     }
///     fn create_failed_publisher(&self) -> Option<Self::Publisher> {
///         Some(Either::Right(error("boom".to_string())))
///     }
///     fn max_elements(&self) -> u64 {
///         0
///     }
/// }
/// // Checks that need items cannot run: say why.
/// let report = tck::verify_publisher_with(Failing, TckConfig::default().excuse("*", "no items"));
/// assert!(report.passed("1.4"));
/// report.assert_all_passed();
///
/// struct Ranges;
/// impl PublisherFactory for Ranges {
///     type Publisher = Range;
///     fn create_publisher(&self, elements: u64) -> Range {
///         range(0, elements)
///     }
/// }
/// tck::verify_publisher_with(Ranges, TckConfig::default().cannot_fail("range cannot fail"))
///     .assert_all_passed();
/// ```
pub trait PublisherFactory: Send + Sync + 'static {
    /// The publisher type under test.
    type Publisher: Publisher<Error: fmt::Debug>;

    /// A publisher of exactly `elements` items that then completes. For an infinite
    /// publisher ([`max_elements`](Self::max_elements) `== u64::MAX`) at least
    /// `elements` items, and it never completes.
    fn create_publisher(&self, elements: u64) -> Self::Publisher;

    /// A publisher that fails: `on_subscribe`, then `on_error`, either at once or, for
    /// a source that fails when pulled, after the suite's `request(1)` (made only when
    /// no terminal signal has arrived by the time `subscribe` returns).
    /// `None` (the default) skips the checks that need one (1.4, part of 1.7, 1.9).
    fn create_failed_publisher(&self) -> Option<Self::Publisher> {
        None
    }

    /// The most elements `create_publisher` can produce: checks that need more are
    /// skipped. `u64::MAX` means infinite: the publisher never completes, and checks
    /// that need completion are skipped. Default `u64::MAX - 1` (any finite number).
    fn max_elements(&self) -> u64 {
        u64::MAX - 1
    }

    /// How deep `request` → `on_next` → `request` → ... may recurse on one stack (rule
    /// 3.3). Default 1: a drain loop never recurses.
    fn bounded_depth(&self) -> u64 {
        1
    }

    /// `create_publisher(elements)`, with the counters of the lossy stage under test if
    /// it is one (default: `None`, an exact publisher). With counters, the suite runs in
    /// **lossy mode**: a check that waits for `k` items also accepts fewer followed by
    /// `on_complete` (the stage dropped some, by its policy), and every check ends by
    /// checking the accounting invariant `received = emitted + dropped + buffered`, and
    /// that `emitted` is what the suite's subscriber received once the stream ended.
    /// Every count-independent rule (demand, serial signals, terminal once, cancel,
    /// `request(0)`) is checked exactly as for an exact publisher.
    fn create_accounted(&self, elements: u64) -> (Self::Publisher, Option<AccountingFn>) {
        (self.create_publisher(elements), None)
    }
}

/// The counters of a lossy stage, in items, read at one instant.
///
/// ```
/// use spillway_testkit::tck::Accounting;
/// let a = Accounting { received: 10, emitted: 6, dropped: 3, buffered: 1 };
/// assert!(a.is_balanced());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Accounting {
    /// Items taken in from upstream.
    pub received: u64,
    /// Items handed downstream.
    pub emitted: u64,
    /// Items dropped by the stage's policy (any reason).
    pub dropped: u64,
    /// Items held now.
    pub buffered: u64,
}

impl Accounting {
    /// `received = emitted + dropped + buffered`: every item taken in is accounted for.
    pub fn is_balanced(&self) -> bool {
        self.emitted
            .checked_add(self.dropped)
            .and_then(|x| x.checked_add(self.buffered))
            == Some(self.received)
    }
}

/// Reads the counters of one publisher's stage (see
/// [`PublisherFactory::create_accounted`]).
pub type AccountingFn = Box<dyn Fn() -> Accounting + Send + Sync>;

type Account<P> = Box<dyn Fn(&P) -> AccountingFn + Send + Sync>;

type Make<P> = Box<dyn Fn(u64) -> P + Send + Sync>;
type MakeFailed<P> = Box<dyn Fn() -> P + Send + Sync>;

/// A [`PublisherFactory`] made of closures; build it with [`publisher_factory`].
pub struct FnPublisherFactory<P> {
    create: Make<P>,
    failed: Option<MakeFailed<P>>,
    account: Option<Account<P>>,
    max_elements: u64,
    bounded_depth: u64,
}

/// A [`PublisherFactory`] whose `create_publisher(n)` is `create(n)`; the builder
/// methods set the rest.
///
/// ```
/// use spillway_core::prelude::*;
/// use spillway_testkit::tck::{self, TckConfig};
/// let factory = tck::publisher_factory(|n| from_iter(0..n)).max_elements(1_000);
/// let config = TckConfig::synchronous().cannot_fail("from_iter cannot fail");
/// tck::verify_publisher_with(factory, config).assert_all_passed();
/// ```
pub fn publisher_factory<P, F>(create: F) -> FnPublisherFactory<P>
where
    P: Publisher<Error: fmt::Debug> + 'static,
    F: Fn(u64) -> P + Send + Sync + 'static,
{
    FnPublisherFactory {
        create: Box::new(create),
        failed: None,
        account: None,
        max_elements: u64::MAX - 1,
        bounded_depth: 1,
    }
}

impl<P> FnPublisherFactory<P> {
    /// Sets [`PublisherFactory::max_elements`].
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::tck::{self, PublisherFactory};
    /// let f = tck::publisher_factory(|_| just(7u8)).max_elements(1);
    /// assert_eq!(PublisherFactory::max_elements(&f), 1);
    /// ```
    pub fn max_elements(mut self, max: u64) -> Self {
        self.max_elements = max;
        self
    }

    /// Sets [`PublisherFactory::bounded_depth`].
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::tck::{self, PublisherFactory};
    /// let f = tck::publisher_factory(|n| range(0, n)).bounded_depth(3);
    /// assert_eq!(PublisherFactory::bounded_depth(&f), 3);
    /// ```
    pub fn bounded_depth(mut self, depth: u64) -> Self {
        self.bounded_depth = depth;
        self
    }

    /// Sets [`PublisherFactory::create_failed_publisher`]. Use [`Either`] when the
    /// failed publisher has another type.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::tck::{self, Either};
    /// let factory = tck::publisher_factory(|n| {
    ///     Either::Left(from_try_stream(futures::stream::iter((0..n).map(Ok::<u64, &str>))))
    /// })
    /// .failed(|| Either::Right(error("boom")));
    /// let report = tck::verify_publisher(factory);
    /// assert!(report.passed("1.4"));
    /// ```
    pub fn failed<F>(mut self, failed: F) -> Self
    where
        F: Fn() -> P + Send + Sync + 'static,
    {
        self.failed = Some(Box::new(failed));
        self
    }
}

impl<P: 'static> FnPublisherFactory<P> {
    /// Runs the suite in lossy mode (see [`PublisherFactory::create_accounted`]):
    /// `account(&publisher)` gives the reader of that publisher's counters.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::tck::{self, Accounting, PublisherFactory};
    ///
    /// let factory = tck::publisher_factory(|n| range(0, n)).lossy(|_range| {
    ///     // A real stage reads its own counters here: spillway's `stats().snapshot()`.
    ///     || Accounting::default()
    /// });
    /// let (_publisher, accounting) = factory.create_accounted(3);
    /// assert!(accounting.is_some_and(|read| read().is_balanced()));
    /// ```
    pub fn lossy<A, G>(mut self, account: A) -> Self
    where
        A: Fn(&P) -> G + Send + Sync + 'static,
        G: Fn() -> Accounting + Send + Sync + 'static,
    {
        self.account = Some(Box::new(move |p| Box::new(account(p))));
        self
    }
}

impl<P> fmt::Debug for FnPublisherFactory<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnPublisherFactory")
            .field("has_failed", &self.failed.is_some())
            .field("max_elements", &self.max_elements)
            .field("bounded_depth", &self.bounded_depth)
            .finish_non_exhaustive()
    }
}

impl<P> PublisherFactory for FnPublisherFactory<P>
where
    P: Publisher<Error: fmt::Debug> + 'static,
{
    type Publisher = P;
    fn create_publisher(&self, elements: u64) -> P {
        (self.create)(elements)
    }
    fn create_failed_publisher(&self) -> Option<P> {
        self.failed.as_ref().map(|f| f())
    }
    fn max_elements(&self) -> u64 {
        self.max_elements
    }
    fn bounded_depth(&self) -> u64 {
        self.bounded_depth
    }
    fn create_accounted(&self, elements: u64) -> (P, Option<AccountingFn>) {
        let publisher = (self.create)(elements);
        let accounting = self.account.as_ref().map(|account| account(&publisher));
        (publisher, accounting)
    }
}
