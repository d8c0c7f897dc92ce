//! `sample_with`: emits the latest item each time a notifier publisher emits.

use std::fmt;
use std::time::{Duration, Instant};

use spillway_core::{Publisher, Subscriber};

use crate::engine::timed::{self, timed_operator, Cx, Sendable, Settings, Timing};

crate::stage_name!(SampleWithStage, "sample_with");

/// Publisher for the [`sample_with`](crate::OperatorExt::sample_with) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct SampleWith<P: Publisher, N> {
    upstream: P,
    notifier: N,
    settings: Settings<P::Item>,
}

impl<P: Publisher, N> SampleWith<P, N> {
    pub(crate) fn new(upstream: P, notifier: N) -> Self {
        SampleWith {
            upstream,
            notifier,
            settings: Settings::new(),
        }
    }

    timed_operator!(@builder [
        /// Whether an item still pending when the stream ends (upstream or the notifier
        /// completes) is delivered (waiting for demand if needed) before `on_complete`
        /// (`true`, the default) or dropped as
        /// [`DropReason::Discarded`](crate::DropReason::Discarded) (`false`). On an error
        /// (upstream's or the notifier's) the pending item is always dropped as `Discarded`.
    ] flush_on_complete);
    timed_operator!(@builder [] on_drop);
    timed_operator!(@builder [] stats);
}

impl<P, N> Publisher for SampleWith<P, N>
where
    P: Publisher,
    N: Publisher<Error = P::Error> + 'static,
    N::Item: Send + 'static,
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
            notifier: Some(timed::arm(self.notifier)),
            ..timed::Hooks::default()
        };
        // The notifier is the clock: the period is never read.
        timed::subscribe::<SampleWithStage, _, _, _>(
            self.upstream,
            SampleWithLogic,
            Duration::ZERO,
            self.settings,
            hooks,
            subscriber,
        );
    }
}

impl<P: Publisher + fmt::Debug, N: fmt::Debug> fmt::Debug for SampleWith<P, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SampleWith")
            .field("upstream", &self.upstream)
            .field("notifier", &self.notifier)
            .field("settings", &self.settings)
            .finish()
    }
}

/// `sample_with`: the latest item is kept; each of the notifier's items commits it.
struct SampleWithLogic;

impl Timing for SampleWithLogic {
    type State = ();

    fn start(&self, _now: Instant) {}

    #[inline]
    fn on_item<T: Sendable, E: Sendable>(
        &self,
        cx: &mut Cx<'_, T, E, Self>,
        item: T,
        _cost: u64,
        _now: Option<Instant>,
    ) {
        cx.replace_pending(item);
    }
}
