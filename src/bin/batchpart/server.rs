//! `server`: serves batches over an in-memory store, on axum, through the crate's tower
//! [`BatchService`]: every operation of a batch goes through the same axum routes as a
//! request made on its own.
//!
//! - `POST .../$batch`: OData, multipart or JSON;
//! - `POST .../batch`: the JSON `/batch` dialect;
//! - `GET`, `PUT`, `DELETE` on a path ending in comma-separated IDs
//!   (`.../message-store/1,2`): RingCentral, multipart (`207`) or, when the request's
//!   `Content-Type` or `Accept` is `application/vnd.ringcentral.multipart+json`, JSON;
//! - `GET /delay/{ms}` and, under the service root, `GET /service/delay/{ms}`: answers `200`
//!   after that many milliseconds (at most 60 s), to watch a batch's answers stream;
//!   `POST`, `PATCH` and `DELETE /service/delay/{ms}` wait as long, ignore the body and answer
//!   `204`: a slow write that holds a changeset open;
//! - `POST /delay/release`: with `--hold-delays`, every delay above, once its time is up,
//!   also waits until this request opens the gate (it stays open): a test can then know that
//!   an operation is still running without measuring time. Answers `204`;
//! - `GET` or `POST /service/panic`: the handler panics. The server answers `500` and keeps
//!   the connection, inside a batch and outside;
//! - `/service/echo`, any method: answers `200` with `{"method", "uri", "headers":
//!   [[name, value]...], "body_len"}` for what the handler received (the path and query;
//!   names in lower case, one pair per field, in order; values that are not UTF-8 as Latin-1
//!   text): what an operation delivers.
//!
//! - `GET` and `DELETE .../$monitor/{id}`: the status monitors of asynchronous OData batches.
//!   A `POST .../$batch` with `Prefer: respond-async` (OData 4.0 and 4.01, multipart or JSON)
//!   is answered `202` with the monitor in `Location`, and runs in the background on the
//!   server's runtime, its answer kept in memory (100 batches, 256 MiB, 10 minutes);
//!   `--no-async` turns this off, and the preference is then ignored.
//!
//! Each batch endpoint confines its operations to its service root: OData's is the directory
//! of the batch path (`/service/$batch` gives `/service/`), the JSON `/batch` endpoint's `/`
//! (its paths are absolute), RingCentral's the collection (`/restapi/message-store/1,2` gives
//! `/restapi/message-store/`).
//!
//! ```text
//! batchpart server [ADDR] \
//!     [--header-timeout SECS] [--idle-timeout SECS] [--body-timeout SECS] \
//!     [--write-timeout SECS] [--max-connections N] [--no-async] [--hold-delays]
//! ```
//!
//! ADDR defaults to 127.0.0.1:8080 and may use port 0; the server prints `listening on
//! http://ADDR` once it accepts connections. A connection whose request head has not arrived
//! within `--header-timeout` (default 10 s) is closed, and so is a keep-alive connection idle
//! for `--idle-timeout` (default 60 s). A request body that sends nothing for `--body-timeout`
//! (default 30 s), or an answer whose write moves no byte for `--write-timeout` (default 30 s),
//! closes its connection: both are no-progress deadlines, not minimum rates, so a client that
//! reads one byte every 100 ms keeps its connection. At most `--max-connections` (default
//! 256) are served at once; the rest wait in the listen backlog. When `accept` fails (too many open files, say),
//! the server logs it, backs off up to one second, and goes on.
//!
//! The store holds entity sets by name, at any path (the last segment names the set):
//! `POST /service/People` answers `201` with a `Location` under the same path
//! (`/service/People(1)`) and an `ETag`, `GET /service/People(1)` the entity, `PATCH`/`MERGE`/`PUT` and `DELETE` answer `204`, and
//! an `If-Match` that does not match answers `412`. Changesets are atomic through the
//! [`Atomicity`] hook: each one gets an undo journal that the handlers write to, and rollback
//! replays it, and so does cancellation: a changeset whose client disconnects mid-group is
//! undone too. The store is never copied. (Another batch may see a changeset's writes before
//! it commits: the journal gives atomicity, not isolation.)

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Extension, Path, Request};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use batchpart::batch::Atomicity;
use batchpart::batch::ResponseOp;
use batchpart::server::{AsyncBatches, BatchConfig, BatchLayer, BatchService, Dialect};
use bytes::Bytes;
use tower::{Layer, ServiceExt};

/// One row: JSON text and its version.
type Row = (String, u64);

