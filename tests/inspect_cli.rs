//! `batchpart inspect` (and `compose`, its inverse) is the crate's black-box contract: its
//! options, its JSON and its error line. Cargo builds the binary for the tests under `cli`.
#![cfg(feature = "cli")]
mod common;
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

fn run(args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    common::run_tool("inspect", args, stdin)
}

#[test]
fn embedded_sample_is_an_odata_batch_with_a_changeset() {
    let (code, out, _) = run(&[], None);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["boundary"], "batch_a685-9724-d873");
    let cs = &v["parts"][0]["multipart"];
    assert_eq!(cs["boundary"], "changeset_06da-d998-8e7e");
    let op = &cs["parts"][0];
    assert_eq!(op["content_id"], "1");
    assert_eq!(op["http"]["request"]["method"], "POST");
    assert_eq!(op["http"]["request"]["version"], "HTTP/1.1");
    assert_eq!(op["http"]["body"], "{\"Name\": \"Gilbert\"}\r\n");
    assert_eq!(
        op["headers"][0],
        serde_json::json!(["Content-Type", "application/http"])
    );
}

#[test]
fn chunking_does_not_change_the_output() {
    let whole = run(&["tests/fixtures/odata_spec_request.txt"], None).1;
    for n in ["1", "2", "7", "64"] {
        assert_eq!(
            run(
                &["--chunk", n, "tests/fixtures/odata_spec_request.txt"],
                None
            )
            .1,
            whole
        );
    }
    let v: Value = serde_json::from_str(&whole).unwrap();
    let get = &v["parts"][0]["http"]["request"];
    assert_eq!(get["target"], "/service/Customers('ALFKI')");
    assert_eq!(get["version"], "");
}

#[test]
fn latin1_strings_keep_every_byte() {
    let input = b"--b\r\nX-Bin: \xe9\r\n\r\n\x00\xff\x80\"\\\r\n--b--\r\nepi";
    let (code, out, _) = run(&["-"], Some(input));
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    let body: Vec<u8> = v["parts"][0]["body"]
        .as_str()
        .unwrap()
        .chars()
        .map(|c| c as u32 as u8)
        .collect();
    assert_eq!(body, b"\x00\xff\x80\"\\");
    assert_eq!(v["parts"][0]["headers"][0][1], "\u{e9}");
    assert_eq!(v["epilogue"], "epi");
    assert_eq!(v["parts"][0]["content_id"], Value::Null);
}

#[test]
fn boundary_sources() {
    let input = b"preamble\r\n--xyz\r\n\r\nbody\r\n--xyz--";
    let (_, a, _) = run(&["--boundary", "xyz", "-"], Some(input));
    let (_, b, _) = run(
        &["--content-type", "multipart/mixed; boundary=\"xyz\"", "-"],
        Some(input),
    );
    assert_eq!(a, b);
    let v: Value = serde_json::from_str(&a).unwrap();
    assert_eq!(v["preamble"], "preamble");
    // Without either, the boundary comes from the first line; here there is none.
    let (code, _, err) = run(&["-"], Some(input));
    assert_eq!(code, 1);
    assert!(err.starts_with("error: "));
    // Google's unquoted boundary with `=`: read outside strict mode, refused in it.
    let google = b"--a=b\r\n\r\nbody\r\n--a=b--";
    let ct = "multipart/mixed; boundary=a=b";
    let (code, out, err) = run(&["--content-type", ct, "-"], Some(google));
    assert_eq!(code, 0, "{err}");
    let (_, same, _) = run(&["--boundary", "a=b", "-"], Some(google));
    assert_eq!(out, same);
    let (code, _, err) = run(&["--strict", "--content-type", ct, "-"], Some(google));
    assert_eq!(code, 1);
    assert!(err.contains("invalid content-type at byte 0"), "{err}");
}

#[test]
fn summary_counts_parts_bytes_and_depth() {
    let (code, out, _) = run(
        &[
            "--summary",
            "--chunk",
            "3",
            "tests/fixtures/creatio_multipart_request.txt",
        ],
        None,
    );
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        "{\"parts\":4,\"body_bytes\":42,\"max_depth\":2}"
    );
}

#[test]
fn malformed_input_exits_1_with_one_error_line() {
    let (code, out, err) = run(&["-"], Some(b"--b\r\n\r\nbody"));
    assert_eq!(code, 1);
    assert_eq!(out, "");
    assert_eq!(err, "error: missing close delimiter at byte 11\n");
    let (code, _, err) = run(&["--strict", "tests/fixtures/odata_spec_request.txt"], None);
    assert_eq!(code, 1);
    assert_eq!(err, "error: invalid request line at byte 80\n");
}

