// A subscriber whose error type is `std::io::Error` cannot subscribe to a publisher that
// fails with `&'static str`.
use spillway::prelude::*;
use spillway::{Error, SharedSubscription};

struct IoErrors;

impl Subscriber for IoErrors {
    type Item = u64;
    type Error = std::io::Error;
    fn on_subscribe(&mut self, _s: SharedSubscription) {}
    fn on_next(&mut self, _item: u64) {}
    fn on_error(&mut self, _e: Error<std::io::Error>) {}
    fn on_complete(&mut self) {}
}

fn main() {
    error::<u64, &'static str>("boom").subscribe(IoErrors);
}
