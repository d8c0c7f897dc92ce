//! The measurement driver shared by the four program benches (`ingest_{spillway,tokio}`,
//! `http_streaming_{spillway,tokio}`): settings from the command line, the peak RSS, the
//! result line `scripts/compare_programs.sh` reads, and the HTTP load and behaviour check.
//! Both variants of a program run exactly this code around their own.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The value of `--name value` or `--name=value` on the command line (others, such as the
/// `--bench` cargo passes, are ignored).
pub(crate) fn arg(name: &str) -> Option<String> {
    let flag = format!("--{name}");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == flag {
            return args.next();
        }
        if let Some(v) = a.strip_prefix(&format!("{flag}=")) {
            return Some(v.to_owned());
        }
    }
    None
}

/// `--name N`, or `default`.
pub(crate) fn num(name: &str, default: u64) -> u64 {
    arg(name).map_or(default, |v| {
        v.replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("--{name}: not a number: {v}"))
    })
}

#[path = "../support/rss.rs"]
mod rss;
pub(crate) use rss::peak_rss_kb;

/// The line the script reads: `RESULT key=value ...`, with the peak RSS appended.
pub(crate) fn result(fields: &[(&str, String)]) {
    let mut line = String::from("RESULT");
    for (k, v) in fields {
        line.push_str(&format!(" {k}={v}"));
    }
    println!("{line} vmhwm_kb={}", peak_rss_kb());
}

/// A raw HTTP/1.1 request on its own connection (`Connection: close`), read to the end:
/// the first `keep` bytes of the response (head and start of the body), its last 16 bytes
/// (a clean chunked end is `0\r\n\r\n`) and its length.
pub(crate) async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    keep: usize,
) -> Result<Response, BoxError> {
    let mut socket = TcpStream::connect(addr).await?;
    let head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    socket.write_all(head.as_bytes()).await?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut r = Response::default();
    loop {
        let n = socket.read(&mut buf).await?;
        if n == 0 {
            return Ok(r);
        }
        let room = keep.saturating_sub(r.head.len()).min(n);
        r.head.extend_from_slice(&buf[..room]);
        r.tail.extend_from_slice(&buf[n.saturating_sub(16)..n]);
        r.tail.drain(..r.tail.len().saturating_sub(16));
        r.len += n as u64;
    }
}

/// What [`request`] read.
#[derive(Debug, Default)]
pub(crate) struct Response {
    pub(crate) head: Vec<u8>,
    pub(crate) tail: Vec<u8>,
    pub(crate) len: u64,
}

impl Response {
    /// Ended with the terminating chunk: a clean end of a chunked body.
    pub(crate) fn clean_end(&self) -> bool {
        self.tail.ends_with(b"\r\n0\r\n\r\n")
    }
}

/// `clients` concurrent `GET /events?count={count}` read as fast as they come: the bytes
/// received in all (heads and chunk framing included) and how long it took.
pub(crate) async fn load(
    addr: SocketAddr,
    clients: u64,
    count: u64,
) -> Result<(u64, Duration), BoxError> {
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let path = format!("/events?count={count}");
            tokio::spawn(async move { request(addr, "GET", &path, 16).await })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        let r = t.await??;
        if !r.head.starts_with(b"HTTP/1.1 200") || !r.clean_end() {
            let head = String::from_utf8_lossy(&r.head);
            return Err(format!("not a 200 with a clean end: {head}").into());
        }
        total += r.len;
    }
    Ok((total, started.elapsed()))
}

/// The behaviours both servers must have, checked from outside on a running server:
/// the emergency stop fails a running stream and refuses new ones with 503 until
/// resumed, the ticker runs at 100/s after a burst of 10, `/stats` answers, and a drain
/// (sent last) ends an endless stream cleanly. Panics on the first difference.
pub(crate) async fn check_behaviour(addr: SocketAddr) -> Result<(), BoxError> {
    // An endless stream, stopped: it fails (no terminating chunk), new ones get 503.
    let running = tokio::spawn(request(addr, "GET", "/events", 64));
    tokio::time::sleep(Duration::from_millis(100)).await;
    request(addr, "POST", "/admin/stop", 0).await?;
    let stopped = tokio::time::timeout(Duration::from_secs(10), running).await???;
    assert!(stopped.head.starts_with(b"HTTP/1.1 200"));
    assert!(!stopped.clean_end(), "a stop is not a clean end");
    let refused = request(addr, "GET", "/events?count=10", 64).await?;
    assert!(
        refused.head.starts_with(b"HTTP/1.1 503"),
        "refused while stopped"
    );
    request(addr, "POST", "/admin/resume", 0).await?;
    let again = request(addr, "GET", "/events?count=1000", usize::MAX).await?;
    let lines = String::from_utf8_lossy(&again.head)
        .matches("\"payload\"")
        .count();
    assert_eq!(lines, 1000, "a counted stream after the resume");
    assert!(again.clean_end(), "and it ends cleanly");

    // The ticker: 110 ticks (a burst of 10, then 100 at 100/s) take about a second.
    let mut ticker = TcpStream::connect(addr).await?;
    ticker
        .write_all(b"GET /ticker HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await?;
    let started = Instant::now();
    let (mut text, mut buf) = (String::new(), vec![0u8; 4096]);
    while text.matches("tick ").count() < 110 {
        let n = ticker.read(&mut buf).await?;
        assert!(n > 0, "the ticker ended early");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let took = started.elapsed();
    assert!(text.contains("tick 110\n"), "ticks in order, none dropped");
    assert!(
        took >= Duration::from_millis(950),
        "ticker too fast: {took:?}"
    );
    assert!(
        took < Duration::from_millis(1500),
        "ticker too slow: {took:?}"
    );
    drop(ticker);

    let stats = request(addr, "GET", "/stats", 4096).await?;
    let stats = String::from_utf8_lossy(&stats.head);
    for key in ["\"budget\"", "\"streams_opened\"", "\"lines_produced\""] {
        assert!(stats.contains(key), "/stats has {key}: {stats}");
    }

    // A drain ends an endless stream cleanly.
    let endless = tokio::spawn(request(addr, "GET", "/events", 64));
    tokio::time::sleep(Duration::from_millis(100)).await;
    request(addr, "POST", "/admin/drain", 0).await?;
    let drained = tokio::time::timeout(Duration::from_secs(10), endless).await???;
    assert!(drained.clean_end(), "a drain is a clean end");
    Ok(())
}

/// Whether `--name` is on the command line.
pub(crate) fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == format!("--{name}"))
}

