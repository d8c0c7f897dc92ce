//! Bridges both ways between Spillway and `futures::Stream`: an async-stream generator
//! and a tokio-stream interval feed a pipeline, and the pipeline is consumed as a stream
//! inside a tokio task. Run with `cargo run --example streams`.
//!
//! **Replaces, in Node.js:** `Readable.from(asyncGenerator)` and `for await (const x of
//! readable)`: an async generator becomes a publisher (`from_stream`), and a pipeline is
//! read as a `Stream` (`into_stream`), with demand passed both ways.

use std::time::Duration;

use futures::StreamExt;
use spillway::prelude::*;
use tokio_stream::wrappers::IntervalStream;

#[tokio::main]
pub(crate) async fn main() {
    // 1. An async-stream generator, polled only while the pipeline has demand.
    let readings = async_stream::stream! {
        for i in 0..5u32 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            yield i * 10;
        }
    };
    let doubled: Vec<u32> = from_stream(readings)
        .map(|x| x * 2)
        .collect()
        .await
        .expect("the generator cannot fail");
    println!("async-stream -> spillway -> collect: {doubled:?}");
    assert_eq!(doubled, vec![0, 20, 40, 60, 80]);

    // 2. A tokio-stream interval, consumed through `into_stream` in a spawned task:
    //    the task pulls 4 at a time, and the interval is polled only as it pulls.
    let ticks = IntervalStream::new(tokio::time::interval(Duration::from_millis(2)));
    let consumer = tokio::spawn(async move {
        from_stream(ticks)
            .map(|instant| instant.elapsed())
            .into_stream(4)
            .take(8)
            .count()
            .await
    });
    let seen = consumer.await.expect("the consumer task ran");
    println!("tokio-stream interval -> spillway -> Stream in a task: {seen} ticks");
    assert_eq!(seen, 8);
}
