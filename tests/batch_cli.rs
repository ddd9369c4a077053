//! `batchpart batch`'s contract: `batch parse` prints the model as JSON, or one error line.
#![cfg(feature = "cli")]
mod common;
use serde_json::{json, Value};

fn run(args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    common::run_tool("batch", args, stdin)
}

#[test]
fn multipart_request_with_a_changeset() {
    let (code, out, err) = run(&["parse", "tests/fixtures/odata_spec_request.txt"], None);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kind"], "request");
    assert_eq!(
        v["items"][0],
        json!({"content_id": null, "method": "GET", "url": "/service/Customers('ALFKI')", "headers": [["Host", "host"]], "body": ""})
    );
    let cs = v["items"][1]["changeset"].as_array().unwrap();
    assert_eq!(cs.len(), 2);
    assert_eq!(cs[1]["url"], "$1");
    assert_eq!(cs[1]["content_id"], "2");
}

#[test]
fn responses_and_content_type_option() {
    let (code, out, _) = run(
        &[
            "parse",
            "--content-type",
            "multipart/mixed; boundary=batchresponse_1",
            "tests/fixtures/odata_response.txt",
        ],
        None,
    );
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kind"], "response");
    assert_eq!(v["items"][0]["status"], 200);
    assert_eq!(v["items"][1]["changeset"][0]["status"], 201);
}

#[test]
fn json_batches_are_detected_and_keep_raw_json_bodies() {
    let (code, out, _) = run(&["parse", "tests/fixtures/odata_json_request.json"], None);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["items"][1]["changeset"][0]["body"],
        "{\"CompanyName\": \"Alfreds Futterkiste\"}"
    );
    assert_eq!(v["items"][1]["changeset"][0]["content_id"], "1");
    let (code, out, _) = run(
        &["parse", "--content-type", "application/json", "-"],
        Some(br#"{"responses":[{"id":"1","status":204}]}"#),
    );
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"kind": "response", "items": [{"content_id": "1", "status": 204, "headers": [], "body": ""}]})
    );
}

