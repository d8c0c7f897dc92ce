//! Rate, time and sampling: token buckets, delays, adaptive rate, sampling, throttling, debouncing, timeouts.

pub(crate) mod adaptive_rate;
pub(crate) mod audit;
pub(crate) mod debounce;
pub(crate) mod delay_elements;
pub(crate) mod delay_subscription;
pub(crate) mod delay_until;
pub(crate) mod rate_limit;
pub(crate) mod sample;
pub(crate) mod sample_first;
pub(crate) mod sample_first_with;
pub(crate) mod sample_with;
pub(crate) mod throttle;
pub(crate) mod throttle_latest;
pub(crate) mod timeout;
