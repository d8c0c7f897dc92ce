// A subscriber of `String` items cannot subscribe to a publisher of `u64`.
use spillway::prelude::*;
use spillway::{Error, SharedSubscription};
use std::convert::Infallible;

struct Strings;

impl Subscriber for Strings {
    type Item = String;
    type Error = Infallible;
    fn on_subscribe(&mut self, _s: SharedSubscription) {}
    fn on_next(&mut self, _item: String) {}
    fn on_error(&mut self, _e: Error<Infallible>) {}
    fn on_complete(&mut self) {}
}

fn main() {
    range(0, 3).subscribe(Strings);
}
