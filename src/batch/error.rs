//! The batch layer's error: a kind, the operation it concerns, and a detail.

use core::fmt;
use std::sync::Arc;

/// What went wrong at the batch level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BatchErrorKind {
    /// The multipart body is malformed (see [`BatchError::decode_error`]).
    Multipart,
    /// The JSON is malformed; the detail gives line and column.
    Json,
    /// A required JSON member is missing or has the wrong type.
    Malformed,
    /// A part is not `application/http`.
    NotHttp,
    /// A response where a request was expected, or the other way round.
    UnexpectedKind,
    /// A changeset holds a GET.
    GetInChangeset,
    /// A changeset inside a changeset.
    NestedChangeset,
    /// A changeset operation (or a JSON request) has no Content-ID (`id`).
    MissingContentId,
    /// A Content-ID (or JSON `id`) appears twice where it must be unique.
    DuplicateContentId,
    /// A JSON `id` equals an `atomicityGroup`.
    IdEqualsGroup,
    /// The members of a JSON atomicity group are not adjacent.
    GroupNotAdjacent,
    /// `dependsOn` names something that is not an earlier request or group.
    UnknownDependency,
    /// A JSON URL starts with `$id` but `id` is not in `dependsOn`.
    ReferenceNotInDependsOn,
    /// A batch request inside a batch.
    NestedBatch,
    /// An operation URL that resolves outside the service root: another origin, a path that
    /// dot segments lead out of the root, or a target that is not an HTTP resource (see
    /// [`ServiceRoot`](crate::batch::ServiceRoot)).
    OutsideServiceRoot,
    /// More operations than the configured maximum (validation's `max_operations`, or the
    /// readers' [`ReadLimits::max_operations`](crate::batch::ReadLimits::max_operations)).
    TooManyOperations,
    /// Limit: one operation's body is over
    /// [`ReadLimits::max_body_bytes`](crate::batch::ReadLimits::max_body_bytes).
    BodyTooLarge,
    /// Limit: the batch is over
    /// [`ReadLimits::max_batch_bytes`](crate::batch::ReadLimits::max_batch_bytes).
    BatchTooLarge,
    /// Limit: an operation's headers (or one JSON element's members other than its body) are
    /// over [`ReadLimits::max_header_bytes`](crate::batch::ReadLimits::max_header_bytes).
    HeaderTooLarge,
    /// Limit: an operation has more headers than
    /// [`ReadLimits::max_headers_per_request`](crate::batch::ReadLimits::max_headers_per_request).
    TooManyHeaders,
    /// Limit: a `dependsOn` list is longer than
    /// [`ReadLimits::max_depends_on`](crate::batch::ReadLimits::max_depends_on).
    TooManyDependencies,
    /// A JSON object of the batch names a member twice (two parsers could read it two ways).
    DuplicateMember,
    /// A header value that the format cannot carry as it is (a JSON batch's values are
    /// strings: they must be UTF-8).
    InvalidHeader,
    /// An operation carries a header that batch operations must not carry.
    ForbiddenHeader,
    /// A body could not be encoded or decoded (bad base64url, invalid JSON body).
    Body,
    /// The inner byte stream failed.
    Source,
    /// The encoder refused the model.
    Encode,
    /// A status monitor answered with neither `202` (still running) nor the batch's answer:
    /// unknown, expired, cancelled, or not the caller's.
    Monitor,
}

