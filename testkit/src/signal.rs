//! The recorded data model shared by the whole kit: [`Signal`], [`Event`] and [`Timeline`].

use std::fmt;
use std::time::Duration;

use spillway_core::{Error, Stage};

/// One recorded signal of a subscription, in either direction.
///
/// `Subscribe`, `Next`, `Error` and `Complete` flow downstream (publisher to subscriber);
/// `Request` and `Cancel` flow upstream (subscriber to publisher); `Dropped` records an item
/// that a lossy stage discarded (marble diagrams render it in a drop lane).
///
/// # Examples
/// ```
/// use spillway_testkit::Signal;
/// let s: Signal<u32, ()> = Signal::Next(7);
/// assert_eq!(s.to_string(), "next(7)");
/// assert!(Signal::<u32, ()>::Complete.is_terminal());
/// assert_eq!(s.as_next(), Some(&7));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum Signal<T, E> {
    /// `on_subscribe` was called.
    Subscribe,
    /// `on_next(item)` was called.
    Next(T),
    /// `on_error(error)` was called.
    Error(Error<E>),
    /// `on_complete` was called.
    Complete,
    /// `request(n)` was called on the subscription.
    Request(u64),
    /// `cancel` was called on the subscription.
    Cancel,
    /// A stage discarded an item (for example at zero demand).
    Dropped {
        /// The stage that dropped it.
        stage: Stage,
        /// The dropped item, as its `Debug` text.
        item: String,
    },
}

impl<T, E> Signal<T, E> {
    /// True for `Complete` and `Error`.
    ///
    /// ```
    /// use spillway_testkit::Signal;
    /// assert!(!Signal::<u8, ()>::Next(1).is_terminal());
    /// ```
    pub fn is_terminal(&self) -> bool {
        matches!(self, Signal::Complete | Signal::Error(_))
    }

    /// True for the signals a publisher sends: `Subscribe`, `Next`, `Error`, `Complete`.
    ///
    /// ```
    /// use spillway_testkit::Signal;
    /// assert!(Signal::<u8, ()>::Subscribe.is_downstream());
    /// assert!(!Signal::<u8, ()>::Request(1).is_downstream());
    /// ```
    pub fn is_downstream(&self) -> bool {
        matches!(
            self,
            Signal::Subscribe | Signal::Next(_) | Signal::Error(_) | Signal::Complete
        )
    }

    /// The item of a `Next` signal.
    ///
    /// ```
    /// use spillway_testkit::Signal;
    /// assert_eq!(Signal::<u8, ()>::Cancel.as_next(), None);
    /// ```
    pub fn as_next(&self) -> Option<&T> {
        match self {
            Signal::Next(item) => Some(item),
            _ => None,
        }
    }

    /// The error of an `Error` signal.
    ///
    /// ```
    /// use spillway_core::Error;
    /// use spillway_testkit::Signal;
    /// let s: Signal<u8, &str> = Signal::Error(Error::User("boom"));
    /// assert_eq!(s.as_error(), Some(&Error::User("boom")));
    /// ```
    pub fn as_error(&self) -> Option<&Error<E>> {
        match self {
            Signal::Error(e) => Some(e),
            _ => None,
        }
    }

    /// A short name of the kind of signal: `"subscribe"`, `"next"`, `"error"`, `"complete"`,
    /// `"request"`, `"cancel"` or `"dropped"`.
    ///
    /// ```
    /// use spillway_testkit::Signal;
    /// assert_eq!(Signal::<u8, ()>::Request(3).kind(), "request");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Signal::Subscribe => "subscribe",
            Signal::Next(_) => "next",
            Signal::Error(_) => "error",
            Signal::Complete => "complete",
            Signal::Request(_) => "request",
            Signal::Cancel => "cancel",
            Signal::Dropped { .. } => "dropped",
        }
    }
}

/// Compact form used in timelines: `subscribe`, `next(1)`, `error(User("boom"))`,
/// `complete`, `request(2)`, `request(unbounded)`, `cancel`, `dropped[stage](item)`.
impl<T: fmt::Debug, E: fmt::Debug> fmt::Display for Signal<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signal::Subscribe => f.write_str("subscribe"),
            Signal::Next(item) => write!(f, "next({item:?})"),
            Signal::Error(e) => write!(f, "error({e:?})"),
            Signal::Complete => f.write_str("complete"),
            Signal::Request(u64::MAX) => f.write_str("request(unbounded)"),
            Signal::Request(n) => write!(f, "request({n})"),
            Signal::Cancel => f.write_str("cancel"),
            Signal::Dropped { stage, item } => write!(f, "dropped[{stage}]({item})"),
        }
    }
}

impl<T: fmt::Debug, E: fmt::Debug> fmt::Debug for Signal<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signal::Subscribe => f.write_str("Subscribe"),
            Signal::Next(item) => f.debug_tuple("Next").field(item).finish(),
            Signal::Error(e) => f.debug_tuple("Error").field(e).finish(),
            Signal::Complete => f.write_str("Complete"),
            Signal::Request(n) => f.debug_tuple("Request").field(n).finish(),
            Signal::Cancel => f.write_str("Cancel"),
            Signal::Dropped { stage, item } => f
                .debug_struct("Dropped")
                .field("stage", stage)
                .field("item", item)
                .finish(),
        }
    }
}

/// A [`Signal`] with the time it was recorded: virtual time since the
/// [`VirtualScheduler`](crate::VirtualScheduler) started when there is one, otherwise real
/// time since the recorder was created.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use spillway_testkit::{Event, Signal};
/// let e: Event<u8, ()> = Event::new(Duration::from_millis(1500), Signal::Next(3));
/// assert_eq!(e.to_string(), "1.5s next(3)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<T, E> {
    /// When it was recorded.
    pub at: Duration,
    /// What was recorded.
    pub signal: Signal<T, E>,
}

impl<T, E> Event<T, E> {
    /// An event at `at`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_testkit::{Event, Signal};
    /// let e = Event::<u8, ()>::new(Duration::ZERO, Signal::Complete);
    /// assert_eq!(e.at, Duration::ZERO);
    /// ```
    pub fn new(at: Duration, signal: Signal<T, E>) -> Self {
        Event { at, signal }
    }
}

impl<T: fmt::Debug, E: fmt::Debug> fmt::Display for Event<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {}", self.at, self.signal)
    }
}

/// Displays recorded events one per line, with aligned times: the form every failure
/// message of the kit prints.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use spillway_testkit::{Event, Signal, Timeline};
/// let events: Vec<Event<u8, ()>> = vec![
///     Event::new(Duration::ZERO, Signal::Subscribe),
///     Event::new(Duration::from_secs(1), Signal::Next(1)),
/// ];
/// let text = Timeline(&events).to_string();
/// assert!(text.contains("0ns subscribe"));
/// assert!(text.contains("1s next(1)"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Timeline<'a, T, E>(pub &'a [Event<T, E>]);

impl<T: fmt::Debug, E: fmt::Debug> fmt::Display for Timeline<'_, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("    (no signal recorded)\n");
        }
        let times: Vec<String> = self.0.iter().map(|e| format!("{:?}", e.at)).collect();
        let width = times.iter().map(String::len).max().unwrap_or(0);
        for (time, event) in times.iter().zip(self.0) {
            writeln!(f, "    {time:>width$} {}", event.signal)?;
        }
        Ok(())
    }
}
