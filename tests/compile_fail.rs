//! Compile-fail checks (trybuild): the type system enforces what the protocol needs.
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test --test compile_fail`
//! and read every `.stderr` by eye before committing it.

#[test]
fn compile_fail() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/compile_fail/*.rs");
}
