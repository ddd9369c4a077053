//! The server half (feature `tower`): a `$batch` endpoint as a tower service that runs every
//! operation through the application's own service, an axum `Router` for instance, as
//! ASP.NET's `DefaultODataBatchHandler` runs them through its pipeline.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use batchpart::server::{BatchConfig, BatchLayer};
//! use tower_layer::Layer;
//!
//! // The application: any `Service<http::Request<OpBody>>`; here, a function.
//! let app = tower::service_fn(|req: http::Request<batchpart::server::OpBody>| async move {
//!     let body = format!("{{\"path\":\"{}\"}}", req.uri().path());
//!     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(bytes::Bytes::from(body))))
//! });
//! let batch = BatchLayer::new(BatchConfig::default()).layer(app);
//! let req = http::Request::post("/service/$batch")
//!     .header("Content-Type", "multipart/mixed; boundary=b")
//!     .body(http_body_util::Full::new(bytes::Bytes::from_static(
//!         b"--b\r\nContent-Type: application/http\r\n\r\nGET People HTTP/1.1\r\n\r\n\r\n--b--",
//!     )))
//!     .unwrap();
//! use tower::ServiceExt;
//! let resp = batch.oneshot(req).await.unwrap();
//! assert_eq!(resp.status(), 200);
//! use http_body_util::BodyExt;
//! let text = resp.into_body().collect().await.unwrap().to_bytes();
//! assert!(std::str::from_utf8(&text).unwrap().contains("{\"path\":\"/service/People\"}"));
//! # }
//! ```
//!
//! What it does with a batch request:
//!
//! - **Reads** the body incrementally, with the decoder's limits and the batch layer's
//!   [`ReadLimits`], never past `max_batch_bytes`: an error is a
//!   `400` (`413` for a limit) whose message names the problem and its byte offset.
//! - **Validates** the whole batch before the first operation runs, by default, so that memory
//!   is bounded by the batch byte limit and a malformed part is a whole-batch error before
//!   anything had an effect. [`BatchConfig::streaming`] runs operations as they are read
//!   instead; a read error after one has run is then one last `400` part (the executor's
//!   rule), never a whole-batch error.
//! - **Dispatches** each operation as an `http::Request<OpBody>` into the inner service: the
//!   URL resolved against the service root and confined to it, `$n` references resolved, the
//!   outer request's extensions carried over (auth and tracing context live there), with the
//!   operation's Content-ID as a
//!   [`ContentIdExtension`](crate::batch::http_interop::ContentIdExtension), and every field of
//!   the outer headers named in [`BatchConfig::forward_headers`] in place of the operation's.
//! - **Groups** (changesets, atomicity groups) run in order through an [`Atomicity`] hook,
//!   the crate's one transaction hook, which the executor calls too; each operation of a
//!   group carries a clone of the group's handle ([`Atomicity::Group`]) in its request
//!   extensions. The default, [`NoAtomicity`], does nothing, and says so.
//! - **Concurrency**: [`BatchConfig::concurrency`] operations at once, where they depend on
//!   nothing and continue-on-error is asked for (see
//!   [`ExecOptions::concurrency`](crate::batch::ExecOptions::concurrency)); `1`, in order, by
//!   default.
//! - **Answers** with a body written as operations complete, in order: the first part goes
//!   out before the last operation finishes, and the run advances only as the client reads,
//!   so memory stays bounded whatever the batch size. OData 2.0 and 3.0 batches are answered
//!   `202`, others `200`. RingCentral's answer is the exception: its status (`207`, or `204`
//!   for a DELETE that succeeded everywhere) depends on every result, so it is written whole.
//! - **Budget**: [`BatchConfig::time_budget`] for the whole batch, with a timer the caller
//!   supplies ([`BatchConfig::sleep`]), so the crate stays runtime-free. An operation still
//!   running when it runs out is dropped and answered `504`, saying that it may have taken
//!   effect; the rest are answered `503` without running. Without a timer, the budget is
//!   checked between operations only.
//!
//! # Security
//!
//! The threat model is an authenticated client that sends a hostile batch: every operation
//! runs with the outer request's identity, so nothing inside a batch may reach more than the
//! outer request could, or carry another identity. In every dialect:
//!
//! - **Operations stay under the service root.** Each URL is resolved by RFC 3986 rules
//!   ([`ServiceRoot`], whose docs have the table of what is
//!   accepted and refused): same origin only (a configured absolute
//!   [`service_root`](BatchConfig::service_root), else the request's `Host`), dot segments
//!   removed (percent-encoded ones too), under the root's path. What is checked is what is
//!   dispatched, after `$n` references are substituted. A refused operation never reaches the
//!   inner service: validating first, the batch is refused `400` (`outside-service-root`, with
//!   the byte offset) before anything runs; streaming, that operation is answered `400`;
//!   RingCentral refuses the whole batch before anything runs. Nested batches, and the batch
//!   endpoint itself, are refused however they are spelled.
//! - **Every dialect reads under [`BatchConfig::limits`] and [`BatchConfig::validation`]**,
//!   the JSON `/batch` dialect and RingCentral included: operations are counted before any
//!   runs. RingCentral's answers are bounded by `max_batch_bytes` summed: a read batch over it
//!   is refused `413`, a write batch keeps every status and loses the bodies past the bound.
//! - **Operation headers cannot widen the batch**: hop-by-hop and framing headers are
//!   dropped (`Connection` and what it names, `Keep-Alive`, `TE`, `Trailer`,
//!   `Transfer-Encoding`, `Upgrade`, `Proxy-*`), `Content-Length` is set from the body,
//!   `Host` is the request's, `Forwarded` and `X-Forwarded-*` are dropped unless
//!   [`trust_forwarded`](BatchConfig::trust_forwarded), and the forwarded credentials come
//!   from the batch request alone ([`strip_headers`](BatchConfig::strip_headers) drops more).
//! - **An answer is always a whole document**: an operation whose answer the format cannot
//!   carry (a body that is not JSON under a JSON type, several `Set-Cookie` fields in a JSON
//!   answer, a header that is not UTF-8) is answered `500`, saying that it ran and with what
//!   status; other repeated fields are joined with `, ` in JSON (RFC 9110 §5.3).
//!
//! Left to the application: authorising each operation (its routes' own middleware runs for
//! every operation, so mount auth on the routes, not only on the batch endpoint), isolation
//! between concurrent batches, and its HTTP server's connection timeouts.
//!
//! # Asynchronous batches
//!
//! With [`BatchConfig::respond_async`] set (it is off by default), an OData 4.0 or 4.01
//! batch, multipart or JSON, read validate-first, whose request carries
//! `Prefer: respond-async` (OData 4.01 Part 1 §8.2.8.8, §11.7.10) runs in the background:
//!
//! 1. The batch is read and validated as always: a malformed batch is still answered `400`
//!    at once, and nothing has run.
//! 2. It is answered `202 Accepted` with `Location: <service root>$monitor/<32 hex digits>`,
//!    `Preference-Applied: respond-async`, `Retry-After`, and no body. Its run is handed to
//!    [`AsyncBatches::spawn`]: the same inner service, atomicity hook, limits and time
//!    budget (counted from when the batch arrived) as a synchronous run.
//! 3. `GET` on the monitor answers `202` with `Retry-After` while it runs, then `200` with
//!    `Content-Type: application/http`, `Content-Transfer-Encoding: binary` and (as 4.01's
//!    `AsyncResult`) the batch's status: the body is the whole answer the synchronous
//!    request would have had, status line, headers, `Content-Length` and body. It answers
//!    every `GET` until its time to live ends, then `404`. Mount the service on the monitor
//!    paths too (`/service/$monitor/{id}` beside `/service/$batch`): every request to it
//!    whose path is `<root>$monitor/<id>` is a monitor request.
//! 4. `DELETE` on the monitor cancels: the run is never polled again, so what has not
//!    started never runs, and it is dropped before the `204` goes out, so an open group has
//!    rolled back through [`Atomicity::cancel`] (the disconnect contract). On a finished
//!    batch it removes the answer: `204`, then `404`.
//!
//! Where the preference is not honoured the batch runs synchronously, with no
//! `Preference-Applied`, as the preference is only a request: OData 2.0 and 3.0 (which answer
//! `202` synchronously), streaming mode, the JSON `/batch` dialect, RingCentral, a store with
//! no room ([`MonitorStore::begin`] says no), and an operating system generator that fails.
//! The monitor is a bearer capability: see [`AsyncBatches`] for how it is bound to its
//! submitter (a mismatch answers `404`). A stored answer is bounded by
//! [`AsyncBatches::max_result_bytes`]: an operation whose answer does not fit is answered
//! `500`, saying that it ran and with what status. OData 4.01's partial answers (a final
//! `202` part pointing at the rest) are not written: every answer is whole when it is
//! stored, which keeps the result one document and the monitor's life one state change.
//!
//! The client half is [`Accepted`](crate::batch::Accepted) and
//! [`read_monitor`](crate::batch::read_monitor), and `batchpart batch send --async`.
//!
//! Formats, by [`Dialect`] and the request's Content-Type: OData multipart
//! (`multipart/mixed`) and JSON (`application/json`, feature `json`), answered as the
//! operations run; any [`batch::Dialect`](crate::batch::Dialect) through the trait
//! ([`Dialect::Batch`]: JSON `/batch`, Microsoft Graph, Google, Azure Blob and Table, UCWA,
//! Creatio), read and answered whole; and RingCentral (feature `json`).

