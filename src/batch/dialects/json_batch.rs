//! The JSON `/batch` API of the seed documents: `POST /batch` with
//! `{"requests":[{"method","path","query"?,"data"?|"body"?}], "stop_on_error"?}`.
//!
//! - Methods are case-insensitive; the model holds them in upper case.
//! - At most 100 requests: the 101st is a [`TooManyOperations`](crate::batch::BatchErrorKind::TooManyOperations) error.
//! - A nested `/batch` request is refused ([`NestedBatch`](crate::batch::BatchErrorKind::NestedBatch)).
//! - Authentication headers inside requests are dropped on reading: the batch's own
//!   identity applies to every request.
//! - Syntax errors give the line and column of the whole document.
//! - The response is an array in request order, each element with its status; with
//!   `stop_on_error` the executor stops at the first error, so the array ends there.
//!
//! Assumed where the seed is silent: the response is written as
//! `{"responses":[{"status":N,"body":...}]}` (a bare array is read too); `data` and `body`
//! are the same thing, JSON, and the model marks such a body `application/json`.

use bytes::Bytes;
use serde_json::value::RawValue;

use crate::batch::error::{BatchError, BatchErrorKind as K};
use crate::batch::formats::json::sealed::JsonOp as _;
use crate::batch::formats::json::{for_each_element, raw, to_json, EnvelopeWriter, JsonItems};
use crate::batch::model::exec::ExecOptions;
use crate::batch::model::validate::{ValidationOptions, Validator};
use crate::batch::model::{
    Batch, BatchRequest, BatchResponse, Headers, Item, RequestOp, ResponseOp,
};
use crate::batch::ReadLimits;

/// Headers the batch's own authentication replaces.
const AUTH_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
];

/// A request of this dialect, as an operation of the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest(pub RequestOp);

#[derive(serde::Deserialize)]
struct Element<'a> {
    method: Option<String>,
    path: Option<String>,
    query: Option<String>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(borrow)]
    body: Option<&'a RawValue>,
    headers: Option<std::collections::BTreeMap<String, String>>,
}

impl crate::batch::formats::json::JsonOp for ApiRequest {}

impl crate::batch::formats::json::sealed::JsonOp for ApiRequest {
    const ARRAY: &'static str = "requests";

    fn parse(element: &Bytes) -> Result<(Self, Option<String>), serde_json::Error> {
        let e: Element = crate::batch::formats::json::parse_json(element)?;
        let path = e.path.unwrap_or_default();
        let url = match e.query.filter(|q| !q.is_empty()) {
            Some(q) => format!("{path}?{}", q.trim_start_matches('?')),
            None => path,
        };
        let mut op = RequestOp::new(e.method.unwrap_or_default().to_ascii_uppercase(), url);
        for (n, v) in e.headers.unwrap_or_default() {
            if !AUTH_HEADERS.iter().any(|a| n.eq_ignore_ascii_case(a)) {
                op.headers.push(n, v);
            }
        }
        if let Some(b) = e.data.or(e.body) {
            op.headers.push("Content-Type", "application/json");
            op.body = element.slice_ref(b.get().as_bytes());
        }
        Ok((ApiRequest(op), None))
    }

    fn check(&self) -> Result<(), &'static str> {
        if self.0.method.is_empty() {
            return Err("a request needs a method");
        }
        if !self.0.url.starts_with('/') {
            return Err("a request needs a path starting with /");
        }
        Ok(())
    }

    fn validate(v: &mut Validator, item: &Item<Self>) -> Result<(), BatchError> {
        let Item::Op(ApiRequest(op)) = item else {
            return Ok(());
        };
        let path = op.url.split('?').next().unwrap_or("").trim_end_matches('/');
        if path == "/batch" || path.ends_with("/batch") {
            return Err(BatchError::new(
                K::NestedBatch,
                format!("{} is a batch request", op.url),
            ));
        }
        v.check(&Item::Op(op.clone()))
    }

    fn check_limits(&self, limits: &crate::batch::ReadLimits) -> Result<(), BatchError> {
        crate::batch::model::limits::check_op(limits, &self.0.headers, self.0.body.len(), 0)
    }

    fn to_json(&self, _group: Option<&str>) -> Result<String, BatchError> {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            method: String,
            path: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            query: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            body: Option<&'a RawValue>,
        }
        let op = &self.0;
        let (path, query) = op
            .url
            .split_once('?')
            .map_or((op.url.as_str(), None), |(p, q)| (p, Some(q)));
        let body = (!op.body.is_empty())
            .then(|| serde_json::from_slice::<&RawValue>(&op.body))
            .transpose()
            .map_err(|_| BatchError::new(K::Body, "a /batch body must be JSON"))?;
        to_json(&Out {
            method: op.method.to_ascii_lowercase(),
            path,
            query,
            body,
        })
    }
}

/// A `/batch` request: its operations and `stop_on_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// One operation per request, in order; Content-IDs are their positions from 1.
    pub batch: BatchRequest,
    /// Stop at the first failed request.
    pub stop_on_error: bool,
}

impl Request {
    /// How the executor runs it: in order, stopping at the first error only with
    /// `stop_on_error`.
    pub fn exec_options(&self) -> ExecOptions {
        ExecOptions {
            continue_on_error: !self.stop_on_error,
            ..Default::default()
        }
    }
}

/// Requests in one `/batch` request, at most.
pub const MAX_REQUESTS: usize = 100;

/// The `/batch` limits: [`ReadLimits::default`] with at most [`MAX_REQUESTS`] operations.
pub fn limits() -> ReadLimits {
    ReadLimits {
        max_operations: MAX_REQUESTS,
        ..ReadLimits::default()
    }
}

