//! The `http` feature as a service uses it: an axum server on loopback whose response
//! bodies are pipelines, and real clients: a fast one reading the body back as a
//! publisher, a slow one (1 KiB per second) that must hold the producer, one that
//! disconnects mid-stream (the pipeline is cancelled, its source released), all three at
//! once on one server, and axum's graceful shutdown with endless bodies (they end
//! cleanly, or are aborted at the drain's deadline).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::Response;
use hyper_util::rt::TokioIo;
use spillway::http::{body, read_body};
use spillway::operators::GracefulDrain;
use spillway::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Notify;

mod support {
    pub(crate) mod watchdog;
}
use support::watchdog::{paused_with_watchdog, WATCHDOG};
/// Every line is this long, newline included.
const LINE: u64 = 100;

/// What the server's pipelines did: lines produced at the source, and sources released.
#[derive(Default)]
struct Counters {
    produced: AtomicU64,
    released: AtomicU64,
    release: Notify,
}

/// Dropped with the source's generator: the source is released.
struct ReleaseGuard(Arc<Counters>);

impl Drop for ReleaseGuard {
    fn drop(&mut self) {
        self.0.released.fetch_add(1, Ordering::SeqCst);
        self.0.release.notify_waiters();
    }
}

#[derive(Clone)]
struct App {
    counters: Arc<Counters>,
    drain: GracefulDrain,
}

/// `count` numbered lines of 100 bytes (endless if `None`), counted as produced.
fn lines(
    counters: &Arc<Counters>,
    count: Option<u64>,
) -> impl Publisher<Item = String, Error = std::convert::Infallible> + Send + 'static {
    let guard = ReleaseGuard(Arc::clone(counters));
    generate(0u64, move |n| {
        if count.is_some_and(|c| *n >= c) {
            return None;
        }
        guard.0.produced.fetch_add(1, Ordering::Relaxed);
        *n += 1;
        Some(format!("{:0>99}\n", *n))
    })
}

fn router(app: App) -> Router {
    Router::new()
        .route(
            "/lines/{count}",
            get(
                |State(app): State<App>, axum::extract::Path(count): axum::extract::Path<u64>| async move {
                    Body::new(body(lines(&app.counters, Some(count))))
                },
            ),
        )
        .route(
            "/endless-plain",
            get(|State(app): State<App>| async move { Body::new(body(lines(&app.counters, None))) }),
        )
        .route(
            "/endless",
            get(|State(app): State<App>| async move {
                let pipeline = lines(&app.counters, None)
                    .kill_switch(app.drain.input())
                    .map_async(4, |line| async move { line })
                    .expect("a valid concurrency")
                    .kill_switch(app.drain.output());
                Body::new(body(pipeline))
            }),
        )
        .route(
            "/stuck",
            get(|State(app): State<App>| async move {
                // Its 51st line never finishes its async work.
                let pipeline = lines(&app.counters, None)
                    .kill_switch(app.drain.input())
                    .map_async(4, |line| async move {
                        if line.trim_start_matches('0') == "51\n" {
                            std::future::pending::<()>().await;
                        }
                        line
                    })
                    .expect("a valid concurrency")
                    .kill_switch(app.drain.output());
                Body::new(body(pipeline))
            }),
        )
        .with_state(app)
}

/// A listener whose accepted sockets have a small send buffer, so a stalled client is
/// felt after a few KiB rather than megabytes.
fn small_buffered_listener() -> TcpListener {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(16 * 1024).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    socket.listen(64).unwrap()
}

/// A client socket with a small receive buffer.
async fn small_buffered_connect(addr: std::net::SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    socket.connect(addr).await.unwrap()
}

/// A GET with hyper's client; the connection runs on its own task.
async fn hyper_get(addr: std::net::SocketAddr, path: &str) -> Response<Incoming> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())
        .unwrap();
    sender.send_request(request).await.unwrap()
}