mod body;
mod dispatch;
mod encode;
mod monitor;
#[cfg(feature = "json")]
mod ringcentral;

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use body::{BatchBody, OpBody};
pub use monitor::{
    AsyncBatches, Identify, Identity, MemoryStore, Monitor, MonitorId, MonitorStore, Spawn,
};

#[cfg(feature = "json")]
use crate::batch::formats::json::EnvelopeWriter;
use crate::batch::{
    execute_each, Atomicity, BatchError, BatchErrorKind, ExecOptions, Item, MultipartReader,
    NoAtomicity, ODataVersion, Preferences, ReadLimits, RequestOp, ServiceRoot, ValidationOptions,
};
use body::{Incoming, Queue, Whole};
use dispatch::{Dispatch, Shared};
use encode::Encoder;

/// Which batch convention the service speaks.
///
/// ```
/// use batchpart::{batch::dialect, server::{BatchConfig, Dialect}};
/// // A Microsoft Graph `$batch` endpoint over the application's own routes.
/// let cfg = BatchConfig::default().with_dialect(Dialect::Batch(&dialect::Graph));
/// assert_eq!(cfg.dialect, Dialect::Batch(&dialect::Graph));
/// ```
#[derive(Clone, Copy, Default)]
pub enum Dialect {
    /// OData `$batch`: multipart, or JSON by the request's Content-Type, read and answered as
    /// the operations run (with versions, streaming and asynchronous batches).
    #[default]
    OData,
    /// Any [`batch::Dialect`](crate::batch::Dialect) (JSON `/batch`, Graph, Google, Azure
    /// Blob and Table, UCWA, Creatio; [`dialect::ALL`](crate::batch::dialect::ALL)), served
    /// through the trait: the body read whole within `max_batch_bytes` by
    /// [`read_request_with`](crate::batch::Dialect::read_request_with) under the service's
    /// limits, the operations confined to the service root before any runs, and the answer,
    /// bounded by `max_batch_bytes`, written whole by
    /// [`write_response`](crate::batch::Dialect::write_response) with the dialect's
    /// [`response_status`](crate::batch::Dialect::response_status).
    Batch(&'static dyn crate::batch::Dialect),
    /// RingCentral: comma-separated IDs in the path ([`ringcentral`](crate::batch::ringcentral)),
    /// not a body format, so not a [`batch::Dialect`](crate::batch::Dialect).
    #[cfg(feature = "json")]
    RingCentral,
}

impl Dialect {
    fn name(&self) -> &'static str {
        match self {
            Dialect::OData => "odata",
            Dialect::Batch(d) => d.name(),
            #[cfg(feature = "json")]
            Dialect::RingCentral => "ringcentral",
        }
    }
}

