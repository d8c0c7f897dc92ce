//! The error every `on_error` carries: the pipeline's own typed error, or a flow-control
//! failure raised by Spillway itself, each naming the stage that raised it.

use std::convert::Infallible;
use std::fmt;
use std::time::Duration;

/// The name of a pipeline stage (`"range"`, `"map"`, `"on_backpressure_buffer"`, ...),
/// carried by every flow-control error so a message says where it happened.
pub type Stage = &'static str;

/// The error delivered to [`Subscriber::on_error`](crate::Subscriber::on_error).
///
/// `E` is the pipeline's own error type (`Infallible` for sources that cannot fail);
/// the other variants are raised by Spillway's stages and can be matched on.
///
/// # Examples
/// ```
/// use spillway_core::Error;
/// let e: Error<std::io::Error> = Error::InvalidRequest { stage: "range" };
/// assert!(e.to_string().contains("rule 3.9"));
/// assert!(matches!(e, Error::InvalidRequest { stage: "range" }));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error<E> {
    /// The pipeline's own error, raised by a source or a user callback.
    User(E),
    /// `request(0)` was called: Reactive Streams rule 3.9.
    InvalidRequest {
        /// The stage whose subscription received the request.
        stage: Stage,
    },
    /// A bounded buffer was full and its overflow policy is to fail.
    Overflow {
        /// The stage that overflowed.
        stage: Stage,
        /// Its capacity in items (0 for a stage that holds nothing, such as `interval`).
        capacity: usize,
    },
    /// Nothing arrived within the allowed time.
    Timeout {
        /// The stage that timed out.
        stage: Stage,
        /// The allowed time.
        after: Duration,
    },
    /// An upstream broke the protocol: it sent more than was requested, or signalled after
    /// a terminal signal.
    ProtocolViolation {
        /// The stage that detected it.
        stage: Stage,
        /// What happened.
        what: &'static str,
    },
    /// A user callback panicked; the pipeline was cancelled upstream.
    Panicked {
        /// The stage whose callback panicked.
        stage: Stage,
        /// The panic message, when it was a string.
        message: String,
    },
    /// A rate limit or circuit breaker refused an item in enforcing mode.
    Rejected {
        /// The refusing stage.
        stage: Stage,
        /// Why.
        reason: &'static str,
    },
    /// The pipeline was stopped from outside with an error: a kill switch's `abort`.
    Aborted {
        /// The stage that stopped it.
        stage: Stage,
        /// The reason given to `abort`.
        reason: String,
    },
}

impl<E> Error<E> {
    /// Builds the error for a panic payload caught in `stage`.
    pub fn from_panic(stage: Stage, payload: Box<dyn std::any::Any + Send>) -> Error<E> {
        let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "non-string panic payload".to_string()
        };
        Error::Panicked { stage, message }
    }

    /// Maps the user error, keeping flow-control errors as they are.
    pub fn map_user<F, E2>(self, f: F) -> Error<E2>
    where
        F: FnOnce(E) -> E2,
    {
        match self {
            Error::User(e) => Error::User(f(e)),
            Error::InvalidRequest { stage } => Error::InvalidRequest { stage },
            Error::Overflow { stage, capacity } => Error::Overflow { stage, capacity },
            Error::Timeout { stage, after } => Error::Timeout { stage, after },
            Error::ProtocolViolation { stage, what } => Error::ProtocolViolation { stage, what },
            Error::Panicked { stage, message } => Error::Panicked { stage, message },
            Error::Rejected { stage, reason } => Error::Rejected { stage, reason },
            Error::Aborted { stage, reason } => Error::Aborted { stage, reason },
        }
    }

    /// The stage that raised a flow-control error; `None` for [`Error::User`].
    pub fn stage(&self) -> Option<Stage> {
        match self {
            Error::User(_) => None,
            Error::InvalidRequest { stage }
            | Error::Overflow { stage, .. }
            | Error::Timeout { stage, .. }
            | Error::ProtocolViolation { stage, .. }
            | Error::Panicked { stage, .. }
            | Error::Rejected { stage, .. }
            | Error::Aborted { stage, .. } => Some(stage),
        }
    }

    /// The user error, if this is one.
    pub fn into_user(self) -> Option<E> {
        match self {
            Error::User(e) => Some(e),
            _ => None,
        }
    }
}

