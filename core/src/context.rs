//! `Context`: what a subscriber carries up the pipeline at subscribe time.

use std::fmt;
use std::sync::Arc;

use crate::scheduler::{default_scheduler, Scheduler};

/// Carried from the subscriber up through every operator at subscribe time. Time-based
/// stages take their [`Scheduler`] from it unless one was given to them explicitly, so the
/// same pipeline runs on tokio in production and on a virtual clock in a test.
///
/// # Examples
/// ```
/// use spillway_core::Context;
/// let cx = Context::default();
/// assert!(!cx.has_scheduler()); // the default scheduler will be used
/// let _now = cx.scheduler().now();
/// ```
#[derive(Clone, Default)]
pub struct Context {
    scheduler: Option<Arc<dyn Scheduler>>,
}

impl Context {
    /// A context whose time-based stages run on `scheduler`.
    pub fn with_scheduler(scheduler: Arc<dyn Scheduler>) -> Context {
        Context {
            scheduler: Some(scheduler),
        }
    }

    /// True if a scheduler was set explicitly.
    pub fn has_scheduler(&self) -> bool {
        self.scheduler.is_some()
    }

    /// The scheduler to use: the one set, or else [`default_scheduler`] (tokio's inside a
    /// tokio runtime, a shared timer thread outside one).
    pub fn scheduler(&self) -> Arc<dyn Scheduler> {
        match &self.scheduler {
            Some(s) => Arc::clone(s),
            None => default_scheduler(),
        }
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("scheduler", &self.scheduler)
            .finish()
    }
}