/// The in-memory store: entity set name to rows by key.
#[derive(Default)]
struct Store {
    sets: BTreeMap<String, BTreeMap<u64, Row>>,
    next: u64,
}

type Shared = Arc<Mutex<Store>>;

/// A row's state before a changeset first wrote it: set, key, and the row, if it existed.
type Before = (String, u64, Option<Row>);

/// A changeset's undo journal.
#[derive(Clone, Default)]
struct Journal(Arc<Mutex<Vec<Before>>>);

/// Changesets through the journal: begin hands one to the handlers, rollback replays it.
#[derive(Clone)]
struct Undo(Shared);

impl Atomicity for Undo {
    type Group = Journal;

    async fn begin(&self, _group: Option<&str>) -> Journal {
        Journal::default()
    }

    async fn commit(&self, _g: Option<&str>, _j: &Journal) -> Result<(), ResponseOp> {
        Ok(())
    }

    async fn rollback(&self, _g: Option<&str>, j: &Journal) {
        self.undo(j);
    }

    /// A changeset cut short (the client went away mid-group) is undone like a failed one.
    fn cancel(&self, _g: Option<&str>, j: &Journal) {
        self.undo(j);
    }
}

impl Undo {
    /// Replays the journal backwards; the store is locked once, so no reader sees half.
    fn undo(&self, j: &Journal) {
        let entries = std::mem::take(&mut *lock(&j.0));
        let mut store = lock(&self.0);
        for (set, key, before) in entries.into_iter().rev() {
            let rows = store.sets.entry(set).or_default();
            match before {
                Some(row) => rows.insert(key, row),
                None => rows.remove(&key),
            };
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `(entity set, key)` of an OData path (`/People(1)`) or a RingCentral one (`.../message-store/7`).
fn split_path(path: &str) -> (String, Option<u64>) {
    let mut segs = path.trim_start_matches('/').rsplit('/');
    let seg = segs.next().unwrap_or("");
    match seg.split_once('(') {
        Some((set, key)) => (
            set.to_string(),
            key.trim_end_matches(')').trim_matches('\'').parse().ok(),
        ),
        None => match (seg.parse::<u64>(), segs.next()) {
            (Ok(id), Some(set)) => (set.to_string(), Some(id)),
            _ => (seg.to_string(), None),
        },
    }
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [("Content-Type", "application/json")], body).into_response()
}

fn odata_error(status: StatusCode, message: &str) -> Response {
    let body =
        serde_json::json!({"error": {"code": status.as_u16().to_string(), "message": message}});
    json(status, body.to_string())
}

/// Every entity route of the store.
async fn entity(
    Extension(store): Extension<Shared>,
    journal: Option<Extension<Journal>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (set, key) = split_path(uri.path());
    let mut store = lock(&store);
    let record = |set: &str, key: u64, before: Option<Row>| {
        if let Some(Extension(j)) = &journal {
            let mut j = lock(&j.0);
            // The state before the changeset's first write is the one to restore.
            if !j.iter().any(|(s, k, _)| s == set && *k == key) {
                j.push((set.to_string(), key, before));
            }
        }
    };
    let method = method.as_str().to_ascii_uppercase();
    match (method.as_str(), key) {
        ("POST", None) => {
            store.next += 1;
            let id = store.next;
            let text = String::from_utf8_lossy(&body).into_owned();
            record(&set, id, None);
            store
                .sets
                .entry(set.clone())
                .or_default()
                .insert(id, (text.clone(), 1));
            (
                StatusCode::CREATED,
                [
                    ("Content-Type", "application/json".to_string()),
                    // Under the path it was posted to, so that `$1` stays in the root.
                    (
                        "Location",
                        format!("{}({id})", uri.path().trim_end_matches('/')),
                    ),
                    ("ETag", "W/\"1\"".to_string()),
                ],
                text,
            )
                .into_response()
        }
        ("GET", None) => {
            let value: Vec<serde_json::Value> = store
                .sets
                .get(&set)
                .map(|s| s.values().map(|(b, _)| b.clone()).collect::<Vec<_>>())
                .unwrap_or_default()
                .iter()
                // Stored bodies are JSON text; one that is not is listed as a string.
                .map(|r| serde_json::from_str(r).unwrap_or_else(|_| r.clone().into()))
                .collect();
            json(
                StatusCode::OK,
                serde_json::json!({ "value": value }).to_string(),
            )
        }
        (m, Some(id)) => {
            let Some((text, version)) = store.sets.get(&set).and_then(|s| s.get(&id)).cloned()
            else {
                return odata_error(StatusCode::NOT_FOUND, "not found");
            };
            let etag = format!("W/\"{version}\"");
            let if_match = headers.get("if-match").and_then(|v| v.to_str().ok());
            if if_match.is_some_and(|m| m != "*" && m != etag) {
                return odata_error(StatusCode::PRECONDITION_FAILED, "etag mismatch");
            }
            match m {
                "GET" => (
                    StatusCode::OK,
                    [
                        ("Content-Type", "application/json"),
                        ("ETag", etag.as_str()),
                    ],
                    text,
                )
                    .into_response(),
                "PATCH" | "MERGE" | "PUT" => {
                    record(&set, id, Some((text, version)));
                    let new = (String::from_utf8_lossy(&body).into_owned(), version + 1);
                    store.sets.entry(set).or_default().insert(id, new);
                    let etag = format!("W/\"{}\"", version + 1);
                    (StatusCode::NO_CONTENT, [("ETag", etag)]).into_response()
                }
                "DELETE" => {
                    record(&set, id, Some((text, version)));
                    store.sets.entry(set).or_default().remove(&id);
                    StatusCode::NO_CONTENT.into_response()
                }
                _ => odata_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
            }
        }
        _ => odata_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
    }
}

/// The gate that `--hold-delays` closes and `POST /delay/release` opens.
#[derive(Clone)]
struct Gate(Arc<tokio::sync::watch::Sender<bool>>);

impl Gate {
    fn new(open: bool) -> Self {
        Gate(Arc::new(tokio::sync::watch::channel(open).0))
    }

    async fn wait(ms: u64, gate: &Gate) {
        tokio::time::sleep(Duration::from_millis(ms.min(60_000))).await;
        // The sender lives as long as the router: the wait ends only when the gate opens.
        let _ = gate.0.subscribe().wait_for(|open| *open).await;
    }
}

async fn delay(Path(ms): Path<u64>, Extension(gate): Extension<Gate>) -> String {
    Gate::wait(ms, &gate).await;
    format!("{{\"delayed_ms\":{}}}", ms.min(60_000))
}

/// A slow write: waits, ignores the body, answers `204`.
async fn delay_write(Path(ms): Path<u64>, Extension(gate): Extension<Gate>) -> StatusCode {
    Gate::wait(ms, &gate).await;
    StatusCode::NO_CONTENT
}

async fn release(Extension(gate): Extension<Gate>) -> StatusCode {
    gate.0.send_replace(true);
    StatusCode::NO_CONTENT
}

async fn panic_route() -> StatusCode {
    panic!("the /service/panic route panics, as asked")
}

/// What the handler received: method, path and query, every header field in order (names in
/// lower case, values that are not UTF-8 as Latin-1 text), and the body's length.
async fn echo(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let headers: Vec<(&str, String)> = headers
        .iter()
        .map(|(n, v)| {
            let text = match v.to_str() {
                Ok(t) => t.to_string(),
                Err(_) => v.as_bytes().iter().map(|&b| char::from(b)).collect(),
            };
            (n.as_str(), text)
        })
        .collect();
    let uri = uri.path_and_query().map_or("/", |p| p.as_str());
    let body = serde_json::json!({
        "method": method.as_str(),
        "uri": uri,
        "headers": headers,
        "body_len": body.len(),
    });
    json(StatusCode::OK, body.to_string())
}

/// The application's own routes, which every batch operation goes through.
fn app(store: Shared, gate: Gate) -> Router {
    use axum::routing::any;
    let slow = get(delay)
        .post(delay_write)
        .patch(delay_write)
        .delete(delay_write);
    Router::new()
        .route("/delay/{ms}", get(delay))
        .route("/delay/release", axum::routing::post(release))
        .route("/service/delay/{ms}", slow)
        .route("/service/panic", get(panic_route).post(panic_route))
        .route("/service/echo", any(echo))
        .fallback(entity)
        .layer(Extension(store))
        .layer(Extension(gate))
}

/// The three batch endpoints, each a [`BatchService`] over the same routes.
#[derive(Clone)]
struct Endpoints {
    odata: BatchService<Router, Undo>,
    json_batch: BatchService<Router, Undo>,
    ringcentral: BatchService<Router, Undo>,
    app: Router,
}

impl Endpoints {
    fn new(store: Shared, o: &Options) -> Self {
        let app = app(store.clone(), Gate::new(!o.hold_delays));
        let undo = Undo(store);
        let batches = AsyncBatches::new(Arc::new(|run| drop(tokio::spawn(run))));
        let with = |dialect, root: Option<&str>| {
            let cfg = BatchConfig::default()
                .with_dialect(dialect)
                .with_service_root(root.map(str::to_string))
                .with_sleep(Some(Arc::new(|d| Box::pin(tokio::time::sleep(d)))))
                .with_respond_async(o.respond_async.then(|| batches.clone()));
            BatchLayer::new(cfg)
                .atomicity(undo.clone())
                .layer(app.clone())
        };
        Endpoints {
            odata: with(Dialect::OData, None),
            json_batch: with(
                Dialect::Batch(&batchpart::batch::dialect::JsonBatch),
                Some("/"),
            ),
            ringcentral: with(Dialect::RingCentral, None),
            app,
        }
    }

    async fn route(self, req: Request) -> Result<Response, Infallible> {
        let path = req.uri().path();
        let last = path.rsplit('/').next().unwrap_or("");
        let post = req.method() == Method::POST;
        let monitor = path.rsplit('/').nth(1) == Some("$monitor");
        let resp = if (post && path.ends_with("/$batch")) || monitor {
            self.odata.oneshot(req).await?.map(Body::new)
        } else if post && (path == "/batch" || path.ends_with("/batch")) {
            self.json_batch.oneshot(req).await?.map(Body::new)
        } else if last.contains(',') || last == "*" {
            self.ringcentral.oneshot(req).await?.map(Body::new)
        } else {
            self.app.oneshot(req).await?
        };
        Ok(resp)
    }
}

struct Options {
    addr: String,
    header_timeout: Duration,
    idle_timeout: Duration,
    body_timeout: Duration,
    write_timeout: Duration,
    max_connections: usize,
    respond_async: bool,
    hold_delays: bool,
}

fn options(args: Vec<String>) -> Result<Options, String> {
    let mut o = Options {
        addr: "127.0.0.1:8080".into(),
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        body_timeout: Duration::from_secs(30),
        write_timeout: Duration::from_secs(30),
        max_connections: 256,
        respond_async: true,
        hold_delays: false,
    };
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        let mut number = |name: &str| {
            args.next()
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|&n| n > 0)
                .ok_or(format!("{name} takes a positive number"))
        };
        match a.as_str() {
            "--header-timeout" => o.header_timeout = Duration::from_secs(number(&a)?),
            "--idle-timeout" => o.idle_timeout = Duration::from_secs(number(&a)?),
            "--body-timeout" => o.body_timeout = Duration::from_secs(number(&a)?),
            "--write-timeout" => o.write_timeout = Duration::from_secs(number(&a)?),
            "--max-connections" => o.max_connections = number(&a)? as usize,
            "--no-async" => o.respond_async = false,
            "--hold-delays" => o.hold_delays = true,
            _ if !a.starts_with("--") => o.addr = a,
            _ => return Err(format!("unknown option {a}")),
        }
    }
    Ok(o)
}

