//! Asynchronous batches against `batchpart server` over loopback, with a real HTTP client:
//! `202` before the held operation is released, the monitor's `202` then its `200
//! application/http` holding what the synchronous answer holds, a DELETE that keeps a queued
//! POST from running, and no change without the preference or with `--no-async`.
//! `--hold-delays` holds every delay operation until the test releases it, so nothing here
//! depends on timing.
#![cfg(feature = "cli")]

mod common;

use std::time::{Duration, SystemTime};

use batchpart::batch::{read_json, read_monitor, read_multipart, Headers, MonitorAnswer};
use bytes::Bytes;
use common::client::exchange;
use common::demo::start_with;

const MULTIPART: &str = "--b\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\n\
    GET delay/800 HTTP/1.1\r\n\r\n\r\n\
    --b\r\nContent-Type: application/http\r\nContent-ID: 2\r\n\r\n\
    POST People HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"Name\":\"Ada\"}\r\n\
    --b--\r\n";

const JSON: &str = r#"{"requests":[
    {"id":"1","method":"GET","url":"delay/800"},
    {"id":"2","method":"POST","url":"People","dependsOn":["1"],
     "headers":{"content-type":"application/json"},"body":{"Name":"Ada"}}]}"#;

fn headers_of(h: &hyper::HeaderMap) -> Headers {
    let mut out = Headers::new();
    for (n, v) in h {
        out.push(n.as_str(), v.as_bytes());
    }
    out
}

async fn post_batch(addr: &str, json: bool, body: &str, prefer: bool) -> (u16, Headers, Bytes) {
    let ct = if json {
        "application/json"
    } else {
        "multipart/mixed; boundary=b"
    };
    let mut h = vec![("Content-Type", ct)];
    if prefer {
        h.push(("Prefer", "respond-async"));
    }
    let (s, h, b) = exchange(addr, "POST", "/service/$batch", &h, body.to_string()).await;
    (s, headers_of(&h), b)
}

async fn call(addr: &str, method: &str, path: &str) -> (u16, Headers, Bytes) {
    let (s, h, b) = exchange(addr, method, path, &[], Bytes::new()).await;
    (s, headers_of(&h), b)
}

/// The operations of an answer, which do not depend on its boundary.
fn ops(ct: &str, body: Bytes) -> Vec<(u16, Option<String>, Bytes)> {
    let r: batchpart::batch::BatchResponse = if ct.starts_with("application/json") {
        read_json(body, None).unwrap()
    } else {
        read_multipart(body, ct.as_bytes(), None).unwrap()
    };
    r.items
        .iter()
        .flat_map(|i| i.ops())
        .map(|o| {
            (
                o.status,
                o.content_id.as_deref().map(str::to_owned),
                o.body.clone(),
            )
        })
        .collect()
}

