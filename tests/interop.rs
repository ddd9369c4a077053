//! Interoperability with clients and parsers that nobody here wrote, each with its own
//! serializer and its own parser: google-api-python-client and pyodata talk HTTP to a small
//! loopback server that answers with this crate's reader, executor and writer; aiohttp's and
//! Go's `mime/multipart` readers read what our writer wrote, and our reader reads what theirs
//! wrote.
//!
//! A missing toolchain or package skips its test, saying why; under `CI=true` it fails the
//! run instead (`.ci/run` installs them all).
#![cfg(feature = "batch")]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use batchpart::batch::{
    execute, handler_fn, write_multipart, Batch, BatchRequest, ExecOptions, Item, LengthMismatch,
    MultipartReader, ODataVersion, RequestOp, ResponseOp, ValidationOptions,
};
use batchpart::writer::ContentIdIn;
use batchpart::Config;
use bytes::Bytes;
use common::ready::{block_on, block_on_next};
use serde_json::{json, Value};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// Whether `cmd args` runs; if not, the test is skipped with `why`, or fails under `CI=true`.
fn available(cmd: &str, args: &[&str], why: &str) -> bool {
    let ok = Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        common::skip(why);
    }
    ok
}

fn python_has(module: &str) -> bool {
    available(
        "python3",
        &["-c", &format!("import {module}")],
        &format!("python3 cannot import {module} (pip install it)"),
    )
}

