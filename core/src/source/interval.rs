//! `interval`: a tick counter on a scheduler.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Context;
use std::time::Duration;

use crate::drain::{self, DrainHandle, Pulled, Source};
use crate::{ConfigError, Error, Publisher, Scheduler, SchedulerExt, Subscriber, TaskHandle};

/// Publisher for [`interval`].
#[derive(Debug, Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct Interval {
    delay: Duration,
    period: Duration,
    scheduler: Option<Arc<dyn Scheduler>>,
}

/// Emits 0, 1, 2, ... every `period`, the first after one period, on the scheduler of the
/// subscriber's [`Context`](crate::Context) (tokio's in production, the test kit's
/// virtual clock in a test) unless [`Interval::on`] names one.
///
/// Ticks are not buffered: a tick that finds no outstanding demand ends the stream with
/// [`Error::Overflow`] (capacity 0), as in Reactor. Put a dropping or buffering stage
/// after it when the consumer may fall behind.
///
/// # Errors
/// [`ConfigError`] for a zero period.
///
/// ```
/// use std::time::Duration;
/// use spillway_core::prelude::*;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ticks = interval(Duration::from_secs(1))?.into_stream(1);
/// use futures::StreamExt;
/// let first: Vec<_> = ticks.take(3).map(|t| t.unwrap()).collect().await;
/// assert_eq!(first, vec![0, 1, 2]);
/// assert!(interval(Duration::ZERO).is_err());
/// # Ok(()) }
/// ```
pub fn interval(period: Duration) -> Result<Interval, ConfigError> {
    if period.is_zero() {
        return Err(ConfigError::new(
            "interval",
            "the period must be greater than zero",
        ));
    }
    Ok(Interval {
        delay: period,
        period,
        scheduler: None,
    })
}

impl Interval {
    /// Runs on `scheduler` instead of the subscriber's.
    pub fn on(mut self, scheduler: Arc<dyn Scheduler>) -> Interval {
        self.scheduler = Some(scheduler);
        self
    }

    /// Emits the first tick after `delay` instead of after one period.
    pub fn first_after(mut self, delay: Duration) -> Interval {
        self.delay = delay;
        self
    }
}

struct Ticks {
    due: AtomicU64,
    drain: std::sync::OnceLock<DrainHandle>,
}

struct IntervalSource {
    ticks: Arc<Ticks>,
    emitted: u64,
    timer: TaskHandle,
}

impl Drop for IntervalSource {
    fn drop(&mut self) {
        self.timer.cancel();
    }
}

impl Source for IntervalSource {
    type Item = u64;
    type Error = Infallible;
    const STAGE: &'static str = "interval";

    fn attach(&mut self, drain: DrainHandle) {
        let _ = self.ticks.drain.set(drain);
    }

    fn pull(&mut self, _cx: &mut Context<'_>) -> Pulled<u64, Infallible> {
        if self.emitted < self.ticks.due.load(Ordering::Acquire) {
            self.emitted += 1;
            Pulled::Item(self.emitted - 1)
        } else {
            Pulled::Pending
        }
    }

    fn poll_end(&mut self, _cx: &mut Context<'_>) -> Option<Pulled<u64, Infallible>> {
        (self.emitted < self.ticks.due.load(Ordering::Acquire)).then_some(Pulled::Error(
            Error::Overflow {
                stage: "interval",
                capacity: 0,
            },
        ))
    }
}

impl Publisher for Interval {
    type Item = u64;
    type Error = Infallible;
    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = u64, Error = Infallible>,
    {
        let scheduler = self
            .scheduler
            .unwrap_or_else(|| subscriber.context().scheduler());
        let ticks = Arc::new(Ticks {
            due: AtomicU64::new(0),
            drain: std::sync::OnceLock::new(),
        });
        let on_tick = Arc::clone(&ticks);
        let timer = scheduler.run_every(self.delay, self.period, move || {
            // The only writer: a periodic job never runs concurrently with itself (its
            // task runs it under its own lock), so a load and a store will do.
            let due = on_tick.due.load(Ordering::Relaxed);
            on_tick.due.store(due + 1, Ordering::Release);
            if let Some(drain) = on_tick.drain.get() {
                drain.signal();
            }
        });
        let source = IntervalSource {
            ticks,
            emitted: 0,
            timer,
        };
        drain::start(source, subscriber);
    }
}
