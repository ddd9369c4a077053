//! What the ports (`examples/gcs_batch_delete.rs`, `examples/azure_blob_delete.rs`) handle
//! that the hand-written code they replace does not: each quirk of a real answer or request,
//! through the same dialect calls the ports make (`google::read_response`,
//! `azure_blob::read_response`, the writers, `correlate`).
#![cfg(all(feature = "batch", feature = "json"))]

use batchpart::batch::{
    azure_blob, correlate, google, Batch, BatchErrorKind, BatchRequest, BatchResponse, Item,
    RequestOp,
};
use bytes::{Buf, Bytes};

type Reader = fn(Bytes, &[u8]) -> Result<BatchResponse, batchpart::batch::BatchError>;

/// Both ports' readers.
const READERS: [(&str, Reader); 2] = [
    ("google", google::read_response),
    ("azure-blob", azure_blob::read_response),
];

fn part(cid: Option<&str>, status_line: &str, body: &str) -> String {
    let cid = cid.map_or(String::new(), |c| format!("Content-ID: {c}\r\n"));
    format!(
        "Content-Type: application/http\r\n{cid}\r\n{status_line}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn multipart(boundary: &str, preamble: &str, parts: &[String]) -> Bytes {
    let mut s = preamble.to_string();
    for p in parts {
        s += &format!("--{boundary}\r\n{p}\r\n");
    }
    s += &format!("--{boundary}--\r\n");
    Bytes::from(s)
}

fn statuses(r: &BatchResponse) -> Vec<u16> {
    r.items
        .iter()
        .flat_map(|i| i.ops())
        .map(|o| o.status)
        .collect()
}

/// OpenDAL strips a literal `boundary=` prefix; object_store too. A quoted boundary holding
/// `=` (google-cloud-storage's own) and one that is not the last parameter are read.
#[test]
fn quoted_boundaries_and_other_parameters() {
    let body = multipart(
        "batch_x=y",
        "",
        &[part(Some("response-1"), "HTTP/1.1 204 No Content", "")],
    );
    for (name, read) in READERS {
        for ct in [
            &b"multipart/mixed; boundary=\"batch_x=y\""[..],
            b"multipart/mixed; boundary=\"batch_x=y\"; charset=utf-8",
        ] {
            let r = read(body.clone(), ct).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(statuses(&r), [204], "{name}");
        }
    }
}

/// A preamble before the first delimiter (RFC 2046 allows one) is skipped, not taken for a
/// part.
#[test]
fn a_preamble_is_skipped() {
    let body = multipart(
        "b",
        "This is a multi-part message in MIME format.\r\n",
        &[part(Some("response-1"), "HTTP/1.1 404 Not Found", "{}")],
    );
    for (name, read) in READERS {
        let r = read(body.clone(), b"multipart/mixed; boundary=b").unwrap();
        assert_eq!(statuses(&r), [404], "{name}");
    }
}

/// OpenDAL splits each answer on its first blank line: a body that holds one is cut. Here the
/// body is whole, blank line and all.
#[test]
fn a_blank_line_in_a_body_stays_in_it() {
    let json = "{\"error\":\r\n\r\n{\"code\":404}}";
    let body = multipart(
        "b",
        "",
        &[part(Some("response-1"), "HTTP/1.1 404 Not Found", json)],
    );
    for (name, read) in READERS {
        let r = read(body.clone(), b"multipart/mixed; boundary=b").unwrap();
        let op = r.items[0].ops()[0].clone();
        assert_eq!(&op.body[..], json.as_bytes(), "{name}");
    }
}

/// OpenDAL drops each sub-request's query string: the writers keep it.
#[test]
fn the_query_string_is_kept() {
    let req: BatchRequest = Batch {
        items: vec![Item::Op(
            RequestOp::new("PUT", "/devstoreaccount1/c/blob?comp=tier")
                .with_header("x-ms-date", "Sun, 06 Dec 2026 12:00:00 GMT")
                .with_header("Authorization", "SharedKey a:c2ln"),
        )],
    };
    let (_, body) = azure_blob::write_request(&req, "guid").unwrap();
    let mut body = body.into_bytes();
    let text = String::from_utf8(body.copy_to_bytes(body.remaining()).to_vec()).unwrap();
    assert!(
        text.contains("PUT /devstoreaccount1/c/blob?comp=tier HTTP/1.1"),
        "{text}"
    );
    let req: BatchRequest = Batch {
        items: vec![Item::Op(RequestOp::new(
            "GET",
            "/storage/v1/b/bkt/o/a?fields=name",
        ))],
    };
    let (_, body) = google::write_request(&req, b"batch_q").unwrap();
    let mut body = body.into_bytes();
    let text = String::from_utf8(body.copy_to_bytes(body.remaining()).to_vec()).unwrap();
    assert!(
        text.contains("GET /storage/v1/b/bkt/o/a?fields=name HTTP/1.1"),
        "{text}"
    );
}

/// An inner `Content-Length` that disagrees with the part is never a body silently cut or run
/// on (OpenDAL ignores it; object_store reads the head only). Azure's reader refuses it, a
/// typed error at its byte; Google's takes the body the framing gives, whole, since
/// google-api-python-client counts characters, not bytes.
#[test]
fn a_wrong_inner_content_length_is_refused_or_framed_whole() {
    let good = part(Some("response-1"), "HTTP/1.1 200 OK", "{\"a\":1}");
    let wrong = good.replace("Content-Length: 7", "Content-Length: 3");
    let body = multipart("b", "", &[wrong]);
    let ct = b"multipart/mixed; boundary=b";
    let e = azure_blob::read_response(body.clone(), ct).unwrap_err();
    assert_eq!(e.kind(), BatchErrorKind::Multipart, "{e}");
    assert!(e.offset().is_some(), "{e}");
    let r = google::read_response(body, ct).unwrap();
    assert_eq!(&r.items[0].ops()[0].body[..], b"{\"a\":1}");
}

/// Answers without Content-IDs (the GCS emulator echoes none) pair by position; answers with
/// them pair by id, whatever their order (OpenDAL pairs by position always).
#[test]
fn answers_pair_by_id_or_else_by_position() {
    let req: BatchRequest = Batch {
        items: ["a", "b"]
            .iter()
            .enumerate()
            .map(|(i, n)| Item::Op(RequestOp::new("DELETE", *n).with_content_id(i.to_string())))
            .collect(),
    };
    let out_of_order = multipart(
        "b",
        "",
        &[
            part(Some("1"), "HTTP/1.1 404 Not Found", ""),
            part(Some("0"), "HTTP/1.1 202 Accepted", ""),
        ],
    );
    let r = azure_blob::read_response(out_of_order, b"multipart/mixed; boundary=b").unwrap();
    let paired: Vec<u16> = correlate(&req, &r)
        .pairs
        .iter()
        .map(|p| p.response.unwrap().1.status)
        .collect();
    assert_eq!(paired, [202, 404]);
    let anonymous = multipart(
        "b",
        "",
        &[
            part(None, "HTTP/1.1 204 No Content", ""),
            part(None, "HTTP/1.1 404 Not Found", ""),
        ],
    );
    let r = google::read_response(anonymous, b"multipart/mixed; boundary=b").unwrap();
    let paired: Vec<u16> = correlate(&req, &r)
        .pairs
        .iter()
        .map(|p| p.response.unwrap().1.status)
        .collect();
    assert_eq!(paired, [204, 404]);
}