fn run(cmd: &str, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new(cmd)
        .args(args)
        .current_dir(dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// One HTTP/1.1 request as the loopback server saw it.
struct Req {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Resp {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

/// A one-connection-at-a-time HTTP/1.1 server on loopback: enough for a client test, with
/// `Connection: close` on every answer. Its thread ends with the test process.
fn serve(handler: impl Fn(Req) -> Resp + Send + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            if let Some(req) = read_request(&conn) {
                let resp = handler(req);
                let mut conn = conn;
                let head = format!(
                    "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    resp.status,
                    resp.content_type,
                    resp.body.len()
                );
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(&resp.body);
            }
        }
    });
    port
}

fn read_request(conn: &TcpStream) -> Option<Req> {
    let mut r = BufReader::new(conn);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut words = line.split_whitespace();
    let (method, path) = (words.next()?.to_string(), words.next()?.to_string());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (n, v) = h.split_once(':')?;
        headers.push((n.trim().to_string(), v.trim().to_string()));
    }
    let mut req = Req {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    let len: usize = req
        .header("content-length")
        .map_or(0, |v| v.parse().unwrap());
    req.body = vec![0; len];
    r.read_exact(&mut req.body).ok()?;
    Some(req)
}

/// Reads a batch request body with our reader, framing embedded bodies by the delimiter.
fn read_batch(
    req: &Req,
    trust_framing: bool,
    version: ODataVersion,
) -> (BatchRequest, Vec<LengthMismatch>) {
    let chunks = batchpart::stream::iter([Ok::<_, std::io::Error>(Bytes::from(req.body.clone()))]);
    let ct = req.header("content-type").unwrap();
    let mut r = MultipartReader::<_, RequestOp>::new(chunks, ct.as_bytes())
        .unwrap()
        .config(Config::default().with_trust_framing(trust_framing))
        .validate(ValidationOptions::default().with_version(version));
    let mut items = Vec::new();
    while let Some(item) = block_on_next(&mut r) {
        items.push(item.unwrap());
    }
    (Batch { items }, r.length_mismatches().to_vec())
}

/// Runs a batch through the executor and writes the answer.
fn answer(batch: BatchRequest, f: impl FnMut(RequestOp) -> ResponseOp, status: u16) -> Resp {
    let mut f = f;
    let items = batchpart::stream::iter(batch.items.into_iter().map(Ok));
    let mut svc = handler_fn(|op| std::future::ready(f(op)));
    let response = block_on(execute(
        items,
        &mut svc,
        ExecOptions::default().with_continue_on_error(true),
    ))
    .unwrap();
    let (content_type, body) = write_multipart(&response, b"batchresponse_1").unwrap();
    Resp {
        status,
        content_type,
        body: body.into_bytes().to_vec(),
    }
}

#[test]
fn google_api_python_client_round_trip() {
    if !python_has("googleapiclient") {
        return;
    }
    let (tx, rx) = mpsc::channel();
    let port = serve(move |req| {
        let (batch, mismatches) = read_batch(&req, true, ODataVersion::V4_01);
        let resp = answer(
            batch.clone(),
            |op| {
                let status = match (op.method.as_str(), op.url.ends_with("missing")) {
                    ("GET", true) => 404,
                    ("GET", false) => 200,
                    ("POST", _) => 201,
                    // A code outside the reason table: written `HTTP/1.1 299 `, with the space
                    // that Google's parser splits on.
                    _ => 299,
                };
                ResponseOp::new(status)
                    .with_header("Content-Type", "application/json")
                    .with_body(if op.method == "POST" {
                        op.body
                    } else {
                        Bytes::from(json!({"url": op.url.as_str()}).to_string())
                    })
            },
            200,
        );
        tx.send((req.path.clone(), batch, mismatches)).unwrap();
        resp
    });
    let out = run(
        "python3",
        &["google_batch.py", &format!("http://127.0.0.1:{port}")],
        b"",
    );
    let (path, batch, mismatches) = rx.recv().unwrap();
    assert_eq!(path, "/batch/storage/v1");
    let ops: Vec<&RequestOp> = batch.items.iter().flat_map(|i| i.ops()).collect();
    let methods: Vec<&str> = ops.iter().map(|o| o.method.as_str()).collect();
    assert_eq!(methods, ["GET", "POST", "DELETE", "GET"]);
    // Content-IDs kept exactly as the client wrote them: `<uuid + id>`.
    for (op, id) in ops.iter().zip(["first", "second", "third", "fourth"]) {
        let cid = op.content_id.as_deref().unwrap();
        assert!(
            cid.starts_with('<') && cid.ends_with(&format!(" + {id}>")),
            "{cid}"
        );
    }
    assert_eq!(ops[1].body, "{\"name\": \"café ☕\"}".as_bytes());
    // The client counted 18 characters for the 21 bytes it sent; the framing wins and the
    // disagreement is reported.
    assert_eq!(mismatches.len(), 1, "{mismatches:?}");
    assert_eq!(
        (
            mismatches[0].op,
            mismatches[0].declared,
            mismatches[0].framed
        ),
        (1, 18, 21)
    );
    let seen: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(seen["first"]["content"]["status"], 200);
    assert_eq!(
        seen["first"]["content"]["content"],
        json!({"url": "/storage/v1/b/bucket/o/a"}).to_string()
    );
    assert_eq!(seen["second"]["content"]["status"], 201);
    assert_eq!(
        seen["second"]["content"]["content"],
        "{\"name\": \"café ☕\"}"
    );
    assert_eq!(seen["third"]["content"]["status"], 299);
    // The client splits the status line on LF, so the empty reason keeps the CR; without the
    // space after `299` its three-way split would have failed.
    assert_eq!(seen["third"]["content"]["reason"], "\r");
    assert_eq!(seen["fourth"]["error"], 404);
}

#[test]
fn google_client_batch_is_refused_without_trust_framing() {
    // The same bytes, by default: the embedded Content-Length disagrees with the framing, and
    // odata.net would frame by it, so the part reads two ways and is refused.
    let body = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/google_python_client_request.txt"),
    )
    .unwrap();
    // Written by the client itself (tests/interop/google_batch.py's POST, captured).
    let first = body.split(|&b| b == b'\n').next().unwrap();
    let ct = format!(
        "multipart/mixed; boundary=\"{}\"",
        String::from_utf8_lossy(&first[2..])
    );
    let chunks = batchpart::stream::iter([Ok::<_, std::io::Error>(Bytes::from(body))]);
    let mut r = MultipartReader::<_, RequestOp>::new(chunks, ct.as_bytes()).unwrap();
    let mut err = None;
    while let Some(item) = block_on_next(&mut r) {
        if let Err(e) = item {
            err = Some(e);
        }
    }
    let err = err.expect("refused");
    assert!(
        err.to_string().contains("content-length disagrees"),
        "{err}"
    );
    assert!(err.offset().is_some());
}

