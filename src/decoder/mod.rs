//! The incremental, sans-IO multipart decoder.
//!
//! The caller feeds byte slices of any size and pulls [`Event`]s from the [`Feed`] each call
//! returns. Nothing is allocated and nothing is copied from the input: events borrow the fed
//! slice only, never the decoder, so they outlive the [`Feed`] and may be kept while the next
//! slice is fed. The one exception is a handful of bytes that were held back at a chunk edge
//! because they could have begun a delimiter and turned out to be content: they come out as a
//! [`Chunk::Carried`], an owned copy of at most one delimiter's length.
//!
//! # The feeding contract
//!
//! [`Feed::consumed`] says how many bytes of a slice the decoder used. The rest (only ever a
//! header block that is not complete yet) must be presented again at the start of the next
//! slice, as with `httparse`. The decoder checks the length of what it is given: a slice
//! shorter than what was left unconsumed fails the decoder with
//! [`ErrorKind::UnconsumedInputMissing`](crate::ErrorKind::UnconsumedInputMissing). It cannot check the contents; bytes that differ from
//! those left unconsumed are decoded as given, and no sequence of calls panics or reads out of
//! bounds.
//!
//! # State
//!
//! The decoder is one state machine: `State` is an enum whose variants carry their own data
//! (preamble and body scanning, the delimiter line's tail, part headers, an embedded HTTP
//! head, a part's end, done, failed), and each variant has one step function in `machine.rs`.
//! Once failed, a decoder stays failed: every later feed reports the same error at the same
//! offset, and [`Decoder::is_done`] is false.
//!
//! # Work
//!
//! Two rules keep the work linear for every input and every chunking:
//! - the search is for the delimiter's `LF -- boundary`, whose only LF is its first byte, so
//!   candidate matches never overlap and no byte is examined more than a small constant number
//!   of times, whatever the boundary (runs of one byte and periodic boundaries included);
//! - every search resumes where the last one stopped. A header block that straddles a chunk
//!   edge is left unconsumed, but the decoder remembers how far it validated it, so no line is
//!   validated twice.

mod machine;
mod search;
mod types;

pub use machine::Feed;
pub use types::{Carried, Chunk, Event, Part, PartEnd, MAX_CARRIED};

use crate::boundary::validate_boundary;
use crate::content_type::ContentType;
use crate::error::Error;

/// The capacity of the fixed nesting stack. [`Limits::max_depth`] can be set up to this.
pub const MAX_DEPTH: usize = 16;

/// Resource limits. Every one is counted across chunk edges, never reset per fed slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Bytes in one header block, one embedded HTTP head, or one delimiter line's transport
    /// padding. Default 16 KiB: twice odata.net's 8000-byte boundary-line limit, and above
    /// what any batch operation's headers need. Error: [`ErrorKind::HeaderTooLarge`](crate::ErrorKind::HeaderTooLarge).
    pub max_header_bytes: usize,
    /// Header fields in one block or embedded head. Default 128. Error:
    /// [`ErrorKind::TooManyHeaders`](crate::ErrorKind::TooManyHeaders).
    pub max_headers: usize,
    /// Parts in the whole body, counted at every depth. Default 10,000: 100 top-level
    /// operations of 100 each is already more than the seed APIs accept. Error:
    /// [`ErrorKind::TooManyParts`](crate::ErrorKind::TooManyParts).
    pub max_parts: u64,
    /// Multipart nesting, the top level being 1. Default 8 (OData needs 2); at most
    /// [`MAX_DEPTH`]. Error: [`ErrorKind::NestingTooDeep`](crate::ErrorKind::NestingTooDeep).
    pub max_depth: usize,
    /// Bytes of preamble before the first delimiter of each multipart. Default 64 KiB. Error:
    /// [`ErrorKind::PreambleTooLarge`](crate::ErrorKind::PreambleTooLarge).
    pub max_preamble_bytes: u64,
}

setters!(Limits {
    with_max_header_bytes => max_header_bytes: usize,
    with_max_headers => max_headers: usize,
    with_max_parts => max_parts: u64,
    with_max_depth => max_depth: usize,
    with_max_preamble_bytes => max_preamble_bytes: u64,
});

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 16 * 1024,
            max_headers: 128,
            max_parts: 10_000,
            max_depth: 8,
            max_preamble_bytes: 64 * 1024,
        }
    }
}

