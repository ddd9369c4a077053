//! The batch module: readers, writers, validation, references, preferences and the executor.
#![cfg(all(feature = "batch", feature = "json"))]
mod common;

use std::cell::{Cell, RefCell};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use batchpart::batch::*;
use batchpart::stream::iter;
use bytes::{Buf, Bytes};
use common::block_on;
use common::fixture;
use futures_core::Stream;
use proptest::prelude::*;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

fn mp(body: &str) -> Result<BatchRequest, BatchError> {
    read_multipart(
        Bytes::from(body.to_string()),
        b"multipart/mixed; boundary=b",
        Some(ValidationOptions::default()),
    )
}

fn http_part(extra_mime: &str, line: &str, headers: &str, body: &str) -> String {
    format!("--b\r\nContent-Type: application/http\r\n{extra_mime}\r\n{line}\r\n{headers}\r\n{body}\r\n")
}

fn changeset(parts: &[String]) -> String {
    let mut s = String::from("--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n");
    for p in parts {
        s.push_str(&p.replacen("--b\r\n", "--cs\r\n", 1));
    }
    s.push_str("--cs--\r\n");
    s
}

fn close(parts: &[String]) -> String {
    parts.concat() + "--b--\r\n"
}

#[test]
fn content_id_in_part_head_or_both() {
    let in_part = http_part("Content-ID: 1\r\n", "POST /A HTTP/1.1", "", "{}");
    let in_head = http_part("", "POST /A HTTP/1.1", "Content-ID: 2\r\n", "{}");
    let both = http_part(
        "Content-ID: <3>\r\n",
        "POST /A HTTP/1.1",
        "Content-ID: other\r\n",
        "{}",
    );
    let b = mp(&close(&[changeset(&[in_part, in_head, both])])).unwrap();
    let ids: Vec<_> = b.items[0]
        .ops()
        .iter()
        .map(|o| o.content_id.clone().unwrap())
        .collect();
    // The model keeps each value as sent (the MIME part's wins); matching normalizes it.
    assert_eq!(ids, ["1", "2", "<3>"]);
    let normalized: Vec<_> = ids
        .iter()
        .map(|i| {
            batchpart::ContentId::from_bytes(i.as_bytes())
                .normalized()
                .as_bytes()
                .to_vec()
        })
        .collect();
    assert_eq!(normalized, [&b"1"[..], b"2", b"3"]);
}

#[test]
fn a_response_echoes_the_content_id_as_sent() {
    // Google's client matches responses by the exact value it sent, brackets included.
    let body = close(&[
        http_part(
            "Content-ID: <item1:123@example.com>\r\n",
            "GET /a HTTP/1.1",
            "",
            "",
        ),
        http_part("Content-ID: 2\r\n", "GET /b HTTP/1.1", "", ""),
    ]);
    let reader = MultipartReader::<_, RequestOp>::new(
        iter([Ok::<_, std::io::Error>(Bytes::from(body))]),
        b"multipart/mixed; boundary=b",
    )
    .unwrap();
    let mut svc = handler_fn(|_op: RequestOp| async { ResponseOp::new(200) });
    let resp = block_on(execute(reader, &mut svc, ExecOptions::default())).unwrap();
    let (_, wire) = write_multipart(&resp, b"r").unwrap();
    let text = String::from_utf8(wire.into_bytes().to_vec()).unwrap();
    assert!(
        text.contains("Content-ID: <item1:123@example.com>\r\n"),
        "{text}"
    );
    assert!(text.contains("Content-ID: 2\r\n"), "{text}");
}

#[test]
fn shapes_real_servers_send() {
    let b = mp(&close(&[
        http_part(
            "",
            "MERGE Employees('1') HTTP/1.1",
            "Content-Type: application/json\r\n",
            "{}",
        ),
        http_part("", "GET https://host/service/Customers HTTP/1.1", "", ""),
        http_part("", "GET /service/Customers HTTP/1.1", "Host: host\r\n", ""),
        http_part("", "GET Customers HTTP/1.1", "", ""),
    ]))
    .unwrap();
    let urls: Vec<_> = b.items.iter().map(|i| i.ops()[0].url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "Employees('1')",
            "https://host/service/Customers",
            "/service/Customers",
            "Customers"
        ]
    );
    assert_eq!(b.items[0].ops()[0].method, "MERGE");
    // An empty batch, and an empty changeset.
    assert_eq!(mp("--b--").unwrap().items.len(), 0);
    let empty_cs = mp(&close(&[changeset(&[])])).unwrap();
    assert_eq!(
        empty_cs.items,
        vec![Item::Changeset(Changeset {
            id: Some("cs".into()),
            ops: vec![]
        })]
    );
}

#[test]
fn each_validation_rule_has_its_error() {
    let kind = |body: &str| mp(body).unwrap_err().kind();
    let op = |id: &str, line: &str| http_part(&format!("Content-ID: {id}\r\n"), line, "", "");
    assert_eq!(
        kind(&close(&[changeset(&[op("1", "GET /A HTTP/1.1")])])),
        BatchErrorKind::GetInChangeset
    );
    assert_eq!(
        kind(&close(&[changeset(&[http_part(
            "",
            "POST /A HTTP/1.1",
            "",
            ""
        )])])),
        BatchErrorKind::MissingContentId
    );
    assert_eq!(
        kind(&close(&[changeset(&[
            op("1", "POST /A HTTP/1.1"),
            op("1", "POST /B HTTP/1.1")
        ])])),
        BatchErrorKind::DuplicateContentId
    );
    // 4.01: unique across the batch; 4.0: only within the changeset.
    let across = close(&[
        changeset(&[op("1", "POST /A HTTP/1.1")]),
        changeset(&[op("1", "POST /B HTTP/1.1")]).replace("cs", "cs2"),
    ]);
    assert_eq!(kind(&across), BatchErrorKind::DuplicateContentId);
    let v40 = ValidationOptions::default().with_version(ODataVersion::V4_0);
    assert!(read_multipart::<RequestOp>(
        Bytes::from(across),
        b"multipart/mixed; boundary=b",
        Some(v40)
    )
    .is_ok());
    assert_eq!(
        kind(&close(&[http_part(
            "",
            "POST /service/$batch HTTP/1.1",
            "",
            ""
        )])),
        BatchErrorKind::NestedBatch
    );
    for h in [
        "Authorization: Bearer x",
        "Expect: 100-continue",
        "From: a@b",
        "Max-Forwards: 1",
        "Range: bytes=0-1",
        "TE: trailers",
    ] {
        let e = mp(&close(&[http_part(
            "",
            "GET /A HTTP/1.1",
            &format!("{h}\r\n"),
            "",
        )]))
        .unwrap_err();
        assert_eq!(e.kind(), BatchErrorKind::ForbiddenHeader, "{h}");
        assert_eq!(e.op(), Some((0, None)));
    }
    let many: Vec<String> = (0..101)
        .map(|_| http_part("", "GET /A HTTP/1.1", "", ""))
        .collect();
    // The operation limit is the readers' (validation has none of its own), met as the
    // operation that crosses it starts.
    let hundred = ReadLimits::default().with_max_operations(100);
    let read = |parts: &[String]| {
        read_multipart_with::<RequestOp>(
            Bytes::from(close(parts)),
            b"multipart/mixed; boundary=b",
            hundred,
            Some(ValidationOptions::default()),
        )
    };
    let e = read(&many).unwrap_err();
    assert_eq!(
        (e.kind(), e.op()),
        (BatchErrorKind::TooManyOperations, Some((100, None)))
    );
    assert!(read(&many[..100]).is_ok());
    // A nested changeset.
    let nested = "--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n--cs\r\nContent-Type: multipart/mixed; boundary=cs2\r\n\r\n--cs2--\r\n--cs--\r\n--b--";
    assert_eq!(kind(nested), BatchErrorKind::NestedChangeset);
    // A part that is not application/http, and a response in a request.
    assert_eq!(
        kind("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--"),
        BatchErrorKind::NotHttp
    );
    assert_eq!(
        kind(&close(&[http_part("", "HTTP/1.1 200 OK", "", "")])),
        BatchErrorKind::UnexpectedKind
    );
    // Errors name the operation.
    let e = mp(&close(&[
        http_part("", "GET /A HTTP/1.1", "", ""),
        changeset(&[op("7", "GET /B HTTP/1.1")]),
    ]))
    .unwrap_err();
    assert_eq!(e.op(), Some((1, Some("7"))));
    assert!(e.to_string().starts_with("get-in-changeset: "));
}

