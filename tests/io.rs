//! The `io` feature as a tokio service uses it: lines from a real file with a bad one
//! halfway, a copy, lines over TCP on loopback with a fast reader, a reader that stops
//! reading (the producer is held, memory stays bounded) and one that disconnects (the
//! pipeline is cancelled, its source released), and writers that fail.

use std::io::ErrorKind;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use spillway::io::{read_chunks, read_lines, write_all, WriteError};
use spillway::prelude::*;
use spillway::Error;
use tokio::io::{AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

const WATCHDOG: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_of_a_real_file_then_the_invalid_one_fails_the_source() {
    let dir = std::env::temp_dir().join(format!("spillway-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("lines.txt");
    let mut content = Vec::new();
    for i in 0..5_000 {
        content.extend_from_slice(format!("{i}\n").as_bytes());
    }
    content.extend_from_slice(b"\xff\xfe not utf-8\nafter\n");
    std::fs::write(&path, &content).unwrap();

    let file = tokio::fs::File::open(&path).await.unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&seen);
    let outcome = tokio::time::timeout(
        WATCHDOG,
        read_lines(file)
            .map(|l| l.parse::<u64>().expect("a number"))
            .for_each_async(4, move |n| {
                count.fetch_add(1, Ordering::Relaxed);
                async move {
                    tokio::task::yield_now().await; // a slow consumer
                    assert!(n < 5_000);
                }
            }),
    )
    .await
    .expect("the pipeline ends");
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        seen.load(Ordering::Relaxed),
        5_000,
        "every line before the bad one"
    );
    assert!(
        matches!(outcome, Err(Error::User(ref e)) if e.kind() == ErrorKind::InvalidData),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_copy_through_chunks_is_exact() {
    let input: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let mut out = Vec::new();
    let reader: &'static [u8] = Box::leak(input.clone().into_boxed_slice());
    let written = write_all(read_chunks(reader), &mut out).await.unwrap();
    assert_eq!(written, input.len() as u64);
    assert_eq!(out, input);
}

/// A server that writes `lines` numbered lines (endless if `None`) to each connection,
/// counting the lines its source produced.
async fn serve(
    limit: Option<u64>,
    produced: Arc<AtomicU64>,
) -> (
    std::net::SocketAddr,
    tokio::task::JoinHandle<Result<u64, WriteError<std::convert::Infallible>>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let lines = generate(0u64, move |n| {
            if limit.is_some_and(|l| *n >= l) {
                return None;
            }
            *n += 1;
            produced.fetch_add(1, Ordering::Relaxed);
            Some(format!("line {:>8} {}\n", *n, "x".repeat(80)))
        });
        write_all(lines, socket).await
    });
    (addr, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_over_tcp_to_a_fast_reader() {
    let produced = Arc::new(AtomicU64::new(0));
    let (addr, server) = serve(Some(20_000), Arc::clone(&produced)).await;
    let client = TcpStream::connect(addr).await.unwrap();
    let received = tokio::time::timeout(WATCHDOG, read_lines(client).count())
        .await
        .expect("the transfer ends")
        .unwrap();
    assert_eq!(received, 20_000);
    let written = server.await.unwrap().unwrap();
    assert_eq!(written, 20_000 * 95);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_stops_reading_holds_the_producer() {
    let produced = Arc::new(AtomicU64::new(0));
    let (addr, server) = serve(None, Arc::clone(&produced)).await;
    let mut client = TcpStream::connect(addr).await.unwrap();
    let mut first = vec![0u8; 95 * 10];
    client.read_exact(&mut first).await.unwrap();
    // The client reads no more: the socket buffers fill, the write blocks, the source
    // is asked for nothing more. (An endless server never finishes: the timeout is the
    // observation window, not a sleep.)
    let mut server = server;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut server)
            .await
            .is_err()
    );
    let held = produced.load(Ordering::Relaxed);
    // Loopback buffers hold a few MB (tens of thousands of 95-byte lines), plus the
    // write-ahead: far from endless.
    assert!(held < 200_000, "the producer ran ahead to {held} lines");
    assert!(
        tokio::time::timeout(Duration::from_millis(100), &mut server)
            .await
            .is_err()
    );
    let later = produced.load(Ordering::Relaxed);
    assert!(
        later - held <= spillway::io::WRITE_AHEAD as u64 + 1,
        "still producing: {held} -> {later}"
    );
    // The client disconnects: the write fails, the pipeline is cancelled.
    drop(client);
    let outcome = tokio::time::timeout(WATCHDOG, server)
        .await
        .expect("the server notices the disconnect")
        .unwrap();
    let e = outcome.unwrap_err();
    assert!(matches!(e, WriteError::Io { .. }), "{e}");
    assert!(e.written() >= 95 * 10);
}

/// Accepts `budget` bytes, then fails every write.
struct FailingWriter {
    budget: usize,
}

impl AsyncWrite for FailingWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.budget == 0 {
            return Poll::Ready(Err(std::io::Error::new(ErrorKind::BrokenPipe, "gone")));
        }
        let n = buf.len().min(self.budget);
        self.budget -= n;
        Poll::Ready(Ok(n))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn a_failing_writer_cancels_the_pipeline_and_says_what_was_written() {
    let pulled = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&pulled);
    let items = generate(0u64, move |n| {
        *n += 1;
        count.fetch_add(1, Ordering::Relaxed);
        Some(vec![b'a'; 10])
    });
    let e = write_all(items, FailingWriter { budget: 25 })
        .await
        .unwrap_err();
    assert!(
        matches!(e, WriteError::Io { ref error, written: 20 } if error.kind() == ErrorKind::BrokenPipe),
        "{e}"
    );
    // Cancelled: the source was asked for no more than the write-ahead.
    assert!(pulled.load(Ordering::Relaxed) <= 3 + spillway::io::WRITE_AHEAD as u64);
}

#[tokio::test]
async fn a_failing_pipeline_keeps_what_it_wrote() {
    let items = from_try_stream(futures::stream::iter([
        Ok("abc"),
        Ok("de"),
        Err("parse error"),
    ]));
    let mut out = Vec::new();
    let e = write_all(items, &mut out).await.unwrap_err();
    assert!(
        matches!(
            e,
            WriteError::Pipeline {
                error: Error::User("parse error"),
                written: 5
            }
        ),
        "{e}"
    );
    assert_eq!(out, b"abcde");
}
