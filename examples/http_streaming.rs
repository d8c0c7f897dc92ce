//! The seed document's example 5 as a real service: an axum server whose responses are
//! Spillway pipelines.
//!
//! **Replaces, in Node.js:** `res.write(chunk)` in a loop that waits for `'drain'` when it
//! returns `false` (or `stream.pipe(res)`), with a global counter for the shared budget.
//! Here a pipeline is the response body: the client's reading is the demand.
//!
//! * `GET /events` (endless) and `GET /events?count=N`: generated event lines, every
//!   stream under **one shared budget** (a few dozen lines in transit across all
//!   connections, handed out fairly), each client's reading driving its own demand: a
//!   slow client holds its producer, memory stays bounded.
//! * `GET /ticker`: one stream **throttled** by a token bucket (lossless shaping).
//! * `GET /stats`: the budget, the streams and the drain as JSON (the `serde` feature).
//! * `POST /admin/stop` and `POST /admin/resume`: the **emergency stop** (every stream
//!   under the budget fails at once; new ones are refused with 503 until resumed).
//! * `POST /admin/drain`: a **graceful drain**: no new event is produced, what is in
//!   flight is delivered, every stream ends cleanly, then axum's graceful shutdown ends
//!   the server (a stream still running at the deadline is aborted).
//!
//! Where the JavaScript version polls a "global backpressure" number and sleeps, here
//! the budget and each socket's own flow control do the holding.
//!
//! Run with `cargo run --example http_streaming`: the server starts on loopback, a fast,
//! a slow, a leaving and a ticker client use it for about two seconds, `/stats` is
//! printed, then the service drains and exits. (Features `http` and `serde` of `spillway`;
//! this repository's examples have them.)

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use spillway::http::body;
use spillway::operators::{
    Budget, BudgetStats, DrainReport, GracefulDrain, RateLimitMode, TokenBucket,
};
use spillway::prelude::*;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// How the service is set up.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Event lines in transit at once across all `/events` streams.
    pub(crate) budget: u64,
    /// Ticks per second on `/ticker` (bursts of 10).
    pub(crate) ticks_per_second: u64,
    /// How long a drain waits for the streams to finish before aborting them.
    pub(crate) drain_deadline: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            budget: 24,
            ticks_per_second: 100,
            drain_deadline: Duration::from_secs(5),
        }
    }
}

/// The service's shared state: one budget, one drain, counters.
#[derive(Clone)]
pub(crate) struct Service {
    config: Config,
    budget: Budget,
    drain: GracefulDrain,
    /// `POST /admin/drain` notifies it; the server's graceful shutdown waits for it.
    drain_requested: Arc<Notify>,
    opened: Arc<AtomicU64>,
    produced: Arc<AtomicU64>,
}

/// `GET /stats`: `BudgetStats` serialises as it is (the `serde` feature).
#[derive(Debug, serde::Serialize)]
pub(crate) struct Stats {
    /// The shared budget: lines in transit now, at most, in all.
    pub(crate) budget: BudgetStats,
    /// Streams opened since the start.
    pub(crate) streams_opened: u64,
    /// Streams running now.
    pub(crate) streams_active: usize,
    /// Event lines produced by all streams.
    pub(crate) lines_produced: u64,
}

/// Every event line is this long, newline included.
pub(crate) const EVENT_LINE: usize = 100;

impl Service {
    pub(crate) fn new(config: Config) -> Result<Service, spillway::ConfigError> {
        Ok(Service {
            budget: Budget::new(config.budget)?,
            config,
            drain: GracefulDrain::new(),
            drain_requested: Arc::new(Notify::new()),
            opened: Arc::new(AtomicU64::new(0)),
            produced: Arc::new(AtomicU64::new(0)),
        })
    }

