//! A filtering stage below any 1:1 stage, under bounded demand: the discarded items must be
//! replaced, whichever way they reach the filter. Sources built on the drain loop offer
//! items with `try_on_next` (a discarded item uses no demand), while push stages (`retry`,
//! `publish_on`, `timeout`, `limit_rate`, ...) deliver with `on_next` and count every item;
//! a stage in between that turned an `on_next` into its downstream's `try_on_next` and
//! dropped the answer lost the demand of every discarded item, and the pipeline stalled
//! (`range(0, 10).retry(1).map(|x| x).skip(3)` read with `into_stream(1)` yielded nothing).
//!
//! Every combination of source x 1:1 stage x filtering stage, read one item at a time and
//! two at a time, must deliver exactly what the model says, within a watchdog.

use std::sync::mpsc;
use std::time::Duration;

use futures::StreamExt;
use spillway::prelude::*;
use spillway::Worker;

const N: u64 = 60;
const WATCHDOG: Duration = Duration::from_secs(20);

/// Reads `p` with `into_stream(batch)` on another thread; `None` if it did not finish.
fn read<P>(p: P, batch: usize) -> Option<Vec<u64>>
where
    P: Publisher<Item = u64> + Send + 'static,
    P::Error: std::fmt::Debug,
{
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let items = futures::executor::block_on(async move {
            p.into_stream(batch)
                .map(|r| r.expect("no error"))
                .collect::<Vec<_>>()
                .await
        });
        let _ = tx.send(items);
    });
    rx.recv_timeout(WATCHDOG).ok()
}

fn check<P>(what: &str, p: impl Fn() -> P, expected: &[u64])
where
    P: Publisher<Item = u64> + Send + 'static,
    P::Error: std::fmt::Debug,
{
    for batch in [1, 2] {
        match read(p(), batch) {
            Some(items) => assert_eq!(items, expected, "{what} with into_stream({batch})"),
            None => {
                panic!("{what} with into_stream({batch}): stalled (no end within {WATCHDOG:?})")
            }
        }
    }
}

/// The model of each filtering stage over 0..N.
fn model(filter: &str) -> Vec<u64> {
    let all = 0..N;
    match filter {
        "filter" | "filter_map" => all.filter(|x| x % 3 == 0).collect(),
        "skip" => all.skip(5).collect(),
        "skip_while" => all.skip_while(|x| *x < 5).collect(),
        "distinct_until_changed" => (0..N / 2).collect(),
        other => unreachable!("{other}"),
    }
}

/// source x stage x filter, each a closure over the previous publisher.
macro_rules! cross {
    ([$($src_name:literal => $src:expr),* $(,)?], $stages:tt, $filters:tt) => {
        $( cross!(@stage $src_name, $src, $stages, $filters); )*
    };
    (@stage $src_name:literal, $src:expr, [$($stage_name:literal => $stage:expr),* $(,)?], $filters:tt) => {
        $( cross!(@filter $src_name, $src, $stage_name, $stage, $filters); )*
    };
    (@filter $src_name:literal, $src:expr, $stage_name:literal, $stage:expr,
     [$($filter_name:literal => $filter:expr),* $(,)?]) => {
        $(
            check(
                concat!($src_name, " -> ", $stage_name, " -> ", $filter_name),
                || $filter($stage($src())),
                &model($filter_name),
            );
        )*
    };
}

#[test]
fn a_filtering_stage_below_any_one_to_one_stage_gets_its_discards_replaced() {
    let worker = Worker::new("filtering-test");
    cross!(
        [
            "range" => || range(0, N),
            "retry" => || range(0, N).retry(1),
            "on_error_return" => || range(0, N).on_error_return(|_| 0),
            "timeout" => || range(0, N).timeout(Duration::from_secs(3600)).unwrap(),
            "limit_rate" => || range(0, N).limit_rate(4).unwrap(),
            "publish_on" => || range(0, N).publish_on(worker.clone(), 3).unwrap(),
        ],
        [
            "none" => |p| p,
            "map" => |p: _| OperatorExt::map(p, |x: u64| x),
            "scan" => |p: _| OperatorExt::scan(p, 0u64, |_, x: u64| x),
            "do_on_next" => |p: _| OperatorExt::do_on_next(p, |_: &u64| {}),
            "do_on_request" => |p: _| OperatorExt::do_on_request(p, |_| {}),
            "do_on_cancel" => |p: _| OperatorExt::do_on_cancel(p, || {}),
            "do_on_complete" => |p: _| OperatorExt::do_on_complete(p, || {}),
            "do_on_error" => |p: _| OperatorExt::do_on_error(p, |_| {}),
            "do_finally" => |p: _| OperatorExt::do_finally(p, |_| {}),
            "take" => |p: _| OperatorExt::take(p, u64::MAX),
            "take_while" => |p: _| OperatorExt::take_while(p, |_: &u64| true),
            "take_until" => |p: _| OperatorExt::take_until(p, never::<(), _>()),
            "default_if_empty" => |p: _| OperatorExt::default_if_empty(p, 0),
            "map_error" => |p: _| OperatorExt::map_error(p, |e| e),
            "timeout" => |p: _| OperatorExt::timeout(p, Duration::from_secs(3600)).unwrap(),
            "on_error_return" => |p: _| OperatorExt::on_error_return(p, |_| 0),
            "limit_rate" => |p: _| OperatorExt::limit_rate(p, 4).unwrap(),
        ],
        [
            "filter" => |p: _| OperatorExt::filter(p, |x: &u64| x % 3 == 0),
            "filter_map" => |p: _| OperatorExt::filter_map(p, |x: u64| (x % 3 == 0).then_some(x)),
            "skip" => |p: _| OperatorExt::skip(p, 5),
            "skip_while" => |p: _| OperatorExt::skip_while(p, |x: &u64| *x < 5),
            "distinct_until_changed" => |p: _| {
                OperatorExt::distinct_until_changed(OperatorExt::map(p, |x: u64| x / 2))
            },
        ]
    );
}
