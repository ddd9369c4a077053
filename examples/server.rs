//! `server`: serves batches over an in-memory store, through the batch module's readers,
//! executor and writers, on hyper:
//!
//! - `POST .../$batch`: OData, multipart or JSON;
//! - `POST /batch`: the JSON `/batch` dialect;
//! - `GET`, `PUT`, `DELETE` on a path ending in comma-separated IDs
//!   (`.../message-store/1,2`): RingCentral, multipart (`207`) or, when the request's
//!   `Content-Type` or `Accept` is `application/vnd.ringcentral.multipart+json`, JSON.
//!
//! ```text
//! cargo run --features batch,json,http --example server -- [ADDR]   # default 127.0.0.1:8080
//! ```
//!
//! It prints `listening on http://ADDR` once it accepts connections (ADDR may use port 0).
//! The store holds entity sets by name: `POST /People` answers `201` with a `Location` and an
//! `ETag`, `GET /People(1)` the entity, `PATCH`/`MERGE`/`PUT` and `DELETE` answer `204`, and
//! an `If-Match` that does not match answers `412`. Each operation goes through
//! `http::Request`, as a server would hand it to its own router.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use batchpart::batch::{
    execute, json_batch, ringcentral, write_json, write_multipart, BatchError, ExecOptions,
    JsonReader, MultipartReader, Preferences, RefScope, RequestOp, ResponseOp, Service,
    ValidationOptions,
};
use bytes::{Buf, Bytes};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Incoming};
use hyper::{Request, Response};

/// The in-memory store: entity set name to rows (key, JSON text, version).
#[derive(Default)]
struct Store {
    sets: BTreeMap<String, BTreeMap<u64, (String, u64)>>,
    next: u64,
}

/// The store's service. Changesets work on a copy that commit keeps and rollback drops.
struct Db {
    store: Rc<RefCell<Store>>,
    saved: Option<Store>,
}

fn split_url(url: &str) -> (String, Option<u64>) {
    let path = url.split('?').next().unwrap_or("");
    let path = path.rsplit("://").next().unwrap_or(path);
    let path = if url.contains("://") {
        path.split_once('/').map_or("", |(_, p)| p)
    } else {
        path
    };
    let mut segs = path.trim_start_matches('/').rsplit('/');
    let seg = segs.next().unwrap_or("");
    match seg.split_once('(') {
        Some((set, key)) => (
            set.to_string(),
            key.trim_end_matches(')').trim_matches('\'').parse().ok(),
        ),
        // RingCentral style: `.../message-store/7`.
        None => match (seg.parse::<u64>(), segs.next()) {
            (Ok(id), Some(set)) => (set.to_string(), Some(id)),
            _ => (seg.to_string(), None),
        },
    }
}

fn json(status: u16, body: String) -> ResponseOp {
    ResponseOp::new(status)
        .with_header("Content-Type", "application/json")
        .with_body(body)
}

/// An OData error response.
fn odata_error(status: u16, message: &str) -> ResponseOp {
    let body = serde_json::json!({"error": {"code": status.to_string(), "message": message}});
    json(status, body.to_string())
}

impl Db {
    fn handle(&self, req: http::Request<Bytes>) -> ResponseOp {
        let (set, key) = split_url(&req.uri().to_string());
        let if_match = req
            .headers()
            .get("if-match")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut store = self.store.borrow_mut();
        let method = req.method().as_str().to_ascii_uppercase();
        match (method.as_str(), key) {
            ("POST", None) => {
                store.next += 1;
                let id = store.next;
                let body = String::from_utf8_lossy(req.body()).into_owned();
                store
                    .sets
                    .entry(set.clone())
                    .or_default()
                    .insert(id, (body.clone(), 1));
                json(201, body)
                    .with_header("Location", format!("/{set}({id})"))
                    .with_header("ETag", "W/\"1\"")
            }
            ("GET", None) => {
                let rows: Vec<String> = store
                    .sets
                    .get(&set)
                    .map(|s| s.values().map(|(b, _)| b.clone()).collect())
                    .unwrap_or_default();
                // Stored bodies are JSON text; one that is not is listed as a string.
                let value: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|r| serde_json::from_str(r).unwrap_or_else(|_| r.clone().into()))
                    .collect();
                json(200, serde_json::json!({ "value": value }).to_string())
            }
            (m, Some(id)) => {
                let Some((body, version)) = store.sets.get(&set).and_then(|s| s.get(&id)).cloned()
                else {
                    return odata_error(404, "not found");
                };
                let etag = format!("W/\"{version}\"");
                if if_match.as_ref().is_some_and(|m| m != "*" && *m != etag) {
                    return odata_error(412, "etag mismatch");
                }
                let rows = store.sets.entry(set).or_default();
                match m {
                    "GET" => json(200, body).with_header("ETag", etag),
                    "PATCH" | "MERGE" | "PUT" => {
                        rows.insert(
                            id,
                            (
                                String::from_utf8_lossy(req.body()).into_owned(),
                                version + 1,
                            ),
                        );
                        ResponseOp::new(204).with_header("ETag", format!("W/\"{}\"", version + 1))
                    }
                    "DELETE" => {
                        rows.remove(&id);
                        ResponseOp::new(204)
                    }
                    _ => odata_error(405, "method not allowed"),
                }
            }
            _ => odata_error(405, "method not allowed"),
        }
    }
}

