//! Errors: retrying, resuming, converting.

pub(crate) mod err_into;
pub(crate) mod map_error;
pub(crate) mod on_error_resume;
pub(crate) mod on_error_return;
pub(crate) mod retry;
pub(crate) mod retry_backoff;
pub(crate) mod retry_when;
