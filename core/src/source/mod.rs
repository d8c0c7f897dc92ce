//! Sources: publishers that start a pipeline. Each produces only on demand.

mod create;
mod defer;
mod empty;
mod error;
mod from_iter;
mod from_stream;
mod generate;
mod interval;
mod just;
mod never;
mod range;

pub use self::create::{create, Create, EmitError, Emitter, EmitterStats, OverflowStrategy};
pub use self::defer::{defer, Defer};
pub use self::empty::{empty, Empty};
pub use self::error::{error, Fail};
pub use self::from_iter::{from_iter, FromIter};
pub use self::from_stream::{from_stream, from_try_stream, FromStream, FromTryStream};
pub use self::generate::{generate, try_generate, Generate, TryGenerate};
pub use self::interval::{interval, Interval};
pub use self::just::{just, Just};
pub use self::never::{never, Never};
pub use self::range::{range, Range};
