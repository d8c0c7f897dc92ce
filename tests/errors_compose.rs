//! A pipeline's error composes with the error crates of the field: `?` into
//! `anyhow::Result`, `#[from]` into a `thiserror` enum, `Box<dyn Error>`; and an error
//! chain names the user's error once (anyhow's `{:#}` printed it twice when
//! `Error::User` both displayed and sourced it).

use spillway::prelude::*;
use spillway::Error;

#[derive(Debug, thiserror::Error, PartialEq)]
enum ParseError {
    #[error("bad line {0:?}")]
    BadLine(String),
    #[error("while reading")]
    Io(#[source] IoLike),
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("disk on fire")]
struct IoLike;

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("ingest failed")]
    Pipeline(#[from] Error<ParseError>),
}

/// Lines 1, 2, then a bad one.
fn lines() -> impl Publisher<Item = u64, Error = ParseError> {
    from_try_stream(futures::stream::iter(vec![
        Ok(1),
        Ok(2),
        Err(ParseError::BadLine("x".to_string())),
    ]))
}

async fn ingest_with_anyhow() -> anyhow::Result<u64> {
    let n = lines().count().await?;
    Ok(n)
}

async fn ingest_with_context() -> anyhow::Result<u64> {
    use anyhow::Context as _;
    lines().count().await.context("reading the input")
}

async fn ingest_with_thiserror() -> Result<u64, AppError> {
    Ok(lines().count().await?)
}

async fn infallible_with_anyhow() -> anyhow::Result<u64> {
    Ok(range(0, 3).count().await?)
}

#[test]
fn question_mark_into_anyhow_names_the_error_once() {
    let e = futures::executor::block_on(ingest_with_anyhow()).unwrap_err();
    assert_eq!(format!("{e:#}"), "bad line \"x\"");
    let e = futures::executor::block_on(ingest_with_context()).unwrap_err();
    assert_eq!(format!("{e:#}"), "reading the input: bad line \"x\"");
    assert_eq!(e.chain().count(), 2);
    let cause = e
        .downcast_ref::<Error<ParseError>>()
        .expect("the pipeline's error");
    assert_eq!(*cause, Error::User(ParseError::BadLine("x".to_string())));
}

#[test]
fn from_into_a_thiserror_enum_keeps_the_chain() {
    let e = futures::executor::block_on(ingest_with_thiserror()).unwrap_err();
    assert_eq!(e.to_string(), "ingest failed");
    let report = anyhow::Error::from(e);
    assert_eq!(format!("{report:#}"), "ingest failed: bad line \"x\"");
}

#[test]
fn the_user_error_source_is_its_own_source() {
    let e: Error<ParseError> = Error::User(ParseError::Io(IoLike));
    let report = anyhow::Error::from(e);
    // "while reading" once, then its own cause: the wrapper adds no link of its own.
    assert_eq!(format!("{report:#}"), "while reading: disk on fire");
}

#[test]
fn flow_control_errors_name_their_stage_and_have_no_source() {
    let e: Error<ParseError> = Error::Overflow {
        stage: "on_backpressure_buffer",
        capacity: 8,
    };
    let report = anyhow::Error::from(e);
    assert_eq!(report.chain().count(), 1);
    assert!(format!("{report:#}").starts_with("on_backpressure_buffer: overflow"));
}

#[test]
fn an_infallible_pipeline_uses_question_mark_too() {
    assert_eq!(
        futures::executor::block_on(infallible_with_anyhow()).unwrap(),
        3
    );
    let boxed: Result<u64, Box<dyn std::error::Error + Send + Sync>> =
        futures::executor::block_on(async { Ok(range(0, 2).count().await?) });
    assert_eq!(boxed.unwrap(), 2);
}

#[tokio::test]
async fn awaited_in_a_tokio_task_with_question_mark() {
    let task = tokio::spawn(async { ingest_with_anyhow().await });
    let e = task.await.expect("the task does not panic").unwrap_err();
    assert_eq!(e.to_string(), "bad line \"x\"");
}