fn compose() -> Command {
    let mut c = Command::new(common::batchpart());
    c.arg("compose");
    c
}

/// `compose` reads what `inspect` prints; `inspect` of its output gives the same tree back.
#[test]
fn compose_inverts_inspect_for_every_fixture() {
    let dir = std::env::temp_dir().join(format!("batchpart-compose-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fixtures =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).unwrap();
    let mut n = 0;
    for f in fixtures {
        let f = f.unwrap().path();
        // Multipart fixtures only (the JSON batch fixtures are for the batch module).
        if f.extension().map_or(true, |e| e != "txt") {
            continue;
        }
        // Fixtures that are malformed on purpose (the seed's mangled UCWA headers).
        if f.to_string_lossy().contains("space_before_colon") {
            continue;
        }
        let first = std::fs::read(&f).unwrap();
        let args: Vec<String> = if first.starts_with(b"--") {
            vec![f.display().to_string()]
        } else {
            // Fixtures with a preamble: give the boundary from their first delimiter.
            let text = String::from_utf8_lossy(&first).into_owned();
            let line = text
                .lines()
                .find(|l| l.starts_with("--"))
                .unwrap()
                .trim()
                .trim_start_matches("--")
                .to_string();
            vec!["--boundary".into(), line, f.display().to_string()]
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, tree, err) = run(&args, None);
        // google-api-python-client's embedded Content-Length counts characters: refused by
        // default, as it reads two ways (tests/interop.rs reads it with trust_framing).
        if f.to_string_lossy().contains("google_python_client") {
            assert_eq!(code, 1, "{}: refused by default", f.display());
            assert!(err.contains("content-length disagrees"), "{err}");
            continue;
        }
        assert_eq!(code, 0, "{}: {err}", f.display());
        let out = compose()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut child = out;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(tree.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ct = String::from_utf8(out.stderr).unwrap();
        assert!(
            ct.starts_with("Content-Type: multipart/mixed; boundary="),
            "{ct}"
        );
        let encoded = dir.join("out.bin");
        std::fs::write(&encoded, &out.stdout).unwrap();
        let ct_value = ct
            .trim_end()
            .trim_start_matches("Content-Type: ")
            .to_string();
        let (code, again, err) = run(
            &["--content-type", &ct_value, encoded.to_str().unwrap()],
            None,
        );
        assert_eq!(code, 0, "{err}");
        assert_eq!(again, tree, "{}", f.display());
        n += 1;
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(n >= 12);
}

#[test]
fn compose_generates_a_boundary_when_the_tree_has_none() {
    let tree = r#"{"boundary": "", "preamble": "", "parts": [{"headers": [["Content-Type", "text/plain"]], "content_id": null, "body": "hi"}], "epilogue": ""}"#;
    let mut child = compose()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(tree.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let ct = String::from_utf8(out.stderr).unwrap();
    let b = ct
        .trim_end()
        .rsplit("boundary=")
        .next()
        .unwrap()
        .to_string();
    assert!(b.starts_with("batch_") && b.len() >= 6 + 24, "{b}");
    assert!(out
        .stdout
        .starts_with(format!("--{b}\r\nContent-Type: text/plain\r\n\r\nhi\r\n--{b}--").as_bytes()));
    // Invalid input: exit 1 with one error line.
    let mut child = compose()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"{\"boundary\": \"b\", \"preamble\": \"\", \"parts\": [{\"headers\": [[\"Bad Name\", \"v\"]], \"body\": \"\"}], \"epilogue\": \"\"}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "error: invalid header name\n"
    );
}

#[test]
fn opaque_reads_every_part_as_raw_bytes() {
    let f = "tests/fixtures/creatio_multipart_request.txt";
    let (code, out, _) = run(&["--opaque", f], None);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    let part = &v["parts"][0];
    // The changeset is not opened: its body is the raw nested multipart.
    assert!(part.get("multipart").is_none() || part["multipart"].is_null());
    let body = part["body"].as_str().unwrap();
    assert!(body.starts_with("--changeset_06da-d998-8e7e\r\n"), "{body}");
    assert!(body.contains("POST "));
    // The raw bytes are exactly those between the part's headers and its delimiter.
    let raw = std::fs::read(f).unwrap();
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.contains(body));
    // An application/http part at the top level stays plain too.
    let (_, out, _) = run(&["--opaque", "tests/fixtures/odata_spec_request.txt"], None);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["parts"][0].get("http").is_none() || v["parts"][0]["http"].is_null());
    assert!(v["parts"][0]["body"]
        .as_str()
        .unwrap()
        .starts_with("GET /service/Customers('ALFKI')"));
}

#[test]
fn content_type_errors_carry_an_offset() {
    let input = b"--b\r\nContent-Type: multipart/mixed\r\n\r\nx\r\n--b--\r\n";
    let cases: [(&[&str], &str); 4] = [
        (
            &["--content-type", "text/plain", "-"],
            "error: content-type is not multipart at byte 0\n",
        ),
        (
            &["--content-type", "multipart/mixed", "-"],
            "error: missing boundary parameter at byte 0\n",
        ),
        (
            &["--content-type", "multipart/mixed; boundary=\"a", "-"],
            "error: invalid content-type at byte 0\n",
        ),
        (
            &["--content-type", "multipart/mixed; boundary=\"a b \"", "-"],
            "error: invalid boundary at byte 0\n",
        ),
    ];
    for (args, want) in cases {
        let (code, _, err) = run(args, Some(input));
        assert_eq!((code, err.as_str()), (1, want), "{args:?}");
    }
    // In the body: at the offset of the header value.
    let (code, _, err) = run(
        &["-"],
        Some(b"--b\r\nContent-Type: a/\"b\r\n\r\nx\r\n--b--\r\n"),
    );
    assert_eq!(
        (code, err.as_str()),
        (1, "error: invalid content-type at byte 19\n")
    );
    // A nested multipart without a boundary: plain bytes by default, an error in strict
    // mode at the value's offset.
    let (code, out, _) = run(&["-"], Some(input));
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["parts"][0]["body"], "x");
    let (code, _, err) = run(&["--strict", "-"], Some(input));
    assert_eq!(
        (code, err.as_str()),
        (1, "error: missing boundary parameter at byte 19\n")
    );
    // A boundary taken from the first line is reported where it starts.
    let (code, _, err) = run(&["-"], Some(b"\xEF\xBB\xBF--a\"b\r\n"));
    assert_eq!(
        (code, err.as_str()),
        (1, "error: invalid boundary at byte 5\n")
    );
}

#[test]
fn compose_refuses_a_body_that_holds_its_delimiter_and_names_the_part() {
    // `inspect` would read `--b1` after the bare LF as a delimiter line: the tree cannot be
    // written under that boundary, so compose refuses it instead of writing ambiguous bytes.
    let cases: [(&str, &str); 3] = [
        (
            r#"{"boundary": "b1", "preamble": "", "parts": [{"headers": [], "content_id": null, "body": "line\n--b1\nmore"}], "epilogue": ""}"#,
            "error: parts[0]: delimiter found in content\n",
        ),
        (
            r#"{"boundary": "b1", "preamble": "", "parts": [{"headers": [], "content_id": null, "body": "ok"}, {"headers": [], "content_id": null, "body": "line\r\n--b1--"}], "epilogue": ""}"#,
            "error: parts[1]: delimiter found in content\n",
        ),
        (
            r#"{"boundary": "b1", "preamble": "", "parts": [{"headers": [], "multipart": {"boundary": "cs", "preamble": "", "parts": [{"headers": [], "body": "x\n--b1"}], "epilogue": ""}}], "epilogue": ""}"#,
            "error: parts[0].multipart.parts[0]: delimiter found in content\n",
        ),
    ];
    for (tree, want) in cases {
        let (code, out, err) = common::run_tool("compose", &["-"], Some(tree.as_bytes()));
        assert_eq!((code, out.as_str(), err.as_str()), (1, "", want), "{tree}");
    }
    // With a generated boundary the same body is written, under a boundary it does not hold.
    let tree = r#"{"boundary": "", "preamble": "", "parts": [{"headers": [], "content_id": null, "body": "line\n--b1\nmore"}], "epilogue": ""}"#;
    let (code, out, err) = common::run_tool("compose", &["-"], Some(tree.as_bytes()));
    assert_eq!(code, 0);
    let b = err.trim_end().rsplit("boundary=").next().unwrap();
    let (code, back, _) = run(&["--boundary", b, "-"], Some(out.as_bytes()));
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&back).unwrap();
    assert_eq!(v["parts"][0]["body"], "line\n--b1\nmore");
}

