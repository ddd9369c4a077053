//! The encoder: every rejection with its kind, zero copy of bodies, round trips through the
//! decoder under random chunkings, Python's `email` reading what it writes, and `compose`.
#![cfg(feature = "stream")]
mod common;
use batchpart::encoder::{EncodeError, EncodeErrorKind as K, Encoder, EncoderConfig};
use batchpart::writer::{ContentIdIn, Writer};
use batchpart::Config;
use bytes::{Buf, Bytes, BytesMut};
use common::*;
use proptest::prelude::*;

fn no_headers() -> [(&'static str, &'static str); 0] {
    []
}

#[test]
fn rejections_have_kinds() {
    let kind = |r: Result<(), batchpart::encoder::EncodeError>| r.unwrap_err().kind();
    assert_eq!(Encoder::new(b"").unwrap_err().kind(), K::InvalidBoundary);
    assert_eq!(
        Encoder::new(&[b'a'; 71]).unwrap_err().kind(),
        K::InvalidBoundary
    );
    assert_eq!(
        Encoder::new(b"trailing ").unwrap_err().kind(),
        K::InvalidBoundary
    );
    assert_eq!(
        Encoder::new(b"bad\"quote").unwrap_err().kind(),
        K::InvalidBoundary
    );
    let mut e = Encoder::new(b"b").unwrap();
    let mut buf = BytesMut::new();
    assert_eq!(
        kind(e.part([("X-A", "a\r\nInjected: 1")], &mut buf)),
        K::InvalidHeaderValue
    );
    assert_eq!(
        kind(e.part([("X-A", "a\nb")], &mut buf)),
        K::InvalidHeaderValue
    );
    assert_eq!(
        kind(e.part([("X-A", "a\0b")], &mut buf)),
        K::InvalidHeaderValue
    );
    assert_eq!(
        kind(e.part([("X-A\r\n", "a")], &mut buf)),
        K::InvalidHeaderName
    );
    assert_eq!(
        kind(e.part([("Bad Name", "a")], &mut buf)),
        K::InvalidHeaderName
    );
    assert_eq!(kind(e.part([("", "a")], &mut buf)), K::InvalidHeaderName);
    // A refused header leaves no partial output.
    assert!(buf.is_empty());
    e.part(no_headers(), &mut buf).unwrap();
    assert_eq!(
        kind(e.request_head(b"GE T", b"/", None, no_headers(), &mut buf)),
        K::InvalidMethod
    );
    assert_eq!(
        kind(e.request_head(b"GET", b"", None, no_headers(), &mut buf)),
        K::InvalidTarget
    );
    assert_eq!(
        kind(e.request_head(b"GET", b"/a\r\nX: y", None, no_headers(), &mut buf)),
        K::InvalidTarget
    );
    assert_eq!(
        kind(e.request_head(b"GET", b"/a b", None, no_headers(), &mut buf)),
        K::InvalidTarget
    );
    assert_eq!(
        kind(e.request_head(b"GET", b"/", Some(b"HTTP/11"), no_headers(), &mut buf)),
        K::InvalidVersion
    );
    assert_eq!(
        kind(e.request_head(b"GET", b"/", None, [("X", "\r")], &mut buf)),
        K::InvalidHeaderValue
    );
    assert_eq!(
        kind(e.response_head(b"HTTP/1.1", 99, None, no_headers(), &mut buf)),
        K::InvalidStatus
    );
    assert_eq!(
        kind(e.response_head(b"HTTP/1.1", 200, Some(b"O\nK"), no_headers(), &mut buf)),
        K::InvalidStatus
    );
    assert_eq!(kind(e.close_multipart(b"", &mut buf)), K::Unbalanced);
    assert_eq!(kind(e.preamble(b"late", &mut buf)), K::OutOfOrder);
    assert_eq!(
        kind(e.open_multipart(b"b", no_headers(), &mut buf)),
        K::InvalidBoundary
    );
    assert_eq!(
        kind(e.open_multipart(
            b"c",
            [("Content-Type", "multipart/mixed; boundary=d")],
            &mut buf
        )),
        K::ContentTypeMismatch
    );
    e.open_multipart(b"c", no_headers(), &mut buf).unwrap();
    assert_eq!(kind(e.finish(b"", &mut buf)), K::Unbalanced);
    e.close_multipart(b"", &mut buf).unwrap();
    assert_eq!(kind(e.finish(b"\r\n--b--", &mut buf)), K::BoundaryInBody);
    e.finish(b"", &mut buf).unwrap();
    assert_eq!(kind(e.part(no_headers(), &mut buf)), K::OutOfOrder);
    assert_eq!(kind(e.finish(b"", &mut buf)), K::OutOfOrder);
    // Raw spaces in targets only when asked for.
    let mut e = Encoder::with_config(
        b"b",
        EncoderConfig {
            allow_spaces_in_target: true,
        },
    )
    .unwrap();
    e.part(no_headers(), &mut buf).unwrap();
    assert!(e
        .request_head(
            b"GET",
            b"Rooms?$filter=Building eq $1/Building",
            Some(b"HTTP/1.1"),
            no_headers(),
            &mut buf
        )
        .is_ok());
}

