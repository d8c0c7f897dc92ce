//! The `http_streaming` example (`examples/http_streaming.rs`) written with tokio, axum and
//! async-stream only, as a user without Spillway would write it: the same routes and
//! behaviour, for `scripts/compare_programs.sh` to compare with the example.
//!
//! * `GET /events` (endless) and `GET /events?count=N`: 100-byte event lines; every line
//!   takes a permit of one shared `Semaphore` (the budget: lines in transit across all
//!   connections, handed out first come first served) and gives it back when hyper asks
//!   for the next line, i.e. once it took this one.
//! * `GET /ticker`: endless ticks through a hand-written token bucket (GCRA: 100/s,
//!   bursts of 10), delayed, never dropped.
//! * `GET /stats`: the budget, the streams and the lines produced as JSON.
//! * `POST /admin/stop` and `POST /admin/resume`: the emergency stop (every `/events`
//!   stream fails at its next line; new ones get 503 until resumed).
//! * `POST /admin/drain`: streams produce nothing more and end cleanly, then axum's
//!   graceful shutdown ends the server (streams still running at the deadline fail).
//!
//! Below `main` is only the measurement driver (`benches/programs/driver.rs`), shared with
//! `http_streaming_spillway.rs`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::Stream;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch, Notify, Semaphore};
use tokio::time::Instant;

/// How the service is set up.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Event lines in transit at once across all `/events` streams.
    pub(crate) budget: u64,
    /// Ticks per second on `/ticker` (bursts of 10).
    pub(crate) ticks_per_second: u64,
    /// How long a drain waits for the streams to finish before failing them.
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

/// What the running streams are told through a `watch` channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Running,
    /// Emergency stop: `/events` streams fail, new ones are refused.
    Stopped,
    /// Graceful drain: every stream ends cleanly.
    Draining,
    /// The drain's deadline passed: every stream fails.
    Aborting,
}

/// The service's shared state.
#[derive(Clone)]
pub(crate) struct Service(Arc<Shared>);

struct Shared {
    config: Config,
    /// One permit per event line in transit, across all streams.
    budget: Semaphore,
    peak_in_use: AtomicU64,
    mode: watch::Sender<Mode>,
    /// Streams running now: the drain waits for 0.
    active: watch::Sender<usize>,
    /// `POST /admin/drain` notifies it; the server's graceful shutdown waits for it.
    drain_requested: Notify,
    opened: AtomicU64,
    produced: AtomicU64,
}

/// How a drain went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DrainReport {
    /// Streams that ended cleanly after the drain began.
    pub(crate) finished: usize,
    /// Streams still running at the deadline, then failed.
    pub(crate) aborted: usize,
}

/// `GET /stats`.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Stats {
    pub(crate) budget: BudgetStats,
    /// Streams opened since the start.
    pub(crate) streams_opened: u64,
    /// Streams running now.
    pub(crate) streams_active: usize,
    /// Event lines produced by all streams.
    pub(crate) lines_produced: u64,
}

/// The shared budget in `/stats`.
#[derive(Debug, serde::Serialize)]
pub(crate) struct BudgetStats {
    pub(crate) capacity: u64,
    pub(crate) in_use: u64,
    pub(crate) peak_in_use: u64,
    pub(crate) stopped: bool,
}

/// Every event line is this long, newline included.
pub(crate) const EVENT_LINE: usize = 100;

/// Counts a stream as running while it lives.
struct Running(Arc<Shared>);

impl Running {
    fn new(s: &Arc<Shared>) -> Running {
        s.active.send_modify(|n| *n += 1);
        Running(Arc::clone(s))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.active.send_modify(|n| *n -= 1);
    }
}

type Line = Result<String, &'static str>;