impl Service for Db {
    async fn call(&mut self, op: RequestOp) -> ResponseOp {
        match http::Request::<Bytes>::try_from(&op) {
            Ok(req) => self.handle(req),
            Err(e) => json(
                400,
                format!(
                    "{{\"error\":{{\"code\":\"400\",\"message\":{:?}}}}}",
                    e.to_string()
                ),
            ),
        }
    }

    async fn begin(&mut self, _changeset: Option<&str>) {
        let copy = {
            let s = self.store.borrow();
            Store {
                sets: s.sets.clone(),
                next: s.next,
            }
        };
        self.saved = Some(copy);
    }

    async fn commit(&mut self, _changeset: Option<&str>) -> Result<(), ResponseOp> {
        self.saved = None;
        Ok(())
    }

    async fn rollback(&mut self, _changeset: Option<&str>) {
        if let Some(s) = self.saved.take() {
            *self.store.borrow_mut() = s;
        }
    }
}

/// A hyper body as a stream of `Bytes` (trailers are ignored).
struct Frames(Incoming);

impl futures_core::Stream for Frames {
    type Item = Result<Bytes, hyper::Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            return match Pin::new(&mut self.0).poll_frame(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(f))) => match f.into_data() {
                    Ok(d) => Poll::Ready(Some(Ok(d))),
                    Err(_) => continue,
                },
            };
        }
    }
}

fn reply(status: u16, content_type: &str, body: Bytes) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("Content-Type", content_type)
        .header("OData-Version", "4.01")
        .body(Full::new(body))
        .expect("valid response")
}

fn error(status: u16, e: &BatchError) -> Response<Full<Bytes>> {
    let body = serde_json::json!({"error": {"code": status.to_string(), "message": e.to_string()}});
    reply(status, "application/json", Bytes::from(body.to_string()))
}

async fn route(
    req: Request<Incoming>,
    store: Rc<RefCell<Store>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let last = path.rsplit('/').next().unwrap_or("");
    if req.method() == hyper::Method::POST && path.ends_with("/$batch") {
        return batch(req, store).await;
    }
    if req.method() == hyper::Method::POST && (path == "/batch" || path.ends_with("/batch")) {
        return Ok(api_batch(req, store).await);
    }
    if last.contains(',') || last == "*" {
        return Ok(ringcentral_batch(req, store).await);
    }
    Ok(reply(
        404,
        "text/plain",
        Bytes::from_static(b"POST /$batch, POST /batch, or a RingCentral batch path\n"),
    ))
}

async fn body_bytes(req: Request<Incoming>) -> (http::request::Parts, Bytes) {
    let (parts, body) = req.into_parts();
    (
        parts,
        body.collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default(),
    )
}

/// The JSON `/batch` dialect, on the same store and executor.
async fn api_batch(req: Request<Incoming>, store: Rc<RefCell<Store>>) -> Response<Full<Bytes>> {
    let (_, body) = body_bytes(req).await;
    let parsed = match json_batch::read_request(&body) {
        Ok(r) => r,
        Err(e) => return error(400, &e),
    };
    let mut db = Db { store, saved: None };
    let items = batchpart::stream::iter(parsed.batch.items.clone().into_iter().map(Ok));
    match execute(items, &mut db, parsed.exec_options())
        .await
        .and_then(|r| json_batch::write_response(&r))
    {
        Ok(text) => reply(200, "application/json", Bytes::from(text)),
        Err(e) => error(400, &e),
    }
}

