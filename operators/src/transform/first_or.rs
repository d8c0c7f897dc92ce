//! `first_or(default)`: the first item, or `default` if upstream completes empty.

/// Publisher for the [`first_or`](crate::OperatorExt::first_or) method:
/// [`element_at_or(0, default)`](crate::OperatorExt::element_at_or), which takes one
/// item (upstream is asked for one and cancelled after it).
///
/// ```
/// use spillway::prelude::*;
/// # futures::executor::block_on(async {
/// let first: spillway::operators::FirstOr<_> = range(5, 9).first_or(0);
/// assert_eq!(first.collect().await.unwrap(), vec![5]);
/// # });
/// ```
pub type FirstOr<P> = crate::ElementAtOr<P>;