impl core::fmt::Debug for Dialect {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Dialect::Batch(d) => f.debug_tuple("Batch").field(&d.name()).finish(),
            _ => f.write_str(match self.name() {
                "odata" => "OData",
                _ => "RingCentral",
            }),
        }
    }
}

/// Dialects are equal when they are the same convention: by name.
impl PartialEq for Dialect {
    fn eq(&self, other: &Self) -> bool {
        core::mem::discriminant(self) == core::mem::discriminant(other)
            && self.name() == other.name()
    }
}

impl Eq for Dialect {}

/// A timer the caller supplies: a future that completes after the duration (tokio's
/// `sleep`, or hyper's `Timer`, boxed).
pub type Sleep = Arc<dyn Fn(Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// How the service reads, runs and answers batches.
#[derive(Clone)]
#[non_exhaustive]
pub struct BatchConfig {
    /// The batch convention. Default: OData.
    pub dialect: Dialect,
    /// The root that operation URLs resolve against, and that they may not leave: a path
    /// (`/service/`), or an absolute URL (`https://api.example.com/service/`), which also fixes
    /// the origin that absolute operation URLs must name (otherwise the batch request's
    /// `Host`). See [`ServiceRoot`] for what is accepted and
    /// refused. Default `None`: the batch request's path up to its last segment
    /// (`/service/$batch` gives `/service/`; RingCentral's `/restapi/message-store/1,2` gives
    /// `/restapi/message-store/`). Set it: a root derived from the request is only as narrow
    /// as the route the service is mounted on.
    pub service_root: Option<String>,
    /// Outer headers that every operation carries, every field of them, and that no
    /// operation can set or replace: an operation's own fields of these names are dropped.
    /// Default: `Authorization`, `Cookie`, `traceparent`.
    pub forward_headers: Vec<http::HeaderName>,
    /// Further header names dropped from every operation. Default: none.
    pub strip_headers: Vec<http::HeaderName>,
    /// How the answers' header names are spelled, the JSON answers' `headers` keys included:
    /// the inner service's answers come as `http` types, which hold names in lower case.
    /// Default [`Title`](crate::batch::http_interop::HeaderCase::Title) (`Content-Type`,
    /// `ETag`, `Content-ID`), as the services peers are written against spell them.
    pub header_case: crate::batch::http_interop::HeaderCase,
    /// Pass an operation's `Forwarded` and `X-Forwarded-*` headers on, for an application
    /// behind a proxy that vouches for them. Default `false`: they are dropped, so that an
    /// operation cannot claim another client address or host.
    pub trust_forwarded: bool,
    /// The readers' limits; `max_body_bytes` also bounds each answer from the inner service.
    /// Default: [`ReadLimits::default`] with `max_operations` 100, the limit the seed APIs
    /// document.
    pub limits: ReadLimits,
    /// The decoder's configuration (multipart).
    pub decoder: crate::Config,
    /// The validation rules. Their OData version is taken from the request's `OData-Version`
    /// (or `DataServiceVersion` for 2.0 and 3.0) when it sends one.
    pub validation: ValidationOptions,
    /// Operations run at once, where allowed (see the module docs). Default 1.
    pub concurrency: usize,
    /// Run operations as they are read instead of validating the whole batch first.
    pub streaming: bool,
    /// The time budget of one batch. Default: none.
    pub time_budget: Option<Duration>,
    /// The timer that enforces [`time_budget`](Self::time_budget) while an operation runs.
    pub sleep: Option<Sleep>,
    /// Asynchronous batches (`Prefer: respond-async`), with the spawner and store they run
    /// on. Default `None`: the preference is ignored, and no `Preference-Applied` says
    /// otherwise. See [Asynchronous batches](self#asynchronous-batches).
    pub respond_async: Option<AsyncBatches>,
}

setters!(BatchConfig {
    with_dialect => dialect: Dialect,
    with_service_root => service_root: Option<String>,
    with_forward_headers => forward_headers: Vec<http::HeaderName>,
    with_strip_headers => strip_headers: Vec<http::HeaderName>,
    with_header_case => header_case: crate::batch::http_interop::HeaderCase,
    with_trust_forwarded => trust_forwarded: bool,
    with_limits => limits: ReadLimits,
    with_decoder => decoder: crate::Config,
    with_validation => validation: ValidationOptions,
    with_concurrency => concurrency: usize,
    with_streaming => streaming: bool,
    with_time_budget => time_budget: Option<Duration>,
    with_sleep => sleep: Option<Sleep>,
    with_respond_async => respond_async: Option<AsyncBatches>,
});

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            dialect: Dialect::default(),
            service_root: None,
            forward_headers: vec![
                http::header::AUTHORIZATION,
                http::header::COOKIE,
                http::HeaderName::from_static("traceparent"),
            ],
            strip_headers: Vec::new(),
            header_case: Default::default(),
            trust_forwarded: false,
            limits: ReadLimits {
                max_operations: 100,
                ..ReadLimits::default()
            },
            decoder: crate::Config::default(),
            validation: ValidationOptions::default(),
            concurrency: 1,
            streaming: false,
            time_budget: None,
            sleep: None,
            respond_async: None,
        }
    }
}

