//! The `http_streaming` example itself (`examples/http_streaming.rs`, included as it is)
//! run by the measurement driver shared with its plain-tokio peer
//! `http_streaming_tokio.rs`, for `scripts/compare_programs.sh`. No args: 8 clients each
//! reading 20,000 event lines, then the behaviour check and a drain. See
//! `driver::run_http!` for the options.

#[allow(dead_code)]
#[path = "../../examples/http_streaming.rs"]
mod http_streaming;

#[allow(dead_code)]
#[path = "driver.rs"]
mod driver;

#[tokio::main]
async fn main() -> Result<(), driver::BoxError> {
    driver::run_http!(http_streaming, "spillway")
}
