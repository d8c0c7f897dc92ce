//! `from_stream` / `from_try_stream`: bridge a `futures::Stream` into a pipeline.

use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::drain::{self, Pulled, Source};
use crate::{Error, Publisher, Subscriber};

/// Publisher for [`from_stream`].
#[must_use = "publishers do nothing until subscribed"]
pub struct FromStream<St> {
    stream: St,
}

/// Publisher for [`from_try_stream`].
#[must_use = "publishers do nothing until subscribed"]
pub struct FromTryStream<St> {
    stream: St,
}

/// Emits the items of `stream`, polling it only while demand is outstanding: a stream
/// behind a slow subscriber is simply not polled, which is backpressure in pull form.
///
/// No executor of its own is needed: the stream is polled on the thread that requests,
/// and after a wake-up by the pipeline's terminal future (`collect().await`,
/// `into_stream`, `for_each_async`, ...) on its own task, within its cooperative budget
/// inside tokio. A pipeline that ends in a plain subscriber is polled by the executor its
/// context names, or else tokio's runtime (inside one) or the shared timer thread (see
/// [`driver`](crate::driver)). The waker only schedules: nothing runs on the thread that
/// wakes the stream. A pass polls the stream at most
/// [`ASYNC_PASS_PULLS`](crate::drain::ASYNC_PASS_PULLS) times before it hands control
/// back. Works with tokio and tokio-stream streams and with async-stream's `stream!`
/// generators.
///
/// ```
/// use spillway_core::prelude::*;
/// # futures::executor::block_on(async {
/// let s = async_stream::stream! { for i in 0..3u8 { yield i; } };
/// assert_eq!(from_stream(s).collect().await.unwrap(), vec![0, 1, 2]);
/// # });
/// ```
pub fn from_stream<St>(stream: St) -> FromStream<St>
where
    St: Stream + Send + 'static,
    St::Item: Send + 'static,
{
    FromStream { stream }
}

/// Like [`from_stream`] for a stream of `Result`s: the first `Err(e)` ends the pipeline
/// with `Error::User(e)`.
///
/// ```
/// use spillway_core::{prelude::*, Error};
/// # futures::executor::block_on(async {
/// let s = futures::stream::iter(vec![Ok(1), Err("bad"), Ok(3)]);
/// assert!(matches!(from_try_stream(s).collect().await, Err(Error::User("bad"))));
/// # });
/// ```
pub fn from_try_stream<St, T, E>(stream: St) -> FromTryStream<St>
where
    St: Stream<Item = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    FromTryStream { stream }
}

struct StreamSource<St>(Pin<Box<St>>);

impl<St> Source for StreamSource<St>
where
    St: Stream + Send + 'static,
    St::Item: Send + 'static,
{
    type Item = St::Item;
    type Error = Infallible;
    const STAGE: &'static str = "from_stream";
    const ASYNC: bool = true;

    fn pull(&mut self, cx: &mut Context<'_>) -> Pulled<St::Item, Infallible> {
        match self.0.as_mut().poll_next(cx) {
            Poll::Ready(Some(item)) => Pulled::Item(item),
            Poll::Ready(None) => Pulled::Complete,
            Poll::Pending => Pulled::Pending,
        }
    }
}

struct TryStreamSource<St>(Pin<Box<St>>);

impl<St, T, E> Source for TryStreamSource<St>
where
    St: Stream<Item = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    type Item = T;
    type Error = E;
    const STAGE: &'static str = "from_try_stream";
    const ASYNC: bool = true;

    fn pull(&mut self, cx: &mut Context<'_>) -> Pulled<T, E> {
        match self.0.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(item))) => Pulled::Item(item),
            Poll::Ready(Some(Err(e))) => Pulled::Error(Error::User(e)),
            Poll::Ready(None) => Pulled::Complete,
            Poll::Pending => Pulled::Pending,
        }
    }
}

impl<St> Publisher for FromStream<St>
where
    St: Stream + Send + 'static,
    St::Item: Send + 'static,
{
    type Item = St::Item;
    type Error = Infallible;
    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = St::Item, Error = Infallible>,
    {
        drain::start(StreamSource(Box::pin(self.stream)), subscriber);
    }
}

impl<St, T, E> Publisher for FromTryStream<St>
where
    St: Stream<Item = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    type Item = T;
    type Error = E;
    fn subscribe<S>(self, subscriber: S)
    where
        S: Subscriber<Item = T, Error = E>,
    {
        drain::start(TryStreamSource(Box::pin(self.stream)), subscriber);
    }
}

impl<St> fmt::Debug for FromStream<St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromStream").finish_non_exhaustive()
    }
}

impl<St> fmt::Debug for FromTryStream<St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromTryStream").finish_non_exhaustive()
    }
}