/// A raw HTTP/1.1 GET: the client controls its reading byte by byte.
async fn raw_get(addr: std::net::SocketAddr, path: &str) -> TcpStream {
    let mut stream = small_buffered_connect(addr).await;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// What a stalled reader lets the server produce at most: the prefetch of the body and
/// of `map_async`, hyper's write queue (16 buffers) and the two socket buffers (16 KiB
/// each, which Linux doubles). Far below an endless source.
const HELD_AT_MOST: u64 = 256 * 1024;

async fn start(app: App, listener: TcpListener) -> std::net::SocketAddr {
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(app)).await.unwrap() });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_client_reads_the_whole_body_back_as_a_publisher() {
    let counters = Arc::new(Counters::default());
    let app = App {
        counters: Arc::clone(&counters),
        drain: GracefulDrain::new(),
    };
    let addr = start(app, TcpListener::bind("127.0.0.1:0").await.unwrap()).await;
    let response = hyper_get(addr, "/lines/50000").await;
    assert_eq!(response.status(), 200);
    let (bytes, last) = tokio::time::timeout(
        WATCHDOG,
        read_body(response.into_body()).fold((0u64, Bytes::new()), |(n, _), chunk| {
            (n + chunk.len() as u64, chunk)
        }),
    )
    .await
    .expect("the body ends")
    .unwrap();
    assert_eq!(bytes, 50_000 * LINE);
    assert_eq!(&last[..], format!("{:0>99}\n", 50_000).as_bytes());
    assert_eq!(counters.produced.load(Ordering::SeqCst), 50_000);
}

#[test]
fn a_slow_client_holds_a_synchronous_producer() {
    slow_client_holds_the_producer("/endless-plain");
}

#[test]
fn a_slow_client_holds_a_producer_with_async_stages() {
    slow_client_holds_the_producer("/endless");
}

