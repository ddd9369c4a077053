//! Skype for Business UCWA batches: `multipart/batching` with a quoted boundary, each part
//! `application/http; msgtype=request` (or `response`) with its own `Content-Length`, and
//! `Host` headers in the embedded requests; bodies are JSON or XML.
//!
//! Reading is the OData multipart reader: the part-level `Content-Length` is checked against
//! the framing and never trusted (a disagreement is reported on the part's end, refused in
//! strict mode). Writing adds `msgtype` and the exact part `Content-Length`.
//!
//! The seed's examples were mangled by their web page: `<BR>` for line breaks and a space
//! before the colon (`Content-Type : ...`). The fixtures are the cleaned payloads. A space
//! before a header's colon is not accepted, even leniently: RFC 9112 section 5.1 tells
//! servers to reject it, because parsers that disagree on it can be made to disagree on
//! message framing.

use bytes::Bytes;

use crate::batch::error::BatchError;
use crate::batch::formats::multipart::{read_multipart, read_multipart_with};
use crate::batch::model::validate::ValidationOptions;
use crate::batch::model::{Batch, Item, RequestOp, ResponseOp};
use crate::batch::ReadLimits;
use crate::writer::{Encoded, Writer};

/// Reads a UCWA batch request (`multipart/batching; boundary="..."`).
///
/// ```
/// let body = "--EA370946\r\nContent-Type: application/http; msgtype=request\r\nContent-Length: 70\r\n\r\n\
///             GET /ucwa/v1/applications/11540713861/policies HTTP/1.1\r\nHost: fe1.contoso.com\r\n\r\n\r\n--EA370946--";
/// let b = batchpart::batch::ucwa::read_requests(body.into(), b"multipart/batching;boundary=\"EA370946\"").unwrap();
/// assert_eq!(b.items[0].ops()[0].headers.get_str("Host"), Some("fe1.contoso.com"));
/// ```
pub fn read_requests(body: Bytes, content_type: &[u8]) -> Result<Batch<RequestOp>, BatchError> {
    read_requests_under(body, content_type, ReadLimits::default())
}

/// [`read_requests`] under `limits`.
pub(crate) fn read_requests_under(
    body: Bytes,
    content_type: &[u8],
    limits: ReadLimits,
) -> Result<Batch<RequestOp>, BatchError> {
    // UCWA operations carry no Content-ID and run independently: no changeset rules apply.
    let v = ValidationOptions {
        forbid_headers: false,
        ..Default::default()
    };
    read_multipart_with(body, content_type, limits, Some(v))
}

/// Reads a UCWA batch response.
pub fn read_responses(body: Bytes, content_type: &[u8]) -> Result<Batch<ResponseOp>, BatchError> {
    read_multipart(body, content_type, None)
}

/// Writes a UCWA batch of requests; returns the Content-Type (`multipart/batching`, quoted
/// boundary) and the body.
pub fn write_requests(
    batch: &Batch<RequestOp>,
    boundary: &[u8],
) -> Result<(String, Encoded), BatchError> {
    let mut w = Writer::new(boundary)?;
    w.check_bodies(true);
    for op in batch.items.iter().flat_map(Item::ops) {
        let (method, url) = (op.method.as_bytes(), op.url.as_bytes());
        let hs = wire_headers(&op.headers);
        let pairs = || hs.iter().map(|(n, v)| (n.as_slice(), v.as_slice()));
        let head = crate::encoder::counted(|s| {
            w.encoder()
                .request_head_into(method, url, Some(b"HTTP/1.1"), pairs(), s)
        })?;
        start_part(&mut w, "request", head + op.body.len())?;
        w.request_head(method, url, Some(b"HTTP/1.1"), pairs())?;
        w.body(op.body.clone())?;
    }
    Ok((quoted(&w), w.finish(b"")?))
}

/// Writes a UCWA batch response; returns the Content-Type and the body.
pub fn write_responses(
    batch: &Batch<ResponseOp>,
    boundary: &[u8],
) -> Result<(String, Encoded), BatchError> {
    let mut w = Writer::new(boundary)?;
    w.check_bodies(true);
    for op in batch.items.iter().flat_map(Item::ops) {
        let hs = wire_headers(&op.headers);
        let pairs = || hs.iter().map(|(n, v)| (n.as_slice(), v.as_slice()));
        // The length of what the encoder writes, reason phrase or none, counted by it.
        let head = crate::encoder::counted(|s| {
            w.encoder()
                .response_head_into(b"HTTP/1.1", op.status, None, pairs(), s)
        })?;
        start_part(&mut w, "response", head + op.body.len())?;
        w.response_head(b"HTTP/1.1", op.status, None, pairs())?;
        w.body(op.body.clone())?;
    }
    Ok((quoted(&w), w.finish(b"")?))
}

/// A header as wire bytes, name and value.
type WireHeader = (Vec<u8>, Vec<u8>);

fn wire_headers(headers: &crate::batch::model::Headers) -> Vec<WireHeader> {
    headers
        .iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.to_vec()))
        .collect()
}

/// Starts an operation's part with its `msgtype` and its exact `Content-Length` (the
/// embedded head and the body).
fn start_part(w: &mut Writer, msgtype: &str, len: usize) -> Result<(), BatchError> {
    w.part_start([
        (
            "Content-Type",
            format!("application/http; msgtype={msgtype}"),
        ),
        ("Content-Length", len.to_string()),
    ])?;
    Ok(())
}

/// `multipart/batching; boundary="..."`: UCWA's documents always quote the boundary.
fn quoted(w: &Writer) -> String {
    format!(
        "multipart/batching; boundary=\"{}\"",
        String::from_utf8_lossy(w.encoder().boundary())
    )
}
