//! A second opinion on MIME structure: Python's standard `email` package. Bodies that Python
//! generated are decoded and compared with what Python's own parser reads from them, and our
//! fixtures are parsed by Python and compared with our reading. Skipped, saying why, where
//! python3 is absent; a failure under `CI=true`.
#![cfg(feature = "stream")]
mod common;
use batchpart::Config;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn python() -> Option<&'static str> {
    ["python3", "python"].into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import email, json"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
}

fn oracle() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/email_oracle.py")
}

fn latin1(v: &Value) -> Vec<u8> {
    v.as_str()
        .unwrap()
        .chars()
        .map(|c| c as u32 as u8)
        .collect()
}

/// Our reading as a tree in the oracle's JSON shape (leaf `body`, nested `parts`).
#[derive(Debug)]
enum Node {
    Multi {
        boundary: Vec<u8>,
        preamble: Vec<u8>,
        epilogue: Vec<u8>,
        parts: Vec<Node>,
    },
    Leaf {
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        head: Option<Vec<u8>>,
        body: Vec<u8>,
    },
}

fn ours(evs: &[Ev], boundary: &[u8]) -> Node {
    fn level(it: &mut std::slice::Iter<'_, Ev>, boundary: Vec<u8>) -> Node {
        let (mut pre, mut epi, mut parts) = (vec![], vec![], vec![]);
        let mut in_nested_epi = false;
        while let Some(e) = it.next() {
            match e {
                Ev::Preamble(b) => pre.extend(b),
                Ev::PartStart { headers, .. } => parts.push(Node::Leaf {
                    headers: headers.clone(),
                    head: None,
                    body: vec![],
                }),
                Ev::Request { method, target, .. } => {
                    if let Some(Node::Leaf { head, .. }) = parts.last_mut() {
                        *head = Some([&method[..], b" ", target].concat());
                    }
                }
                Ev::Response {
                    version, status, ..
                } => {
                    if let Some(Node::Leaf { head, .. }) = parts.last_mut() {
                        *head = Some([&version[..], format!(" {status}").as_bytes()].concat());
                    }
                }
                Ev::Body(b) => {
                    if let Some(Node::Leaf { body, .. }) = parts.last_mut() {
                        body.extend(b)
                    }
                }
                Ev::MultipartStart(b) => {
                    let n = level(it, b.clone());
                    *parts.last_mut().unwrap() = n;
                    in_nested_epi = true;
                }
                Ev::Epilogue(b) if in_nested_epi => {
                    if let Some(Node::Multi { epilogue, .. }) = parts.last_mut() {
                        epilogue.extend(b)
                    }
                }
                Ev::Epilogue(b) => epi.extend(b),
                Ev::PartEnd { .. } => in_nested_epi = false,
                Ev::MultipartEnd | Ev::End => break,
            }
        }
        Node::Multi {
            boundary,
            preamble: pre,
            epilogue: epi,
            parts,
        }
    }
    level(&mut evs.iter(), boundary.to_vec())
}

fn trim_eol(mut v: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r' | b'\n'] = v {
        v = rest;
    }
    v
}

fn compare(py: &Value, us: &Node, path: &str) {
    match us {
        Node::Multi {
            boundary,
            preamble,
            epilogue,
            parts,
        } => {
            assert_eq!(latin1(&py["boundary"]), *boundary, "{path}: boundary");
            assert_eq!(
                trim_eol(&latin1(&py["preamble"])),
                trim_eol(preamble),
                "{path}: preamble"
            );
            assert_eq!(
                trim_eol(&latin1(&py["epilogue"])),
                trim_eol(epilogue),
                "{path}: epilogue"
            );
            let pp = py["parts"]
                .as_array()
                .unwrap_or_else(|| panic!("{path}: python sees a leaf"));
            assert_eq!(pp.len(), parts.len(), "{path}: part count");
            for (i, (p, u)) in pp.iter().zip(parts).enumerate() {
                compare(p, u, &format!("{path}/{i}"));
            }
        }
        Node::Leaf {
            headers,
            head,
            body,
        } => {
            let ph: Vec<(Vec<u8>, Vec<u8>)> = py["headers"]
                .as_array()
                .unwrap_or_else(|| panic!("{path}: python sees a multipart"))
                .iter()
                .map(|h| {
                    (latin1(&h[0]), {
                        let v = latin1(&h[1]);
                        let s = v
                            .iter()
                            .position(|c| !c.is_ascii_whitespace())
                            .unwrap_or(v.len());
                        let e = v
                            .iter()
                            .rposition(|c| !c.is_ascii_whitespace())
                            .map_or(s, |e| e + 1);
                        v[s..e].to_vec()
                    })
                })
                .collect();
            assert_eq!(&ph, headers, "{path}: headers");
            let pbody = latin1(&py["body"]);
            match head {
                // Python keeps an application/http part opaque: the whole embedded message.
                // An embedded Content-Length may cut trailing line ends that Python keeps.
                Some(h) => {
                    assert!(pbody.starts_with(h), "{path}: start line");
                    assert!(
                        trim_eol(&pbody).ends_with(trim_eol(body)),
                        "{path}: embedded body"
                    );
                    assert!(
                        pbody.len() - trim_eol(&pbody).len() >= body.len() - trim_eol(body).len()
                    );
                }
                None => assert_eq!(&pbody, body, "{path}: body"),
            }
        }
    }
}

