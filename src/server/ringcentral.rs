//! RingCentral batches in the service: the IDs of the path (or of a PUT's body) become one
//! operation each, counted before any runs, and the answer, whose status depends on every
//! result, is written whole, within `max_batch_bytes`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use super::body::{self, Incoming, Whole};
use super::dispatch::Dispatch;
use super::{header, refuse, respond, App, BatchBody, BatchConfig, Hook, SendBody};
use crate::batch::ringcentral as rc;
use crate::batch::{
    BatchError, BatchErrorKind as K, ExecOptions, Handler, ReadLimits, RequestOp, ResponseOp,
};

/// The answers' bytes, summed over the batch: a read past the bound is a batch error (nothing
/// took effect); a write's answer past it keeps its status and loses its body, since the write
/// has happened and a whole-batch error would hide it.
struct Budget<S> {
    inner: S,
    spent: Arc<AtomicU64>,
    max: u64,
    writes: bool,
    over: Arc<AtomicBool>,
}

impl<S: Handler> Handler for Budget<S> {
    async fn call(&mut self, op: RequestOp) -> ResponseOp {
        if self.over.load(Ordering::SeqCst) {
            // A read batch is refused whole once over: the rest need not run.
            let mut refused = ResponseOp::new(503);
            refused.content_id = op.content_id;
            return refused;
        }
        let mut resp = self.inner.call(op).await;
        let len = resp.body.len() as u64;
        let total = self.spent.fetch_add(len, Ordering::SeqCst) + len;
        if total > self.max {
            if self.writes {
                resp.body = Bytes::new();
                resp.headers.remove("content-type");
            } else {
                self.over.store(true, Ordering::SeqCst);
            }
        }
        resp
    }

    fn fork(&self) -> Option<Self> {
        Some(Budget {
            inner: self.inner.fork()?,
            spent: self.spent.clone(),
            max: self.max,
            writes: self.writes,
            over: self.over.clone(),
        })
    }
}

/// The operation limit, as every dialect meets it.
fn max_operations(cfg: &BatchConfig) -> usize {
    cfg.limits.max_operations
}

fn too_many(n: usize, max: usize) -> BatchError {
    BatchError::new(
        K::TooManyOperations,
        format!("{n} resources, over max_operations ({max})"),
    )
}

pub(super) async fn serve<S, A, B>(
    dispatch: Dispatch<S, A>,
    cfg: &BatchConfig,
    parts: &http::request::Parts,
    body: Incoming<B>,
) -> http::Response<BatchBody>
where
    B: SendBody,
    S: App,
    A: Hook,
{
    let path = parts.uri.path();
    let lower = |n: &str| header(parts, n).unwrap_or("").to_ascii_lowercase();
    let json_form = lower("content-type").starts_with(rc::MULTIPART_JSON)
        || lower("accept").starts_with(rc::MULTIPART_JSON);
    let method = parts.method.as_str();
    let Some(ids) = rc::split_ids(path) else {
        let e = BatchError::new(K::Malformed, "no comma-separated IDs in the path");
        return refuse(&e);
    };
    let max = max_operations(cfg);
    if ids.ids.len() > max {
        // The first ID over the limit, as a byte offset into the path.
        let at = path.match_indices(',').nth(max.saturating_sub(1));
        let e = too_many(ids.ids.len(), max).at_offset(at.map_or(0, |(i, _)| i as u64 + 1));
        return refuse(&e);
    }
    let bytes = match body::collect(body.0, cfg.limits.max_batch_bytes, Whole::Batch).await {
        Ok(b) => b,
        Err(e) => return refuse(&e),
    };
    let limits = ReadLimits {
        max_operations: max,
        ..cfg.limits
    };
    let items = match (method, json_form) {
        ("PUT", true) => rc::read_json_request_with(&bytes, path, limits),
        ("PUT", false) => {
            let ct = header(parts, "content-type").unwrap_or("").as_bytes();
            rc::read_put_with(bytes, ct, path, limits)
        }
        _ => Ok(ids
            .ids
            .iter()
            .map(|id| (id.clone(), Bytes::new()))
            .collect()),
    };
    let items = match items {
        Ok(i) if i.len() > max => return refuse(&too_many(i.len(), max)),
        Ok(i) => i,
        Err(e) => return refuse(&e),
    };
    let batch = rc::to_batch(method, &ids.base, &items);
    // Every resource stays under the root, before any runs.
    for (i, op) in batch.items.iter().flat_map(|i| i.ops()).enumerate() {
        if let Err(e) = dispatch.shared.root.resolve(&op.url) {
            return refuse(&e.at_op(i, op.content_id.clone()));
        }
    }
    let over = Arc::new(AtomicBool::new(false));
    let mut budget = Budget {
        inner: dispatch,
        spent: Arc::new(AtomicU64::new(0)),
        max: cfg.limits.max_batch_bytes,
        writes: !method.eq_ignore_ascii_case("GET"),
        over: over.clone(),
    };
    // Every resource is tried, whatever fails.
    let opts = ExecOptions {
        continue_on_error: true,
        concurrency: cfg.concurrency,
        ..Default::default()
    };
    let run = crate::batch::execute(
        crate::stream::iter(batch.items.into_iter().map(Ok)),
        &mut budget,
        opts,
    )
    .await;
    if over.load(Ordering::SeqCst) {
        let e = BatchError::new(
            K::BatchTooLarge,
            format!(
                "the answers are over max_batch_bytes ({})",
                cfg.limits.max_batch_bytes
            ),
        );
        return refuse(&e);
    }
    let response = match run {
        Ok(r) => r,
        Err(e) => return refuse(&e),
    };
    let results = rc::from_batch(&response);
    let status = rc::batch_status(method, &results);
    let mut headers = crate::batch::Headers::new();
    if status == 204 {
        return respond(204, &headers, BatchBody::whole(Bytes::new()));
    }
    let written = if json_form {
        rc::write_json_response(&results)
            .map(|t| (status, rc::MULTIPART_JSON.to_string(), Bytes::from(t)))
    } else {
        let b = crate::encoder::random_boundary();
        rc::write_multipart_response(method, &results, b.as_bytes())
            .map(|(s, ct, body)| (s, ct, body.into_bytes()))
    };
    match written {
        Ok((status, ct, body)) => {
            headers.push("Content-Type", ct);
            respond(status, &headers, BatchBody::whole(body))
        }
        Err(e) => refuse(&e),
    }
}
