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

use bytes::Bytes;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::batch::error::{BatchError, BatchErrorKind as K};
use crate::batch::formats::drive::{read_whole, Driven, Machine};
use crate::batch::formats::json::{for_each_element, to_json};
use crate::batch::formats::multipart::Body;
use crate::batch::model::{Batch, BatchRequest, BatchResponse, Item, RequestOp, ResponseOp};
use crate::batch::ReadLimits;
use crate::stream::PartEvent;
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

/// The plain `application/json` parts of a RingCentral multipart body, sans-IO: part events
/// in, each body out as its part ends. Parts counted as they start, each body as its bytes
/// arrive; nested multiparts and `application/http` parts are refused.
struct Parts {
    limits: ReadLimits,
    parts: usize,
    body: Body,
}

impl Machine for Parts {
    type Out = Bytes;

    fn limits(&self) -> &ReadLimits {
        &self.limits
    }

    fn push(&mut self, ev: PartEvent, _at: u64) -> Result<Option<Bytes>, BatchError> {
        match ev {
            PartEvent::PartStart(_) => {
                self.parts += 1;
                // A 207 response has one more part than operations: its summary.
                if self.parts > self.limits.max_operations.saturating_add(1) {
                    return Err(BatchError::new(
                        K::TooManyOperations,
                        format!("over max_operations ({})", self.limits.max_operations),
                    )
                    .at_op(self.parts - 1, None));
                }
                self.body = Body::default();
            }
            PartEvent::Body(b) => {
                if self.body.len() + b.len() > self.limits.max_body_bytes {
                    return Err(BatchError::new(
                        K::BodyTooLarge,
                        format!(
                            "a body is over max_body_bytes ({})",
                            self.limits.max_body_bytes
                        ),
                    )
                    .at_op(self.parts - 1, None));
                }
                self.body.push(b);
            }
            PartEvent::PartEnd(_) => {
                return Ok(Some(core::mem::take(&mut self.body).into_bytes()));
            }
            PartEvent::MultipartStart(_) | PartEvent::Http(_) => {
                return Err(BatchError::new(
                    K::Malformed,
                    "a RingCentral part is plain application/json",
                ))
            }
            _ => {}
        }
        Ok(None)
    }
}

impl Parts {
    fn new(limits: ReadLimits) -> Self {
        Parts {
            limits,
            parts: 0,
            body: Body::default(),
        }
    }
}

/// Reads the plain `application/json` parts of a RingCentral multipart body from a stream of
/// `Bytes`, each body as soon as its part ends, under [`ReadLimits`] (builder
/// [`limits`](Self::limits)): parts counted as they start, each body and the whole body
/// counted as the bytes arrive. Nested multiparts and `application/http` parts are refused.
/// [`read_put`] and [`read_multipart_response`] read a buffer the same way, without a stream.
pub struct PartsReader<S> {
    inner: Driven<S, Parts>,
}

impl<S> core::fmt::Debug for PartsReader<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PartsReader")
            .field("parts", &self.inner.machine.parts)
            .finish()
    }
}

impl<S, E> PartsReader<S>
where
    S: futures_core::Stream<Item = Result<Bytes, E>> + Unpin,
    E: core::fmt::Display,
{
    /// A reader for a body with this `Content-Type`, under the default [`ReadLimits`].
    pub fn new(inner: S, content_type: &[u8]) -> Result<Self, BatchError> {
        let parts = Parts::new(ReadLimits::default());
        Ok(PartsReader {
            inner: Driven::new(inner, content_type, parts)?,
        })
    }

    /// Reads under these limits (set before the first part is read).
    pub fn limits(mut self, limits: ReadLimits) -> Self {
        self.inner.machine.limits = limits;
        self
    }
}

