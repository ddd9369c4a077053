//! RingCentral batches: one homogeneous resource type, addressed by comma-separated IDs in the
//! path (`.../message-store/2447722008,2416832008`), for GET, PUT and DELETE.
//!
//! - A PUT request body is `multipart/mixed` with one plain `application/json` part per ID, in
//!   the path's order (not `application/http`).
//! - A response is `207 Multi-Status` with a `multipart/mixed` body: a JSON summary part
//!   `{"response":[{"href","status","responseDescription"}...]}`, then one `application/json`
//!   part per resource, in the same order.
//! - The `application/vnd.ringcentral.multipart+json` form: requests are a JSON array of
//!   `{"resourceId"?, "body"}` (IDs in the path, or in the elements with `.../*`); responses a
//!   JSON array of `{"resourceId", "status", "body"}` (as RingCentral's SDKs define
//!   `MultipartResponseEntryBase`).
//!
//! The batch status ([`batch_status`]): `204 No Content` for a DELETE that succeeded for every
//! resource (its parts would all be identical), `207 Multi-Status` otherwise. A failure of the
//! whole endpoint (404 for an unknown endpoint, 5xx) is answered with that plain status and no
//! per-resource results; the readers return it as a [`Response`] with no results.
//!
//! The model mapping ([`to_batch`], [`from_batch`]) turns a RingCentral batch into one
//! operation per resource, not atomic, run to the end whatever fails (RingCentral batches are
//! not transactional), so the OData executor serves it with the same handler.

use bytes::{Bytes, BytesMut};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::batch::error::{BatchError, BatchErrorKind as K};
use crate::batch::formats::json::{for_each_element, to_json};
use crate::batch::model::{Batch, BatchRequest, BatchResponse, Item, RequestOp, ResponseOp};
use crate::batch::ReadLimits;
use crate::stream::{PartEvent, PartStream, StreamError};
use crate::writer::{Encoded, Writer};

/// The media type of the JSON form.
pub const MULTIPART_JSON: &str = "application/vnd.ringcentral.multipart+json";

/// A batch path split into its base and IDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdPath {
    /// The path up to the ID segment, without its trailing `/`.
    pub base: String,
    /// The IDs, in order; empty for `*` (IDs in the request body).
    pub ids: Vec<String>,
}

/// Splits `.../message-store/1,2` into base and IDs (the query is dropped).
///
/// ```
/// let p = batchpart::batch::ringcentral::split_ids("/restapi/v1.0/account/~/extension/~/message-store/2447722008,2416832008").unwrap();
/// assert_eq!(p.ids, ["2447722008", "2416832008"]);
/// assert!(p.base.ends_with("/message-store"));
/// ```
pub fn split_ids(path: &str) -> Option<IdPath> {
    let path = path.split('?').next().unwrap_or(path).trim_end_matches('/');
    let (base, last) = path.rsplit_once('/')?;
    let ids: Vec<String> = if last == "*" {
        Vec::new()
    } else {
        last.split(',').map(|s| s.trim().to_string()).collect()
    };
    if ids.iter().any(String::is_empty) || last.is_empty() {
        return None;
    }
    Some(IdPath {
        base: base.to_string(),
        ids,
    })
}

/// Joins a base and IDs back into a batch path.
pub fn join_ids(base: &str, ids: &[String]) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        if ids.is_empty() {
            "*".to_string()
        } else {
            ids.join(",")
        }
    )
}

/// One resource's result.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceResult {
    /// The resource's ID.
    pub resource_id: String,
    /// Its status.
    pub status: u16,
    /// The summary's `href`, when the multipart form gave one.
    pub href: Option<String>,
    /// The summary's `responseDescription`.
    pub description: Option<String>,
    /// Its JSON body (empty when none).
    pub body: Bytes,
}

/// A batch response: the HTTP status and the per-resource results.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// 207, 204, or the endpoint's own failure status.
    pub status: u16,
    /// Per-resource results, in request order (none for a whole-endpoint failure).
    pub results: Vec<ResourceResult>,
}

/// The batch status for these results: 204 when a DELETE succeeded for every resource, 207
/// otherwise.
pub fn batch_status(method: &str, results: &[ResourceResult]) -> u16 {
    if method.eq_ignore_ascii_case("DELETE")
        && results.iter().all(|r| (200..300).contains(&r.status))
    {
        204
    } else {
        207
    }
}