impl core::fmt::Debug for BatchConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BatchConfig")
            .field("dialect", &self.dialect)
            .field("service_root", &self.service_root)
            .field("forward_headers", &self.forward_headers)
            .field("strip_headers", &self.strip_headers)
            .field("trust_forwarded", &self.trust_forwarded)
            .field("header_case", &self.header_case)
            .field("limits", &self.limits)
            .field("concurrency", &self.concurrency)
            .field("streaming", &self.streaming)
            .field("time_budget", &self.time_budget)
            .field("sleep", &self.sleep.is_some())
            .field("respond_async", &self.respond_async)
            .finish()
    }
}

/// Wraps the application's service in a [`BatchService`].
#[derive(Debug, Clone)]
pub struct BatchLayer<A = NoAtomicity> {
    cfg: Arc<BatchConfig>,
    atomicity: A,
}

impl BatchLayer {
    /// A layer with this configuration and no transactions.
    pub fn new(cfg: BatchConfig) -> Self {
        BatchLayer {
            cfg: Arc::new(cfg),
            atomicity: NoAtomicity,
        }
    }
}

impl<A> BatchLayer<A> {
    /// The same layer with this [`Atomicity`] hook.
    pub fn atomicity<B>(self, atomicity: B) -> BatchLayer<B>
    where
        B: Atomicity + Clone + Send + Sync + 'static,
        B::Group: Clone + Send + Sync + 'static,
    {
        BatchLayer {
            cfg: self.cfg,
            atomicity,
        }
    }
}

