//! trybuild driver: every `ui/fail/*.rs` must fail to compile with exactly its `.stderr`, and
//! every `ui/pass/*.rs` must compile and run (its `main` asserts what the hooks saw).
//!
//! Refresh the expected output with `TRYBUILD=overwrite cargo test -p oncommit-ui-tests`,
//! then review `git diff ui-tests/` like code.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/fail/*.rs");
    t.pass("ui/pass/*.rs");
}