/// The plain parts of a multipart body, in order (nested multiparts are refused).
/// The bodies of a multipart of plain parts, read event by event under the default
/// [`ReadLimits`]: parts counted as they start (one more for a 207's summary), each body and
/// the whole body bounded.
fn plain_parts(body: &Bytes, content_type: &[u8]) -> Result<Vec<Bytes>, BatchError> {
    let limits = ReadLimits::default();
    if body.len() as u64 > limits.max_batch_bytes {
        return Err(BatchError::new(
            K::BatchTooLarge,
            format!(
                "the batch is over max_batch_bytes ({})",
                limits.max_batch_bytes
            ),
        )
        .at_offset(limits.max_batch_bytes));
    }
    let ct = crate::ContentType::parse(content_type)?;
    let src = crate::stream::iter([Ok::<_, core::convert::Infallible>(body.clone())]);
    let cfg = limits.decoder_config(crate::Config::default());
    let mut events = PartStream::with_config(src, ct.multipart_boundary()?, cfg)?;
    let mut parts = Vec::new();
    let mut cur: Option<BytesMut> = None;
    let mut one: Option<Bytes> = None;
    while let Some(ev) = crate::block::next(&mut events) {
        match ev.map_err(|e| match e {
            StreamError::Decode(e) => BatchError::from(e),
            StreamError::Source(e) => match e {},
        })? {
            PartEvent::PartStart(_) => {
                if parts.len() > limits.max_operations {
                    return Err(BatchError::new(
                        K::TooManyOperations,
                        format!("over max_operations ({})", limits.max_operations),
                    )
                    .at_op(parts.len(), None));
                }
                cur = None;
                one = None;
            }
            PartEvent::Body(b) => {
                let len =
                    cur.as_ref().map_or(0, BytesMut::len) + one.as_ref().map_or(0, Bytes::len);
                if len + b.len() > limits.max_body_bytes {
                    return Err(BatchError::new(
                        K::BodyTooLarge,
                        format!("a body is over max_body_bytes ({})", limits.max_body_bytes),
                    )
                    .at_op(parts.len(), None));
                }
                // One piece stays shared with the input; more are gathered once.
                match (&mut cur, one.take()) {
                    (Some(c), _) => c.extend_from_slice(&b),
                    (None, Some(first)) => {
                        let mut c = BytesMut::from(&first[..]);
                        c.extend_from_slice(&b);
                        cur = Some(c);
                    }
                    (None, None) => one = Some(b),
                }
            }
            PartEvent::PartEnd(_) => {
                parts.push(match (cur.take(), one.take()) {
                    (Some(c), _) => c.freeze(),
                    (None, Some(b)) => b,
                    (None, None) => Bytes::new(),
                });
            }
            PartEvent::MultipartStart(_) | PartEvent::Http(_) => {
                return Err(BatchError::new(
                    K::Malformed,
                    "a RingCentral part is plain application/json",
                ))
            }
            _ => {}
        }
    }
    Ok(parts)
}

fn json_parts_body(
    bodies: impl IntoIterator<Item = Bytes>,
    boundary: &[u8],
) -> Result<(String, Encoded), BatchError> {
    let mut w = Writer::new(boundary)?;
    w.check_bodies(true);
    for b in bodies {
        w.part([("Content-Type", "application/json")], b)?;
    }
    let ct = w.content_type("mixed");
    Ok((ct, w.finish(b"")?))
}

/// Reads a multipart PUT request: one JSON body per ID of the path, paired in order.
pub fn read_put(
    body: Bytes,
    content_type: &[u8],
    path: &str,
) -> Result<Vec<(String, Bytes)>, BatchError> {
    let ids = split_ids(path)
        .ok_or_else(|| BatchError::new(K::Malformed, "no resource IDs in the path"))?
        .ids;
    let parts = plain_parts(&body, content_type)?;
    if parts.len() != ids.len() {
        return Err(BatchError::new(
            K::Malformed,
            format!("{} IDs in the path but {} parts", ids.len(), parts.len()),
        ));
    }
    Ok(ids.into_iter().zip(parts).collect())
}

