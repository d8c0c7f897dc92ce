//! Sources from tokio's `AsyncRead` and a sink into `AsyncWrite` (feature `io`): files,
//! sockets, pipes, HTTP bodies adapted to `AsyncRead`. Framing is tokio-util's codecs,
//! not hand-written: [`read_lines`] (`LinesCodec`, with a bound on a line's length) and
//! [`read_chunks`] (`BytesCodec`). The reader is read only as downstream demand allows:
//! a slow consumer holds the reader, so memory stays bounded.
//!
//! ```
//! use spillway_core::prelude::*;
//! use spillway_core::io::{read_chunks, read_lines, write_all};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let input: &[u8] = b"alpha\nbeta\n\ngamma";
//! assert_eq!(read_lines(input).collect().await?, ["alpha", "beta", "", "gamma"]);
//! // A copy: chunks in, bytes out, flushed at the end.
//! let mut out = Vec::new();
//! let written = write_all(read_chunks(input), &mut out).await?;
//! assert_eq!((written, out.as_slice()), (input.len() as u64, input));
//! # Ok(()) }
//! ```

use std::fmt;
use std::io;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::{BytesCodec, FramedRead, LinesCodec, LinesCodecError};

use crate::sink::PublisherExt;
use crate::{from_try_stream, Error, Publisher};

/// The longest line [`read_lines`] accepts (1 MiB): a longer one fails the source with an
/// `InvalidData` error instead of growing a buffer without bound.
pub const MAX_LINE: usize = 1 << 20;

/// How many items [`write_all`] requests ahead of the writes in progress.
pub const WRITE_AHEAD: usize = 16;

/// The lines of `reader` (without their `\n` or `\r\n`), read as downstream requests them.
/// A line longer than [`MAX_LINE`] bytes, or invalid UTF-8, fails the source with an
/// `io::Error` of kind `InvalidData`; a read error fails it with that error. A final line
/// without a newline is still a line.
///
/// ```
/// use spillway_core::prelude::*;
/// use spillway_core::io::read_lines;
/// # futures::executor::block_on(async {
/// let lines = read_lines(&b"one\r\ntwo\nthree"[..]).collect().await.unwrap();
/// assert_eq!(lines, ["one", "two", "three"]);
/// # });
/// ```
pub fn read_lines<R>(reader: R) -> impl Publisher<Item = String, Error = io::Error> + Send + 'static
where
    R: AsyncRead + Send + Unpin + 'static,
{
    read_lines_max(reader, MAX_LINE)
}

/// [`read_lines`] with another bound on a line's length.
///
/// ```
/// use std::io::ErrorKind;
/// use spillway_core::prelude::*;
/// use spillway_core::{io::read_lines_max, Error};
/// # futures::executor::block_on(async {
/// let e = read_lines_max(&b"short\nmuch too long\n"[..], 8).collect().await.unwrap_err();
/// assert!(matches!(e, Error::User(ref io) if io.kind() == ErrorKind::InvalidData));
/// # });
/// ```
pub fn read_lines_max<R>(
    reader: R,
    max_line: usize,
) -> impl Publisher<Item = String, Error = io::Error> + Send + 'static
where
    R: AsyncRead + Send + Unpin + 'static,
{
    let lines = FramedRead::new(reader, LinesCodec::new_with_max_length(max_line));
    from_try_stream(lines.map_err(move |e| match e {
        LinesCodecError::Io(e) => e,
        LinesCodecError::MaxLineLengthExceeded => io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a line longer than {max_line} bytes"),
        ),
    }))
}

/// The bytes of `reader` in chunks as they are read (each at most what one read
/// returned), as downstream requests them.
///
/// ```
/// use spillway_core::prelude::*;
/// use spillway_core::io::read_chunks;
/// # futures::executor::block_on(async {
/// let chunks = read_chunks(&b"0123456789"[..]).collect().await.unwrap();
/// assert_eq!(chunks.concat(), b"0123456789");
/// # });
/// ```
pub fn read_chunks<R>(reader: R) -> impl Publisher<Item = Bytes, Error = io::Error> + Send + 'static
where
    R: AsyncRead + Send + Unpin + 'static,
{
    from_try_stream(FramedRead::new(reader, BytesCodec::new()).map(|r| r.map(|b| b.freeze())))
}

/// Why [`write_all`] stopped, with how much it had written.
#[derive(Debug)]
pub enum WriteError<E> {
    /// The pipeline failed: nothing after its error was written; what came before was
    /// written and flushed.
    Pipeline {
        /// The pipeline's error.
        error: Error<E>,
        /// Bytes written (and flushed) before it.
        written: u64,
    },
    /// Writing failed: the pipeline was cancelled.
    Io {
        /// The writer's error.
        error: io::Error,
        /// Bytes written before it (not all of them necessarily flushed).
        written: u64,
    },
}

impl<E> WriteError<E> {
    /// Bytes written before the failure.
    pub fn written(&self) -> u64 {
        match self {
            WriteError::Pipeline { written, .. } | WriteError::Io { written, .. } => *written,
        }
    }
}

impl<E: fmt::Display> fmt::Display for WriteError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Pipeline { error, written } => {
                write!(
                    f,
                    "the pipeline failed after {written} bytes were written: {error}"
                )
            }
            WriteError::Io { error, written } => {
                write!(f, "writing failed after {written} bytes: {error}")
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for WriteError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WriteError::Pipeline { error, .. } => Some(error),
            WriteError::Io { error, .. } => Some(error),
        }
    }
}

/// Writes every item of `publisher` to `writer`, in order, then flushes it; resolves to
/// the bytes written. At most [`WRITE_AHEAD`] items are requested ahead of the write in
/// progress, so a slow writer (a slow client's socket) holds the pipeline. A failure of
/// either side stops it and reports the bytes written so far ([`WriteError`]); dropping
/// the future cancels the pipeline.
///
/// ```
/// use spillway_core::prelude::*;
/// use spillway_core::io::{write_all, WriteError};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut out = Vec::new();
/// let n = write_all(from_iter(vec!["a", "bc"]), &mut out).await.unwrap();
/// assert_eq!((n, out.as_slice()), (3, &b"abc"[..]));
///
/// let failing = from_try_stream(futures::stream::iter([Ok("ok"), Err("boom")]));
/// let e = write_all(failing, Vec::new()).await.unwrap_err();
/// assert!(matches!(e, WriteError::Pipeline { written: 2, .. }));
/// # }
/// ```
pub async fn write_all<P, W>(publisher: P, mut writer: W) -> Result<u64, WriteError<P::Error>>
where
    P: Publisher,
    P::Item: AsRef<[u8]>,
    W: AsyncWrite + Unpin,
{
    let mut items = publisher.into_stream(WRITE_AHEAD);
    let mut written = 0u64;
    while let Some(item) = items.next().await {
        let item = match item {
            Ok(item) => item,
            Err(error) => {
                // What came before is kept: flushed, then the pipeline's error.
                return match writer.flush().await {
                    Ok(()) => Err(WriteError::Pipeline { error, written }),
                    Err(error) => Err(WriteError::Io { error, written }),
                };
            }
        };
        let bytes = item.as_ref();
        if let Err(error) = writer.write_all(bytes).await {
            return Err(WriteError::Io { error, written });
        }
        written += bytes.len() as u64;
    }
    match writer.flush().await {
        Ok(()) => Ok(written),
        Err(error) => Err(WriteError::Io { error, written }),
    }
}