impl<S, A: Clone> tower_layer::Layer<S> for BatchLayer<A> {
    type Service = BatchService<S, A>;
    fn layer(&self, inner: S) -> BatchService<S, A> {
        BatchService {
            inner,
            cfg: self.cfg.clone(),
            atomicity: self.atomicity.clone(),
        }
    }
}

/// The `$batch` endpoint: answers batch requests by running their operations through `S`.
/// Mount it where batches arrive (`Router::route_service("/service/$batch", ...)`); every
/// request it gets is read as a batch.
#[derive(Debug, Clone)]
pub struct BatchService<S, A = NoAtomicity> {
    inner: S,
    cfg: Arc<BatchConfig>,
    atomicity: A,
}

impl<S, A, B, RB> tower_service::Service<http::Request<B>> for BatchService<S, A>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: core::fmt::Display,
    S: tower_service::Service<http::Request<OpBody>, Response = http::Response<RB>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send,
    S::Error: core::fmt::Display,
    RB: http_body::Body + Send + 'static,
    RB::Data: Send,
    RB::Error: core::fmt::Display,
    A: Atomicity + Clone + Send + Sync + 'static,
    A::Group: Clone + Send + Sync + 'static,
{
    type Response = http::Response<BatchBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Each operation waits for the inner service's readiness on its own clone.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let (inner, cfg, atomicity) =
            (self.inner.clone(), self.cfg.clone(), self.atomicity.clone());
        Box::pin(async move { Ok(handle(inner, cfg, atomicity, req).await) })
    }
}

/// The application's service as the internals need it (the bounds of the public `Service`
/// impl, named once).
pub(crate) trait App:
    tower_service::Service<
        http::Request<OpBody>,
        Response = http::Response<<Self as App>::Answer>,
        Future = <Self as App>::Fut,
        Error = <Self as App>::Err,
    > + Clone
    + Send
    + Sync
    + 'static
{
    type Answer: SendBody;
    type Fut: Future<Output = Result<http::Response<Self::Answer>, Self::Err>> + Send;
    type Err: core::fmt::Display;
}

impl<S, RB> App for S
where
    S: tower_service::Service<http::Request<OpBody>, Response = http::Response<RB>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send,
    S::Error: core::fmt::Display,
    RB: SendBody,
{
    type Answer = RB;
    type Fut = S::Future;
    type Err = S::Error;
}

/// The transaction hook as the internals need it (the bounds of the public `Service` impl,
/// named once).
pub(crate) trait Hook:
    Atomicity<Group = <Self as Hook>::G> + Clone + Send + Sync + 'static
{
    type G: Clone + Send + Sync + 'static;
}

impl<A> Hook for A
where
    A: Atomicity + Clone + Send + Sync + 'static,
    A::Group: Clone + Send + Sync + 'static,
{
    type G = A::Group;
}

/// A body as the internals need it: the batch request's, and each answer's from the
/// application.
pub(crate) trait SendBody:
    http_body::Body<Data = <Self as SendBody>::D, Error = <Self as SendBody>::E> + Send + 'static
{
    type D: bytes::Buf + Send;
    type E: core::fmt::Display;
}

impl<B> SendBody for B
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: core::fmt::Display,
{
    type D = B::Data;
    type E = B::Error;
}

