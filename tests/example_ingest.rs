//! The `ingest` example, run as its users would run it (real file, tokio runtime, slow
//! sink): to the end, and with a graceful drain halfway. Every line taken in is either
//! counted as bad or written; the drain finishes the pipeline instead of aborting it.

#[allow(dead_code)]
#[path = "../examples/ingest.rs"]
mod ingest;

use std::time::Duration;

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("spillway-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn to_the_end_every_line_is_bad_or_written() {
    let d = dir("ingest-all");
    let config = ingest::Config {
        lines: 20_000,
        drain_after: None,
        write_time: Duration::from_millis(1),
    };
    let path = ingest::write_input(&d, config.lines).unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(60), ingest::run(&path, &config))
        .await
        .expect("the ingestion ends")
        .unwrap();
    std::fs::remove_dir_all(&d).unwrap();
    assert_eq!(outcome.lines_read, 20_000);
    assert_eq!(outcome.bad_lines, 20);
    assert_eq!(outcome.written, 19_980);
    assert_eq!(outcome.batches, 19_980_u64.div_ceil(500));
    assert_eq!(outcome.drained, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_drain_halfway_writes_everything_taken() {
    let d = dir("ingest-drain");
    let config = ingest::Config {
        lines: 200_000,
        drain_after: Some(5_000),
        write_time: Duration::from_millis(2),
    };
    let path = ingest::write_input(&d, config.lines).unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(60), ingest::run(&path, &config))
        .await
        .expect("the drain ends the ingestion")
        .unwrap();
    std::fs::remove_dir_all(&d).unwrap();
    assert_eq!(
        outcome.drained,
        Some((1, 0)),
        "finished by itself, not aborted"
    );
    assert!(
        outcome.lines_read < 200_000,
        "the input stopped: {outcome:?}"
    );
    assert!(outcome.written >= 5_000);
    assert_eq!(
        outcome.lines_read,
        outcome.bad_lines + outcome.written,
        "{outcome:?}"
    );
}
