//! Each operation as an `http::Request` into the application's own service, and its
//! `http::Response` back as an operation's answer.

use core::future::Future;
use core::task::Poll;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::body::{collect, waiting, OpBody, Queue, Whole};
use super::{error_op, App, BatchConfig};
use crate::batch::http_interop::{headers_from, ContentIdExtension};
use crate::batch::model::validate::{forbidden_header, is_batch_url};
use crate::batch::{BatchError, BatchErrorKind, Handler, RequestOp, ResponseOp, ServiceRoot};

/// What every operation of one batch shares.
pub(crate) struct Shared {
    pub(crate) cfg: Arc<BatchConfig>,
    /// Where operations may go, with the batch request's origin.
    pub(crate) root: ServiceRoot,
    /// The batch request's own path: no operation dispatches to it.
    pub(crate) batch_path: String,
    /// The batch request's `Host` (or its URI's authority), which every operation carries.
    pub(crate) host: Option<http::HeaderValue>,
    /// The outer request's extensions: auth and tracing context.
    pub(crate) extensions: http::Extensions,
    /// Every field of the outer headers named in the configuration, in order.
    pub(crate) forwarded: Vec<(http::HeaderName, http::HeaderValue)>,
    /// When the batch's time budget runs out.
    pub(crate) deadline: Option<Instant>,
    /// The answer's output waiting for the client.
    pub(crate) queue: Queue,
}

/// The executor's [`Handler`] over the inner tower service. A group's handle, from
/// [`Atomicity::begin`](crate::batch::Atomicity::begin), goes into each of its operations'
/// request extensions.
pub(crate) struct Dispatch<S, A> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
    /// The hook the batch's groups run under (the executor calls it, not this handler).
    pub(crate) atomicity: A,
}

impl<S: Clone, A: Clone> Dispatch<S, A> {
    /// A second handle, for operations run beside others.
    fn handle(&self) -> Self {
        Dispatch {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            atomicity: self.atomicity.clone(),
        }
    }
}

/// Headers that describe one hop or the message's framing, never the operation: an operation
/// that carried them could smuggle a second request past a proxying inner service.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "host",
];

/// The operation's headers as the inner service gets them: hop-by-hop and framing headers
/// dropped (with those `Connection` names), `Forwarded` and `X-Forwarded-*` dropped unless
/// trusted, the forwarded credentials and `Host` taken from the batch request alone, and
/// `Content-Length` from the body the inner service gets.
fn sanitize(h: &mut http::HeaderMap, shared: &Shared, body_len: usize, had_length: bool) {
    let cfg = &shared.cfg;
    let named: Vec<http::HeaderName> = h
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| http::HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named
        .iter()
        .chain(&cfg.forward_headers)
        .chain(&cfg.strip_headers)
    {
        h.remove(n);
    }
    let dropped: Vec<http::HeaderName> = h
        .keys()
        .filter(|n| {
            let n = n.as_str();
            HOP_BY_HOP.contains(&n)
                || n.starts_with("proxy-")
                || !cfg.trust_forwarded && (n == "forwarded" || n.starts_with("x-forwarded-"))
        })
        .cloned()
        .collect();
    for n in dropped {
        h.remove(n);
    }
    for (name, value) in &shared.forwarded {
        h.append(name.clone(), value.clone());
    }
    if let Some(host) = &shared.host {
        h.insert(http::header::HOST, host.clone());
    }
    if body_len > 0 || had_length {
        h.insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(body_len),
        );
    }
}

/// An operation's run with its panics caught: a panic in the inner service (its `call`, its
/// future or its answer's body) is that operation's failure, not the batch's.
///
/// `AssertUnwindSafe` is sound here: after a panic the future is dropped and never polled
/// again, and so is the inner service's clone that it owns; what it shares with the rest of
/// the batch (the answer queue) is behind a mutex whose poisoning the queue already treats
/// as harmless, and the application's own shared state is reached through its service, as
/// after any panic that tower-http's `CatchPanic` catches.
async fn caught<F, T>(fut: F) -> Result<T, String>
where
    F: Future<Output = Result<T, String>>,
{
    let mut fut = core::pin::pin!(fut);
    core::future::poll_fn(|cx| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(polled) => polled,
            // The panic's message stays on the server: it may say more than a client should
            // learn.
            Err(_) => Poll::Ready(Err("the operation's handler panicked".to_string())),
        }
    })
    .await
}

/// Where an operation is dispatched, after references are substituted: refused outside the
/// root, and for a nested batch or the batch endpoint itself.
fn target(shared: &Shared, url: &str) -> Result<String, BatchError> {
    let target = shared.root.resolve(url)?;
    let path = target.split('?').next().unwrap_or("");
    if is_batch_url(path) || path == shared.batch_path {
        return Err(BatchError::new(
            BatchErrorKind::NestedBatch,
            format!("{url} resolves to {path}, a batch request"),
        ));
    }
    Ok(target)
}

