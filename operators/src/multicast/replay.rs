//! `replay`: a [`Publish`] that also keeps the last `n` items for late subscribers.

use spillway_core::{ConfigError, Publisher};

use crate::multicast::publish::Publish;

/// Builds the publisher of [`replay`](crate::OperatorExt::replay): the shared hub keeps,
/// besides the undelivered items, the last `history` items every subscriber has seen,
/// and starts a late subscriber's cursor that many items back.
pub(crate) fn replay<P>(upstream: P, history: usize) -> Result<Publish<P>, ConfigError>
where
    P: Publisher,
    P::Item: Clone,
    P::Error: Clone,
{
    if history == 0 {
        return Err(ConfigError::new(
            "replay",
            "the history must be at least 1 item (use publish() for none)",
        ));
    }
    Ok(Publish::new(upstream, history))
}
