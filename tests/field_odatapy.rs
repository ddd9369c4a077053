//! Against a second OData V4 server someone else wrote: odatapy (PyPI, a Python port of Apache
//! Olingo, pinned in `tests/field/odatapy/requirements.txt`, installed by `.ci/run`), serving
//! one entity set from its in-memory store under `wsgiref` (`tests/field/odatapy/server.py`),
//! started on a loopback port and stopped by its process id.
//!
//! `batchpart batch send` sends multipart and 4.01 JSON batches, synchronously and with
//! `--async` through odatapy's own status monitors (`$async/<token>`); every effect is then
//! checked through the service's own REST API.
#![cfg(all(feature = "cli", not(fuzzing)))]

mod common;

use std::process::Command;

use bytes::Bytes;
use common::field;
use serde_json::Value;

/// Starts odatapy on a free loopback port, or says why it cannot (and fails under `CI=true`).
fn start() -> Option<Odatapy> {
    if !field::python_has("odatapy") {
        common::skip(
            "odatapy is not installed: pip install -r tests/field/odatapy/requirements.txt",
        );
        return None;
    }
    let port = field::free_port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/field/odatapy/server.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script).arg(port.to_string());
    Some(Odatapy(
        field::spawn(&mut cmd, port),
        format!("127.0.0.1:{port}"),
    ))
}

/// The server and its address.
struct Odatapy(#[allow(dead_code)] field::Server, String);

impl Odatapy {
    fn batch_url(&self) -> String {
        format!("http://{}/odata/$batch", self.1)
    }

    /// A book as the service's REST API has it: `(title, stock)`, `None` for a 404.
    async fn book(&self, id: u32) -> Option<(String, i64)> {
        let path = format!("/odata/Books({id})");
        let (status, _, body) =
            common::client::send(&self.1, "GET", &path, &[], Bytes::new()).await;
        match status {
            404 => None,
            200 => {
                let v: Value = serde_json::from_slice(&body).unwrap();
                Some((
                    v["title"].as_str().unwrap().into(),
                    v["stock"].as_i64().unwrap(),
                ))
            }
            s => panic!(
                "GET Books({id}) answered {s}: {}",
                String::from_utf8_lossy(&body)
            ),
        }
    }
}

/// `batchpart batch send ARGS URL -` with `input` on stdin: exit code, printed results,
/// stderr.
fn send_tool(url: &str, args: &[&str], input: &str) -> (i32, Value, String) {
    let mut all = vec!["batch", "send", "--max-wait", "1"];
    all.extend_from_slice(args);
    all.extend([url, "-"]);
    let (code, out, err) = common::run(&common::batchpart(), &all, Some(input.as_bytes()));
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    (code, v, err)
}

fn statuses(v: &Value) -> Vec<Option<u64>> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64())
        .collect()
}

const MULTIPART: &[&str] = &["--content-type", "multipart/mixed; boundary=b"];

fn post(id: u32, title: &str) -> String {
    format!(
        "POST Books HTTP/1.1\r\nContent-Type: application/json\r\n\r\n\
         {{\"ID\":{id},\"title\":\"{title}\",\"stock\":1}}"
    )
}

/// A multipart batch: one changeset of these operations (Content-IDs from 1), then a GET.
fn changeset_then_get(ops: &[String], get: &str) -> String {
    let mut s = "--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n".to_string();
    for (i, op) in ops.iter().enumerate() {
        s += &format!(
            "--cs\r\nContent-Type: application/http\r\nContent-ID: {}\r\n\r\n{op}\r\n",
            i + 1
        );
    }
    s + &format!("--cs--\r\n--b\r\nContent-Type: application/http\r\n\r\n{get}\r\n\r\n--b--\r\n")
}

/// A 4.01 JSON batch: one atomicity group of inserts, then a GET.
fn group_then_get(ids: &[u32], get: &str) -> String {
    let mut reqs: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            serde_json::json!({"id": (i + 1).to_string(), "atomicityGroup": "g", "method": "POST",
                "url": "Books", "headers": {"content-type": "application/json"},
                "body": {"ID": id, "title": format!("t{id}"), "stock": 1}})
        })
        .collect();
    reqs.push(serde_json::json!({"id": "r", "method": "GET", "url": get}));
    serde_json::json!({ "requests": reqs }).to_string()
}

