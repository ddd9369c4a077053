//! The one error type of the codec: a kind and the absolute byte offset where it was detected.

use core::fmt;

/// What went wrong. Every kind names one rule or one limit, so a caller can match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The boundary is empty, longer than 70 characters, ends in a space, or holds a character
    /// outside the RFC 2046 `bchars` set.
    InvalidBoundary,
    /// The `Content-Type` value does not parse (bad token, unclosed quote, stray bytes).
    InvalidContentType,
    /// The `Content-Type` is not `multipart/*` where a multipart body was expected.
    NotMultipart,
    /// A `multipart/*` `Content-Type` carries no `boundary` parameter.
    MissingBoundary,
    /// A header line is malformed (as judged by `httparse`), or the first header line of a
    /// block starts with white space.
    InvalidHeader,
    /// Strict mode only: a line ends in a bare LF instead of CRLF.
    BareLineFeed,
    /// A delimiter line holds something other than `--`, transport padding and a line end
    /// after the boundary.
    InvalidDelimiterLine,
    /// The input ended before the close delimiter of every open multipart.
    MissingCloseDelimiter,
    /// The input ended inside a header block or an embedded HTTP head.
    IncompleteHeader,
    /// Limit: a header block (or embedded HTTP head, or delimiter line padding) is larger than
    /// [`Limits::max_header_bytes`](crate::Limits::max_header_bytes).
    HeaderTooLarge,
    /// Limit: more header fields in one block than
    /// [`Limits::max_headers`](crate::Limits::max_headers).
    TooManyHeaders,
    /// Limit: more parts, at all depths, than [`Limits::max_parts`](crate::Limits::max_parts).
    TooManyParts,
    /// Limit: nested multiparts deeper than [`Limits::max_depth`](crate::Limits::max_depth).
    NestingTooDeep,
    /// Limit: the preamble is longer than
    /// [`Limits::max_preamble_bytes`](crate::Limits::max_preamble_bytes).
    PreambleTooLarge,
    /// A nested boundary equals an enclosing boundary or is a prefix of one, so the enclosing
    /// delimiter would be read as the nested one.
    NestedBoundaryConflict,
    /// An embedded request line is malformed (no method, bad method token, no target).
    InvalidRequestLine,
    /// An embedded status line is malformed (no `HTTP/x.y`, no three-digit status).
    InvalidStatusLine,
    /// A `Content-Length` value is negative, not a number, or overflows.
    InvalidContentLength,
    /// A `Content-Length` disagrees with the bytes the delimiter frames (strict mode, or an
    /// embedded length followed by data other than white space).
    ContentLengthMismatch,
    /// Strict mode only: an embedded HTTP head is not closed by its own blank line before the
    /// delimiter.
    HeadWithoutBlankLine,
    /// Two `Content-Length` fields with different values, on a part or in an embedded head
    /// (RFC 9112 §6.3). An error in every mode.
    ConflictingContentLength,
    /// Strict mode only: a `Content-Length` field repeated with the same value.
    DuplicateContentLength,
    /// Misuse: a feed was shorter than the bytes the previous feed left unconsumed, which
    /// must be presented again (see [`Feed::consumed`](crate::Feed::consumed)).
    UnconsumedInputMissing,
}

impl ErrorKind {
    /// A short, stable, human-readable description.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidBoundary => "invalid boundary",
            ErrorKind::InvalidContentType => "invalid content-type",
            ErrorKind::NotMultipart => "content-type is not multipart",
            ErrorKind::MissingBoundary => "missing boundary parameter",
            ErrorKind::InvalidHeader => "invalid header line",
            ErrorKind::BareLineFeed => "bare LF line ending in strict mode",
            ErrorKind::InvalidDelimiterLine => "invalid delimiter line",
            ErrorKind::MissingCloseDelimiter => "missing close delimiter",
            ErrorKind::IncompleteHeader => "incomplete header block",
            ErrorKind::HeaderTooLarge => "header block exceeds max_header_bytes",
            ErrorKind::TooManyHeaders => "header count exceeds max_headers",
            ErrorKind::TooManyParts => "part count exceeds max_parts",
            ErrorKind::NestingTooDeep => "nesting exceeds max_depth",
            ErrorKind::PreambleTooLarge => "preamble exceeds max_preamble_bytes",
            ErrorKind::NestedBoundaryConflict => "nested boundary conflicts with an enclosing one",
            ErrorKind::InvalidRequestLine => "invalid request line",
            ErrorKind::InvalidStatusLine => "invalid status line",
            ErrorKind::InvalidContentLength => "invalid content-length",
            ErrorKind::ContentLengthMismatch => "content-length disagrees with framing",
            ErrorKind::HeadWithoutBlankLine => "embedded head not closed by a blank line",
            ErrorKind::ConflictingContentLength => "conflicting content-length values",
            ErrorKind::DuplicateContentLength => "repeated content-length in strict mode",
            ErrorKind::UnconsumedInputMissing => {
                "feed did not present the bytes the previous feed left unconsumed"
            }
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A codec error: what went wrong and the absolute byte offset in the stream where it was
/// detected (counted from the first byte ever fed, across all chunks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Error {
    kind: ErrorKind,
    offset: u64,
}

impl Error {
    /// Builds an error. Mostly useful to layers built on the codec.
    pub fn new(kind: ErrorKind, offset: u64) -> Self {
        Error { kind, offset }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The absolute byte offset where it was detected.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.kind, self.offset)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
