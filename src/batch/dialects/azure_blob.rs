//! Azure Storage's Blob Batch (`POST /?comp=batch`), as its REST reference
//! (learn.microsoft.com/rest/api/storageservices/blob-batch) describes it.
//!
//! - `multipart/mixed` under a `batch_<GUID>` boundary; each part `application/http` with
//!   `Content-Transfer-Encoding: binary` and a numeric `Content-ID` counted from 0.
//! - Every subrequest carries its own `x-ms-date`, `Authorization` and `Content-Length: 0`.
//! - At most [`MAX_SUBREQUESTS`] (256) subrequests, all of one kind: Delete Blob, or Set Blob
//!   Tier (`PUT ...?comp=tier`).
//! - The writer follows the documentation: it numbers the parts, adds `Content-Length: 0`,
//!   and refuses a subrequest without `x-ms-date` or `Authorization`. The reader accepts what
//!   the service accepts: the SDKs' recorded requests leave out `Content-Length: 0` and use
//!   other boundaries.
//! - The answer is `202 Accepted` under a `batchresponse_<GUID>` boundary; a subrequest's
//!   failure comes back inside its part, with its own status.
//! - Splitting renumbers each batch from 0 ([`limits`] sets
//!   [`SplitLimits::renumber`](crate::batch::SplitLimits::renumber)); the plan maps back.

use bytes::Bytes;

use crate::batch::error::{BatchError, BatchErrorKind as K};
use crate::batch::model::{Batch, BatchRequest, BatchResponse, Item, RequestOp};
use crate::batch::{read_all, write_multipart, ReadLimits, SplitLimits};
use crate::writer::Encoded;

/// The most subrequests in one batch.
pub const MAX_SUBREQUESTS: usize = 256;

/// The status of a batch the service took.
pub const BATCH_STATUS: u16 = 202;

/// Splitting limits: 256 subrequests, numbered from 0 in each batch.
pub fn limits() -> SplitLimits {
    SplitLimits {
        max_operations: MAX_SUBREQUESTS,
        renumber: true,
        ..SplitLimits::default()
    }
}

/// The kind of a subrequest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Delete Blob: `DELETE /container/blob`.
    Delete,
    /// Set Blob Tier: `PUT /container/blob?comp=tier`.
    SetTier,
}

/// The kind of a subrequest, if it is one a blob batch takes.
pub fn kind(op: &RequestOp) -> Option<Kind> {
    let query = op.url.split_once('?').map_or("", |(_, q)| q);
    let tier = query.split('&').any(|p| p == "comp=tier");
    match op.method.to_ascii_uppercase().as_str() {
        "DELETE" if !tier => Some(Kind::Delete),
        "PUT" if tier => Some(Kind::SetTier),
        _ => None,
    }
}

/// Checks the batch's shape: no changesets, at most 256 subrequests, all of one kind.
fn check(batch: &BatchRequest) -> Result<(), BatchError> {
    if batch.items.iter().any(|i| matches!(i, Item::Changeset(_))) {
        return Err(BatchError::new(
            K::NestedChangeset,
            "a blob batch has no changesets",
        ));
    }
    if batch.op_count() > MAX_SUBREQUESTS {
        return Err(BatchError::new(
            K::TooManyOperations,
            format!("a blob batch takes at most {MAX_SUBREQUESTS} subrequests"),
        ));
    }
    let mut first = None;
    for (i, op) in batch.items.iter().flat_map(|i| i.ops()).enumerate() {
        let k = kind(op).ok_or_else(|| {
            BatchError::new(
                K::Malformed,
                format!(
                    "{} {} is neither Delete Blob nor Set Blob Tier",
                    op.method, op.url
                ),
            )
            .at_op(i, op.content_id.clone())
        })?;
        if *first.get_or_insert(k) != k {
            return Err(BatchError::new(
                K::Malformed,
                "a blob batch holds subrequests of one kind only",
            )
            .at_op(i, op.content_id.clone()));
        }
    }
    Ok(())
}

/// Reads a batch request, as the service accepts it.
pub fn read_request(body: Bytes, content_type: &[u8]) -> Result<BatchRequest, BatchError> {
    read_request_under(body, content_type, ReadLimits::default())
}

/// [`read_request`] under `limits`, where they are lower than the service's own.
pub(crate) fn read_request_under(
    body: Bytes,
    content_type: &[u8],
    limits: ReadLimits,
) -> Result<BatchRequest, BatchError> {
    let limits = limits.min(ReadLimits::default().with_max_operations(MAX_SUBREQUESTS));
    let batch = read_all(body, content_type, limits, false)?;
    check(&batch)?;
    Ok(batch)
}

/// Writes a batch request as the documentation does: boundary `batch_<guid>`, Content-IDs
/// `0, 1, …`, and `Content-Length: 0` on every subrequest, which must carry its own
/// `x-ms-date` and `Authorization`.
pub fn write_request(batch: &BatchRequest, guid: &str) -> Result<(String, Encoded), BatchError> {
    check(batch)?;
    let mut out = Batch::default();
    for (i, op) in batch.items.iter().flat_map(|i| i.ops()).enumerate() {
        for need in ["x-ms-date", "authorization"] {
            if op.headers.get(need).is_none() {
                return Err(BatchError::new(
                    K::Malformed,
                    format!("a blob subrequest needs its own {need}"),
                )
                .at_op(i, op.content_id.clone()));
            }
        }
        let mut op = op.clone();
        op.content_id = Some(i.to_string().into());
        if op.headers.get("content-length").is_none() {
            op.headers.push("Content-Length", "0");
        }
        out.items.push(Item::Op(op));
    }
    write_multipart(&out, format!("batch_{guid}").as_bytes())
}

/// Reads a batch response (`202`, `batchresponse_` boundary); each subrequest's status is in
/// its part.
pub fn read_response(body: Bytes, content_type: &[u8]) -> Result<BatchResponse, BatchError> {
    let limits = ReadLimits {
        max_operations: MAX_SUBREQUESTS,
        ..ReadLimits::default()
    };
    read_all(body, content_type, limits, false)
}

/// The error that refused a batch as a whole, if it was: Azure answers such a batch `202`
/// with a single error part that carries no Content-ID (`AllBatchSubRequestsShouldBeSameApi`;
/// Azurite says `InvalidInput`), where a subrequest's own answer carries its Content-ID. Every
/// subrequest of the batch then has that part's status.
///
/// ```
/// use batchpart::batch::{azure_blob, Batch, Item, ResponseOp};
/// let refused = Batch { items: vec![Item::Op(ResponseOp::new(400))] };
/// assert_eq!(azure_blob::whole_batch_error(&refused).map(|r| r.status), Some(400));
/// let answered = Batch { items: vec![Item::Op(ResponseOp::new(404).with_content_id("0"))] };
/// assert!(azure_blob::whole_batch_error(&answered).is_none());
/// ```
pub fn whole_batch_error(answer: &BatchResponse) -> Option<&crate::batch::ResponseOp> {
    match answer.items.as_slice() {
        [Item::Op(r)] if r.content_id.is_none() && r.is_error() => Some(r),
        _ => None,
    }
}

/// Writes a batch response under a `batchresponse_<guid>` boundary.
pub fn write_response(batch: &BatchResponse, guid: &str) -> Result<(String, Encoded), BatchError> {
    write_multipart(batch, format!("batchresponse_{guid}").as_bytes())
}
