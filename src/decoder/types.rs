//! What the decoder reports: events, part heads and ends, and the bytes they carry.

use core::ops::Deref;

use crate::boundary::{Boundary, DELIM_HEAD};
use crate::content_id::ContentId;
use crate::content_type::ContentType;
use crate::headers::HeaderBlock;
use crate::http::{RequestHead, ResponseHead};
use crate::MAX_BOUNDARY_LEN;

/// A part's head: its MIME headers and what the decoder read out of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part<'a> {
    pub(super) headers: HeaderBlock<'a>,
    /// The first `Content-Type` value as sent, and its absolute offset.
    pub(super) content_type: Option<(&'a [u8], u64)>,
    pub(super) content_id: Option<ContentId<'a>>,
    pub(super) content_length: Option<u64>,
    pub(super) index: u64,
    pub(super) depth: usize,
}

impl<'a> Part<'a> {
    /// The MIME part headers (possibly none: a part with no headers is legal).
    pub fn headers(&self) -> HeaderBlock<'a> {
        self.headers
    }
    /// The part's `Content-Type`, parsed when asked: `None` without one, an
    /// [`InvalidContentType`](crate::ErrorKind::InvalidContentType) error at the value's
    /// offset when it does not parse. The decoder itself parses only the types that change
    /// what it does (`multipart/*`, `application/http`, `message/http`; every type in strict
    /// mode), so a malformed value of another type is not a decoding error but this one.
    /// Read by the lenient rule ([`ContentType::parse_lenient`]), which agrees with the strict
    /// grammar on every value it accepts: a strict decoder has already refused the others.
    pub fn content_type(&self) -> Option<Result<ContentType<'a>, crate::Error>> {
        self.content_type.map(|(raw, at)| {
            ContentType::parse_lenient(raw)
                .map_err(|_| crate::Error::new(crate::ErrorKind::InvalidContentType, at))
        })
    }
    /// The `Content-Type` value as sent, and its offset in the body.
    pub fn content_type_raw(&self) -> Option<(&'a [u8], u64)> {
        self.content_type
    }
    /// The `Content-ID` of the MIME part header (OData 4.0 puts it here).
    pub fn content_id(&self) -> Option<ContentId<'a>> {
        self.content_id
    }
    /// The part-level `Content-Length` (as Skype UCWA sends). It is checked against the
    /// framing, never used for it: see [`PartEnd::content_length_mismatch`].
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }
    /// The part's number in the body, counted from 0 over all depths in wire order.
    pub fn index(&self) -> u64 {
        self.index
    }
    /// The depth of the multipart the part belongs to; the top level is 1.
    pub fn depth(&self) -> usize {
        self.depth
    }
}

/// The end of a part, with what the framing showed about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartEnd {
    pub(super) framed_len: u64,
    pub(super) declared_len: Option<u64>,
    pub(super) http_body_len: u64,
    pub(super) http_declared_len: Option<u64>,
}

impl PartEnd {
    /// The bytes between the end of the part's headers and its delimiter.
    pub fn framed_len(&self) -> u64 {
        self.framed_len
    }
    /// `Some((declared, framed))` when the part-level `Content-Length` disagreed with the
    /// framing (outside strict mode, where it is an error).
    pub fn content_length_mismatch(&self) -> Option<(u64, u64)> {
        self.declared_len
            .filter(|&d| d != self.framed_len)
            .map(|d| (d, self.framed_len))
    }
    /// `Some((declared, framed))` when an embedded HTTP message's `Content-Length` disagreed
    /// with the body the delimiter framed (outside strict mode, where it is an error): a
    /// longer one always, a shorter one only with [`Config::trust_framing`](crate::Config)
    /// (without it, a shorter one is an error unless only line ends and padding follow). The
    /// body events carried the framed bytes.
    pub fn http_content_length_mismatch(&self) -> Option<(u64, u64)> {
        self.http_declared_len
            .filter(|&d| d != self.http_body_len)
            .map(|d| (d, self.http_body_len))
    }
}

/// The most bytes a [`Carried`] chunk holds: one delimiter's length less one.
pub const MAX_CARRIED: usize = DELIM_HEAD.len() + MAX_BOUNDARY_LEN - 1;

/// Bytes that were held back at a chunk edge because they could have begun a delimiter, and
/// turned out to be content: an owned copy, so that no event borrows the decoder. At most
/// [`MAX_CARRIED`] bytes, and only ever at a chunk edge.
#[derive(Clone, Copy)]
pub struct Carried {
    bytes: [u8; MAX_CARRIED],
    len: u8,
}

impl Carried {
    /// Copies `s`, which the decoder keeps within [`MAX_CARRIED`] bytes.
    pub(super) fn new(s: &[u8]) -> Self {
        let len = s.len().min(MAX_CARRIED);
        let mut bytes = [0; MAX_CARRIED];
        bytes[..len].copy_from_slice(&s[..len]);
        Carried {
            bytes,
            len: len as u8,
        }
    }

    /// The carried bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    pub(super) fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len as u8);
    }
}

impl core::fmt::Debug for Carried {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        crate::headers::ByteStr(self.as_bytes()).fmt(f)
    }
}

impl PartialEq for Carried {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Carried {}

/// A piece of preamble, body or epilogue: a slice of the fed input, or bytes carried over a
/// chunk edge. Dereferences to the bytes either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk<'i> {
    /// A slice of the input that was fed: zero-copy.
    Input(&'i [u8]),
    /// Bytes held back at the previous chunk edge (see [`Carried`]).
    Carried(Carried),
}

impl<'i> Chunk<'i> {
    /// The slice of the fed input, or `None` for carried bytes.
    pub fn input(&self) -> Option<&'i [u8]> {
        match self {
            Chunk::Input(s) => Some(s),
            Chunk::Carried(_) => None,
        }
    }

    /// The bytes, wherever they live.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Chunk::Input(s) => s,
            Chunk::Carried(c) => c.as_bytes(),
        }
    }

    pub(super) fn truncate(&mut self, len: usize) {
        match self {
            Chunk::Input(s) => *s = &s[..len.min(s.len())],
            Chunk::Carried(c) => c.truncate(len),
        }
    }
}

impl Deref for Chunk<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Chunk<'_> {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// What the decoder reports, in wire order.
///
/// A body is `Preamble* (PartStart ... PartEnd)* Epilogue* End`. Inside a part, after
/// `PartStart`, comes one of: `Body*`; `Request`/`Response` then `Body*` for an
/// `application/http` part; or `MultipartStart`, a nested body of the same shape (its own
/// preamble, parts and epilogue), `MultipartEnd`, then the nested epilogue as `Epilogue*`.
///
/// Events borrow the fed input only (`'i`), never the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'i> {
    /// Bytes before the first delimiter of the current multipart (may come in pieces).
    Preamble(Chunk<'i>),
    /// A part begins.
    PartStart(Part<'i>),
    /// The part just started is itself a multipart with this boundary (an OData changeset).
    MultipartStart(Boundary),
    /// The part carries an HTTP request; its body follows as `Body` events.
    Request(RequestHead<'i>),
    /// The part carries an HTTP response; its body follows as `Body` events.
    Response(ResponseHead<'i>),
    /// Body bytes of the current part (may come in pieces).
    Body(Chunk<'i>),
    /// The current part ends.
    PartEnd(PartEnd),
    /// The nested multipart's close delimiter was read.
    MultipartEnd,
    /// Bytes after a close delimiter (may come in pieces).
    Epilogue(Chunk<'i>),
    /// The body is complete. Nothing follows.
    End,
}