/// The body of an `http_streaming_*` bench's `main`, over the module `$m` holding the
/// program (`listener`, `serve`, `Service`, `Config`, `EVENT_LINE`): starts the server on
/// loopback with the default config and the demo's 32 KiB send buffer, runs
/// `--clients` (8) clients each reading `--count` (20,000) event lines as fast as they
/// can, then (unless `--no-check`) checks the behaviours and drains; prints the result.
// Each bench uses one of the two macros.
#[allow(unused_macros)]
macro_rules! run_http {
    ($m:tt, $variant:expr) => {{
        let clients = driver::num("clients", 8);
        let count = driver::num("count", 20_000);
        let listener = $m::listener("127.0.0.1:0".parse()?, 32 * 1024)?;
        let addr = listener.local_addr()?;
        let service = $m::Service::new($m::Config::default())?;
        let server = tokio::spawn($m::serve(listener, service));
        let (bytes, took) = driver::load(addr, clients, count).await?;
        if driver::flag("no-check") {
            driver::request(addr, "POST", "/admin/drain", 0).await?;
        } else {
            driver::check_behaviour(addr).await?;
            println!("behaviour check passed");
        }
        let report = server.await??;
        let payload = (clients * count) as f64 * $m::EVENT_LINE as f64;
        let secs = took.as_secs_f64();
        driver::result(&[
            ("variant", $variant.to_string()),
            ("clients", clients.to_string()),
            ("count", count.to_string()),
            ("wire_bytes", bytes.to_string()),
            ("secs", format!("{secs:.3}")),
            ("payload_mb_per_s", format!("{:.1}", payload / secs / 1e6)),
            ("drain", format!("{}/{}", report.finished, report.aborted)),
        ]);
        Ok(())
    }};
}
#[allow(unused_imports)]
pub(crate) use run_http;

/// The body of an `ingest_*` bench's `main`, over the module `$m` holding the program
/// (`Config`, `write_input`, `run`). `--generate DIR --lines N`: only writes the input
/// file `DIR/ingest-input.csv`. Otherwise ingests `--input FILE` (or a generated file of
/// `--lines`, 200,000 by default) with `--write-ms` (0) per batch and, with
/// `--drain-after N`, a graceful drain once N records were written; prints the result.
// Each bench uses one of the two macros.
#[allow(unused_macros)]
macro_rules! run_ingest {
    ($m:tt, $variant:expr) => {{
        let lines = driver::num("lines", 200_000);
        if let Some(dir) = driver::arg("generate") {
            let path = $m::write_input(std::path::Path::new(&dir), lines)?;
            println!("wrote {}", path.display());
            return Ok(());
        }
        let config = $m::Config {
            lines,
            drain_after: driver::arg("drain-after").map(|n| n.parse()).transpose()?,
            write_time: std::time::Duration::from_millis(driver::num("write-ms", 0)),
        };
        let temp = std::env::temp_dir().join(format!("ingest-bench-{}", std::process::id()));
        let path = match driver::arg("input") {
            Some(path) => std::path::PathBuf::from(path),
            None => {
                std::fs::create_dir_all(&temp)?;
                $m::write_input(&temp, config.lines)?
            }
        };
        let started = std::time::Instant::now();
        let outcome = $m::run(&path, &config).await;
        let secs = started.elapsed().as_secs_f64();
        let _ = std::fs::remove_dir_all(&temp);
        let outcome = outcome?;
        assert_eq!(outcome.lines_read, outcome.bad_lines + outcome.written);
        driver::result(&[
            ("variant", $variant.to_string()),
            ("lines_read", outcome.lines_read.to_string()),
            ("bad", outcome.bad_lines.to_string()),
            ("written", outcome.written.to_string()),
            ("batches", outcome.batches.to_string()),
            ("drained", format!("{:?}", outcome.drained).replace(' ', "")),
            ("secs", format!("{secs:.3}")),
            (
                "lines_per_s",
                format!("{:.0}", outcome.lines_read as f64 / secs),
            ),
        ]);
        Ok(())
    }};
}
#[allow(unused_imports)]
pub(crate) use run_ingest;