fn json(doc: &str) -> Result<BatchRequest, BatchError> {
    read_json(
        Bytes::from(doc.to_string()),
        Some(ValidationOptions::default()),
    )
}

#[test]
fn json_rules() {
    let k = |doc: &str| json(doc).unwrap_err().kind();
    assert_eq!(
        k(
            r#"{"requests":[{"id":"1","method":"get","url":"a"},{"id":"1","method":"get","url":"b"}]}"#
        ),
        BatchErrorKind::DuplicateContentId
    );
    assert_eq!(
        k(r#"{"requests":[{"id":"g","method":"post","url":"a","atomicityGroup":"g"}]}"#),
        BatchErrorKind::IdEqualsGroup
    );
    assert_eq!(
        k(
            r#"{"requests":[{"id":"1","method":"post","url":"a","atomicityGroup":"g"},{"id":"2","method":"get","url":"b"},{"id":"3","method":"post","url":"c","atomicityGroup":"g"}]}"#
        ),
        BatchErrorKind::GroupNotAdjacent
    );
    assert_eq!(
        k(
            r#"{"requests":[{"id":"1","method":"get","url":"a","dependsOn":["2"]},{"id":"2","method":"get","url":"b"}]}"#
        ),
        BatchErrorKind::UnknownDependency
    );
    assert_eq!(
        k(
            r#"{"requests":[{"id":"1","method":"post","url":"a"},{"id":"2","method":"get","url":"$1/b"}]}"#
        ),
        BatchErrorKind::ReferenceNotInDependsOn
    );
    assert_eq!(
        k(r#"{"requests":[{"method":"get","url":"a"}]}"#),
        BatchErrorKind::MissingContentId
    );
    assert_eq!(
        k(r#"{"requests":[{"id":"1","url":"a"}]}"#),
        BatchErrorKind::Malformed
    );
    assert_eq!(
        k(r#"{"requests":[{"id":"1","method":"get","url":"/$batch"}]}"#),
        BatchErrorKind::NestedBatch
    );
    assert_eq!(
        k(r#"{"requests":[{"id":"1","method":"get","url":"a","headers":{"Authorization":"x"}}]}"#),
        BatchErrorKind::ForbiddenHeader
    );
    assert!(json(r#"{"requests":[{"id":"1","method":"post","url":"a","atomicityGroup":"g"},{"id":"2","method":"get","url":"$1","dependsOn":["1"]},{"id":"3","method":"get","url":"c","dependsOn":["g"]}]}"#).is_ok());
    // Syntax errors carry line and column in the whole document.
    let e = json("{\"requests\":[\n  {\"id\":\"1\",\n   \"method\":\"get\"\n   \"url\":\"a\"}]}")
        .unwrap_err();
    assert_eq!(e.kind(), BatchErrorKind::Json);
    assert!(e.detail().ends_with("at line 4 column 4"), "{e}");
    let e =
        json("{\"requests\":[\n{\"id\":\"1\",\"method\":\"get\",\"url\":\"a\"}\n{\"id\":\"2\"}]}")
            .unwrap_err();
    assert_eq!(e.kind(), BatchErrorKind::Json);
    assert!(e.detail().contains("line 3 column 1"), "{e}");
    let e = json("{\"requests\":[{\"id\":\"1\",\"method\":\"get\",\"url\":\"a\"},]}").unwrap_err();
    assert!(e.detail().contains("trailing comma"), "{e}");
    assert_eq!(json("{\"requests\":[]}").unwrap().items.len(), 0);
    assert_eq!(
        json("{\"other\":[]}").unwrap_err().kind(),
        BatchErrorKind::Malformed
    );
}

#[test]
fn json_fixture_and_bodies() {
    let b: BatchRequest = read_json(
        Bytes::from(fixture("odata_json_request.json")),
        Some(ValidationOptions::default()),
    )
    .unwrap();
    assert_eq!(b.items.len(), 5);
    let Item::Changeset(g) = &b.items[1] else {
        panic!()
    };
    assert_eq!(g.id.as_deref(), Some("group1"));
    assert_eq!(g.ops[0].depends_on, ["0"]);
    assert_eq!(
        g.ops[0].body,
        Bytes::from_static(b"{\"CompanyName\": \"Alfreds Futterkiste\"}")
    );
    assert_eq!(&b.items[3].ops()[0].body[..4], b"\x89PNG");
    assert_eq!(
        b.items[4].ops()[0].body,
        Bytes::from_static(b"a note\nover two lines")
    );
    // Model to JSON and back.
    let again: BatchRequest = read_json(Bytes::from(write_json(&b).unwrap()), None).unwrap();
    assert_eq!(again, b);
    let r: BatchResponse =
        read_json(Bytes::from(fixture("odata_json_response.json")), None).unwrap();
    assert_eq!(
        r.items
            .iter()
            .flat_map(|i| i.ops())
            .map(|o| o.status)
            .collect::<Vec<_>>(),
        [200, 204, 201, 424]
    );
}

#[test]
fn json_body_encodings() {
    // Untyped bodies are JSON; an untyped body that is not JSON gets a content-type.
    let b = Batch {
        items: vec![Item::Op(
            RequestOp::new("POST", "/x")
                .with_content_id("1")
                .with_body(&b"\x00\xff raw"[..]),
        )],
    };
    let text = write_json(&b).unwrap();
    assert_eq!(
        text,
        r#"{"requests":[{"id":"1","method":"POST","url":"/x","headers":{"content-type":"application/octet-stream"},"body":"AP8gcmF3"}]}"#
    );
    let back: BatchRequest = read_json(Bytes::from(text), None).unwrap();
    assert_eq!(
        back.items[0].ops()[0].body,
        Bytes::from_static(b"\x00\xff raw")
    );
    let typed = Batch {
        items: vec![Item::Op(
            RequestOp::new("POST", "/x")
                .with_header("Content-Type", "application/json")
                .with_body("not json"),
        )],
    };
    assert_eq!(write_json(&typed).unwrap_err().kind(), BatchErrorKind::Body);
    let bad64: Result<BatchRequest, _> = read_json(
        Bytes::from(
            r#"{"requests":[{"id":"1","method":"PUT","url":"/p","headers":{"content-type":"image/png"},"body":"!!"}]}"#,
        ),
        None,
    );
    // The kind its docs give a body that does not decode.
    assert_eq!(bad64.unwrap_err().kind(), BatchErrorKind::Body);
}

#[test]
fn multipart_fixtures_round_trip_through_the_model() {
    for (name, b) in [
        (
            "odata_spec_request.txt",
            "batch_36522ad7-fc75-4b56-8c71-56071383e77b",
        ),
        ("creatio_multipart_request.txt", "batch_a685-9724-d873"),
    ] {
        let ct = format!("multipart/mixed; boundary={b}");
        let model: BatchRequest =
            read_multipart(Bytes::from(fixture(name)), ct.as_bytes(), None).unwrap();
        let (ct2, mut enc) = write_multipart(&model, b"batch_rt").unwrap();
        let again: BatchRequest =
            read_multipart(enc.copy_to_bytes(enc.remaining()), ct2.as_bytes(), None).unwrap();
        assert_eq!(again, without_changeset_ids(model), "{name}");
    }
    let model: BatchResponse = read_multipart(
        Bytes::from(fixture("creatio_multipart_response.txt")),
        b"multipart/mixed; boundary=batchresponse_e17aace9-5cbb-49bd-b7ad-f1be8cc8c9d8",
        None,
    )
    .unwrap();
    let (ct, mut enc) = write_multipart(&model, b"batchresponse_rt").unwrap();
    let again: BatchResponse =
        read_multipart(enc.copy_to_bytes(enc.remaining()), ct.as_bytes(), None).unwrap();
    assert_eq!(again.items.len(), model.items.len());
    assert_eq!(again.items[0].ops(), model.items[0].ops());
}

/// The writer keeps a changeset's id as its boundary when it can; ids compare equal then.
fn without_changeset_ids<Op>(b: Batch<Op>) -> Batch<Op> {
    b
}

// Round trips under proptest.

fn req() -> impl Strategy<Value = RequestOp> {
    (
        prop_oneof![
            Just("POST"),
            Just("PATCH"),
            Just("DELETE"),
            Just("MERGE"),
            Just("PUT")
        ],
        // Non-ASCII too: Latin-1 letters, CJK, and a char whose low byte is a quote.
        "/[A-Za-zäöüß東京€ħ]{1,8}(\\('[a-z0-9é東ħ]{1,4}'\\))?",
        proptest::collection::vec(("X-[A-Za-z]{1,6}", "[a-zA-Z0-9 =;]{0,10}"), 0..3),
        prop_oneof![
            Just(None),
            Just(Some("application/json")),
            Just(Some("text/plain")),
            Just(Some("application/octet-stream"))
        ],
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(m, url, hs, ct, body)| {
            let mut op = RequestOp::new(m, url);
            for (n, v) in hs {
                op.headers.push(n, v.trim().to_string());
            }
            let body = match ct {
                Some("application/json") | None => Bytes::from(format!("{{\"n\":{}}}", body.len())),
                Some("text/plain") => Bytes::from(String::from_utf8_lossy(&body).replace('\r', "")),
                _ => Bytes::from(body),
            };
            if let Some(ct) = ct {
                op.headers.push("Content-Type", ct);
            }
            op.with_body(body)
        })
}

fn batch() -> impl Strategy<Value = BatchRequest> {
    let item = prop_oneof![
        req().prop_map(Item::Op),
        proptest::collection::vec(req(), 0..4)
            .prop_map(|ops| Item::Changeset(Changeset { id: None, ops })),
    ];
    proptest::collection::vec(item, 0..6).prop_map(|items| {
        // Content-IDs unique across the batch, as 4.01 wants; changesets named g1, g2...
        let mut n = 0;
        let items = items
            .into_iter()
            .enumerate()
            .map(|(i, it)| match it {
                Item::Op(op) => {
                    n += 1;
                    Item::Op(op.with_content_id(format!("{n}")))
                }
                Item::Changeset(c) => Item::Changeset(Changeset {
                    id: Some(format!("g{i}")),
                    ops: c
                        .ops
                        .into_iter()
                        .map(|op| {
                            n += 1;
                            op.with_content_id(format!("{n}"))
                        })
                        .collect(),
                }),
            })
            .collect();
        Batch { items }
    })
}

/// Answers with any status, those without a standard reason phrase (299, 451, 599) included.
fn resp() -> impl Strategy<Value = ResponseOp> {
    (
        100u16..=599,
        proptest::collection::vec(("X-[A-Za-z]{1,6}", "[a-zA-Z0-9 =;]{0,10}"), 0..3),
        "[a-z0-9 ]{0,20}",
    )
        .prop_map(|(status, hs, body)| {
            let mut op = ResponseOp::new(status);
            for (n, v) in hs {
                op.headers.push(n, v.trim().to_string());
            }
            op.with_header("Content-Type", "text/plain").with_body(body)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]

    #[test]
    fn responses_with_any_status_round_trip(ops in proptest::collection::vec(resp(), 1..5)) {
        let b: BatchResponse = Batch {
            items: ops
                .into_iter()
                .enumerate()
                .map(|(i, op)| Item::Op(op.with_content_id(format!("{}", i + 1))))
                .collect(),
        };
        let (ct, mut enc) = write_multipart(&b, b"batch_prop").unwrap();
        let back: BatchResponse =
            read_multipart(enc.copy_to_bytes(enc.remaining()), ct.as_bytes(), None).unwrap();
        prop_assert_eq!(&back, &b);
        // UCWA frames each part by its own Content-Length: strict reading checks them.
        let ucwa_b = Batch { items: b.items.iter().map(|i| Item::Op(ResponseOp { content_id: None, ..i.ops()[0].clone() })).collect() };
        let (ct, enc) = batchpart::batch::ucwa::write_responses(&ucwa_b, b"EA370946").unwrap();
        let wire = enc.into_bytes();
        prop_assert!(batchpart::stream::decode_bytes_with(&wire, b"EA370946", batchpart::Config::strict()).is_ok());
        prop_assert_eq!(batchpart::batch::ucwa::read_responses(wire, ct.as_bytes()).unwrap(), ucwa_b);
    }

    #[test]
    fn multipart_model_multipart(b in batch()) {
        let (ct, mut enc) = write_multipart(&b, b"batch_prop").unwrap();
        let wire = enc.copy_to_bytes(enc.remaining());
        let back: BatchRequest = read_multipart(wire.clone(), ct.as_bytes(), Some(ValidationOptions::default())).unwrap();
        prop_assert_eq!(&back, &b);
        let (_, mut enc2) = write_multipart(&back, b"batch_prop").unwrap();
        prop_assert_eq!(enc2.copy_to_bytes(enc2.remaining()), wire);
    }

    #[test]
    fn json_model_json(b in batch().prop_filter("an empty changeset has no JSON form", |b| b.items.iter().all(|i| !i.ops().is_empty()))) {
        // A header name given twice has no JSON form: refused, never written ambiguous.
        let twice = b.items.iter().flat_map(|i| i.ops()).any(|op| {
            let names: Vec<&str> = op.headers.iter().map(|(n, _)| n).collect();
            names.iter().enumerate().any(|(i, n)| names[..i].contains(n))
        });
        if twice {
            prop_assert_eq!(write_json(&b).unwrap_err().kind(), BatchErrorKind::InvalidHeader);
            return Ok(());
        }
        let text = write_json(&b).unwrap();
        let back: BatchRequest = read_json(Bytes::from(text.clone()), Some(ValidationOptions::default())).unwrap();
        prop_assert_eq!(&back, &b);
        prop_assert_eq!(write_json(&back).unwrap(), text);
    }
}

#[test]
fn urls_that_are_not_latin1_go_out_as_utf8_and_read_back_equal() {
    let url = "/Städte('東京')";
    let b = Batch {
        items: vec![Item::Op(RequestOp::new("GET", url).with_content_id("1"))],
    };
    let (ct, mut enc) = write_multipart(&b, b"batch_u").unwrap();
    let wire = enc.copy_to_bytes(enc.remaining());
    let line = format!("GET {url} HTTP/1.1");
    assert!(
        wire.windows(line.len()).any(|w| w == line.as_bytes()),
        "the request line as UTF-8: {:?}",
        String::from_utf8_lossy(&wire)
    );
    let back: BatchRequest = read_multipart(wire, ct.as_bytes(), None).unwrap();
    assert_eq!(back.items[0].ops()[0].url, url);
    // A foreign sender's Latin-1 byte still reads as the letter it meant.
    let latin1 =
        b"--b\r\nContent-Type: application/http\r\n\r\nGET /St\xe4dte HTTP/1.1\r\n\r\n\r\n--b--";
    let back: BatchRequest = read_multipart(
        Bytes::from_static(latin1),
        b"multipart/mixed; boundary=b",
        None,
    )
    .unwrap();
    assert_eq!(back.items[0].ops()[0].url, "/Städte");
    // UCWA writes its request lines through the same rule.
    let (ct, mut enc) = batchpart::batch::ucwa::write_requests(&b, b"EA370946").unwrap();
    let back =
        batchpart::batch::ucwa::read_requests(enc.copy_to_bytes(enc.remaining()), ct.as_bytes())
            .unwrap();
    assert_eq!(back.items[0].ops()[0].url, url);
}

#[test]
fn an_empty_changeset_named_like_an_id_is_an_error_not_a_panic() {
    let body = Bytes::from_static(
        b"--b\r\nContent-Type: application/http\r\nContent-ID: cs\r\n\r\nGET /a HTTP/1.1\r\n\r\n\r\n\
          --b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n--cs--\r\n--b--",
    );
    let opts = ValidationOptions::default().with_json(true);
    let e =
        read_multipart::<RequestOp>(body, b"multipart/mixed; boundary=b", Some(opts)).unwrap_err();
    assert_eq!(e.kind(), BatchErrorKind::IdEqualsGroup);
    assert_eq!(e.op().map(|(i, _)| i), Some(1));
}

#[test]
fn a_reference_reads_the_same_in_validation_and_execution() {
    // `$1(Name)`: the id ends at `(`, for the validator as for the executor.
    let body = r#"{"requests":[
        {"id":"1","method":"POST","url":"People","body":{}},
        {"id":"2","method":"GET","url":"$1(Name)","dependsOn":["1"]},
        {"id":"3","method":"GET","url":"$1/Name?$select=x","dependsOn":["1"]}]}"#;
    let batch: BatchRequest =
        read_json(Bytes::from(body), Some(ValidationOptions::default())).unwrap();
    let items = batchpart::stream::iter(batch.items.into_iter().map(Ok));
    let mut svc = handler_fn(|op: RequestOp| async move {
        if op.method == "POST" {
            ResponseOp::new(201).with_header("Location", "/People(7)")
        } else {
            ResponseOp::new(200).with_body(op.url)
        }
    });
    let opts = ExecOptions::default().with_refs(RefScope::Anywhere);
    let r = common::block_on(execute(items, &mut svc, opts)).unwrap();
    let urls: Vec<&[u8]> = r
        .items
        .iter()
        .flat_map(|i| i.ops())
        .skip(1)
        .map(|o| &o.body[..])
        .collect();
    assert_eq!(
        urls,
        [&b"/People(7)(Name)"[..], b"/People(7)/Name?$select=x"]
    );
    // Not listed in dependsOn: refused, whichever way the id ends.
    for url in ["$1(Name)", "$1/Name", "$1?x", "$1"] {
        let body = format!(
            r#"{{"requests":[{{"id":"1","method":"POST","url":"P","body":{{}}}},{{"id":"2","method":"GET","url":"{url}"}}]}}"#
        );
        let e = read_json::<RequestOp>(Bytes::from(body), Some(ValidationOptions::default()))
            .unwrap_err();
        assert_eq!(e.kind(), BatchErrorKind::ReferenceNotInDependsOn, "{url}");
    }
}

// The executor, with an in-memory store.

#[derive(Default)]
struct Store {
    rows: Mutex<Vec<(String, String)>>,
    staged: Mutex<Option<Vec<(String, String)>>>,
    calls: Mutex<Vec<String>>,
    rollbacks: AtomicUsize,
}

/// The store's handler and, for its changesets, its transaction hook.
#[derive(Clone, Copy)]
struct StoreService<'a>(&'a Store);

impl Handler for StoreService<'_> {
    async fn call(&mut self, op: RequestOp) -> ResponseOp {
        let s = self.0;
        s.calls.lock().unwrap().push(format!(
            "{} {} {}",
            op.method,
            op.url,
            op.headers.get_str("If-Match").unwrap_or("")
        ));
        match op.method.as_str() {
            "POST" => {
                let id = format!(
                    "/Items({})",
                    s.rows.lock().unwrap().len()
                        + s.staged.lock().unwrap().as_ref().map_or(0, Vec::len)
                        + 1
                );
                let row = (id.clone(), String::from_utf8_lossy(&op.body).into_owned());
                match &mut *s.staged.lock().unwrap() {
                    Some(st) => st.push(row),
                    None => s.rows.lock().unwrap().push(row),
                }
                ResponseOp::new(201)
                    .with_header("Location", id)
                    .with_header("ETag", "W/\"1\"")
            }
            "PATCH" if op.url.starts_with("/Items(") => ResponseOp::new(204),
            "GET" if op.url == "/fail" => ResponseOp::new(500),
            "GET" => ResponseOp::new(200).with_body(op.url.clone()),
            _ => ResponseOp::new(400),
        }
    }
}

impl Atomicity for StoreService<'_> {
    type Group = ();

    async fn begin(&self, _c: Option<&str>) {
        *self.0.staged.lock().unwrap() = Some(Vec::new());
    }

    async fn commit(&self, _c: Option<&str>, _g: &()) -> Result<(), ResponseOp> {
        let st = self.0.staged.lock().unwrap().take().unwrap_or_default();
        self.0.rows.lock().unwrap().extend(st);
        Ok(())
    }

    async fn rollback(&self, _c: Option<&str>, _g: &()) {
        self.0.staged.lock().unwrap().take();
        self.0.rollbacks.fetch_add(1, SeqCst);
    }
}

fn run(items: Vec<Item<RequestOp>>, opts: ExecOptions, store: &Store) -> BatchResponse {
    let hook = StoreService(store);
    block_on(execute_with(
        iter(items.into_iter().map(Ok)),
        &mut hook.clone(),
        &hook,
        opts,
    ))
    .unwrap()
}

fn statuses(r: &BatchResponse) -> Vec<Vec<u16>> {
    r.items
        .iter()
        .map(|i| i.ops().iter().map(|o| o.status).collect())
        .collect()
}

#[test]
fn stop_and_continue_on_error() {
    let items = || {
        vec![
            Item::Op(RequestOp::new("GET", "/a")),
            Item::Op(RequestOp::new("GET", "/fail")),
            Item::Op(RequestOp::new("GET", "/b")),
        ]
    };
    let store = Store::default();
    assert_eq!(
        statuses(&run(items(), ExecOptions::default(), &store)),
        [[200], [500]]
    );
    assert_eq!(store.calls.lock().unwrap().len(), 2);
    let opts = ExecOptions::from_preferences(&Preferences::parse(["odata.continue-on-error"]));
    assert_eq!(
        statuses(&run(items(), opts, &Store::default())),
        [[200], [500], [200]]
    );
}

#[test]
fn a_failed_changeset_rolls_back_and_answers_once() {
    let store = Store::default();
    let cs = Item::Changeset(Changeset {
        id: Some("cs".into()),
        ops: vec![
            RequestOp::new("POST", "/Items")
                .with_content_id("1")
                .with_body("a"),
            RequestOp::new("DELETE", "/Items(1)").with_content_id("2"),
            RequestOp::new("POST", "/Items").with_content_id("3"),
        ],
    });
    let r = run(
        vec![cs, Item::Op(RequestOp::new("GET", "/b"))],
        ExecOptions::default().with_continue_on_error(true),
        &store,
    );
    assert_eq!(statuses(&r), [vec![400], vec![200]]);
    assert_eq!(r.items[0].ops()[0].content_id.as_deref(), Some("2"));
    assert_eq!(store.rollbacks.load(SeqCst), 1);
    assert!(
        store.rows.lock().unwrap().is_empty(),
        "the POST was rolled back"
    );
    assert_eq!(
        store.calls.lock().unwrap().len(),
        3,
        "the third op never ran"
    );
}

#[test]
fn references_in_urls_and_if_match() {
    let store = Store::default();
    let cs = Item::Changeset(Changeset {
        id: Some("cs".into()),
        ops: vec![
            RequestOp::new("POST", "/Items")
                .with_content_id("1")
                .with_body("x"),
            RequestOp::new("PATCH", "$1")
                .with_content_id("2")
                .with_header("If-Match", "$1"),
        ],
    });
    let r = run(vec![cs], ExecOptions::default(), &store);
    assert_eq!(statuses(&r), [[201, 204]]);
    assert_eq!(store.calls.lock().unwrap()[1], "PATCH /Items(1) W/\"1\"");
    assert_eq!(store.rows.lock().unwrap().len(), 1);
    // Across changesets only when allowed.
    let two = || {
        vec![
            Item::Changeset(Changeset {
                id: Some("a".into()),
                ops: vec![RequestOp::new("POST", "/Items").with_content_id("1")],
            }),
            Item::Changeset(Changeset {
                id: Some("b".into()),
                ops: vec![RequestOp::new("PATCH", "$1/Name").with_content_id("2")],
            }),
        ]
    };
    let r = run(two(), ExecOptions::default(), &Store::default());
    assert_eq!(statuses(&r), [vec![201], vec![400]]);
    let store = Store::default();
    let r = run(
        two(),
        ExecOptions::default().with_refs(RefScope::Anywhere),
        &store,
    );
    assert_eq!(statuses(&r), [vec![201], vec![204]]);
    assert_eq!(store.calls.lock().unwrap()[1], "PATCH /Items(1)/Name ");
    // `$metadata` is a resource, not a reference.
    let r = run(
        vec![Item::Op(RequestOp::new("GET", "$metadata"))],
        ExecOptions::default(),
        &Store::default(),
    );
    assert_eq!(statuses(&r), [[200]]);
}

#[test]
fn failed_dependencies_get_424() {
    let doc = r#"{"requests":[
        {"id":"1","method":"GET","url":"/fail"},
        {"id":"2","method":"GET","url":"/x","dependsOn":["1"]},
        {"id":"3","method":"GET","url":"/y"}]}"#;
    let store = Store::default();
    let reader = JsonReader::<_, RequestOp>::new(iter([Ok::<_, std::convert::Infallible>(
        Bytes::from(doc),
    )]))
    .validate(ValidationOptions::default());
    let hook = StoreService(&store);
    let r = block_on(execute_with(
        reader,
        &mut hook.clone(),
        &hook,
        ExecOptions::default()
            .with_continue_on_error(true)
            .with_refs(RefScope::Anywhere),
    ))
    .unwrap();
    assert_eq!(statuses(&r), [[500], [424], [200]]);
    assert_eq!(
        store.calls.lock().unwrap().len(),
        2,
        "the dependent request never reached the handler"
    );
}

/// A byte source that counts how many chunks were pulled.
struct Counting {
    chunks: Vec<Bytes>,
    pulled: Rc<Cell<usize>>,
}

impl Stream for Counting {
    type Item = Result<Bytes, std::convert::Infallible>;
    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let i = this.pulled.get();
        if i == this.chunks.len() {
            return Poll::Ready(None);
        }
        this.pulled.set(i + 1);
        Poll::Ready(Some(Ok(this.chunks[i].clone())))
    }
}

