//! Against a server someone else wrote: gcp-storage-emulator (PyPI, pinned in
//! `tests/field/gcs/requirements.txt`, installed by `.ci/run`), Google Cloud Storage's batch
//! endpoint `/batch/storage/v1`, started on a loopback port and stopped by its process id.
//!
//! `batchpart batch send --dialect google` sends the batches; every effect is then checked
//! through the emulator's own JSON API. Its answers carry no Content-IDs (they pair by
//! position) and put each status line right after the part's MIME headers.
#![cfg(all(feature = "cli", not(fuzzing)))]

mod common;

use std::process::Command;

use common::field;

use batchpart::batch::{google, write_multipart, Batch, Item, RequestOp};
use bytes::{Buf, Bytes};
use serde_json::Value;

const BUCKET: &str = "bkt";

/// Starts the emulator on a free loopback port, or says why it cannot (and fails under
/// `CI=true`).
fn start() -> Option<Gcs> {
    if !field::python_has("gcp_storage_emulator") {
        common::skip("gcp-storage-emulator is not installed: pip install -r tests/field/gcs/requirements.txt");
        return None;
    }
    let port = field::free_port();
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "gcp_storage_emulator", "start", "--host=127.0.0.1"])
        .arg(format!("--port={port}"))
        .args(["--in-memory", &format!("--default-bucket={BUCKET}")]);
    Some(Gcs(
        field::spawn(&mut cmd, port),
        format!("127.0.0.1:{port}"),
    ))
}

/// The emulator and its address.
struct Gcs(#[allow(dead_code)] field::Server, String);

async fn upload(addr: &str, name: &str) {
    let path = format!("/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name={name}");
    let ct = [("Content-Type", "text/plain")];
    let (status, _, body) =
        common::client::send(addr, "POST", &path, &ct, format!("hello {name}")).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

/// The object's metadata by the emulator's JSON API; `None` for a 404.
async fn object(addr: &str, name: &str) -> Option<Value> {
    let path = format!("/storage/v1/b/{BUCKET}/o/{name}");
    let (status, _, body) = common::client::send(addr, "GET", &path, &[], Bytes::new()).await;
    match status {
        404 => None,
        200 => Some(serde_json::from_slice(&body).unwrap()),
        s => panic!("GET {name} answered {s}"),
    }
}

/// `batchpart batch send --dialect google` of `work`: the exit code and the printed results.
fn send_tool(addr: &str, args: &[&str], work: &Batch<RequestOp>) -> (i32, Value, String) {
    let (ct, mut body) = write_multipart(work, b"workload").unwrap();
    let body = body.copy_to_bytes(body.remaining());
    let url = format!("http://{addr}/batch/storage/v1");
    let mut all = vec![
        "batch",
        "send",
        "--dialect",
        "google",
        "--content-type",
        ct.as_str(),
    ];
    all.extend_from_slice(args);
    all.extend([url.as_str(), "-"]);
    let (code, out, err) = common::run(&common::batchpart(), &all, Some(&body));
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    (code, v, err)
}

fn op(method: &str, name: &str) -> RequestOp {
    RequestOp::new(method, format!("/storage/v1/b/{BUCKET}/o/{name}"))
}

#[tokio::test(flavor = "current_thread")]
async fn deletes_and_a_metadata_patch_pair_by_position() {
    let Some(gcs) = start() else { return };
    for name in ["a", "b"] {
        upload(&gcs.1, name).await;
    }
    let work = Batch {
        items: vec![
            Item::Op(op("DELETE", "a")),
            Item::Op(op("DELETE", "missing")),
            Item::Op(
                op("PATCH", "b")
                    .with_header("Content-Type", "application/json")
                    .with_body(r#"{"metadata":{"k":"v"}}"#),
            ),
        ],
    };
    let (code, v, err) = send_tool(&gcs.1, &[], &work);
    assert_eq!(code, 0, "{err}");
    let statuses: Vec<&Value> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["status"])
        .collect();
    assert_eq!(statuses, [204, 404, 200]);
    let patched: Value =
        serde_json::from_str(v["results"][2]["body"].as_str().unwrap().trim()).unwrap();
    assert_eq!(patched["name"], "b");
    // Read back through the emulator's own API.
    assert!(object(&gcs.1, "a").await.is_none());
    assert_eq!(object(&gcs.1, "b").await.unwrap()["metadata"]["k"], "v");
    // One operation, answered 404 without a Content-ID (the emulator echoes none): that
    // operation's answer, not a batch failed whole.
    let one = Batch {
        items: vec![Item::Op(op("DELETE", "missing"))],
    };
    let (code, v, err) = send_tool(&gcs.1, &[], &one);
    assert_eq!(
        (code, &v["results"][0]["status"]),
        (0, &Value::from(404)),
        "{err}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_hundred_and_fifty_deletes_go_in_two_batches() {
    let Some(gcs) = start() else { return };
    let names: Vec<String> = (0..150).map(|i| format!("o{i:03}")).collect();
    for n in &names {
        upload(&gcs.1, n).await;
    }
    let work = Batch {
        items: names.iter().map(|n| Item::Op(op("DELETE", n))).collect(),
    };
    let (code, v, err) = send_tool(&gcs.1, &["--max-operations", "100"], &work);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["batches"], 2);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 150);
    assert!(results.iter().all(|r| r["status"] == 204), "{v}");
    let path = format!("/storage/v1/b/{BUCKET}/o");
    let (_, _, body) = common::client::send(&gcs.1, "GET", &path, &[], Bytes::new()).await;
    let list: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        list["items"].as_array().is_none_or(|a| a.is_empty()),
        "{list}"
    );
}