#[test]
fn invalid_input_gives_one_error_line() {
    let (code, out, err) = run(&["parse", "-"], Some(br#"{"requests":[{"id":"1","method":"get","url":"a"},{"id":"1","method":"get","url":"b"}]}"#));
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.starts_with("error: duplicate-content-id: "), "{err}");
    assert_eq!(err.lines().count(), 1);
    let (code, _, err) = run(&["parse", "-"], Some(b"--b\r\n\r\nno close"));
    assert_eq!(code, 1);
    assert!(
        err.starts_with("error: multipart: missing close delimiter at byte "),
        "{err}"
    );
}

#[test]
fn every_dialect_prints_the_same_model() {
    let parse = |args: &[&str]| {
        let (code, out, err) = run(args, None);
        assert_eq!(code, 0, "{args:?}: {err}");
        serde_json::from_str::<Value>(&out).unwrap()
    };
    let rc = parse(&[
        "parse",
        "--dialect",
        "ringcentral",
        "--path",
        "/restapi/v1.0/account/~/extension/~/message-store/401654758008,401642088008",
        "tests/fixtures/ringcentral_put_request.txt",
    ]);
    assert_eq!(rc["kind"], "request");
    assert_eq!(
        rc["items"][1],
        json!({"content_id": "401642088008", "method": "PUT", "url": "/restapi/v1.0/account/~/extension/~/message-store/401642088008", "headers": [["Content-Type", "application/json"]], "body": "{\"readStatus\": \"Read\"}"})
    );
    let rc = parse(&[
        "parse",
        "--dialect",
        "ringcentral",
        "--path",
        "/m/2447722008,2416832008",
        "tests/fixtures/ringcentral_get_response.txt",
    ]);
    assert_eq!(
        (
            rc["kind"].as_str(),
            rc["items"][1]["status"].as_u64(),
            rc["items"][1]["content_id"].as_str()
        ),
        (Some("response"), Some(404), Some("2416832008"))
    );
    let jb = parse(&[
        "parse",
        "--dialect",
        "json-batch",
        "tests/fixtures/json_batch_payloads.json",
    ]);
    assert_eq!(jb["items"][0]["method"], "POST");
    assert_eq!(jb["items"][0]["url"], "/activities/xc:11/notes");
    let uc = parse(&[
        "parse",
        "--dialect",
        "ucwa",
        "tests/fixtures/ucwa_xml_response.txt",
        "--content-type",
        "multipart/batching; boundary=\"0cac9abd\"",
    ]);
    assert_eq!(uc["kind"], "response");
    assert_eq!(uc["items"].as_array().unwrap().len(), 2);
    let cr = parse(&[
        "parse",
        "--dialect",
        "creatio",
        "tests/fixtures/creatio_json_request_1.json",
    ]);
    assert_eq!(cr["items"][1]["changeset"][0]["content_id"], "t3");
    // The published /batch example with its syntax errors: one error line with a position.
    let (code, _, err) = run(
        &[
            "parse",
            "--dialect",
            "json-batch",
            "tests/fixtures/json_batch_distinct_as_published.json",
        ],
        None,
    );
    assert_eq!(code, 1);
    assert_eq!(err, "error: json: expected `,` or `}` at line 6 column 7\n");
    // A dialect the tool does not have is a usage error: exit 2, the error, then the usage.
    let (code, _, err) = run(&["parse", "--dialect", "nope", "-"], Some(b"{}"));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!((code, lines.len()), (2, 2), "{err}");
    assert_eq!(lines[0], "error: unknown dialect nope");
    assert!(
        lines[1].starts_with("usage: batchpart batch parse [--dialect "),
        "{err}"
    );
}

#[test]
fn limits_and_chunks() {
    let f = "tests/fixtures/odata_spec_request.txt";
    let (code, whole, _) = run(&["parse", f], None);
    assert_eq!(code, 0);
    // The input is read as a stream: any chunk size gives the same model.
    for n in ["1", "7", "4096"] {
        let (code, out, err) = run(&["parse", "--chunk", n, f], None);
        assert_eq!(
            (code, out.as_str()),
            (0, whole.as_str()),
            "--chunk {n}: {err}"
        );
    }
    // Each limit, when crossed, exits 1 with an error that names it.
    for (flag, value, name) in [
        ("--max-operations", "1", "max_operations"),
        ("--max-body-bytes", "4", "max_body_bytes"),
        ("--max-batch-bytes", "100", "max_batch_bytes"),
        ("--max-header-bytes", "8", "max_header_bytes"),
    ] {
        let (code, out, err) = run(&["parse", flag, value, f], None);
        assert_eq!((code, out.as_str()), (1, ""), "{flag}");
        assert!(
            err.starts_with("error: ") && err.contains(name),
            "{flag}: {err}"
        );
    }
    // The same in JSON.
    let json = "tests/fixtures/odata_json_request.json";
    let (code, _, err) = run(&["parse", "--max-operations", "1", json], None);
    assert_eq!(code, 1);
    assert!(err.contains("max_operations"), "{err}");
    let (code, _, err) = run(
        &["parse", "--chunk", "3", "--max-batch-bytes", "50", json],
        None,
    );
    assert_eq!(code, 1);
    assert!(err.contains("max_batch_bytes"), "{err}");
}

#[test]
fn odata_version_chooses_the_rules() {
    // What pyodata and SAP's V2 services send: changeset operations without Content-ID.
    let body = "--batch_1\r\nContent-Type: multipart/mixed; boundary=changeset_1\r\n\r\n\
--changeset_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
POST /Employees HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{}\r\n--changeset_1--\r\n\
--batch_1--\r\n";
    let (code, _, err) = run(&["parse", "-"], Some(body.as_bytes()));
    assert_eq!(code, 1);
    assert!(err.contains("missing-content-id"), "{err}");
    for v in ["2.0", "3.0"] {
        let (code, out, err) = run(&["parse", "--odata-version", v, "-"], Some(body.as_bytes()));
        assert_eq!(code, 0, "{v}: {err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["items"][0]["changeset"][0]["content_id"], Value::Null);
    }
    let (code, _, _) = run(
        &["parse", "--odata-version", "4.0", "-"],
        Some(body.as_bytes()),
    );
    assert_eq!(code, 1);
    let (code, _, err) = run(
        &["parse", "--odata-version", "5", "-"],
        Some(body.as_bytes()),
    );
    assert_eq!(code, 2, "a value the option does not take is a usage error");
    assert!(
        err.starts_with("error: --odata-version takes 2.0, 3.0, 4.0 or 4.01, not 5\nusage: "),
        "{err}"
    );
}

#[test]
fn trust_framing_reads_a_character_counted_content_length_and_warns() {
    // Written by google-api-python-client: `content-length: 18` for a 21-byte UTF-8 body.
    let file = "tests/fixtures/google_python_client_request.txt";
    let (code, _, err) = run(&["parse", file], None);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("error: ") && err.contains("content-length"),
        "{err}"
    );
    for chunk in ["65536", "1"] {
        let (code, out, err) = run(&["parse", "--trust-framing", "--chunk", chunk, file], None);
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["items"][0]["body"], "{\"name\": \"cafÃ© â\u{98}\u{95}\"}");
        assert_eq!(
            err.trim(),
            "warning: operation 0 (Content-ID <6429a756-7e35-4223-87d7-110ab23ad7ec + second>): \
             Content-Length 18 but 21 bytes framed"
        );
    }
}

