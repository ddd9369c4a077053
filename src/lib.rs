//! # batchpart
//!
//! A zero-copy, streaming, sans-IO codec for multipart HTTP batch payloads: OData `$batch`
//! (`multipart/mixed` with nested changesets of `application/http` parts, and the OData JSON
//! batch format), Skype UCWA's `multipart/batching`, RingCentral's batches, JSON `/batch` APIs,
//! Creatio, and any other `multipart/*` body.
//!
//! ## The layers
//!
//! Each layer is thin over the one below, and each is usable alone:
//!
//! | layer | what it is | entry points |
//! |---|---|---|
//! | codec core (always on, `no_std`, no `alloc`) | an incremental decoder and encoder: bytes in, events or bytes out; never allocates, never does I/O | [`Decoder`], [`Event`], [`encoder::Encoder`] |
//! | stream layer (feature `stream`) | a `futures_core::Stream` of owned part events over a stream of `Bytes`; bodies are slices of your chunks | [`stream::PartStream`], [`writer::Writer`] |
//! | batch module (feature `batch`; `json`, `http`) | the model, the multipart and JSON formats, validation, references, execution, and one module per vendor dialect | [`batch`] |
//! | server half (feature `tower`) | a tower `$batch` service that runs every operation through the application's own routes, confined to its service root | `server` |
//!
//! ## Features
//!
//! | feature | default | brings |
//! |---|---|---|
//! | `std` | yes | `std::error::Error` impls, the [`writer`] and the owned conveniences; brings `bytes` |
//! | `bytes` | with `std` | any `bytes::BufMut` as an encoder sink, without `std` |
//! | `stream` | yes | the [`stream`] layer (`futures-core`) |
//! | `batch` | no | the [`batch`] module: model, multipart format, validation, executor, dialects |
//! | `json` | no | the OData JSON format and the JSON dialects (`serde`, `serde_json`, `base64`) |
//! | `http` | no | conversions to and from the `http` crate's `Request` and `Response` |
//! | `tower` | no | the `server` module: a tower `$batch` service, with asynchronous batches (`tower-service`, `tower-layer`, `http-body`; `getrandom` for status monitor ids, `sha2` for the submitter's digest) |
//!
//! ## Limits
//!
//! Every resource has a limit with a safe default, counted as the bytes arrive and never reset
//! per fed slice ([`Limits`]): 16 KiB per header block, 128 header fields per block, 10,000
//! parts, nesting 8 deep (at most [`MAX_DEPTH`]), 64 KiB of preamble. The batch readers add
//! their own on top (operations per batch, see [`batch`]).
//!
//! ## Errors
//!
//! Every decode error is an [`Error`]: an [`ErrorKind`] that names the rule or the limit, and
//! the absolute byte offset where it was detected (`invalid header line at byte 5`). A decoder
//! that failed stays failed: every later feed reports the same error, and
//! [`Decoder::is_done`] is false. No input and no sequence of calls panics, and the work is
//! linear in the input for every input and every chunking, down to one byte per feed.
//!
//! ## `no_std`
//!
//! With `--no-default-features` the crate is `#![no_std]` and needs no `alloc`: the decoder
//! keeps its state in fixed arrays (one delimiter per nesting level) and the events borrow the
//! input. The encoder writes into any `bytes::BufMut` with the `bytes` feature (which `std`
//! brings), and into a caller's slice ([`encoder::SliceWriter`]) without it.
//!
//! ## Decoding, sans-IO
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
//!
//! ## Encoding
//!
//! ```
//! # #[cfg(feature = "std")] fn main() -> Result<(), batchpart::encoder::EncodeError> {
//! use batchpart::writer::{ContentIdIn, Writer};
//! use bytes::Bytes;
//!
//! let mut w = Writer::new(b"batch_1")?;
//! w.request(Some(("1", ContentIdIn::Part)), "POST", "/Customers",
//!     [("Content-Type", "application/json")], Bytes::from_static(b"{\"Name\":\"Ann\"}"))?;
//! let body = w.finish(b"")?;
//! assert_eq!(body.content_type("mixed"), "multipart/mixed; boundary=batch_1");
//! let wire = body.into_bytes(); // or send the segments as they are: `Encoded` is a `Buf`
//! assert!(wire.starts_with(b"--batch_1\r\nContent-Type: application/http\r\n"));
//! # Ok(()) }
//! # #[cfg(not(feature = "std"))] fn main() {}
//! ```
//!
//! ## The stream layer
//!
//! ```
//! # #[cfg(feature = "stream")]
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), batchpart::Error> {
//! use batchpart::stream::{PartEvent, PartStream};
//! use bytes::Bytes;
//! use futures_core::Stream;
//!
//! // Any `Stream<Item = Result<Bytes, E>>`: a hyper body, reqwest's `bytes_stream()`...
//! let chunks = [
//!     Ok::<_, std::io::Error>(Bytes::from_static(b"--b\r\nContent-Type: text/plain\r\n\r\nhel")),
//!     Ok(Bytes::from_static(b"lo\r\n--b--\r\n")),
//! ];
//! let mut events = PartStream::new(batchpart::stream::iter(chunks), b"b")?;
//! let mut body = Vec::new();
//! // `events.next().await` with a `StreamExt`.
//! while let Some(ev) = std::future::poll_fn(|cx| std::pin::Pin::new(&mut events).poll_next(cx)).await {
//!     if let PartEvent::Body(b) = ev.unwrap() {
//!         body.extend_from_slice(&b); // `b` shares the chunk it came in
//!     }
//! }
//! assert_eq!(body, b"hello");
//! # Ok(()) }
//! # #[cfg(not(feature = "stream"))] fn main() {}
//! ```
//!
//! ## A server's `$batch`
//!
//! ```
//! # #[cfg(feature = "batch")]
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), batchpart::batch::BatchError> {
//! use batchpart::batch::{execute, handler_fn, write_multipart, ExecOptions, MultipartReader,
//!     RequestOp, ResponseOp, ValidationOptions};
//! use bytes::Bytes;
//!
//! let body = "--b\r\nContent-Type: application/http\r\n\r\nGET /People HTTP/1.1\r\n\r\n\r\n--b--";
//! let chunks = batchpart::stream::iter([Ok::<_, std::io::Error>(Bytes::from(body))]);
//! let items = MultipartReader::<_, RequestOp>::new(chunks, b"multipart/mixed; boundary=b")?
//!     .validate(ValidationOptions::default());
//! let mut app = handler_fn(|op: RequestOp| async move { ResponseOp::new(200).with_body("[]") });
//! let response = execute(items, &mut app, ExecOptions::default()).await?;
//! let (content_type, _body) = write_multipart(&response, b"batchresponse_1")?;
//! assert!(content_type.starts_with("multipart/mixed"));
//! # Ok(()) }
//! # #[cfg(not(feature = "batch"))] fn main() {}
//! ```
//!
//! ## A client's batch
//!
//! ```
//! # #[cfg(feature = "batch")] fn main() -> Result<(), batchpart::batch::BatchError> {
//! use batchpart::batch::{read_multipart, write_multipart, BatchRequest, Item, RequestOp, ResponseOp};
//! use bytes::Bytes;
//!
//! let mut batch = BatchRequest::default();
//! batch.items.push(Item::Op(RequestOp::new("GET", "/People").with_content_id("1")));
//! let (content_type, body) = write_multipart(&batch, b"batch_7")?;
//! // ... send `body` with any HTTP client, `Content-Type: {content_type}` ...
//! # let _ = (content_type, body);
//! let answer = Bytes::from_static(b"--r\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\n\
//!     HTTP/1.1 200 OK\r\n\r\n[]\r\n--r--");
//! let response = read_multipart::<ResponseOp>(answer, b"multipart/mixed; boundary=r", None)?;
//! // Pair each answer with its request: by Content-ID, by position where ids were dropped.
//! let pairs = batchpart::batch::correlate(&batch, &response);
//! assert_eq!(pairs.pairs[0].response.map(|(_, r)| r.status), Some(200));
//! # Ok(()) }
//! # #[cfg(not(feature = "batch"))] fn main() {}
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
// docs.rs builds with `--cfg docsrs`: every feature-gated item gets its feature badge.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

// The unit tests use `std` whatever the features.
#[cfg(all(test, not(feature = "std")))]
extern crate std;

/// Builder methods for a configuration struct's public fields, one `with_<field>` each, so
/// that a `#[non_exhaustive]` struct is built as `T::default().with_x(..)`: a new field is then
/// not a breaking change. Each method's docs point at its field's.
macro_rules! setters {
    ($ty:ty { $($with:ident => $field:ident: $t:ty),* $(,)? }) => {
        impl $ty {
            $(
                #[doc = concat!("Sets [`", stringify!($field), "`](Self::", stringify!($field), ").")]
                #[must_use]
                pub fn $with(mut self, value: $t) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}

mod ascii;
#[cfg(feature = "batch")]
pub mod batch;
mod boundary;
mod content_id;
mod content_type;
mod decoder;
pub mod encoder;
mod error;
mod headers;
mod http;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod server;
#[cfg(feature = "stream")]
pub mod stream;
#[cfg(feature = "std")]
pub mod writer;

// The codec core's items live at the crate root, one path each.
pub use boundary::{
    boundary_needs_quotes, is_bchar, validate_boundary, Boundary, MAX_BOUNDARY_LEN,
};
pub use content_id::ContentId;
pub use content_type::{ContentType, Params};
pub use decoder::{
    Carried, Chunk, Config, Decoder, Event, Feed, Limits, Part, PartEnd, Stats, MAX_CARRIED,
    MAX_DEPTH,
};
pub use error::{Error, ErrorKind};
pub use headers::{Header, HeaderBlock, HeaderIter, Segments, Value};
pub use http::{parse_content_length, RequestHead, ResponseHead};

/// The README's examples, compiled and run as doctests.
#[cfg(all(doctest, feature = "batch"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
