//! The `http_streaming` example, run as its users would run it: its server on loopback,
//! real clients. Slow clients stay bounded while fast ones finish, the shared budget
//! holds across connections, the emergency stop fails running streams and refuses new
//! ones until resumed, the ticker is throttled (on a paused clock), and a drain ends
//! every endless stream cleanly with nothing in flight lost.

#[allow(dead_code)]
#[path = "../examples/http_streaming.rs"]
mod http_streaming;

mod support {
    pub(crate) mod watchdog;
}

use std::net::SocketAddr;
use std::time::Duration;

use http_streaming::{client, Config, Service, EVENT_LINE};
use hyper::Method;
use spillway::http::read_body;
use spillway::prelude::*;
use support::watchdog::{paused_with_watchdog, WATCHDOG};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// Starts the example's server with a 16 KiB send buffer per connection.
fn start(
    config: Config,
) -> (
    SocketAddr,
    JoinHandle<std::io::Result<spillway::operators::DrainReport>>,
) {
    let listener = http_streaming::listener("127.0.0.1:0".parse().unwrap(), 16 * 1024).unwrap();
    let addr = listener.local_addr().unwrap();
    let service = Service::new(config).unwrap();
    (addr, tokio::spawn(http_streaming::serve(listener, service)))
}

/// An endless `/events` request on a socket with a 16 KiB receive buffer.
async fn raw_events(addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream
        .write_all(b"GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    stream
}

async fn stats(addr: SocketAddr) -> serde_json::Value {
    client::stats(addr).await.unwrap()
}

/// The event lines of a chunked HTTP/1.1 response read to its end, and whether it ended
/// with the terminating chunk (a clean end).
fn event_lines(response: &[u8]) -> (u64, bool) {
    let text = String::from_utf8_lossy(response);
    let lines = text.matches("\"payload\"").count() as u64;
    (lines, response.ends_with(b"\r\n0\r\n\r\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_stay_bounded_the_budget_holds_and_a_drain_loses_nothing() {
    let (addr, server) = start(Config {
        budget: 8,
        ..Config::default()
    });
    // Six slow clients read the head and 4 KiB, then stop reading.
    let mut slow = Vec::new();
    for _ in 0..6 {
        let mut s = raw_events(addr).await;
        let mut first = vec![0u8; 4 * 1024];
        s.read_exact(&mut first).await.unwrap();
        assert!(first.starts_with(b"HTTP/1.1 200 OK"));
        slow.push((s, first));
    }
    // Two fast clients each read 20,000 events to the end meanwhile.
    let fast = |_| async move {
        let response = client::send(addr, Method::GET, "/events?count=20000")
            .await
            .unwrap();
        read_body(response.into_body())
            .fold(0usize, |n, chunk| n + chunk.len())
            .await
            .unwrap()
    };
    let (a, b) = tokio::time::timeout(WATCHDOG, futures::future::join(fast(0), fast(1)))
        .await
        .expect("slow clients do not hold fast ones");
    assert_eq!((a, b), (20_000 * EVENT_LINE, 20_000 * EVENT_LINE));

    let s = stats(addr).await;
    // The budget held across the eight connections.
    assert_eq!(s["budget"]["capacity"], 8);
    assert!(s["budget"]["peak_in_use"].as_u64().unwrap() <= 8, "{s}");
    assert_eq!(s["streams_opened"], 8);
    assert_eq!(s["streams_active"], 6);
    // The stalled streams are held: what they produced is what the sockets and the body
    // prefetch hold, not an endless source's output.
    let held = s["lines_produced"].as_u64().unwrap() - 40_000;
    assert!(
        held * (EVENT_LINE as u64) < 6 * 200 * 1024,
        "{held} lines produced for six stalled clients"
    );

    // A drain: no new event, the held ones are delivered, every stream ends cleanly.
    client::send(addr, Method::POST, "/admin/drain")
        .await
        .unwrap();
    let mut delivered = 0;
    for (mut s, mut got) in slow {
        tokio::time::timeout(WATCHDOG, s.read_to_end(&mut got))
            .await
            .expect("the drained stream ends")
            .unwrap();
        let (lines, clean) = event_lines(&got);
        assert!(clean, "a drained stream ends with the terminating chunk");
        delivered += lines;
    }
    let report = tokio::time::timeout(WATCHDOG, server)
        .await
        .expect("the server shuts down after the drain")
        .unwrap()
        .unwrap();
    assert_eq!((report.finished, report.aborted), (6, 0));
    // Every line produced for the slow clients reached them (but for a line a source
    // sent as the drain shut its input, at most one per stream).
    assert!(
        delivered <= held && held - delivered <= 6,
        "{held} produced, {delivered} delivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emergency_stop_fails_running_streams_and_refuses_new_ones_until_resumed() {
    let (addr, server) = start(Config::default());
    let response = client::send(addr, Method::GET, "/events").await.unwrap();
    let running = tokio::spawn(read_body(response.into_body()).count());
    // The stream is running (a few events through the budget) when the stop comes.
    tokio::time::timeout(WATCHDOG, async {
        while stats(addr).await["budget"]["passed"].as_u64().unwrap() < 100 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the stream runs");
    client::send(addr, Method::POST, "/admin/stop")
        .await
        .unwrap();
    let outcome = tokio::time::timeout(WATCHDOG, running)
        .await
        .expect("the running stream ends")
        .unwrap();
    assert!(outcome.is_err(), "an emergency stop is not a clean end");
    assert_eq!(stats(addr).await["budget"]["stopped"], true);

    // Refused while stopped, with a status.
    let refused = client::send(addr, Method::GET, "/events?count=10")
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);

    client::send(addr, Method::POST, "/admin/resume")
        .await
        .unwrap();
    let again = client::send(addr, Method::GET, "/events?count=1000")
        .await
        .unwrap();
    let bytes = tokio::time::timeout(
        WATCHDOG,
        read_body(again.into_body()).fold(0usize, |n, c| n + c.len()),
    )
    .await
    .expect("the stream after the resume ends")
    .unwrap();
    assert_eq!(bytes, 1000 * EVENT_LINE);

    client::send(addr, Method::POST, "/admin/drain")
        .await
        .unwrap();
    let report = tokio::time::timeout(WATCHDOG, server)
        .await
        .expect("the server shuts down")
        .unwrap()
        .unwrap();
    assert_eq!((report.finished, report.aborted), (0, 0));
}

#[test]
fn the_ticker_is_throttled_to_its_rate() {
    paused_with_watchdog(|| async {
        let (addr, _server) = start(Config {
            ticks_per_second: 100,
            ..Config::default()
        });
        let response = client::send(addr, Method::GET, "/ticker").await.unwrap();
        let started = tokio::time::Instant::now();
        let ticks: Vec<String> = read_body(response.into_body())
            .flat_map_iter(|chunk| {
                String::from_utf8(chunk.to_vec())
                    .unwrap()
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .take(110)
            .collect()
            .await
            .unwrap();
        let took = started.elapsed();
        // Nothing dropped: consecutive ticks.
        let expected: Vec<String> = (1..=110).map(|n| format!("tick {n}")).collect();
        assert_eq!(ticks, expected);
        // A burst of 10, then 100 per second: 100 more take a second (virtual).
        assert!(took >= Duration::from_millis(990), "{took:?}");
        assert!(took < Duration::from_millis(1100), "{took:?}");
    });
}
