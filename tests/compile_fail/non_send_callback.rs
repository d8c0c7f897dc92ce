// `subscribe_fn` callbacks run on the emitting thread: a non-`Send` closure is refused.
use spillway::prelude::*;
use std::rc::Rc;

fn main() {
    let local = Rc::new(0u64);
    let _handle = range(0, 3).subscribe_fn(move |x| {
        let _ = (&local, x);
    });
}