/// The port of OpenDAL's GCS batch delete (`examples/gcs_batch_delete.rs`): 120 objects, two
/// of them missing, in batches of 100; one line per object with its status, in order, and the
/// objects gone by the emulator's own listing.
#[tokio::test(flavor = "current_thread")]
async fn the_batch_delete_port() {
    let Some(gcs) = start() else { return };
    let names: Vec<String> = (0..120).map(|i| format!("dir/obj {i}")).collect();
    for n in names
        .iter()
        .filter(|n| !n.ends_with(" 7") && !n.ends_with(" 99"))
    {
        upload(&gcs.1, &n.replace(' ', "%20").replace('/', "%2F")).await;
    }
    let endpoint = format!("http://{}", gcs.1);
    let mut args = vec!["--endpoint", endpoint.as_str(), "--bucket", BUCKET];
    args.extend(names.iter().map(String::as_str));
    let (code, out, err) = common::run(&common::example("gcs_batch_delete"), &args, None);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 120);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["object"], names[i]);
        let expected = if i == 7 || i == 99 { 404 } else { 204 };
        assert_eq!(l["status"], expected, "{l}");
    }
    let path = format!("/storage/v1/b/{BUCKET}/o");
    let (_, _, body) = common::client::send(&gcs.1, "GET", &path, &[], Bytes::new()).await;
    let list: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        list["items"].as_array().map_or(true, |a| a.is_empty()),
        "{list}"
    );
    // A usage error.
    let (code, _, _) = common::run(
        &common::example("gcs_batch_delete"),
        &["--bucket", "b"],
        None,
    );
    assert_eq!(code, 2);
}

/// The batch that google-cloud-storage's `client.batch()` sends, captured on loopback: LF-only
/// framing, a quoted boundary holding `=`, no Content-IDs, absolute URLs. The crate reads it;
/// the answer the crate writes is read back by the client itself, paired by position.
#[test]
fn the_python_client_batch_reads_and_is_answered() {
    if !field::python_has("google.cloud.storage") {
        common::skip("google-cloud-storage is not installed: pip install -r tests/field/gcs/requirements.txt");
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let answer = Batch {
        items: vec![
            Item::Op(batchpart::batch::ResponseOp::new(204)),
            Item::Op(
                batchpart::batch::ResponseOp::new(404)
                    .with_header("Content-Type", "application/json")
                    .with_body(r#"{"error":{"code":404,"message":"No such object: bkt/b c"}}"#),
            ),
            Item::Op(
                batchpart::batch::ResponseOp::new(200)
                    .with_header("Content-Type", "application/json")
                    .with_body(r#"{"name":"d","bucket":"bkt","metadata":{"k":"v"}}"#),
            ),
        ],
    };
    // Answers whatever the client asks, on any connection (it may also read the bucket), and
    // the batch with the crate's answer; keeps the batch request as it came.
    let captured = std::sync::Arc::new(std::sync::Mutex::new(None));
    let keep = captured.clone();
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let (conn, keep, answer) = (conn.unwrap(), keep.clone(), answer.clone());
            std::thread::spawn(move || serve(conn, &answer, &keep));
        }
    });
    let script = "tests/field/gcs/client_batch.py";
    let (code, out, err) = common::run(
        std::path::Path::new("python3"),
        &[script, &port.to_string()],
        None,
    );
    let (ct, body): (String, Bytes) = captured.lock().unwrap().take().expect("the batch came");
    // What the client sent, read by the crate.
    assert!(ct.starts_with("multipart/mixed; boundary=\"==="), "{ct}");
    assert!(!body.windows(2).any(|w| w == b"\r\n"), "LF-only framing");
    let req = google::read_request(body, ct.as_bytes(), &Default::default()).unwrap();
    let ops: Vec<_> = req.items.iter().flat_map(|i| i.ops()).collect();
    let calls: Vec<(&str, &str)> = ops
        .iter()
        .map(|o| (o.method.as_str(), o.url.as_str()))
        .collect();
    let base = format!("http://127.0.0.1:{port}/storage/v1/b/bkt/o");
    assert_eq!(
        calls,
        [
            ("DELETE", format!("{base}/a?prettyPrint=false").as_str()),
            ("DELETE", format!("{base}/b%20c?prettyPrint=false").as_str()),
            (
                "PATCH",
                format!("{base}/d?projection=full&prettyPrint=false").as_str()
            ),
        ]
    );
    assert!(ops.iter().all(|o| o.content_id.is_none()));
    let patch: Value = serde_json::from_slice(&ops[2].body).unwrap();
    assert_eq!(patch["metadata"]["k"], "v");
    // What the client read of the crate's answer.
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["204", "404", "200"],
        "{err}"
    );
}

