//! Compiles and runs the code of the guide's chapters, and of the README, as doctests.
//! Nothing here is public API: each module is one page.
#![allow(missing_docs)]

include!(concat!(env!("OUT_DIR"), "/chapters.rs"));
