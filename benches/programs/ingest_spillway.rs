//! The `ingest` example itself (`examples/ingest.rs`, included as it is) run by the
//! measurement driver shared with its plain-tokio peer `ingest_tokio.rs`, for
//! `scripts/compare_programs.sh`. No args: 200,000 generated lines, no drain, a sink
//! without delay. See `driver::run_ingest!` for the options.

#[allow(dead_code)]
#[path = "../../examples/ingest.rs"]
mod ingest;

#[allow(dead_code)]
#[path = "driver.rs"]
mod driver;

#[tokio::main]
async fn main() -> Result<(), driver::BoxError> {
    driver::run_ingest!(ingest, "spillway")
}