/// RingCentral batches: one operation per ID, all run whatever fails, answered 207 (or 204 for
/// a DELETE that succeeded everywhere).
async fn ringcentral_batch(
    req: Request<Incoming>,
    store: Rc<RefCell<Store>>,
) -> Response<Full<Bytes>> {
    let (parts, body) = body_bytes(req).await;
    let path = parts.uri.path().to_string();
    let header = |n: &str| {
        parts
            .headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let json_form = header("content-type").starts_with(ringcentral::MULTIPART_JSON)
        || header("accept").starts_with(ringcentral::MULTIPART_JSON);
    let method = parts.method.as_str().to_string();
    let Some(ids) = ringcentral::split_ids(&path) else {
        return reply(404, "text/plain", Bytes::new());
    };
    let items = match (method.as_str(), json_form) {
        ("PUT", true) => ringcentral::read_json_request(&body, &path),
        ("PUT", false) => {
            // Boundaries are case-sensitive: parse the header as sent.
            let ct = parts
                .headers
                .get("content-type")
                .map(|v| v.as_bytes())
                .unwrap_or_default();
            ringcentral::read_put(body, ct, &path)
        }
        _ => Ok(ids
            .ids
            .iter()
            .map(|id| (id.clone(), Bytes::new()))
            .collect()),
    };
    let items = match items {
        Ok(i) => i,
        Err(e) => return error(400, &e),
    };
    let batch = ringcentral::to_batch(&method, &ids.base, &items);
    let mut db = Db { store, saved: None };
    let opts = ExecOptions {
        continue_on_error: true,
        ..Default::default()
    };
    let response = match execute(
        batchpart::stream::iter(batch.items.into_iter().map(Ok)),
        &mut db,
        opts,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return error(400, &e),
    };
    let results = ringcentral::from_batch(&response);
    let status = ringcentral::batch_status(&method, &results);
    if status == 204 {
        return reply(204, "application/json", Bytes::new());
    }
    if json_form {
        return match ringcentral::write_json_response(&results) {
            Ok(text) => reply(status, ringcentral::MULTIPART_JSON, Bytes::from(text)),
            Err(e) => error(500, &e),
        };
    }
    match ringcentral::write_multipart_response(
        &method,
        &results,
        batchpart::encoder::random_boundary().as_bytes(),
    ) {
        Ok((status, ct, body)) => reply(status, &ct, body.into_bytes()),
        Err(e) => error(500, &e),
    }
}

async fn batch(
    req: Request<Incoming>,
    store: Rc<RefCell<Store>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let ct = req
        .headers()
        .get("content-type")
        .map(|v| v.as_bytes().to_vec())
        .unwrap_or_default();
    let prefs = Preferences::parse(
        req.headers()
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let mut db = Db { store, saved: None };
    let body = Frames(req.into_body());
    let is_json = String::from_utf8_lossy(&ct)
        .to_ascii_lowercase()
        .starts_with("application/json");
    let opts = ExecOptions::from_preferences(&prefs);
    if is_json {
        let items = JsonReader::<_, RequestOp>::new(body).validate(ValidationOptions::default());
        let result = execute(
            items,
            &mut db,
            ExecOptions {
                refs: RefScope::Anywhere,
                ..opts
            },
        )
        .await;
        return Ok(match result.and_then(|r| write_json(&r)) {
            Ok(text) => reply(200, "application/json", Bytes::from(text)),
            Err(e) => error(400, &e),
        });
    }
    let items = match MultipartReader::<_, RequestOp>::new(body, &ct) {
        Ok(r) => r.validate(ValidationOptions::default()),
        Err(e) => return Ok(error(400, &e)),
    };
    let result = execute(items, &mut db, opts).await;
    Ok(
        match result.and_then(|r| {
            write_multipart(
                &r,
                batchpart::encoder::random_boundary()
                    .replacen("batch_", "batchresponse_", 1)
                    .as_bytes(),
            )
        }) {
            Ok((content_type, mut encoded)) => reply(
                200,
                &content_type,
                encoded.copy_to_bytes(encoded.remaining()),
            ),
            Err(e) => error(400, &e),
        },
    )
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // The store and the executor's futures stay on one thread: a LocalSet serves them.
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!("listening on http://{}", listener.local_addr()?);
        let store = Rc::new(RefCell::new(Store::default()));
        loop {
            let (tcp, _) = listener.accept().await?;
            let store = store.clone();
            tokio::task::spawn_local(async move {
                let svc = hyper::service::service_fn(move |req| route(req, store.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                    .await;
            });
        }
    })
}
