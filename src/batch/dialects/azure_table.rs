//! Azure Table storage's entity group transactions (`POST /$batch`), as the REST reference
//! ("Performing entity group transactions") describes them. It is OData 3.0:
//!
//! - one changeset per batch, or a single query (`GET`) alone;
//! - at most [`MAX_OPERATIONS`] (100) operations;
//! - one partition key across the changeset, from each operation's URL
//!   (`Table(PartitionKey='p',RowKey='r')`) or, for an insert, its JSON body; each entity at
//!   most once;
//! - Content-IDs optional (OData 3.0), and the batch is answered `202 Accepted`.

use bytes::Bytes;

use crate::batch::error::{BatchError, BatchErrorKind as K};
use crate::batch::model::validate::{ODataVersion, ValidationOptions};
use crate::batch::model::{Batch, BatchRequest, BatchResponse, Changeset, Item, RequestOp};
use crate::batch::{
    read_all, read_multipart_with, split, write_multipart, Planned, ReadLimits, SplitLimits,
};
use crate::writer::Encoded;

/// The most operations in one transaction.
pub const MAX_OPERATIONS: usize = 100;

/// Splitting limits for operations that will each be one changeset's worth.
pub fn limits() -> SplitLimits {
    SplitLimits {
        max_operations: MAX_OPERATIONS,
        ..SplitLimits::default()
    }
}

/// The validation rules: OData 3.0.
pub fn validation() -> ValidationOptions {
    ValidationOptions {
        version: ODataVersion::V3_0,
        ..ValidationOptions::default()
    }
}

/// A key of an entity's URL: `PartitionKey='p'` gives `p`.
fn key_in_url<'a>(url: &'a str, key: &str) -> Option<&'a str> {
    let at = url.find(&format!("{key}='"))? + key.len() + 2;
    let rest = &url[at..];
    Some(&rest[..rest.find('\'')?])
}

/// The operation's partition and row keys, from its URL or its JSON body.
fn keys(op: &RequestOp) -> Option<(String, Option<String>)> {
    if let Some(p) = key_in_url(&op.url, "PartitionKey") {
        return Some((
            p.to_string(),
            key_in_url(&op.url, "RowKey").map(str::to_string),
        ));
    }
    #[derive(serde::Deserialize)]
    struct Entity {
        #[serde(rename = "PartitionKey")]
        partition: String,
        #[serde(rename = "RowKey")]
        row: Option<String>,
    }
    let e: Entity = serde_json::from_slice(&op.body).ok()?;
    Some((e.partition, e.row))
}

/// Checks the transaction's shape.
pub fn check(batch: &BatchRequest) -> Result<(), BatchError> {
    match batch.items.as_slice() {
        [Item::Op(op)] if op.method.eq_ignore_ascii_case("GET") => return Ok(()),
        [Item::Changeset(_)] => {}
        _ => {
            return Err(BatchError::new(
                K::Malformed,
                "an entity group transaction is one changeset, or one query alone",
            ))
        }
    }
    if batch.op_count() > MAX_OPERATIONS {
        return Err(BatchError::new(
            K::TooManyOperations,
            format!("a transaction takes at most {MAX_OPERATIONS} operations"),
        ));
    }
    let mut partition: Option<String> = None;
    let mut rows: Vec<String> = Vec::new();
    for (i, op) in batch.items.iter().flat_map(|i| i.ops()).enumerate() {
        let at = |msg: String| BatchError::new(K::Malformed, msg).at_op(i, op.content_id.clone());
        let (p, row) = keys(op).ok_or_else(|| at("no PartitionKey in the URL or body".into()))?;
        match &partition {
            Some(first) if *first != p => {
                return Err(at(format!(
                    "PartitionKey {p} differs from {first}: one partition per transaction"
                )))
            }
            _ => partition = Some(p),
        }
        if let Some(r) = row {
            if rows.contains(&r) {
                return Err(at(format!("entity {r} appears twice in the transaction")));
            }
            rows.push(r);
        }
    }
    Ok(())
}

/// The bytes a transaction's one changeset adds around its operations, kept free when
/// measuring them.
const CHANGESET_FRAMING: u64 = 256;

/// Splits a workload into transactions: each one partition, at most
/// [`MAX_OPERATIONS`] operations (or `limits.max_operations`), each one changeset. An input
/// changeset stays whole; one that spans two partitions is an error that names it.
pub fn split_transactions(
    work: &BatchRequest,
    limits: SplitLimits,
) -> Result<Vec<Planned>, BatchError> {
    // Items by partition, in the order each partition first appears.
    let mut partitions: Vec<(String, Vec<usize>)> = Vec::new();
    let mut first_op = Vec::with_capacity(work.items.len());
    let mut n = 0;
    for (i, item) in work.items.iter().enumerate() {
        first_op.push(n);
        n += item.ops().len();
        let mut p: Option<String> = None;
        for op in item.ops() {
            let (k, _) = keys(op).ok_or_else(|| {
                BatchError::new(K::Malformed, "no PartitionKey in the URL or body")
                    .at_op(first_op[i], op.content_id.clone())
            })?;
            if p.as_ref().is_some_and(|q| *q != k) {
                return Err(BatchError::new(
                    K::Malformed,
                    format!("changeset {} spans two partitions", item_name(item, i)),
                ));
            }
            p = Some(k);
        }
        let Some(p) = p else { continue };
        match partitions.iter_mut().find(|(k, _)| *k == p) {
            Some((_, items)) => items.push(i),
            None => partitions.push((p, vec![i])),
        }
    }
    let limits = SplitLimits {
        max_operations: limits.max_operations.min(MAX_OPERATIONS),
        max_batch_bytes: limits.max_batch_bytes.saturating_sub(CHANGESET_FRAMING),
        ..limits
    };
    let mut out = Vec::new();
    for (_, idx) in partitions {
        let part = Batch {
            items: idx.iter().map(|&i| work.items[i].clone()).collect(),
        };
        // Positions within `part`, back to positions within `work`.
        let back: Vec<usize> = idx
            .iter()
            .flat_map(|&i| first_op[i]..first_op[i] + work.items[i].ops().len())
            .collect();
        for plan in split(&part, limits)? {
            let ops = plan
                .batch
                .items
                .into_iter()
                .flat_map(|i| match i {
                    Item::Op(op) => vec![op],
                    Item::Changeset(c) => c.ops,
                })
                .collect();
            out.push(Planned {
                batch: Batch {
                    items: vec![Item::Changeset(Changeset { id: None, ops })],
                },
                original: plan
                    .original
                    .into_iter()
                    .map(|(k, id)| (back[k], id))
                    .collect(),
            });
        }
    }
    Ok(out)
}

