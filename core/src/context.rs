//! `Context`: what a subscriber carries up the pipeline at subscribe time.

use std::fmt;
use std::sync::Arc;

use crate::driver::{Driver, Spawner};
use crate::scheduler::{default_scheduler, Scheduler};

/// Carried from the subscriber up through every operator at subscribe time. Time-based
/// stages take their [`Scheduler`] from it unless one was given to them explicitly, so the
/// same pipeline runs on tokio in production and on a virtual clock in a test.
///
/// It also says who runs an async stage (`from_stream`, `map_async`, ...) after a
/// wake-up (see [`driver`](crate::driver)): the [`Driver`] of the terminal future the
/// pipeline ends in, if any; otherwise the [`Spawner`] named here, or else the scheduler.
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
    spawner: Option<Arc<dyn Spawner>>,
    driver: Option<Driver>,
}

impl Context {
    /// A context whose time-based stages run on `scheduler`.
    pub fn with_scheduler(scheduler: Arc<dyn Scheduler>) -> Context {
        Context {
            scheduler: Some(scheduler),
            spawner: None,
            driver: None,
        }
    }

    /// This context, with async stages upstream run by tasks spawned on `spawner` after a
    /// wake-up, when no terminal future drives them.
    ///
    /// ```
    /// # #[cfg(feature = "tokio")] {
    /// use std::sync::Arc;
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let cx = spillway_core::Context::default().spawn_on(Arc::new(rt.handle().clone()));
    /// assert!(cx.spawner().is_some());
    /// # }
    /// ```
    pub fn spawn_on(mut self, spawner: Arc<dyn Spawner>) -> Context {
        self.spawner = Some(spawner);
        self
    }

    /// This context, with async stages upstream run by `driver` (a terminal future's)
    /// after a wake-up. See [`Driver`].
    pub fn driven_by(mut self, driver: Driver) -> Context {
        self.driver = Some(driver);
        self
    }

    /// The spawner named with [`spawn_on`](Self::spawn_on), if any.
    pub fn spawner(&self) -> Option<Arc<dyn Spawner>> {
        self.spawner.clone()
    }

    /// The driver set with [`driven_by`](Self::driven_by), if any.
    pub fn driver(&self) -> Option<&Driver> {
        self.driver.as_ref()
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
            .field("spawner", &self.spawner)
            .field("driver", &self.driver)
            .finish()
    }
}
