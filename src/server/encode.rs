//! The answer written item by item, as the executor emits them: multipart under a boundary
//! chosen before the first byte goes out, or a JSON envelope.

use bytes::Bytes;

use super::error_op;
#[cfg(feature = "json")]
use crate::batch::formats::json::EnvelopeWriter;
use crate::batch::formats::multipart::sealed::WriteOp as _;
use crate::batch::{BatchError, Item, ResponseOp};
use crate::writer::Writer;

use super::body::Queue;

/// An answer that is already going out cannot change its boundary: an operation whose answer
/// holds the delimiter (a chance of one in 2^128 with the generated boundaries, unless the
/// application echoes the response boundary back) is answered by a `500` that says it ran.
fn sendable(w: &Writer, op: ResponseOp) -> ResponseOp {
    if w.encoder().check_content(&op.body).is_ok() {
        return op;
    }
    unwritable(&op, "it holds the batch's delimiter")
}

/// The answer of an operation that ran but cannot be written in the answer's format: a `500`
/// that says so, with the original status.
fn unwritable(op: &ResponseOp, why: &str) -> ResponseOp {
    let msg = format!(
        "the operation ran (status {}), but its response cannot be written: {why}",
        op.status
    );
    let mut r = error_op(500, op.content_id.clone(), &msg);
    r.content_id_in = op.content_id_in;
    r
}

/// An answer's headers as a JSON object carries them: one member per name, so the fields of
/// a repeated name are joined with `, ` (RFC 9110 §5.3). `Set-Cookie` cannot be joined (its
/// values hold commas): several of them make the operation's answer [`unwritable`], and so
/// does a value that is not UTF-8 (a JSON string is text).
#[cfg(feature = "json")]
fn json_ready(op: ResponseOp) -> ResponseOp {
    let h = &op.headers;
    if let Some((n, _)) = h.iter().find(|(_, v)| core::str::from_utf8(v).is_err()) {
        return unwritable(
            &op,
            &format!("header {n} is not UTF-8, and JSON strings are"),
        );
    }
    let repeated = |i: usize, n: &str| h.iter().take(i).any(|(m, _)| m.eq_ignore_ascii_case(n));
    if !h.iter().enumerate().any(|(i, (n, _))| repeated(i, n)) {
        return op;
    }
    let cookies = h
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"));
    if cookies.count() > 1 {
        return unwritable(&op, "several Set-Cookie fields have no JSON form");
    }
    let mut joined = crate::batch::Headers::new();
    for (i, (n, _)) in h.iter().enumerate() {
        if repeated(i, n) {
            continue;
        }
        let mut value = Vec::new();
        for (_, v) in h.iter().filter(|(m, _)| m.eq_ignore_ascii_case(n)) {
            if !value.is_empty() {
                value.extend_from_slice(b", ");
            }
            value.extend_from_slice(v);
        }
        joined.push(n, value);
    }
    ResponseOp {
        headers: joined,
        ..op
    }
}

/// Writes one operation's answer, or, where the format cannot carry it (a header the encoder
/// refuses), the `500` that says it ran: a refused operation leaves the writer unchanged.
fn write_op(w: &mut Writer, op: ResponseOp) -> Result<(), BatchError> {
    let op = sendable(w, op);
    match op.write(w) {
        Ok(()) => Ok(()),
        Err(e) => unwritable(&op, e.detail()).write(w),
    }
}

/// At most what an operation's answer takes in either format: its body twice over (JSON may
/// escape or base64 it), its headers twice, and room for the status line, the part's own
/// headers, its delimiter or the JSON members around it.
fn most(op: &ResponseOp) -> u64 {
    let headers: usize = op.headers.iter().map(|(n, v)| n.len() + v.len() + 8).sum();
    let id = op.content_id.as_ref().map_or(0, |c| c.len());
    (2 * (op.body.len() + headers + id) + 256) as u64
}

/// The item as it fits in what is `left` of an answer bounded by `bound` bytes: each
/// operation whose answer would take it past the bound is the `500` that says it ran.
pub(crate) fn within(item: Item<ResponseOp>, left: &mut u64, bound: u64) -> Item<ResponseOp> {
    let mut fit = |op: ResponseOp| {
        let size = most(&op);
        let op = match left.checked_sub(size) {
            Some(l) => {
                *left = l;
                op
            }
            None => unwritable(
                &op,
                &format!("its answer would take the stored batch answer past {bound} bytes"),
            ),
        };
        op
    };
    each_op(item, &mut fit)
}

/// `item` with every operation replaced by the `500` that says it ran, and `why` its answer
/// could not be written.
pub(crate) fn unwritable_item(item: Item<ResponseOp>, why: &str) -> Item<ResponseOp> {
    each_op(item, |op| unwritable(&op, why))
}

/// `item` with `f` applied to each of its operations.
fn each_op(
    item: Item<ResponseOp>,
    mut f: impl FnMut(ResponseOp) -> ResponseOp,
) -> Item<ResponseOp> {
    match item {
        Item::Op(op) => Item::Op(f(op)),
        Item::Changeset(mut c) => {
            c.ops = c.ops.into_iter().map(&mut f).collect();
            Item::Changeset(c)
        }
    }
}

/// An item as `dialect` can write it: an operation whose answer the dialect refuses to
/// write (a header value JSON cannot carry, a body that holds the boundary) becomes the `500`
/// that says it ran, so that the answer written whole never fails after operations ran.
pub(crate) fn writable(
    dialect: &dyn crate::batch::Dialect,
    item: Item<ResponseOp>,
    boundary: &str,
) -> Item<ResponseOp> {
    let fit = |op: ResponseOp| {
        let alone = crate::batch::Batch {
            items: vec![Item::Op(op.clone())],
        };
        match dialect.write_response(&alone, boundary) {
            Ok(_) => op,
            Err(e) => unwritable(&op, &e.to_string()),
        }
    };
    each_op(item, fit)
}

