//! The tower `$batch` service over an axum `Router`: operations go through the application's
//! own routes and extractors, the answer streams, and every limit holds.
#![cfg(all(feature = "tower", feature = "json"))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Extension, FromRequestParts, Path};
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::Router;
use batchpart::batch::Atomicity;
use batchpart::batch::{read_json, read_multipart, BatchResponse, Item, ResponseOp};
use batchpart::server::{BatchConfig, BatchLayer, BatchService, Dialect, OpBody};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tower::{Layer, ServiceExt};

/// The outer request's identity, put in its extensions by the application's auth layer.
#[derive(Clone, Debug)]
struct Identity(String);

/// An extractor that reads the bearer token, as an auth extractor does.
struct Bearer(String);

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = (axum::http::StatusCode, &'static str);
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| Bearer(t.to_string()))
            .ok_or((axum::http::StatusCode::UNAUTHORIZED, "no token"))
    }
}

#[derive(Default)]
struct Counters {
    started: AtomicUsize,
    finished: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

fn app(c: Arc<Counters>) -> Router {
    let delay = {
        let c = c.clone();
        move |Path(ms): Path<u64>| {
            let c = c.clone();
            async move {
                c.started.fetch_add(1, Ordering::SeqCst);
                let now = c.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                c.max_in_flight.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                c.in_flight.fetch_sub(1, Ordering::SeqCst);
                c.finished.fetch_add(1, Ordering::SeqCst);
                format!("slept {ms}")
            }
        }
    };
    let quick = {
        let c = c.clone();
        move || {
            let c = c.clone();
            async move {
                c.started.fetch_add(1, Ordering::SeqCst);
                c.finished.fetch_add(1, Ordering::SeqCst);
                "quick"
            }
        }
    };
    Router::new()
        .route("/service/delay/{ms}", get(delay))
        .route("/service/quick", get(quick))
        .route(
            "/service/whoami",
            get(
                |Bearer(t): Bearer, Extension(id): Extension<Identity>| async move {
                    format!("{} {t}", id.0)
                },
            ),
        )
        .route(
            "/service/People",
            post(|body: Bytes| async move {
                (
                    axum::http::StatusCode::CREATED,
                    [("Location", "/service/People(7)")],
                    body,
                )
            }),
        )
        .route(
            "/service/People/{id}",
            get(|Path(id): Path<String>| async move { format!("person {id}") }),
        )
        .route(
            "/service/fail",
            post(|| async { (axum::http::StatusCode::CONFLICT, "no") }),
        )
}

fn multipart(ops: &[&str]) -> String {
    let mut s = String::new();
    for (i, op) in ops.iter().enumerate() {
        s.push_str(&format!(
            "--b\r\nContent-Type: application/http\r\nContent-ID: {}\r\n\r\n{op}\r\n",
            i + 1
        ));
    }
    s.push_str("--b--\r\n");
    s
}

fn request(body: String) -> http::Request<Full<Bytes>> {
    // Every HTTP/1.1 request names its Host: the origin absolute operation URLs must name.
    http::Request::post("/service/$batch")
        .header("Host", "example.com")
        .header("Content-Type", "multipart/mixed; boundary=b")
        .header("Authorization", "Bearer t0ken")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

async fn send<A>(
    svc: BatchService<Router, A>,
    req: http::Request<Full<Bytes>>,
) -> (u16, String, Bytes)
where
    A: Atomicity + Clone + Send + Sync + 'static,
    A::Group: Clone + Send + Sync + 'static,
{
    let resp = svc.oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, ct, body)
}

fn parsed(ct: &str, body: Bytes) -> BatchResponse {
    if ct.starts_with("application/json") {
        read_json(body, None).unwrap()
    } else {
        read_multipart(body, ct.as_bytes(), None).unwrap()
    }
}

fn bodies(r: &BatchResponse) -> Vec<&[u8]> {
    r.items
        .iter()
        .flat_map(|i| i.ops())
        .map(|o| &o.body[..])
        .collect()
}

fn statuses(r: &BatchResponse) -> Vec<u16> {
    r.items
        .iter()
        .flat_map(|i| i.ops())
        .map(|o| o.status)
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn operations_go_through_the_router_with_the_outer_identity() {
    let c = Arc::new(Counters::default());
    let svc = BatchLayer::new(BatchConfig::default()).layer(app(c));
    let mut req = request(multipart(&[
        "GET whoami HTTP/1.1\r\n",
        "GET /service/People/3 HTTP/1.1\r\n",
        "GET https://example.com/service/quick HTTP/1.1\r\n",
    ]));
    req.extensions_mut().insert(Identity("alice".into()));
    let (status, ct, body) = send(svc, req).await;
    assert_eq!(status, 200);
    let r = parsed(&ct, body);
    let bodies = bodies(&r);
    assert_eq!(bodies, [&b"alice t0ken"[..], b"person 3", b"quick"]);
    // Content-IDs echoed byte for byte.
    let ids: Vec<_> = r
        .items
        .iter()
        .flat_map(|i| i.ops())
        .map(|o| o.content_id.clone().unwrap())
        .collect();
    assert_eq!(ids, ["1", "2", "3"]);
}

#[tokio::test(flavor = "current_thread")]
async fn the_first_answer_goes_out_before_the_slow_one_finishes() {
    let c = Arc::new(Counters::default());
    let svc = BatchLayer::new(BatchConfig::default()).layer(app(c.clone()));
    let req = request(multipart(&[
        "GET quick HTTP/1.1\r\n",
        "GET delay/300 HTTP/1.1\r\n",
    ]));
    let resp = svc.oneshot(req).await.unwrap();
    let mut body = resp.into_body();
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("quick") {
        let frame = body.frame().await.unwrap().unwrap();
        seen.extend_from_slice(&frame.into_data().unwrap());
    }
    assert_eq!(
        c.finished.load(Ordering::SeqCst),
        1,
        "the delayed operation has not finished"
    );
    let rest = body.collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&rest).contains("slept 300"));
    assert_eq!(c.finished.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn the_run_goes_only_as_fast_as_the_client_reads() {
    let c = Arc::new(Counters::default());
    let svc = BatchLayer::new(BatchConfig::default()).layer(app(c.clone()));
    // Validation allows 100 operations by default.
    let ops: Vec<&str> = (0..100).map(|_| "GET quick HTTP/1.1\r\n").collect();
    let resp = svc.oneshot(request(multipart(&ops))).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    body.frame().await.unwrap().unwrap();
    // One operation's answer is out; the executor waits for the client to read on.
    assert!(
        c.started.load(Ordering::SeqCst) <= 2,
        "{}",
        c.started.load(Ordering::SeqCst)
    );
    let rest = body.collect().await.unwrap().to_bytes();
    assert!(!rest.is_empty());
    assert_eq!(c.started.load(Ordering::SeqCst), 100);
}

#[tokio::test(flavor = "current_thread")]
async fn a_malformed_batch_is_refused_before_anything_runs() {
    let c = Arc::new(Counters::default());
    let svc = BatchLayer::new(BatchConfig::default()).layer(app(c.clone()));
    // The second part is not application/http.
    let body = "--b\r\nContent-Type: application/http\r\n\r\nGET quick HTTP/1.1\r\n\r\n\r\n\
                --b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n";
    let (status, _, text) = send(svc, request(body.into())).await;
    assert_eq!(status, 400);
    assert!(
        String::from_utf8_lossy(&text).contains("at byte"),
        "{text:?}"
    );
    assert_eq!(c.started.load(Ordering::SeqCst), 0);
    // Over the batch byte limit: 413, counted as the bytes arrive.
    let cfg = BatchConfig::default()
        .with_limits(batchpart::batch::ReadLimits::default().with_max_batch_bytes(64));
    let svc = BatchLayer::new(cfg).layer(app(c.clone()));
    let (status, _, _) = send(svc, request(multipart(&["GET quick HTTP/1.1\r\n"; 3]))).await;
    assert_eq!(status, 413);
    assert_eq!(c.started.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn independent_operations_run_concurrently_up_to_the_limit() {
    let c = Arc::new(Counters::default());
    let cfg = BatchConfig::default().with_concurrency(2);
    let svc = BatchLayer::new(cfg).layer(app(c.clone()));
    let mut req = request(multipart(&["GET delay/50 HTTP/1.1\r\n"; 5]));
    req.headers_mut()
        .insert("Prefer", "odata.continue-on-error".parse().unwrap());
    let (status, ct, body) = send(svc, req).await;
    assert_eq!(status, 200);
    assert_eq!(statuses(&parsed(&ct, body)), [200; 5]);
    assert_eq!(c.max_in_flight.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn the_time_budget_cuts_the_batch_short_and_says_what_ran() {
    let c = Arc::new(Counters::default());
    let cfg = BatchConfig::default()
        .with_time_budget(Some(Duration::from_millis(100)))
        .with_sleep(Some(Arc::new(|d| Box::pin(tokio::time::sleep(d)))));
    let svc = BatchLayer::new(cfg).layer(app(c.clone()));
    let mut req = request(multipart(&[
        "GET quick HTTP/1.1\r\n",
        "GET delay/5000 HTTP/1.1\r\n",
        "GET quick HTTP/1.1\r\n",
    ]));
    req.headers_mut()
        .insert("Prefer", "odata.continue-on-error".parse().unwrap());
    let (_, ct, body) = send(svc, req).await;
    let r = parsed(&ct, body);
    assert_eq!(statuses(&r), [200, 504, 503]);
    let second = &r.items[1].ops()[0];
    assert!(String::from_utf8_lossy(&second.body).contains("may have taken effect"));
    assert_eq!(c.started.load(Ordering::SeqCst), 2, "the third never ran");
}

/// A hook that records what it was asked, and hands each group a journal the handlers see.
#[derive(Clone, Default)]
struct Journal(Arc<Mutex<Vec<String>>>);

#[derive(Clone)]
struct Tx(u32);

impl Atomicity for Journal {
    type Group = Tx;
    async fn begin(&self, group: Option<&str>) -> Tx {
        self.0
            .lock()
            .unwrap()
            .push(format!("begin {}", group.unwrap_or("")));
        Tx(42)
    }
    async fn commit(&self, _g: Option<&str>, tx: &Tx) -> Result<(), ResponseOp> {
        self.0.lock().unwrap().push(format!("commit {}", tx.0));
        Ok(())
    }
    async fn rollback(&self, _g: Option<&str>, tx: &Tx) {
        self.0.lock().unwrap().push(format!("rollback {}", tx.0));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn changesets_run_between_the_hooks_and_their_operations_see_the_transaction() {
    let c = Arc::new(Counters::default());
    let seen_tx = Arc::new(AtomicUsize::new(0));
    let router = app(c).route(
        "/service/tx",
        post({
            let seen = seen_tx.clone();
            move |tx: Option<Extension<Tx>>| {
                let seen = seen.clone();
                async move {
                    if let Some(Extension(Tx(n))) = tx {
                        seen.store(n as usize, Ordering::SeqCst);
                    }
                    axum::http::StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let journal = Journal::default();
    let svc = BatchLayer::new(BatchConfig::default())
        .atomicity(journal.clone())
        .layer(router);
    let body = "--b\r\nContent-Type: multipart/mixed; boundary=cs1\r\n\r\n\
        --cs1\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\nPOST tx HTTP/1.1\r\n\r\n\r\n--cs1--\r\n\
        --b\r\nContent-Type: multipart/mixed; boundary=cs2\r\n\r\n\
        --cs2\r\nContent-Type: application/http\r\nContent-ID: 2\r\n\r\nPOST tx HTTP/1.1\r\n\r\n\r\n\
        --cs2\r\nContent-Type: application/http\r\nContent-ID: 3\r\n\r\nPOST fail HTTP/1.1\r\n\r\n\r\n--cs2--\r\n\
        --b--\r\n";
    let mut req = request(body.into());
    req.headers_mut()
        .insert("Prefer", "odata.continue-on-error".parse().unwrap());
    let (status, ct, body) = send(svc, req).await;
    assert_eq!(status, 200);
    let r = parsed(&ct, body);
    assert!(matches!(&r.items[0], Item::Changeset(c) if c.ops[0].status == 204));
    assert!(matches!(&r.items[1], Item::Op(o) if o.status == 409));
    assert_eq!(seen_tx.load(Ordering::SeqCst), 42);
    assert_eq!(
        *journal.0.lock().unwrap(),
        ["begin cs1", "commit 42", "begin cs2", "rollback 42"]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn json_odata_json_batch_and_versions() {
    let c = Arc::new(Counters::default());
    let svc = BatchLayer::new(BatchConfig::default()).layer(app(c.clone()));
    let req = http::Request::post("/service/$batch")
        .header("Content-Type", "application/json")
        .body(Full::new(Bytes::from(
            r#"{"requests":[{"id":"a","method":"GET","url":"quick"},{"id":"b","method":"POST","url":"People","headers":{"content-type":"application/json"},"body":{"Name":"Zoë"}}]}"#,
        )))
        .unwrap();
    let (status, ct, body) = send(svc.clone(), req).await;
    assert_eq!((status, ct.as_str()), (200, "application/json"));
    let r = parsed(&ct, body);
    assert_eq!(statuses(&r), [200, 201]);
    assert_eq!(
        &r.items[1].ops()[0].body[..],
        "{\"Name\":\"Zoë\"}".as_bytes()
    );
    // OData 2.0: changesets without Content-ID, answered 202.
    let body = "--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n\
        --cs\r\nContent-Type: application/http\r\n\r\nPOST People HTTP/1.1\r\n\r\n{}\r\n--cs--\r\n--b--\r\n";
    let mut req = request(body.into());
    req.headers_mut()
        .insert("DataServiceVersion", "2.0".parse().unwrap());
    let (status, _, _) = send(svc, req).await;
    assert_eq!(status, 202);
    // The JSON /batch dialect.
    let cfg = BatchConfig::default()
        .with_dialect(Dialect::Batch(&batchpart::batch::dialect::JsonBatch))
        .with_service_root(Some("/service".into()));
    let svc = BatchLayer::new(cfg).layer(app(c));
    let req = http::Request::post("/batch")
        .body(Full::new(Bytes::from(
            r#"{"requests":[{"method":"get","path":"/service/quick"},{"method":"get","path":"/service/People/9"}]}"#,
        )))
        .unwrap();
    let (status, _, body) = send(svc, req).await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["responses"][0]["status"], 200);
    assert_eq!(v["responses"][1]["body"], "person 9");
}

#[tokio::test(flavor = "current_thread")]
async fn mounted_in_an_axum_router() {
    let c = Arc::new(Counters::default());
    let routes = app(c);
    let batch = BatchLayer::new(BatchConfig::default()).layer(routes.clone());
    let whole = routes.route_service("/service/$batch", batch);
    let req = request(multipart(&["GET quick HTTP/1.1\r\n"])).map(axum::body::Body::new);
    let resp = whole.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("quick"));
    let _ = OpBody::new(Bytes::new());
}

#[tokio::test(flavor = "current_thread")]
async fn over_loopback_the_inner_operations_see_the_outer_identity() {
    // The application's auth layer puts the caller's identity in the request's extensions.
    async fn auth(
        mut req: axum::extract::Request,
        next: axum::middleware::Next,
    ) -> axum::response::Response {
        let who = req
            .headers()
            .get("x-user")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("anonymous")
            .to_string();
        req.extensions_mut().insert(Identity(who));
        next.run(req).await
    }
    let routes = app(Arc::new(Counters::default()));
    let batch = BatchLayer::new(BatchConfig::default()).layer(routes.clone());
    let whole = routes
        .route_service("/service/$batch", batch)
        .layer(axum::middleware::from_fn(auth));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, whole).await });
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut s, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = request(multipart(&[
        "GET whoami HTTP/1.1\r\n",
        "GET /service/whoami HTTP/1.1\r\n",
    ]));
    req.headers_mut().insert("x-user", "bob".parse().unwrap());
    req.headers_mut()
        .insert("Host", addr.to_string().parse().unwrap());
    let res = s.send_request(req).await.unwrap();
    assert_eq!(res.status(), 200);
    let ct = res.headers()["content-type"].to_str().unwrap().to_string();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let r = parsed(&ct, body);
    let bodies = bodies(&r);
    // The outer identity (extensions) and bearer token (a forwarded header); validation
    // keeps operations from sending an Authorization of their own.
    assert_eq!(bodies, [&b"bob t0ken"[..], b"bob t0ken"]);
}

#[tokio::test(flavor = "current_thread")]
async fn streaming_mode_runs_as_it_reads_and_a_late_error_is_the_last_part() {
    let c = Arc::new(Counters::default());
    let cfg = BatchConfig::default().with_streaming(true);
    let svc = BatchLayer::new(cfg).layer(app(c.clone()));
    let body = "--b\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\nGET quick HTTP/1.1\r\n\r\n\r\n\
                --b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n";
    let (status, ct, text) = send(svc, request(body.into())).await;
    // The head went out before the error was read: the operation that ran keeps its answer.
    assert_eq!(status, 200);
    let r = parsed(&ct, text);
    assert_eq!(statuses(&r), [200, 400]);
    let last = &r.items[1].ops()[0];
    assert!(last.content_id.is_none());
    assert!(String::from_utf8_lossy(&last.body).contains("the rest of the batch was not run"));
    assert_eq!(c.started.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn answer_header_names_are_spelled_as_services_spell_them() {
    use batchpart::batch::http_interop::HeaderCase;
    let app = Router::new().route(
        "/service/thing",
        get(|| async {
            (
                [
                    ("etag", "W/\"1\""),
                    ("location", "/service/thing"),
                    ("x-ms-request-id", "r1"),
                    ("content-type", "application/json"),
                ],
                "{}",
            )
        }),
    );
    let json = r#"{"requests":[{"id":"1","method":"GET","url":"thing"}]}"#;
    for (case, names) in [
        (
            HeaderCase::Title,
            ["ETag", "Location", "x-ms-request-id", "Content-Type"],
        ),
        (
            HeaderCase::Lower,
            ["etag", "location", "x-ms-request-id", "content-type"],
        ),
    ] {
        let cfg = BatchConfig::default().with_header_case(case);
        let svc = BatchLayer::new(cfg).layer(app.clone());
        // Multipart: the embedded answer's head.
        let (_, ct, body) =
            send(svc.clone(), request(multipart(&["GET thing HTTP/1.1\r\n"]))).await;
        let r = parsed(&ct, body);
        let got: Vec<&str> = r.items[0].ops()[0].headers.iter().map(|(n, _)| n).collect();
        for n in names {
            assert!(got.contains(&n), "{case:?}: {n} not in {got:?}");
        }
        // JSON: the `headers` object's keys.
        let req = http::Request::post("/service/$batch")
            .header("Host", "example.com")
            .header("Content-Type", "application/json")
            .body(Full::new(Bytes::from(json)))
            .unwrap();
        let (_, _, body) = send(svc, req).await;
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let keys: Vec<&String> = v["responses"][0]["headers"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        for n in names {
            assert!(
                keys.iter().any(|k| k.as_str() == n),
                "{case:?}: {n} not in {keys:?}"
            );
        }
    }
}