/// Writes a multipart PUT request body: one `application/json` part per body.
pub fn write_put(bodies: &[Bytes], boundary: &[u8]) -> Result<(String, Encoded), BatchError> {
    json_parts_body(bodies.iter().cloned(), boundary)
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    response: Vec<SummaryEntry>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SummaryEntry {
    href: Option<String>,
    status: u16,
    response_description: Option<String>,
}

fn json_err(e: serde_json::Error) -> BatchError {
    BatchError::new(K::Json, format!("{e}")).with_source(e)
}

/// The elements of a JSON form, read one at a time under the default [`ReadLimits`]: no
/// document tree, operations counted as they start, duplicate members refused.
/// One element of a JSON form: its resource ID, status and body.
type Entry = (Option<String>, Option<u16>, Bytes);

fn json_entries(body: &[u8]) -> Result<Vec<Entry>, BatchError> {
    let mut out = Vec::new();
    for_each_element(body, "", &ReadLimits::default(), |el, offset| {
        let e: JsonEntry<'_> = serde_json::from_slice(el).map_err(|e| {
            let kind = if e.to_string().starts_with("duplicate field") {
                K::DuplicateMember
            } else {
                K::Json
            };
            BatchError::new(kind, e.to_string())
                .at_offset(offset)
                .with_source(e)
        })?;
        let body = e
            .body
            .map(|b| Bytes::copy_from_slice(b.get().as_bytes()))
            .unwrap_or_default();
        out.push((id_string(e.resource_id), e.status, body));
        Ok(())
    })?;
    Ok(out)
}

/// Reads a batch response in the multipart form: the summary part, then one part per
/// resource. Resource IDs come from the `href`s, or from `ids` (the request's) by position.
pub fn read_multipart_response(
    body: Bytes,
    content_type: &[u8],
    status: u16,
    ids: &[String],
) -> Result<Response, BatchError> {
    if status == 204 {
        let results = ids
            .iter()
            .map(|id| ResourceResult {
                resource_id: id.clone(),
                status: 204,
                ..Default::default()
            })
            .collect();
        return Ok(Response { status, results });
    }
    if status != 207 {
        return Ok(Response {
            status,
            results: Vec::new(),
        });
    }
    let mut parts = plain_parts(&body, content_type)?.into_iter();
    let summary: Summary = serde_json::from_slice(
        &parts
            .next()
            .ok_or_else(|| BatchError::new(K::Malformed, "no summary part"))?,
    )
    .map_err(json_err)?;
    let bodies: Vec<Bytes> = parts.collect();
    if bodies.len() != summary.response.len() {
        return Err(BatchError::new(
            K::Malformed,
            format!(
                "{} summary entries but {} parts",
                summary.response.len(),
                bodies.len()
            ),
        ));
    }
    let results = summary
        .response
        .into_iter()
        .zip(bodies)
        .enumerate()
        .map(|(i, (s, body))| ResourceResult {
            resource_id: s
                .href
                .as_deref()
                .and_then(|h| {
                    h.split('?')
                        .next()?
                        .trim_end_matches('/')
                        .rsplit('/')
                        .next()
                        .map(str::to_string)
                })
                .or_else(|| ids.get(i).cloned())
                .unwrap_or_default(),
            status: s.status,
            href: s.href,
            description: s.response_description,
            body,
        })
        .collect();
    Ok(Response { status, results })
}

/// A summary entry of a multipart response.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct SummaryOut<'a> {
    href: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_description: Option<&'a str>,
}

/// An element of the JSON forms; a missing body is `null`.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Element<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    body: Option<&'a RawValue>,
}

/// Writes a batch response in the multipart form; returns the status to send (see
/// [`batch_status`]), the Content-Type and the body (empty for 204).
pub fn write_multipart_response(
    method: &str,
    results: &[ResourceResult],
    boundary: &[u8],
) -> Result<(u16, String, Encoded), BatchError> {
    let status = batch_status(method, results);
    if status == 204 {
        return Ok((204, String::new(), Encoded::default()));
    }
    let entries: Vec<SummaryOut<'_>> = results
        .iter()
        .map(|r| SummaryOut {
            href: r.href.as_deref().unwrap_or(&r.resource_id),
            status: r.status,
            response_description: r.description.as_deref(),
        })
        .collect();
    #[derive(serde::Serialize)]
    struct Summary<'a> {
        response: Vec<SummaryOut<'a>>,
    }
    let summary = Bytes::from(to_json(&Summary { response: entries })?);
    let (ct, body) = json_parts_body(
        core::iter::once(summary).chain(results.iter().map(|r| r.body.clone())),
        boundary,
    )?;
    Ok((status, ct, body))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonEntry<'a> {
    resource_id: Option<Value>,
    status: Option<u16>,
    #[serde(borrow)]
    body: Option<&'a RawValue>,
}

