//! Never half-applied when things go wrong: a batch's answer dropped mid-group (a client that
//! disconnects, a timeout), a panicking operation, an inner service that errs. Through the
//! library and against the demo server on loopback.
#![cfg(all(feature = "tower", feature = "json"))]

mod common;

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{Extension, Path};
use axum::routing::{get, post};
use axum::Router;
use batchpart::batch::{read_multipart, Atomicity, BatchResponse, ResponseOp};
use batchpart::server::{BatchConfig, BatchLayer, OpBody};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tower::{Layer, ServiceExt};

#[cfg(feature = "cli")]
use common::client::send;
#[cfg(feature = "cli")]
use common::demo::start;

/// The application's data: names written, in order.
type Store = Arc<Mutex<Vec<String>>>;

/// A group's undo journal: how many names it appended.
#[derive(Clone, Default)]
struct Journal(Arc<Mutex<usize>>);

/// Transactions over the store, logging every call of the hook.
#[derive(Clone, Default)]
struct Tx {
    store: Store,
    log: Arc<Mutex<Vec<String>>>,
}

impl Tx {
    fn undo(&self, j: &Journal) {
        let n = std::mem::take(&mut *j.0.lock().unwrap());
        let mut store = self.store.lock().unwrap();
        let keep = store.len() - n;
        store.truncate(keep);
    }

    fn log(&self, what: &str) {
        self.log.lock().unwrap().push(what.to_string());
    }
}

impl Atomicity for Tx {
    type Group = Journal;
    async fn begin(&self, _g: Option<&str>) -> Journal {
        self.log("begin");
        Journal::default()
    }
    async fn commit(&self, _g: Option<&str>, _j: &Journal) -> Result<(), ResponseOp> {
        self.log("commit");
        Ok(())
    }
    async fn rollback(&self, _g: Option<&str>, j: &Journal) {
        self.log("rollback");
        self.undo(j);
    }
    fn cancel(&self, _g: Option<&str>, j: &Journal) {
        self.log("cancel");
        self.undo(j);
    }
}

fn app(store: Store) -> Router {
    Router::new()
        .route(
            "/svc/write/{name}",
            post(
                |Path(name): Path<String>,
                 Extension(store): Extension<Store>,
                 journal: Option<Extension<Journal>>| async move {
                    store.lock().unwrap().push(name);
                    if let Some(Extension(j)) = journal {
                        *j.0.lock().unwrap() += 1;
                    }
                    http::StatusCode::CREATED
                },
            ),
        )
        .route("/svc/hang", post(std::future::pending::<()>))
        .route("/svc/panic", post(panics).get(panics))
        .route("/svc/ok", get(|| async { "ok" }))
        .layer(Extension(store))
}

async fn panics() -> &'static str {
    panic!("an operation panics")
}

/// A changeset of five POSTs whose `hang`-th never completes.
fn changeset(hang: usize) -> String {
    let mut s = String::from("--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n");
    for i in 0..5 {
        let url = if i == hang {
            "hang".to_string()
        } else {
            format!("write/n{i}")
        };
        s.push_str(&format!(
            "--cs\r\nContent-Type: application/http\r\nContent-ID: {i}\r\n\r\n\
             POST {url} HTTP/1.1\r\n\r\n\r\n"
        ));
    }
    s.push_str("--cs--\r\n--b--\r\n");
    s
}