/// The last part of an answer whose run was dropped before it finished.
const STOPPED: &str = "the batch's run was dropped before it finished (the server stopped \
it): the answers above are the operations that ran; an operation running when it stopped may \
have taken effect; an open changeset or atomicity group was rolled back; none after it ran";

/// One run's encoder and the queue it writes to. Dropped before [`finish`](Self::finish) (the
/// run dropped: a runtime shutting down, an answer nobody reads), it closes the document with
/// a last `500` answer that says the run stopped, so that what was written stays one whole
/// document whose answers say what ran.
pub(crate) struct Output {
    enc: Option<Encoder>,
    queue: Queue,
}

impl Output {
    pub(crate) fn new(enc: Encoder, queue: Queue) -> Self {
        Output {
            enc: Some(enc),
            queue,
        }
    }

    /// Writes one item. An item the encoder refuses leaves the document broken: nothing
    /// more is written.
    pub(crate) fn item(&mut self, item: Item<ResponseOp>) {
        if let Some(enc) = &mut self.enc {
            match enc.item(item) {
                Ok(chunks) => super::body::push(&self.queue, chunks),
                Err(_) => self.enc = None,
            }
        }
    }

    /// Closes the document.
    pub(crate) fn finish(mut self) {
        if let Some(enc) = self.enc.take() {
            if let Ok(chunks) = enc.finish() {
                super::body::push(&self.queue, chunks);
            }
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if self.enc.is_some() {
            self.item(Item::Op(error_op(500, None, STOPPED)));
            Output {
                enc: self.enc.take(),
                queue: self.queue.clone(),
            }
            .finish();
        }
    }
}

/// Writes the answer's bytes, one item at a time.
pub(crate) enum Encoder {
    Multipart(Box<Writer>),
    #[cfg(feature = "json")]
    Json(EnvelopeWriter),
}

impl Encoder {
    /// A multipart answer under a fresh `batchresponse_` boundary; returns its Content-Type.
    pub(crate) fn multipart() -> (Self, String) {
        let b = crate::encoder::random_boundary().replacen("batch_", "batchresponse_", 1);
        let w = Writer::new(b.as_bytes()).expect("generated boundaries are valid");
        // A boundary given to the writer is never chosen anew: the head can name it now.
        let ct = crate::writer::content_type_of(b.as_bytes(), "mixed");
        (Encoder::Multipart(Box::new(w)), ct)
    }

    /// The bytes of one item.
    pub(crate) fn item(&mut self, item: Item<ResponseOp>) -> Result<Vec<Bytes>, BatchError> {
        match self {
            Encoder::Multipart(w) => {
                match item {
                    Item::Op(op) => write_op(w, op)?,
                    Item::Changeset(c) => {
                        let b =
                            crate::encoder::random_boundary().replacen("batch_", "changeset_", 1);
                        w.open_changeset(Some(b.as_bytes()))?;
                        for op in c.ops {
                            write_op(w, op)?;
                        }
                        w.close_changeset()?;
                    }
                }
                Ok(w.take_written().collect())
            }
            #[cfg(feature = "json")]
            Encoder::Json(env) => {
                use crate::batch::formats::json::{response_to_json, Bodies};
                let mut out = String::new();
                // The item is ours: its answers are moved, not copied.
                let (ops, group) = match item {
                    Item::Op(op) => (vec![op], None),
                    Item::Changeset(c) => (c.ops, c.id),
                };
                let group = group.as_deref();
                for op in ops {
                    let op = json_ready(op);
                    let json = match response_to_json(&op, group, Bodies::OData) {
                        Ok(j) => j,
                        Err(e) => {
                            response_to_json(&unwritable(&op, e.detail()), group, Bodies::OData)?
                        }
                    };
                    env.element(&mut out, &json);
                }
                Ok(vec![Bytes::from(out)])
            }
        }
    }

    /// The bytes that close the answer.
    pub(crate) fn finish(self) -> Result<Vec<Bytes>, BatchError> {
        match self {
            Encoder::Multipart(w) => Ok(w.finish(b"")?.collect()),
            #[cfg(feature = "json")]
            Encoder::Json(env) => Ok(vec![Bytes::from(env.finish())]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_the_format_refuses_is_its_500_and_the_document_stays_whole() {
        let (mut enc, ct) = Encoder::multipart();
        let bad = ResponseOp::new(201)
            .with_header("X-Bad", "a\r\nb")
            .with_content_id("1");
        let good = ResponseOp::new(204).with_content_id("2");
        let mut body = Vec::new();
        for item in [Item::Op(bad), Item::Op(good)] {
            for b in enc.item(item).unwrap() {
                body.extend_from_slice(&b);
            }
        }
        for b in enc.finish().unwrap() {
            body.extend_from_slice(&b);
        }
        let r: crate::batch::BatchResponse =
            crate::batch::read_multipart(Bytes::from(body), ct.as_bytes(), None).unwrap();
        let ops: Vec<&ResponseOp> = r.items.iter().flat_map(|i| i.ops()).collect();
        assert_eq!(ops.iter().map(|o| o.status).collect::<Vec<_>>(), [500, 204]);
        let msg = String::from_utf8_lossy(&ops[0].body);
        assert!(msg.contains("ran (status 201)"), "{msg}");
        assert_eq!(ops[0].content_id.as_deref(), Some("1"));
    }
}
