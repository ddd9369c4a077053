//! Against a server someone else wrote: SAP CAP (`@sap/cds`, pinned in
//! `tests/field/cap/package.json`, installed by `.ci/run` with `npm ci`), an OData V4 service
//! over an in-memory SQLite, started on a loopback port and stopped by its process id.
//!
//! Batches are written with the crate, sent over HTTP, answered by CAP, read back with the
//! crate and paired with `correlate`; every effect is then checked through CAP's own REST API,
//! never through our reader alone.
#![cfg(all(feature = "batch", feature = "json"))]

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use batchpart::batch::{
    correlate, read_json, read_multipart, split, write_json, write_multipart, Batch, BatchRequest,
    BatchResponse, Changeset, Item, RequestOp, SplitLimits, Wire,
};
use bytes::{Buf, Bytes};
use serde_json::Value;

const ROOT: &str = "/odata/v4/catalog/";

/// The CAP server, killed and reaped by its process id on drop.
type Cap = common::field::Server;

/// Starts CAP on a free loopback port, or says why it cannot (and fails under `CI=true`).
fn start() -> Option<Cap> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/field/cap");
    let serve = dir.join("node_modules/@sap/cds/bin/serve.js");
    if !serve.exists() {
        common::skip("SAP CAP is not installed: run `npm ci` in tests/field/cap");
        return None;
    }
    let mut child = Command::new("node")
        .arg(serve)
        .current_dir(&dir)
        .env("PORT", "0")
        .env("CDS_LOG_LEVELS_CLI", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // `[cds] - server listening on { url: 'http://localhost:NNNN' }`
    let port = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            let rest = l.split("url: 'http://localhost:").nth(1)?;
            rest.split('\'').next()?.parse::<u16>().ok()
        })
        .expect("CAP prints the port it listens on");
    // CAP logs every request: keep its stdout drained, or a closed pipe ends it.
    std::thread::spawn(move || lines.for_each(drop));
    Some(common::field::Server(child, port))
}