#[test]
fn body_checks_find_delimiters() {
    let mut w = Writer::new(b"b").unwrap();
    w.check_bodies(true);
    w.part_start(no_headers()).unwrap();
    for bad in [&b"x\r\n--b\r\n"[..], b"x\n--b--", b"--b"] {
        assert_eq!(
            w.body(Bytes::from_static(bad)).unwrap_err().kind(),
            K::BoundaryInBody,
            "{bad:?}"
        );
    }
    for good in [&b"x\r\n--a\r\n"[..], b"x --b", b"-b", b"\r\n-b"] {
        assert!(w.body(Bytes::from_static(good)).is_ok(), "{good:?}");
    }
    // Nested: the enclosing boundaries are checked too.
    w.open_multipart(b"c", no_headers()).unwrap();
    w.part_start(no_headers()).unwrap();
    assert_eq!(
        w.body(Bytes::from_static(b"\r\n--b")).unwrap_err().kind(),
        K::BoundaryInBody
    );
}

#[test]
fn bodies_come_out_untouched_and_uncopied() {
    let big = Bytes::from(vec![7u8; 1 << 20]);
    let small = Bytes::from_static(b"{\"a\":1}");
    let mut w = Writer::new(b"b").unwrap();
    w.part([("Content-Type", "application/octet-stream")], big.clone())
        .unwrap();
    w.request(
        Some(("1", ContentIdIn::Both)),
        "POST",
        "/x",
        [("Content-Type", "application/json")],
        small.clone(),
    )
    .unwrap();
    let enc = w.finish(b"").unwrap();
    let segs: Vec<Bytes> = enc.segments().cloned().collect();
    assert!(segs
        .iter()
        .any(|s| s.as_ptr() == big.as_ptr() && s.len() == big.len()));
    assert!(segs
        .iter()
        .any(|s| s.as_ptr() == small.as_ptr() && s.len() == small.len()));
    // Framing and bodies alternate: framing, big, framing, small, framing.
    assert_eq!(segs.len(), 5);
    // The Buf view hands the body segment over without copying.
    let mut enc = enc;
    let first = enc.chunk().len();
    enc.advance(first);
    assert_eq!(enc.copy_to_bytes(big.len()).as_ptr(), big.as_ptr());
}

#[test]
fn streamed_body_of_unknown_length() {
    let parts: Vec<Result<Bytes, batchpart::writer::BoxError>> = vec![
        Ok(Bytes::from_static(b"chunk one, ")),
        Ok(Bytes::new()),
        Ok(Bytes::from_static(b"chunk two")),
    ];
    let mut w = Writer::new(b"b").unwrap();
    w.part_start([("Content-Type", "text/plain")]).unwrap();
    w.body_stream(Box::pin(batchpart::stream::iter(parts)));
    w.part(
        [("Content-Type", "text/plain")],
        Bytes::from_static(b"whole"),
    )
    .unwrap();
    let mut s = w.finish_stream(b"").unwrap();
    let mut wire = Vec::new();
    while let Some(b) = block_on_next(&mut s) {
        wire.extend_from_slice(&b.unwrap());
    }
    let evs = decode(&wire, b"b").unwrap();
    assert_eq!(
        bodies(&evs),
        vec![b"chunk one, chunk two".to_vec(), b"whole".to_vec()]
    );
    // A stream body cannot come out of the Buf form.
    let mut w = Writer::new(b"b").unwrap();
    w.part_start(no_headers()).unwrap();
    w.body_stream(Box::pin(batchpart::stream::iter(Vec::<
        Result<Bytes, batchpart::writer::BoxError>,
    >::new())));
    assert_eq!(w.finish(b"").unwrap_err().kind(), K::StreamingBody);
}

