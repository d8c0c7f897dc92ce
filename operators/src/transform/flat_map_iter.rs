//! `flat_map_iter`: each item to an iterator, flattened, one upstream item at a time.

use std::fmt;
use std::iter::Peekable;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::task::Context as TaskContext;

use spillway_core::drain::{self, DrainHandle, Pulled, Source};
use spillway_core::{Context, Error, Publisher, SharedSubscription, Subscriber};

use crate::engine::support::{lock, DrainSlot, UpstreamSlot};

const STAGE: &str = "flat_map_iter";

/// Publisher for the [`flat_map_iter`](crate::OperatorExt::flat_map_iter) method.
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct FlatMapIter<P, F> {
    upstream: P,
    f: F,
}

impl<P, F> FlatMapIter<P, F> {
    pub(crate) fn new(upstream: P, f: F) -> Self {
        FlatMapIter { upstream, f }
    }
}

impl<P, F, I> Publisher for FlatMapIter<P, F>
where
    P: Publisher,
    F: FnMut(P::Item) -> I + Send + 'static,
    I: IntoIterator,
    I::IntoIter: Send + 'static,
    I::Item: Send + 'static,
{
    type Item = I::Item;
    type Error = P::Error;

    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = I::Item, Error = P::Error>,
    {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                item: None,
                requested: false,
                end: None,
            }),
            upstream: UpstreamSlot::default(),
            drain: DrainSlot::default(),
        });
        // Upstream first: the drain's first pass may need to request from it.
        self.upstream.subscribe(FlatUpstream {
            shared: Arc::clone(&shared),
            context: subscriber.context(),
        });
        let source = FlatSource {
            shared,
            f: self.f,
            current: None,
        };
        drain::start(source, subscriber);
    }
}

struct State<T, E> {
    /// The upstream item not yet turned into an iterator (at most one: we request one).
    item: Option<T>,
    /// A `request(1)` is outstanding upstream.
    requested: bool,
    /// Upstream's terminal signal (or the protocol violation it caused).
    end: Option<Result<(), Error<E>>>,
}

struct Shared<T, E> {
    state: Mutex<State<T, E>>,
    upstream: UpstreamSlot,
    drain: DrainSlot,
}

/// The upstream side: keeps the one item it asked for and wakes the drain.
struct FlatUpstream<T, E> {
    shared: Arc<Shared<T, E>>,
    context: Context,
}

impl<T: Send + 'static, E: Send + 'static> Subscriber for FlatUpstream<T, E> {
    type Item = T;
    type Error = E;

    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.shared.upstream.set(subscription);
    }

    fn on_next(&mut self, item: T) {
        let mut st = lock(&self.shared.state);
        if st.end.is_some() {
            return; // late signal
        }
        if st.item.is_some() || !st.requested {
            st.end = Some(Err(Error::ProtocolViolation {
                stage: STAGE,
                what: "upstream sent an item that was not requested",
            }));
            drop(st);
            self.shared.upstream.cancel();
        } else {
            st.item = Some(item);
            st.requested = false;
            drop(st);
        }
        self.shared.drain.signal();
    }

    fn on_error(&mut self, error: Error<E>) {
        self.end(Err(error));
    }

    fn on_complete(&mut self) {
        self.end(Ok(()));
    }

    fn context(&self) -> Context {
        self.context.clone()
    }
}

impl<T, E> FlatUpstream<T, E> {
    fn end(&mut self, end: Result<(), Error<E>>) {
        let mut st = lock(&self.shared.state);
        if st.end.is_none() {
            st.end = Some(end);
            drop(st);
            self.shared.drain.signal();
        }
    }
}

/// The downstream side, run by the drain loop: pulls from the current iterator and asks
/// upstream for the next item only when it is exhausted.
struct FlatSource<T, E, F, It: Iterator> {
    shared: Arc<Shared<T, E>>,
    f: F,
    current: Option<Peekable<It>>,
}

impl<T, E, F, It: Iterator> FlatSource<T, E, F, It> {
    fn fail(&mut self, payload: Box<dyn std::any::Any + Send>) -> Pulled<It::Item, E> {
        self.current = None;
        lock(&self.shared.state).end = Some(Ok(())); // nothing more from upstream
        self.shared.upstream.cancel();
        Pulled::Error(Error::from_panic(STAGE, payload))
    }

    /// An upstream error ends the stream at once: the rest of the current iterator is
    /// dropped.
    fn take_error(&mut self) -> Option<Pulled<It::Item, E>> {
        let mut st = lock(&self.shared.state);
        if matches!(st.end, Some(Err(_))) {
            if let Some(Err(e)) = st.end.replace(Ok(())) {
                return Some(Pulled::Error(e));
            }
        }
        None
    }
}

impl<T, E, F, I> Source for FlatSource<T, E, F, I::IntoIter>
where
    T: Send + 'static,
    E: Send + 'static,
    F: FnMut(T) -> I + Send + 'static,
    I: IntoIterator,
    I::IntoIter: Send + 'static,
    I::Item: Send + 'static,
{
    type Item = I::Item;
    type Error = E;
    const STAGE: &'static str = STAGE;

    fn attach(&mut self, drain: DrainHandle) {
        self.shared.drain.set(drain);
    }

    fn pull(&mut self, _cx: &mut TaskContext<'_>) -> Pulled<I::Item, E> {
        if let Some(error) = self.take_error() {
            return error;
        }
        loop {
            if let Some(it) = &mut self.current {
                match catch_unwind(AssertUnwindSafe(|| it.next())) {
                    Ok(Some(out)) => return Pulled::Item(out),
                    Ok(None) => self.current = None,
                    Err(payload) => return self.fail(payload),
                }
            }
            let mut st = lock(&self.shared.state);
            if let Some(item) = st.item.take() {
                drop(st);
                let f = &mut self.f;
                match catch_unwind(AssertUnwindSafe(|| f(item).into_iter().peekable())) {
                    Ok(it) => self.current = Some(it),
                    Err(payload) => return self.fail(payload),
                }
                continue;
            }
            match &st.end {
                Some(Ok(())) => return Pulled::Complete,
                Some(Err(_)) => {
                    drop(st);
                    return self.take_error().unwrap_or(Pulled::Complete);
                }
                None if !st.requested => {
                    st.requested = true;
                    drop(st);
                    // An upstream that answers at once re-signals the drain: loop to see.
                    self.shared.upstream.request(1);
                }
                None => return Pulled::Pending,
            }
        }
    }

    fn poll_end(&mut self, _cx: &mut TaskContext<'_>) -> Option<Pulled<I::Item, E>> {
        if let Some(error) = self.take_error() {
            return Some(error);
        }
        if let Some(it) = &mut self.current {
            match catch_unwind(AssertUnwindSafe(|| it.peek().is_none())) {
                Ok(true) => self.current = None,
                Ok(false) => return None,
                Err(payload) => return Some(self.fail(payload)),
            }
        }
        let st = lock(&self.shared.state);
        (st.item.is_none() && matches!(st.end, Some(Ok(())))).then_some(Pulled::Complete)
    }
}

impl<T, E, F, It: Iterator> Drop for FlatSource<T, E, F, It> {
    fn drop(&mut self) {
        // Downstream cancelled or the stream ended: stop upstream unless it is over.
        if lock(&self.shared.state).end.is_none() {
            self.shared.upstream.cancel();
        }
    }
}

impl<P: fmt::Debug, F> fmt::Debug for FlatMapIter<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlatMapIter")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}