/// An answer the service makes itself: the executor's error object.
pub(crate) use crate::batch::model::exec::error_response as error_op;

/// A whole-batch error: `413` for a limit, `400` otherwise, naming the problem and its byte
/// offset.
fn refuse(e: &BatchError) -> http::Response<BatchBody> {
    let status = match e.kind() {
        BatchErrorKind::BatchTooLarge
        | BatchErrorKind::BodyTooLarge
        | BatchErrorKind::HeaderTooLarge => 413,
        _ => 400,
    };
    let msg = match e.offset() {
        Some(at) => format!("{e} at byte {at}"),
        None => e.to_string(),
    };
    let op = error_op(status, None, &msg);
    respond(status, &op.headers, BatchBody::whole(op.body))
}

fn respond(
    status: u16,
    headers: &crate::batch::Headers,
    body: BatchBody,
) -> http::Response<BatchBody> {
    let mut resp = http::Response::new(body);
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    for (n, v) in headers.iter() {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(n.as_bytes()),
            http::HeaderValue::from_bytes(v),
        ) {
            resp.headers_mut().append(n, v);
        }
    }
    resp
}

/// The service root of one batch request: the configured one or the request's directory, with
/// the request's origin.
fn service_root(
    cfg: &BatchConfig,
    parts: &http::request::Parts,
    host: Option<&http::HeaderValue>,
) -> Result<ServiceRoot, BatchError> {
    let mut root = match &cfg.service_root {
        Some(r) => ServiceRoot::new(r),
        None => {
            let path = parts.uri.path();
            ServiceRoot::new(&path[..path.rfind('/').map_or(0, |i| i + 1)])
        }
    }?;
    if let Some(host) = host.and_then(|v| v.to_str().ok()) {
        let https = parts.uri.scheme().map(|s| *s == http::uri::Scheme::HTTPS);
        root.with_authority(host, https);
    }
    Ok(root)
}

fn header<'a>(parts: &'a http::request::Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

async fn handle<S, A, B>(
    inner: S,
    cfg: Arc<BatchConfig>,
    atomicity: A,
    req: http::Request<B>,
) -> http::Response<BatchBody>
where
    B: SendBody,
    S: App,
    A: Hook,
{
    let (parts, body) = req.into_parts();
    if let Some(batches) = &cfg.respond_async {
        let root = cfg.service_root.as_deref().map(ServiceRoot::new);
        let root = root.and_then(Result::ok);
        if let Some(id) = monitor::monitor_in(parts.uri.path(), root.as_ref().map(|r| r.path())) {
            return monitor::serve(batches, &parts, id).await;
        }
    }
    // The batch request's `Host`, or its URI's authority (HTTP/2): the origin operations may
    // name, and the `Host` every operation carries.
    let host = parts.headers.get(http::header::HOST).cloned().or_else(|| {
        let a = parts.uri.authority()?;
        http::HeaderValue::from_str(a.as_str()).ok()
    });
    let root = match service_root(&cfg, &parts, host.as_ref()) {
        Ok(root) => root,
        // A configured root is the server's own mistake, not the client's.
        Err(e) if cfg.service_root.is_some() => {
            let op = error_op(
                500,
                None,
                &format!("the service root is misconfigured: {e}"),
            );
            return respond(500, &op.headers, BatchBody::whole(op.body));
        }
        // Without one, the root is the batch path's directory: the client's path, and its
        // error (a malformed percent-encoding, say).
        Err(e) => return refuse(&e),
    };
    let shared = Arc::new(Shared {
        cfg: cfg.clone(),
        root,
        batch_path: parts.uri.path().to_string(),
        host,
        extensions: parts.extensions.clone(),
        forwarded: cfg
            .forward_headers
            .iter()
            .flat_map(|n| {
                parts
                    .headers
                    .get_all(n)
                    .iter()
                    .map(move |v| (n.clone(), v.clone()))
            })
            .collect(),
        deadline: cfg.time_budget.map(|b| Instant::now() + b),
        queue: Queue::default(),
    });
    let dispatch = Dispatch {
        inner,
        shared,
        atomicity,
    };
    let prefs = Preferences::parse(
        parts
            .headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let opts = ExecOptions {
        concurrency: cfg.concurrency,
        streaming: cfg.streaming,
        ..ExecOptions::from_preferences(&prefs)
    };
    let body = Incoming(Box::pin(body));
    match cfg.dialect {
        Dialect::OData => odata(dispatch, &cfg, &parts, &prefs, body, opts).await,
        Dialect::Batch(d) => served(dispatch, &cfg, d, &parts, body, opts).await,
        #[cfg(feature = "json")]
        Dialect::RingCentral => ringcentral::serve(dispatch, &cfg, &parts, body).await,
    }
}

/// The items to run: all of them read and validated first, or, streaming, the reader itself.
type Items = Pin<Box<dyn futures_core::Stream<Item = Result<Item<RequestOp>, BatchError>> + Send>>;

async fn gather(mut items: Items, streaming: bool) -> Result<Items, BatchError> {
    if streaming {
        return Ok(items);
    }
    let mut all = Vec::new();
    while let Some(item) = core::future::poll_fn(|cx| items.as_mut().poll_next(cx)).await {
        all.push(Ok(item?));
    }
    Ok(Box::pin(crate::stream::iter(all)))
}

/// The answer's status and headers.
struct Head<'a> {
    status: u16,
    content_type: &'a str,
    extra: Option<(&'static str, &'static str)>,
}