/// Reads a `/batch` request (at most [`MAX_REQUESTS`] requests, no nested `/batch`).
///
/// ```
/// let r = batchpart::batch::json_batch::read_request(br#"{"requests":[{"method":"get","path":"/accounts/demo_sample:1","query":"sort=createdDate"}]}"#).unwrap();
/// assert_eq!(r.batch.items[0].ops()[0].url, "/accounts/demo_sample:1?sort=createdDate");
/// assert_eq!(r.batch.items[0].ops()[0].method, "GET");
/// ```
pub fn read_request(body: &[u8]) -> Result<Request, BatchError> {
    let opts = ValidationOptions {
        forbid_headers: false,
        ..Default::default()
    };
    read_request_with(body, limits(), opts)
}

/// Reads a `/batch` request under these limits and validation rules (a server's): the
/// operation limit is the lower of `limits`' and the dialect's [`MAX_REQUESTS`], and a
/// [`scope`](ValidationOptions::scope) confines every path.
pub fn read_request_with(
    body: &[u8],
    limits: ReadLimits,
    validation: ValidationOptions,
) -> Result<Request, BatchError> {
    read_request_shared(Bytes::copy_from_slice(body), limits, validation)
}

/// [`read_request_with`] over shared bytes: the operations' bodies are views of them.
pub(crate) fn read_request_shared(
    body: Bytes,
    limits: ReadLimits,
    validation: ValidationOptions,
) -> Result<Request, BatchError> {
    let limits = ReadLimits {
        max_operations: limits.max_operations.min(MAX_REQUESTS),
        ..limits
    };
    let mut r = JsonItems::<ApiRequest>::new(limits).with_validator(Validator::new(validation));
    r.feed(&body);
    r.finish();
    let mut items = Vec::new();
    let mut n = 0;
    while let Some(item) = r.next_item() {
        let item = item.map_err(|e| match e.op() {
            Some(_) => e,
            None if e.kind() == K::NestedBatch => e.at_op(items.len(), None),
            None => e,
        })?;
        if let Item::Op(ApiRequest(mut op)) = item {
            n += 1;
            op.content_id = Some(n.to_string().into());
            items.push(Item::Op(op));
        }
    }
    // Read once: `stop_on_error` is the envelope's only other member.
    let stop_on_error = match r.member("stop_on_error").map(RawValue::get) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(BatchError::new(
                K::Malformed,
                format!("stop_on_error must be true or false, not {other}"),
            ))
        }
    };
    Ok(Request {
        batch: Batch { items },
        stop_on_error,
    })
}

/// Writes a `/batch` request.
pub fn write_request(req: &Request) -> Result<String, BatchError> {
    #[derive(serde::Serialize)]
    struct Out {
        requests: Vec<Box<RawValue>>,
        #[serde(skip_serializing_if = "core::ops::Not::not")]
        stop_on_error: bool,
    }
    let requests = req
        .batch
        .items
        .iter()
        .flat_map(|i| i.ops())
        .map(|op| raw(ApiRequest(op.clone()).to_json(None)?))
        .collect::<Result<Vec<_>, BatchError>>()?;
    to_json(&Out {
        requests,
        stop_on_error: req.stop_on_error,
    })
}

/// Reads a `/batch` response: `{"responses":[...]}` or a bare array of `{"status","body"}`.
pub fn read_response(body: &[u8]) -> Result<BatchResponse, BatchError> {
    #[derive(serde::Deserialize)]
    struct Element<'a> {
        status: Option<u16>,
        #[serde(borrow)]
        body: Option<&'a RawValue>,
        #[serde(borrow)]
        data: Option<&'a RawValue>,
    }
    let bare = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'[');
    let target = if bare { "" } else { "responses" };
    let mut items = Vec::new();
    for_each_element(body, target, &ReadLimits::default(), |el, offset| {
        let n = items.len() + 1;
        let e: Element<'_> = serde_json::from_slice(el).map_err(|e| {
            BatchError::new(K::Json, e.to_string())
                .at_offset(offset)
                .with_source(e)
        })?;
        let status = e.status.ok_or_else(|| {
            BatchError::new(K::Malformed, format!("response {n} has no status")).at_offset(offset)
        })?;
        let mut r = ResponseOp::new(status).with_content_id(n.to_string());
        if let Some(b) = e.body.or(e.data).filter(|b| b.get() != "null") {
            r.headers = Headers::from_iter([("Content-Type", "application/json")]);
            r.body = Bytes::copy_from_slice(b.get().as_bytes());
        }
        items.push(Item::Op(r));
        Ok(())
    })?;
    Ok(Batch { items })
}

/// One element of a `/batch` response: `{"status":N,"body":...}`, a body that is not JSON
/// as a string.
pub(crate) fn response_element(r: &ResponseOp) -> Result<String, BatchError> {
    #[derive(serde::Serialize)]
    struct Element {
        status: u16,
        body: Box<RawValue>,
    }
    let body = if r.body.is_empty() {
        raw("null".to_string())?
    } else {
        match serde_json::from_slice::<&RawValue>(&r.body) {
            Ok(v) => v.to_owned(),
            Err(_) => raw(to_json(&String::from_utf8_lossy(&r.body))?)?,
        }
    };
    to_json(&Element {
        status: r.status,
        body,
    })
}

/// Writes a `/batch` response: the statuses and JSON bodies, in request order.
pub fn write_response(resp: &BatchResponse) -> Result<String, BatchError> {
    let mut out = String::new();
    let mut env = EnvelopeWriter::new("responses");
    for op in resp.items.iter().flat_map(|i| i.ops()) {
        env.element(&mut out, &response_element(op)?);
    }
    out.push_str(&env.finish());
    Ok(out)
}
