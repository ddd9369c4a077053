//! Asynchronous batches (`Prefer: respond-async`) through the tower service: the `202` and its
//! status monitor, the stored answer equal to the synchronous one, cancellation, the store's
//! limits, the monitor bound to its submitter, and the cases that ignore the preference.
//! Slow operations wait on a gate the test opens, so nothing here depends on timing.
#![cfg(all(feature = "tower", feature = "json"))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::routing::{get, post};
use axum::Router;
use batchpart::batch::Atomicity;
use batchpart::batch::{
    read_json, read_monitor, read_multipart, Accepted, BatchErrorKind, BatchResponse, Headers,
    MonitorAnswer, ResponseOp,
};
use batchpart::server::{
    AsyncBatches, BatchConfig, BatchLayer, BatchService, Dialect, MemoryStore,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::sync::Semaphore;
use tower::{Layer, ServiceExt};

/// What the application saw: writes done, held operations started, and the hook's calls.
#[derive(Default)]
struct Seen {
    writes: AtomicUsize,
    held: AtomicUsize,
    hooks: Mutex<Vec<String>>,
}

#[derive(Clone)]
struct Hooks(Arc<Seen>);

impl Hooks {
    fn log(&self, what: &str) {
        self.0.hooks.lock().unwrap().push(what.to_string());
    }
}

impl Atomicity for Hooks {
    type Group = ();
    async fn begin(&self, _g: Option<&str>) {
        self.log("begin");
    }
    async fn commit(&self, _g: Option<&str>, _: &()) -> Result<(), ResponseOp> {
        self.log("commit");
        Ok(())
    }
    async fn rollback(&self, _g: Option<&str>, _: &()) {
        self.log("rollback");
    }
    fn cancel(&self, _g: Option<&str>, _: &()) {
        self.log("cancel");
    }
}

/// The application: `hold` waits for a permit of the gate; `items` counts a write; `big`
/// answers 1000 bytes.
fn app(seen: Arc<Seen>, gate: Arc<Semaphore>) -> Router {
    let hold = {
        let (seen, gate) = (seen.clone(), gate.clone());
        move || {
            let (seen, gate) = (seen.clone(), gate.clone());
            async move {
                seen.held.fetch_add(1, Ordering::SeqCst);
                let _permit = gate.acquire().await.unwrap();
                "{\"held\":true}"
            }
        }
    };
    let write = move || {
        let seen = seen.clone();
        async move {
            seen.writes.fetch_add(1, Ordering::SeqCst);
            (axum::http::StatusCode::CREATED, "{\"id\":1}")
        }
    };
    Router::new()
        .route("/service/hold", get(hold.clone()).post(hold))
        .route("/service/items", post(write))
        .route("/service/quick", get(|| async { "{\"quick\":true}" }))
        .route("/service/big", get(|| async { "x".repeat(1000) }))
}

struct Fixture {
    svc: BatchService<Router, Hooks>,
    seen: Arc<Seen>,
    gate: Arc<Semaphore>,
}

fn spawn_on_tokio() -> AsyncBatches {
    AsyncBatches::new(Arc::new(|run| drop(tokio::spawn(run))))
}

fn fixture(cfg: BatchConfig) -> Fixture {
    let seen = Arc::new(Seen::default());
    let gate = Arc::new(Semaphore::new(0));
    let svc = BatchLayer::new(cfg)
        .atomicity(Hooks(seen.clone()))
        .layer(app(seen.clone(), gate.clone()));
    Fixture { svc, seen, gate }
}

fn with_async() -> Fixture {
    fixture(BatchConfig::default().with_respond_async(Some(spawn_on_tokio())))
}

fn multipart(ops: &[&str]) -> String {
    let mut s = String::new();
    for (i, op) in ops.iter().enumerate() {
        s.push_str(&format!(
            "--b\r\nContent-Type: application/http\r\nContent-ID: {}\r\n\r\n{op}\r\n",
            i + 1
        ));
    }
    s + "--b--\r\n"
}

/// A changeset of these operations, then a GET after it.
fn changeset_then_get(ops: &[&str], after: &str) -> String {
    let mut s = "--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n".to_string();
    for (i, op) in ops.iter().enumerate() {
        s.push_str(&format!(
            "--cs\r\nContent-Type: application/http\r\nContent-ID: {}\r\n\r\n{op}\r\n",
            i + 1
        ));
    }
    s.push_str("--cs--\r\n");
    s.push_str(&format!(
        "--b\r\nContent-Type: application/http\r\n\r\n{after}\r\n--b--\r\n"
    ));
    s
}

const JSON_BATCH: &str = r#"{"requests":[
    {"id":"1","method":"GET","url":"hold"},
    {"id":"2","method":"GET","url":"quick"}]}"#;