/// Starts the answer: the run goes ahead as the client reads the body. With a `bound`, an
/// answer that would take the body past it is replaced by the `500` that says it ran.
fn answer<S, A>(
    head: Head<'_>,
    items: Items,
    mut dispatch: Dispatch<S, A>,
    opts: ExecOptions,
    enc: Encoder,
    bound: Option<u64>,
) -> http::Response<BatchBody>
where
    S: App,
    A: Hook,
{
    let queue = dispatch.shared.queue.clone();
    let out = queue.clone();
    // Made before the run, so that a run dropped even before its first poll still closes
    // its document.
    let mut output = encode::Output::new(enc, out);
    let run = async move {
        let mut left = bound;
        let hook = dispatch.atomicity.clone();
        let result = execute_each(items, &mut dispatch, &hook, opts, |item| {
            let item = match &mut left {
                Some(left) => encode::within(item, left, bound.unwrap_or(0)),
                None => item,
            };
            output.item(item);
        })
        .await;
        // Only a streaming read can fail here, before any operation ran: the head is out, so
        // the error is the answer's last part.
        if let Err(e) = result {
            output.item(Item::Op(error_op(400, None, &e.to_string())));
        }
        output.finish();
    };
    let mut headers = crate::batch::Headers::new();
    headers.push("Content-Type", head.content_type);
    if let Some((n, v)) = head.extra {
        headers.push(n, v);
    }
    respond(
        head.status,
        &headers,
        BatchBody::streaming(Box::pin(run), queue),
    )
}

async fn odata<S, A, B>(
    dispatch: Dispatch<S, A>,
    cfg: &BatchConfig,
    parts: &http::request::Parts,
    prefs: &Preferences,
    body: Incoming<B>,
    opts: ExecOptions,
) -> http::Response<BatchBody>
where
    B: SendBody,
    S: App,
    A: Hook,
{
    let version = ODataVersion::from_headers(
        header(parts, "odata-version"),
        header(parts, "dataserviceversion"),
    )
    .unwrap_or(cfg.validation.version);
    let version_header = match version {
        ODataVersion::V2_0 => ("DataServiceVersion", "2.0"),
        ODataVersion::V3_0 => ("DataServiceVersion", "3.0"),
        ODataVersion::V4_0 => ("OData-Version", "4.0"),
        ODataVersion::V4_01 => ("OData-Version", "4.01"),
    };
    // Validate-first refuses a URL outside the root before anything runs; streaming answers
    // it as the operation's own 400 when it is dispatched.
    let validation = ValidationOptions {
        version,
        scope: (!cfg.streaming).then(|| dispatch.shared.root.clone()),
        ..cfg.validation.clone()
    };
    let ct = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let is_json = ct
        .get(..16)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"application/json"));
    // A JSON `$id` may name any request it lists in `dependsOn` (validation checks that).
    let opts = ExecOptions {
        refs: if is_json {
            crate::batch::RefScope::Anywhere
        } else {
            opts.refs
        },
        ..opts
    };
    let (items, enc, content_type): (Items, Encoder, String) = if is_json {
        #[cfg(feature = "json")]
        {
            let v = ValidationOptions {
                json: true,
                ..validation
            };
            let r = crate::batch::JsonReader::<_, RequestOp>::new(body)
                .limits(cfg.limits)
                .validate(v);
            (
                Box::pin(r),
                Encoder::Json(EnvelopeWriter::new("responses")),
                "application/json".into(),
            )
        }
        #[cfg(not(feature = "json"))]
        {
            let e = BatchError::new(
                BatchErrorKind::Malformed,
                "JSON batches need the crate's `json` feature",
            );
            return refuse(&e);
        }
    } else {
        let r = match MultipartReader::<_, RequestOp>::new(body, ct) {
            Ok(r) => r,
            Err(e) => return refuse(&e),
        };
        let r = r
            .config(cfg.decoder)
            .limits(cfg.limits)
            .validate(validation);
        let (enc, ct) = Encoder::multipart();
        (Box::pin(r), enc, ct)
    };
    let items = match gather(items, opts.streaming).await {
        Ok(i) => i,
        Err(e) => return refuse(&e),
    };
    let accepted = monitor::accept(cfg, parts, prefs, version);
    let root = dispatch.shared.root.path().to_string();
    let head = Head {
        status: version.batch_status(),
        content_type: &content_type,
        extra: Some(version_header),
    };
    let resp = answer(
        head,
        items,
        dispatch,
        opts,
        enc,
        accepted.as_ref().map(|a| a.bound()),
    );
    match accepted {
        Some(a) => a.submit(resp, &root, version_header),
        None => resp,
    }
}