impl Limits {
    /// Every limit at its largest: for trusted input, and for differential tests that compare
    /// decoders on what they read rather than on where they stop.
    pub fn none() -> Self {
        Limits {
            max_header_bytes: usize::MAX,
            max_headers: usize::MAX,
            max_parts: u64::MAX,
            max_depth: MAX_DEPTH,
            max_preamble_bytes: u64::MAX,
        }
    }
}

/// Decoder configuration.
///
/// The default is lenient, opens `application/http` parts and nested multiparts, and has the
/// default [`Limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Accept only what the RFCs allow: CRLF line endings only, a blank line closing every
    /// embedded HTTP head, request lines with a version, status lines `httparse` accepts,
    /// Content-Lengths that agree with the framing, no repeated Content-Length, a boundary on
    /// every nested `multipart/*` part, and nothing but padding and a line end after a close
    /// delimiter. Off by default.
    pub strict: bool,
    /// Read `application/http` and `message/http` parts as embedded HTTP messages
    /// ([`Event::Request`], [`Event::Response`]). On by default. Off, such a part is plain
    /// bytes, as a form-data upload of an HTTP capture needs.
    pub interpret_http: bool,
    /// Read `multipart/*` parts as nested multiparts ([`Event::MultipartStart`]). On by
    /// default. Off, such a part is plain bytes, as a mail archive or a `multipart/byteranges`
    /// body inside a form needs.
    pub nested: bool,
    /// Frame an embedded HTTP message's body by the multipart delimiter alone, and report a
    /// `Content-Length` that disagrees in [`PartEnd::http_content_length_mismatch`] instead
    /// of refusing the part. Off by default: odata.net frames by that header, so a part whose
    /// embedded length and delimiter disagree reads two ways, and the default refuses it.
    /// Turn it on for senders known to write a wrong length, such as google-api-python-client,
    /// which counts the characters of a body rather than its bytes. Strict mode still refuses
    /// a mismatch.
    pub trust_framing: bool,
    /// The resource limits.
    pub limits: Limits,
}

setters!(Config {
    with_strict => strict: bool,
    with_interpret_http => interpret_http: bool,
    with_nested => nested: bool,
    with_trust_framing => trust_framing: bool,
    with_limits => limits: Limits,
});

impl Default for Config {
    fn default() -> Self {
        Config {
            strict: false,
            interpret_http: true,
            nested: true,
            trust_framing: false,
            limits: Limits::default(),
        }
    }
}

impl Config {
    /// The strict configuration with default limits.
    pub fn strict() -> Self {
        Config {
            strict: true,
            ..Config::default()
        }
    }

    /// The configuration that reads every part as plain bytes: neither `application/http`
    /// nor nested `multipart/*` parts are opened (`inspect --opaque`).
    pub fn opaque(self) -> Self {
        Config {
            interpret_http: false,
            nested: false,
            ..self
        }
    }
}

/// Work counters, for tests and monitoring: they let a caller check that the work stays
/// linear in the input, by counting rather than timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Bytes examined: by delimiter searches, held-back delimiter comparisons, header line
    /// searches and header validation. Each byte of input is examined a small, bounded number
    /// of times, whatever the chunking and whatever the boundary.
    pub bytes_examined: u64,
    /// Delimiter searches handed over to the packed-pair vector searcher, after 4 line ends
    /// that were not delimiters (at most one per search; none on targets without one).
    pub packed_searches: u64,
    /// Slices fed.
    pub feeds: u64,
}

/// The sans-IO multipart decoder.
///
/// Feed it byte slices of any size and pull [`Event`]s from the [`Feed`] each call returns.
/// Nothing is allocated and nothing is copied from the input: events borrow the fed slice
/// only, never the decoder, so they outlive the `Feed`. Bytes held back at a chunk edge
/// because they could have begun a delimiter, and that turned out to be content, come out as
/// a [`Chunk::Carried`]: an owned copy of at most [`MAX_CARRIED`] bytes.
///
/// **The feeding contract.** [`Feed::consumed`] says how many bytes of a slice were used. The
/// rest (only ever a header block that is not complete yet) must be presented again at the
/// start of the next slice, as with `httparse`. A slice shorter than what was left fails the
/// decoder with [`ErrorKind::UnconsumedInputMissing`](crate::ErrorKind::UnconsumedInputMissing);
/// bytes that differ from those left are decoded as given. No sequence of calls panics or
/// reads out of bounds. Once failed, a decoder stays failed: every later feed reports the same
/// error at the same offset, and [`is_done`](Self::is_done) is false.
///
/// **Work.** Linear in the input for every input and every chunking, whatever the boundary:
/// each byte is examined a small, bounded number of times ([`Stats::bytes_examined`]).
///
/// ```
/// use batchpart::{Decoder, Event};
///
/// let body = b"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n";
/// let mut dec = Decoder::new(b"b").unwrap();
/// let mut text = Vec::new();
/// // Any chunking works; here, one byte at a time. Only the bytes a feed leaves unconsumed
/// // (a header block that is not complete yet) are kept for the next feed.
/// let mut pending = Vec::new();
/// for (i, &byte) in body.iter().enumerate() {
///     pending.push(byte);
///     let mut feed = dec.feed(&pending, i + 1 == body.len());
///     for ev in &mut feed {
///         if let Event::Body(b) = ev.unwrap() {
///             text.extend_from_slice(&b);
///         }
///     }
///     let used = feed.consumed();
///     pending.drain(..used);
/// }
/// assert_eq!(text, b"hello");
/// assert!(dec.is_done());
/// ```
#[derive(Clone)]
pub struct Decoder {
    inner: machine::Inner,
}