/// One request to CAP.
async fn send(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> (u16, String, Bytes) {
    common::client::send(&format!("127.0.0.1:{port}"), method, path, headers, body).await
}

/// A multipart batch: written by the crate, answered by CAP, read back by the crate.
async fn batch(port: u16, requests: &BatchRequest, prefer: Option<&str>) -> BatchResponse {
    let (ct, mut body) = write_multipart(requests, b"batch_field_cap").unwrap();
    let body = body.copy_to_bytes(body.remaining());
    let mut headers = vec![("Content-Type", ct.as_str())];
    headers.extend(prefer.map(|p| ("Prefer", p)));
    let path = format!("{ROOT}$batch");
    let (status, ct, answer) = send(port, "POST", &path, &headers, body).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    read_multipart(answer, ct.as_bytes(), None).unwrap()
}

/// What CAP's REST API says of a book: `None` for a 404.
async fn book(port: u16, id: u32) -> Option<Value> {
    let (status, _, body) = send(
        port,
        "GET",
        &format!("{ROOT}Books({id})"),
        &[],
        Bytes::new(),
    )
    .await;
    match status {
        404 => None,
        200 => Some(serde_json::from_slice(&body).unwrap()),
        s => panic!("GET Books({id}) answered {s}"),
    }
}

fn post(id: u32, cid: &str) -> RequestOp {
    RequestOp::new("POST", "Books")
        .with_header("Content-Type", "application/json")
        .with_body(format!("{{\"ID\":{id},\"title\":\"t{id}\",\"stock\":1}}"))
        .with_content_id(cid)
}

/// Each request's answer status, paired by the crate's correlator.
fn paired_statuses(requests: &BatchRequest, responses: &BatchResponse) -> Vec<Option<u16>> {
    let c = correlate(requests, responses);
    c.pairs
        .iter()
        .map(|p| p.response.map(|(_, r)| r.status))
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn a_changeset_with_a_reference_commits() {
    let Some(cap) = start() else { return };
    let requests = Batch {
        items: vec![
            Item::Changeset(Changeset {
                id: None,
                ops: vec![
                    post(1, "1"),
                    RequestOp::new("PATCH", "$1")
                        .with_header("Content-Type", "application/json")
                        .with_body("{\"stock\":5}")
                        .with_content_id("2"),
                ],
            }),
            Item::Op(RequestOp::new("GET", "Books(1)").with_content_id("3")),
        ],
    };
    let responses = batch(cap.1, &requests, None).await;
    assert_eq!(
        paired_statuses(&requests, &responses),
        [Some(201), Some(200), Some(200)]
    );
    let stored = book(cap.1, 1).await.expect("the POST was committed");
    assert_eq!(
        (stored["title"].as_str(), stored["stock"].as_i64()),
        (Some("t1"), Some(5))
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_failing_changeset_rolls_back_whole() {
    let Some(cap) = start() else { return };
    // The second POST repeats the key: the changeset fails, and the first is undone.
    let requests = Batch {
        items: vec![Item::Changeset(Changeset {
            id: None,
            ops: vec![post(10, "1"), post(10, "2")],
        })],
    };
    let responses = batch(cap.1, &requests, None).await;
    let ops: Vec<_> = responses.items.iter().flat_map(|i| i.ops()).collect();
    assert_eq!(ops.len(), 1, "one answer for the whole changeset");
    assert!(ops[0].status >= 400, "{}", ops[0].status);
    assert!(book(cap.1, 10).await.is_none(), "half applied");
}

#[tokio::test(flavor = "current_thread")]
async fn continue_on_error_and_stop_at_the_first_failure() {
    let Some(cap) = start() else { return };
    let with = |id| Batch {
        items: vec![
            Item::Op(RequestOp::new("GET", "Books(999)").with_content_id("1")),
            Item::Op(post(id, "2")),
        ],
    };
    // Without the preference the batch stops at the 404: the POST never runs.
    let stop = with(21);
    let responses = batch(cap.1, &stop, None).await;
    assert_eq!(paired_statuses(&stop, &responses), [Some(404), None]);
    assert!(book(cap.1, 21).await.is_none());
    // With it, the POST runs.
    let go_on = with(20);
    let responses = batch(cap.1, &go_on, Some("odata.continue-on-error")).await;
    assert_eq!(paired_statuses(&go_on, &responses), [Some(404), Some(201)]);
    assert!(book(cap.1, 20).await.is_some());
}

#[tokio::test(flavor = "current_thread")]
async fn a_json_batch_with_an_atomicity_group() {
    let Some(cap) = start() else { return };
    let mut patch = RequestOp::new("PATCH", "$a")
        .with_header("Content-Type", "application/json")
        .with_body("{\"stock\":9}")
        .with_content_id("b");
    patch.depends_on = vec!["a".into()];
    let requests = Batch {
        items: vec![Item::Changeset(Changeset {
            id: Some("g".into()),
            ops: vec![post(30, "a"), patch],
        })],
    };
    let body = write_json(&requests).unwrap();
    let path = format!("{ROOT}$batch");
    let ct = [("Content-Type", "application/json")];
    let (status, _, answer) = send(cap.1, "POST", &path, &ct, Bytes::from(body)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let responses: BatchResponse = read_json(answer, None).unwrap();
    assert_eq!(
        paired_statuses(&requests, &responses),
        [Some(201), Some(200)]
    );
    assert!(matches!(&responses.items[0], Item::Changeset(c) if c.id.as_deref() == Some("g")));
    assert_eq!(book(cap.1, 30).await.unwrap()["stock"], 9);
}

#[tokio::test(flavor = "current_thread")]
async fn a_workload_split_into_several_batches() {
    let Some(cap) = start() else { return };
    let work = Batch {
        items: (0..250)
            .map(|i| Item::Op(post(1000 + i, &format!("w{i}"))))
            .collect(),
    };
    let limits = SplitLimits::default()
        .with_max_operations(100)
        .with_wire(Wire::Multipart);
    let plans = split(&work, limits).unwrap();
    assert_eq!(plans.len(), 3);
    let mut answered = 0;
    for plan in &plans {
        let responses = batch(cap.1, &plan.batch, None).await;
        let statuses = paired_statuses(&plan.batch, &responses);
        assert!(statuses.iter().all(|s| *s == Some(201)), "{statuses:?}");
        answered += statuses.len();
    }
    assert_eq!(answered, 250);
    let path = format!("{ROOT}Books?$count=true&$top=0&$filter=ID%20ge%201000");
    let (_, _, body) = send(cap.1, "GET", &path, &[], Bytes::new()).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["@odata.count"], 250);
}

/// `batchpart batch send URL -` with `workload` on stdin: the exit code and the printed
/// results.
#[cfg(feature = "cli")]
fn send_tool(port: u16, args: &[&str], workload: &str) -> (i32, Value, String) {
    let url = format!("http://127.0.0.1:{port}{ROOT}$batch");
    let mut all = vec!["batch", "send"];
    all.extend_from_slice(args);
    all.extend([url.as_str(), "-"]);
    let (code, out, err) = common::run(&common::batchpart(), &all, Some(workload.as_bytes()));
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    (code, v, err)
}

#[cfg(feature = "cli")]
fn statuses(v: &Value) -> Vec<Value> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].clone())
        .collect()
}

/// A multipart workload with a changeset and a `$1` reference, sent by the tool: CAP commits
/// it, and its REST API shows the PATCH applied to the row the POST made.
#[cfg(feature = "cli")]
#[tokio::test(flavor = "current_thread")]
async fn batch_send_a_changeset_with_a_reference() {
    let Some(cap) = start() else { return };
    let work = Batch {
        items: vec![
            Item::Changeset(Changeset {
                id: None,
                ops: vec![
                    post(501, "1"),
                    RequestOp::new("PATCH", "$1")
                        .with_header("Content-Type", "application/json")
                        .with_body("{\"stock\":7}")
                        .with_content_id("2"),
                ],
            }),
            Item::Op(RequestOp::new("GET", "Books(501)").with_content_id("3")),
        ],
    };
    let (_, mut body) = write_multipart(&work, b"wl").unwrap();
    let text = String::from_utf8(body.copy_to_bytes(body.remaining()).to_vec()).unwrap();
    let (code, v, err) = send_tool(
        cap.1,
        &["--content-type", "multipart/mixed; boundary=wl"],
        &text,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        (v["batches"].as_u64(), statuses(&v)),
        (Some(1), vec![201.into(), 200.into(), 200.into()])
    );
    let results = v["results"].as_array().unwrap();
    assert_eq!(results[1]["content_id"], "2");
    assert_eq!(results[0]["attempts"], 1);
    // The GET's answer is the row as the changeset left it.
    let got: Value = serde_json::from_str(results[2]["body"].as_str().unwrap()).unwrap();
    assert_eq!(got["stock"], 7);
    assert_eq!(book(cap.1, 501).await.unwrap()["stock"], 7);
}

/// A JSON workload of 250 operations in batches of at most 100: three batches, every row
/// there afterwards by CAP's own count.
#[cfg(feature = "cli")]
#[tokio::test(flavor = "current_thread")]
async fn batch_send_splits_a_workload() {
    let Some(cap) = start() else { return };
    let work = Batch {
        items: (0..250)
            .map(|i| Item::Op(post(2000 + i, &format!("w{i}"))))
            .collect(),
    };
    let json = write_json(&work).unwrap();
    let (code, v, err) = send_tool(
        cap.1,
        &["--format", "json", "--max-operations", "100"],
        &json,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["batches"], 3);
    assert!(statuses(&v).iter().all(|s| *s == 201), "{v}");
    assert_eq!(statuses(&v).len(), 250);
    let path = format!("{ROOT}Books?$count=true&$top=0&$filter=ID%20ge%202000");
    let (_, _, body) = send(cap.1, "GET", &path, &[], Bytes::new()).await;
    let count: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(count["@odata.count"], 250);
}

/// JSON batches run in the workload's order by default, and stop at the first failure: the
/// request after it is answered 424 and never runs. Unordered, with continue-on-error, it
/// runs.
#[cfg(feature = "cli")]
#[tokio::test(flavor = "current_thread")]
async fn batch_send_in_json_stops_at_the_first_failure_unless_asked_not_to() {
    let Some(cap) = start() else { return };
    let work = |a: u32, b: u32| Batch {
        items: vec![
            Item::Op(post(a, "1")),
            Item::Op(post(a, "2")),
            Item::Op(post(b, "3")),
        ],
    };
    let json = write_json(&work(601, 602)).unwrap();
    let (code, v, err) = send_tool(cap.1, &["--format", "json"], &json);
    assert_eq!(code, 0, "{err}");
    let s = statuses(&v);
    assert_eq!(s[0], 201, "{v}");
    assert!(s[1].as_u64().unwrap() >= 400, "{v}");
    assert_eq!(s[2], 424, "{v}");
    assert!(book(cap.1, 602).await.is_none(), "ran after the failure");
    let json = write_json(&work(611, 612)).unwrap();
    let args = [
        "--format",
        "json",
        "--unordered",
        "--header",
        "Prefer: odata.continue-on-error",
    ];
    let (code, v, err) = send_tool(cap.1, &args, &json);
    assert_eq!(code, 0, "{err}");
    let s = statuses(&v);
    assert!(
        s.contains(&201.into()) && s.iter().any(|x| x.as_u64() >= Some(400)),
        "{v}"
    );
    assert!(book(cap.1, 612).await.is_some());
}

/// A batch the server refuses as a whole: exit 1, every operation carries its status, the
/// output is still one JSON object.
#[cfg(feature = "cli")]
#[tokio::test(flavor = "current_thread")]
async fn batch_send_reports_a_batch_refused_whole() {
    let Some(cap) = start() else { return };
    let json = write_json(&Batch {
        items: vec![Item::Op(post(701, "1"))],
    })
    .unwrap();
    let url = format!("http://127.0.0.1:{}/odata/v4/nowhere/$batch", cap.1);
    let (code, out, err) = common::run(
        &common::batchpart(),
        &["batch", "send", "--format", "json", &url, "-"],
        Some(json.as_bytes()),
    );
    assert_eq!(code, 1, "{out} {err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["results"][0]["status"], 404, "{v}");
    assert!(err.contains("failed as a whole: 404"), "{err}");
    assert!(book(cap.1, 701).await.is_none());
}
