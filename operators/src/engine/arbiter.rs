//! The subscription arbiter shared by the operators that switch upstream (`retry*`,
//! `on_error_resume`, `on_error_return`): downstream keeps one subscription while the
//! upstream subscriptions behind it change, and the outstanding demand moves over to
//! each new one, so no item is requested twice and none is lost.

use std::sync::Mutex;

use spillway_core::{Demand, SharedSubscription, Subscription, TaskHandle};

use crate::engine::support::lock;

#[derive(Default)]
struct State {
    /// Requested by downstream and not yet delivered, across all upstreams.
    outstanding: Demand,
    current: Option<SharedSubscription>,
    /// A pending resubscription timer (`retry_backoff`).
    timer: Option<TaskHandle>,
    cancelled: bool,
    /// Downstream called `request(0)` between two upstreams: passed on to the next one,
    /// which answers with `Error::InvalidRequest` (rule 3.9).
    bad_request: bool,
}

/// Downstream's subscription of a switching operator.
#[derive(Default)]
pub(crate) struct Arbiter(Mutex<State>);

impl Arbiter {
    /// A new upstream subscription: it receives the outstanding demand (or is cancelled
    /// at once if downstream already cancelled).
    pub(crate) fn set(&self, subscription: SharedSubscription) {
        let (n, bad) = {
            let mut st = lock(&self.0);
            if st.cancelled {
                drop(st);
                subscription.cancel();
                return;
            }
            st.current = Some(subscription.clone());
            st.timer = None;
            (st.outstanding.get(), std::mem::take(&mut st.bad_request))
        };
        if bad {
            subscription.request(0);
        } else if n > 0 {
            subscription.request(n);
        }
    }

    /// [`set`](Self::set) for the `on_subscribe` of one upstream's subscriber, which
    /// keeps `attached`: a second `on_subscribe` to the same subscriber is cancelled and
    /// never used (rule 2.5). False if it was that second one.
    pub(crate) fn attach(&self, attached: &mut bool, subscription: SharedSubscription) -> bool {
        if std::mem::replace(attached, true) {
            subscription.cancel();
            return false;
        }
        self.set(subscription);
        true
    }

    /// One item delivered downstream.
    pub(crate) fn produced(&self) {
        let mut st = lock(&self.0);
        st.outstanding = st.outstanding.produced(1);
    }

    /// The current upstream terminated: requests wait for the next one.
    pub(crate) fn detach(&self) {
        lock(&self.0).current = None;
    }

    /// Remembers the timer of a delayed resubscription, so that `cancel` stops it.
    /// Returns false (and cancels the timer) if downstream already cancelled.
    pub(crate) fn set_timer(&self, timer: TaskHandle) -> bool {
        let mut st = lock(&self.0);
        if st.cancelled {
            drop(st);
            timer.cancel();
            return false;
        }
        st.timer = Some(timer);
        true
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        lock(&self.0).cancelled
    }
}

impl Subscription for Arbiter {
    fn request(&self, n: u64) {
        let current = {
            let mut st = lock(&self.0);
            if st.cancelled {
                return;
            }
            if n == 0 {
                st.bad_request = st.current.is_none();
            } else {
                st.outstanding = st.outstanding.add(n);
            }
            st.current.clone()
        };
        if let Some(up) = current {
            up.request(n);
        }
    }

    fn cancel(&self) {
        let (current, timer) = {
            let mut st = lock(&self.0);
            st.cancelled = true;
            (st.current.take(), st.timer.take())
        };
        if let Some(t) = timer {
            t.cancel(); // drops the pending resubscription (and the subscriber it holds)
        }
        if let Some(up) = current {
            up.cancel();
        }
    }
}
