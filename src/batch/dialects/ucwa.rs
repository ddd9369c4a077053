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
use crate::batch::formats::multipart::read_multipart;
use crate::batch::model::validate::ValidationOptions;
use crate::batch::model::{latin1, unlatin1, Batch, Item, RequestOp, ResponseOp};
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
    // UCWA operations carry no Content-ID and run independently: no changeset rules apply.
    read_multipart(
        body,
        content_type,
        Some(ValidationOptions {
            forbid_headers: false,
            ..Default::default()
        }),
    )
}

/// Reads a UCWA batch response.
pub fn read_responses(body: Bytes, content_type: &[u8]) -> Result<Batch<ResponseOp>, BatchError> {
    read_multipart(body, content_type, None)
}

fn head_len<'a>(line: &[u8], headers: impl Iterator<Item = (&'a str, &'a [u8])>) -> usize {
    line.len()
        + 2
        + headers
            .map(|(n, v)| n.len() + 2 + v.len() + 2)
            .sum::<usize>()
        + 2
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
        let line = [
            unlatin1(&op.method),
            b" ".to_vec(),
            unlatin1(&op.url),
            b" HTTP/1.1".to_vec(),
        ]
        .concat();
        let hs = start_part(&mut w, "request", &line, &op.headers, op.body.len())?;
        w.request_head(
            &unlatin1(&op.method),
            &unlatin1(&op.url),
            Some(b"HTTP/1.1"),
            hs.iter().map(|(n, v)| (n.as_slice(), v.as_slice())),
        )?;
        w.body(op.body.clone())?;
    }
    Ok((quoted(&w), w.finish(b"")?))
}

/// Writes a UCWA batch of responses.
pub fn write_responses(
    batch: &Batch<ResponseOp>,
    boundary: &[u8],
) -> Result<(String, Encoded), BatchError> {
    let mut w = Writer::new(boundary)?;
    w.check_bodies(true);
    for op in batch.items.iter().flat_map(Item::ops) {
        let reason = crate::encoder::canonical_reason(op.status).unwrap_or("");
        let line = format!(
            "HTTP/1.1 {}{}{}",
            op.status,
            if reason.is_empty() { "" } else { " " },
            reason
        );
        let hs = start_part(
            &mut w,
            "response",
            line.as_bytes(),
            &op.headers,
            op.body.len(),
        )?;
        w.response_head(
            b"HTTP/1.1",
            op.status,
            None,
            hs.iter().map(|(n, v)| (n.as_slice(), v.as_slice())),
        )?;
        w.body(op.body.clone())?;
    }
    Ok((quoted(&w), w.finish(b"")?))
}

/// A header as wire bytes, name and value.
type WireHeader = (Vec<u8>, Vec<u8>);

/// Starts an operation's part, with its `msgtype` and its exact `Content-Length` (start line,
/// headers, blank line and body); returns the head's headers as wire bytes.
fn start_part(
    w: &mut Writer,
    msgtype: &str,
    line: &[u8],
    headers: &crate::batch::model::Headers,
    body: usize,
) -> Result<Vec<WireHeader>, BatchError> {
    let len = head_len(line, headers.iter()) + body;
    w.part_start([
        (
            "Content-Type",
            format!("application/http; msgtype={msgtype}"),
        ),
        ("Content-Length", len.to_string()),
    ])?;
    Ok(headers
        .iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.to_vec()))
        .collect())
}

/// `multipart/batching; boundary="..."`: UCWA's documents always quote the boundary.
fn quoted(w: &Writer) -> String {
    format!(
        "multipart/batching; boundary=\"{}\"",
        latin1(w.encoder().boundary())
    )
}