/// When the connection last did anything, whether a request is being answered, and since
/// when a request body or a write has waited without progress.
#[derive(Default)]
struct Activity {
    last: Mutex<Option<Instant>>,
    in_flight: AtomicUsize,
    body_waiting: Mutex<Option<Instant>>,
    write_waiting: Mutex<Option<Instant>>,
}

/// Notes the start of a wait (kept while it lasts) or its end.
fn waiting(slot: &Mutex<Option<Instant>>, pending: bool) {
    let mut s = lock(slot);
    match (pending, s.is_some()) {
        (true, false) => *s = Some(Instant::now()),
        (false, _) => *s = None,
        (true, true) => {}
    }
}

impl Activity {
    fn touch(&self) {
        *lock(&self.last) = Some(Instant::now());
    }

    /// Resolves once a request body has sent nothing for `body`, or a write has moved no
    /// byte for `write`: no-progress deadlines, so a slow but steady peer keeps its slot.
    async fn stalled(&self, body: Duration, write: Duration) {
        let tick = body.min(write).div_f32(4.0).max(Duration::from_millis(50));
        loop {
            let over = |slot: &Mutex<Option<Instant>>, limit: Duration| {
                lock(slot).is_some_and(|t| t.elapsed() >= limit)
            };
            if over(&self.body_waiting, body) || over(&self.write_waiting, write) {
                return;
            }
            tokio::time::sleep(tick).await;
        }
    }

