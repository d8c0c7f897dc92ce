//! HTTP bodies (feature `http`): a publisher served as a response body, and a body read as
//! a publisher. Both speak [`http_body::Body`], the trait hyper, axum, reqwest and tonic
//! share, so no web framework is a dependency and the module is runtime-free.
//!
//! **Serving**: [`body`] turns a publisher of anything `Into<Bytes>` into a body. hyper
//! polls a body only when the connection can take more, so the client's reading drives
//! the demand: a client reading 1 KiB/s holds the producer at what the socket buffers
//! and [`BODY_PREFETCH`] items hold, and a client that disconnects drops the body, which
//! cancels the pipeline and releases its source. With axum:
//! `axum::body::Body::new(spillway::http::body(pipeline))`.
//!
//! **Reading**: [`read_body`] turns any body (a hyper client's response, an axum request)
//! into a publisher of its data frames, read as downstream requests them.
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::BodyExt;
//! use spillway_core::prelude::*;
//! use spillway_core::http::{body, read_body};
//! # futures::executor::block_on(async {
//! // A body from a pipeline; a publisher from that body.
//! let served = body(from_iter((0..3).map(|n| format!("line {n}\n"))));
//! let chunks: Vec<Bytes> = read_body(served).collect().await.unwrap();
//! assert_eq!(chunks.concat(), b"line 0\nline 1\nline 2\n");
//! // Any `http_body::Body` consumer reads it, here http-body-util's `collect`.
//! let all = body(from_iter(["a", "b"])).collect().await.unwrap().to_bytes();
//! assert_eq!(all, "ab");
//! # });
//! ```

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use futures_core::Stream;
use futures_util::TryStreamExt;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyDataStream;

use crate::sink::{IntoStream, PublisherExt};
use crate::{from_try_stream, Error, Publisher};

/// How many items [`body`] requests ahead of the connection: what a stalled client holds
/// besides the socket buffers.
pub const BODY_PREFETCH: usize = 16;

/// Empty items skipped in one poll before [`PublisherBody`] yields to the executor (an
/// empty data frame would mean nothing on the wire, so none is sent).
const EMPTY_ITEMS_PER_POLL: usize = 64;

/// `publisher` as an HTTP body: each item one data frame, the pipeline's completion the
/// body's end, its error the body's error (hyper then closes the connection without a
/// clean end, so the client sees the body fail rather than a truncated success).
/// Requests [`BODY_PREFETCH`] items ahead of the connection.
///
/// ```
/// use http_body_util::BodyExt;
/// use spillway_core::prelude::*;
/// use spillway_core::{http::body, Error};
/// # futures::executor::block_on(async {
/// let ok = body(from_iter(vec![vec![1u8, 2], vec![3]]));
/// assert_eq!(ok.collect().await.unwrap().to_bytes(), &[1u8, 2, 3][..]);
/// let failing = body(error::<String, _>("disk gone"));
/// assert!(matches!(failing.collect().await, Err(Error::User("disk gone"))));
/// # });
/// ```
pub fn body<P>(publisher: P) -> PublisherBody<P>
where
    P: Publisher,
    P::Item: Into<Bytes>,
{
    body_with_prefetch(publisher, BODY_PREFETCH)
}

/// [`body`] with another number of items requested ahead. `prefetch` 0 fails the body
/// with `Error::InvalidRequest` on its first poll.
///
/// ```
/// use http_body_util::BodyExt;
/// use spillway_core::prelude::*;
/// use spillway_core::http::body_with_prefetch;
/// # futures::executor::block_on(async {
/// let one_at_a_time = body_with_prefetch(from_iter((0..3).map(|n| n.to_string())), 1);
/// assert_eq!(one_at_a_time.collect().await.unwrap().to_bytes(), "012");
/// # });
/// ```
pub fn body_with_prefetch<P>(publisher: P, prefetch: usize) -> PublisherBody<P>
where
    P: Publisher,
    P::Item: Into<Bytes>,
{
    PublisherBody {
        stream: publisher.into_stream(prefetch),
        ended: false,
    }
}

/// The body of [`body`]. Dropping it (hyper does when the client goes away) cancels the
/// pipeline.
#[must_use = "a body does nothing unless polled"]
pub struct PublisherBody<P: Publisher> {
    stream: IntoStream<P>,
    ended: bool,
}

impl<P: Publisher> fmt::Debug for PublisherBody<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublisherBody")
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl<P> Body for PublisherBody<P>
where
    P: Publisher,
    P::Item: Into<Bytes>,
{
    type Data = Bytes;
    type Error = Error<P::Error>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        for _ in 0..EMPTY_ITEMS_PER_POLL {
            match Pin::new(&mut this.stream).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(item))) => {
                    let data: Bytes = item.into();
                    if !data.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.ended = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    this.ended = true;
                    return Poll::Ready(None);
                }
            }
        }
        // Only empty items so far: let the executor run others, then continue.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.ended
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// The data frames of `body` as a publisher of [`Bytes`], read as downstream requests
/// them (a frame per request: the body is not read ahead). A trailers frame is skipped;
/// the body's error fails the publisher with `Error::User`.
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use spillway_core::prelude::*;
/// use spillway_core::http::read_body;
/// # futures::executor::block_on(async {
/// let frames = read_body(Full::new(Bytes::from_static(b"hello"))).collect().await.unwrap();
/// assert_eq!(frames, [Bytes::from_static(b"hello")]);
/// # });
/// ```
pub fn read_body<B>(body: B) -> impl Publisher<Item = Bytes, Error = B::Error> + Send + 'static
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Send + 'static,
{
    from_try_stream(
        BodyDataStream::new(body).map_ok(|mut data| data.copy_to_bytes(data.remaining())),
    )
}
