//! Puts an operator through the subscriber suite: the operator's upstream-facing
//! subscriber is what the suite drives (rules 2.x), while a small downstream subscriber
//! stands for the operator's consumer.

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use spillway_core::{Error, Publisher, SharedSubscription, Subscriber};

use super::SubscriberFactory;

/// How long [`OperatorSubscriberFactory`] waits for the operator to subscribe to its
/// upstream.
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(2);

/// What the downstream stand-in requests each time the suite asks the subscriber to
/// request: bounded, so that operators are driven by real demand.
const DOWNSTREAM_REQUEST: u64 = 32;

/// The subscriber an operator hands to its upstream, boxed.
pub type UpstreamSubscriber<T, E> = Box<dyn Subscriber<Item = T, Error = E>>;

struct Captured<T, E> {
    subscriber: Mutex<Option<UpstreamSubscriber<T, E>>>,
    arrived: Condvar,
}

/// The upstream an operator is applied to by [`operator_subscriber`]: a publisher that
/// only keeps the subscriber given to it (the operator's own), for the suite to drive.
/// It never signals by itself. A second subscription (an operator that resubscribes,
/// such as `retry`) is dropped without signals: the suite checks the first one.
pub struct CapturedUpstream<T, E> {
    captured: Arc<Captured<T, E>>,
}

impl<T, E> Clone for CapturedUpstream<T, E> {
    fn clone(&self) -> Self {
        CapturedUpstream {
            captured: Arc::clone(&self.captured),
        }
    }
}

impl<T, E> fmt::Debug for CapturedUpstream<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CapturedUpstream").finish_non_exhaustive()
    }
}

impl<T: Send + 'static, E: Send + 'static> Publisher for CapturedUpstream<T, E> {
    type Item = T;
    type Error = E;
    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = T, Error = E>,
    {
        let mut slot = lock(&self.captured.subscriber);
        if slot.is_none() {
            *slot = Some(Box::new(subscriber));
            self.captured.arrived.notify_all();
        }
    }
}

#[derive(Default)]
struct DownstreamState {
    subscription: Option<SharedSubscription>,
    /// Requested before `on_subscribe` reached downstream.
    pending: u64,
    /// The handle was dropped before `on_subscribe` reached downstream.
    cancelled: bool,
    subscribed: bool,
}

/// The operator's consumer: requests when the suite says so, cancels when its handle
/// is dropped.
struct Downstream<O, E> {
    state: Arc<Mutex<DownstreamState>>,
    _item: PhantomData<fn(O, E)>,
}

impl<O: Send + 'static, E: Send + 'static> Subscriber for Downstream<O, E> {
    type Item = O;
    type Error = E;
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let mut s = lock(&self.state);
        if s.subscribed {
            drop(s);
            subscription.cancel(); // rule 2.5
            return;
        }
        s.subscribed = true;
        let (pending, cancelled) = (std::mem::take(&mut s.pending), s.cancelled);
        if !cancelled {
            s.subscription = Some(subscription.clone());
        }
        drop(s);
        if cancelled {
            subscription.cancel();
        } else if pending > 0 {
            subscription.request(pending);
        }
    }
    fn on_next(&mut self, _item: O) {}
    fn on_error(&mut self, _error: Error<E>) {}
    fn on_complete(&mut self) {}
}

/// The suite's handle of one operator under test: the downstream's subscription.
/// Dropping it cancels downstream (rule 2.6 through the operator).
pub struct OperatorHandle {
    state: Arc<Mutex<DownstreamState>>,
}

impl OperatorHandle {
    fn request(&self, n: u64) {
        let mut s = lock(&self.state);
        match s.subscription.clone() {
            Some(sub) => {
                drop(s);
                sub.request(n);
            }
            None => s.pending = s.pending.saturating_add(n),
        }
    }
}

impl Drop for OperatorHandle {
    fn drop(&mut self) {
        let mut s = lock(&self.state);
        s.cancelled = true;
        let sub = s.subscription.take();
        drop(s);
        if let Some(sub) = sub {
            sub.cancel();
        }
    }
}

impl fmt::Debug for OperatorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperatorHandle").finish_non_exhaustive()
    }
}

/// A [`SubscriberFactory`] for an operator: see [`operator_subscriber`].
pub struct OperatorSubscriberFactory<T, E, B, G> {
    build: B,
    element: G,
    cancels_on_handle_drop: bool,
    initial_request: u64,
    _types: PhantomData<fn() -> (T, E)>,
}

