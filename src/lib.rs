//! # batchpart
//!
//! A zero-copy, streaming, sans-IO codec for multipart HTTP batch payloads: OData `$batch`
//! (`multipart/mixed` with nested changesets of `application/http` parts), Skype UCWA's
//! `multipart/batching`, RingCentral's multipart responses, and any other `multipart/*` body.
//!
//! The core is a [`Decoder`] that takes byte slices of any size, down to one byte, and yields
//! [`Event`]s that borrow those slices. It never allocates, never does I/O, and does linear
//! work for every input and every chunking. It builds with `--no-default-features` under
//! `#![no_std]`, without `alloc`.
//!
//! ```
//! use batchpart::{Decoder, Event};
//!
//! let body = b"--batch\r\n\
//! Content-Type: application/http\r\n\
//! Content-ID: 1\r\n\
//! \r\n\
//! GET /service/Customers('ALFKI') HTTP/1.1\r\n\
//! Host: host\r\n\
//! \r\n\
//! \r\n\
//! --batch--\r\n";
//!
//! let mut dec = Decoder::new(b"batch")?;
//! for ev in dec.feed(body, true) {
//!     match ev? {
//!         Event::PartStart(p) => assert_eq!(p.content_id().unwrap().normalized().as_bytes(), b"1"),
//!         Event::Request(r) => assert_eq!(r.target(), b"/service/Customers('ALFKI')"),
//!         _ => {}
//!     }
//! }
//! assert!(dec.is_done());
//! # Ok::<(), batchpart::Error>(())
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
// docs.rs builds with `--cfg docsrs`: every feature-gated item gets its feature badge.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "batch")]
pub mod batch;
#[cfg(feature = "stream")]
mod block;
pub mod boundary;
pub mod content_id;
pub mod content_type;
pub mod decoder;
pub mod encoder;
pub mod error;
pub mod headers;
pub mod http;
#[cfg(feature = "stream")]
pub mod stream;
#[cfg(feature = "std")]
pub mod writer;

pub use boundary::Boundary;
pub use boundary::{boundary_needs_quotes, validate_boundary, MAX_BOUNDARY_LEN};
pub use content_id::ContentId;
pub use content_type::ContentType;
pub use decoder::{
    Carried, Chunk, Config, Decoder, Event, Feed, Limits, Part, PartEnd, Stats, MAX_CARRIED,
    MAX_DEPTH,
};
pub use error::{Error, ErrorKind};
pub use headers::{Header, Headers, Value};
pub use http::{parse_content_length, RequestHead, ResponseHead};

/// The README's examples, compiled and run as doctests.
#[cfg(all(doctest, feature = "batch"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
