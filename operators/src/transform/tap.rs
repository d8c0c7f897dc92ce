//! The `do_on_*` taps (Reactor's `doOn*` family): run a side effect on one kind of
//! signal and pass every signal through unchanged. All of them are one operator,
//! [`Tap`], with a different hook.

use std::fmt;
use std::sync::{Arc, Mutex};

use spillway_core::{Error, Publisher, Stage, Subscriber};

use crate::engine::step::{self, LinkHooks, Logic, Step};
use crate::engine::support::lock;

/// Publisher for the `do_on_*` methods of [`OperatorExt`](crate::OperatorExt)
/// ([`do_on_next`](crate::OperatorExt::do_on_next),
/// [`do_on_request`](crate::OperatorExt::do_on_request),
/// [`do_on_cancel`](crate::OperatorExt::do_on_cancel),
/// [`do_on_complete`](crate::OperatorExt::do_on_complete),
/// [`do_on_error`](crate::OperatorExt::do_on_error),
/// [`do_finally`](crate::OperatorExt::do_finally)); `H` is the hook.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct Tap<P, H> {
    upstream: P,
    hook: H,
}

impl<P, H> Tap<P, H> {
    pub(crate) fn new(upstream: P, hook: H) -> Self {
        Tap { upstream, hook }
    }
}

/// How a stream ended, as told to [`do_finally`](crate::OperatorExt::do_finally).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Termination {
    /// `on_complete` went downstream (or the stage completed early).
    Complete,
    /// `on_error` went downstream.
    Error,
    /// Downstream cancelled.
    Cancel,
}

/// The hook of [`do_on_next`](crate::OperatorExt::do_on_next).
#[derive(Clone)]
pub struct OnNext<F>(pub(crate) F);
/// The hook of [`do_on_complete`](crate::OperatorExt::do_on_complete).
#[derive(Clone)]
pub struct OnComplete<F>(pub(crate) F);
/// The hook of [`do_on_error`](crate::OperatorExt::do_on_error).
#[derive(Clone)]
pub struct OnError<F>(pub(crate) F);
/// The hook of [`do_on_request`](crate::OperatorExt::do_on_request).
#[derive(Clone)]
pub struct OnRequest<F>(pub(crate) Arc<F>);
/// The hook of [`do_on_cancel`](crate::OperatorExt::do_on_cancel).
#[derive(Clone)]
pub struct OnCancel<F>(pub(crate) Arc<F>);
/// The hook of [`do_finally`](crate::OperatorExt::do_finally).
pub struct Finally<F> {
    f: Option<F>,
    shared: Option<Arc<FinallyOnce<F>>>,
}

/// One hook: each kind overrides the one signal it watches.
trait Hook<T, E>: Send + 'static {
    const STAGE: Stage;
    fn next(&mut self, _item: &T) {}
    fn complete(&mut self) {}
    fn error(&mut self, _error: &Error<E>) {}
    fn finally(&mut self, _how: Termination) {}
    fn link_hooks(&mut self) -> Option<Arc<dyn LinkHooks>> {
        None
    }
}

/// Every hook is a pass-through [`Logic`].
struct TapLogic<H>(H);

impl<T: Send + 'static, E, H: Hook<T, E>> Logic<T, E> for TapLogic<H> {
    type Out = T;
    const STAGE: Stage = H::STAGE;

    fn link_hooks(&mut self) -> Option<Arc<dyn LinkHooks>> {
        self.0.link_hooks()
    }
    fn next(&mut self, item: T) -> Step<T> {
        self.0.next(&item);
        Step::Emit(item)
    }
    fn complete(&mut self) -> Option<T> {
        self.0.complete();
        None
    }
    fn error(&mut self, error: &Error<E>) {
        self.0.error(error);
    }
    fn finally(&mut self, error: bool) {
        self.0.finally(if error {
            Termination::Error
        } else {
            Termination::Complete
        });
    }
}

impl<P, H> Publisher for Tap<P, H>
where
    P: Publisher,
    H: Hook<P::Item, P::Error>,
{
    type Item = P::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = P::Item, Error = P::Error>,
    {
        step::subscribe(self.upstream, subscriber, TapLogic(self.hook));
    }
}

impl<T, E, F: FnMut(&T) + Send + 'static> Hook<T, E> for OnNext<F> {
    const STAGE: Stage = "do_on_next";
    fn next(&mut self, item: &T) {
        (self.0)(item);
    }
}

impl<T, E, F: FnMut() + Send + 'static> Hook<T, E> for OnComplete<F> {
    const STAGE: Stage = "do_on_complete";
    fn complete(&mut self) {
        (self.0)();
    }
}

impl<T, E, F: FnMut(&Error<E>) + Send + 'static> Hook<T, E> for OnError<F> {
    const STAGE: Stage = "do_on_error";
    fn error(&mut self, error: &Error<E>) {
        (self.0)(error);
    }
}

impl<F: Fn(u64) + Send + Sync + 'static> LinkHooks for OnRequest<F> {
    fn request(&self, n: u64) {
        (self.0)(n);
    }
}

impl<T, E, F: Fn(u64) + Send + Sync + 'static> Hook<T, E> for OnRequest<F> {
    const STAGE: Stage = "do_on_request";
    fn link_hooks(&mut self) -> Option<Arc<dyn LinkHooks>> {
        Some(Arc::new(OnRequest(Arc::clone(&self.0))))
    }
}

impl<F: Fn() + Send + Sync + 'static> LinkHooks for OnCancel<F> {
    fn cancel(&self) {
        (self.0)();
    }
}

impl<T, E, F: Fn() + Send + Sync + 'static> Hook<T, E> for OnCancel<F> {
    const STAGE: Stage = "do_on_cancel";
    fn link_hooks(&mut self) -> Option<Arc<dyn LinkHooks>> {
        Some(Arc::new(OnCancel(Arc::clone(&self.0))))
    }
}

/// The `do_finally` callback, shared by the subscriber (terminal signals) and the
/// subscription (cancel): whichever comes first takes it.
struct FinallyOnce<F>(Mutex<Option<F>>);

impl<F: FnOnce(Termination)> FinallyOnce<F> {
    fn run(&self, how: Termination) {
        let f = lock(&self.0).take();
        if let Some(f) = f {
            f(how);
        }
    }
}

impl<F: FnOnce(Termination) + Send + 'static> LinkHooks for FinallyOnce<F> {
    fn cancel(&self) {
        self.run(Termination::Cancel);
    }
}

impl<T, E, F: FnOnce(Termination) + Send + 'static> Hook<T, E> for Finally<F> {
    const STAGE: Stage = "do_finally";
    fn link_hooks(&mut self) -> Option<Arc<dyn LinkHooks>> {
        // Called once, at subscribe time: the callback moves into the shared slot.
        let once = Arc::new(FinallyOnce(Mutex::new(self.f.take())));
        self.shared = Some(Arc::clone(&once));
        Some(once)
    }
    fn finally(&mut self, how: Termination) {
        if let Some(once) = &self.shared {
            once.run(how);
        }
    }
}

impl<F> Finally<F> {
    pub(crate) fn new(f: F) -> Self {
        Finally {
            f: Some(f),
            shared: None,
        }
    }
}

macro_rules! opaque_debug {
    ($($hook:ident),*) => {$(
        impl<F> fmt::Debug for $hook<F> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($hook)).finish_non_exhaustive()
            }
        }
    )*};
}
opaque_debug!(OnNext, OnComplete, OnError, OnRequest, OnCancel, Finally);

impl<P: fmt::Debug, H> fmt::Debug for Tap<P, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tap")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}
