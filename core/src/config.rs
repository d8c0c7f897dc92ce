//! `ConfigError`: a stage refused its configuration when the pipeline was built.

use std::fmt;

use crate::Stage;

/// Returned when a stage is built with a configuration that cannot work (a zero period,
/// a zero capacity, a low watermark above the high one), so the mistake surfaces where
/// the pipeline is written and not at run time.
///
/// ```
/// use spillway_core::{prelude::*, ConfigError};
/// let err: ConfigError = interval(std::time::Duration::ZERO).unwrap_err();
/// assert_eq!(err.stage(), "interval");
/// assert!(err.to_string().contains("period"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    stage: Stage,
    what: &'static str,
}

impl ConfigError {
    /// A refusal by `stage`, saying `what` is wrong.
    pub const fn new(stage: Stage, what: &'static str) -> ConfigError {
        ConfigError { stage, what }
    }

    /// The stage that refused.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// What is wrong.
    pub fn reason(&self) -> &'static str {
        self.what
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: invalid configuration: {}", self.stage, self.what)
    }
}

impl std::error::Error for ConfigError {}
