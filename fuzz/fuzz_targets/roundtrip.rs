//! Encoder to decoder round trip, structure-aware through `arbitrary`. See tests/fuzz_checks.
#![no_main]
#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "../../tests/fuzz_checks/mod.rs"]
mod fuzz_checks;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (fuzz_checks::Tree, Vec<u8>)| {
    let (tree, sizes) = input;
    let sizes: Vec<usize> = sizes.into_iter().map(|s| usize::from(s).max(1)).collect();
    fuzz_checks::roundtrip(&tree, &sizes);
});
