//! The tower `$batch` service in-process, every dialect. See tests/fuzz_checks.
#![no_main]
#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "../../tests/fuzz_checks/mod.rs"]
mod fuzz_checks;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_checks::server(data));
