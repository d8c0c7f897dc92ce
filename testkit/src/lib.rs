//! Spillway test kit.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