fn batch(body: &str, json: bool, prefer: bool, auth: Option<&str>) -> http::Request<Full<Bytes>> {
    let ct = if json {
        "application/json"
    } else {
        "multipart/mixed; boundary=b"
    };
    let mut r = http::Request::post("/service/$batch")
        .header("Host", "example.com")
        .header("Content-Type", ct);
    if prefer {
        r = r.header("Prefer", "respond-async");
    }
    if let Some(a) = auth {
        r = r.header("Authorization", a);
    }
    r.body(Full::new(Bytes::from(body.to_string()))).unwrap()
}

fn get_or_delete(method: &str, uri: &str, auth: Option<&str>) -> http::Request<Full<Bytes>> {
    let mut r = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("Host", "example.com");
    if let Some(a) = auth {
        r = r.header("Authorization", a);
    }
    r.body(Full::new(Bytes::new())).unwrap()
}

struct Answer {
    status: u16,
    headers: Headers,
    body: Bytes,
}

async fn call(svc: &BatchService<Router, Hooks>, req: http::Request<Full<Bytes>>) -> Answer {
    let resp = svc.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let mut headers = Headers::new();
    for (n, v) in resp.headers() {
        headers.push(n.as_str(), v.as_bytes());
    }
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body,
    }
}

fn header<'a>(a: &'a Answer, name: &str) -> Option<&'a str> {
    a.headers.get_str(name)
}

/// The operations of an answer: status, Content-ID, headers and body, which do not depend on
/// the boundary.
type Ops = Vec<(u16, Option<String>, Vec<(String, Vec<u8>)>, Bytes)>;

fn ops(ct: &str, body: Bytes) -> Ops {
    let r: BatchResponse = if ct.starts_with("application/json") {
        read_json(body, None).unwrap()
    } else {
        read_multipart(body, ct.as_bytes(), None).unwrap()
    };
    r.items
        .iter()
        .flat_map(|i| i.ops())
        .map(|o| {
            let h = o
                .headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_vec()))
                .collect();
            (
                o.status,
                o.content_id.as_deref().map(str::to_owned),
                h,
                o.body.clone(),
            )
        })
        .collect()
}