const METADATA: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx" xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">
 <edmx:DataServices m:DataServiceVersion="2.0">
  <Schema Namespace="Demo" xmlns="http://schemas.microsoft.com/ado/2008/09/edm">
   <EntityType Name="Customer">
    <Key><PropertyRef Name="ID"/></Key>
    <Property Name="ID" Type="Edm.String" Nullable="false"/>
    <Property Name="Name" Type="Edm.String"/>
   </EntityType>
   <EntityContainer Name="Container" m:IsDefaultEntityContainer="true">
    <EntitySet Name="Customers" EntityType="Demo.Customer"/>
   </EntityContainer>
  </Schema>
 </edmx:DataServices>
</edmx:Edmx>
"#;

#[test]
fn pyodata_v2_round_trip() {
    if !python_has("pyodata") {
        return;
    }
    let (tx, rx) = mpsc::channel();
    let port = serve(move |req| {
        if req.method == "GET" {
            return Resp {
                status: 200,
                content_type: "application/xml".into(),
                body: METADATA.as_bytes().to_vec(),
            };
        }
        // pyodata's changeset parts carry no Content-ID, as OData 2.0 allows.
        let (batch, _) = read_batch(&req, false, ODataVersion::V2_0);
        tx.send((req.path.clone(), batch.clone())).unwrap();
        answer(
            batch,
            |op| match op.method.as_str() {
                "GET" => ResponseOp::new(200)
                    .with_header("Content-Type", "application/json")
                    .with_body(json!({"d": {"ID": "C0", "Name": "Ann"}}).to_string()),
                _ => {
                    let sent: Value = serde_json::from_slice(&op.body).unwrap();
                    ResponseOp::new(201)
                        .with_header("Content-Type", "application/json")
                        .with_body(json!({ "d": sent }).to_string())
                }
            },
            ODataVersion::V2_0.batch_status(),
        )
    });
    let out = run(
        "python3",
        &[
            "pyodata_batch.py",
            &format!("http://127.0.0.1:{port}/odata/"),
        ],
        b"",
    );
    let (path, batch) = rx.recv().unwrap();
    assert_eq!(path, "/odata/$batch");
    assert!(matches!(&batch.items[0], Item::Op(op) if op.method == "GET"));
    let Item::Changeset(cs) = &batch.items[1] else {
        panic!("a changeset")
    };
    assert!(cs
        .ops
        .iter()
        .all(|o| o.method == "POST" && o.content_id.is_none()));
    let got: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        got,
        json!([{"ID": "C0", "Name": "Ann"}, [{"ID": "C1", "Name": "Zoë"}, {"ID": "C2", "Name": "Bob"}]])
    );
}

/// The batch our writer writes for the reader tests: an operation, then a changeset whose
/// close delimiter is followed straight by the outer one, the shape aiohttp once tripped on.
fn our_batch() -> (String, Vec<u8>, Value) {
    let batch = Batch {
        items: vec![
            Item::Op(RequestOp::new("GET", "Customers('C0')").with_content_id("0")),
            Item::Changeset(batchpart::batch::Changeset {
                id: Some("changeset_1".into()),
                ops: vec![
                    RequestOp::new("POST", "Customers")
                        .with_content_id("1")
                        .with_header("Content-Type", "application/json")
                        .with_body("{\"Name\": \"Zoë\"}"),
                    RequestOp::new("DELETE", "Customers('C9')").with_content_id("2"),
                ],
            }),
        ],
    };
    let (ct, body) = write_multipart(&batch, b"batch_1").unwrap();
    let leaf = |id: &str, http: &str| {
        json!({
            "headers": {"Content-Type": "application/http", "Content-ID": id},
            "body": http.as_bytes().iter().map(|&b| b as char).collect::<String>(),
        })
    };
    let expected = json!({"parts": [
        leaf("0", "GET Customers('C0') HTTP/1.1\r\n\r\n"),
        {"parts": [
            leaf("1", "POST Customers HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"Name\": \"Zoë\"}"),
            leaf("2", "DELETE Customers('C9') HTTP/1.1\r\n\r\n"),
        ]},
    ]});
    (ct, body.into_bytes().to_vec(), expected)
}

