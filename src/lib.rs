//! **Spillway**: Reactive-Streams pipelines with real backpressure.
//!
//! This is the facade crate: it re-exports the protocol, sources and sinks of
//! [`spillway_core`] and the operators of [`spillway_operators`].
//!
//! ```
//! use spillway::prelude::*;
//! # futures::executor::block_on(async {
//! let sum = range(1, 101).fold(0, |a, b| a + b).await.unwrap();
//! assert_eq!(sum, 5050);
//! # });
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use spillway_core::*;
pub use spillway_operators as operators;

/// Everything a pipeline usually needs: `use spillway::prelude::*;`.
pub mod prelude {
    pub use spillway_core::prelude::*;
    pub use spillway_operators::OperatorExt;
}
