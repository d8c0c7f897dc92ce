//! `generate` / `try_generate`: a stateful synchronous generator run only on demand.

use std::convert::Infallible;
use std::fmt;
use std::task::Context;

use crate::drain::{self, Pulled, Source};
use crate::{Error, Publisher, Subscriber};

/// Publisher for [`generate`].
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct Generate<St, F> {
    state: St,
    step: F,
}

/// Publisher for [`try_generate`].
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct TryGenerate<St, F> {
    state: St,
    step: F,
}

/// Calls `step(&mut state)` once per requested item: `Some(item)` emits it, `None`
/// completes. The generator never runs ahead of demand, so it is the natural way to wrap
/// a synchronous producer (a file reader, a counter, a parser). A panic in `step` becomes
/// [`Error::Panicked`](crate::Error::Panicked).
///
/// ```
/// use spillway_core::prelude::*;
/// # futures::executor::block_on(async {
/// let fib = generate((0u64, 1u64), |(a, b)| {
///     let out = *a;
///     (*a, *b) = (*b, *a + *b);
///     (out < 50).then_some(out)
/// });
/// assert_eq!(fib.collect().await.unwrap(), vec![0, 1, 1, 2, 3, 5, 8, 13, 21, 34]);
/// # });
/// ```
pub fn generate<St, T, F>(state: St, step: F) -> Generate<St, F>
where
    St: Send + 'static,
    T: Send + 'static,
    F: FnMut(&mut St) -> Option<T> + Send + 'static,
{
    Generate { state, step }
}

/// Like [`generate`], for generators that can fail: `Err(e)` ends the pipeline with
/// `Error::User(e)`.
///
/// ```
/// use spillway_core::{prelude::*, Error};
/// # futures::executor::block_on(async {
/// let p = try_generate(0u32, |n| { *n += 1; if *n < 3 { Ok(Some(*n)) } else { Err("too far") } });
/// assert!(matches!(p.collect().await, Err(Error::User("too far"))));
/// # });
/// ```
pub fn try_generate<St, T, E, F>(state: St, step: F) -> TryGenerate<St, F>
where
    St: Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    F: FnMut(&mut St) -> Result<Option<T>, E> + Send + 'static,
{
    TryGenerate { state, step }
}

struct GenerateSource<St, F>(St, F);

impl<St, T, F> Source for GenerateSource<St, F>
where
    St: Send + 'static,
    T: Send + 'static,
    F: FnMut(&mut St) -> Option<T> + Send + 'static,
{
    type Item = T;
    type Error = Infallible;
    const STAGE: &'static str = "generate";
    fn pull(&mut self, _cx: &mut Context<'_>) -> Pulled<T, Infallible> {
        match (self.1)(&mut self.0) {
            Some(item) => Pulled::Item(item),
            None => Pulled::Complete,
        }
    }
}

struct TryGenerateSource<St, F>(St, F);

impl<St, T, E, F> Source for TryGenerateSource<St, F>
where
    St: Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    F: FnMut(&mut St) -> Result<Option<T>, E> + Send + 'static,
{
    type Item = T;
    type Error = E;
    const STAGE: &'static str = "try_generate";
    fn pull(&mut self, _cx: &mut Context<'_>) -> Pulled<T, E> {
        match (self.1)(&mut self.0) {
            Ok(Some(item)) => Pulled::Item(item),
            Ok(None) => Pulled::Complete,
            Err(e) => Pulled::Error(Error::User(e)),
        }
    }
}

impl<St, T, F> Publisher for Generate<St, F>
where
    St: Send + 'static,
    T: Send + 'static,
    F: FnMut(&mut St) -> Option<T> + Send + 'static,
{
    type Item = T;
    type Error = Infallible;
    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = T, Error = Infallible>,
    {
        drain::start(GenerateSource(self.state, self.step), subscriber);
    }
}

impl<St, T, E, F> Publisher for TryGenerate<St, F>
where
    St: Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    F: FnMut(&mut St) -> Result<Option<T>, E> + Send + 'static,
{
    type Item = T;
    type Error = E;
    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = T, Error = E>,
    {
        drain::start(TryGenerateSource(self.state, self.step), subscriber);
    }
}

impl<St: fmt::Debug, F> fmt::Debug for Generate<St, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Generate")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<St: fmt::Debug, F> fmt::Debug for TryGenerate<St, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryGenerate")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}
