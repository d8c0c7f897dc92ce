//! Running a publisher on virtual time against a request plan.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use spillway_core::{Publisher, SchedulerExt};

use crate::test_subscriber::{DropRecorder, TestSubscriber, TestSubscriberHandle};
use crate::virtual_scheduler::VirtualScheduler;

use super::parse::{PlanStep, RequestPlan};
use super::render::{Diagram, RenderOptions, DEFAULT_MAX_DASHES};
use super::DEFAULT_FRAME;

/// A publisher run on a fresh [`VirtualScheduler`] by a [`TestSubscriber`] that follows a
/// request plan (a demand-lane marble, see [`RequestPlan`]), for `duration` of virtual time
/// from the subscription; then drawn as a [`Diagram`].
///
/// A request at frame 0 of the plan is made inside `on_subscribe`, as real subscribers
/// do; every other step runs at its time, before the source's signals due at the same
/// instant. Nothing is cancelled at the end: the diagram shows what happened within
/// `duration`.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use spillway_core::prelude::*;
/// use spillway_testkit::marble::Scenario;
///
/// // interval(10ms) with a subscriber that requests one tick at a time, too slowly.
/// let d = Scenario::new("r1--r1", Duration::from_millis(50))
///     .frame(Duration::from_millis(10))
///     .run(|_vs| interval(Duration::from_millis(10)).unwrap());
/// assert_eq!(d.items(), "-0#"); // the tick at frame 2 finds no demand
/// assert_eq!(d.lane("demand"), Some("r1--r1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    requests: String,
    duration: Duration,
    frame: Duration,
    max_dashes: usize,
}

impl Scenario {
    /// A scenario following the plan `requests` for `duration`, with 1ms frames.
    ///
    /// ```
    /// use spillway_testkit::marble::Scenario;
    /// let s = Scenario::new("r∞", std::time::Duration::from_secs(1));
    /// # let _ = s;
    /// ```
    pub fn new(requests: &str, duration: Duration) -> Scenario {
        Scenario {
            requests: requests.to_string(),
            duration,
            frame: DEFAULT_FRAME,
            max_dashes: DEFAULT_MAX_DASHES,
        }
    }

    /// Sets the frame duration, of both the plan and the diagram.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_testkit::marble::Scenario;
    /// let d = Scenario::new("-r∞", Duration::from_secs(5)).frame(Duration::from_secs(1))
    ///     .run(|_vs| spillway_core::prelude::just(1));
    /// assert_eq!(d.items(), "-(1|)");
    /// ```
    pub fn frame(mut self, frame: Duration) -> Scenario {
        self.frame = frame;
        self
    }

    /// Sets the longest run of empty frames drawn with dashes (see [`RenderOptions`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_testkit::marble::Scenario;
    /// let d = Scenario::new("---r∞", Duration::from_secs(1)).max_dashes(2)
    ///     .run(|_vs| spillway_core::prelude::just(1));
    /// assert_eq!(d.items(), "3ms (1|)");
    /// ```
    pub fn max_dashes(mut self, n: usize) -> Scenario {
        self.max_dashes = n;
        self
    }

    /// The render options it uses.
    ///
    /// ```
    /// use spillway_testkit::marble::Scenario;
    /// let s = Scenario::new("r1", std::time::Duration::from_secs(1));
    /// assert_eq!(s.render_options().frame, std::time::Duration::from_millis(1));
    /// ```
    pub fn render_options(&self) -> RenderOptions {
        RenderOptions::new(self.frame).max_dashes(self.max_dashes)
    }

    /// Runs the publisher made by `factory` (given the virtual scheduler) and draws it.
    ///
    /// # Panics
    /// If the request plan does not parse.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_testkit::marble::{self, Scenario};
    /// let d = Scenario::new("r1-x", Duration::from_millis(10))
    ///     .run(|_vs| marble::cold::<u8, ()>("ab-c|", &[('a', 1), ('b', 2), ('c', 3)], None));
    /// assert_eq!(d.items(), "1");
    /// assert_eq!(d.lane("demand"), Some("r1-x"));
    /// ```
    #[track_caller]
    pub fn run<P, F>(&self, factory: F) -> Diagram
    where
        P: Publisher,
        P::Item: fmt::Debug,
        P::Error: fmt::Debug,
        F: FnOnce(&Arc<VirtualScheduler>) -> P,
    {
        self.run_with_drops(|vs, _| factory(vs))
    }

