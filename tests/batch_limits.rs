//! The batch layer attacked as a public `$batch` endpoint would be: every fault shape, read
//! whole and one byte per chunk, must end in the error that names its limit, and the bytes
//! allocated while reading must stay within a small constant above the limits, whatever the
//! input size. `BATCH_LIMITS_MIB` sets the input size of the large shapes (default 8; the
//! figures in the notes are for 64).
#![cfg(all(feature = "batch", feature = "json"))]

use batchpart::batch::{
    ringcentral, BatchErrorKind as K, Item, JsonReader, MultipartReader, ReadLimits, RequestOp,
    ResponseOp,
};
use bytes::Bytes;

#[path = "common/ready.rs"]
mod ready;
use ready::block_on_next;

#[path = "common/peak.rs"]
mod peak;
use peak::peak;

const MIB: usize = 1 << 20;

/// The large shapes' size, kept under the default 64 MiB batch limit so that the limit under
/// test is the one they meet.
fn size() -> usize {
    let mib: usize = std::env::var("BATCH_LIMITS_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    mib * MIB - 4096
}

/// The chunks of `body`, `n` bytes each (slices of one buffer: chunking allocates nothing).
fn chunks(body: &Bytes, n: usize) -> Vec<Result<Bytes, std::convert::Infallible>> {
    (0..body.len())
        .step_by(n)
        .map(|i| Ok(body.slice(i..(i + n).min(body.len()))))
        .collect()
}

/// Reads every item; the error kind, or the number of operations.
fn drain<Op>(
    mut r: impl futures_core::Stream<Item = Result<Item<Op>, batchpart::batch::BatchError>> + Unpin,
) -> Result<usize, K> {
    let mut n = 0;
    while let Some(item) = block_on_next(&mut r) {
        n += item
            .map_err(|e| {
                eprintln!("  error: {e}");
                e.kind()
            })?
            .ops()
            .len();
    }
    Ok(n)
}

/// A shape read whole and one byte per chunk (a prefix of it for the latter, to keep the
/// test quick): both end as `want`, within `limit` bytes allocated.
fn check(
    name: &str,
    body: &Bytes,
    small: &Bytes,
    read: &dyn Fn(Vec<Result<Bytes, std::convert::Infallible>>) -> Result<usize, K>,
    want: Result<usize, K>,
    limit: usize,
) {
    let whole = chunks(body, body.len().max(1));
    let (r, p) = peak(|| read(whole));
    eprintln!(
        "{name}: {} MiB whole: {r:?}, peak {} KiB",
        body.len() / MIB,
        p / 1024
    );
    assert_eq!(r, want, "{name}");
    assert!(p <= limit, "{name}: peak {p} B over {limit}");
    let bytewise = chunks(small, 1);
    let (r, p) = peak(|| read(bytewise));
    eprintln!(
        "{name}: {} KiB by 1 byte: {r:?}, peak {} KiB",
        small.len() / 1024,
        p / 1024
    );
    assert_eq!(r.err(), want.err(), "{name}, 1-byte chunks");
    assert!(p <= limit, "{name}, 1-byte chunks: peak {p} B over {limit}");
}

fn small_limits() -> ReadLimits {
    ReadLimits::default()
        .with_max_operations(100)
        .with_max_body_bytes(64 * 1024)
        .with_max_batch_bytes(128 * MIB as u64)
}

fn repeat_to(unit: &str, head: &str, tail: &str, size: usize) -> Bytes {
    let mut s = String::with_capacity(size + unit.len() + tail.len());
    s.push_str(head);
    while s.len() < size {
        s.push_str(unit);
    }
    s.push_str(tail);
    Bytes::from(s)
}

#[test]
fn operations_inside_an_atomicity_group_are_counted_as_they_arrive() {
    let el = r#"{"id":"x","atomicityGroup":"g","method":"post","url":"/a"},"#;
    let body = repeat_to(
        el,
        r#"{"requests":["#,
        r#"{"id":"y","method":"get","url":"/"}]}"#,
        size(),
    );
    let small = repeat_to(
        el,
        r#"{"requests":["#,
        r#"{"id":"y","method":"get","url":"/"}]}"#,
        64 * 1024,
    );
    let read = |c| drain(JsonReader::<_, RequestOp>::new(batchpart::stream::iter(c)));
    // The default limit (1,000 operations), with a group that would hold them all.
    check(
        "atomicityGroup flood",
        &body,
        &small,
        &read,
        Err(K::TooManyOperations),
        MIB,
    );
}

#[test]
fn response_readers_have_an_operation_limit() {
    let el = r#"{"id":"1","status":200},"#;
    let body = repeat_to(el, r#"{"responses":["#, r#"{"status":204}]}"#, size());
    let small = repeat_to(el, r#"{"responses":["#, r#"{"status":204}]}"#, 64 * 1024);
    let read = |c| drain(JsonReader::<_, ResponseOp>::new(batchpart::stream::iter(c)));
    check(
        "JSON responses",
        &body,
        &small,
        &read,
        Err(K::TooManyOperations),
        MIB,
    );
    let part = "--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 200 OK\r\n\r\n\r\n";
    let body = repeat_to(part, "", "--b--", size());
    let small = repeat_to(part, "", "--b--", 64 * 1024);
    let read = |c| {
        drain(
            MultipartReader::<_, ResponseOp>::new(
                batchpart::stream::iter(c),
                b"multipart/mixed; boundary=b",
            )
            .unwrap(),
        )
    };
    check(
        "multipart responses",
        &body,
        &small,
        &read,
        Err(K::TooManyOperations),
        MIB,
    );
    // RingCentral's JSON responses: 863,000 operations once took 2.9 GB.
    let el = r#"{"resourceId":"1","status":200,"body":{}},"#;
    let body = repeat_to(el, "[", r#"{"resourceId":"2","status":200}]"#, size());
    let (r, p) = peak(|| ringcentral::read_json_response(&body, 207).map(|r| r.results.len()));
    eprintln!(
        "RingCentral JSON responses: {} MiB: {:?}, peak {} KiB",
        body.len() / MIB,
        r.as_ref().map_err(|e| e.kind()),
        p / 1024
    );
    assert_eq!(r.unwrap_err().kind(), K::TooManyOperations);
    assert!(p <= MIB, "peak {p}");
}

#[test]
fn bodies_and_batches_are_bounded_as_bytes_arrive() {
    let limits = small_limits();
    // One multipart body far over max_body_bytes.
    let head = "--b\r\nContent-Type: application/http\r\n\r\nPOST /a HTTP/1.1\r\n\r\n";
    let body = repeat_to("0123456789abcdef", head, "\r\n--b--", size());
    let small = repeat_to("0123456789abcdef", head, "\r\n--b--", 128 * 1024);
    let read = |c| {
        drain(
            MultipartReader::<_, RequestOp>::new(
                batchpart::stream::iter(c),
                b"multipart/mixed; boundary=b",
            )
            .unwrap()
            .limits(limits),
        )
    };
    check(
        "multipart body",
        &body,
        &small,
        &read,
        Err(K::BodyTooLarge),
        3 * limits.max_body_bytes + 256 * 1024,
    );
    // One JSON element far over it.
    let body = repeat_to(
        "0123456789abcdef",
        r#"{"requests":[{"id":"1","method":"post","url":"/a","body":""#,
        r#""}]}"#,
        size(),
    );
    let small = repeat_to(
        "0123456789abcdef",
        r#"{"requests":[{"id":"1","method":"post","url":"/a","body":""#,
        r#""}]}"#,
        128 * 1024,
    );
    let read =
        |c| drain(JsonReader::<_, RequestOp>::new(batchpart::stream::iter(c)).limits(limits));
    check(
        "JSON element",
        &body,
        &small,
        &read,
        Err(K::BodyTooLarge),
        3 * limits.max_body_bytes + 256 * 1024,
    );
    // A batch over max_batch_bytes, each part within its limits.
    let part = "--b\r\nContent-Type: application/http\r\n\r\nPOST /a HTTP/1.1\r\n\r\n{}\r\n";
    let many = limits
        .with_max_operations(usize::MAX)
        .with_max_batch_bytes(4 * MIB as u64);
    let body = repeat_to(part, "", "--b--", size().max(5 * MIB));
    let read = |c| {
        drain(
            MultipartReader::<_, RequestOp>::new(
                batchpart::stream::iter(c),
                b"multipart/mixed; boundary=b",
            )
            .unwrap()
            .limits(many),
        )
    };
    let (r, p) = peak(|| read(chunks(&body, 64 * 1024)));
    eprintln!(
        "multipart batch: {} MiB: {r:?}, peak {} KiB",
        body.len() / MIB,
        p / 1024
    );
    assert_eq!(r, Err(K::BatchTooLarge));
}

#[test]
fn one_byte_chunks_cost_the_bytes_not_a_buffer_each() {
    // A 1 MiB body at one byte per chunk: coalesced, not one `Bytes` per byte.
    let head = "--b\r\nContent-Type: application/http\r\n\r\nPOST /a HTTP/1.1\r\n\r\n";
    let body = repeat_to("x", head, "\r\n--b--", MIB);
    let read = |c| {
        drain(
            MultipartReader::<_, RequestOp>::new(
                batchpart::stream::iter(c),
                b"multipart/mixed; boundary=b",
            )
            .unwrap(),
        )
    };
    let c = chunks(&body, 1);
    let (r, p) = peak(|| read(c));
    eprintln!("1 MiB body by 1 byte: {r:?}, peak {} KiB", p / 1024);
    assert_eq!(r, Ok(1));
    // The body and its buffer's growth, never 33 times the body.
    assert!(p <= 3 * MIB, "peak {p}");
}

#[test]
fn per_operation_limits() {
    let deps: Vec<String> = (0..101).map(|i| format!("\"r{i}\"")).collect();
    let doc = format!(
        r#"{{"requests":[{{"id":"1","method":"get","url":"/","dependsOn":[{}]}}]}}"#,
        deps.join(",")
    );
    let r = drain(JsonReader::<_, RequestOp>::new(batchpart::stream::iter([
        Ok::<_, std::convert::Infallible>(Bytes::from(doc)),
    ])));
    assert_eq!(r, Err(K::TooManyDependencies));
    let headers: Vec<String> = (0..129).map(|i| format!("\"x-{i}\":\"v\"")).collect();
    let doc = format!(
        r#"{{"requests":[{{"id":"1","method":"get","url":"/","headers":{{{}}}}}]}}"#,
        headers.join(",")
    );
    let r = drain(JsonReader::<_, RequestOp>::new(batchpart::stream::iter([
        Ok::<_, std::convert::Infallible>(Bytes::from(doc)),
    ])));
    assert_eq!(r, Err(K::TooManyHeaders));
}

#[test]
fn json_that_is_not_json_is_refused_with_line_and_column() {
    let read = |doc: &str| {
        let mut r = JsonReader::<_, RequestOp>::new(batchpart::stream::iter([Ok::<
            _,
            std::convert::Infallible,
        >(
            Bytes::from(doc.to_string()),
        )]));
        let mut last = None;
        while let Some(item) = block_on_next(&mut r) {
            if let Err(e) = item {
                last = Some(e);
            }
        }
        last
    };
    let el = r#"{"id":"1","method":"get","url":"/"}"#;
    for (doc, kind, what) in [
        (
            format!(r#"{{"requests"[{el}]}}"#),
            K::Json,
            "expected : after a member name at line 1 column 12",
        ),
        (
            format!(r#"{{"requests":[{el}]]"#),
            K::Json,
            "expected , or } (a missing comma?) at line 1 column",
        ),
        (
            format!(r#"{{"requests":[],"requests":[{el}]}}"#),
            K::DuplicateMember,
            "member \"requests\" named twice",
        ),
        (
            format!(r#"{{"requests":[],"requ\u0065sts":[{el}]}}"#),
            K::DuplicateMember,
            "named twice",
        ),
        (
            format!(r#"{{"requests":[{el}],"x":tru}}"#),
            K::Json,
            "invalid value",
        ),
        (
            r#"{"requests":[{"id":"1","id":"2","method":"get","url":"/"}]}"#.to_string(),
            K::DuplicateMember,
            "duplicate field `id`",
        ),
    ] {
        let e = read(&doc).unwrap_or_else(|| panic!("accepted: {doc}"));
        assert_eq!(e.kind(), kind, "{doc}: {e}");
        assert!(e.detail().contains(what), "{doc}: {e}");
        assert!(e.offset().is_some(), "{doc}: no offset");
    }
    // A UTF-8 BOM at the start is accepted (RFC 8259 section 8.1).
    let doc = format!("\u{feff}{{\"requests\":[{el}]}}");
    assert!(read(&doc).is_none());
}

#[test]
fn limit_errors_carry_the_operation_and_an_offset() {
    let part = "--b\r\nContent-Type: application/http\r\n\r\nGET /a HTTP/1.1\r\n\r\n\r\n";
    let body = Bytes::from(format!("{part}{part}--b--"));
    let limits = ReadLimits::default().with_max_operations(1);
    let mut r = MultipartReader::<_, RequestOp>::new(
        batchpart::stream::iter([Ok::<_, std::convert::Infallible>(body)]),
        b"multipart/mixed; boundary=b",
    )
    .unwrap()
    .limits(limits);
    let mut err = None;
    while let Some(item) = block_on_next(&mut r) {
        if let Err(e) = item {
            err = Some(e);
        }
    }
    let e = err.unwrap();
    assert_eq!(e.kind(), K::TooManyOperations);
    assert_eq!(e.op().map(|(i, _)| i), Some(1));
    assert!(e.offset().is_some_and(|o| o > 0), "{e:?}");
    assert!(e.to_string().contains("max_operations"), "{e}");
}

#[test]
fn ringcentral_readers_take_chunks() {
    use batchpart::batch::ringcentral::{Entry, PartsReader};
    // The JSON form, one byte at a time, as a stream of entries.
    let doc =
        br#"[{"resourceId":"1","status":200,"body":{"a":1}},{"resourceId":"2","status":404}]"#;
    let whole = ringcentral::read_json_response(doc, 207).unwrap();
    let mut r =
        JsonReader::<_, Entry>::new(batchpart::stream::iter(chunks(&Bytes::from_static(doc), 1)));
    let mut got = Vec::new();
    while let Some(item) = block_on_next(&mut r) {
        got.extend(item.unwrap().ops().iter().cloned());
    }
    assert_eq!(got.len(), whole.results.len());
    assert_eq!(got[0].body, whole.results[0].body);
    assert_eq!(
        (got[1].resource_id.as_deref(), got[1].status),
        (Some("2"), Some(404))
    );
    // Over the operation limit as a stream, too.
    let el = r#"{"resourceId":"1","status":200},"#;
    let flood = repeat_to(el, "[", r#"{"status":200}]"#, 256 * 1024);
    let read = |c| drain(JsonReader::<_, Entry>::new(batchpart::stream::iter(c)));
    check(
        "RingCentral JSON stream",
        &flood,
        &flood.slice(..64 * 1024),
        &read,
        Err(K::TooManyOperations),
        MIB,
    );
    // The multipart form: plain parts, one byte at a time, each body as its part ends.
    let body = Bytes::from_static(b"--b\r\nContent-Type: application/json\r\n\r\n{\"a\":1}\r\n--b\r\nContent-Type: application/json\r\n\r\n{}\r\n--b--");
    let mut r = PartsReader::new(
        batchpart::stream::iter(chunks(&body, 1)),
        b"multipart/mixed; boundary=b",
    )
    .unwrap();
    let mut parts = Vec::new();
    while let Some(p) = block_on_next(&mut r) {
        parts.push(p.unwrap());
    }
    assert_eq!(
        parts,
        vec![Bytes::from_static(b"{\"a\":1}"), Bytes::from_static(b"{}")]
    );
    let small = ReadLimits::default().with_max_operations(1);
    let three = Bytes::from_static(b"--b\r\n\r\n{}\r\n--b\r\n\r\n{}\r\n--b\r\n\r\n{}\r\n--b--");
    let mut r = PartsReader::new(
        batchpart::stream::iter(chunks(&three, 3)),
        b"multipart/mixed; boundary=b",
    )
    .unwrap()
    .limits(small);
    let mut last = None;
    while let Some(p) = block_on_next(&mut r) {
        last = Some(p);
    }
    assert_eq!(last.unwrap().unwrap_err().kind(), K::TooManyOperations);
}

#[test]
fn batch_errors_keep_their_cause() {
    use std::error::Error as _;
    // A decode error: the codec's error is the source, with its offset.
    let e = batchpart::batch::read_multipart::<RequestOp>(
        Bytes::from_static(b"--b\r\nno colon\r\n\r\n--b--"),
        b"multipart/mixed; boundary=b",
        None,
    )
    .unwrap_err();
    let inner = e
        .source()
        .and_then(|s| s.downcast_ref::<batchpart::Error>())
        .copied();
    assert_eq!(
        inner.map(|i| (i.kind(), i.offset())),
        Some((batchpart::ErrorKind::InvalidHeader, 5))
    );
    assert_eq!(e.offset(), Some(5));
    assert_eq!(e.decode_error(), inner);
    // A JSON error inside an element: serde_json's error is the source.
    let e = batchpart::batch::read_json::<RequestOp>(
        Bytes::from_static(br#"{"requests":[{"id":1,"method":"get","url":}]}"#),
        None,
    )
    .unwrap_err();
    assert!(
        e.source().is_some_and(|s| s.is::<serde_json::Error>()),
        "{e:?}"
    );
    assert!(e.offset().is_some());
    // An encode error keeps the encoder's.
    let batch = batchpart::batch::Batch {
        items: vec![Item::Op(RequestOp::new("GET", "/a\r\nX: y"))],
    };
    let e = batchpart::batch::write_multipart(&batch, b"b").unwrap_err();
    assert!(
        e.source()
            .is_some_and(|s| s.is::<batchpart::encoder::EncodeError>()),
        "{e:?}"
    );
    // Errors stay cloneable: the source is shared.
    let e2 = e.clone();
    assert_eq!(e2.to_string(), e.to_string());
}
