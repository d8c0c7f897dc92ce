//! Combining several publishers: merge, concat, zip, combine_latest (and their n-ary
//! forms), and the flat_map family.

pub(crate) mod combine_latest;
pub(crate) mod combine_latest_all;
pub(crate) mod concat;
pub(crate) mod concat_map;
pub(crate) mod flat_map;
pub(crate) mod merge;
pub(crate) mod switch_map;
pub(crate) mod zip;
pub(crate) mod zip_all;
