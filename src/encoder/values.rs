//! Values the encoder writes by itself: canonical reason phrases and fresh boundaries.

/// The canonical reason phrase of a status code (RFC 9110 and the common WebDAV ones).
pub fn canonical_reason(status: u16) -> Option<&'static str> {
    Some(match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        424 => "Failed Dependency",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => return None,
    })
}

/// A fresh boundary, `batch_` and 32 hex digits: 128 bits from the operating system's
/// randomness, through the random keys of `std`'s `RandomState` (SipHash keyed from the OS at
/// thread start), so that no dependency is needed. Predictable boundaries let an attacker who
/// controls a body smuggle parts (form-data's CVE-2025-7783).
///
/// ```
/// let a = batchpart::encoder::random_boundary();
/// let b = batchpart::encoder::random_boundary();
/// assert_ne!(a, b);
/// assert!(batchpart::validate_boundary(a.as_bytes()).is_ok());
/// ```
#[cfg(feature = "std")]
pub fn random_boundary() -> std::string::String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let word = |salt: u64| {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(n);
        h.write_u64(salt);
        h.finish()
    };
    std::format!("batch_{:016x}{:016x}", word(0x9e37_79b9), word(0x7f4a_7c15))
}
