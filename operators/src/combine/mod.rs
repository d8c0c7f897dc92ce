//! Combining several publishers: merge, concat, zip, combine_latest, and the flat_map family.

pub(crate) mod combine_latest;
pub(crate) mod concat;
pub(crate) mod concat_map;
pub(crate) mod flat_map;
pub(crate) mod merge;
pub(crate) mod switch_map;
pub(crate) mod zip;
