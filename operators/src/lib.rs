//! Spillway operators. Filled by the operator issues; empty for now.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