/// Serves one connection's requests: the batch with `answer` (and keeps it in `keep`), any
/// other request with a bucket's JSON.
fn serve(
    conn: std::net::TcpStream,
    answer: &Batch<batchpart::batch::ResponseOp>,
    keep: &std::sync::Mutex<Option<(String, Bytes)>>,
) {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    loop {
        let mut start = String::new();
        if reader.read_line(&mut start).unwrap_or(0) == 0 {
            return;
        }
        let (mut ct, mut len) = (String::new(), 0usize);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((n, v)) = line.split_once(':') {
                match n.to_ascii_lowercase().as_str() {
                    "content-type" => ct = v.trim().to_string(),
                    "content-length" => len = v.trim().parse().unwrap(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (rct, out) = if start.starts_with("POST /batch/storage/v1 ") {
            keep.lock().unwrap().get_or_insert((ct, Bytes::from(body)));
            let (rct, mut out) = google::write_response(answer, b"batch_answer").unwrap();
            (rct, out.copy_to_bytes(out.remaining()))
        } else {
            (
                "application/json".into(),
                Bytes::from_static(br#"{"name":"bkt"}"#),
            )
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {rct}\r\nContent-Length: {}\r\n\r\n",
            out.len()
        );
        if conn.write_all(head.as_bytes()).is_err() || conn.write_all(&out).is_err() {
            return;
        }
    }
}

/// google-cloud-storage's own `client.batch()` against the emulator reports, call by call, the
/// statuses that `batch send --dialect google` reports for the same operations on a twin
/// emulator.
#[tokio::test(flavor = "current_thread")]
async fn the_python_clients_batch_reports_what_ours_reports() {
    if !field::python_has("google.cloud.storage") {
        common::skip("google-cloud-storage is not installed: pip install -r tests/field/gcs/requirements.txt");
        return;
    }
    let (Some(ours), Some(theirs)) = (start(), start()) else {
        return;
    };
    for gcs in [&ours, &theirs] {
        for name in ["a", "d"] {
            upload(&gcs.1, name).await;
        }
    }
    let work = Batch {
        items: vec![
            Item::Op(op("DELETE", "a")),
            Item::Op(op("DELETE", "b%20c")),
            Item::Op(
                op("PATCH", "d")
                    .with_header("Content-Type", "application/json")
                    .with_body(r#"{"metadata":{"k":"v"}}"#),
            ),
        ],
    };
    let (code, v, err) = send_tool(&ours.1, &[], &work);
    assert_eq!(code, 0, "{err}");
    let mine: Vec<u64> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    let port = theirs.1.rsplit(':').next().unwrap().to_string();
    let script = "tests/field/gcs/client_batch.py";
    let (code, out, err) = common::run(std::path::Path::new("python3"), &[script, &port], None);
    assert_eq!(code, 0, "{err}");
    let sdk: Vec<u64> = out.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(mine, [204, 404, 200]);
    assert_eq!(mine, sdk);
    for gcs in [&ours, &theirs] {
        assert!(object(&gcs.1, "a").await.is_none());
        assert_eq!(object(&gcs.1, "d").await.unwrap()["metadata"]["k"], "v");
    }
}
