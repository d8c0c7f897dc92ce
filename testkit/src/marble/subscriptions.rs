//! Subscription marbles: when each subscription to a [`Cold`](super::Cold) or
//! [`Hot`](super::Hot) source began and ended, asserted as RxJS's `expectSubscriptions`
//! does (`^` subscribed, `!` unsubscribed, `-` one frame, `(^!)` both in one frame).

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spillway_core::Scheduler;

use super::DEFAULT_FRAME;
use crate::VirtualScheduler;

/// One subscription to a marble source: when it began and when it ended (the subscriber
/// cancelled, or the source's terminal signal went out), as times since the virtual
/// scheduler's origin. `unsubscribed` is `None` while it lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubscriptionSpan {
    /// When `subscribe` was called.
    pub subscribed: Duration,
    /// When it ended, if it has.
    pub unsubscribed: Option<Duration>,
}

impl SubscriptionSpan {
    /// Reads a subscription marble: `-` is one frame, `^` the subscription, `!` its end, a
    /// group `( )` one frame for all it holds (`(^!)`: subscribed and ended at once);
    /// spaces are ignored. Each `-` is `frame` long.
    ///
    /// # Errors
    /// A message if the marble has no `^`, two of a kind, a `!` before the `^`, or another
    /// character.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_testkit::marble::SubscriptionSpan;
    /// let ms = Duration::from_millis;
    /// let span = SubscriptionSpan::parse("--^---!", ms(1)).unwrap();
    /// assert_eq!((span.subscribed, span.unsubscribed), (ms(2), Some(ms(6))));
    /// assert_eq!(SubscriptionSpan::parse("(^!)", ms(1)).unwrap().unsubscribed, Some(ms(0)));
    /// assert!(SubscriptionSpan::parse("--!", ms(1)).is_err());
    /// ```
    pub fn parse(marble: &str, frame: Duration) -> Result<SubscriptionSpan, String> {
        let (mut at, mut in_group) = (0u32, false);
        let (mut subscribed, mut unsubscribed) = (None, None);
        for (i, c) in marble.chars().enumerate() {
            let here = frame * at;
            match c {
                ' ' => continue,
                '-' if !in_group => {}
                '(' if !in_group => {
                    in_group = true;
                    continue;
                }
                ')' if in_group => in_group = false,
                '^' if subscribed.is_none() => {
                    subscribed = Some(here);
                    if in_group {
                        continue;
                    }
                }
                '!' if unsubscribed.is_none() && subscribed.is_some() => {
                    unsubscribed = Some(here);
                    if in_group {
                        continue;
                    }
                }
                other => {
                    return Err(format!(
                        "subscription marble {marble:?}: unexpected {other:?} at {i} \
                         (`-`, `^` once, then `!` once, `( )`, spaces)"
                    ))
                }
            }
            at += 1;
        }
        let subscribed =
            subscribed.ok_or_else(|| format!("subscription marble {marble:?} has no `^`"))?;
        Ok(SubscriptionSpan {
            subscribed,
            unsubscribed,
        })
    }

    /// The span as a subscription marble of `frame`-long frames (times rounded down).
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_testkit::marble::SubscriptionSpan;
    /// let span = SubscriptionSpan::parse("-^--!", Duration::from_millis(1)).unwrap();
    /// assert_eq!(span.to_marble(Duration::from_millis(1)), "-^--!");
    /// ```
    pub fn to_marble(&self, frame: Duration) -> String {
        let frames = |d: Duration| (d.as_nanos() / frame.as_nanos().max(1)) as usize;
        let start = frames(self.subscribed);
        let mut out = "-".repeat(start);
        match self.unsubscribed.map(frames) {
            Some(end) if end == start => out.push_str("(^!)"),
            Some(end) => {
                out.push('^');
                out.push_str(&"-".repeat(end - start - 1));
                out.push('!');
            }
            None => out.push('^'),
        }
        out
    }
}

impl fmt::Display for SubscriptionSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_marble(DEFAULT_FRAME))
    }
}

/// One subscription as scheduler instants: when it began, and when it ended.
type Span = (Instant, Option<Instant>);

/// The subscriptions of one marble source (shared by its clones).
#[derive(Clone, Default)]
pub(crate) struct SubscriptionLog(Arc<Mutex<Vec<Span>>>);

impl SubscriptionLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Span>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a subscription now; the guard records its end when dropped.
    pub(crate) fn open(&self, scheduler: Arc<dyn Scheduler>) -> SubscriptionEnd {
        let mut log = self.lock();
        log.push((scheduler.now(), None));
        SubscriptionEnd {
            log: self.clone(),
            index: log.len() - 1,
            scheduler,
        }
    }

    /// The spans, as times since `origin`.
    pub(crate) fn spans(&self, origin: Instant) -> Vec<SubscriptionSpan> {
        let since = |t: Instant| t.saturating_duration_since(origin);
        self.lock()
            .iter()
            .map(|&(s, u)| SubscriptionSpan {
                subscribed: since(s),
                unsubscribed: u.map(since),
            })
            .collect()
    }

    /// Asserts the spans against `expected` subscription marbles, in subscription order.
    #[track_caller]
    pub(crate) fn assert(&self, scheduler: &VirtualScheduler, expected: &[&str]) {
        let want: Vec<SubscriptionSpan> = expected
            .iter()
            .map(|m| SubscriptionSpan::parse(m, DEFAULT_FRAME).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        let got = self.spans(scheduler.origin());
        if got != want {
            let show = |spans: &[SubscriptionSpan]| {
                spans
                    .iter()
                    .map(|s| format!("  {s}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            panic!(
                "subscriptions differ\nexpected:\n{}\nactual:\n{}",
                show(&want),
                show(&got)
            );
        }
    }
}

/// Records the end of one subscription when dropped (the source's drain released it).
pub(crate) struct SubscriptionEnd {
    log: SubscriptionLog,
    index: usize,
    scheduler: Arc<dyn Scheduler>,
}

impl Drop for SubscriptionEnd {
    fn drop(&mut self) {
        let now = self.scheduler.now();
        if let Some(span) = self.log.lock().get_mut(self.index) {
            span.1.get_or_insert(now);
        }
    }
}
