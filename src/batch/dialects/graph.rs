//! Microsoft Graph's JSON batching (`POST /v1.0/$batch`), as its documentation
//! (learn.microsoft.com/graph/json-batching) and its clients write it.
//!
//! - At most 20 requests ([`MAX_REQUESTS`]): the 21st is a
//!   [`TooManyOperations`](crate::batch::BatchErrorKind::TooManyOperations) error, counted as
//!   it arrives.
//! - Every request has an `id`, unique in the batch without regard to case, as Graph
//!   requires.
//! - `dependsOn` names earlier requests only, so that a batch always has an order to run in
//!   (Graph's own examples, and its SDKs, never name a later one).
//! - Bodies: JSON for JSON media types and when no `Content-Type` is given; every other body,
//!   `text/*` included, is a base64 string. Graph's clients write standard base64 (`+`, `/`,
//!   padded), and that is what the writer writes; the reader takes either alphabet, with or
//!   without padding. A request with a body needs a `Content-Type` header. `"body": null` is
//!   no body.
//! - Responses have `id`, `status`, `headers` and `body`, and may come in any order: they are
//!   read in the order received, and [`correlate`](crate::batch::correlate) pairs them by
//!   `id`.
//! - Graph has no `atomicityGroup`; one is refused.
//!
//! ```
//! use batchpart::batch::graph;
//! let doc = br#"{"requests":[
//!   {"id":"1","method":"GET","url":"/me"},
//!   {"id":"2","method":"POST","url":"/me/notes","dependsOn":["1"],
//!    "headers":{"Content-Type":"text/plain"},"body":"aGVsbG8gd29ybGQ="}]}"#;
//! let batch = graph::read_request(doc).unwrap();
//! let ops: Vec<_> = batch.items.iter().flat_map(|i| i.ops()).collect();
//! assert_eq!(&ops[1].body[..], b"hello world");
//! assert_eq!(ops[1].depends_on, ["1"]);
//! ```

use bytes::Bytes;

use crate::batch::error::{BatchError, BatchErrorKind as K};
use crate::batch::formats::json::{
    read_whole, request_from_json, request_to_json, response_from_json, response_to_json, Bodies,
    JsonItems,
};
use crate::batch::model::validate::{ValidationOptions, Validator};
use crate::batch::model::{Batch, BatchRequest, BatchResponse, Item, RequestOp, ResponseOp};
use crate::batch::ReadLimits;

/// The most requests Graph takes in one batch.
pub const MAX_REQUESTS: usize = 20;

/// The default [`ReadLimits`] with Graph's limit of [`MAX_REQUESTS`] operations.
pub fn limits() -> ReadLimits {
    ReadLimits {
        max_operations: MAX_REQUESTS,
        ..ReadLimits::default()
    }
}

/// A Graph request, as an operation of the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphRequest(pub RequestOp);

/// A Graph response, as an operation of the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphResponse(pub ResponseOp);

fn no_group<T>(parsed: (T, Option<String>)) -> Result<(T, Option<String>), serde_json::Error> {
    match parsed {
        (_, Some(_)) => Err(serde::de::Error::custom(
            "Graph batches have no atomicityGroup",
        )),
        (op, None) => Ok((op, None)),
    }
}

/// `"body": null` is no body.
fn null_is_empty(body: &mut Bytes) {
    if &body[..] == b"null" {
        *body = Bytes::new();
    }
}

impl crate::batch::formats::json::JsonOp for GraphRequest {}

impl crate::batch::formats::json::sealed::JsonOp for GraphRequest {
    const ARRAY: &'static str = "requests";

    fn parse(element: &Bytes) -> Result<(Self, Option<String>), serde_json::Error> {
        let (mut op, group) = no_group(request_from_json(element, Bodies::Graph)?)?;
        null_is_empty(&mut op.body);
        Ok((GraphRequest(op), group))
    }

    fn check(&self) -> Result<(), &'static str> {
        let op = &self.0;
        if op.content_id.as_deref().map_or(true, str::is_empty) {
            return Err("a Graph request needs an id");
        }
        if op.method.is_empty() {
            return Err("a request needs a method");
        }
        if op.url.is_empty() {
            return Err("a request needs a url");
        }
        if !op.body.is_empty() && op.headers.get("content-type").is_none() {
            return Err("a Graph request with a body needs a Content-Type header");
        }
        Ok(())
    }

    fn validate(v: &mut Validator, item: &Item<Self>) -> Result<(), BatchError> {
        let Item::Op(GraphRequest(op)) = item else {
            return Ok(());
        };
        v.check(&Item::Op(op.clone()))
    }

    fn check_limits(&self, limits: &ReadLimits) -> Result<(), BatchError> {
        crate::batch::model::limits::check_op(
            limits,
            &self.0.headers,
            self.0.body.len(),
            self.0.depends_on.len(),
        )
    }

    fn to_json(&self, group: Option<&str>) -> Result<String, BatchError> {
        request_to_json(&self.0, group, Bodies::Graph)
    }
}

