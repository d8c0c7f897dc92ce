//! A watchdog for tests on a paused tokio clock, where a `tokio::time::timeout` would be
//! skipped at once by the clock's auto-advance.

use std::sync::mpsc;
use std::time::Duration;

/// How long a test may take in real time before it counts as hung.
pub(crate) const WATCHDOG: Duration = Duration::from_secs(20);

/// Runs `test` on a current-thread runtime with a paused clock, on its own thread, and
/// fails if it has not finished after [`WATCHDOG`] of real time (a paused clock would
/// skip a `tokio::time::timeout` watchdog at once).
pub(crate) fn paused_with_watchdog<F, Fut>(test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (done, finished) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(test());
        let _ = done.send(());
    });
    match finished.recv_timeout(WATCHDOG) {
        Ok(()) => thread.join().unwrap(),
        // The test panicked: show its panic.
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(thread.join().unwrap_err())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("the test hung (watchdog)"),
    }
}
