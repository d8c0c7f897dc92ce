//! `OnBackpressureBuffer::release_handle`: the seed's emergency pressure release.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use spillway::operators::{BufferOverflow, DropReason};
use spillway::prelude::*;
use spillway_testkit::{TestPublisher, TestSubscriber};

#[test]
fn release_drops_the_oldest_fraction_and_resumes_a_paused_upstream() {
    let upstream = TestPublisher::<u32, Infallible>::new();
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let log = dropped.clone();
    let buffer = upstream
        .publisher()
        .on_backpressure_buffer(8, BufferOverflow::Backpressure)
        .unwrap()
        .on_drop(move |item, reason| log.lock().unwrap().push((item, reason)));
    let (stats, release) = (buffer.stats(), buffer.release_handle());
    let (subscriber, consumer) = TestSubscriber::new(0);
    buffer.subscribe(subscriber);
    assert_eq!(upstream.total_requested(), 8);
    for i in 0..8 {
        upstream.next(i);
    }
    assert_eq!(stats.snapshot().buffered, 8, "full and paused");

    assert_eq!(release.release(0.75), 6);
    assert_eq!(
        *dropped.lock().unwrap(),
        (0..6).map(|i| (i, DropReason::Evicted)).collect::<Vec<_>>(),
        "oldest first, each reported"
    );
    // Buffered fell to 2, at or below the low watermark (8 / 4): upstream is resumed.
    assert_eq!(upstream.total_requested(), 8 + 6);
    consumer.request(2);
    consumer.assert_items(&[6, 7]);
    let s = stats.snapshot();
    assert_eq!(s.dropped_for(DropReason::Evicted), 6);
    assert!(s.is_balanced(), "{s}");
}

#[test]
fn release_applies_to_every_live_subscription_and_clamps_the_fraction() {
    let buffer = range(0, 100)
        .on_backpressure_buffer(10, BufferOverflow::DropNewest)
        .unwrap();
    let release = buffer.release_handle();
    assert_eq!(release.release(0.5), 0, "nothing subscribed yet");
    let (subscriber, consumer) = TestSubscriber::<u64, Infallible>::new(0);
    buffer.subscribe(subscriber);
    assert_eq!(
        release.release(7.0),
        10,
        "a fraction above 1 releases everything"
    );
    assert_eq!(release.release(-1.0), 0);
    consumer.request(u64::MAX);
    consumer.assert_complete();
    consumer.cancel();
    assert_eq!(
        release.release(1.0),
        0,
        "an ended subscription is forgotten"
    );
}