impl core::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Decoder")
            .field("offset", &self.offset())
            .field("depth", &self.depth())
            .field("state", &self.inner.state_name())
            .finish()
    }
}

impl Decoder {
    /// A decoder for a body with this boundary and the default (lenient) configuration.
    pub fn new(boundary: &[u8]) -> Result<Self, Error> {
        Self::with_config(boundary, Config::default())
    }

    /// A decoder for a body with this boundary and configuration.
    pub fn with_config(boundary: &[u8], cfg: Config) -> Result<Self, Error> {
        validate_boundary(boundary)?;
        let mut cfg = cfg;
        cfg.limits.max_depth = cfg.limits.max_depth.clamp(1, MAX_DEPTH);
        Ok(Decoder {
            inner: machine::Inner::new(boundary, cfg),
        })
    }

    /// A decoder for the body of a message with this `Content-Type` header value, which must
    /// be `multipart/*` with a valid boundary. Errors in the value are reported at offset 0:
    /// the value is not part of the body.
    ///
    /// ```
    /// let dec = batchpart::Decoder::from_content_type(
    ///     b"multipart/mixed; boundary=batch_36522ad7-fc75-4b56-8c71-56071383e77b",
    ///     Default::default(),
    /// );
    /// assert!(dec.is_ok());
    /// ```
    pub fn from_content_type(content_type: &[u8], cfg: Config) -> Result<Self, Error> {
        Self::with_config(boundary_of(content_type, cfg.strict)?, cfg)
    }

    /// Feeds the next slice of the body and returns the iterator of the events it completes.
    ///
    /// `input` must start with the bytes the previous feed left unconsumed (see
    /// [`Feed::consumed`]); that only happens when a header block straddles the edge, and
    /// only those bytes need keeping. `eof` says that no byte follows `input`. A slice shorter
    /// than what was left unconsumed fails the decoder with
    /// [`ErrorKind::UnconsumedInputMissing`](crate::ErrorKind::UnconsumedInputMissing).
    pub fn feed<'d, 'i>(&'d mut self, input: &'i [u8], eof: bool) -> Feed<'d, 'i> {
        self.inner.start_feed(input.len());
        Feed::new(&mut self.inner, input, eof)
    }

    /// The current nesting depth (1 at the top level).
    pub fn depth(&self) -> usize {
        self.inner.depth()
    }

    /// The absolute offset of the next byte to feed: the first byte the last feed left
    /// unconsumed.
    pub fn offset(&self) -> u64 {
        self.inner.offset()
    }

    /// True once [`Event::End`] has been produced. False after an error.
    pub fn is_done(&self) -> bool {
        self.inner.is_done()
    }

    /// The error the decoder failed with, if it did. Every later feed reports it again.
    pub fn error(&self) -> Option<Error> {
        self.inner.error()
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        self.inner.config()
    }

    /// The work counters so far.
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }
}

/// The multipart boundary of a `Content-Type` value, read in the configuration's mode (strict
/// by RFC 9110's grammar, lenient as [`ContentType::parse_lenient`] says). An error is at
/// offset 0: the value is not part of the body. The one reading for every `from_content_type`.
pub(crate) fn boundary_of(content_type: &[u8], strict: bool) -> Result<&[u8], Error> {
    let at0 = |e: Error| Error::new(e.kind(), 0);
    let ct = ContentType::parse_in(content_type, strict).map_err(at0)?;
    ct.multipart_boundary().map_err(at0)
}