/// A batch in any [`batch::Dialect`](crate::batch::Dialect), through the trait: read whole,
/// admitted by the service's rules, run, and answered whole (see [`Dialect::Batch`]).
async fn served<S, A, B>(
    mut dispatch: Dispatch<S, A>,
    cfg: &BatchConfig,
    dialect: &'static dyn crate::batch::Dialect,
    parts: &http::request::Parts,
    body: Incoming<B>,
    opts: ExecOptions,
) -> http::Response<BatchBody>
where
    B: SendBody,
    S: App,
    A: Hook,
{
    let bytes = match body::collect(body.0, cfg.limits.max_batch_bytes, Whole::Batch).await {
        Ok(b) => b,
        Err(e) => return refuse(&e),
    };
    let ct = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let (req, asked) = match dialect.read_request_with(bytes, ct, cfg.limits) {
        Ok(r) => r,
        Err(e) => return refuse(&e),
    };
    if let Err(e) = dispatch::admit(&dispatch.shared, cfg.validation.forbid_headers, &req) {
        return refuse(&e);
    }
    let opts = ExecOptions {
        streaming: false,
        concurrency: opts.concurrency,
        ..asked.unwrap_or(opts)
    };
    let boundary = crate::encoder::random_boundary().replacen("batch_", "batchresponse_", 1);
    let (mut left, bound) = (cfg.limits.max_batch_bytes, cfg.limits.max_batch_bytes);
    let mut answer = crate::batch::BatchResponse::default();
    let hook = dispatch.atomicity.clone();
    let items = crate::stream::iter(req.items.into_iter().map(Ok));
    let run = execute_each(items, &mut dispatch, &hook, opts, |item| {
        answer.items.push(encode::within(item, &mut left, bound));
    })
    .await;
    if let Err(e) = run {
        // Only a read error ends a run early, and the batch was read whole before it ran.
        return refuse(&e);
    }
    // Operations have run, so the answer is never a whole-batch error. Written once; only an
    // answer the dialect refuses is looked at again: each operation's answer alone, one that
    // cannot be written becoming the 500 that says it ran; and should the whole still fail,
    // every operation is answered that way.
    let written = dialect.write_response(&answer, &boundary).or_else(|_| {
        let items = answer.items.into_iter();
        let checked = crate::batch::BatchResponse {
            items: items
                .map(|i| encode::writable(dialect, i, &boundary))
                .collect(),
        };
        dialect.write_response(&checked, &boundary).or_else(|e| {
            let why = e.to_string();
            let items = checked.items.into_iter();
            let all = crate::batch::BatchResponse {
                items: items.map(|i| encode::unwritable_item(i, &why)).collect(),
            };
            dialect.write_response(&all, &boundary)
        })
    });
    let mut headers = crate::batch::Headers::new();
    match written {
        Ok((ct, body)) => {
            headers.push("Content-Type", ct);
            respond(dialect.response_status(), &headers, BatchBody::whole(body))
        }
        Err(e) => {
            let msg = format!("the operations ran, but their answer cannot be written: {e}");
            headers.push("Content-Type", "text/plain; charset=utf-8");
            respond(500, &headers, BatchBody::whole(bytes::Bytes::from(msg)))
        }
    }
}