#[tokio::test(flavor = "current_thread")]
async fn a_changeset_with_a_reference_commits() {
    let Some(s) = start() else { return };
    let patch = "PATCH $1 HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"stock\":5}".into();
    let body = changeset_then_get(&[post(1, "A"), patch], "GET Books(1) HTTP/1.1\r\n");
    let (code, v, err) = send_tool(&s.batch_url(), MULTIPART, &body);
    assert_eq!(code, 0, "{err}");
    assert_eq!(statuses(&v), [Some(201), Some(204), Some(200)]);
    let got: Value = serde_json::from_str(v["results"][2]["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        got["stock"], 5,
        "the GET after the changeset sees the PATCH"
    );
    assert_eq!(s.book(1).await, Some(("A".into(), 5)));
}

#[tokio::test(flavor = "current_thread")]
async fn a_failing_changeset_rolls_back_whole() {
    let Some(s) = start() else { return };
    // The second POST repeats the key: the changeset fails, and the first is undone.
    let body = changeset_then_get(&[post(2, "A"), post(2, "B")], "GET Books HTTP/1.1\r\n");
    let (code, v, err) = send_tool(
        &s.batch_url(),
        &[MULTIPART, &["--header", "Prefer: odata.continue-on-error"]].concat(),
        &body,
    );
    assert_eq!(code, 0, "{err}");
    // One error answers the changeset; each of its operations carries it.
    assert_eq!(statuses(&v), [Some(409), Some(409), Some(200)]);
    assert_eq!(s.book(2).await, None);
}

#[tokio::test(flavor = "current_thread")]
async fn a_json_batch_with_an_atomicity_group() {
    let Some(s) = start() else { return };
    let json = ["--format", "json"];
    let (code, v, err) = send_tool(&s.batch_url(), &json, &group_then_get(&[3, 4], "Books(3)"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(statuses(&v), [Some(201), Some(201), Some(200)]);
    assert_eq!(s.book(4).await, Some(("t4".into(), 1)));
    // A group that fails (its second insert repeats a key) is undone whole, and the GET
    // that depends on it (the order `--format json` keeps) gets no answer.
    let (code, v, err) = send_tool(&s.batch_url(), &json, &group_then_get(&[5, 3], "Books(5)"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(statuses(&v), [Some(409), Some(409), None]);
    assert_eq!(s.book(5).await, None);
    assert_eq!(s.book(3).await, Some(("t3".into(), 1)));
}

/// `--async` follows odatapy's own monitors (`Location: .../$async/<token>`, `Retry-After:
/// 1`, an `application/http` result without `Content-Length`) and prints what a synchronous
/// send prints.
#[tokio::test(flavor = "current_thread")]
async fn batch_send_async_follows_the_servers_status_monitors() {
    let Some(s) = start() else { return };
    let cases: [(&[&str], String); 2] = [
        (
            MULTIPART,
            changeset_then_get(&[post(10, "M")], "GET Books(10) HTTP/1.1\r\n"),
        ),
        (&["--format", "json"], group_then_get(&[20], "Books(20)")),
    ];
    for ((args, body), id) in cases.into_iter().zip([10, 20]) {
        let (code, stored, err) = send_tool(&s.batch_url(), &[args, &["--async"]].concat(), &body);
        assert_eq!(code, 0, "{err}");
        assert_eq!(statuses(&stored), [Some(201), Some(200)], "{stored}");
        let got = stored["results"][1]["body"].as_str().unwrap();
        assert!(got.contains(&format!("\"ID\":{id}")), "{got}");
        // The same batch again, synchronously, finds the key taken: the async one ran.
        let (_, again, _) = send_tool(&s.batch_url(), args, &body);
        assert_eq!(statuses(&again)[0], Some(409), "{again}");
    }
    assert_eq!(s.book(10).await, Some(("M".into(), 1)));
    assert_eq!(s.book(20).await, Some(("t20".into(), 1)));
}
