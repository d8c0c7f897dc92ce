//! Transforming and filtering, item by item.

pub(crate) mod default_if_empty;
pub(crate) mod distinct_by_key;
pub(crate) mod distinct_until_changed;
pub(crate) mod distinct_until_changed_by;
pub(crate) mod element_at;
pub(crate) mod filter;
pub(crate) mod filter_map;
pub(crate) mod flat_map_iter;
pub(crate) mod map;
pub(crate) mod pairwise;
pub(crate) mod reduce;
pub(crate) mod scan;
pub(crate) mod skip;
pub(crate) mod skip_until;
pub(crate) mod skip_while;
pub(crate) mod start_with;
pub(crate) mod take;
pub(crate) mod take_last;
pub(crate) mod take_until;
pub(crate) mod take_while;
pub mod tap;
pub(crate) mod try_filter;
pub(crate) mod try_filter_map;
pub(crate) mod try_map;
