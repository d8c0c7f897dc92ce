//! `boxed()` and `Either`: pipelines of different types as one type (the branches of an
//! `if`, struct fields, a `Vec`), conformant on both sides, and awaited as users do.

use std::convert::Infallible;

use spillway::prelude::*;
use spillway::{BoxPublisher, Either, Error};
use spillway_testkit::tck::{self, CapturedUpstream, TckConfig};

/// What a service keeps: a pipeline chosen from its configuration at start-up.
struct Ingest {
    lines: BoxPublisher<u64, String>,
}

fn ingest(strict: bool) -> Ingest {
    let source = from_try_stream(futures::stream::iter((0..10u64).map(Ok::<u64, String>)));
    let lines = if strict {
        source
            .try_map(|x| {
                if x < 5 {
                    Ok(x)
                } else {
                    Err(format!("{x} is too big"))
                }
            })
            .boxed()
    } else {
        source.filter(|x| x % 2 == 0).map(|x| x * 10).boxed()
    };
    Ingest { lines }
}

#[test]
fn branches_of_an_if_in_a_struct_field() {
    let lenient = futures::executor::block_on(ingest(false).lines.collect());
    assert_eq!(lenient.unwrap(), vec![0, 20, 40, 60, 80]);
    let strict = futures::executor::block_on(ingest(true).lines.collect());
    assert_eq!(strict, Err(Error::User("5 is too big".to_string())));
}

#[test]
fn either_needs_no_box() {
    let pick = |left: bool| {
        if left {
            Either::Left(range(0, 3).map(|x| x + 1))
        } else {
            Either::Right(from_iter(vec![10u64, 20]))
        }
    };
    assert_eq!(
        futures::executor::block_on(pick(true).collect()).unwrap(),
        vec![1, 2, 3]
    );
    assert_eq!(
        futures::executor::block_on(pick(false).collect()).unwrap(),
        vec![10, 20]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vec_of_boxed_pipelines_merged_in_a_tokio_task() {
    let pipelines: Vec<BoxPublisher<u64, Infallible>> = vec![
        range(0, 100).boxed(),
        range(0, 100).map(|x| x * 2).boxed(),
        from_stream(futures::stream::iter(0..50u64)).boxed(),
    ];
    let total = tokio::spawn(async move {
        let mut sum = 0;
        for p in pipelines {
            sum += p.fold(0u64, |a, x| a + x).await.unwrap();
        }
        sum
    })
    .await
    .unwrap();
    assert_eq!(total, 4950 + 9900 + 1225);
}

#[test]
fn a_boxed_stage_keeps_backpressure() {
    let (sub, down) = spillway_testkit::TestSubscriber::<u64, Infallible>::new(2);
    range(0, 1_000_000)
        .boxed()
        .map(|x| x + 1)
        .boxed()
        .subscribe(sub);
    down.assert_items(&[1, 2]);
    down.request(1);
    down.assert_items(&[1, 2, 3]);
    down.cancel();
}

#[test]
fn boxed_and_either_pass_the_conformance_suite() {
    let config = || TckConfig::synchronous().cannot_fail("over a range");
    tck::verify_publisher_with(tck::publisher_factory(|n| range(0, n).boxed()), config())
        .assert_all_passed();
    tck::verify_publisher_with(
        tck::publisher_factory(|n| {
            if n % 2 == 0 {
                Either::Left(range(0, n))
            } else {
                Either::Right(from_iter((0..n).collect::<Vec<_>>()))
            }
        }),
        config(),
    )
    .assert_all_passed();
    let input = tck::operator_subscriber(
        |up: CapturedUpstream<u64, String>| up.boxed().map(|x| x + 1).boxed(),
        |i| i,
    );
    tck::verify_subscriber(input).assert_all_passed();
}

/// A publisher that is not `Send`: its items come from an `Rc` kept on this thread.
struct FromRc(std::rc::Rc<Vec<u64>>);

impl Publisher for FromRc {
    type Item = u64;
    type Error = Infallible;
    fn subscribe<S: Subscriber<Item = u64, Error = Infallible>>(self, s: S) {
        from_iter(self.0.to_vec()).subscribe(s);
    }
}

static_assertions::assert_not_impl_any!(spillway::LocalBoxPublisher<u64, Infallible>: Send, Sync);
static_assertions::assert_impl_all!(BoxPublisher<u64, Infallible>: Send);

#[test]
fn a_publisher_that_is_not_send_boxes_locally() {
    let shared = std::rc::Rc::new(vec![4, 5, 6]);
    // Both branches as one local type: one holds an `Rc`, the other is `Send`.
    let pick = |local: bool| -> spillway::LocalBoxPublisher<u64, Infallible> {
        if local {
            FromRc(std::rc::Rc::clone(&shared))
                .map(|x| x * 2)
                .boxed_local()
        } else {
            range(0, 2).boxed_local()
        }
    };
    futures::executor::block_on(async {
        assert_eq!(pick(true).collect().await.unwrap(), vec![8, 10, 12]);
        assert_eq!(pick(false).collect().await.unwrap(), vec![0, 1]);
    });
    // Backpressure crosses the local box as it crosses the other.
    let (sub, down) = spillway_testkit::TestSubscriber::<u64, Infallible>::new(1);
    pick(true).subscribe(sub);
    down.assert_items(&[8]);
    down.request(5);
    down.assert_items(&[8, 10, 12]);
    down.assert_complete();
}