/// The subscriber suite's view of an operator: `build` applies the operator to a
/// [`CapturedUpstream`]; the subscriber the operator gives its upstream is the one under
/// test, and a downstream stand-in subscribes to the operator, requests 32 items each
/// time the suite triggers a request, and cancels when the suite drops its handle.
/// `element(i)` makes the `i`-th item the suite delivers.
///
/// So every operator can be checked as a processor is in the Reactive Streams TCK: with
/// the publisher suite on its output and with this on its input (a second
/// `on_subscribe` cancelled, rule 2.5; terminal signals without demand, 2.9/2.10;
/// serial request/cancel calls, 2.7; no request from a terminal signal, 2.3; a cancel
/// from downstream reaching upstream, 2.6).
///
/// ```
/// use std::convert::Infallible;
/// use spillway_testkit::tck::{self, CapturedUpstream};
/// // The identity "operator": the suite drives the downstream stand-in itself. With
/// // spillway's operators: `|up| up.filter(|x| x % 2 == 0)`, `|up| up.publish_on(w, 8)`.
/// let factory = tck::operator_subscriber(|up: CapturedUpstream<u32, Infallible>| up, |i| i as u32);
/// let report = tck::verify_subscriber(factory);
/// assert!(report.passed("2.5"));
/// report.assert_all_passed();
/// ```
pub fn operator_subscriber<T, E, P, B, G>(
    build: B,
    element: G,
) -> OperatorSubscriberFactory<T, E, B, G>
where
    T: Send + 'static,
    E: Send + 'static,
    B: Fn(CapturedUpstream<T, E>) -> P + Send + Sync + 'static,
    P: Publisher,
    G: Fn(u64) -> T + Send + Sync + 'static,
{
    OperatorSubscriberFactory {
        build,
        element,
        cancels_on_handle_drop: true,
        initial_request: 0,
        _types: PhantomData,
    }
}

impl<T, E, B, G> OperatorSubscriberFactory<T, E, B, G> {
    /// For an operator whose upstream outlives one downstream (a connectable `publish`,
    /// a `replay`): a downstream cancel need not reach upstream, and the checks of rules
    /// 2.6 and 2.8 are skipped (declare why with
    /// [`TckConfig::excuse`](super::TckConfig::excuse)).
    ///
    /// ```
    /// use spillway_testkit::tck::{self, CapturedUpstream, SubscriberFactory};
    /// let f = tck::operator_subscriber(|up: CapturedUpstream<u8, String>| up, |i| i as u8)
    ///     .upstream_outlives_downstream();
    /// assert!(!f.cancels_on_handle_drop());
    /// ```
    pub fn upstream_outlives_downstream(mut self) -> Self {
        self.cancels_on_handle_drop = false;
        self
    }

    /// For an operator that subscribes to its upstream only once it has emitted
    /// something of its own (a `start_with`, a `concat` whose first part this is not):
    /// the downstream stand-in requests `n` as soon as it is subscribed.
    ///
    /// ```
    /// use spillway_testkit::tck::{self, CapturedUpstream};
    /// let f = tck::operator_subscriber(|up: CapturedUpstream<u8, String>| up, |i| i as u8)
    ///     .initial_request(2);
    /// tck::verify_subscriber(f).assert_all_passed();
    /// ```
    pub fn initial_request(mut self, n: u64) -> Self {
        self.initial_request = n;
        self
    }
}

impl<T, E, P, B, G> SubscriberFactory for OperatorSubscriberFactory<T, E, B, G>
where
    T: Send + 'static,
    E: Send + 'static,
    B: Fn(CapturedUpstream<T, E>) -> P + Send + Sync + 'static,
    P: Publisher,
    G: Fn(u64) -> T + Send + Sync + 'static,
{
    type Subscriber = UpstreamSubscriber<T, E>;
    type Handle = OperatorHandle;

    /// # Panics
    /// If the operator does not subscribe to its upstream within 2 s of being
    /// subscribed to (the check that called it fails with the message).
    fn create_subscriber(&self) -> (Self::Subscriber, OperatorHandle) {
        let captured = Arc::new(Captured {
            subscriber: Mutex::new(None),
            arrived: Condvar::new(),
        });
        let operator = (self.build)(CapturedUpstream {
            captured: Arc::clone(&captured),
        });
        let state = Arc::new(Mutex::new(DownstreamState {
            pending: self.initial_request,
            ..DownstreamState::default()
        }));
        operator.subscribe(Downstream::<P::Item, P::Error> {
            state: Arc::clone(&state),
            _item: PhantomData,
        });
        let slot = lock(&captured.subscriber);
        let (mut slot, _) = captured
            .arrived
            .wait_timeout_while(slot, SUBSCRIBE_WAIT, |s| s.is_none())
            .unwrap_or_else(|p| p.into_inner());
        let subscriber = slot.take().unwrap_or_else(|| {
            panic!("the operator did not subscribe to its upstream within {SUBSCRIBE_WAIT:?}")
        });
        (subscriber, OperatorHandle { state })
    }

    fn create_element(&self, index: u64) -> T {
        (self.element)(index)
    }

    fn trigger_request(&self, handle: &OperatorHandle) {
        handle.request(DOWNSTREAM_REQUEST);
    }

    fn cancels_on_handle_drop(&self) -> bool {
        self.cancels_on_handle_drop
    }
}

impl<T, E, B, G> fmt::Debug for OperatorSubscriberFactory<T, E, B, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperatorSubscriberFactory")
            .field("cancels_on_handle_drop", &self.cancels_on_handle_drop)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