#[test]
fn python_generated_bodies_decode_as_python_reads_them() {
    let Some(py) = python() else {
        return skip("python3 with the email package is not available");
    };
    let dir = std::env::temp_dir().join(format!("batchpart-pyoracle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let st = Command::new(py)
        .arg(oracle())
        .arg("generate")
        .arg(&dir)
        .status()
        .unwrap();
    assert!(st.success());
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "bin") {
            let wire = std::fs::read(&p).unwrap();
            let tree: Value =
                serde_json::from_slice(&std::fs::read(p.with_extension("json")).unwrap()).unwrap();
            let boundary = latin1(&tree["boundary"]);
            let evs = decode_with(&wire, &boundary, Config::default(), &[]).unwrap();
            assert_eq!(
                decode_with(&wire, &boundary, Config::default(), &[1]).unwrap(),
                evs
            );
            assert_eq!(
                decode_with(&wire, &boundary, Config::strict(), &[13]).unwrap(),
                evs
            );
            compare(&tree, &ours(&evs, &boundary), &p.display().to_string());
            n += 1;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(n, 12);
}

#[test]
fn python_reads_our_fixtures_as_we_do() {
    let Some(py) = python() else {
        return skip("python3 with the email package is not available");
    };
    for (name, boundary) in FIXTURES {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        let out = Command::new(py)
            .arg(oracle())
            .arg("parse")
            .arg(std::str::from_utf8(boundary).unwrap())
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let tree: Value = serde_json::from_slice(&out.stdout).unwrap();
        let evs = decode(&fixture(name), boundary).unwrap();
        compare(&tree, &ours(&evs, boundary), name);
    }
}

#[test]
fn python_reads_what_the_encoder_writes() {
    use batchpart::writer::{ContentIdIn, Writer};
    use bytes::{Buf, Bytes};
    let Some(py) = python() else {
        return skip("python3 with the email package is not available");
    };
    let binary: Vec<u8> = (0..=255u8).cycle().take(700).collect();
    let mut w = Writer::with_random_boundary();
    w.check_bodies(true);
    w.preamble(b"This is a preamble.").unwrap();
    w.part(
        [
            ("Content-Type", "text/plain"),
            ("x-lower-case", "kept as given"),
        ],
        Bytes::from_static(b"line one\r\nline two\r\n"),
    )
    .unwrap();
    w.part(
        [("Content-Type", "application/octet-stream")],
        Bytes::from(binary.clone()),
    )
    .unwrap();
    w.open_changeset(None).unwrap();
    w.request(
        Some(("1", ContentIdIn::Part)),
        "POST",
        "/service/Customers",
        [("Content-Type", "application/json")],
        Bytes::from_static(b"{\"Name\":\"Gilbert\"}"),
    )
    .unwrap();
    w.request(
        Some(("2", ContentIdIn::Both)),
        "PATCH",
        "$1",
        [("If-Match", "$1")],
        Bytes::new(),
    )
    .unwrap();
    w.close_changeset().unwrap();
    w.response(
        None,
        404,
        None,
        [("Content-Type", "application/json")],
        Bytes::from_static(b"{}"),
    )
    .unwrap();
    w.part([("Content-ID", "<empty@example>")], Bytes::new())
        .unwrap();
    let boundary = w.encoder().boundary().to_vec();
    let mut enc = w.finish(b"The epilogue.").unwrap();
    let wire = enc.copy_to_bytes(enc.remaining());

    let dir = std::env::temp_dir().join(format!("batchpart-pyenc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("encoded.bin");
    std::fs::write(&path, &wire).unwrap();
    let out = Command::new(py)
        .arg(oracle())
        .arg("parse")
        .arg(std::str::from_utf8(&boundary).unwrap())
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree: Value = serde_json::from_slice(&out.stdout).unwrap();

    // Python's reading, checked against what was written...
    assert_eq!(latin1(&tree["preamble"]), b"This is a preamble.");
    assert_eq!(trim_eol(&latin1(&tree["epilogue"])), b"The epilogue.");
    let parts = tree["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 5);
    assert_eq!(latin1(&parts[0]["headers"][1][0]), b"x-lower-case");
    assert_eq!(latin1(&parts[0]["body"]), b"line one\r\nline two\r\n");
    assert_eq!(latin1(&parts[1]["body"]), binary);
    let cs = parts[2]["parts"]
        .as_array()
        .expect("python sees the changeset as multipart");
    assert_eq!(cs.len(), 2);
    assert_eq!(latin1(&cs[0]["headers"][2][1]), b"1");
    assert!(latin1(&cs[0]["body"]).starts_with(b"POST /service/Customers HTTP/1.1\r\n"));
    assert!(latin1(&cs[0]["body"]).ends_with(b"\r\n\r\n{\"Name\":\"Gilbert\"}"));
    assert!(latin1(&cs[1]["body"])
        .starts_with(b"PATCH $1 HTTP/1.1\r\nContent-ID: 2\r\nIf-Match: $1\r\n"));
    assert!(latin1(&parts[3]["body"]).starts_with(b"HTTP/1.1 404 Not Found\r\n"));
    assert_eq!(latin1(&parts[4]["body"]), b"");
    // ...and against our own decoder's reading.
    let evs = decode(&wire, &boundary).unwrap();
    compare(&tree, &ours(&evs, &boundary), "encoded");
}