/// A reader's tree with each leaf's headers as an object, for comparison (Go's header map
/// has no order). Leaves keep only the two headers every writer here sets.
fn normalized(tree: &Value) -> Value {
    if let Some(parts) = tree.get("parts") {
        return json!({"parts": parts.as_array().unwrap().iter().map(normalized).collect::<Vec<_>>()});
    }
    let mut headers = serde_json::Map::new();
    for h in tree["headers"].as_array().unwrap() {
        let name = h[0].as_str().unwrap();
        for keep in ["Content-Type", "Content-ID"] {
            if name.eq_ignore_ascii_case(keep) {
                headers.insert(keep.into(), h[1].clone());
            }
        }
    }
    json!({"headers": headers, "body": tree["body"]})
}

/// What our reader makes of a batch another writer wrote.
fn check_theirs(ct: &str, body: Vec<u8>) {
    let chunks = batchpart::stream::iter([Ok::<_, std::io::Error>(Bytes::from(body))]);
    let mut r = MultipartReader::<_, RequestOp>::new(chunks, ct.as_bytes())
        .unwrap()
        .validate(ValidationOptions::default());
    let mut items = Vec::new();
    while let Some(item) = block_on_next(&mut r) {
        items.push(item.unwrap());
    }
    assert_eq!(items.len(), 2);
    let Item::Op(get) = &items[0] else { panic!() };
    assert_eq!(
        (get.method.as_str(), get.url.as_str()),
        ("GET", "/Customers('C0')")
    );
    let Item::Changeset(cs) = &items[1] else {
        panic!()
    };
    let post = &cs.ops[0];
    assert_eq!(post.content_id.as_deref(), Some("1"));
    assert_eq!(post.content_id_in, ContentIdIn::Part);
    assert_eq!(
        post.headers.get("content-type"),
        Some(&b"application/json"[..])
    );
    assert_eq!(post.body, "{\"Name\": \"Zoë\"}".as_bytes());
    assert_eq!(cs.ops[1].method, "DELETE");
}

#[test]
fn aiohttp_reads_ours_and_we_read_aiohttps() {
    if !python_has("aiohttp") {
        return;
    }
    let (ct, body, expected) = our_batch();
    let tree: Value = serde_json::from_slice(&run(
        "python3",
        &["aiohttp_multipart.py", "read", &ct],
        &body,
    ))
    .unwrap();
    assert_eq!(normalized(&tree), expected);
    let theirs = run("python3", &["aiohttp_multipart.py", "write"], b"");
    check_theirs("multipart/mixed; boundary=batch_aio", theirs);
}

#[test]
fn go_mime_multipart_reads_ours_and_we_read_gos() {
    if !available(
        "go",
        &["version"],
        "go is not installed (apt install golang-go)",
    ) {
        return;
    }
    let (ct, body, expected) = our_batch();
    let boundary = ct.rsplit("boundary=").next().unwrap().trim_matches('"');
    let tree: Value = serde_json::from_slice(&run(
        "go",
        &["run", "go/multipart.go", "read", boundary],
        &body,
    ))
    .unwrap();
    assert_eq!(normalized(&tree), expected);
    let theirs = run("go", &["run", "go/multipart.go", "write"], b"");
    check_theirs("multipart/mixed; boundary=batch_go", theirs);
}
