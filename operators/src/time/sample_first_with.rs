//! `sample_first_with`: lets an item through, then drops everything else until a
//! publisher built from that item signals.

use std::fmt;
use std::time::{Duration, Instant};

use spillway_core::{Publisher, Subscriber};

use crate::engine::timed::{self, timed_operator, Cx, Sendable, Settings, Timing};
use crate::stats::DropReason;

crate::stage_name!(SampleFirstWithStage, "sample_first_with");

/// Publisher for the [`sample_first_with`](crate::OperatorExt::sample_first_with) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct SampleFirstWith<P: Publisher, F> {
    upstream: P,
    window: F,
    settings: Settings<P::Item>,
}

impl<P: Publisher, F> SampleFirstWith<P, F> {
    pub(crate) fn new(upstream: P, window: F) -> Self {
        SampleFirstWith {
            upstream,
            window,
            settings: Settings::new(),
        }
    }

    timed_operator!(@builder [] on_drop);
    timed_operator!(@builder [] stats);
}

impl<P, F, O> Publisher for SampleFirstWith<P, F>
where
    P: Publisher,
    F: Fn(&P::Item) -> O + Send + Sync + 'static,
    O: Publisher<Error = P::Error> + 'static,
    O::Item: Send + 'static,
    P::Item: Send + 'static,
    P::Error: Send + 'static,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        let hooks = timed::Hooks {
            companion: Some(timed::companion_fn(self.window)),
            ..timed::Hooks::default()
        };
        // Companions are the clock: the period is never read.
        timed::subscribe::<SampleFirstWithStage, _, _, _>(
            self.upstream,
            SampleFirstWithLogic,
            Duration::ZERO,
            self.settings,
            hooks,
            subscriber,
        );
    }
}

impl<P: Publisher + fmt::Debug, F> fmt::Debug for SampleFirstWith<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SampleFirstWith")
            .field("upstream", &self.upstream)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// `sample_first_with`: an item emitted closes the gate until its companion signals;
/// items arriving while it is closed are dropped.
struct SampleFirstWithLogic;

impl Timing for SampleFirstWithLogic {
    /// Whether the gate is closed.
    type State = bool;

    fn start(&self, _now: Instant) -> bool {
        false
    }

    #[inline]
    fn on_item<T: Sendable, E: Sendable>(
        &self,
        cx: &mut Cx<'_, T, E, Self>,
        item: T,
        _cost: u64,
        _now: Option<Instant>,
    ) {
        if *cx.state() {
            return cx.discard(item, DropReason::Throttled);
        }
        if cx.commit_with_companion(item) {
            *cx.state() = true;
        }
    }

    #[inline]
    fn on_timer<T: Sendable, E: Sendable>(&self, cx: &mut Cx<'_, T, E, Self>, _now: Instant) {
        *cx.state() = false;
    }
}