    /// Resolves once the connection has been idle, with no request in flight, for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let since = lock(&self.last).map_or(Duration::ZERO, |t| t.elapsed());
            if self.in_flight.load(Ordering::SeqCst) == 0 && since >= limit {
                return;
            }
            tokio::time::sleep(limit.saturating_sub(since).max(Duration::from_millis(100))).await;
        }
    }
}

/// A request body that tells the connection's [`Activity`] while it waits for bytes.
struct WatchedBody {
    inner: hyper::body::Incoming,
    activity: Arc<Activity>,
}

impl http_body::Body for WatchedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, hyper::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        waiting(&self.activity.body_waiting, polled.is_pending());
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for WatchedBody {
    fn drop(&mut self) {
        // A body dropped while it waited is no longer waited for.
        waiting(&self.activity.body_waiting, false);
    }
}

/// The connection's socket, telling its [`Activity`] while a write moves no byte.
struct WatchedIo {
    tcp: tokio::net::TcpStream,
    activity: Arc<Activity>,
}

impl tokio::io::AsyncRead for WatchedIo {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for WatchedIo {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let polled = std::pin::Pin::new(&mut self.tcp).poll_write(cx, buf);
        waiting(&self.activity.write_waiting, polled.is_pending());
        polled
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// Runs a future, answering `500` where it panics, so that a panicking handler costs its
/// request and not the connection. `AssertUnwindSafe` is sound: the future is dropped right
/// after its panic, and what it shares with others (the store) is behind mutexes, which
/// `lock` takes back from poisoning with the row data whole.
async fn catching<F>(fut: F) -> Response
where
    F: std::future::Future<Output = Response>,
{
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(p) => p,
            Err(_) => std::task::Poll::Ready(odata_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the handler panicked",
            )),
        }
    })
    .await
}

