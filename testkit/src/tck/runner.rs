//! Runs one check on its own thread: a panic, a deadlock or an endless loop in the
//! code under test fails that check instead of the whole suite.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use super::probe::guarded;
use super::Outcome;

/// Stack of a check thread. Generous, so that a publisher that recurses a little too
/// deep is caught by the depth counter (rule 3.3) before the stack runs out.
const CHECK_STACK: usize = 16 * 1024 * 1024;

pub(crate) fn run_isolated<F>(name: &str, timeout: Duration, check: F) -> Outcome
where
    F: FnOnce() -> Result<(), String> + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let spawned = thread::Builder::new()
        .name(format!("tck {name}"))
        .stack_size(CHECK_STACK)
        .spawn(move || {
            let result =
                guarded(check).unwrap_or_else(|msg| Err(format!("the check panicked: {msg}")));
            let _ = tx.send(result);
        });
    let handle = match spawned {
        Ok(h) => h,
        Err(e) => return Outcome::Failed(format!("could not start the check thread: {e}")),
    };
    match rx.recv_timeout(timeout) {
        Ok(result) => {
            let _ = handle.join();
            match result {
                Ok(()) => Outcome::Passed,
                Err(why) => Outcome::Failed(why),
            }
        }
        Err(RecvTimeoutError::Timeout) => Outcome::Failed(format!(
            "the check did not finish within {timeout:?} (deadlock or endless loop?); \
             its thread was abandoned"
        )),
        Err(RecvTimeoutError::Disconnected) => {
            Outcome::Failed("the check thread died without a result".to_string())
        }
    }
}