    /// `count` event lines of stream `stream` (endless if `None`), as a publisher.
    fn event_lines(
        &self,
        count: Option<u64>,
    ) -> impl Publisher<Item = String, Error = std::convert::Infallible> + Send + 'static {
        let stream = self.opened.fetch_add(1, Ordering::Relaxed);
        let produced = Arc::clone(&self.produced);
        generate(0u64, move |n| {
            if count.is_some_and(|c| *n >= c) {
                return None;
            }
            *n += 1;
            produced.fetch_add(1, Ordering::Relaxed);
            let head = format!("{{\"stream\":{stream},\"id\":{n},\"payload\":\"");
            let pad = EVENT_LINE - head.len() - 3;
            Some(format!("{head}{}\"}}\n", "x".repeat(pad)))
        })
    }

    fn stats(&self) -> Stats {
        let budget = self.budget.stats();
        Stats {
            budget,
            streams_opened: self.opened.load(Ordering::Relaxed),
            streams_active: self.drain.output().active(),
            lines_produced: self.produced.load(Ordering::Relaxed),
        }
    }
}

#[derive(serde::Deserialize)]
struct EventsQuery {
    count: Option<u64>,
}

pub(crate) fn router(service: Service) -> Router {
    Router::new()
        .route("/events", get(events))
        .route("/ticker", get(ticker))
        .route(
            "/stats",
            get(|State(s): State<Service>| async move { Json(s.stats()) }),
        )
        .route(
            "/admin/stop",
            post(|State(s): State<Service>| async move {
                s.budget.emergency_stop();
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/admin/resume",
            post(|State(s): State<Service>| async move {
                s.budget.resume();
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/admin/drain",
            post(|State(s): State<Service>| async move {
                s.drain_requested.notify_one();
                StatusCode::ACCEPTED
            }),
        )
        .with_state(service)
}

/// `GET /events`: the lines pass the drain's input switch, the shared budget, then the
/// output switch; the client's reading drives the demand.
async fn events(
    State(s): State<Service>,
    Query(q): Query<EventsQuery>,
) -> Result<Body, (StatusCode, &'static str)> {
    // Refused with a status while stopped (a pipeline subscribed now would fail at once,
    // after a 200 the client could not tell from a broken connection).
    if s.budget.is_stopped() {
        return Err((StatusCode::SERVICE_UNAVAILABLE, "emergency stop\n"));
    }
    let pipeline = s
        .event_lines(q.count)
        .kill_switch(s.drain.input())
        .within_budget(&s.budget)
        .kill_switch(s.drain.output());
    Ok(Body::new(body(pipeline)))
}

/// `GET /ticker`: endless ticks, shaped to `ticks_per_second` (nothing dropped: the
/// producer is paused between tokens).
async fn ticker(State(s): State<Service>) -> Result<Body, (StatusCode, String)> {
    let bucket = TokenBucket {
        rate: s.config.ticks_per_second,
        per: Duration::from_secs(1),
        burst: 10,
    };
    let ticks = generate(0u64, |n| {
        *n += 1;
        Some(format!("tick {n}\n"))
    })
    .kill_switch(s.drain.input())
    .rate_limit(bucket, RateLimitMode::Delay)
    .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .kill_switch(s.drain.output());
    Ok(Body::new(body(ticks)))
}

/// A listener whose connections have a send buffer of `bytes` (Linux doubles it): what
/// the kernel holds for a slow client, on top of the pipeline's own few items. The
/// default grows to megabytes per connection.
pub(crate) fn listener(addr: SocketAddr, bytes: u32) -> std::io::Result<TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_send_buffer_size(bytes)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Serves until `POST /admin/drain`, then drains the streams (aborting those still
/// running at the deadline) and lets axum finish its graceful shutdown.
pub(crate) async fn serve(listener: TcpListener, service: Service) -> std::io::Result<DrainReport> {
    let (report_tx, report_rx) = tokio::sync::oneshot::channel();
    let (drain, requested, deadline) = (
        service.drain.clone(),
        Arc::clone(&service.drain_requested),
        service.config.drain_deadline,
    );
    axum::serve(listener, router(service))
        .with_graceful_shutdown(async move {
            requested.notified().await;
            let _ = report_tx.send(drain.drain(deadline).await);
        })
        .await?;
    Ok(report_rx.await.expect("the shutdown signal ran the drain"))
}

/// A minimal HTTP client for the demo: one request on its own connection.
pub(crate) mod client {
    use std::net::SocketAddr;

    use bytes::Bytes;
    use http_body_util::{BodyExt, Empty};
    use hyper::body::Incoming;
    use hyper::{Method, Request, Response};
    use hyper_util::rt::TokioIo;
    use tokio::net::TcpStream;

    pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

    pub(crate) async fn send(
        addr: SocketAddr,
        method: Method,
        path: &str,
    ) -> Result<Response<Incoming>, BoxError> {
        let stream = TcpStream::connect(addr).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost")
            .body(Empty::<Bytes>::new())?;
        Ok(sender.send_request(request).await?)
    }

    /// `GET /stats`, parsed.
    pub(crate) async fn stats(addr: SocketAddr) -> Result<serde_json::Value, BoxError> {
        let response = send(addr, Method::GET, "/stats").await?;
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok(serde_json::from_slice(&bytes)?)
    }
}

#[tokio::main]
async fn main() -> Result<(), client::BoxError> {
    use hyper::Method;
    use spillway::http::read_body;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = listener("127.0.0.1:0".parse()?, 32 * 1024)?;
    let addr: SocketAddr = listener.local_addr()?;
    let server = tokio::spawn(serve(listener, Service::new(Config::default())?));
    println!("serving on http://{addr}\n");

    // A fast client: 200,000 events (20 MB), read back as a publisher.
    let fast = tokio::spawn(async move {
        let response = client::send(addr, Method::GET, "/events?count=200000").await?;
        let bytes = read_body(response.into_body())
            .fold(0usize, |n, chunk| n + chunk.len())
            .await?;
        Ok::<_, client::BoxError>(bytes)
    });
    // A slow client: 16 KiB every 100 ms from an endless stream, until the drain ends it.
    let slow = tokio::spawn(async move {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_recv_buffer_size(32 * 1024)?;
        let mut socket = socket.connect(addr).await?;
        socket
            .write_all(b"GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await?;
        let (mut buf, mut total) = (vec![0u8; 16 * 1024], 0usize);
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            match socket.read(&mut buf).await? {
                0 => return Ok::<_, client::BoxError>(total),
                n => total += n,
            }
        }
    });
    // A client that leaves after 64 KiB: its stream is cancelled, its producer released.
    let leaving = tokio::spawn(async move {
        let mut socket = tokio::net::TcpStream::connect(addr).await?;
        socket
            .write_all(b"GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut buf = vec![0u8; 64 * 1024];
        socket.read_exact(&mut buf).await?;
        Ok::<_, client::BoxError>(buf.len())
    });
    // The throttled stream: 50 ticks at 100 per second.
    let ticker = tokio::spawn(async move {
        let response = client::send(addr, Method::GET, "/ticker").await?;
        let started = tokio::time::Instant::now();
        let ticks = read_body(response.into_body())
            .flat_map_iter(|chunk| {
                chunk
                    .into_iter()
                    .filter(|b| *b == b'\n')
                    .collect::<Vec<_>>()
            })
            .take(50)
            .count()
            .await?;
        Ok::<_, client::BoxError>((ticks, started.elapsed()))
    });

    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let s = client::stats(addr).await?;
        println!(
            "streams {} active / {} opened | lines produced {:>8} | budget in use {:>2}/{} (peak {})",
            s["streams_active"],
            s["streams_opened"],
            s["lines_produced"],
            s["budget"]["in_use"],
            s["budget"]["capacity"],
            s["budget"]["peak_in_use"]
        );
    }
    println!("\nfast client: {} bytes", fast.await??);
    println!("leaving client: left after {} bytes", leaving.await??);
    let (ticks, took) = ticker.await??;
    println!("ticker client: {ticks} ticks in {took:.2?} (100/s, bursts of 10)");
    println!(
        "/stats: {}",
        serde_json::to_string_pretty(&client::stats(addr).await?)?
    );

    println!("\n-- POST /admin/drain: no new events; streams finish what was produced --");
    client::send(addr, Method::POST, "/admin/drain").await?;
    let slow_total = slow.await??;
    let report = server.await??;
    println!("slow client: {slow_total} bytes, then a clean end");
    println!(
        "drain: {} streams finished, {} aborted",
        report.finished, report.aborted
    );
    Ok(())
}
