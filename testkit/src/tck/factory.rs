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
}

type Make<P> = Box<dyn Fn(u64) -> P + Send + Sync>;
type MakeFailed<P> = Box<dyn Fn() -> P + Send + Sync>;

/// A [`PublisherFactory`] made of closures; build it with [`publisher_factory`].
pub struct FnPublisherFactory<P> {
    create: Make<P>,
    failed: Option<MakeFailed<P>>,
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
}
