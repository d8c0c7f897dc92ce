//! Multicast: one upstream, many subscribers.

pub(crate) mod hub;
pub(crate) mod processor;
pub(crate) mod publish;
pub(crate) mod replay;
