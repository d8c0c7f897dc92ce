use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use spillway_core::prelude::*;
use spillway_core::{Error, SharedSubscription};

#[derive(Default)]
struct Log(Arc<Mutex<Vec<String>>>);

struct OneByOne {
    log: Arc<Mutex<Vec<String>>>,
    sub: Option<SharedSubscription>,
}

impl Subscriber for OneByOne {
    type Item = u64;
    type Error = Infallible;
    fn on_subscribe(&mut self, s: SharedSubscription) {
        s.request(1);
        self.sub = Some(s);
    }
    fn on_next(&mut self, item: u64) {
        self.log.lock().unwrap().push(format!("next {item}"));
        self.sub.as_ref().unwrap().request(1);
    }
    fn on_error(&mut self, e: Error<Infallible>) {
        self.log.lock().unwrap().push(format!("error {e}"));
    }
    fn on_complete(&mut self) {
        self.log.lock().unwrap().push("complete".into());
    }
}

#[test]
fn range_one_by_one_reentrant() {
    let log = Log::default();
    range(0, 3).subscribe(OneByOne {
        log: log.0.clone(),
        sub: None,
    });
    assert_eq!(
        *log.0.lock().unwrap(),
        vec!["next 0", "next 1", "next 2", "complete"]
    );
}

#[test]
fn collect_and_stream() {
    futures::executor::block_on(async {
        assert_eq!(range(0, 5).collect().await.unwrap(), vec![0, 1, 2, 3, 4]);
        let s = async_stream::stream! { for i in 0..3u8 { yield i; } };
        assert_eq!(from_stream(s).collect().await.unwrap(), vec![0, 1, 2]);
    });
}

#[tokio::test(start_paused = true)]
async fn interval_on_tokio_paused() {
    use futures::StreamExt;
    let v: Vec<u64> = interval(std::time::Duration::from_secs(3600))
        .unwrap()
        .into_stream(2)
        .take(3)
        .map(|r| r.unwrap())
        .collect()
        .await;
    assert_eq!(v, vec![0, 1, 2]);
}

#[test]
fn create_threads() {
    futures::executor::block_on(async {
        let p = create(
            OverflowStrategy::Buffer(1000),
            |e: Emitter<u32, Infallible>| {
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        e.next(i).unwrap();
                    }
                    e.complete();
                });
            },
        );
        assert_eq!(p.collect().await.unwrap().len(), 1000);
    });
}
