//! The answer written item by item, as the executor emits them: multipart under a boundary
//! chosen before the first byte goes out, or a JSON envelope.

use bytes::Bytes;

use super::error_op;
use crate::batch::formats::multipart::sealed::WriteOp as _;
use crate::batch::{BatchError, Item, ResponseOp};
use crate::writer::Writer;

/// An answer that is already going out cannot change its boundary: an operation whose answer
/// holds the delimiter (a chance of one in 2^128 with the generated boundaries, unless the
/// application echoes the response boundary back) is answered by a `500` that says it ran.
fn sendable(w: &Writer, op: ResponseOp) -> ResponseOp {
    if w.encoder().check_content(&op.body).is_ok() {
        return op;
    }
    let msg = format!(
        "the operation ran (status {}), but its response holds the batch's delimiter and \
         cannot be sent",
        op.status
    );
    let mut r = error_op(500, op.content_id.clone(), &msg);
    r.content_id_in = op.content_id_in;
    r
}

/// Writes the answer's bytes, one item at a time.
pub(crate) enum Encoder {
    Multipart(Box<Writer>),
    #[cfg(feature = "json")]
    Json {
        first: bool,
    },
    #[cfg(feature = "json")]
    JsonBatch {
        first: bool,
    },
}

impl Encoder {
    /// A multipart answer under a fresh `batchresponse_` boundary; returns its Content-Type.
    pub(crate) fn multipart() -> (Self, String) {
        let b = crate::encoder::random_boundary().replacen("batch_", "batchresponse_", 1);
        let w = Writer::new(b.as_bytes()).expect("generated boundaries are valid");
        let ct = w.content_type("mixed");
        (Encoder::Multipart(Box::new(w)), ct)
    }

    /// The bytes of one item.
    pub(crate) fn item(&mut self, item: Item<ResponseOp>) -> Result<Vec<Bytes>, BatchError> {
        match self {
            Encoder::Multipart(w) => {
                match item {
                    Item::Op(op) => sendable(w, op).write(w)?,
                    Item::Changeset(c) => {
                        let b =
                            crate::encoder::random_boundary().replacen("batch_", "changeset_", 1);
                        w.open_changeset(Some(b.as_bytes()))?;
                        for op in c.ops {
                            sendable(w, op).write(w)?;
                        }
                        w.close_changeset()?;
                    }
                }
                Ok(w.take_written().collect())
            }
            #[cfg(feature = "json")]
            Encoder::Json { first } => {
                use crate::batch::formats::json::{response_to_json, Bodies};
                let mut out = String::new();
                let (ops, group) = match &item {
                    Item::Op(op) => (core::slice::from_ref(op), None),
                    Item::Changeset(c) => (c.ops.as_slice(), c.id.as_deref()),
                };
                for op in ops {
                    out.push_str(if *first { "{\"responses\":[" } else { "," });
                    *first = false;
                    out.push_str(&response_to_json(op, group, Bodies::OData)?);
                }
                Ok(vec![Bytes::from(out)])
            }
            #[cfg(feature = "json")]
            Encoder::JsonBatch { first } => {
                let mut out = String::new();
                for op in item.ops() {
                    out.push_str(if *first { "{\"responses\":[" } else { "," });
                    *first = false;
                    out.push_str(&crate::batch::json_batch::response_element(op)?);
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
            Encoder::Json { first } | Encoder::JsonBatch { first } => {
                Ok(vec![Bytes::from_static(if first {
                    b"{\"responses\":[]}"
                } else {
                    b"]}"
                })])
            }
        }
    }
}