#[test]
fn tree_view_for_people() {
    let (code, out, _) = run(&["--tree", "tests/fixtures/odata_response.txt"], None);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim_end(),
        "multipart boundary=batchresponse_1 (2 parts, preamble 0 B, epilogue 0 B)\n\
         \x20 [0] application/http -> 200 OK, body 13 B\n\
         \x20 [1] multipart/mixed; boundary=changesetresponse_1\n\
         \x20   multipart boundary=changesetresponse_1 (2 parts, preamble 0 B, epilogue 0 B)\n\
         \x20     [0] application/http id=1 -> 201, body 0 B\n\
         \x20     [1] application/http id=2 -> 204 No Content, body 0 B"
    );
    let (code, out, _) = run(&["--tree"], None);
    assert_eq!(code, 0);
    assert!(
        out.contains("[0] application/http id=1 POST City, body 21 B"),
        "{out}"
    );
}

#[test]
fn limit_flags_reach_the_decoder() {
    // More parts than the default limit of 10,000: refused by default, read with the flag.
    let mut body = Vec::new();
    for _ in 0..10_001 {
        body.extend_from_slice(b"--b\r\n\r\nx\r\n");
    }
    body.extend_from_slice(b"--b--\r\n");
    let (code, _, err) = run(&["--summary", "-"], Some(&body));
    assert_eq!(code, 1);
    assert!(
        err.starts_with("error: part count exceeds max_parts at byte "),
        "{err}"
    );
    let (code, out, _) = run(&["--summary", "--max-parts", "20000", "-"], Some(&body));
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        "{\"parts\":10001,\"body_bytes\":10001,\"max_depth\":1}"
    );
    // Depth and header bytes.
    let nested = b"--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n\r\nx\r\n--c--\r\n--b--\r\n";
    let (code, _, err) = run(&["--max-depth", "1", "-"], Some(nested));
    assert_eq!(code, 1);
    assert!(
        err.starts_with("error: nesting exceeds max_depth at byte "),
        "{err}"
    );
    let (code, _, err) = run(&["--max-header-bytes", "10", "-"], Some(nested));
    assert_eq!(code, 1);
    assert!(
        err.starts_with("error: header block exceeds max_header_bytes at byte "),
        "{err}"
    );
    let (code, _, err) = run(&["--max-parts", "x", "-"], Some(nested));
    assert_eq!(code, 2);
    assert!(
        err.starts_with("error: --max-parts needs a number\nusage: batchpart inspect "),
        "{err}"
    );
}