    /// Like [`run`](Self::run), `factory` also getting a [`DropRecorder`] to hand to
    /// dropping stages, whose drops show in `dropped(stage)` lanes.
    ///
    /// # Panics
    /// If the request plan does not parse.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_testkit::marble::{self, Scenario};
    /// let d = Scenario::new("--r1", Duration::from_millis(10)).run_with_drops(|vs, drops| {
    ///     marble::hot::<u8, ()>("ab-c|", &[('a', 1), ('b', 2), ('c', 3)], None, vs.clone())
    ///         .record_drops(drops.clone())
    /// });
    /// assert_eq!(d.lane("dropped(marble::hot)"), Some("12"));
    /// assert_eq!(d.items(), "---3|");
    /// ```
    #[track_caller]
    pub fn run_with_drops<P, F>(&self, factory: F) -> Diagram
    where
        P: Publisher,
        P::Item: fmt::Debug,
        P::Error: fmt::Debug,
        F: FnOnce(&Arc<VirtualScheduler>, &DropRecorder) -> P,
    {
        let handle = self.record_with_drops(factory);
        Diagram::from_handle(&handle, self.render_options())
    }

    /// Runs the scenario and returns the recording subscriber's handle, for assertions
    /// (for example [`assert_items`](super::assert_items)) instead of a drawing.
    ///
    /// # Panics
    /// If the request plan does not parse.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_testkit::marble::Scenario;
    /// let h = Scenario::new("r2", Duration::from_millis(1))
    ///     .record(|_vs| spillway_core::prelude::range(0, 5));
    /// h.assert_items(&[0, 1]);
    /// ```
    #[track_caller]
    pub fn record<P, F>(&self, factory: F) -> TestSubscriberHandle<P::Item, P::Error>
    where
        P: Publisher,
        F: FnOnce(&Arc<VirtualScheduler>) -> P,
    {
        self.record_with_drops(|vs, _| factory(vs))
    }

    /// [`record`](Self::record) with a [`DropRecorder`] for `factory`.
    ///
    /// # Panics
    /// If the request plan does not parse.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_testkit::marble::Scenario;
    /// let h = Scenario::new("r1", Duration::from_millis(1)).record_with_drops(|_vs, drops| {
    ///     drops.record("stage", "9");
    ///     spillway_core::prelude::just(1)
    /// });
    /// assert_eq!(h.dropped().len(), 1);
    /// ```
    #[track_caller]
    pub fn record_with_drops<P, F>(&self, factory: F) -> TestSubscriberHandle<P::Item, P::Error>
    where
        P: Publisher,
        F: FnOnce(&Arc<VirtualScheduler>, &DropRecorder) -> P,
    {
        let plan = match RequestPlan::parse_with_frame(&self.requests, self.frame) {
            Ok(plan) => plan,
            Err(e) => panic!("{e}"),
        };
        let mut steps = plan.steps().to_vec();
        let initial = match steps.first() {
            Some((at, PlanStep::Request(n))) if at.is_zero() && *n > 0 => {
                let n = *n;
                steps.remove(0);
                n
            }
            _ => 0,
        };
        let vs = VirtualScheduler::new();
        let (sub, handle) = TestSubscriber::with_scheduler(initial, vs.clone());
        // Scheduled before the publisher exists, so that at equal instants they run first.
        let timers: Vec<_> = steps
            .into_iter()
            .map(|(at, step)| {
                let h = handle.clone();
                vs.run_after(at, move || match step {
                    PlanStep::Request(n) => h.request(n),
                    PlanStep::Cancel => h.cancel(),
                })
            })
            .collect();
        let drops = handle.drop_recorder();
        let publisher = factory(&vs, &drops);
        publisher.subscribe(sub);
        vs.advance_to(self.duration);
        for t in timers {
            t.cancel();
        }
        handle
    }
}

/// [`Scenario::new(requests, duration).run(factory)`](Scenario::run): runs the publisher
/// made by `factory` on virtual time (1ms frames) with the request plan `requests`, for
/// `duration`, and returns its [`Diagram`].
///
/// # Panics
/// If the request plan does not parse.
///
/// ```
/// use std::time::Duration;
/// use spillway_testkit::marble;
/// let d = marble::run(|_vs| spillway_core::prelude::range(0, 3), "r∞", Duration::from_millis(1));
/// assert_eq!(d.items(), "(012|)");
/// ```
#[track_caller]
pub fn run<P, F>(factory: F, requests: &str, duration: Duration) -> Diagram
where
    P: Publisher,
    P::Item: fmt::Debug,
    P::Error: fmt::Debug,
    F: FnOnce(&Arc<VirtualScheduler>) -> P,
{
    Scenario::new(requests, duration).run(factory)
}
