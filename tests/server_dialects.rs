//! The tower service serves any `batch::Dialect` through the trait (`server::Dialect::Batch`):
//! each dialect's own client writes the request, the service reads it under its limits,
//! confines it to the root, runs it through the application, and the dialect's own reader
//! reads the answer back.
#![cfg(all(feature = "tower", feature = "json"))]

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use batchpart::batch::{dialect, Batch, BatchErrorKind, Dialect as _, Item, RequestOp};
use batchpart::server::{BatchConfig, BatchLayer, Dialect};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tower::{Layer, ServiceExt};

fn app() -> Router {
    let json = [("Content-Type", "application/json")];
    Router::new()
        .route(
            "/service/latin",
            get(|| async {
                let v = http::HeaderValue::from_bytes(b"caf\xe9").unwrap();
                ([(http::header::HeaderName::from_static("x-name"), v)], "{}")
            }),
        )
        .route(
        "/service/People/{id}",
        get(move |Path(id): Path<String>| async move { (json, format!(r#"{{"person":"{id}"}}"#)) })
            .post(move |Path(id): Path<String>, body: Bytes| async move {
                let body = String::from_utf8_lossy(&body).into_owned();
                let made = format!(r#"{{"made":"{id}","from":{body}}}"#);
                (axum::http::StatusCode::CREATED, json, made)
            }),
    )
}

async fn serve(cfg: BatchConfig, ct: &str, body: Bytes) -> (u16, String, Bytes) {
    let svc = BatchLayer::new(cfg.with_service_root(Some("/service/".into()))).layer(app());
    let req = http::Request::post("/service/batch")
        .header("Host", "example.com")
        .header("Content-Type", ct)
        .body(Full::new(body))
        .unwrap();
    let resp = svc.oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (
        status,
        ct,
        resp.into_body().collect().await.unwrap().to_bytes(),
    )
}

fn ops(urls: &[(&str, &str)]) -> Batch<RequestOp> {
    Batch {
        items: urls
            .iter()
            .enumerate()
            .map(|(i, (m, u))| {
                let op = RequestOp::new(*m, *u).with_content_id((i + 1).to_string());
                Item::Op(match *m {
                    "POST" => op
                        .with_header("Content-Type", "application/json")
                        .with_body(r#"{"n":2}"#),
                    _ => op,
                })
            })
            .collect(),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn every_body_dialect_is_served_through_the_trait() {
    let batch = ops(&[("GET", "/service/People/1"), ("POST", "/service/People/2")]);
    for d in [
        &dialect::OData as &dyn batchpart::batch::Dialect,
        &dialect::ODataJson,
        &dialect::Google,
        &dialect::Graph,
        &dialect::JsonBatch,
        &dialect::Ucwa,
        &dialect::Creatio,
    ] {
        let (ct, body) = d.write_request(&batch, "batch_x").unwrap();
        let cfg = BatchConfig::default().with_dialect(Dialect::Batch(d));
        let (status, answer_ct, answer) = serve(cfg, &ct, body).await;
        assert_eq!(status, d.response_status(), "{}", d.name());
        let read = d.read_response(answer, answer_ct.as_bytes()).unwrap();
        let got: Vec<(u16, serde_json::Value)> = read
            .items
            .iter()
            .flat_map(|i| i.ops())
            .map(|r| (r.status, serde_json::from_slice(&r.body).unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                (200, serde_json::json!({"person": "1"})),
                (201, serde_json::json!({"made": "2", "from": {"n": 2}}))
            ],
            "{}",
            d.name()
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_dialect_is_held_to_the_services_limits_root_and_header_rules() {
    let cfg = |d: &'static dyn batchpart::batch::Dialect| {
        BatchConfig::default().with_dialect(Dialect::Batch(d))
    };
    let d = &dialect::Google;
    // The service's operation limit, lower than Google's 1,000.
    let three = ops(&[("GET", "/service/People/1"); 3]);
    let (ct, body) = d.write_request(&three, "batch_x").unwrap();
    let mut c = cfg(d);
    c.limits.max_operations = 2;
    let (status, _, answer) = serve(c, &ct, body).await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&answer).contains(BatchErrorKind::TooManyOperations.as_str()));
    // Out of the root, or at a batch resource: refused before anything runs.
    for url in ["/admin", "//evil.example/x", "/service/$batch"] {
        let (ct, body) = d.write_request(&ops(&[("GET", url)]), "batch_x").unwrap();
        let (status, _, answer) = serve(cfg(d), &ct, body).await;
        assert_eq!(status, 400, "{url}: {}", String::from_utf8_lossy(&answer));
    }
    // A forbidden header, unless the configuration allows it (Azure Blob's subrequests sign
    // themselves), where the dialect answers 202.
    let mut signed = ops(&[("DELETE", "/service/People/1")]);
    if let Item::Op(op) = &mut signed.items[0] {
        op.headers
            .push("x-ms-date", "Sun, 06 Dec 2026 16:00:00 GMT");
        op.headers.push("Authorization", "SharedKey a:b");
    }
    let blob = &dialect::AzureBlob;
    let (ct, body) = blob.write_request(&signed, "batch_x").unwrap();
    let (status, _, answer) = serve(cfg(blob), &ct, body.clone()).await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&answer).contains(BatchErrorKind::ForbiddenHeader.as_str()));
    let mut c = cfg(blob);
    c.validation.forbid_headers = false;
    let (status, ct, answer) = serve(c, &ct, body).await;
    assert_eq!(status, 202);
    let read = blob.read_response(answer, ct.as_bytes()).unwrap();
    assert_eq!(read.items[0].ops()[0].status, 405, "no DELETE route");
}

/// An answer a JSON dialect cannot carry (a header value that is not UTF-8) is the `500` that
/// says the operation ran; the others keep theirs: the batch is never a whole-batch error
/// once operations ran.
#[tokio::test(flavor = "current_thread")]
async fn an_answer_the_dialect_cannot_write_is_the_500_that_says_it_ran() {
    let batch = ops(&[("GET", "/service/People/1"), ("GET", "/service/latin")]);
    for d in [
        &dialect::Graph as &dyn batchpart::batch::Dialect,
        &dialect::ODataJson,
    ] {
        let (ct, body) = d.write_request(&batch, "batch_x").unwrap();
        let cfg = BatchConfig::default().with_dialect(Dialect::Batch(d));
        let (status, answer_ct, answer) = serve(cfg, &ct, body).await;
        assert_eq!(status, 200, "{}", d.name());
        let read = d.read_response(answer, answer_ct.as_bytes()).unwrap();
        let ops: Vec<_> = read.items.iter().flat_map(|i| i.ops()).collect();
        assert_eq!((ops[0].status, ops[1].status), (200, 500), "{}", d.name());
        let why = String::from_utf8_lossy(&ops[1].body);
        assert!(why.contains("ran (status 200)"), "{}: {why}", d.name());
    }
}