/// `--summary` runs the sans-IO core over one reused buffer, the other outputs the Stream
/// layer: on every fixture, at several read sizes, the summary holds the counts the full
/// output holds, and on malformed input both print the same error line.
#[test]
fn summary_agrees_with_the_full_output() {
    fn count(m: &Value, parts: &mut u64, body: &mut u64, depth: usize, max: &mut usize) {
        *max = (*max).max(depth);
        for p in m["parts"].as_array().unwrap() {
            *parts += 1;
            let len = |v: &Value| v.as_str().map_or(0, |s| s.chars().count() as u64);
            if p["multipart"].is_object() {
                count(&p["multipart"], parts, body, depth + 1, max);
            } else if p["http"].is_object() {
                *body += len(&p["http"]["body"]);
            } else {
                *body += len(&p["body"]);
            }
        }
    }
    let mut read = 0;
    for f in std::fs::read_dir("tests/fixtures").unwrap() {
        let path = f.unwrap().path();
        let p = path.to_str().unwrap();
        let (code, out, err) = run(&[p], None);
        if code != 0 {
            // Not a multipart file (JSON, or an answer without its first delimiter line).
            let (scode, _, serr) = run(&["--summary", p], None);
            assert_eq!((scode, serr), (code, err), "{p}");
            continue;
        }
        let full: Value = serde_json::from_str(&out).unwrap();
        let (mut parts, mut body, mut max) = (0, 0, 1);
        count(&full, &mut parts, &mut body, 1, &mut max);
        let want = format!("{{\"parts\":{parts},\"body_bytes\":{body},\"max_depth\":{max}}}");
        for n in ["1", "5", "64", "65536"] {
            let (code, out, _) = run(&["--summary", "--chunk", n, p], None);
            assert_eq!((code, out.trim()), (0, want.as_str()), "{p} --chunk {n}");
        }
        read += 1;
    }
    assert!(read >= 15, "only {read} multipart fixtures");
    // Errors: in the framing, in a header, past a limit, in a non-framing Content-Type.
    let bad: [&[u8]; 5] = [
        b"--b\r\n\r\nbody",
        b"--b\r\nX: 1\r\nbad line\r\n\r\nx\r\n--b--",
        b"--b\r\nContent-Type: text/plain; x\r\n\r\nx\r\n--b--",
        b"--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n\r\nx\r\n--c--\r\n--b--",
        b"--b\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nx\r\n--b--",
    ];
    for input in bad {
        for n in ["1", "65536"] {
            let full = run(&["--max-depth", "1", "--chunk", n, "-"], Some(input));
            let sum = run(
                &["--summary", "--max-depth", "1", "--chunk", n, "-"],
                Some(input),
            );
            assert_eq!(full.0, 1, "{}", String::from_utf8_lossy(input));
            assert_eq!((sum.0, &sum.2), (full.0, &full.2), "--chunk {n}");
        }
    }
}
