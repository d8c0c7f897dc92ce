//! The names of the `OperatorExt` methods, read from the trait's source: the class tests
//! that must cover every operator compare their cases with it, so that a new operator
//! cannot skip them. Include with `#[path = "support/operator_list.rs"] mod operator_list;`.

use std::collections::BTreeSet;

/// Every method name of `OperatorExt`.
pub(crate) fn operator_methods() -> BTreeSet<String> {
    let src = include_str!("../../src/ext.rs");
    let start = src.find("pub trait OperatorExt").expect("the trait");
    let body = &src[start..];
    let end = body.find("\n}\n").expect("the end of the trait");
    let methods: BTreeSet<String> = body[..end]
        .lines()
        .filter_map(|l| l.strip_prefix("    fn "))
        .map(|l| {
            l.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(methods.len() > 60, "parsed {methods:?}");
    methods
}
