// A subscriber holding an `Rc` is not `Send`, so it cannot be a `Subscriber` at all:
// signals may arrive on another thread.
use spillway::prelude::*;
use spillway::{Error, SharedSubscription};
use std::convert::Infallible;
use std::rc::Rc;

struct Local(Rc<u64>);

impl Subscriber for Local {
    type Item = u64;
    type Error = Infallible;
    fn on_subscribe(&mut self, _s: SharedSubscription) {}
    fn on_next(&mut self, _item: u64) {}
    fn on_error(&mut self, _e: Error<Infallible>) {}
    fn on_complete(&mut self) {}
}

fn main() {
    range(0, 3).subscribe(Local(Rc::new(0)));
}