async fn held_then_released(json: bool) {
    let server = start_with(&["--hold-delays"], None);
    let addr = server.1.clone();
    let body = if json { JSON } else { MULTIPART };
    let (status, h, b) = post_batch(&addr, json, body, true).await;
    // The delay operation is held until the release below: this 202 came first.
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&b));
    assert_eq!(h.get_str("preference-applied"), Some("respond-async"));
    assert!(h.get_str("retry-after").is_some());
    let location = h.get_str("location").unwrap().to_string();
    assert!(location.starts_with("/service/$monitor/"), "{location}");
    let (status, h, _) = call(&addr, "GET", &location).await;
    assert_eq!(status, 202, "running");
    assert!(h.get_str("retry-after").is_some());
    assert_eq!(call(&addr, "POST", "/delay/release").await.0, 204);
    let (h, b) = loop {
        let (status, h, b) = call(&addr, "GET", &location).await;
        if status == 200 {
            break (h, b);
        }
        assert_eq!(status, 202);
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(h.get_str("content-type"), Some("application/http"));
    let MonitorAnswer::Done(stored) = read_monitor(200, &h, b, SystemTime::now()).unwrap() else {
        panic!("not done")
    };
    // The synchronous answer of the same batch, on a fresh server.
    let fresh = start_with(&[], None);
    let (status, h, b) = post_batch(&fresh.1, json, body, false).await;
    assert_eq!(stored.status, status);
    let (sct, ct) = (
        stored.headers.get_str("content-type").unwrap().to_string(),
        h.get_str("content-type").unwrap().to_string(),
    );
    assert_eq!(sct.split(';').next(), ct.split(';').next());
    assert_eq!(
        stored.headers.get_str("odata-version"),
        h.get_str("odata-version")
    );
    let (stored, sync) = (ops(&sct, stored.body), ops(&ct, b));
    assert_eq!(stored, sync);
    assert_eq!(stored.iter().map(|o| o.0).collect::<Vec<_>>(), [200, 201]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_multipart_batch_is_accepted_then_answered_through_its_monitor() {
    held_then_released(false).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_json_batch_is_accepted_then_answered_through_its_monitor() {
    held_then_released(true).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_delete_while_a_delay_runs_keeps_the_queued_post_from_running() {
    let server = start_with(&["--hold-delays"], None);
    let addr = server.1.clone();
    let body = MULTIPART.replace("delay/800", "delay/3000");
    let (status, h, _) = post_batch(&addr, false, &body, true).await;
    assert_eq!(status, 202);
    let location = h.get_str("location").unwrap().to_string();
    assert_eq!(call(&addr, "GET", &location).await.0, 202);
    // The delay is held (its 3 s, then the closed gate): the POST after it is queued.
    let (status, _, _) = call(&addr, "DELETE", &location).await;
    assert_eq!(status, 204);
    assert_eq!(call(&addr, "POST", "/delay/release").await.0, 204);
    assert_eq!(call(&addr, "GET", &location).await.0, 404);
    // Had the POST run, People(1) would exist; a later POST would be People(2).
    assert_eq!(call(&addr, "GET", "/service/People(1)").await.0, 404);
    let (s, _, _) = exchange(
        &addr,
        "POST",
        "/service/People",
        &[("Content-Type", "application/json")],
        "{\"Name\":\"Bo\"}",
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(call(&addr, "GET", "/service/People(1)").await.0, 200);
}

#[tokio::test(flavor = "current_thread")]
async fn without_the_preference_or_with_no_async_nothing_changes() {
    let body = MULTIPART.replace("delay/800", "delay/1");
    for (args, prefer) in [(&[][..], false), (&["--no-async"][..], true)] {
        let server = start_with(args, None);
        let (status, h, b) = post_batch(&server.1, false, &body, prefer).await;
        assert_eq!(status, 200, "{args:?}");
        assert_eq!(h.get_str("preference-applied"), None);
        assert_eq!(h.get_str("location"), None);
        let ct = h.get_str("content-type").unwrap().to_string();
        assert_eq!(ops(&ct, b).len(), 2);
    }
}

/// `batch send --async` prints what a synchronous `batch send` prints, against a server that
/// runs the batch asynchronously and against one that ignores the preference.
#[test]
fn batch_send_async_prints_what_the_synchronous_send_prints() {
    let work = br#"{"requests":[
        {"id":"1","method":"POST","url":"People","headers":{"content-type":"application/json"},"body":{"Name":"Ada"}},
        {"id":"2","method":"GET","url":"People(1)"},
        {"id":"3","method":"GET","url":"delay/5"}]}"#;
    let send = |args: &[&str], server: &[&str]| {
        let s = start_with(server, None);
        let url = format!("http://{}/service/$batch", s.1);
        let mut all = vec!["send", "--max-wait", "0"];
        all.extend_from_slice(args);
        all.extend([url.as_str(), "-"]);
        let (code, out, err) = common::run_tool("batch", &all, Some(work));
        assert_eq!(code, 0, "{args:?} {server:?}: {err}");
        out
    };
    let sync = send(&[], &[]);
    let v: serde_json::Value = serde_json::from_str(&sync).unwrap();
    let statuses: Vec<_> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 200, 200]);
    for format in [&[][..], &["--format", "json"][..]] {
        let sync = send(format, &[]);
        let mut args = format.to_vec();
        args.push("--async");
        assert_eq!(send(&args, &[]), sync, "{format:?}");
        assert_eq!(send(&args, &["--no-async"]), sync, "{format:?}");
    }
}