impl BatchErrorKind {
    /// A short, stable name, as the `batch` example prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            BatchErrorKind::Multipart => "multipart",
            BatchErrorKind::Json => "json",
            BatchErrorKind::Malformed => "malformed",
            BatchErrorKind::NotHttp => "not-http",
            BatchErrorKind::UnexpectedKind => "unexpected-kind",
            BatchErrorKind::GetInChangeset => "get-in-changeset",
            BatchErrorKind::NestedChangeset => "nested-changeset",
            BatchErrorKind::MissingContentId => "missing-content-id",
            BatchErrorKind::DuplicateContentId => "duplicate-content-id",
            BatchErrorKind::IdEqualsGroup => "id-equals-group",
            BatchErrorKind::GroupNotAdjacent => "group-not-adjacent",
            BatchErrorKind::UnknownDependency => "unknown-dependency",
            BatchErrorKind::ReferenceNotInDependsOn => "reference-not-in-depends-on",
            BatchErrorKind::NestedBatch => "nested-batch",
            BatchErrorKind::OutsideServiceRoot => "outside-service-root",
            BatchErrorKind::TooManyOperations => "too-many-operations",
            BatchErrorKind::BodyTooLarge => "body-too-large",
            BatchErrorKind::BatchTooLarge => "batch-too-large",
            BatchErrorKind::HeaderTooLarge => "header-too-large",
            BatchErrorKind::TooManyHeaders => "too-many-headers",
            BatchErrorKind::TooManyDependencies => "too-many-dependencies",
            BatchErrorKind::DuplicateMember => "duplicate-member",
            BatchErrorKind::InvalidHeader => "invalid-header",
            BatchErrorKind::ForbiddenHeader => "forbidden-header",
            BatchErrorKind::Body => "body",
            BatchErrorKind::Source => "source",
            BatchErrorKind::Encode => "encode",
            BatchErrorKind::Monitor => "monitor",
        }
    }
}

/// The inner error a batch error keeps, shared so that the batch error stays `Clone`.
type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// A batch error: what went wrong, where (the byte offset in the batch and the operation,
/// where known), and the inner error it came from, returned by
/// [`source`](std::error::Error::source).
#[derive(Debug, Clone)]
pub struct BatchError {
    kind: BatchErrorKind,
    detail: String,
    op: Option<(usize, Option<crate::batch::Text>)>,
    offset: Option<u64>,
    source: Option<Source>,
}

impl BatchError {
    /// An error of this kind with a detail.
    pub fn new(kind: BatchErrorKind, detail: impl Into<String>) -> Self {
        BatchError {
            kind,
            detail: detail.into(),
            op: None,
            offset: None,
            source: None,
        }
    }

    /// Names the operation: its index in the batch (from 0) and its Content-ID.
    pub fn at_op(mut self, index: usize, content_id: Option<crate::batch::Text>) -> Self {
        self.op = Some((index, content_id));
        self
    }

    /// Names the byte offset in the batch where the error was found.
    pub fn at_offset(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }

    /// Keeps the inner error.
    pub fn with_source(mut self, e: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(e));
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> BatchErrorKind {
        self.kind
    }

    /// The detail.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The operation concerned: index from 0, and Content-ID.
    pub fn op(&self) -> Option<(usize, Option<&str>)> {
        self.op.as_ref().map(|(i, c)| (*i, c.as_deref()))
    }

    /// The byte offset in the batch where the error was found, where known.
    pub fn offset(&self) -> Option<u64> {
        self.offset
    }

    /// The codec error, for [`BatchErrorKind::Multipart`].
    pub fn decode_error(&self) -> Option<crate::Error> {
        self.source
            .as_deref()
            .and_then(|e| e.downcast_ref::<crate::Error>())
            .copied()
    }
}

impl From<crate::Error> for BatchError {
    fn from(e: crate::Error) -> Self {
        BatchError::new(BatchErrorKind::Multipart, e.to_string())
            .at_offset(e.offset())
            .with_source(e)
    }
}

impl From<crate::encoder::EncodeError> for BatchError {
    fn from(e: crate::encoder::EncodeError) -> Self {
        BatchError::new(BatchErrorKind::Encode, e.to_string()).with_source(e)
    }
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.detail)?;
        match &self.op {
            Some((i, Some(id))) => write!(f, " (operation {}, Content-ID {id})", i + 1)?,
            Some((i, None)) => write!(f, " (operation {})", i + 1)?,
            None => {}
        }
        Ok(())
    }
}

impl std::error::Error for BatchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
