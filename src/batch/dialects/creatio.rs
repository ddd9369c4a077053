//! Creatio's OData batches (seed `003`): OData `$batch` in both formats, with Creatio's
//! habits.
//!
//! - JSON batches whose requests carry their own `headers`, `Prefer: continue-on-error`
//!   among them, and `atomicityGroup`s; responses carry server-generated atomicity group ids.
//! - Multipart batches whose changeset operations carry `Content-ID` inside the embedded
//!   request headers rather than on the MIME part (the reader takes it from either place).
//! - At most 100 requests.
//! - Creatio's own documentation reuses a request id (`t3` twice), so ids are not required
//!   to be unique here; every other OData rule applies.
//! - Continue-on-error: the batch request's `Prefer` header, or, as Creatio's examples put
//!   it on every request, any request's own `Prefer: continue-on-error`.
//!
//! The seed's payloads hold `//` comments that are documentation, not wire data; the
//! fixtures are those payloads with the comments stripped.

use bytes::Bytes;

use crate::batch::error::BatchError;
use crate::batch::formats::json::{read_json, read_json_with};
use crate::batch::formats::multipart::{read_multipart, read_multipart_with};
use crate::batch::model::exec::ExecOptions;
use crate::batch::model::limits::ReadLimits;
use crate::batch::model::prefer::Preferences;
use crate::batch::model::validate::ValidationOptions;
use crate::batch::model::{BatchRequest, BatchResponse, RequestOp, ResponseOp};

/// Requests in one Creatio batch, at most.
pub const MAX_REQUESTS: usize = 100;

/// Creatio's limits: [`ReadLimits::default`] with at most [`MAX_REQUESTS`] operations.
pub fn limits() -> ReadLimits {
    ReadLimits {
        max_operations: MAX_REQUESTS,
        ..ReadLimits::default()
    }
}

/// Creatio's validation: OData 4.01 rules, ids not necessarily unique.
pub fn validation() -> ValidationOptions {
    ValidationOptions {
        unique_content_ids: false,
        ..Default::default()
    }
}

/// Reads a Creatio batch request in either format (`application/json` or multipart).
///
/// ```
/// let doc = br#"{"requests":[{"method":"POST","url":"City","id":"t3","body":{"Name":"Burbank"},
///   "headers":{"Content-Type":"application/json;odata=verbose","Prefer":"continue-on-error"}}]}"#;
/// let b = batchpart::batch::creatio::read_request(doc.to_vec().into(), b"application/json").unwrap();
/// assert!(batchpart::batch::creatio::exec_options(&[], &b).continue_on_error);
/// ```
pub fn read_request(body: Bytes, content_type: &[u8]) -> Result<BatchRequest, BatchError> {
    read_request_under(body, content_type, ReadLimits::default())
}

/// [`read_request`] under `limits`, where they are lower than Creatio's own.
pub(crate) fn read_request_under(
    body: Bytes,
    content_type: &[u8],
    limits: ReadLimits,
) -> Result<BatchRequest, BatchError> {
    let limits = limits.min(self::limits());
    if is_json(content_type) {
        let mut v = validation();
        v.json = true;
        read_json_with::<RequestOp>(body, limits, Some(v))
    } else {
        read_multipart_with::<RequestOp>(body, content_type, limits, Some(validation()))
    }
}

/// Reads a Creatio batch response in either format.
pub fn read_response(body: Bytes, content_type: &[u8]) -> Result<BatchResponse, BatchError> {
    if is_json(content_type) {
        read_json::<ResponseOp>(body, None)
    } else {
        read_multipart::<ResponseOp>(body, content_type, None)
    }
}

fn is_json(ct: &[u8]) -> bool {
    String::from_utf8_lossy(ct)
        .trim()
        .to_ascii_lowercase()
        .starts_with("application/json")
}

/// How to run a Creatio batch: continue on error when the batch's `Prefer` headers, or any
/// request's own, ask for it. Like every OData service, references stay within changesets.
pub fn exec_options(batch_prefer: &[&str], batch: &BatchRequest) -> ExecOptions {
    let batch_level = Preferences::parse(batch_prefer.iter().copied()).continues();
    let per_request = batch.items.iter().flat_map(|i| i.ops()).any(|op| {
        op.headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("prefer")
                && core::str::from_utf8(v).is_ok_and(|v| Preferences::parse([v]).continues())
        })
    });
    ExecOptions {
        continue_on_error: batch_level || per_request,
        ..Default::default()
    }
}