/// In streaming mode; by default the whole batch is read first (checked at the end).
#[test]
fn the_handler_sees_operation_1_before_operation_100_is_read() {
    let mut body = String::new();
    for i in 0..100 {
        body.push_str(&http_part(
            &format!("Content-ID: {i}\r\n"),
            &format!("GET /item/{i} HTTP/1.1"),
            "",
            "",
        ));
    }
    body.push_str("--b--");
    let chunks: Vec<Bytes> = body
        .as_bytes()
        .chunks(64)
        .map(Bytes::copy_from_slice)
        .collect();
    let total = chunks.len();
    let pulled = Rc::new(Cell::new(0));
    let src = Counting {
        chunks,
        pulled: pulled.clone(),
    };
    let reader = MultipartReader::<_, RequestOp>::new(src, b"multipart/mixed; boundary=b").unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let mut svc = handler_fn({
        let (seen, pulled) = (seen.clone(), pulled.clone());
        move |op: RequestOp| {
            seen.borrow_mut().push((op.url.clone(), pulled.get()));
            async { ResponseOp::new(200) }
        }
    });
    let streaming = ExecOptions::default().with_streaming(true);
    let r = block_on(execute(reader, &mut svc, streaming)).unwrap();
    assert_eq!(r.items.len(), 100);
    {
        let seen = seen.borrow();
        assert_eq!(seen[0].0, "/item/0");
        assert!(
            seen[0].1 < total / 10,
            "operation 1 ran after {} of {total} chunks",
            seen[0].1
        );
        assert!(seen.windows(2).all(|w| w[0].1 <= w[1].1));
    }
    // The default reads and validates everything before the first operation runs.
    seen.borrow_mut().clear();
    let src = Counting {
        chunks: body
            .as_bytes()
            .chunks(64)
            .map(Bytes::copy_from_slice)
            .collect(),
        pulled: Rc::new(Cell::new(0)),
    };
    let pulled = src.pulled.clone();
    let mut svc = handler_fn({
        let (seen, pulled) = (seen.clone(), pulled.clone());
        move |op: RequestOp| {
            seen.borrow_mut().push((op.url.clone(), pulled.get()));
            async { ResponseOp::new(200) }
        }
    });
    let reader = MultipartReader::<_, RequestOp>::new(src, b"multipart/mixed; boundary=b").unwrap();
    block_on(execute(reader, &mut svc, ExecOptions::default())).unwrap();
    assert_eq!(seen.borrow()[0].1, total);
}

