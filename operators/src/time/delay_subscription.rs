//! `delay_subscription`: subscribes to upstream only after a delay.
//!
//! Downstream is subscribed at once, to a link whose requests (and cancel) the upstream
//! slot keeps until upstream's subscription arrives; a timer on the context's scheduler
//! subscribes upstream, unless downstream cancelled first (then upstream is never
//! subscribed). `request(0)` before upstream exists ends the stage with
//! `InvalidRequest` when the timer fires, without subscribing upstream.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use spillway_core::upstream::UpstreamSlot;
use spillway_core::{
    Context, Error, Publisher, Scheduler, SchedulerExt, SharedSubscription, Subscriber,
    Subscription, TaskHandle,
};

use crate::engine::support::lock;

const STAGE: &str = "delay_subscription";

/// Publisher for the [`delay_subscription`](crate::OperatorExt::delay_subscription) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct DelaySubscription<P> {
    upstream: P,
    delay: Duration,
    scheduler: Option<Arc<dyn Scheduler>>,
}

impl<P> DelaySubscription<P> {
    pub(crate) fn new(upstream: P, delay: Duration) -> Self {
        DelaySubscription {
            upstream,
            delay,
            scheduler: None,
        }
    }

    /// Runs the delay on `scheduler` instead of the one in the subscriber's context.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway::prelude::*;
    /// use spillway_testkit::{TestSubscriber, VirtualScheduler};
    ///
    /// let vs = VirtualScheduler::new();
    /// let (sub, h) = TestSubscriber::<u64, std::convert::Infallible>::new(u64::MAX);
    /// range(0, 2)
    ///     .delay_subscription(Duration::from_secs(60))
    ///     .on(vs.clone())
    ///     .subscribe(sub);
    /// vs.advance_by(Duration::from_secs(59));
    /// h.assert_items(&[]);
    /// vs.advance_by(Duration::from_secs(1));
    /// h.assert_items(&[0, 1]);
    /// ```
    pub fn on(mut self, scheduler: Arc<dyn Scheduler>) -> Self {
        self.scheduler = Some(scheduler);
        self
    }
}

/// What downstream's link and the timer share.
struct Shared {
    upstream: UpstreamSlot,
    /// Upstream's subscription, for a `request(0)` after it arrived (the slot ignores 0).
    subscription: OnceLock<SharedSubscription>,
    /// Downstream cancelled (or asked for 0 items) before upstream was subscribed.
    cancelled: AtomicBool,
    invalid_request: AtomicBool,
    timer: Mutex<Option<TaskHandle>>,
}

impl Shared {
    fn stop_timer(&self) {
        if let Some(timer) = lock(&self.timer).take() {
            timer.cancel();
        }
    }
}

/// Downstream's subscription: requests wait in the slot until upstream is subscribed.
struct Link(Arc<Shared>);

impl Subscription for Link {
    fn request(&self, n: u64) {
        if n > 0 {
            return self.0.upstream.request(n);
        }
        // Flagged first: an upstream subscribing meanwhile sees the flag (and fails the
        // stage), or is seen here.
        self.0.invalid_request.store(true, Ordering::SeqCst);
        match self.0.subscription.get() {
            // Upstream answers it (rule 3.9), in its own way.
            Some(upstream) => upstream.request(0),
            None => self.0.upstream.cancel(),
        }
    }

    fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::Release);
        self.0.stop_timer();
        self.0.upstream.cancel();
    }
}

/// Upstream's subscriber: downstream's signals pass through unchanged.
struct Forward<S> {
    downstream: S,
    shared: Arc<Shared>,
    /// Ended by this stage (a `request(0)` that raced the subscription): late signals
    /// from upstream are dropped.
    done: bool,
}

impl<S: Subscriber> Subscriber for Forward<S> {
    type Item = S::Item;
    type Error = S::Error;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if self
            .shared
            .subscription
            .set(Arc::clone(&subscription))
            .is_err()
        {
            subscription.cancel(); // rule 2.5
            return;
        }
        if self.shared.invalid_request.load(Ordering::SeqCst) {
            // Downstream asked for 0 items while the timer was firing.
            self.done = true;
            subscription.cancel();
            self.downstream
                .on_error(Error::InvalidRequest { stage: STAGE });
            return;
        }
        // Passes on what downstream asked meanwhile (or its cancel).
        self.shared.upstream.set(subscription);
    }

    #[inline]
    fn on_next(&mut self, item: S::Item) {
        if !self.done {
            self.downstream.on_next(item);
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: S::Item) -> bool {
        self.done || self.downstream.try_on_next(item)
    }

    fn on_error(&mut self, error: Error<S::Error>) {
        if !std::mem::replace(&mut self.done, true) {
            self.downstream.on_error(error);
        }
    }

    fn on_complete(&mut self) {
        if !std::mem::replace(&mut self.done, true) {
            self.downstream.on_complete();
        }
    }

    fn context(&self) -> Context {
        self.downstream.context()
    }
}

impl<P> Publisher for DelaySubscription<P>
where
    P: Publisher + Send + 'static,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, mut subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        let scheduler = self
            .scheduler
            .unwrap_or_else(|| subscriber.context().scheduler());
        let shared = Arc::new(Shared {
            upstream: UpstreamSlot::default(),
            subscription: OnceLock::new(),
            cancelled: AtomicBool::new(false),
            invalid_request: AtomicBool::new(false),
            timer: Mutex::new(None),
        });
        subscriber.on_subscribe(Arc::new(Link(Arc::clone(&shared))));
        if shared.cancelled.load(Ordering::Acquire) {
            return; // cancelled from on_subscribe: upstream is never subscribed
        }
        let upstream = self.upstream;
        let fire = Arc::clone(&shared);
        let timer = scheduler.run_after(self.delay, move || {
            lock(&fire.timer).take();
            if fire.invalid_request.load(Ordering::SeqCst) {
                let mut subscriber = subscriber;
                subscriber.on_error(Error::InvalidRequest { stage: STAGE });
            } else if !fire.cancelled.load(Ordering::Acquire) {
                let shared = Arc::clone(&fire);
                upstream.subscribe(Forward {
                    downstream: subscriber,
                    shared,
                    done: false,
                });
            }
        });
        *lock(&shared.timer) = Some(timer);
        if shared.cancelled.load(Ordering::Acquire) {
            shared.stop_timer(); // cancelled while the timer was being armed
        }
    }
}

impl<P: fmt::Debug> fmt::Debug for DelaySubscription<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DelaySubscription")
            .field("upstream", &self.upstream)
            .field("delay", &self.delay)
            .finish_non_exhaustive()
    }
}
