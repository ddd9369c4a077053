//! Each operation as an `http::Request` into the application's own service, and its
//! `http::Response` back as an operation's answer.

use core::future::Future;
use core::task::Poll;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::body::{collect, waiting, OpBody, Queue, Whole};
use super::{error_op, App, BatchConfig};
use crate::batch::http_interop::{from_header_map, ContentIdExtension};
use crate::batch::{RequestOp, ResponseOp};

/// Makes changesets and atomicity groups transactional, for an application with a database.
///
/// [`begin`](Self::begin) runs before a group's first operation and returns extensions that
/// every operation of the group carries into the inner service (a transaction handle, say,
/// that the handlers take with an extractor); [`commit`](Self::commit) runs when every
/// operation succeeded, and [`rollback`](Self::rollback) when one failed, each with those
/// extensions. The default, [`NoAtomicity`], does nothing: without a hook of the
/// application's own, the operations of a group take effect one by one, and a failure does
/// not undo the earlier ones.
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
    /// The service root that relative URLs resolve against, ending in `/`.
    pub(crate) root: String,
    /// The outer request's extensions: auth and tracing context.
    pub(crate) extensions: http::Extensions,
    /// The outer headers named in the configuration, as sent.
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
}

impl<S: Clone, A: Clone> Dispatch<S, A> {
    fn handle(&self) -> Self {
        Dispatch {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            atomicity: self.atomicity.clone(),
            group: self.group.clone(),
        }
    }
}

/// An operation's URL as the inner service sees it: an absolute URL keeps its path and
/// query; an absolute path stays; anything else is relative to the service root.
fn resolve(root: &str, url: &str) -> String {
    if let Some((_, rest)) = url.split_once("://") {
        return match rest.find('/') {
            Some(i) => rest[i..].to_string(),
            None => "/".to_string(),
        };
    }
    if url.starts_with('/') {
        url.to_string()
    } else {
        format!("{root}{url}")
    }
}

impl<S, A> Dispatch<S, A>
where
    S: App,
    A: Atomicity,
{
    /// The operation as a request to the inner service.
    fn request(&self, mut op: RequestOp) -> Result<http::Request<OpBody>, ResponseOp> {
        let shared = &self.shared;
        op.url = resolve(&shared.root, &op.url);
        let mut req = http::Request::<Bytes>::try_from(&op)
            .map_err(|e| error_op(400, op.content_id.clone(), &e.to_string()))?;
        for (name, value) in &shared.forwarded {
            if !req.headers().contains_key(name) {
                req.headers_mut().append(name.clone(), value.clone());
            }
        }
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
                r.headers = from_header_map(&parts.headers);
                r.body = body;
                r.content_id = id;
                r
            }
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
        self.group = Some(self.atomicity.begin(changeset).await);
    }

    async fn commit(&mut self, changeset: Option<&str>) -> Result<(), ResponseOp> {
        let ext = self.group.take().unwrap_or_default();
        self.atomicity.commit(changeset, &ext).await
    }

    async fn rollback(&mut self, changeset: Option<&str>) {
        let ext = self.group.take().unwrap_or_default();
        self.atomicity.rollback(changeset, &ext).await
    }

    fn fork(&self) -> Option<Self> {
        Some(self.handle())
    }
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn urls_resolve_against_the_root() {
        assert_eq!(resolve("/service/", "People(1)"), "/service/People(1)");
        assert_eq!(resolve("/service/", "/other/People"), "/other/People");
        assert_eq!(
            resolve("/service/", "https://host/service/People?$top=1"),
            "/service/People?$top=1"
        );
        assert_eq!(resolve("/service/", "https://host"), "/");
    }
}
