//! Companions: publishers that stand in for the engine's clock.
//!
//! - A **notifier** (`sample_with`) stands in for the ticker: each of its items is a tick;
//!   its completion ends the stage (nothing could be emitted any more), its error fails it.
//! - A **one-shot companion**, built by the user's function for one item
//!   (`sample_first_with`, `delay_until`), stands in for the one-shot timer: its first item
//!   or its completion fires the timer (and a companion that emitted is cancelled); its
//!   error fails the stage.
//!
//! A companion is subscribed after the engine's lock is released (it may signal inside
//! `subscribe`), with unbounded demand, and cancelled through an [`UpstreamSlot`] (so a
//! cancel that comes before its `on_subscribe` is kept).

use std::marker::PhantomData;
use std::sync::{Arc, Weak};

use spillway_core::{Context, Error, Publisher, SharedSubscription, Subscriber, TaskHandle};

use crate::engine::support::UpstreamSlot;

/// Subscribes one companion, for the trigger it is given.
pub(crate) type Arm<E> = Box<dyn FnOnce(Trigger<E>)>;

/// Builds, for an item, the subscription of its one-shot companion: wraps the user's
/// function, which is called (under the engine's panic guard) with the item.
pub(crate) type CompanionFn<T, E> = Arc<dyn Fn(&T) -> Arm<E> + Send + Sync>;

/// Wraps the user's `f` as a [`CompanionFn`].
pub(crate) fn companion_fn<T, E, O, F>(f: F) -> CompanionFn<T, E>
where
    F: Fn(&T) -> O + Send + Sync + 'static,
    O: Publisher<Error = E> + 'static,
    O::Item: Send + 'static,
    E: Send + 'static,
{
    Arc::new(move |item| arm(f(item)))
}

/// The subscription of `companion` for a trigger.
pub(crate) fn arm<O>(companion: O) -> Arm<O::Error>
where
    O: Publisher + 'static,
    O::Item: Send + 'static,
    O::Error: Send + 'static,
{
    Box::new(move |trigger| {
        companion.subscribe(TriggerSubscriber {
            trigger,
            done: false,
            _item: PhantomData,
        })
    })
}

/// What a companion's signals do to the stage it serves.
pub(super) trait Target<E>: Send + Sync {
    /// The notifier emitted: a tick.
    fn tick(&self);
    /// The notifier completed: the stage ends (and cancels its upstream).
    fn notifier_completed(&self);
    /// The one-shot companion armed as `gen` fired.
    fn fire(&self, gen: u64);
    /// A companion failed: the stage fails with its error.
    fn companion_failed(&self, error: Error<E>);
}

#[derive(Clone, Copy)]
pub(super) enum Kind {
    Notifier,
    OneShot { gen: u64 },
}

/// A companion's link to its stage.
pub(crate) struct Trigger<E> {
    target: Weak<dyn Target<E>>,
    slot: Arc<UpstreamSlot>,
    kind: Kind,
    /// The stage's subscriber's context, which the companion is subscribed with.
    context: Context,
}

impl<E> Trigger<E> {
    pub(super) fn new(
        target: Weak<dyn Target<E>>,
        slot: Arc<UpstreamSlot>,
        kind: Kind,
        context: Context,
    ) -> Self {
        Trigger {
            target,
            slot,
            kind,
            context,
        }
    }
}

/// The engine's handle on a running clock: a scheduler task or a companion.
pub(super) enum TimerHandle {
    Clock(TaskHandle),
    Companion(Arc<UpstreamSlot>),
}

impl TimerHandle {
    pub(super) fn cancel(self) {
        match self {
            TimerHandle::Clock(task) => task.cancel(),
            TimerHandle::Companion(slot) => slot.cancel(),
        }
    }
}

/// Subscribes to a companion with unbounded demand and passes its signals to the stage.
struct TriggerSubscriber<U, E> {
    trigger: Trigger<E>,
    /// A one-shot companion fired or failed: its later signals are ignored.
    done: bool,
    _item: PhantomData<fn(U)>,
}

impl<U, E> TriggerSubscriber<U, E> {
    fn target(&self) -> Option<Arc<dyn Target<E>>> {
        if self.done {
            return None;
        }
        self.trigger.target.upgrade()
    }
}

impl<U: Send + 'static, E: Send + 'static> Subscriber for TriggerSubscriber<U, E> {
    type Item = U;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if self.trigger.slot.is_set() {
            subscription.cancel(); // rule 2.5
            return;
        }
        // Before `set`: a cancel asked meanwhile (the stage ended, or the companion fired
        // inside this request) is passed on by `set`, after this request returns.
        subscription.request(u64::MAX);
        self.trigger.slot.set(subscription);
    }

    fn on_next(&mut self, _item: U) {
        let Some(target) = self.target() else { return };
        match self.trigger.kind {
            Kind::Notifier => target.tick(),
            Kind::OneShot { gen } => {
                self.done = true;
                self.trigger.slot.cancel();
                target.fire(gen);
            }
        }
    }

    fn on_error(&mut self, error: Error<E>) {
        if let Some(target) = self.target() {
            self.done = true;
            target.companion_failed(error);
        }
    }

    fn on_complete(&mut self) {
        let Some(target) = self.target() else { return };
        self.done = true;
        match self.trigger.kind {
            Kind::Notifier => target.notifier_completed(),
            Kind::OneShot { gen } => target.fire(gen),
        }
    }

    fn context(&self) -> Context {
        self.trigger.context.clone()
    }
}