#[test]
fn responses_echo_content_ids_and_write_back() {
    let store = Store::default();
    let model: BatchRequest = read_multipart(
        Bytes::from(fixture("odata_spec_request.txt")),
        b"multipart/mixed; boundary=batch_36522ad7-fc75-4b56-8c71-56071383e77b",
        Some(ValidationOptions::default()),
    )
    .unwrap();
    let r = run(
        model.items,
        ExecOptions::default().with_continue_on_error(true),
        &store,
    );
    let ids: Vec<_> = r
        .items
        .iter()
        .flat_map(|i| i.ops())
        .map(|o| o.content_id.clone())
        .collect();
    assert_eq!(ids, [None, Some("1".into()), Some("2".into()), None]);
    let (ct, mut body) = write_multipart(&r, b"batchresponse_1").unwrap();
    let back: BatchResponse =
        read_multipart(body.copy_to_bytes(body.remaining()), ct.as_bytes(), None).unwrap();
    assert_eq!(back, r);
}

#[test]
fn base64_bodies_in_either_alphabet_with_or_without_padding() {
    // Bytes whose base64 uses the two alphabet-specific characters: 0xfb 0xff 0xbf.
    let bytes = [0xfbu8, 0xff, 0xbf, 0x01];
    for body in ["+/+/AQ==", "+/+/AQ", "-_-_AQ", "-_-_AQ=="] {
        let doc = format!(
            r#"{{"requests":[{{"id":"1","method":"post","url":"/x","headers":{{"content-type":"application/octet-stream"}},"body":"{body}"}}]}}"#
        );
        let batch = read_json::<RequestOp>(Bytes::from(doc), None).unwrap();
        let Item::Op(op) = &batch.items[0] else {
            panic!()
        };
        assert_eq!(&op.body[..], &bytes[..], "{body}");
    }
    // Written as base64url without padding.
    let batch = Batch {
        items: vec![Item::Op(
            RequestOp::new("POST", "/x")
                .with_header("content-type", "application/octet-stream")
                .with_body(Bytes::from_static(&[0xfb, 0xff, 0xbf, 0x01])),
        )],
    };
    assert!(write_json(&batch).unwrap().contains(r#""body":"-_-_AQ""#));
    // Neither alphabet, or both mixed: refused.
    for bad in ["-/-/AQ", "@@@@"] {
        let doc = format!(
            r#"{{"requests":[{{"id":"1","method":"post","url":"/x","headers":{{"content-type":"application/octet-stream"}},"body":"{bad}"}}]}}"#
        );
        let e = read_json::<RequestOp>(Bytes::from(doc), None).unwrap_err();
        assert_eq!(e.kind(), BatchErrorKind::Body, "{bad}: {e}");
    }
}

/// A handler that records what it applied.
fn recording(applied: &RefCell<Vec<String>>) -> impl Handler + '_ {
    handler_fn(move |op: RequestOp| {
        applied
            .borrow_mut()
            .push(format!("{} {}", op.method, op.url));
        async { ResponseOp::new(201) }
    })
}

#[test]
fn a_late_malformed_part_never_half_applies_a_batch() {
    let good = "--b\r\nContent-Type: application/http\r\n\r\nPOST /a HTTP/1.1\r\n\r\n{}\r\n";
    let body = format!("{good}{good}--b\r\nContent-Type: application/http\r\n\r\nPOST /c HTTP/1.1\r\nno colon here\r\n\r\n\r\n--b--");
    let chunks = |size: usize| {
        let b = Bytes::from(body.clone());
        (0..b.len())
            .step_by(size)
            .map(|i| Ok::<_, std::io::Error>(b.slice(i..(i + size).min(b.len()))))
            .collect::<Vec<_>>()
    };
    for size in [body.len(), 7, 1] {
        // By default: read and validated first, so nothing runs and the batch is refused.
        let applied = RefCell::new(Vec::new());
        let reader = MultipartReader::<_, RequestOp>::new(
            iter(chunks(size)),
            b"multipart/mixed; boundary=b",
        )
        .unwrap();
        let r = block_on(execute(
            reader,
            &mut recording(&applied),
            ExecOptions::default(),
        ));
        assert_eq!(r.unwrap_err().kind(), BatchErrorKind::Multipart);
        assert!(applied.borrow().is_empty(), "nothing applied");
        // Streaming: the two operations ran and keep their answers; the rest of the batch
        // gets one last 400 without a Content-ID.
        let applied = RefCell::new(Vec::new());
        let reader = MultipartReader::<_, RequestOp>::new(
            iter(chunks(size)),
            b"multipart/mixed; boundary=b",
        )
        .unwrap();
        let opts = ExecOptions::default()
            .with_streaming(true)
            .with_continue_on_error(true);
        let resp = block_on(execute(reader, &mut recording(&applied), opts)).unwrap();
        assert_eq!(applied.borrow().len(), 2);
        let statuses: Vec<(u16, Option<String>)> = resp
            .items
            .iter()
            .flat_map(|i| i.ops())
            .map(|r| (r.status, r.content_id.as_deref().map(str::to_owned)))
            .collect();
        assert_eq!(statuses, vec![(201, None), (201, None), (400, None)]);
        // Written back, the last answer is a last application/http part.
        let (_, wire) = write_multipart(&resp, b"r").unwrap();
        let wire = wire.into_bytes();
        let back =
            read_multipart::<ResponseOp>(wire, b"multipart/mixed; boundary=r", None).unwrap();
        assert_eq!(back.items.len(), 3);
    }
    // The same in JSON: a last response object with status 400 and no id.
    let doc = r#"{"requests":[{"id":"1","method":"post","url":"/a"},{"id":"2","method":"post","url":"/b"},{"id":"3","method":"post","url":}]}"#;
    let applied = RefCell::new(Vec::new());
    let reader = JsonReader::<_, RequestOp>::new(iter([Ok::<_, std::io::Error>(Bytes::from(doc))]));
    let e = block_on(execute(
        reader,
        &mut recording(&applied),
        ExecOptions::default(),
    ))
    .unwrap_err();
    assert_eq!(e.kind(), BatchErrorKind::Json, "{e}");
    assert!(applied.borrow().is_empty());
    let applied = RefCell::new(Vec::new());
    let reader = JsonReader::<_, RequestOp>::new(iter([Ok::<_, std::io::Error>(Bytes::from(doc))]));
    let opts = ExecOptions::default()
        .with_streaming(true)
        .with_continue_on_error(true);
    let resp = block_on(execute(reader, &mut recording(&applied), opts)).unwrap();
    assert_eq!(applied.borrow().len(), 2);
    let json = write_json(&resp).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let last = v["responses"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["status"], 400);
    assert!(last.get("id").is_none(), "{last}");
    // Streaming, but the error comes before any operation ran: the whole batch's error.
    let reader = JsonReader::<_, RequestOp>::new(iter([Ok::<_, std::io::Error>(
        Bytes::from_static(b"{\"requests\":[{\"method\":}]}"),
    )]));
    let applied = RefCell::new(Vec::new());
    let e = block_on(execute(reader, &mut recording(&applied), opts)).unwrap_err();
    assert_eq!(e.kind(), BatchErrorKind::Json, "{e}");
    assert!(applied.borrow().is_empty());
}

#[test]
fn header_values_go_in_and_come_out_byte_for_byte() {
    // JSON: the UTF-8 of the string, kept whole (it was once cut to latin-1).
    let doc =
        r#"{"requests":[{"id":"1","method":"get","url":"/x","headers":{"X-Name":"Zoë 日本"}}]}"#;
    let batch = read_json::<RequestOp>(Bytes::from(doc), None).unwrap();
    let Item::Op(op) = &batch.items[0] else {
        panic!()
    };
    assert_eq!(op.headers.get("x-name"), Some("Zoë 日本".as_bytes()));
    assert_eq!(op.headers.get_str("x-name"), Some("Zoë 日本"));
    let back = write_json(&batch).unwrap();
    assert!(back.contains(r#""X-Name":"Zoë 日本""#), "{back}");
    // Multipart: the bytes as sent, UTF-8 or not, and back.
    let body = b"--b\r\nContent-Type: application/http\r\n\r\nGET /x HTTP/1.1\r\nX-Name: Zo\xc3\xab \xe6\x97\xa5\r\nX-Raw: caf\xe9\r\n\r\n\r\n--b--".to_vec();
    let batch =
        read_multipart::<RequestOp>(Bytes::from(body), b"multipart/mixed; boundary=b", None)
            .unwrap();
    let Item::Op(op) = &batch.items[0] else {
        panic!()
    };
    assert_eq!(
        op.headers.get("x-name"),
        Some(&b"Zo\xc3\xab \xe6\x97\xa5"[..])
    );
    assert_eq!(op.headers.get("x-raw"), Some(&b"caf\xe9"[..]));
    let (_, wire) = write_multipart(&batch, b"b").unwrap();
    let wire = wire.into_bytes();
    assert!(wire.windows(10).any(|w| w == b"X-Raw: caf"));
    assert!(wire.windows(4).any(|w| w == b"caf\xe9"));
    // A value that is not UTF-8 has no JSON form: an error, never a changed value.
    let e = write_json(&batch).unwrap_err();
    assert_eq!(e.kind(), BatchErrorKind::InvalidHeader);
    // A header name given twice in one JSON object is refused.
    let dup = r#"{"requests":[{"id":"1","method":"get","url":"/x","headers":{"A":"1","A":"2"}}]}"#;
    assert_eq!(
        read_json::<RequestOp>(Bytes::from(dup), None)
            .unwrap_err()
            .kind(),
        BatchErrorKind::DuplicateMember
    );
}

/// Each request's answer's status, in request order.
fn paired_statuses(c: &batchpart::batch::Correlation<'_>) -> Vec<Option<u16>> {
    c.pairs
        .iter()
        .map(|p| p.response.map(|(_, r)| r.status))
        .collect()
}

#[test]
fn correlation_pairs_answers_across_formats_and_changesets() {
    // A multipart request with a changeset, answered in JSON-like order by a server that
    // wraps ids in Google's `response-` form, fails the changeset (one answer), and adds an
    // answer nobody asked for.
    let body = close(&[
        http_part("Content-ID: <a>\r\n", "GET /a HTTP/1.1", "", ""),
        changeset(&[
            http_part("Content-ID: 1\r\n", "POST /x HTTP/1.1", "", "{}"),
            http_part(
                "Content-ID: 2\r\n",
                "PATCH $1 HTTP/1.1",
                "If-Match: $1\r\n",
                "{}",
            ),
        ]),
    ]);
    let requests = mp(&body).unwrap();
    let responses = Batch {
        items: vec![
            Item::Op(ResponseOp::new(200).with_content_id("<response-a>")),
            Item::Changeset(Changeset {
                id: None,
                ops: vec![ResponseOp::new(400).with_content_id("2")],
            }),
            Item::Op(ResponseOp::new(500).with_content_id("zzz")),
        ],
    };
    let c = correlate(&requests, &responses);
    let statuses = paired_statuses(&c);
    assert_eq!(statuses, [Some(200), None, Some(400)]);
    assert!(c
        .pairs
        .iter()
        .all(|p| p.matched_by != Some(MatchedBy::Position)));
    assert_eq!(c.unanswered().map(|p| p.request.0).collect::<Vec<_>>(), [1]);
    assert_eq!(
        c.unmatched_responses
            .iter()
            .map(|(j, _)| *j)
            .collect::<Vec<_>>(),
        [2]
    );
    // The PATCH refers to the POST by `$1`, in its URL and its If-Match.
    assert_eq!(c.references[2], [1, 1]);
    // JSON ids, and a server that dropped them: position.
    let json = r#"{"requests":[{"id":"r1","method":"get","url":"/a"},{"id":"r2","method":"get","url":"/b"}]}"#;
    let requests = read_json::<RequestOp>(Bytes::from(json), None).unwrap();
    let responses = read_json::<ResponseOp>(
        Bytes::from(r#"{"responses":[{"status":200},{"id":"r2","status":404}]}"#),
        None,
    )
    .unwrap();
    let c = correlate(&requests, &responses);
    assert_eq!(c.pairs[0].matched_by, Some(MatchedBy::Position));
    assert_eq!(c.pairs[1].matched_by, Some(MatchedBy::ContentId));
    assert_eq!(c.pairs[1].response.unwrap().1.status, 404);
}

#[test]
fn a_changeset_answered_by_one_part_shifts_no_positional_answer() {
    // odatapy and CAP answer a failed changeset with one error part: the un-ID'd GETs after
    // it pair with the answers at their items, not at their flat positions.
    let requests = Batch {
        items: vec![
            Item::Changeset(Changeset {
                id: None,
                ops: vec![
                    RequestOp::new("POST", "/x").with_content_id("1"),
                    RequestOp::new("POST", "/x").with_content_id("2"),
                ],
            }),
            Item::Op(RequestOp::new("GET", "/a")),
            Item::Op(RequestOp::new("GET", "/b")),
        ],
    };
    let responses = Batch {
        items: vec![
            Item::Changeset(Changeset {
                id: None,
                ops: vec![ResponseOp::new(409).with_content_id("2")],
            }),
            Item::Op(ResponseOp::new(200)),
            Item::Op(ResponseOp::new(404)),
        ],
    };
    let c = correlate(&requests, &responses);
    let statuses = paired_statuses(&c);
    assert_eq!(statuses, [None, Some(409), Some(200), Some(404)]);
    assert_eq!(c.pairs[2].matched_by, Some(MatchedBy::Position));
    assert!(c.unmatched_responses.is_empty());
    // With the item counts differing, positions are flat.
    let mut fewer = responses.clone();
    fewer.items.pop();
    fewer.items.remove(0);
    let c = correlate(&requests, &fewer);
    assert_eq!(c.pairs[0].response.map(|(_, r)| r.status), Some(200));
    assert!(c.pairs[2].response.is_none());
}

#[test]
fn a_content_id_comes_back_where_it_was_sent() {
    // Creatio and OData 2.0/3.0 clients carry it inside the embedded head; 4.0 clients in the
    // MIME part header. Each answer carries it in the same place, once.
    let body = close(&[
        http_part("", "GET /inside HTTP/1.1", "Content-ID: in-1\r\n", ""),
        http_part("Content-ID: part-2\r\n", "GET /part HTTP/1.1", "", ""),
    ]);
    let requests = mp(&body).unwrap();
    let ops: Vec<&RequestOp> = requests.items.iter().flat_map(|i| i.ops()).collect();
    assert_eq!(ops[0].content_id.as_deref(), Some("in-1"));
    assert_eq!(
        ops[0].headers.get("content-id"),
        None,
        "kept once, as the op's Content-ID"
    );
    let reader = MultipartReader::<_, RequestOp>::new(
        iter([Ok::<_, std::io::Error>(Bytes::from(body))]),
        b"multipart/mixed; boundary=b",
    )
    .unwrap();
    let mut svc = handler_fn(|_op: RequestOp| async { ResponseOp::new(200) });
    let resp = block_on(execute(reader, &mut svc, ExecOptions::default())).unwrap();
    let (_, wire) = write_multipart(&resp, b"r").unwrap();
    let text = String::from_utf8(wire.into_bytes().to_vec()).unwrap();
    let parts: Vec<&str> = text
        .split("--r")
        .filter(|p| p.contains("HTTP/1.1"))
        .collect();
    // Inside: after the status line, not among the MIME headers.
    let (mime, head) = parts[0].split_once("HTTP/1.1 200 OK").unwrap();
    assert!(!mime.contains("Content-ID"), "{text}");
    assert_eq!(head.matches("Content-ID: in-1").count(), 1, "{text}");
    let (mime, head) = parts[1].split_once("HTTP/1.1 200 OK").unwrap();
    assert!(mime.contains("Content-ID: part-2"), "{text}");
    assert!(!head.contains("Content-ID"), "{text}");
}

// Concurrency: independent operations run together through forked handles, answers in order.

#[derive(Default)]
struct Flight {
    now: Cell<usize>,
    max: Cell<usize>,
    /// In flight when each operation started, by URL.
    at_start: RefCell<Vec<(String, usize)>>,
}

#[derive(Clone)]
struct Forkable(Rc<Flight>);

impl Handler for Forkable {
    async fn call(&mut self, op: RequestOp) -> ResponseOp {
        let f = &self.0;
        f.now.set(f.now.get() + 1);
        f.max.set(f.max.get().max(f.now.get()));
        f.at_start
            .borrow_mut()
            .push((op.url.to_string(), f.now.get()));
        // Later operations finish first: each yields as often as its URL's number says.
        let yields: usize = op.url.trim_start_matches("/w").parse().unwrap_or(0);
        for _ in 0..yields {
            tokio::task::yield_now().await;
        }
        f.now.set(f.now.get() - 1);
        ResponseOp::new(200)
            .with_header("Location", op.url.clone())
            .with_body(op.url)
    }

    fn fork(&self) -> Option<Self> {
        Some(self.clone())
    }
}

fn concurrent_run(urls: &[&str], opts: ExecOptions) -> (Vec<String>, Rc<Flight>) {
    let flight = Rc::new(Flight::default());
    let items: Vec<_> = urls
        .iter()
        .enumerate()
        .map(|(i, u)| {
            Ok(Item::Op(
                RequestOp::new("GET", *u).with_content_id((i + 1).to_string()),
            ))
        })
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut svc = Forkable(flight.clone());
    let mut emitted = Vec::new();
    rt.block_on(execute_each(
        iter(items),
        &mut svc,
        &NoAtomicity,
        opts,
        |item| {
            for r in item.ops() {
                emitted.push(format!(
                    "{}={}",
                    r.content_id.as_deref().unwrap(),
                    String::from_utf8_lossy(&r.body)
                ));
            }
        },
    ))
    .unwrap();
    (emitted, flight)
}

#[test]
fn independent_operations_run_together_and_answer_in_order() {
    let opts = ExecOptions::default()
        .with_continue_on_error(true)
        .with_concurrency(3);
    let urls = ["/w5", "/w1", "/w3", "/w0", "/w2", "/w4"];
    let (emitted, flight) = concurrent_run(&urls, opts);
    let want: Vec<String> = urls
        .iter()
        .enumerate()
        .map(|(i, u)| format!("{}={u}", i + 1))
        .collect();
    assert_eq!(emitted, want);
    assert_eq!(flight.max.get(), 3);
    // Without continue-on-error nothing may run after a failure: one at a time.
    let (_, flight) = concurrent_run(&urls, ExecOptions::default().with_concurrency(3));
    assert_eq!(flight.max.get(), 1);
    // A reference waits for everything before it.
    let anywhere = opts.with_refs(RefScope::Anywhere);
    let (emitted, flight) = concurrent_run(&["/w3", "/w2", "$1/w0", "/w1"], anywhere);
    assert_eq!(emitted.len(), 4);
    let at = flight.at_start.borrow();
    let dependent = at.iter().find(|(u, _)| u.contains("w0")).unwrap();
    assert_eq!(dependent.1, 1, "ran alone: {at:?}");
}

#[test]
fn validation_errors_carry_a_byte_offset_in_both_formats() {
    // JSON: at the element that broke the rule (the second element begins at byte 50).
    let doc = br#"{"requests":[{"id":"1","method":"GET","url":"/a"},{"id":"1","method":"GET","url":"/b"}]}"#;
    let e = read_json::<RequestOp>(Bytes::from_static(doc), Some(ValidationOptions::default()))
        .unwrap_err();
    assert_eq!(e.kind(), BatchErrorKind::DuplicateContentId, "{e}");
    assert_eq!(e.offset(), Some(50), "{e}");
    // Multipart: where the offending changeset ends.
    let body = "--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n--cs\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\nGET /People HTTP/1.1\r\n\r\n\r\n--cs--\r\n--b--\r\n";
    let e = read_multipart::<RequestOp>(
        Bytes::from(body),
        b"multipart/mixed; boundary=b",
        Some(ValidationOptions::default()),
    )
    .unwrap_err();
    assert_eq!(e.kind(), BatchErrorKind::GetInChangeset, "{e}");
    let at = e.offset().expect("an offset");
    assert!(at > 0 && at <= body.len() as u64, "{at}");
}

/// The JSON reader's text: a string is shared with the element where it has no escape and
/// unescaped where it has one; `method` and `url` take strings only, an `id` any scalar (a
/// number reads as its text), a header value any value (as compact JSON text).
#[test]
fn json_strings_escaped_or_not_and_other_values() {
    let b = json(
        r#"{"requests":[{"id":7,"method":"GET","url":"St\u00e4dte\/x?$a=1","headers":{"X-N":5,"X-\u0041":"\u00e9"}}]}"#,
    )
    .unwrap();
    let op = &b.items[0].ops()[0];
    assert_eq!(
        (op.content_id.as_deref(), &*op.method, &*op.url),
        (Some("7"), "GET", "Städte/x?$a=1")
    );
    let h: Vec<_> = op.headers.iter().collect();
    assert_eq!(h, [("X-N", &b"5"[..]), ("X-A", "é".as_bytes())]);
    for bad in [
        r#"{"requests":[{"id":"1","method":5,"url":"a"}]}"#,
        r#"{"requests":[{"id":"1","method":"GET","url":["a"]}]}"#,
    ] {
        assert_eq!(
            json(bad).unwrap_err().kind(),
            BatchErrorKind::Malformed,
            "{bad}"
        );
    }
}

/// The one transaction hook, from the executor: a changeset's operations get the group's
/// handle (`call_in`), the others none (`call`); a run dropped while a group is open cancels
/// it, once, and neither commits nor rolls it back.
#[test]
fn the_executor_hands_groups_their_handle_and_cancels_a_dropped_group() {
    #[derive(Clone, Default)]
    struct Hook(Arc<Mutex<Vec<String>>>);
    impl Atomicity for Hook {
        type Group = u32;
        async fn begin(&self, g: Option<&str>) -> u32 {
            self.0
                .lock()
                .unwrap()
                .push(format!("begin {}", g.unwrap_or("")));
            7
        }
        async fn commit(&self, _g: Option<&str>, n: &u32) -> Result<(), ResponseOp> {
            self.0.lock().unwrap().push(format!("commit {n}"));
            Ok(())
        }
        async fn rollback(&self, _g: Option<&str>, n: &u32) {
            self.0.lock().unwrap().push(format!("rollback {n}"));
        }
        fn cancel(&self, _g: Option<&str>, n: &u32) {
            self.0.lock().unwrap().push(format!("cancel {n}"));
        }
    }
    impl Handler<u32> for Hook {
        async fn call(&mut self, op: RequestOp) -> ResponseOp {
            self.0.lock().unwrap().push(format!("call {}", op.url));
            ResponseOp::new(200)
        }
        async fn call_in(&mut self, op: RequestOp, n: &u32) -> ResponseOp {
            self.0
                .lock()
                .unwrap()
                .push(format!("call_in {} {n}", op.url));
            if op.url == "/hang" {
                std::future::pending::<()>().await;
            }
            ResponseOp::new(200)
        }
    }
    let group = |urls: &[&str]| {
        Item::Changeset(Changeset {
            id: Some("cs".into()),
            ops: urls
                .iter()
                .enumerate()
                .map(|(i, u)| RequestOp::new("POST", *u).with_content_id(i.to_string()))
                .collect(),
        })
    };
    let hook = Hook::default();
    let items = vec![
        Ok(Item::Op(RequestOp::new("GET", "/a"))),
        Ok(group(&["/b", "/c"])),
    ];
    let r = block_on(execute_with(
        iter(items),
        &mut hook.clone(),
        &hook,
        ExecOptions::default(),
    ))
    .unwrap();
    assert_eq!(statuses(&r), [vec![200], vec![200, 200]]);
    assert_eq!(
        *hook.0.lock().unwrap(),
        [
            "call /a",
            "begin cs",
            "call_in /b 7",
            "call_in /c 7",
            "commit 7"
        ]
    );
    // Dropped while `/hang` runs inside the group: cancelled, never resolved.
    let hook = Hook::default();
    {
        let mut h = hook.clone();
        let run = execute_with(
            iter(vec![Ok(group(&["/b", "/hang", "/c"]))]),
            &mut h,
            &hook,
            ExecOptions::default(),
        );
        let mut run = std::pin::pin!(run);
        let waker = std::task::Waker::from(Arc::new(Noop));
        let polled = run.as_mut().poll(&mut Context::from_waker(&waker));
        assert!(polled.is_pending());
    }
    assert_eq!(
        *hook.0.lock().unwrap(),
        ["begin cs", "call_in /b 7", "call_in /hang 7", "cancel 7"]
    );
}

struct Noop;

impl std::task::Wake for Noop {
    fn wake(self: Arc<Self>) {}
}