impl Error<Infallible> {
    /// Widens an error of an infallible pipeline to any user error type.
    ///
    /// ```
    /// use spillway_core::Error;
    /// let e: Error<std::convert::Infallible> = Error::Overflow { stage: "x", capacity: 1 };
    /// let widened: Error<String> = e.widen();
    /// assert!(matches!(widened, Error::Overflow { capacity: 1, .. }));
    /// ```
    pub fn widen<E>(self) -> Error<E> {
        self.map_user(|never| match never {})
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::User(e) => e.fmt(f),
            Error::InvalidRequest { stage } => write!(
                f,
                "{stage}: non-positive subscription request: request(0) is not allowed (rule 3.9)"
            ),
            Error::Overflow { stage, capacity } => write!(
                f,
                "{stage}: overflow: more items arrived than its capacity of {capacity} could hold"
            ),
            Error::Timeout { stage, after } => {
                write!(f, "{stage}: timed out: nothing arrived within {after:?}")
            }
            Error::ProtocolViolation { stage, what } => {
                write!(f, "{stage}: upstream broke the protocol: {what}")
            }
            Error::Panicked { stage, message } => {
                write!(f, "{stage}: a user callback panicked: {message}")
            }
            Error::Rejected { stage, reason } => write!(f, "{stage}: item rejected: {reason}"),
            Error::Aborted { stage, reason } => write!(f, "{stage}: aborted: {reason}"),
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::User(e) => f.debug_tuple("User").field(e).finish(),
            Error::InvalidRequest { stage } => f
                .debug_struct("InvalidRequest")
                .field("stage", stage)
                .finish(),
            Error::Overflow { stage, capacity } => f
                .debug_struct("Overflow")
                .field("stage", stage)
                .field("capacity", capacity)
                .finish(),
            Error::Timeout { stage, after } => f
                .debug_struct("Timeout")
                .field("stage", stage)
                .field("after", after)
                .finish(),
            Error::ProtocolViolation { stage, what } => f
                .debug_struct("ProtocolViolation")
                .field("stage", stage)
                .field("what", what)
                .finish(),
            Error::Panicked { stage, message } => f
                .debug_struct("Panicked")
                .field("stage", stage)
                .field("message", message)
                .finish(),
            Error::Rejected { stage, reason } => f
                .debug_struct("Rejected")
                .field("stage", stage)
                .field("reason", reason)
                .finish(),
            Error::Aborted { stage, reason } => f
                .debug_struct("Aborted")
                .field("stage", stage)
                .field("reason", reason)
                .finish(),
        }
    }
}

/// `Error::User(e)` is transparent: it displays as `e` and its `source` is `e`'s own, so
/// an error chain (anyhow's `{:#}`, `Report`s) names `e` once, not twice. The
/// flow-control variants have no source.
///
/// So a pipeline's result composes with `?`: into `anyhow::Error`, into a `thiserror`
/// enum with `#[from] spillway::Error<MyError>`, into `Box<dyn std::error::Error>`.
///
/// ```
/// use std::error::Error as _;
/// use spillway_core::Error;
/// let io = std::io::Error::new(std::io::ErrorKind::Other, "disk on fire");
/// let e: Error<std::io::Error> = Error::User(io);
/// assert_eq!(e.to_string(), "disk on fire");
/// assert!(e.source().is_none()); // the io error has no source of its own
/// let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
/// assert_eq!(boxed.to_string(), "disk on fire");
/// ```
impl<E: std::error::Error + 'static> std::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::User(e) => e.source(),
            _ => None,
        }
    }
}
