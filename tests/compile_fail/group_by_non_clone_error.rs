// `group_by` hands upstream's error to every open group and to the outer stream, so the
// error type must be `Clone`: `std::io::Error` is not, and the compiler says so at
// `group_by` (the fix: `.map_error(std::sync::Arc::new)` first).
use spillway::operators::OperatorExt;
use spillway::prelude::*;

fn main() {
    let lines = from_try_stream(futures::stream::iter(vec![Ok::<u64, std::io::Error>(1)]));
    let _groups = lines.group_by(|x| *x % 2);
}
