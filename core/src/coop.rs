//! A cooperative budget for async passes, tokio's `coop` idea without tokio: a terminal
//! future's poll (and any drain loop of an async source entered outside one) opens a
//! budget of [`POLL_BUDGET`] pulls for the current thread; every pull of an async pass
//! takes one, in every stage reached from there. When it is spent, a pass schedules its
//! continuation and returns, so the poll hands control back to the executor.
//!
//! Without it, a chain of async stages whose futures are always ready (a `map_async`
//! over a `from_stream`) re-entered one another's passes and ran a whole stream inside
//! one poll: each pass was bounded, their sum was not.

use std::cell::Cell;

/// Pulls of async passes per terminal-future poll (or per entry of a drain loop outside
/// one), across every stage reached from it.
pub const POLL_BUDGET: u32 = 256;

thread_local! {
    static BUDGET: Cell<Option<u32>> = const { Cell::new(None) };
}

/// The budget of the current scope: set on `enter` unless an outer scope has one,
/// cleared when the scope that set it ends.
pub(crate) struct BudgetScope {
    owner: bool,
}

impl BudgetScope {
    /// Opens a budget of `units` pulls, or joins the one already open on this thread.
    pub(crate) fn enter(units: u32) -> BudgetScope {
        let owner = BUDGET.with(|b| {
            if b.get().is_some() {
                false
            } else {
                b.set(Some(units));
                true
            }
        });
        BudgetScope { owner }
    }
}

impl Drop for BudgetScope {
    fn drop(&mut self) {
        if self.owner {
            BUDGET.with(|b| b.set(None));
        }
    }
}

/// Takes one unit: false when the open budget is spent (no budget open: true). Under
/// loom, whose threads share one OS thread (and so this thread-local), always true.
#[cfg(loom)]
pub(crate) fn proceed() -> bool {
    true
}

/// Takes one unit: false when the open budget is spent (no budget open: true).
#[cfg(not(loom))]
pub(crate) fn proceed() -> bool {
    BUDGET.with(|b| match b.get() {
        Some(0) => false,
        Some(n) => {
            b.set(Some(n - 1));
            true
        }
        None => true,
    })
}
