//! What the encoder refuses.

/// What the encoder refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EncodeErrorKind {
    /// The boundary is not 1 to 70 RFC 2046 characters without a trailing space, or a nested
    /// boundary equals or prefixes an enclosing one.
    InvalidBoundary,
    /// A header name is not an RFC 9110 token.
    InvalidHeaderName,
    /// A header value holds CR, LF, NUL or another control character (header injection).
    InvalidHeaderValue,
    /// A method is not a token.
    InvalidMethod,
    /// A request target is empty or holds a control character (or a space, unless allowed).
    InvalidTarget,
    /// The [`Sink`](super::Sink) has not the room for this write; nothing was written.
    NeedsRoom,
    /// A version is not `HTTP/d.d`.
    InvalidVersion,
    /// A status is outside 100..=999, or a reason phrase holds a control character.
    InvalidStatus,
    /// A nested close without a nested open, or `finish` with changesets still open.
    Unbalanced,
    /// Nesting deeper than [`MAX_DEPTH`](crate::MAX_DEPTH).
    NestingTooDeep,
    /// Output after the close delimiter, or a preamble after the first part.
    OutOfOrder,
    /// A body, preamble or epilogue holds a line that starts with a delimiter, or a header
    /// name or method would start a line with one.
    BoundaryInBody,
    /// A caller-supplied `Content-Type` names another boundary than the one given.
    ContentTypeMismatch,
    /// A body stream was given where only whole bodies can be written.
    StreamingBody,
}

/// An encoder error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncodeError {
    kind: EncodeErrorKind,
}

impl EncodeError {
    pub(crate) fn new(kind: EncodeErrorKind) -> Self {
        EncodeError { kind }
    }
    /// What was refused.
    pub fn kind(&self) -> EncodeErrorKind {
        self.kind
    }
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = match self.kind {
            EncodeErrorKind::InvalidBoundary => "invalid boundary",
            EncodeErrorKind::InvalidHeaderName => "invalid header name",
            EncodeErrorKind::InvalidHeaderValue => "invalid header value (CR, LF, NUL or control)",
            EncodeErrorKind::InvalidMethod => "invalid method",
            EncodeErrorKind::InvalidTarget => "invalid request target",
            EncodeErrorKind::InvalidVersion => "invalid HTTP version",
            EncodeErrorKind::InvalidStatus => "invalid status or reason",
            EncodeErrorKind::Unbalanced => "unbalanced multipart nesting",
            EncodeErrorKind::NestingTooDeep => "nesting too deep",
            EncodeErrorKind::OutOfOrder => "output out of order",
            EncodeErrorKind::BoundaryInBody => "delimiter found in content",
            EncodeErrorKind::ContentTypeMismatch => "content-type names another boundary",
            EncodeErrorKind::StreamingBody => "streaming body needs the stream output",
            EncodeErrorKind::NeedsRoom => "the output needs more room",
        };
        f.write_str(s)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EncodeError {}

pub(super) fn err<T>(kind: EncodeErrorKind) -> Result<T, EncodeError> {
    Err(EncodeError::new(kind))
}