#[test]
fn content_type_and_generated_boundaries() {
    // The value comes from the finished body: the boundary it was finished with.
    let w = Writer::new(b"batch_1.2+34:2j)0?").unwrap();
    assert_eq!(
        w.finish(b"").unwrap().content_type("mixed"),
        "multipart/mixed; boundary=\"batch_1.2+34:2j)0?\""
    );
    let a = Writer::with_random_boundary();
    let b = Writer::with_random_boundary();
    assert_ne!(a.encoder().boundary(), b.encoder().boundary());
    let a = a.finish(b"").unwrap();
    let ct = a.content_type("batching");
    let parsed = batchpart::ContentType::parse(ct.as_bytes()).unwrap();
    assert_eq!(parsed.multipart_boundary().unwrap(), a.boundary());
    assert!(
        ct.starts_with("multipart/batching; boundary=batch_"),
        "{ct}"
    );
}

#[test]
fn canonical_and_absent_reason_phrases() {
    let mut w = Writer::new(b"b").unwrap();
    w.response(None, 201, None, no_headers(), Bytes::new())
        .unwrap();
    w.response(None, 204, Some(""), no_headers(), Bytes::new())
        .unwrap();
    w.response(None, 299, None, no_headers(), Bytes::new())
        .unwrap();
    let wire: Vec<u8> = w.finish(b"").unwrap().flat_map(|b| b.to_vec()).collect();
    let evs = decode_with(&wire, b"b", Config::strict(), &[3]).unwrap();
    let r: Vec<_> = evs
        .iter()
        .filter_map(|e| match e {
            Ev::Response { status, reason, .. } => Some((*status, reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        r,
        vec![(201, b"Created".to_vec()), (204, vec![]), (299, vec![])]
    );
}

// Round trips: random trees through the Writer and back through the decoder.

#[derive(Debug, Clone)]
enum Op {
    Leaf {
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    Req {
        id: Option<(String, ContentIdIn)>,
        method: String,
        target: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    Res {
        id: Option<(String, ContentIdIn)>,
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    Set(Vec<Op>),
}

fn random_case(s: &str, seed: u64) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if seed >> (i % 64) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

fn op() -> impl Strategy<Value = Op> {
    let hdrs =
        proptest::collection::vec(("[a-z][a-z0-9-]{0,8}", "[ -~]{0,16}", any::<u64>()), 0..3)
            .prop_map(|v| {
                v.into_iter()
                    .map(|(n, val, seed)| {
                        (random_case(&format!("x-{n}"), seed), val.trim().to_string())
                    })
                    .collect::<Vec<_>>()
            });
    let body = proptest::collection::vec(
        prop_oneof![
            Just(b'\r'),
            Just(b'\n'),
            Just(b'-'),
            Just(b'b'),
            any::<u8>()
        ],
        0..40,
    );
    let id = proptest::option::of((
        "[A-Za-z0-9._~-]{1,8}",
        prop_oneof![
            Just(ContentIdIn::Part),
            Just(ContentIdIn::Head),
            Just(ContentIdIn::Both)
        ],
    ));
    let leaf = prop_oneof![
        (hdrs.clone(), body.clone()).prop_map(|(headers, body)| Op::Leaf { headers, body }),
        (
            id.clone(),
            "[A-Za-z]{1,7}",
            "/[a-z0-9/$()'=]{0,12}",
            hdrs.clone(),
            body.clone()
        )
            .prop_map(|(id, method, target, headers, body)| Op::Req {
                id,
                method,
                target,
                headers,
                body
            }),
        (id, 100u16..600, hdrs, body).prop_map(|(id, status, headers, body)| Op::Res {
            id,
            status,
            headers,
            body
        }),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        proptest::collection::vec(inner, 0..4).prop_map(Op::Set)
    })
}

fn write_ops(w: &mut Writer, ops: &[Op]) {
    try_write_ops(w, ops, None).unwrap()
}

/// Writes the ops; changesets get `changeset` as their boundary, or a generated one.
fn try_write_ops(w: &mut Writer, ops: &[Op], changeset: Option<&[u8]>) -> Result<(), EncodeError> {
    let hs = |h: &[(String, String)]| -> Vec<(String, String)> { h.to_vec() };
    for op in ops {
        match op {
            Op::Leaf { headers, body } => {
                w.part(hs(headers), Bytes::from(body.clone()))?;
            }
            Op::Req {
                id,
                method,
                target,
                headers,
                body,
            } => {
                let id = id.as_ref().map(|(s, p)| (s.as_str(), *p));
                w.request(id, method, target, hs(headers), Bytes::from(body.clone()))?;
            }
            Op::Res {
                id,
                status,
                headers,
                body,
            } => {
                let id = id.as_ref().map(|(s, p)| (s.as_str(), *p));
                w.response(id, *status, None, hs(headers), Bytes::from(body.clone()))?;
            }
            Op::Set(inner) => {
                w.open_changeset(changeset)?;
                try_write_ops(w, inner, changeset)?;
                w.close_changeset()?;
            }
        }
    }
    Ok(())
}

/// What the decoder must report for the ops, in its event vocabulary.
fn expect(ops: &[Op], out: &mut Vec<String>) {
    for op in ops {
        match op {
            Op::Leaf { headers, body } => out.push(format!("leaf {headers:?} {body:?}")),
            Op::Req {
                id,
                method,
                target,
                headers,
                body,
            } => {
                let (part_id, head_id) = ids(id);
                out.push(format!(
                    "req {part_id:?} {head_id:?} {method} {target} {headers:?} {body:?}"
                ));
            }
            Op::Res {
                id,
                status,
                headers,
                body,
            } => {
                let (part_id, head_id) = ids(id);
                out.push(format!(
                    "res {part_id:?} {head_id:?} {status} {headers:?} {body:?}"
                ));
            }
            Op::Set(inner) => {
                out.push("open".into());
                expect(inner, out);
                out.push("close".into());
            }
        }
    }
}

fn ids(id: &Option<(String, ContentIdIn)>) -> (Option<String>, Option<String>) {
    match id {
        None => (None, None),
        Some((s, ContentIdIn::Part)) => (Some(s.clone()), None),
        Some((s, ContentIdIn::Head)) => (None, Some(s.clone())),
        Some((s, ContentIdIn::Both)) => (Some(s.clone()), Some(s.clone())),
    }
}

fn observed(evs: &[Ev]) -> Vec<String> {
    let s = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
    let user = |h: &[(Vec<u8>, Vec<u8>)]| -> Vec<(String, String)> {
        h.iter()
            .filter(|(n, _)| n[..2].eq_ignore_ascii_case(b"x-"))
            .map(|(n, v)| (s(n), s(v)))
            .collect()
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < evs.len() {
        match &evs[i] {
            Ev::PartStart {
                headers,
                content_id,
                ..
            } => {
                let body_of = |j: usize| match evs.get(j) {
                    Some(Ev::Body(b)) => b.clone(),
                    _ => vec![],
                };
                match evs.get(i + 1) {
                    Some(Ev::MultipartStart(_)) => out.push("open".into()),
                    Some(Ev::Request {
                        method,
                        target,
                        headers: hh,
                        content_id: hid,
                        ..
                    }) => {
                        let pid = content_id.as_ref().map(|c| s(c));
                        let hid = hid.as_ref().map(|c| s(c));
                        out.push(format!(
                            "req {pid:?} {hid:?} {} {} {:?} {:?}",
                            s(method),
                            s(target),
                            user(hh),
                            body_of(i + 2)
                        ));
                    }
                    Some(Ev::Response {
                        status,
                        headers: hh,
                        ..
                    }) => {
                        let pid = content_id.as_ref().map(|c| s(c));
                        let hid = hh
                            .iter()
                            .find(|(n, _)| n == b"Content-ID")
                            .map(|(_, v)| s(v));
                        out.push(format!(
                            "res {pid:?} {hid:?} {status} {:?} {:?}",
                            user(hh),
                            body_of(i + 2)
                        ));
                    }
                    _ => out.push(format!("leaf {:?} {:?}", user(headers), body_of(i + 1))),
                }
            }
            Ev::MultipartEnd => out.push("close".into()),
            _ => {}
        }
        i += 1;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn encoded_trees_decode_back(ops in proptest::collection::vec(op(), 0..6), sizes in proptest::collection::vec(1usize..50, 1..6)) {
        let mut w = Writer::with_random_boundary();
        w.check_bodies(true);
        let boundary = w.encoder().boundary().to_vec();
        write_ops(&mut w, &ops);
        let mut enc = w.finish(b"").unwrap();
        let wire = enc.copy_to_bytes(enc.remaining());
        let evs = decode_with(&wire, &boundary, Config::strict(), &sizes).unwrap();
        prop_assert_eq!(&decode_with(&wire, &boundary, Config::default(), &[1]).unwrap(), &evs);
        let mut want = Vec::new();
        expect(&ops, &mut want);
        prop_assert_eq!(observed(&evs), want);
    }
}

/// Bodies drawn from CR, LF, `--` and fragments of the boundaries `b` and `c`, whole
/// delimiters included.
fn hostile_body() -> impl Strategy<Value = Vec<u8>> {
    let frag = prop_oneof![
        4 => prop_oneof![Just(b"\r".to_vec()), Just(b"\n".to_vec()), Just(b"-".to_vec()), Just(b"b".to_vec()), any::<u8>().prop_map(|b| vec![b])],
        1 => prop_oneof![
            Just(b"\n--b".to_vec()), Just(b"\r\n--b".to_vec()), Just(b"--b".to_vec()),
            Just(b"\n--c".to_vec()), Just(b"\r\n--c--".to_vec()), Just(b"\n-b".to_vec()),
            Just(b"--".to_vec()), Just(b"\r\n--".to_vec()),
        ],
    ];
    proptest::collection::vec(frag, 0..12).prop_map(|v| v.concat())
}

fn hostile_op() -> impl Strategy<Value = Op> {
    let leaf = prop_oneof![
        hostile_body().prop_map(|body| Op::Leaf {
            headers: vec![],
            body
        }),
        ("[A-Z]{1,6}", "/[a-z0-9]{0,6}", hostile_body()).prop_map(|(method, target, body)| {
            Op::Req {
                id: None,
                method,
                target,
                headers: vec![],
                body,
            }
        }),
        (100u16..600, hostile_body()).prop_map(|(status, body)| Op::Res {
            id: None,
            status,
            headers: vec![],
            body
        }),
    ];
    leaf.prop_recursive(1, 8, 4, |inner| {
        proptest::collection::vec(inner, 0..4).prop_map(Op::Set)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Whatever the encoder accepts, the default decoder reads back as the same tree, under
    /// any chunking; the strict decoder reads the same tree or refuses it (the encoder also
    /// writes what strict mode refuses), never a different one. Bodies that hold a delimiter
    /// line, after CRLF or a bare LF, are refused under a fixed boundary.
    #[test]
    fn accepted_trees_read_back_the_same(
        ops in proptest::collection::vec(hostile_op(), 0..5),
        sizes in proptest::collection::vec(1usize..30, 1..5),
    ) {
        let mut w = Writer::new(b"b").unwrap();
        if try_write_ops(&mut w, &ops, Some(b"c")).is_err() {
            return Ok(());
        }
        let mut enc = w.finish(b"").unwrap();
        let wire = enc.copy_to_bytes(enc.remaining());
        let mut want = Vec::new();
        expect(&ops, &mut want);
        let lenient = decode_with(&wire, b"b", Config::default(), &sizes);
        prop_assert!(lenient.is_ok(), "{:?}\n{}", lenient, String::from_utf8_lossy(&wire));
        let lenient = lenient.unwrap();
        prop_assert_eq!(observed(&lenient), want.clone());
        prop_assert_eq!(&decode_with(&wire, b"b", Config::default(), &[1]).unwrap(), &lenient);
        if let Ok(strict) = decode_with(&wire, b"b", Config::strict(), &sizes) {
            prop_assert_eq!(observed(&strict), want);
        }
    }
}

#[test]
fn bodies_that_hold_a_delimiter_line() {
    // Under a fixed boundary: an error, after CRLF or a bare LF alike.
    for bad in [
        &b"line\n--b1\nmore"[..],
        b"line\r\n--b1\r\nmore",
        b"--b1",
        b"x\n--b1--",
    ] {
        let mut w = Writer::new(b"b1").unwrap();
        let r = w.part(no_headers(), Bytes::from_static(bad));
        assert_eq!(r.unwrap_err().kind(), K::BoundaryInBody, "{bad:?}");
    }
    // Under a generated boundary: the writer chooses another one at finish, rewriting its
    // framing, and the output reads back with the body intact.
    let mut w = Writer::with_random_boundary();
    let old = w.encoder().boundary().to_vec();
    let body = Bytes::from([b"x\r\n--".as_slice(), &old, b"--\r\ny"].concat());
    w.part([("Content-Type", "text/plain")], body.clone())
        .unwrap();
    w.open_changeset(None).unwrap();
    let inner = Bytes::from_static(b"inner");
    w.part(no_headers(), inner.clone()).unwrap();
    w.close_changeset().unwrap();
    let enc = w.finish(b"").unwrap();
    let new = enc.boundary().to_vec();
    assert_ne!(new, old);
    assert_eq!(new.len(), old.len());
    assert!(new.starts_with(b"batch_"));
    let ct = enc.content_type("mixed");
    assert!(ct.ends_with(std::str::from_utf8(&new).unwrap()));
    let wire = enc.into_bytes();
    let evs = decode(&wire, &new).unwrap();
    assert_eq!(bodies(&evs), vec![body.to_vec(), inner.to_vec()]);
    // A nested generated boundary is chosen anew too, with the Content-Type that names it;
    // the caller's top-level boundary stays.
    let mut w = Writer::new(b"top").unwrap();
    w.open_changeset(None).unwrap();
    let cs = w.encoder().current_boundary().to_vec();
    assert!(cs.starts_with(b"changeset_"));
    let body = Bytes::from([b"a\n--".as_slice(), &cs].concat());
    w.part(no_headers(), body.clone()).unwrap();
    w.close_changeset().unwrap();
    let enc = w.finish(b"").unwrap();
    assert_eq!(enc.boundary(), b"top");
    let wire = enc.into_bytes();
    let evs = decode(&wire, b"top").unwrap();
    assert_eq!(bodies(&evs), vec![body.to_vec()]);
    let nested: Vec<&Ev> = evs
        .iter()
        .filter(|e| matches!(e, Ev::MultipartStart(_)))
        .collect();
    assert!(matches!(nested[..], [Ev::MultipartStart(b)] if *b != cs && b.len() == cs.len()));
    // A caller's boundary is never changed: the same body under a fixed changeset boundary
    // is an error.
    let mut w = Writer::new(b"top").unwrap();
    w.open_changeset(Some(&cs)).unwrap();
    assert_eq!(
        w.part(no_headers(), body).unwrap_err().kind(),
        K::BoundaryInBody
    );
}

#[test]
fn streamed_bodies_are_searched_across_chunk_edges() {
    let run = |chunks: Vec<&'static [u8]>| {
        let parts: Vec<Result<Bytes, batchpart::writer::BoxError>> = chunks
            .into_iter()
            .map(|c| Ok(Bytes::from_static(c)))
            .collect();
        let mut w = Writer::new(b"bnd").unwrap();
        w.open_changeset(Some(b"cs")).unwrap();
        w.part_start(no_headers()).unwrap();
        w.body_stream(Box::pin(batchpart::stream::iter(parts)));
        w.close_changeset().unwrap();
        let mut s = w.finish_stream(b"").unwrap();
        let mut out = Vec::new();
        while let Some(b) = block_on_next(&mut s) {
            match b {
                Ok(b) => out.extend_from_slice(&b),
                Err(e) => {
                    let e = e.downcast::<EncodeError>().expect("a typed error");
                    return Err(e.kind());
                }
            }
        }
        Ok(out)
    };
    // The delimiter split over every edge, of either level, at the start or after a line.
    for chunks in [
        vec![&b"a\r\n-"[..], b"-b", b"nd"],
        vec![&b"a\n"[..], b"--cs", b" x"],
        vec![&b"-"[..], b"-", b"c", b"s"],
        vec![&b"x\n--cs"[..]],
    ] {
        assert_eq!(run(chunks.clone()), Err(K::BoundaryInBody), "{chunks:?}");
    }
    for chunks in [
        vec![&b"a\r\n-"[..], b"-bn", b"x"],
        vec![&b"--c"[..], b"x"],
        vec![&b"a-"[..], b"-cs"],
    ] {
        let wire = run(chunks.clone()).unwrap();
        assert!(decode(&wire, b"bnd").is_ok(), "{chunks:?}");
    }
}

#[test]
fn lines_that_would_read_as_delimiters_are_refused() {
    // Found by the roundtrip fuzz target: the method `--rt-0` opened a request line with the
    // boundary, so the reader took it for a delimiter line.
    let mut e = Encoder::new(b"rt-0").unwrap();
    let mut buf = BytesMut::new();
    e.part([("Content-Type", "application/http")], &mut buf)
        .unwrap();
    let r = e.request_head(b"--rt-0", b"~", Some(b"HTTP/1.1"), no_headers(), &mut buf);
    assert_eq!(r.unwrap_err().kind(), K::BoundaryInBody);
    let r = e.request_head(b"GET", b"/", None, [("--rt-0-x", "v")], &mut buf);
    assert_eq!(r.unwrap_err().kind(), K::BoundaryInBody);
    let r = e.part([("--rt-0", "v")], &mut buf);
    assert_eq!(r.unwrap_err().kind(), K::BoundaryInBody);
    // A name that merely starts with dashes is fine.
    assert!(e
        .request_head(b"--x", b"/", None, [("--rt", "v")], &mut buf)
        .is_ok());
}

#[test]
fn status_lines_keep_the_space_and_close_delimiters_end_their_line() {
    let mut e = Encoder::new(b"b").unwrap();
    let mut out = Vec::new();
    e.part([("Content-Type", "application/http")], &mut out)
        .unwrap();
    // RFC 9112 section 4: `HTTP/1.1 299 ` with the space, though the reason is empty.
    e.response_head(b"HTTP/1.1", 299, None, no_headers(), &mut out)
        .unwrap();
    e.response_head(b"HTTP/1.1", 204, Some(b""), no_headers(), &mut out)
        .unwrap();
    e.open_multipart(b"cs", no_headers(), &mut out).unwrap();
    e.part(no_headers(), &mut out).unwrap();
    e.close_multipart(b"", &mut out).unwrap();
    e.finish(b"", &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("HTTP/1.1 299 \r\n\r\nHTTP/1.1 204 \r\n"),
        "{text:?}"
    );
    // A line end after the nested close delimiter too (as Go's writer), then the enclosing
    // delimiter on its own line.
    assert!(text.ends_with("--cs--\r\n\r\n--b--\r\n"), "{text:?}");
}

/// One encoder call into a slice sink.
type Step = dyn Fn(
    &mut Encoder,
    &mut batchpart::encoder::SliceWriter<'_>,
) -> Result<(), batchpart::encoder::EncodeError>;

#[test]
fn a_slice_sink_gets_whole_writes_or_none() {
    use batchpart::encoder::SliceWriter;
    let mut e = Encoder::new(b"b").unwrap();
    let mut reference = Vec::new();
    let mut r = e.clone();
    r.part([("X-A", "1")], &mut reference).unwrap();
    r.request_head(
        b"GET",
        b"/x",
        Some(b"HTTP/1.1"),
        no_headers(),
        &mut reference,
    )
    .unwrap();
    r.finish(b"", &mut reference).unwrap();
    // Every buffer size: each call either fits whole or fails with NeedsRoom and writes
    // nothing; flushing and retrying gives the same bytes as an unbounded sink.
    for size in 1..reference.len() + 2 {
        let mut enc = e.clone();
        let mut buf = vec![0u8; size];
        let mut out = SliceWriter::new(&mut buf);
        let mut wire = Vec::new();
        let steps: [&Step; 3] = [
            &|e, o| e.part([("X-A", "1")], o),
            &|e, o| e.request_head(b"GET", b"/x", Some(b"HTTP/1.1"), no_headers(), o),
            &|e, o| e.finish(b"", o),
        ];
        let mut ok = true;
        for step in steps {
            let before = out.len();
            match step(&mut enc, &mut out) {
                Ok(()) => {}
                Err(err) => {
                    assert_eq!(err.kind(), K::NeedsRoom);
                    assert_eq!(out.len(), before, "a refused write wrote nothing");
                    wire.extend_from_slice(out.written());
                    out.clear();
                    if let Err(again) = step(&mut enc, &mut out) {
                        assert_eq!(again.kind(), K::NeedsRoom);
                        ok = false;
                        break;
                    }
                }
            }
        }
        if ok {
            wire.extend_from_slice(out.written());
            assert_eq!(wire, reference, "size {size}");
        }
    }
    let _ = &mut e;
}

/// A write that needs exactly the room a slice has fits; one byte less does not. A preamble is
/// written where it is given and only there; the encoder says when it has finished; a target
/// may never start or end with a space, even where spaces inside it are allowed.
#[test]
fn exact_room_preambles_finish_and_target_edges() {
    use batchpart::encoder::{EncoderConfig, SliceWriter};
    let e = Encoder::new(b"b").unwrap();
    let mut whole = Vec::new();
    e.clone().part([("X-A", "1")], &mut whole).unwrap();
    let mut exact = vec![0u8; whole.len()];
    let mut out = SliceWriter::new(&mut exact);
    e.clone().part([("X-A", "1")], &mut out).unwrap();
    assert_eq!(out.written(), &whole[..]);
    let mut short = vec![0u8; whole.len() - 1];
    let mut out = SliceWriter::new(&mut short);
    let err = e.clone().part([("X-A", "1")], &mut out).unwrap_err();
    assert_eq!((err.kind(), out.len()), (K::NeedsRoom, 0));

    let mut enc = Encoder::new(b"b").unwrap();
    let mut wire = Vec::new();
    enc.preamble(b"", &mut wire).unwrap();
    enc.preamble(b"before", &mut wire).unwrap();
    assert_eq!(wire, b"before");
    // Once written, no second preamble.
    assert_eq!(
        enc.preamble(b"again", &mut wire).unwrap_err().kind(),
        K::OutOfOrder
    );
    assert!(!enc.is_finished());
    enc.part(no_headers(), &mut wire).unwrap();
    enc.finish(b"", &mut wire).unwrap();
    assert!(enc.is_finished());
    assert!(
        wire.starts_with(b"before\r\n--b\r\n"),
        "{:?}",
        String::from_utf8_lossy(&wire)
    );

    let cfg = EncoderConfig {
        allow_spaces_in_target: true,
    };
    for (target, ok) in [
        (&b"a b"[..], true),
        (b" ab", false),
        (b"ab ", false),
        (b"", false),
        (b"a\x01b", false),
        (b"a\x7fb", false),
    ] {
        let mut enc = Encoder::with_config(b"b", cfg).unwrap();
        let mut wire = Vec::new();
        enc.part(no_headers(), &mut wire).unwrap();
        let r = enc.request_head(b"GET", target, Some(b"HTTP/1.1"), no_headers(), &mut wire);
        match ok {
            true => assert!(r.is_ok(), "{target:?}"),
            false => assert_eq!(r.unwrap_err().kind(), K::InvalidTarget, "{target:?}"),
        }
    }
}