fn batch(body: String) -> http::Request<Full<Bytes>> {
    http::Request::post("/svc/$batch")
        .header("Host", "h")
        .header("Content-Type", "multipart/mixed; boundary=b")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn a_dropped_answer_rolls_back_the_open_group_at_every_operation() {
    for hang in 0..5 {
        let tx = Tx::default();
        let svc = BatchLayer::new(BatchConfig::default())
            .atomicity(tx.clone())
            .layer(app(tx.store.clone()));
        let resp = svc.oneshot(batch(changeset(hang))).await.unwrap();
        let mut body = resp.into_body();
        // The client reads for a while, then goes away.
        let read = tokio::time::timeout(Duration::from_millis(100), body.frame()).await;
        assert!(read.is_err(), "the changeset's answer cannot be ready");
        assert_eq!(
            tx.store.lock().unwrap().len(),
            hang,
            "the writes before the hang"
        );
        drop(body);
        assert!(
            tx.store.lock().unwrap().is_empty(),
            "hang at {hang}: half applied"
        );
        assert_eq!(*tx.log.lock().unwrap(), ["begin", "cancel"]);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_tower_timeout_rolls_back_too() {
    let tx = Tx::default();
    let svc = BatchLayer::new(BatchConfig::default())
        .atomicity(tx.clone())
        .layer(app(tx.store.clone()));
    let svc = tower::ServiceBuilder::new()
        .timeout(Duration::from_millis(100))
        .service(svc);
    // The whole answer is read under the timeout, as a client's deadline would.
    let read = async move {
        let resp = svc.oneshot(batch(changeset(3))).await?;
        let body = match resp.into_body().collect().await {
            Ok(b) => b,
            Err(never) => match never {},
        };
        Ok::<_, tower::BoxError>(body)
    };
    let cut = tokio::time::timeout(Duration::from_millis(300), read).await;
    let _elapsed: tokio::time::error::Elapsed = cut.expect_err("the deadline cuts the answer");
    assert!(tx.store.lock().unwrap().is_empty());
    assert_eq!(*tx.log.lock().unwrap(), ["begin", "cancel"]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_group_that_completes_is_committed_not_cancelled() {
    let tx = Tx::default();
    let svc = BatchLayer::new(BatchConfig::default())
        .atomicity(tx.clone())
        .layer(app(tx.store.clone()));
    let resp = svc.oneshot(batch(changeset(99))).await.unwrap();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    drop(body);
    assert_eq!(tx.store.lock().unwrap().len(), 5);
    assert_eq!(*tx.log.lock().unwrap(), ["begin", "commit"]);
}

fn statuses(r: &BatchResponse) -> Vec<Vec<u16>> {
    r.items
        .iter()
        .map(|i| i.ops().iter().map(|o| o.status).collect())
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn a_panicking_operation_is_its_500_and_its_group_rolls_back() {
    let tx = Tx::default();
    let svc = BatchLayer::new(BatchConfig::default())
        .atomicity(tx.clone())
        .layer(app(tx.store.clone()));
    let body = "--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n\
        --cs\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\nPOST write/a HTTP/1.1\r\n\r\n\r\n\
        --cs\r\nContent-Type: application/http\r\nContent-ID: 2\r\n\r\nPOST panic HTTP/1.1\r\n\r\n\r\n\
        --cs--\r\n\
        --b\r\nContent-Type: application/http\r\n\r\nGET panic HTTP/1.1\r\n\r\n\r\n\
        --b\r\nContent-Type: application/http\r\n\r\nGET ok HTTP/1.1\r\n\r\n\r\n--b--\r\n";
    let mut req = batch(body.into());
    req.headers_mut().insert(
        "Prefer",
        http::HeaderValue::from_static("odata.continue-on-error"),
    );
    let resp = svc.clone().oneshot(req).await.unwrap();
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let r: BatchResponse = read_multipart(bytes.clone(), ct.as_bytes(), None).unwrap();
    assert_eq!(statuses(&r), [vec![500], vec![500], vec![200]]);
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("panicked"), "{text}");
    assert!(
        !text.contains("an operation panics"),
        "the panic's message stays on the server"
    );
    assert!(tx.store.lock().unwrap().is_empty());
    assert_eq!(*tx.log.lock().unwrap(), ["begin", "rollback"]);
    // The service goes on serving.
    let resp = svc.oneshot(batch(changeset(99))).await.unwrap();
    resp.into_body().collect().await.unwrap();
    assert_eq!(tx.store.lock().unwrap().len(), 5);
}

/// An inner service whose `poll_ready` or `call` fails, by the path.
#[derive(Clone)]
struct Failing {
    ready: bool,
}

impl tower::Service<http::Request<OpBody>> for Failing {
    type Response = http::Response<Full<Bytes>>;
    type Error = String;
    type Future = std::future::Ready<Result<Self::Response, String>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        Poll::Ready(if self.ready {
            Ok(())
        } else {
            Err("not ready".to_string())
        })
    }

    fn call(&mut self, req: http::Request<OpBody>) -> Self::Future {
        std::future::ready(if req.uri().path().ends_with("/err") {
            Err("the call failed".to_string())
        } else {
            Ok(http::Response::new(Full::new(Bytes::from_static(b"{}"))))
        })
    }
}

#[tokio::test(flavor = "current_thread")]
async fn service_and_readiness_errors_are_the_operations_500() {
    let two = "--b\r\nContent-Type: application/http\r\n\r\nGET err HTTP/1.1\r\n\r\n\r\n\
        --b\r\nContent-Type: application/http\r\n\r\nGET fine HTTP/1.1\r\n\r\n\r\n--b--\r\n";
    for (ready, want) in [(true, [500, 200]), (false, [500, 500])] {
        let svc = BatchLayer::new(BatchConfig::default()).layer(Failing { ready });
        let mut req = batch(two.into());
        req.headers_mut().insert(
            "Prefer",
            http::HeaderValue::from_static("odata.continue-on-error"),
        );
        let resp = svc.oneshot(req).await.unwrap();
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let r: BatchResponse = read_multipart(bytes.clone(), ct.as_bytes(), None).unwrap();
        assert_eq!(statuses(&r), [vec![want[0]], vec![want[1]]]);
        let text = String::from_utf8_lossy(&bytes);
        let why = if ready {
            "the call failed"
        } else {
            "not ready"
        };
        assert!(text.contains(why), "{text}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_answer_over_max_body_bytes_is_a_500_that_says_so() {
    let mut cfg = BatchConfig::default();
    cfg.limits.max_body_bytes = 4;
    let app = Router::new().route("/svc/big", get(|| async { "0123456789" }));
    let svc = BatchLayer::new(cfg).layer(app);
    let body = "--b\r\nContent-Type: application/http\r\n\r\nGET big HTTP/1.1\r\n\r\n\r\n--b--\r\n";
    let resp = svc.oneshot(batch(body.into())).await.unwrap();
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let r: BatchResponse = read_multipart(bytes.clone(), ct.as_bytes(), None).unwrap();
    assert_eq!(statuses(&r), [vec![500]]);
    assert!(String::from_utf8_lossy(&bytes).contains("over 4 bytes"));
}

// Against the demo server.

/// The store's People, as the demo lists them.
#[cfg(feature = "cli")]
async fn people(addr: &str) -> serde_json::Value {
    let (status, _, body) = send(addr, "GET", "/service/People", &[], String::new()).await;
    assert_eq!(status, 200);
    serde_json::from_slice::<serde_json::Value>(&body).unwrap()["value"].clone()
}

#[cfg(feature = "cli")]
#[tokio::test(flavor = "current_thread")]
async fn the_demo_undoes_a_changeset_whose_client_disconnects() {
    use tokio::io::AsyncWriteExt;
    let server = start();
    let addr = server.1.clone();
    let before = people(&addr).await;
    for slow in 0..5 {
        let mut body = String::from("--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n");
        for i in 0..5 {
            let url = if i == slow { "delay/60000" } else { "People" };
            body.push_str(&format!(
                "--cs\r\nContent-Type: application/http\r\nContent-ID: {i}\r\n\r\n\
                 POST {url} HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{{\"n\":{i}}}\r\n"
            ));
        }
        body.push_str("--cs--\r\n--b--\r\n");
        let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /service/$batch HTTP/1.1\r\nHost: {addr}\r\n\
             Content-Type: multipart/mixed; boundary=b\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        tcp.write_all(head.as_bytes()).await.unwrap();
        tcp.write_all(body.as_bytes()).await.unwrap();
        // Wait until the writes before the slow one are in the store, then cut.
        let mut seen = 0;
        for _ in 0..200 {
            seen = people(&addr).await.as_array().unwrap().len();
            if seen == slow {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(seen, slow, "the writes before the slow operation ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(tcp);
        let mut after = serde_json::Value::Null;
        for _ in 0..200 {
            after = people(&addr).await;
            if after == before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(after, before, "cut at operation {slow}: half applied");
    }
}

#[cfg(feature = "cli")]
#[tokio::test(flavor = "current_thread")]
async fn the_demo_answers_a_panic_with_500_and_keeps_the_connection() {
    let server = start();
    let addr = server.1.clone();
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut s, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let get = |path: &str| {
        hyper::Request::get(path)
            .header("Host", &addr)
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let res = s.send_request(get("/service/panic")).await.unwrap();
    assert_eq!(res.status(), 500);
    res.into_body().collect().await.unwrap();
    // The same connection serves the next request, a batch holding the panic.
    let body =
        "--b\r\nContent-Type: application/http\r\n\r\nGET panic HTTP/1.1\r\n\r\n\r\n--b--\r\n";
    let req = hyper::Request::post("/service/$batch")
        .header("Host", &addr)
        .header("Content-Type", "multipart/mixed; boundary=b")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let res = s.send_request(req).await.unwrap();
    assert_eq!(res.status(), 200);
    let ct = res.headers()["content-type"].to_str().unwrap().to_string();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let r: BatchResponse = read_multipart(bytes, ct.as_bytes(), None).unwrap();
    assert_eq!(statuses(&r), [vec![500]]);
    let res = s.send_request(get("/service/echo")).await.unwrap();
    assert_eq!(res.status(), 200);
}