fn id_string(v: Option<Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Reads a request in the JSON form: `(resource ID, body)` pairs, IDs from the path or, for
/// `.../*`, from each element's `resourceId`.
pub fn read_json_request(body: &[u8], path: &str) -> Result<Vec<(String, Bytes)>, BatchError> {
    let ids = split_ids(path).map(|p| p.ids).unwrap_or_default();
    let entries = json_entries(body)?;
    if !ids.is_empty() && ids.len() != entries.len() {
        return Err(BatchError::new(
            K::Malformed,
            format!(
                "{} IDs in the path but {} elements",
                ids.len(),
                entries.len()
            ),
        ));
    }
    entries
        .into_iter()
        .enumerate()
        .map(|(i, (resource_id, _, body))| {
            let id = resource_id.or_else(|| ids.get(i).cloned()).ok_or_else(|| {
                BatchError::new(
                    K::Malformed,
                    format!("element {} has no resourceId and the path no ID", i + 1),
                )
            })?;
            Ok((id, body))
        })
        .collect()
}

fn raw_or_null(b: &Bytes) -> Result<Option<&RawValue>, BatchError> {
    if b.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice::<&RawValue>(b)
        .map(Some)
        .map_err(|_| BatchError::new(K::Body, "a RingCentral body must be JSON"))
}

/// Writes a request in the JSON form; `with_ids` puts each resource ID in its element (for a
/// `.../*` path).
pub fn write_json_request(items: &[(String, Bytes)], with_ids: bool) -> Result<String, BatchError> {
    let els = items
        .iter()
        .map(|(id, b)| {
            Ok(Element {
                resource_id: with_ids.then_some(id.as_str()),
                status: None,
                body: raw_or_null(b)?,
            })
        })
        .collect::<Result<Vec<_>, BatchError>>()?;
    to_json(&els)
}

/// Reads a response in the JSON form.
pub fn read_json_response(body: &[u8], status: u16) -> Result<Response, BatchError> {
    if status != 207 {
        return Ok(Response {
            status,
            results: Vec::new(),
        });
    }
    let results = json_entries(body)?
        .into_iter()
        .map(|(resource_id, status, body)| ResourceResult {
            resource_id: resource_id.unwrap_or_default(),
            status: status.unwrap_or(0),
            body,
            ..Default::default()
        })
        .collect();
    Ok(Response { status, results })
}

/// Writes a response in the JSON form.
pub fn write_json_response(results: &[ResourceResult]) -> Result<String, BatchError> {
    let els = results
        .iter()
        .map(|r| {
            Ok(Element {
                resource_id: Some(&r.resource_id),
                status: Some(r.status),
                body: raw_or_null(&r.body)?,
            })
        })
        .collect::<Result<Vec<_>, BatchError>>()?;
    to_json(&els)
}

/// The batch as one operation per resource: `method base/id`, with the resource's body.
/// Content-IDs are the resource IDs.
pub fn to_batch(method: &str, base: &str, items: &[(String, Bytes)]) -> BatchRequest {
    let items = items
        .iter()
        .map(|(id, body)| {
            let mut op = RequestOp::new(
                method.to_ascii_uppercase(),
                format!("{}/{id}", base.trim_end_matches('/')),
            )
            .with_content_id(id.clone());
            if !body.is_empty() {
                op = op
                    .with_header("Content-Type", "application/json")
                    .with_body(body.clone());
            }
            Item::Op(op)
        })
        .collect();
    Batch { items }
}

/// Per-resource results from the executor's response (run with continue-on-error).
pub fn from_batch(response: &BatchResponse) -> Vec<ResourceResult> {
    response
        .items
        .iter()
        .flat_map(|i| i.ops())
        .map(|r: &ResponseOp| ResourceResult {
            resource_id: r.content_id.clone().unwrap_or_default(),
            status: r.status,
            href: None,
            description: crate::encoder::canonical_reason(r.status).map(str::to_string),
            body: r.body.clone(),
        })
        .collect()
}