async fn serve(listener: tokio::net::TcpListener, o: Options) {
    let endpoints = Endpoints::new(Shared::default(), &o);
    let slots = Arc::new(tokio::sync::Semaphore::new(o.max_connections));
    let mut backoff = Duration::from_millis(5);
    loop {
        // At the cap, stop accepting: new connections wait in the backlog.
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => {
                backoff = Duration::from_millis(5);
                tcp
            }
            Err(e) => {
                // EMFILE, ENFILE, ECONNABORTED...: the listener is fine; wait and go on.
                eprintln!("accept failed: {e}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let endpoints = endpoints.clone();
        let (header_timeout, idle_timeout) = (o.header_timeout, o.idle_timeout);
        let (body_timeout, write_timeout) = (o.body_timeout, o.write_timeout);
        tokio::spawn(async move {
            let _permit = permit;
            let activity = Arc::new(Activity::default());
            activity.touch();
            let seen = activity.clone();
            let svc =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (endpoints, seen) = (endpoints.clone(), seen.clone());
                    seen.in_flight.fetch_add(1, Ordering::SeqCst);
                    async move {
                        let activity = seen.clone();
                        let req = req.map(|inner| Body::new(WatchedBody { inner, activity }));
                        let resp = catching(async {
                            match endpoints.route(req).await {
                                Ok(r) => r,
                                Err(never) => match never {},
                            }
                        })
                        .await;
                        seen.in_flight.fetch_sub(1, Ordering::SeqCst);
                        seen.touch();
                        Ok::<_, Infallible>(resp)
                    }
                });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(
                    hyper_util::rt::TokioIo::new(WatchedIo {
                        tcp,
                        activity: activity.clone(),
                    }),
                    svc,
                );
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = activity.idle_for(idle_timeout) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
                // A peer that stopped sending its body or reading its answer: the slot is
                // worth more than the request.
                _ = activity.stalled(body_timeout, write_timeout) => {}
            }
        });
    }
}

/// `batchpart server ARGS`.
pub fn main(args: Vec<String>) -> std::process::ExitCode {
    let o = match options(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!(
                "usage: batchpart server [ADDR] [--header-timeout SECS] [--idle-timeout SECS] \
                 [--body-timeout SECS] [--write-timeout SECS] [--max-connections N] \
                 [--no-async] [--hold-delays]"
            );
            return std::process::ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(&o.addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: {}: {e}", o.addr);
                return std::process::ExitCode::FAILURE;
            }
        };
        match listener.local_addr() {
            Ok(a) => println!("listening on http://{a}"),
            Err(e) => {
                eprintln!("error: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
        serve(listener, o).await;
        std::process::ExitCode::SUCCESS
    })
}