fn slow_client_holds_the_producer(path: &'static str) {
    paused_with_watchdog(move || async move {
        let counters = Arc::new(Counters::default());
        let app = App {
            counters: Arc::clone(&counters),
            drain: GracefulDrain::new(),
        };
        let addr = start(app, small_buffered_listener()).await;
        let mut client = raw_get(addr, path).await;
        // 1 KiB per (virtual) second for two minutes.
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        let mut kib = [0u8; 1024];
        let mut read = 0u64;
        let mut most_ahead = 0u64;
        for _ in 0..120 {
            ticks.tick().await;
            client.read_exact(&mut kib).await.unwrap();
            read += 1024;
            let produced = counters.produced.load(Ordering::SeqCst) * LINE;
            most_ahead = most_ahead.max(produced.saturating_sub(read));
            assert!(
                produced <= read + HELD_AT_MOST,
                "the producer ran ahead: {produced} bytes produced, {read} read"
            );
        }
        // It was held, not idle: it kept up with the reader.
        assert!(counters.produced.load(Ordering::SeqCst) * LINE >= read);
        assert!(most_ahead > 0);
        drop(client);
        tokio::time::timeout(WATCHDOG, async {
            while counters.released.load(Ordering::SeqCst) == 0 {
                counters.release.notified().await;
            }
        })
        .await
        .expect("the source is released after the client leaves");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_cancels_the_pipeline_and_releases_its_source() {
    let counters = Arc::new(Counters::default());
    let app = App {
        counters: Arc::clone(&counters),
        drain: GracefulDrain::new(),
    };
    let addr = start(app, small_buffered_listener()).await;
    let mut client = raw_get(addr, "/endless").await;
    let mut first = vec![0u8; 10 * 1024];
    client.read_exact(&mut first).await.unwrap();
    assert!(first.starts_with(b"HTTP/1.1 200 OK"));
    let released = counters.release.notified();
    drop(client);
    tokio::time::timeout(WATCHDOG, async {
        if counters.released.load(Ordering::SeqCst) == 0 {
            released.await;
        }
    })
    .await
    .expect("the source is released after the client leaves");
    // Released: nothing more is produced.
    let produced = counters.produced.load(Ordering::SeqCst);
    assert!(
        produced * LINE < HELD_AT_MOST + 10 * 1024,
        "{produced} lines"
    );
    tokio::task::yield_now().await;
    assert_eq!(counters.produced.load(Ordering::SeqCst), produced);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_a_fast_and_a_leaving_client_at_once() {
    let counters = Arc::new(Counters::default());
    let app = App {
        counters: Arc::clone(&counters),
        drain: GracefulDrain::new(),
    };
    let addr = start(app, small_buffered_listener()).await;
    // The slow one reads a little and then nothing while the others run.
    let mut slow = raw_get(addr, "/endless").await;
    let mut kib = [0u8; 1024];
    slow.read_exact(&mut kib).await.unwrap();
    let mut leaving = raw_get(addr, "/endless").await;
    leaving.read_exact(&mut kib).await.unwrap();
    drop(leaving);
    let fast = tokio::time::timeout(WATCHDOG, async {
        let response = hyper_get(addr, "/lines/20000").await;
        read_body(response.into_body())
            .fold(0u64, |n, chunk| n + chunk.len() as u64)
            .await
            .unwrap()
    })
    .await
    .expect("the fast client is not held by the slow one");
    assert_eq!(fast, 20_000 * LINE);
    tokio::time::timeout(WATCHDOG, async {
        while counters.released.load(Ordering::SeqCst) < 2 {
            let released = counters.release.notified();
            if counters.released.load(Ordering::SeqCst) >= 2 {
                break;
            }
            released.await;
        }
    })
    .await
    .expect("the leaving client's and the fast client's sources are released");
    // The slow client's endless source is held: what it produced is bounded.
    let produced = counters.produced.load(Ordering::SeqCst) - 20_000;
    assert!(
        produced * LINE < 2 * HELD_AT_MOST,
        "{produced} endless lines"
    );
    slow.read_exact(&mut kib).await.unwrap();
}

/// Serves `/endless` with axum's graceful shutdown, which starts when `stop` is notified
/// and first drains the pipelines with `deadline`.
async fn serve_with_graceful_shutdown(
    counters: &Arc<Counters>,
    deadline: Duration,
) -> (
    std::net::SocketAddr,
    Arc<Notify>,
    tokio::task::JoinHandle<spillway::operators::DrainReport>,
    GracefulDrain,
) {
    let drain = GracefulDrain::new();
    let app = App {
        counters: Arc::clone(counters),
        drain: drain.clone(),
    };
    let handle = drain.clone();
    let listener = small_buffered_listener();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(Notify::new());
    let signal = Arc::clone(&stop);
    let server = tokio::spawn(async move {
        let (report_tx, report_rx) = tokio::sync::oneshot::channel();
        axum::serve(listener, router(app))
            .with_graceful_shutdown(async move {
                signal.notified().await;
                let _ = report_tx.send(drain.drain(deadline).await);
            })
            .await
            .unwrap();
        report_rx.await.unwrap()
    });
    (addr, stop, server, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_ends_endless_bodies_cleanly_and_loses_nothing() {
    let counters = Arc::new(Counters::default());
    let (addr, stop, server, drain) = serve_with_graceful_shutdown(&counters, WATCHDOG).await;
    let response = hyper_get(addr, "/endless").await;
    let (seen, stop_sent) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (seen2, stop2, sent2) = (Arc::clone(&seen), Arc::clone(&stop), Arc::clone(&stop_sent));
    let received = tokio::time::timeout(
        WATCHDOG,
        read_body(response.into_body())
            .do_on_next(move |chunk| {
                // Shut down once 100 KiB have arrived.
                let n = seen2.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                if n + chunk.len() as u64 >= 100 * 1024 && sent2.swap(1, Ordering::SeqCst) == 0 {
                    stop2.notify_one();
                }
            })
            .fold(0u64, |n, chunk| n + chunk.len() as u64),
    )
    .await
    .expect("the endless body ends")
    .expect("cleanly: the terminating chunk arrived");
    let report = tokio::time::timeout(WATCHDOG, server)
        .await
        .expect("axum's graceful shutdown finishes")
        .unwrap();
    assert_eq!((report.finished, report.aborted), (1, 0));
    // Every line the source produced reached the client, whole, but for a line the source
    // sent as the input switch shut (refused there, counted).
    let refused = drain.input().refused();
    assert!(refused <= 1, "{refused} refused");
    assert_eq!(
        received,
        (counters.produced.load(Ordering::SeqCst) - refused) * LINE
    );
    assert_eq!(received % LINE, 0);
    assert_eq!(counters.released.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_aborts_a_stuck_pipeline_at_the_deadline() {
    let counters = Arc::new(Counters::default());
    let (addr, stop, server, _) =
        serve_with_graceful_shutdown(&counters, Duration::from_millis(200)).await;
    // The pipeline of this response is stuck on its 51st line: it cannot finish.
    let mut stalled = raw_get(addr, "/stuck").await;
    let mut first = vec![0u8; 50 * LINE as usize];
    stalled.read_exact(&mut first).await.unwrap();
    stop.notify_one();
    let report = tokio::time::timeout(WATCHDOG, server)
        .await
        .expect("axum's graceful shutdown finishes all the same")
        .unwrap();
    assert_eq!(report.aborted, 1);
    // The aborted body closed the connection without the terminating chunk.
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(WATCHDOG, stalled.read_to_end(&mut rest))
        .await
        .expect("the connection is closed");
    assert!(!rest.ends_with(b"0\r\n\r\n"), "a clean end after an abort");
}