/// Polls the monitor (yielding to the background run in between) until it is done.
async fn finished(f: &Fixture, location: &str, auth: Option<&str>) -> Answer {
    for _ in 0..1000 {
        let a = call(&f.svc, get_or_delete("GET", location, auth)).await;
        if a.status != 202 {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the batch never finished");
}

async fn until_held(seen: &Seen, n: usize) {
    for _ in 0..1000 {
        if seen.held.load(Ordering::SeqCst) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("the held operation never started");
}

/// Submits `body` asynchronously and checks the `202`: its Location, Preference-Applied and
/// Retry-After, and no body.
async fn submit(f: &Fixture, body: &str, json: bool, auth: Option<&str>) -> String {
    let a = call(&f.svc, batch(body, json, true, auth)).await;
    assert_eq!(a.status, 202, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(header(&a, "preference-applied"), Some("respond-async"));
    assert_eq!(header(&a, "retry-after"), Some("1"));
    assert!(a.body.is_empty());
    let location = header(&a, "location").unwrap().to_string();
    let id = location.strip_prefix("/service/$monitor/").unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    let accepted = Accepted::from_answer(a.status, &a.headers, SystemTime::now()).unwrap();
    assert_eq!(accepted.location, location);
    assert_eq!(accepted.retry_after, Some(Duration::from_secs(1)));
    location
}

async fn accepted_runs_in_the_background_and_keeps_the_synchronous_answer(json: bool) {
    let f = with_async();
    let body = if json {
        JSON_BATCH.to_string()
    } else {
        multipart(&["GET hold HTTP/1.1\r\n", "GET quick HTTP/1.1\r\n"])
    };
    let location = submit(&f, &body, json, None).await;
    // The held operation has not been released: the 202 came before it finished.
    until_held(&f.seen, 1).await;
    let running = call(&f.svc, get_or_delete("GET", &location, None)).await;
    assert_eq!(running.status, 202);
    assert_eq!(header(&running, "retry-after"), Some("1"));
    match read_monitor(202, &running.headers, running.body, SystemTime::now()).unwrap() {
        MonitorAnswer::Running { retry_after } => {
            assert_eq!(retry_after, Some(Duration::from_secs(1)))
        }
        other => panic!("{other:?}"),
    }
    f.gate.add_permits(100);
    let done = finished(&f, &location, None).await;
    assert_eq!(done.status, 200);
    assert_eq!(header(&done, "content-type"), Some("application/http"));
    assert_eq!(header(&done, "content-transfer-encoding"), Some("binary"));
    assert_eq!(header(&done, "asyncresult"), Some("200"));
    let again = finished(&f, &location, None).await;
    assert_eq!(again.body, done.body, "a finished result answers every GET");
    let result = match read_monitor(200, &done.headers, done.body, SystemTime::now()).unwrap() {
        MonitorAnswer::Done(r) => r,
        other => panic!("{other:?}"),
    };
    // What the synchronous answer holds, on a fresh service.
    let fresh = with_async();
    fresh.gate.add_permits(100);
    let sync = call(&fresh.svc, batch(&body, json, false, None)).await;
    assert_eq!(header(&sync, "preference-applied"), None);
    assert_eq!(result.status, sync.status);
    let media = |ct: &str| ct.split(';').next().unwrap().to_string();
    let rct = result.headers.get_str("content-type").unwrap().to_string();
    let sct = header(&sync, "content-type").unwrap().to_string();
    assert_eq!(media(&rct), media(&sct));
    assert_eq!(
        result.headers.get_str("odata-version"),
        header(&sync, "odata-version")
    );
    let (stored, synchronous) = (ops(&rct, result.body), ops(&sct, sync.body));
    assert_eq!(stored.len(), 2);
    assert_eq!(stored, synchronous);
    assert_eq!(stored[0].3, &b"{\"held\":true}"[..]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_multipart_batch_runs_in_the_background_and_keeps_the_synchronous_answer() {
    accepted_runs_in_the_background_and_keeps_the_synchronous_answer(false).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_json_batch_runs_in_the_background_and_keeps_the_synchronous_answer() {
    accepted_runs_in_the_background_and_keeps_the_synchronous_answer(true).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_malformed_batch_is_refused_at_once() {
    let f = with_async();
    let a = call(&f.svc, batch("--b\r\nnonsense", false, true, None)).await;
    assert_eq!(a.status, 400);
    assert_eq!(header(&a, "preference-applied"), None);
    let outside = multipart(&["GET /elsewhere HTTP/1.1\r\n"]);
    let a = call(&f.svc, batch(&outside, false, true, None)).await;
    assert_eq!(a.status, 400, "validated before it is accepted");
    assert_eq!(f.seen.held.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_delete_cancels_what_runs_and_what_is_queued_never_runs() {
    let f = with_async();
    let body = changeset_then_get(
        &[
            "POST items HTTP/1.1\r\n",
            "POST hold HTTP/1.1\r\n",
            "POST items HTTP/1.1\r\n",
        ],
        "GET quick HTTP/1.1\r\n",
    );
    let location = submit(&f, &body, false, None).await;
    until_held(&f.seen, 1).await;
    assert_eq!(f.seen.writes.load(Ordering::SeqCst), 1);
    let deleted = call(&f.svc, get_or_delete("DELETE", &location, None)).await;
    assert_eq!(deleted.status, 204);
    // The group was resolved before the DELETE was answered.
    assert_eq!(*f.seen.hooks.lock().unwrap(), ["begin", "cancel"]);
    f.gate.add_permits(100);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        f.seen.writes.load(Ordering::SeqCst),
        1,
        "the queued POST never ran"
    );
    let gone = call(&f.svc, get_or_delete("GET", &location, None)).await;
    assert_eq!(gone.status, 404);
    let e = read_monitor(404, &gone.headers, gone.body, SystemTime::now()).unwrap_err();
    assert_eq!(e.kind(), BatchErrorKind::Monitor);
    assert_eq!(*f.seen.hooks.lock().unwrap(), ["begin", "cancel"]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_delete_removes_a_finished_result() {
    let f = with_async();
    f.gate.add_permits(100);
    let location = submit(&f, &multipart(&["GET quick HTTP/1.1\r\n"]), false, None).await;
    assert_eq!(finished(&f, &location, None).await.status, 200);
    let deleted = call(&f.svc, get_or_delete("DELETE", &location, None)).await;
    assert_eq!(deleted.status, 204);
    let gone = call(&f.svc, get_or_delete("GET", &location, None)).await;
    assert_eq!(gone.status, 404);
    let again = call(&f.svc, get_or_delete("DELETE", &location, None)).await;
    assert_eq!(again.status, 404);
}

#[tokio::test(flavor = "current_thread")]
async fn unknown_monitors_and_other_methods() {
    let f = with_async();
    let unknown = "/service/$monitor/0123456789abcdef0123456789abcdef";
    assert_eq!(
        call(&f.svc, get_or_delete("GET", unknown, None))
            .await
            .status,
        404
    );
    let location = submit(&f, &multipart(&["GET quick HTTP/1.1\r\n"]), false, None).await;
    let put = call(&f.svc, get_or_delete("PUT", &location, None)).await;
    assert_eq!(put.status, 405);
    assert_eq!(header(&put, "allow"), Some("GET, DELETE"));
    // Another root's monitor path is not this service's monitor.
    let elsewhere = location.replace("/service/", "/other/");
    let f2 = fixture(
        BatchConfig::default()
            .with_service_root(Some("/service/".into()))
            .with_respond_async(Some(spawn_on_tokio())),
    );
    let a = call(&f2.svc, get_or_delete("GET", &elsewhere, None)).await;
    assert_ne!(a.status, 202);
    assert_ne!(a.status, 200);
}

#[tokio::test(flavor = "current_thread")]
async fn a_monitor_answers_only_its_submitter() {
    let f = with_async();
    let alice = Some("Bearer alice");
    let location = submit(&f, &multipart(&["GET hold HTTP/1.1\r\n"]), false, alice).await;
    for other in [Some("Bearer bob"), None, Some("Bearer alice ")] {
        let a = call(&f.svc, get_or_delete("GET", &location, other)).await;
        assert_eq!(a.status, 404, "{other:?}");
        let a = call(&f.svc, get_or_delete("DELETE", &location, other)).await;
        assert_eq!(a.status, 404, "{other:?}");
    }
    assert_eq!(
        call(&f.svc, get_or_delete("GET", &location, alice))
            .await
            .status,
        202
    );
    f.gate.add_permits(100);
    assert_eq!(finished(&f, &location, alice).await.status, 200);
    assert_eq!(f.seen.hooks.lock().unwrap().len(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_full_store_runs_the_batch_synchronously() {
    let store = Arc::new(MemoryStore::new(1, 1 << 30, Duration::from_secs(60)));
    let f = fixture(
        BatchConfig::default().with_respond_async(Some(spawn_on_tokio().with_store(store))),
    );
    submit(&f, &multipart(&["GET hold HTTP/1.1\r\n"]), false, None).await;
    let body = multipart(&["GET quick HTTP/1.1\r\n"]);
    let a = call(&f.svc, batch(&body, false, true, None)).await;
    assert_eq!(a.status, 200);
    assert_eq!(header(&a, "preference-applied"), None);
    let ct = header(&a, "content-type").unwrap().to_string();
    assert_eq!(ops(&ct, a.body)[0].0, 200);
    // Room by bytes: a store that cannot reserve one answer's bound takes nothing.
    let small = Arc::new(MemoryStore::new(10, 1000, Duration::from_secs(60)));
    let f = fixture(
        BatchConfig::default().with_respond_async(Some(
            spawn_on_tokio()
                .with_store(small)
                .with_max_result_bytes(1001),
        )),
    );
    let a = call(&f.svc, batch(&body, false, true, None)).await;
    assert_eq!((a.status, header(&a, "preference-applied")), (200, None));
}

#[tokio::test(flavor = "current_thread")]
async fn an_answer_past_the_bound_says_its_operations_ran() {
    let f = fixture(
        BatchConfig::default()
            .with_respond_async(Some(spawn_on_tokio().with_max_result_bytes(4096))),
    );
    let body = multipart(&["GET big HTTP/1.1\r\n"; 5]);
    let location = submit(&f, &body, false, None).await;
    let done = finished(&f, &location, None).await;
    assert!(done.body.len() <= 4096 + 5 * 600, "{}", done.body.len());
    let MonitorAnswer::Done(r) =
        read_monitor(200, &done.headers, done.body, SystemTime::now()).unwrap()
    else {
        panic!("not done")
    };
    let got = ops(r.headers.get_str("content-type").unwrap(), r.body);
    let statuses: Vec<u16> = got.iter().map(|o| o.0).collect();
    assert_eq!(statuses[0], 200, "the first fits");
    assert_eq!(statuses[4], 500, "the last does not");
    let msg = String::from_utf8_lossy(&got[4].3);
    assert!(msg.contains("ran (status 200)"), "{msg}");
    assert_eq!(got[4].1.as_deref(), Some("5"));
}

#[tokio::test(flavor = "current_thread")]
async fn where_the_preference_is_ignored() {
    let body = multipart(&["GET quick HTTP/1.1\r\n"]);
    // Off by default.
    let f = fixture(BatchConfig::default());
    let a = call(&f.svc, batch(&body, false, true, None)).await;
    assert_eq!((a.status, header(&a, "preference-applied")), (200, None));
    // OData 3.0 answers 202 synchronously, with the body.
    let f = with_async();
    let mut req = batch(&body, false, true, None);
    req.headers_mut()
        .insert("DataServiceVersion", http::HeaderValue::from_static("3.0"));
    let a = call(&f.svc, req).await;
    assert_eq!(a.status, 202);
    assert_eq!(header(&a, "preference-applied"), None);
    assert_eq!(header(&a, "location"), None);
    let ct = header(&a, "content-type").unwrap().to_string();
    assert_eq!(ops(&ct, a.body)[0].0, 200);
    // Streaming mode.
    let f = fixture(
        BatchConfig::default()
            .with_streaming(true)
            .with_respond_async(Some(spawn_on_tokio())),
    );
    let a = call(&f.svc, batch(&body, false, true, None)).await;
    assert_eq!((a.status, header(&a, "preference-applied")), (200, None));
    // The JSON /batch dialect.
    let f = fixture(
        BatchConfig::default()
            .with_dialect(Dialect::Batch(&batchpart::batch::dialect::JsonBatch))
            .with_service_root(Some("/".into()))
            .with_respond_async(Some(spawn_on_tokio())),
    );
    let json = r#"{"requests":[{"method":"get","path":"/service/quick"}]}"#;
    let mut req = batch(json, true, true, None);
    *req.uri_mut() = "/batch".parse().unwrap();
    let a = call(&f.svc, req).await;
    assert_eq!((a.status, header(&a, "preference-applied")), (200, None));
}

/// The stored answer of a run that its spawner dropped (a runtime shutting down).
async fn dropped_run_answer(f: &Fixture, location: &str) -> Vec<(u16, Option<String>, Bytes)> {
    let done = finished(f, location, None).await;
    assert_eq!(done.status, 200);
    let MonitorAnswer::Done(r) =
        read_monitor(200, &done.headers, done.body, SystemTime::now()).unwrap()
    else {
        panic!("not done")
    };
    assert_eq!(r.status, 200, "the batch's own status");
    let ct = r.headers.get_str("content-type").unwrap().to_string();
    ops(&ct, r.body)
        .into_iter()
        .map(|(status, id, _, body)| (status, id, body))
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn a_run_its_spawner_drops_unpolled_says_so_at_its_monitor() {
    let dropping = AsyncBatches::new(Arc::new(drop));
    let f = fixture(BatchConfig::default().with_respond_async(Some(dropping)));
    let location = submit(&f, &multipart(&["POST items HTTP/1.1\r\n"]), false, None).await;
    let got = dropped_run_answer(&f, &location).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, 500);
    let msg = String::from_utf8_lossy(&got[0].2);
    assert!(msg.contains("dropped before it finished"), "{msg}");
    assert_eq!(f.seen.writes.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_run_dropped_midway_keeps_the_answers_of_what_ran() {
    // The spawner drops the run when told: as a runtime shutting down would.
    let stop = Arc::new(tokio::sync::Notify::new());
    let signal = stop.clone();
    let spawn = AsyncBatches::new(Arc::new(move |run| {
        let stop = signal.clone();
        drop(tokio::spawn(async move {
            tokio::select! {
                _ = run => {}
                _ = stop.notified() => {}
            }
        }));
    }));
    let f = fixture(BatchConfig::default().with_respond_async(Some(spawn)));
    let body = multipart(&[
        "GET quick HTTP/1.1\r\n",
        "GET hold HTTP/1.1\r\n",
        "POST items HTTP/1.1\r\n",
    ]);
    let location = submit(&f, &body, false, None).await;
    until_held(&f.seen, 1).await;
    stop.notify_one();
    let got = dropped_run_answer(&f, &location).await;
    let statuses: Vec<u16> = got.iter().map(|o| o.0).collect();
    assert_eq!(statuses, [200, 500], "{got:?}");
    assert_eq!(got[0].1.as_deref(), Some("1"));
    assert_eq!(&got[0].2[..], b"{\"quick\":true}");
    let msg = String::from_utf8_lossy(&got[1].2);
    assert!(
        msg.contains("the answers above are the operations that ran"),
        "{msg}"
    );
    assert_eq!(
        f.seen.writes.load(Ordering::SeqCst),
        0,
        "the POST never ran"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_accepted_answer_names_its_version_and_the_result_pairs_with_the_request() {
    let f = with_async();
    let body = multipart(&["GET quick HTTP/1.1\r\n", "POST items HTTP/1.1\r\n"]);
    let a = call(&f.svc, batch(&body, false, true, None)).await;
    assert_eq!(a.status, 202);
    assert_eq!(
        header(&a, "odata-version"),
        Some("4.01"),
        "the default version"
    );
    let location = header(&a, "location").unwrap().to_string();
    let done = finished(&f, &location, None).await;
    let MonitorAnswer::Done(r) =
        read_monitor(200, &done.headers, done.body, SystemTime::now()).unwrap()
    else {
        panic!("not done")
    };
    let ct = r.headers.get_str("content-type").unwrap().to_string();
    let answer: BatchResponse = read_multipart(r.body, ct.as_bytes(), None).unwrap();
    let request: batchpart::batch::BatchRequest =
        read_multipart(Bytes::from(body), &b"multipart/mixed; boundary=b"[..], None).unwrap();
    let pairs = batchpart::batch::correlate(&request, &answer);
    let statuses: Vec<u16> = pairs
        .pairs
        .iter()
        .map(|p| p.response.unwrap().1.status)
        .collect();
    assert_eq!(statuses, [200, 201]);
}

/// A store that counts what the service asks of it, over the in-memory one.
struct Counting {
    inner: MemoryStore,
    finished: AtomicUsize,
}

impl batchpart::server::MonitorStore for Counting {
    fn begin(
        &self,
        id: batchpart::server::MonitorId,
        owner: batchpart::server::Identity,
        room: u64,
        now: std::time::Instant,
    ) -> bool {
        self.inner.begin(id, owner, room, now)
    }
    fn finish(&self, id: batchpart::server::MonitorId, result: Bytes, now: std::time::Instant) {
        self.finished.fetch_add(1, Ordering::SeqCst);
        self.inner.finish(id, result, now)
    }
    fn get(
        &self,
        id: batchpart::server::MonitorId,
        now: std::time::Instant,
    ) -> Option<batchpart::server::Monitor> {
        self.inner.get(id, now)
    }
    fn remove(&self, id: batchpart::server::MonitorId) {
        self.inner.remove(id)
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_store_is_told_each_result_once_and_never_a_cancelled_ones() {
    let store = Arc::new(Counting {
        inner: MemoryStore::default(),
        finished: AtomicUsize::new(0),
    });
    let f = fixture(
        BatchConfig::default().with_respond_async(Some(spawn_on_tokio().with_store(store.clone()))),
    );
    let location = submit(&f, &multipart(&["GET quick HTTP/1.1\r\n"]), false, None).await;
    assert_eq!(finished(&f, &location, None).await.status, 200);
    assert_eq!(store.finished.load(Ordering::SeqCst), 1);
    let location = submit(&f, &multipart(&["GET hold HTTP/1.1\r\n"]), false, None).await;
    until_held(&f.seen, 1).await;
    let deleted = call(&f.svc, get_or_delete("DELETE", &location, None)).await;
    assert_eq!(deleted.status, 204);
    f.gate.add_permits(10);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        store.finished.load(Ordering::SeqCst),
        1,
        "a cancelled run stores nothing"
    );
}