impl<S, E> futures_core::Stream for PartsReader<S>
where
    S: futures_core::Stream<Item = Result<Bytes, E>> + Unpin,
    E: core::fmt::Display,
{
    type Item = Result<Bytes, BatchError>;

    fn poll_next(
        self: core::pin::Pin<&mut Self>,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<Option<Self::Item>> {
        self.get_mut().inner.poll_next(cx)
    }
}

/// The plain parts of a multipart body in memory.
fn plain_parts(
    body: &Bytes,
    content_type: &[u8],
    limits: ReadLimits,
) -> Result<Vec<Bytes>, BatchError> {
    read_whole(
        &mut Parts::new(limits),
        body,
        content_type,
        crate::Config::default(),
    )
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
    let body = w.finish(b"")?;
    Ok((body.content_type("mixed"), body))
}

/// Reads a multipart PUT request: one JSON body per ID of the path, paired in order.
pub fn read_put(
    body: Bytes,
    content_type: &[u8],
    path: &str,
) -> Result<Vec<(String, Bytes)>, BatchError> {
    read_put_with(body, content_type, path, ReadLimits::default())
}

/// [`read_put`] under these limits (a server's).
pub fn read_put_with(
    body: Bytes,
    content_type: &[u8],
    path: &str,
    limits: ReadLimits,
) -> Result<Vec<(String, Bytes)>, BatchError> {
    let ids = split_ids(path)
        .ok_or_else(|| BatchError::new(K::Malformed, "no resource IDs in the path"))?
        .ids;
    let parts = plain_parts(&body, content_type, limits)?;
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
/// One element of RingCentral's JSON forms, `[{"resourceId", "status", "body"}, ...]`. To read
/// them as a stream of `Bytes`, under [`ReadLimits`]: `JsonReader::<_, Entry>::new(stream)`
/// (each element comes out as an `Item::Op`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    /// The resource ID, when the element names one.
    pub resource_id: Option<String>,
    /// The status, in a response.
    pub status: Option<u16>,
    /// The body, as JSON text (empty when absent).
    pub body: Bytes,
}

impl crate::batch::JsonOp for Entry {}

impl crate::batch::formats::json::sealed::JsonOp for Entry {
    // A bare array: no member names it.
    const ARRAY: &'static str = "";

    fn parse(element: &Bytes) -> Result<(Self, Option<String>), serde_json::Error> {
        let e: JsonEntry<'_> = crate::batch::formats::json::parse_json(element)?;
        Ok((
            Entry {
                resource_id: id_string(e.resource_id),
                status: e.status,
                body: e
                    .body
                    .map(|b| element.slice_ref(b.get().as_bytes()))
                    .unwrap_or_default(),
            },
            None,
        ))
    }

    fn check(&self) -> Result<(), &'static str> {
        Ok(())
    }

    fn check_limits(&self, limits: &ReadLimits) -> Result<(), BatchError> {
        crate::batch::model::limits::check_op(limits, &Default::default(), self.body.len(), 0)
    }

    fn to_json(&self, _group: Option<&str>) -> Result<String, BatchError> {
        to_json(&Element {
            resource_id: self.resource_id.as_deref(),
            status: self.status,
            body: raw_or_null(&self.body)?,
        })
    }
}

fn json_entries(body: &[u8], limits: ReadLimits) -> Result<Vec<Entry>, BatchError> {
    use crate::batch::formats::json::sealed::JsonOp as _;
    let mut out = Vec::new();
    for_each_element(body, "", &limits, |el, offset| {
        let (e, _) = Entry::parse(&Bytes::copy_from_slice(el)).map_err(|e| {
            let kind = if e.to_string().starts_with("duplicate field") {
                K::DuplicateMember
            } else {
                K::Json
            };
            BatchError::new(kind, e.to_string())
                .at_offset(offset)
                .with_source(e)
        })?;
        e.check_limits(&limits).map_err(|e| e.at_offset(offset))?;
        out.push(e);
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
    let mut parts = plain_parts(&body, content_type, ReadLimits::default())?.into_iter();
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
    read_json_request_with(body, path, ReadLimits::default())
}

/// [`read_json_request`] under these limits (a server's). A `resourceId` must be one path
/// segment: not empty, `.` or `..`, and without `/`, `?`, `#` or `\`.
pub fn read_json_request_with(
    body: &[u8],
    path: &str,
    limits: ReadLimits,
) -> Result<Vec<(String, Bytes)>, BatchError> {
    let ids = split_ids(path).map(|p| p.ids).unwrap_or_default();
    let entries = json_entries(body, limits)?;
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
        .map(
            |(
                i,
                Entry {
                    resource_id, body, ..
                },
            )| {
                let id = resource_id.or_else(|| ids.get(i).cloned()).ok_or_else(|| {
                    BatchError::new(
                        K::Malformed,
                        format!("element {} has no resourceId and the path no ID", i + 1),
                    )
                })?;
                let segment =
                    !matches!(id.as_str(), "" | "." | "..") && !id.contains(['/', '?', '#', '\\']);
                if !segment {
                    return Err(BatchError::new(
                        K::Malformed,
                        format!(
                            "resourceId {id:?} of element {} is not one path segment",
                            i + 1
                        ),
                    )
                    .at_op(i, None));
                }
                Ok((id, body))
            },
        )
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
    let results = json_entries(body, ReadLimits::default())?
        .into_iter()
        .map(|e| ResourceResult {
            resource_id: e.resource_id.unwrap_or_default(),
            status: e.status.unwrap_or(0),
            body: e.body,
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
            resource_id: r.content_id.as_deref().unwrap_or_default().to_string(),
            status: r.status,
            href: None,
            description: crate::encoder::canonical_reason(r.status).map(str::to_string),
            body: r.body.clone(),
        })
        .collect()
}
