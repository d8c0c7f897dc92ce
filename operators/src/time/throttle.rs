//! `throttle`: at most one item per period, from the leading edge of the window, the
//! trailing edge, or both.

use std::fmt;
use std::time::{Duration, Instant};

use spillway_core::{ConfigError, Publisher, Subscriber};

use crate::engine::timed::{self, timed_operator, Cx, Sendable, Settings, Timing};
use crate::stats::DropReason;

const STAGE: &str = "throttle";

crate::stage_name!(ThrottleStage, STAGE);

/// Which edges of a [`throttle`](crate::OperatorExt::throttle) window emit (RxJS's
/// `throttleTime(d, scheduler, { leading, trailing })`). A mode that emits nothing does
/// not exist.
///
/// ```
/// use spillway::operators::ThrottleMode;
/// assert_ne!(ThrottleMode::Leading, ThrottleMode::Trailing);
/// assert_eq!(ThrottleMode::default(), ThrottleMode::Leading); // RxJS's default
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum ThrottleMode {
    /// The item that opens a window is emitted; the others of the window are dropped.
    /// The same as [`sample_first`](crate::OperatorExt::sample_first).
    #[default]
    Leading,
    /// The first item opens a window and is held; when the window ends, the latest item
    /// of the window is emitted and opens the next window.
    Trailing,
    /// The item that opens a window is emitted; when the window ends, the latest item of
    /// the window (if any) is emitted and opens the next one. The same as
    /// [`throttle_latest`](crate::OperatorExt::throttle_latest).
    LeadingAndTrailing,
}

impl ThrottleMode {
    fn leading(self) -> bool {
        self != ThrottleMode::Trailing
    }

    fn trailing(self) -> bool {
        self != ThrottleMode::Leading
    }
}

/// Publisher for the [`throttle`](crate::OperatorExt::throttle) method.
#[must_use = "publishers do nothing until subscribed"]
pub struct Throttle<P: Publisher> {
    upstream: P,
    period: Duration,
    mode: ThrottleMode,
    settings: Settings<P::Item>,
}

impl<P: Publisher> Throttle<P> {
    pub(crate) fn new(
        upstream: P,
        period: Duration,
        mode: ThrottleMode,
    ) -> Result<Self, ConfigError> {
        if period.is_zero() {
            return Err(ConfigError::new(
                STAGE,
                "the period must be greater than zero",
            ));
        }
        Ok(Throttle {
            upstream,
            period,
            mode,
            settings: Settings::new(),
        })
    }

    timed_operator!(@builder [] on);
    timed_operator!(@builder [
        /// Whether an item held for the trailing edge when upstream completes is delivered
        /// (at once, waiting for demand if needed) before `on_complete` (`true`, the
        /// default) or dropped as [`DropReason::Discarded`](crate::DropReason::Discarded)
        /// (`false`). With [`ThrottleMode::Leading`] nothing is ever held. On an upstream
        /// error the held item is always dropped as `Discarded`.
    ] flush_on_complete);
    timed_operator!(@builder [] on_drop);
    timed_operator!(@builder [] stats);
}

impl<P: Publisher> Publisher for Throttle<P> {
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        timed::subscribe::<ThrottleStage, _, _, _>(
            self.upstream,
            ThrottleLogic { mode: self.mode },
            self.period,
            self.settings,
            timed::Hooks::default(),
            subscriber,
        );
    }
}

impl<P: Publisher + fmt::Debug> fmt::Debug for Throttle<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("upstream", &self.upstream)
            .field("period", &self.period)
            .field("mode", &self.mode)
            .field("settings", &self.settings)
            .finish()
    }
}

/// `throttle`: a window of one period opens at an item (emitted at once on the leading
/// edge, held otherwise) and, on the trailing edge, again at each item emitted when a
/// window ends.
struct ThrottleLogic {
    mode: ThrottleMode,
}

impl Timing for ThrottleLogic {
    /// Whether a window is open.
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
            if self.mode.trailing() {
                cx.replace_pending(item);
            } else {
                cx.discard(item, DropReason::Throttled);
            }
            return;
        }
        let open = if self.mode.leading() {
            cx.commit(item)
        } else {
            cx.replace_pending(item);
            true
        };
        if open {
            *cx.state() = true;
            let period = cx.period();
            cx.start_timer(period);
        }
    }

    #[inline]
    fn on_timer<T: Sendable, E: Sendable>(&self, cx: &mut Cx<'_, T, E, Self>, _now: Instant) {
        // An item emitted on the trailing edge opens the next window.
        let committed = match cx.take_held() {
            Some(item) => cx.commit(item),
            None => false,
        };
        *cx.state() = committed;
        if committed {
            let period = cx.period();
            cx.start_timer(period);
        }
    }
}