fn item_name(item: &Item<RequestOp>, i: usize) -> String {
    match item {
        Item::Changeset(c) => c.id.clone().unwrap_or_else(|| format!("at item {}", i + 1)),
        Item::Op(op) => op
            .content_id
            .as_ref()
            .map_or_else(|| format!("at item {}", i + 1), |id| id.to_string()),
    }
}

/// Reads a transaction and checks it (OData 3.0 rules, one changeset, one partition).
pub fn read_request(body: Bytes, content_type: &[u8]) -> Result<BatchRequest, BatchError> {
    read_request_under(body, content_type, ReadLimits::default())
}

/// [`read_request`] under `limits`.
pub(crate) fn read_request_under(
    body: Bytes,
    content_type: &[u8],
    limits: ReadLimits,
) -> Result<BatchRequest, BatchError> {
    let batch = read_multipart_with(body, content_type, limits, Some(validation()))?;
    check(&batch)?;
    Ok(batch)
}

/// Writes a transaction: the operations as one changeset.
pub fn write_request(
    batch: &BatchRequest,
    boundary: &[u8],
) -> Result<(String, Encoded), BatchError> {
    check(batch)?;
    write_multipart(batch, boundary)
}

/// Reads the answer (`202`): a changeset of answers, or the one failure that undid it.
pub fn read_response(body: Bytes, content_type: &[u8]) -> Result<BatchResponse, BatchError> {
    read_all(body, content_type, Default::default(), false)
}

/// Writes the answer.
pub fn write_response(
    batch: &BatchResponse,
    boundary: &[u8],
) -> Result<(String, Encoded), BatchError> {
    write_multipart(batch, boundary)
}

/// The position, from 0, of the operation that failed a transaction, as the service names it:
/// the error answer's message starts with it (`1:The specified entity already exists.`), in
/// JSON (`odata.error.message.value`, or `odata.error.message` as a string) or in the XML
/// error's `<message>`. `None` when the answer names none: a failure of the batch as a whole.
///
/// ```
/// use batchpart::batch::{azure_table, ResponseOp};
/// let body = r#"{"odata.error":{"code":"EntityAlreadyExists","message":{"lang":"en-US","value":"1:The specified entity already exists."}}}"#;
/// assert_eq!(azure_table::failed_index(&ResponseOp::new(409).with_body(body)), Some(1));
/// ```
pub fn failed_index(answer: &crate::batch::ResponseOp) -> Option<usize> {
    let message = match serde_json::from_slice::<serde_json::Value>(&answer.body) {
        Ok(v) => {
            let m = &v["odata.error"]["message"];
            m["value"].as_str().or_else(|| m.as_str())?.to_string()
        }
        Err(_) => {
            let text = core::str::from_utf8(&answer.body).ok()?;
            let open = text.find("<message")?;
            let start = open + text[open..].find('>')? + 1;
            let end = start + text[start..].find('<')?;
            text[start..end].to_string()
        }
    };
    let (index, _) = message.trim_start().split_once(':')?;
    if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    index.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::ResponseOp;

    #[test]
    fn the_failed_index_comes_from_the_message_in_either_format() {
        let json = |m: &str| ResponseOp::new(409).with_body(m.to_string());
        let value = r#"{"odata.error":{"message":{"value":" 12:Bad."}}}"#;
        assert_eq!(failed_index(&json(value)), Some(12));
        let plain = r#"{"odata.error":{"code":"x","message":"0:The entity."}}"#;
        assert_eq!(failed_index(&json(plain)), Some(0));
        let xml = "<?xml version=\"1.0\"?><error><code>E</code><message xml:lang=\"en-US\">3:Bad.</message></error>";
        assert_eq!(failed_index(&json(xml)), Some(3));
        for none in [
            r#"{"odata.error":{"message":{"value":"The batch."}}}"#,
            r#"{"odata.error":{"message":{"value":":x"}}}"#,
            r#"{"odata.error":{"message":{"value":"1a:x"}}}"#,
            r#"{"other":1}"#,
            "<error><message>no index</message></error>",
            "<error>",
            "\u{ff}",
        ] {
            assert_eq!(failed_index(&json(none)), None, "{none}");
        }
    }
}
