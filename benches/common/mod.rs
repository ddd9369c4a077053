//! The inputs the benchmarks share: form-data bodies, and the realistic batch with its
//! yardstick.
#![allow(dead_code)] // each benchmark uses its own part of it

use bytes::Bytes;

#[path = "../../tests/common/realistic.rs"]
mod shape;

/// A form-data body: `parts` file parts of `size` bytes each, `fill` choosing the bytes.
pub fn form(
    boundary: &str,
    parts: usize,
    size: usize,
    preamble: &[u8],
    fill: fn(usize) -> u8,
) -> Bytes {
    let mut v = Vec::with_capacity(parts * (size + 128) + preamble.len());
    v.extend_from_slice(preamble);
    if !preamble.is_empty() {
        v.extend_from_slice(b"\r\n");
    }
    for i in 0..parts {
        v.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"f{i}\"; filename=\"f{i}.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
        v.extend((0..size).map(fill));
        v.extend_from_slice(b"\r\n");
    }
    v.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Bytes::from(v)
}

/// Pseudo-random bytes without CR, so no delimiter can appear.
pub fn noise(i: usize) -> u8 {
    let x = (i as u32).wrapping_mul(2_654_435_761).rotate_left(13);
    match (x >> 24) as u8 {
        b'\r' => b'x',
        b => b,
    }
}

/// The realistic OData batch of issue 27 and the pass it is measured against.
pub mod realistic {
    use bytes::Bytes;

    pub const BOUNDARY: &str = "batch_36522ad7-fc75-4b56-8c71-56071383e77b";

    /// The batch: 100 operations (see `tests/common/realistic.rs`).
    pub fn multipart() -> Bytes {
        super::shape::batch(BOUNDARY, 100)
    }

    /// The yardstick: each delimiter by `memmem`, each part's MIME headers by
    /// `httparse::parse_headers`, each embedded head by `httparse::Request::parse`; the body is
    /// what lies between the head and the next delimiter. It does less than the core must:
    /// no obs-fold, no limits, no nesting, no checks of the framing.
    pub fn memmem_httparse(body: &[u8], finder: &memchr::memmem::Finder<'_>) -> usize {
        let mut n = 0;
        let mut starts = finder.find_iter(body).peekable();
        while let Some(at) = starts.next() {
            let from = at + finder.needle().len();
            if body[from..].starts_with(b"--") {
                break;
            }
            let end = starts.peek().copied().unwrap_or(body.len());
            let part = &body[from + 2..end];
            let mut mime = [httparse::EMPTY_HEADER; 16];
            let Ok(httparse::Status::Complete((h, fields))) =
                httparse::parse_headers(part, &mut mime)
            else {
                panic!("the MIME headers")
            };
            let mut head = [httparse::EMPTY_HEADER; 16];
            let mut req = httparse::Request::new(&mut head);
            let Ok(httparse::Status::Complete(r)) = req.parse(&part[h..]) else {
                panic!("the embedded head")
            };
            n += fields.len() + req.headers.len() + (part.len() - h - r);
        }
        n
    }
}