#[test]
fn graph_dialect() {
    let (code, out, err) = run(
        &[
            "parse",
            "--dialect",
            "graph",
            "tests/fixtures/graph_request.json",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kind"], "request");
    assert_eq!(v["items"].as_array().unwrap().len(), 4);
    assert_eq!(v["items"][3]["method"], "PATCH");
    let (code, out, err) = run(
        &[
            "parse",
            "--dialect",
            "graph",
            "tests/fixtures/graph_response.json",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kind"], "response");
    let ids: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["content_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["1", "3", "2", "4"]);
    let reqs: Vec<String> = (1..=21)
        .map(|i| format!(r#"{{"id":"{i}","method":"GET","url":"/me"}}"#))
        .collect();
    let doc = format!(r#"{{"requests":[{}]}}"#, reqs.join(","));
    let (code, _, err) = run(&["parse", "--dialect", "graph", "-"], Some(doc.as_bytes()));
    assert_eq!(code, 1);
    assert!(err.starts_with("error: too-many-operations"), "{err}");
}

#[test]
fn client_dialects_and_split() {
    for (dialect, file, kind, n) in [
        (
            "google",
            "tests/fixtures/google_docs_request.txt",
            "request",
            3,
        ),
        (
            "google",
            "tests/fixtures/google_docs_response.txt",
            "response",
            3,
        ),
        (
            "azure-blob",
            "tests/fixtures/azure_blob_request.txt",
            "request",
            3,
        ),
        (
            "azure-blob",
            "tests/fixtures/azure_blob_response.txt",
            "response",
            3,
        ),
        (
            "azure-table",
            "tests/fixtures/azure_table_request.txt",
            "request",
            1,
        ),
        (
            "azure-table",
            "tests/fixtures/azure_table_response.txt",
            "response",
            1,
        ),
    ] {
        let (code, out, err) = run(&["parse", "--dialect", dialect, file], None);
        assert_eq!(code, 0, "{dialect} {file}: {err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            (
                v["kind"].as_str().unwrap(),
                v["items"].as_array().unwrap().len()
            ),
            (kind, n),
            "{file}"
        );
    }
    let work = br#"{"requests":[
        {"id":"1","method":"POST","url":"/People","headers":{"content-type":"application/json"},"body":{"n":1}},
        {"id":"2","method":"GET","url":"/People(2)"},
        {"id":"3","method":"PATCH","url":"$1","dependsOn":["1"],"headers":{"content-type":"application/json"},"body":{"n":3}},
        {"id":"4","method":"GET","url":"/People(4)"}]}"#;
    let (code, out, err) = run(
        &[
            "split",
            "--dialect",
            "odata",
            "--max-operations",
            "2",
            "--content-type",
            "application/json",
            "-",
        ],
        Some(work),
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<Vec<&str>> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            b["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["content_id"].as_str().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(ids, [vec!["1", "3"], vec!["2", "4"]]);
    assert!(v.as_array().unwrap().iter().all(|b| b["kind"] == "request"));
    // A chain that cannot fit is named, never split.
    let (code, _, err) = run(
        &[
            "split",
            "--dialect",
            "odata",
            "--max-operations",
            "1",
            "--content-type",
            "application/json",
            "-",
        ],
        Some(work),
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("operation 1, operation 3 must share a batch"),
        "{err}"
    );
    // Azure Blob: numbered from 0 in each batch.
    let (code, out, err) = run(
        &[
            "split",
            "--dialect",
            "azure-blob",
            "--max-operations",
            "2",
            "tests/fixtures/azure_blob_request.txt",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[1]["items"][0]["content_id"], "0");
    assert_eq!(v[1]["items"][0]["url"], "/container2/blob2");
    // Azure Table: the documented changeset stays whole.
    let (code, _, err) = run(
        &[
            "split",
            "--dialect",
            "azure-table",
            "--max-operations",
            "2",
            "tests/fixtures/azure_table_request.txt",
        ],
        None,
    );
    assert_eq!(code, 1);
    assert!(err.contains("changeset_8a28b620"), "{err}");
}

/// Google's own answers: `boundary=batch_pK7JBAk73-E=_AA5eFwv4m2Q=`, unquoted, with `=`.
const GOOGLE_CT: &str = "multipart/mixed; boundary=batch_pK7JBAk73-E=_AA5eFwv4m2Q=";

fn google_answer() -> Vec<u8> {
    b"--batch_pK7JBAk73-E=_AA5eFwv4m2Q=\r\nContent-Type: application/http\r\n\
      Content-ID: <response-1>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\r\n\
      --batch_pK7JBAk73-E=_AA5eFwv4m2Q=--\r\n"
        .to_vec()
}

#[test]
fn google_unquoted_boundaries_with_equals_signs_are_read_outside_strict_mode() {
    let body = google_answer();
    let args = ["parse", "--dialect", "google", "--content-type", GOOGLE_CT];
    let (code, out, err) = run(&args, Some(&body));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kind"], "response");
    assert_eq!(v["items"][0]["status"], 204);
    // Strict mode keeps refusing it, at the value's offset 0.
    let strict = [
        "parse",
        "--strict",
        "--dialect",
        "google",
        "--content-type",
        GOOGLE_CT,
    ];
    let (code, out, err) = run(&strict, Some(&body));
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("invalid content-type"), "{err}");
}

#[test]
fn the_limit_flags_reach_every_dialect() {
    let five = br#"{"requests":[{"method":"get","path":"/a"},{"method":"get","path":"/b"},{"method":"get","path":"/c"},{"method":"get","path":"/d"},{"method":"get","path":"/e"}]}"#;
    let args = ["parse", "--dialect", "json-batch", "--max-operations", "3"];
    let (code, _, err) = run(&args, Some(five));
    assert_eq!(code, 1);
    assert!(err.contains("too-many-operations"), "{err}");
    let (code, _, err) = run(&args[..3], Some(five));
    assert_eq!(code, 0, "{err}");
    let rc = br#"[{"body":{}},{"body":{}},{"body":{}},{"body":{}},{"body":{}}]"#;
    let args = [
        "parse",
        "--dialect",
        "ringcentral",
        "--path",
        "/restapi/message-store/1,2,3,4,5",
        "--max-operations",
        "3",
    ];
    let (code, _, err) = run(&args, Some(rc));
    assert_eq!(code, 1);
    assert!(err.contains("too-many-operations"), "{err}");
    let (code, _, err) = run(&args[..5], Some(rc));
    assert_eq!(code, 0, "{err}");
}

/// One exit-code rule for every subcommand: 0 success, 1 invalid input or a failed operation,
/// 2 a usage error (then the error line and the usage line, on stderr, and nothing on stdout).
#[test]
fn every_subcommand_exits_2_on_a_usage_error_and_1_on_bad_input() {
    let tool = common::batchpart();
    let usage = |args: &[&str], stdin: Option<&[u8]>, first: &str, usage: &str| {
        let (code, out, err) = common::run(&tool, args, stdin);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!((code, out.as_str()), (2, ""), "{args:?}: {err}");
        // The top-level usage lists the subcommands, and `send`'s explains an option.
        assert!(
            lines.len() == 2
                || usage == "usage: batchpart "
                || usage == "usage: batchpart batch send",
            "{args:?}: {err}"
        );
        assert_eq!(lines[0], first, "{args:?}");
        assert!(lines[1].starts_with(usage), "{args:?}: {err}");
    };
    usage(
        &[],
        None,
        "error: a subcommand is needed",
        "usage: batchpart ",
    );
    usage(
        &["frobnicate"],
        None,
        "error: no subcommand frobnicate",
        "usage: batchpart ",
    );
    usage(
        &["batch"],
        None,
        "error: batch takes parse, split or send",
        "usage: batchpart batch parse",
    );
    usage(
        &["batch", "parse", "--chunk"],
        None,
        "error: --chunk needs a number",
        "usage: batchpart batch parse",
    );
    usage(
        &["batch", "parse", "--bogus"],
        None,
        "error: a missing or unknown option",
        "usage: batchpart batch parse",
    );
    usage(
        &["batch", "split", "-"],
        Some(b"{}"),
        "error: a missing or unknown option",
        "usage: batchpart batch split",
    );
    usage(
        &["batch", "split", "--dialect", "x", "-"],
        Some(b"{}"),
        "error: batch split has no dialect x",
        "usage: batchpart batch split",
    );
    usage(
        &["compose", "a", "b"],
        None,
        "error: compose takes one FILE or -",
        "usage: batchpart compose",
    );
    usage(
        &["inspect", "--chunk"],
        None,
        "error: --chunk needs a value",
        "usage: batchpart inspect",
    );
    usage(
        &["server", "--max-connections", "x"],
        None,
        "error: --max-connections takes a positive number",
        "usage: batchpart server",
    );
    usage(
        &["batch", "send"],
        None,
        "error: batch send takes a URL and at most one FILE",
        "usage: batchpart batch send",
    );
    usage(
        &["batch", "send", "--format", "xml", "http://h/"],
        None,
        "error: --format takes multipart or json, not xml",
        "usage: batchpart batch send",
    );
    usage(
        &[
            "batch",
            "send",
            "--dialect",
            "graph",
            "--format",
            "multipart",
            "http://h/",
        ],
        None,
        "error: graph batches are JSON",
        "usage: batchpart batch send",
    );
    // A batch that cannot be sent: exit 1, and still one JSON object, each operation with
    // no status and the error.
    let work = br#"{"requests":[{"id":"1","method":"GET","url":"People"}]}"#;
    let (code, out, err) = common::run(
        &tool,
        &["batch", "send", "http://127.0.0.1:1/$batch", "-"],
        Some(work),
    );
    assert_eq!(code, 1, "{out} {err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["batches"], 1);
    let r = &v["results"][0];
    assert_eq!(
        (
            r["status"].clone(),
            r["attempts"].clone(),
            r["content_id"].clone()
        ),
        (Value::Null, json!(1), json!("1"))
    );
    assert!(r["error"].as_str().unwrap().contains("127.0.0.1:1"), "{r}");
    assert!(err.starts_with("error: batch 1: "), "{err}");
    // Bad input: exit 1 with one error line.
    for (args, stdin) in [
        (&["batch", "parse", "-"][..], &b"--b\r\nnot a batch"[..]),
        (&["compose", "-"][..], &b"not json"[..]),
        (
            &["inspect", "--boundary", "b", "-"][..],
            &b"--b\r\nContent-Type: text/plain\r\n\r\nno end"[..],
        ),
    ] {
        let (code, out, err) = common::run(&tool, args, Some(stdin));
        assert_eq!(
            (code, out.as_str(), err.lines().count()),
            (1, "", 1),
            "{args:?}: {err}"
        );
        assert!(err.starts_with("error: "), "{args:?}: {err}");
    }
    // Asking for help or the version is a success.
    let (code, out, _) = common::run(&tool, &["--help"], None);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("usage: batchpart inspect|compose|batch|server"),
        "{out}"
    );
    let (code, out, _) = common::run(&tool, &["--version"], None);
    assert_eq!(
        (code, out.trim()),
        (0, concat!("batchpart ", env!("CARGO_PKG_VERSION")))
    );
}
