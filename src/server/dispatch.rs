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
use crate::batch::model::validate::is_batch_url;
use crate::batch::{BatchError, BatchErrorKind, RequestOp, ResponseOp, ServiceRoot};

/// Makes changesets and atomicity groups transactional, for an application with a database.
///
/// [`begin`](Self::begin) runs before a group's first operation and returns extensions that
/// every operation of the group carries into the inner service (a transaction handle, say,
/// that the handlers take with an extractor); [`commit`](Self::commit) runs when every
/// operation succeeded, and [`rollback`](Self::rollback) when one failed, each with those
/// extensions. The default, [`NoAtomicity`], does nothing: without a hook of the
/// application's own, the operations of a group take effect one by one, and a failure does
/// not undo the earlier ones.
///
/// # Cancellation
///
/// A group is always resolved. When its run is dropped after `begin` returned and before
/// `commit` or `rollback` did (the client disconnected, a tower `Timeout` fired, the server
/// shut down, the answer's body was dropped), [`cancel`](Self::cancel) runs, synchronously
/// and at once, in the drop; then the group's extensions are dropped, and so is the
/// operation that was running (its future is never polled again). A panic in an operation,
/// or in the inner service's body, is the operation's `500` and rolls the group back through
/// [`rollback`](Self::rollback) like any failure.
///
/// The hook is synchronous because it runs in `Drop`, and the crate has no runtime to run a
/// future on: a rollback that needs one is handed to the application's own (`tokio::spawn`),
/// or kept in the extensions as a value that rolls back when dropped, as sqlx's
/// `Transaction` does, in which case `cancel` need do nothing.
pub trait Atomicity: Clone + Send + Sync + 'static {
    /// A group begins (its id: the changeset boundary or the JSON atomicity group).
    fn begin(&self, group: Option<&str>) -> impl Future<Output = http::Extensions> + Send;
    /// Every operation of the group succeeded: make it durable, or answer why not.
    fn commit(
        &self,
        group: Option<&str>,
        extensions: &http::Extensions,
    ) -> impl Future<Output = Result<(), ResponseOp>> + Send;
    /// An operation of the group failed: undo the others.
    fn rollback(
        &self,
        group: Option<&str>,
        extensions: &http::Extensions,
    ) -> impl Future<Output = ()> + Send;
    /// The group's run was dropped before it was resolved: undo what it did, now (see
    /// [Cancellation](Self#cancellation)). The default does nothing, for extensions that
    /// roll back when dropped.
    fn cancel(&self, _group: Option<&str>, _extensions: &http::Extensions) {}
}

/// No transactions: groups run their operations one by one (see [`Atomicity`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAtomicity;

impl Atomicity for NoAtomicity {
    fn begin(&self, _group: Option<&str>) -> impl Future<Output = http::Extensions> + Send {
        core::future::ready(http::Extensions::new())
    }
    fn commit(
        &self,
        _group: Option<&str>,
        _extensions: &http::Extensions,
    ) -> impl Future<Output = Result<(), ResponseOp>> + Send {
        core::future::ready(Ok(()))
    }
    fn rollback(
        &self,
        _group: Option<&str>,
        _extensions: &http::Extensions,
    ) -> impl Future<Output = ()> + Send {
        core::future::ready(())
    }
}

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

/// The executor's [`Service`](crate::batch::Service) over the inner tower service.
pub(crate) struct Dispatch<S, A> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
    pub(crate) atomicity: A,
    /// The extensions of the group being run, from [`Atomicity::begin`].
    pub(crate) group: Option<http::Extensions>,
    /// Cancels the open group if this handle is dropped before the group is resolved.
    pub(crate) unresolved: Option<Unresolved>,
}

/// [`Atomicity::cancel`] for one group, run on drop unless the group was resolved first.
pub(crate) struct Unresolved(Option<Box<dyn FnOnce() + Send + Sync>>);

impl Drop for Unresolved {
    fn drop(&mut self) {
        if let Some(cancel) = self.0.take() {
            cancel();
        }
    }
}

impl Unresolved {
    fn resolved(mut self) {
        self.0 = None;
    }
}

impl<S: Clone, A: Clone> Dispatch<S, A> {
    /// A second handle for operations outside groups: it never resolves a group.
    fn handle(&self) -> Self {
        Dispatch {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            atomicity: self.atomicity.clone(),
            group: self.group.clone(),
            unresolved: None,
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

impl<S, A> Dispatch<S, A>
where
    S: App,
    A: Atomicity,
{
    /// The operation as a request to the inner service.
    fn request(&self, mut op: RequestOp) -> Result<http::Request<OpBody>, ResponseOp> {
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
        if let Some(group) = &self.group {
            ext.extend(group.clone());
        }
        if let Some(id) = id {
            ext.insert(id);
        }
        Ok(req.map(OpBody::new))
    }

    async fn run(&mut self, op: RequestOp) -> ResponseOp {
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
        let req = match self.request(op) {
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

impl<S, A> Dispatch<S, A> {
    /// The group was committed or rolled back: nothing is left to cancel.
    fn resolved(&mut self) {
        self.group = None;
        if let Some(u) = self.unresolved.take() {
            u.resolved();
        }
    }
}

impl<S, A> crate::batch::Service for Dispatch<S, A>
where
    S: App,
    A: Atomicity,
{
    fn call(&mut self, op: RequestOp) -> impl Future<Output = ResponseOp> {
        self.run(op)
    }

    async fn begin(&mut self, changeset: Option<&str>) {
        let ext = self.atomicity.begin(changeset).await;
        let (hook, id, held) = (
            self.atomicity.clone(),
            changeset.map(str::to_string),
            ext.clone(),
        );
        self.unresolved = Some(Unresolved(Some(Box::new(move || {
            hook.cancel(id.as_deref(), &held)
        }))));
        self.group = Some(ext);
    }

    async fn commit(&mut self, changeset: Option<&str>) -> Result<(), ResponseOp> {
        let ext = self.group.clone().unwrap_or_default();
        let result = self.atomicity.commit(changeset, &ext).await;
        self.resolved();
        result
    }

    async fn rollback(&mut self, changeset: Option<&str>) {
        let ext = self.group.clone().unwrap_or_default();
        self.atomicity.rollback(changeset, &ext).await;
        self.resolved();
    }

    fn fork(&self) -> Option<Self> {
        Some(self.handle())
    }
}