/// The service's own rules over a batch a dialect read, before anything runs: every URL
/// resolves inside the service root and to no batch resource (the check each operation meets
/// again when it is dispatched), and, as [`ValidationOptions::forbid_headers`] says, no
/// operation carries a forbidden header.
///
/// [`ValidationOptions::forbid_headers`]: crate::batch::ValidationOptions::forbid_headers
pub(crate) fn admit(
    shared: &Shared,
    forbid_headers: bool,
    batch: &crate::batch::BatchRequest,
) -> Result<(), BatchError> {
    for (i, op) in batch.items.iter().flat_map(|i| i.ops()).enumerate() {
        let at = |e: BatchError| e.at_op(i, op.content_id.clone());
        target(shared, &op.url).map_err(at)?;
        if let Some(n) = forbidden_header(&op.headers).filter(|_| forbid_headers) {
            let msg = format!("header {n} is not allowed in a batch operation");
            return Err(at(BatchError::new(BatchErrorKind::ForbiddenHeader, msg)));
        }
    }
    Ok(())
}

impl<S: App, A> Dispatch<S, A> {
    /// The operation as a request to the inner service, with its group's handle, if any.
    fn request<G: Clone + Send + Sync + 'static>(
        &self,
        mut op: RequestOp,
        group: Option<&G>,
    ) -> Result<http::Request<OpBody>, ResponseOp> {
        let shared = &self.shared;
        let refuse = |e: BatchError| {
            let msg = format!("{}: {e}", e.kind().as_str());
            error_op(400, op.content_id.clone(), &msg)
        };
        op.url = target(shared, &op.url).map_err(refuse)?.into();
        let mut req = http::Request::<Bytes>::try_from(&op).map_err(refuse)?;
        let had_length = req.headers().contains_key(http::header::CONTENT_LENGTH);
        sanitize(req.headers_mut(), shared, op.body.len(), had_length);
        let ext = req.extensions_mut();
        let id = ext.remove::<ContentIdExtension>();
        ext.extend(shared.extensions.clone());
        if let Some(group) = group {
            ext.insert(group.clone());
        }
        if let Some(id) = id {
            ext.insert(id);
        }
        Ok(req.map(OpBody::new))
    }

    async fn run<G: Clone + Send + Sync + 'static>(
        &mut self,
        op: RequestOp,
        group: Option<&G>,
    ) -> ResponseOp {
        // Backpressure: no operation starts while answers wait for the client. The body
        // hands out what waits before it polls the run again.
        core::future::poll_fn(|cx| {
            if waiting(&self.shared.queue) {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
        let id = op.content_id.clone();
        let deadline = self.shared.deadline;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return error_op(
                503,
                id,
                "not run: the batch's time budget ran out before this operation",
            );
        }
        let req = match self.request(op, group) {
            Ok(r) => r,
            Err(resp) => return resp,
        };
        let mut svc = self.inner.clone();
        let max_body = self.shared.cfg.limits.max_body_bytes as u64;
        let call = async move {
            core::future::poll_fn(|cx| svc.poll_ready(cx))
                .await
                .map_err(|e| e.to_string())?;
            let resp = svc.call(req).await.map_err(|e| e.to_string())?;
            let (parts, body) = resp.into_parts();
            let body = collect(body, max_body, Whole::Answer)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((parts, body))
        };
        let call = caught(call);
        let timer = match (deadline, &self.shared.cfg.sleep) {
            (Some(d), Some(sleep)) => Some(sleep(d.saturating_duration_since(Instant::now()))),
            _ => None,
        };
        let result = match timer {
            None => Some(call.await),
            Some(timer) => {
                let mut call = Box::pin(call);
                let mut timer = timer;
                core::future::poll_fn(|cx| {
                    if let Poll::Ready(r) = call.as_mut().poll(cx) {
                        return Poll::Ready(Some(r));
                    }
                    timer.as_mut().poll(cx).map(|()| None)
                })
                .await
            }
        };
        match result {
            None => error_op(
                504,
                id,
                "the batch's time budget ran out while this operation ran; it may have taken effect",
            ),
            Some(Err(e)) => error_op(500, id, &format!("the service failed: {e}")),
            Some(Ok((parts, body))) => {
                let mut r = ResponseOp::new(parts.status.as_u16());
                r.headers = headers_from(&parts.headers, self.shared.cfg.header_case);
                r.body = body;
                r.content_id = id;
                r
            }
        }
    }
}

impl<S: App, A: Clone, G: Clone + Send + Sync + 'static> Handler<G> for Dispatch<S, A> {
    fn call(&mut self, op: RequestOp) -> impl Future<Output = ResponseOp> {
        self.run::<G>(op, None)
    }

    fn call_in(&mut self, op: RequestOp, group: &G) -> impl Future<Output = ResponseOp> {
        self.run(op, Some(group))
    }

    fn fork(&self) -> Option<Self> {
        Some(self.handle())
    }
}
