//! A test that could hang fails instead: `watchdog(name, limit, body)` runs `body` on its
//! own thread and panics if it has not returned within `limit`. Include with
//! `#[path = "support/watchdog.rs"] mod watchdog;`.

use std::sync::mpsc;
use std::time::Duration;

/// Runs `body` on its own thread; its result, or a panic naming `name` past `limit` (a
/// panic in `body` is reported as such).
pub(crate) fn watchdog<T: Send + 'static>(
    name: &str,
    limit: Duration,
    body: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let _ = tx.send(body());
        })
        .expect("a thread");
    match rx.recv_timeout(limit) {
        Ok(out) => out,
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The body panicked: show its panic, not a timeout.
            match worker.join() {
                Err(payload) => std::panic::resume_unwind(payload),
                Ok(()) => unreachable!("the body returned without sending"),
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{name} did not finish within {limit:?}: a hang")
        }
    }
}
