//! `last_or(default)`: the last item, or `default` if upstream completes empty.

/// Publisher for the [`last_or`](crate::OperatorExt::last_or) method:
/// [`take_last(1)`](crate::OperatorExt::take_last) followed by
/// [`default_if_empty(default)`](crate::OperatorExt::default_if_empty).
///
/// ```
/// use spillway::prelude::*;
/// # futures::executor::block_on(async {
/// let last: spillway::operators::LastOr<_> = range(5, 9).last_or(0);
/// assert_eq!(last.collect().await.unwrap(), vec![8]);
/// # });
/// ```
pub type LastOr<P> = crate::DefaultIfEmpty<crate::TakeLast<P>>;
