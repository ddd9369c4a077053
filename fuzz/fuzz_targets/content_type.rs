//! The Content-Type parser on arbitrary bytes: no panic, and accessors agree with the parse.
#![no_main]
use batchpart::ContentType;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ct) = ContentType::parse(data) {
        let _ = ct.params().count();
        if let Ok(b) = ct.multipart_boundary() {
            assert!(batchpart::validate_boundary(b).is_ok());
            assert!(ct.is_multipart());
        }
        let _ = ct.is_http();
    }
});
