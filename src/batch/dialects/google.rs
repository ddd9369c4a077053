//! Google APIs' batch endpoint (`POST /batch/<api>/<version>`), as Google's "Send batch
//! requests" guides describe it and google-api-python-client writes it.
//!
//! - `multipart/mixed`, one `application/http` part per call; no changesets.
//! - Request Content-IDs are `<base + N>` ([`request_id`]); the answer to one is
//!   `<response-base + N>` ([`response_id`]). That prefix is this dialect's rule: the writer
//!   of responses applies it, and [`correlate`](crate::batch::correlate) undoes it. Any
//!   Content-ID is read, `<item1:12930812@barnyard.example.com>` as well.
//! - The outer request's headers apply to every call, unless the call sets the same header:
//!   [`read_request`] takes them and adds them where a call has none, all but the `Content-`
//!   headers, which describe the outer body.
//! - At most [`MAX_CALLS`] (1,000) calls per batch; some APIs take fewer (Gmail 100, and
//!   recommends 50): [`limits`] takes the number.
//! - Each answer carries its call's own status; the batch itself is answered `200`.
//! - Embedded bodies are read as framed by the delimiter, with
//!   [`Config::trust_framing`](crate::Config): google-api-python-client writes an embedded
//!   `Content-Length` that counts characters, not bytes.

use bytes::Bytes;

use crate::batch::error::{BatchError, BatchErrorKind as K};
use crate::batch::model::{
    normalize_content_id, Batch, BatchRequest, BatchResponse, Headers, Item,
};
use crate::batch::{read_all, write_multipart, ReadLimits, SplitLimits};
use crate::writer::Encoded;

/// The most calls Google takes in one batch.
pub const MAX_CALLS: usize = 1000;

/// Splitting limits for an API that takes `max_calls` per batch (at most [`MAX_CALLS`]).
pub fn limits(max_calls: usize) -> SplitLimits {
    SplitLimits {
        max_operations: max_calls.min(MAX_CALLS),
        ..SplitLimits::default()
    }
}

/// A request Content-ID in the form google-api-python-client writes and splits on `" + "`.
///
/// ```
/// assert_eq!(batchpart::batch::google::request_id("d7a1", "3"), "<d7a1 + 3>");
/// ```
pub fn request_id(base: &str, n: &str) -> String {
    format!("<{base} + {n}>")
}

/// The Content-ID that answers a request's: `<response-` and the request's id.
///
/// ```
/// use batchpart::batch::google::response_id;
/// assert_eq!(response_id("<d7a1 + 3>"), "<response-d7a1 + 3>");
/// assert_eq!(response_id("item1:1@x"), "<response-item1:1@x>");
/// ```
pub fn response_id(request: &str) -> String {
    format!("<response-{}>", normalize_content_id(request))
}

fn check_flat<Op>(batch: &Batch<Op>) -> Result<(), BatchError> {
    if batch.items.iter().any(|i| matches!(i, Item::Changeset(_))) {
        return Err(BatchError::new(
            K::NestedChangeset,
            "Google batches have no changesets",
        ));
    }
    Ok(())
}

/// Reads a batch request; `outer` are the outer request's headers, which apply to every call
/// that does not set them itself (but the `Content-` ones).
pub fn read_request(
    body: Bytes,
    content_type: &[u8],
    outer: &Headers,
) -> Result<BatchRequest, BatchError> {
    read_request_under(body, content_type, outer, ReadLimits::default())
}

/// [`read_request`] under `limits`, where they are lower than Google's own.
pub(crate) fn read_request_under(
    body: Bytes,
    content_type: &[u8],
    outer: &Headers,
    limits: ReadLimits,
) -> Result<BatchRequest, BatchError> {
    let limits = limits.min(ReadLimits::default().with_max_operations(MAX_CALLS));
    let mut batch: BatchRequest = read_all(body, content_type, limits, true)?;
    check_flat(&batch)?;
    for item in &mut batch.items {
        if let Item::Op(op) = item {
            for (n, v) in outer.iter() {
                let content = n.len() >= 8 && n[..8].eq_ignore_ascii_case("content-");
                if !content && op.headers.get(n).is_none() {
                    op.headers.push(n, v);
                }
            }
        }
    }
    Ok(batch)
}

/// Writes a batch request; Content-IDs as given.
pub fn write_request(
    batch: &BatchRequest,
    boundary: &[u8],
) -> Result<(String, Encoded), BatchError> {
    check_flat(batch)?;
    if batch.op_count() > MAX_CALLS {
        return Err(BatchError::new(
            K::TooManyOperations,
            format!("Google takes at most {MAX_CALLS} calls per batch"),
        ));
    }
    write_multipart(batch, boundary)
}

/// Reads a batch response; each answer keeps its `<response-…>` Content-ID.
pub fn read_response(body: Bytes, content_type: &[u8]) -> Result<BatchResponse, BatchError> {
    let limits = ReadLimits {
        max_operations: MAX_CALLS,
        ..ReadLimits::default()
    };
    let batch: BatchResponse = read_all(body, content_type, limits, true)?;
    check_flat(&batch)?;
    Ok(batch)
}

/// Writes a batch response, each answer's Content-ID in the `<response-…>` form.
pub fn write_response(
    batch: &BatchResponse,
    boundary: &[u8],
) -> Result<(String, Encoded), BatchError> {
    check_flat(batch)?;
    let mut out = batch.clone();
    for item in &mut out.items {
        if let Item::Op(op) = item {
            op.content_id = op.content_id.take().map(|id| {
                if normalize_content_id(&id).starts_with("response-") {
                    id
                } else {
                    response_id(&id).into()
                }
            });
        }
    }
    write_multipart(&out, boundary)
}