impl crate::batch::formats::json::JsonOp for GraphResponse {}

impl crate::batch::formats::json::sealed::JsonOp for GraphResponse {
    const ARRAY: &'static str = "responses";

    fn parse(element: &Bytes) -> Result<(Self, Option<String>), serde_json::Error> {
        let (mut op, group) = no_group(response_from_json(element, Bodies::Graph)?)?;
        null_is_empty(&mut op.body);
        Ok((GraphResponse(op), group))
    }

    fn check(&self) -> Result<(), &'static str> {
        if !(100..=999).contains(&self.0.status) {
            return Err("a response needs a status");
        }
        if self.0.content_id.is_none() {
            return Err("a Graph response needs the id of its request");
        }
        Ok(())
    }

    fn check_limits(&self, limits: &ReadLimits) -> Result<(), BatchError> {
        crate::batch::model::limits::check_op(limits, &self.0.headers, self.0.body.len(), 0)
    }

    fn to_json(&self, group: Option<&str>) -> Result<String, BatchError> {
        response_to_json(&self.0, group, Bodies::Graph)
    }
}

/// The validation Graph's rules call for: ids unique without regard to case, `dependsOn`
/// naming earlier requests, and the JSON batch rules.
pub fn validation() -> ValidationOptions {
    ValidationOptions {
        json: true,
        forbid_headers: false,
        ..ValidationOptions::default()
    }
}

/// Reads a Graph batch request under [`limits`] and [`validation`].
pub fn read_request(body: &[u8]) -> Result<BatchRequest, BatchError> {
    read_request_with(body, limits())
}

/// Reads a Graph batch request under these limits.
pub fn read_request_with(body: &[u8], limits: ReadLimits) -> Result<BatchRequest, BatchError> {
    read_request_shared(Bytes::copy_from_slice(body), limits)
}

/// [`read_request_with`] over shared bytes: the operations' bodies are views of them.
pub(crate) fn read_request_shared(
    body: Bytes,
    limits: ReadLimits,
) -> Result<BatchRequest, BatchError> {
    let mut r = JsonItems::<GraphRequest>::new(limits).validate(validation());
    r.feed(&body);
    r.finish();
    let mut items = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    while let Some(item) = r.next_item() {
        if let Item::Op(GraphRequest(op)) = item? {
            // Graph compares ids without regard to case.
            let id = op.content_id.as_deref().unwrap_or("").to_lowercase();
            if ids.contains(&id) {
                return Err(BatchError::new(
                    K::DuplicateContentId,
                    format!("id {id} is given twice (Graph ignores case)"),
                )
                .at_op(items.len(), op.content_id.clone())
                .at_offset(r.last_offset()));
            }
            ids.push(id);
            items.push(Item::Op(op));
        }
    }
    Ok(Batch { items })
}

/// Writes a Graph batch request; every operation needs an `id`.
pub fn write_request(batch: &BatchRequest) -> Result<String, BatchError> {
    let ops = batch.items.iter().flat_map(|i| i.ops());
    if batch.op_count() > MAX_REQUESTS {
        return Err(BatchError::new(
            K::TooManyOperations,
            format!("Graph takes at most {MAX_REQUESTS} requests"),
        ));
    }
    let ops = ops
        .map(|op| {
            if op.content_id.is_none() {
                return Err(BatchError::new(K::Malformed, "a Graph request needs an id"));
            }
            Ok(GraphRequest(op.clone()))
        })
        .map(|r| r.map(Item::Op))
        .collect::<Result<Vec<_>, _>>()?;
    crate::batch::write_json(&Batch { items: ops })
}

/// Reads a Graph batch response, in the order received.
pub fn read_response(body: &[u8]) -> Result<BatchResponse, BatchError> {
    let read = read_whole(
        &mut JsonItems::<GraphResponse>::new(limits()),
        &Bytes::copy_from_slice(body),
    )?;
    let mut items = Vec::new();
    for item in read {
        if let Item::Op(GraphResponse(op)) = item {
            items.push(Item::Op(op));
        }
    }
    Ok(Batch { items })
}

/// Writes a Graph batch response, in the order given.
pub fn write_response(batch: &BatchResponse) -> Result<String, BatchError> {
    let items = batch
        .items
        .iter()
        .flat_map(|i| i.ops())
        .map(|op| Item::Op(GraphResponse(op.clone())))
        .collect();
    crate::batch::write_json(&Batch { items })
}
