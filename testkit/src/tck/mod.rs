//! The Reactive Streams conformance suite (to be written).