impl Service {
    pub(crate) fn new(config: Config) -> Result<Service, &'static str> {
        if config.budget == 0 || config.ticks_per_second == 0 {
            return Err("budget and ticks_per_second must be positive");
        }
        Ok(Service(Arc::new(Shared {
            budget: Semaphore::new(config.budget as usize),
            config,
            peak_in_use: AtomicU64::new(0),
            mode: watch::Sender::new(Mode::Running),
            active: watch::Sender::new(0),
            drain_requested: Notify::new(),
            opened: AtomicU64::new(0),
            produced: AtomicU64::new(0),
        })))
    }

    /// `count` event lines (endless if `None`), each under a permit of the budget.
    fn event_lines(&self, count: Option<u64>) -> impl Stream<Item = Line> + Send + 'static {
        let s = Arc::clone(&self.0);
        let stream = s.opened.fetch_add(1, Ordering::Relaxed);
        let running = Running::new(&s);
        async_stream::stream! {
            let _running = running;
            let mut mode = s.mode.subscribe();
            let mut n = 0u64;
            while count.is_none_or(|c| n < c) {
                let permit = tokio::select! {
                    biased;
                    m = mode.wait_for(|m| *m != Mode::Running) => Err(m.map_or(Mode::Aborting, |m| *m)),
                    permit = s.budget.acquire() => Ok(permit.expect("the budget is never closed")),
                };
                let permit = match permit {
                    Ok(permit) => permit,
                    Err(Mode::Draining) => break,
                    Err(_) => {
                        yield Err("stopped");
                        break;
                    }
                };
                let in_use = s.config.budget - s.budget.available_permits() as u64;
                s.peak_in_use.fetch_max(in_use, Ordering::Relaxed);
                n += 1;
                s.produced.fetch_add(1, Ordering::Relaxed);
                let head = format!("{{\"stream\":{stream},\"id\":{n},\"payload\":\"");
                let pad = EVENT_LINE - head.len() - 3;
                yield Ok(format!("{head}{}\"}}\n", "x".repeat(pad)));
                // hyper polls for the next line once it took this one: out of transit.
                drop(permit);
            }
        }
    }

    /// Endless ticks, `ticks_per_second` after a burst of 10 (GCRA token bucket).
    fn ticks(&self) -> impl Stream<Item = Line> + Send + 'static {
        let s = Arc::clone(&self.0);
        let running = Running::new(&s);
        let period = Duration::from_secs(1) / s.config.ticks_per_second as u32;
        let burst = period * 9;
        async_stream::stream! {
            let _running = running;
            let mut mode = s.mode.subscribe();
            let mut due = Instant::now();
            for n in 1u64.. {
                let ending = tokio::select! {
                    biased;
                    m = mode.wait_for(|m| matches!(m, Mode::Draining | Mode::Aborting)) =>
                        Some(m.map_or(Mode::Aborting, |m| *m)),
                    () = tokio::time::sleep_until(due - burst) => None,
                };
                match ending {
                    None => {}
                    Some(Mode::Draining) => break,
                    Some(_) => {
                        yield Err("aborted");
                        break;
                    }
                }
                due = due.max(Instant::now()) + period;
                yield Ok(format!("tick {n}\n"));
            }
        }
    }

    fn stats(&self) -> Stats {
        let s = &self.0;
        Stats {
            budget: BudgetStats {
                capacity: s.config.budget,
                in_use: s.config.budget - s.budget.available_permits() as u64,
                peak_in_use: s.peak_in_use.load(Ordering::Relaxed),
                stopped: *s.mode.borrow() == Mode::Stopped,
            },
            streams_opened: s.opened.load(Ordering::Relaxed),
            streams_active: *s.active.borrow(),
            lines_produced: s.produced.load(Ordering::Relaxed),
        }
    }

    /// Tells every stream to end, waits for them until the deadline, then fails the rest.
    async fn drain(&self) -> DrainReport {
        let s = &self.0;
        s.mode.send_replace(Mode::Draining);
        let mut active = s.active.subscribe();
        let running = *active.borrow();
        let deadline = s.config.drain_deadline;
        if tokio::time::timeout(deadline, active.wait_for(|n| *n == 0))
            .await
            .is_ok()
        {
            return DrainReport {
                finished: running,
                aborted: 0,
            };
        }
        s.mode.send_replace(Mode::Aborting);
        let left = *active.borrow();
        DrainReport {
            finished: running.saturating_sub(left),
            aborted: left,
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
        .route(
            "/ticker",
            get(|State(s): State<Service>| async move { Body::from_stream(s.ticks()) }),
        )
        .route(
            "/stats",
            get(|State(s): State<Service>| async move { Json(s.stats()) }),
        )
        .route(
            "/admin/stop",
            post(|State(s): State<Service>| async move {
                s.0.mode.send_replace(Mode::Stopped);
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/admin/resume",
            post(|State(s): State<Service>| async move {
                s.0.mode.send_if_modified(|m| {
                    let stopped = *m == Mode::Stopped;
                    if stopped {
                        *m = Mode::Running;
                    }
                    stopped
                });
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/admin/drain",
            post(|State(s): State<Service>| async move {
                s.0.drain_requested.notify_one();
                StatusCode::ACCEPTED
            }),
        )
        .with_state(service)
}

/// `GET /events`: refused with 503 while stopped.
async fn events(
    State(s): State<Service>,
    Query(q): Query<EventsQuery>,
) -> Result<Body, (StatusCode, &'static str)> {
    if *s.0.mode.borrow() == Mode::Stopped {
        return Err((StatusCode::SERVICE_UNAVAILABLE, "emergency stop\n"));
    }
    Ok(Body::from_stream(s.event_lines(q.count)))
}

/// A listener whose connections have a send buffer of `bytes` (Linux doubles it).
pub(crate) fn listener(addr: SocketAddr, bytes: u32) -> std::io::Result<TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_send_buffer_size(bytes)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Serves until `POST /admin/drain`, then drains the streams and lets axum finish its
/// graceful shutdown.
pub(crate) async fn serve(listener: TcpListener, service: Service) -> std::io::Result<DrainReport> {
    let (report_tx, report_rx) = oneshot::channel();
    let draining = service.clone();
    axum::serve(listener, router(service))
        .with_graceful_shutdown(async move {
            draining.0.drain_requested.notified().await;
            let _ = report_tx.send(draining.drain().await);
        })
        .await?;
    Ok(report_rx.await.expect("the shutdown signal ran the drain"))
}

#[tokio::main]
async fn main() -> Result<(), driver::BoxError> {
    driver::run_http!(self, "tokio")
}

#[allow(dead_code)]
#[path = "driver.rs"]
mod driver;
