//! The property each fuzz target checks, as plain functions. The cargo-fuzz targets call them
//! on fuzzer input; `tests/fuzz_regressions.rs` replays every checked-in input through them on
//! the stable toolchain, so CI exercises every crash ever found.
#![allow(dead_code)]

pub mod reference;

use crate::common::stream::{own_stream, stream_raw};
use crate::common::{decode_with, push, Ev};
use batchpart::{Config, ContentType, Decoder};

/// Fuzzer bytes split into `(flags, boundary, chunk sizes, body)`; see [`cfg`] for the flags.
pub type Layout<'a> = (u8, &'a [u8], Vec<usize>, &'a [u8]);

/// Splits fuzzer bytes: `[flags][boundary len][boundary][sizes len][sizes][body]`.
pub fn layout(data: &[u8]) -> Option<Layout<'_>> {
    let [flags, blen, rest @ ..] = data else {
        return None;
    };
    let blen = usize::from(*blen % 8) + 1;
    if rest.len() < blen + 1 {
        return None;
    }
    let (boundary, rest) = rest.split_at(blen);
    let slen = usize::from(rest[0] % 16);
    let rest = &rest[1..];
    if rest.len() < slen {
        return None;
    }
    let (sizes, body) = rest.split_at(slen);
    let sizes = sizes.iter().map(|&s| usize::from(s).max(1)).collect();
    Some((*flags, boundary, sizes, body))
}

/// Builds fuzzer bytes in [`layout`] form, for seed corpora.
pub fn encode_layout(strict: bool, boundary: &[u8], sizes: &[u8], body: &[u8]) -> Vec<u8> {
    let mut v = vec![u8::from(strict), (boundary.len() as u8).wrapping_sub(1) % 8];
    v.extend_from_slice(&boundary[..boundary.len().min(8)]);
    v.push(sizes.len() as u8);
    v.extend_from_slice(sizes);
    v.extend_from_slice(body);
    v
}

/// The decoder configuration of a layout's flags: bit 0 strict, bit 1 `trust_framing`.
fn cfg(flags: u8) -> Config {
    let base = if flags & 1 == 1 {
        Config::strict()
    } else {
        Config::default()
    };
    base.with_trust_framing(flags & 2 == 2)
}

/// The sans-IO decoder never panics, always ends done or failed, and gives the same events
/// and the same error under any chunking.
pub fn decoder(data: &[u8]) {
    let Some((flags, boundary, sizes, body)) = layout(data) else {
        return;
    };
    if batchpart::validate_boundary(boundary).is_err() {
        return;
    }
    let whole = decode_with(body, boundary, cfg(flags), &[]);
    let chunked = decode_with(body, boundary, cfg(flags), &sizes);
    assert_eq!(whole, chunked);
    let bytewise = decode_with(body, boundary, cfg(flags), &[1]);
    assert_eq!(whole, bytewise);
}

/// The Stream layer gives the core's events under arbitrary chunk boundaries.
pub fn stream(data: &[u8]) {
    let Some((flags, boundary, sizes, body)) = layout(data) else {
        return;
    };
    if batchpart::validate_boundary(boundary).is_err() {
        return;
    }
    let core = decode_with(body, boundary, cfg(flags), &[]);
    let mut chunks = Vec::new();
    let mut pos = 0;
    for (k, _) in (0..).zip(0..body.len()) {
        if pos >= body.len() {
            break;
        }
        let n = if sizes.is_empty() {
            body.len()
        } else {
            sizes[k % sizes.len()]
        };
        let n = n.min(body.len() - pos);
        chunks.push(bytes::Bytes::copy_from_slice(&body[pos..pos + n]));
        pos += n;
    }
    let streamed = stream_raw(chunks, boundary, cfg(flags)).map(|evs| {
        let mut out = Vec::new();
        for ev in evs {
            push(&mut out, own_stream(ev));
        }
        out
    });
    assert_eq!(core, streamed);
}

/// The embedded HTTP head parser, reached the way traffic reaches it: as the body of an
/// `application/http` part, with and without `msgtype`, lenient and strict, with and without `trust_framing`.
pub fn http_head(data: &[u8]) {
    let boundary = b"fuzz-http-0c5e3a";
    if memchr::memmem::find(data, b"fuzz-http").is_some() {
        return;
    }
    for ct in [
        "application/http",
        "application/http; msgtype=request",
        "message/http; msgtype=response",
    ] {
        let mut input =
            format!("--{}\r\nContent-Type: {ct}\r\n\r\n", "fuzz-http-0c5e3a").into_bytes();
        input.extend_from_slice(data);
        input.extend_from_slice(b"\r\n--fuzz-http-0c5e3a--");
        for flags in 0..4 {
            if let Ok(evs) = decode_with(&input, boundary, cfg(flags), &[]) {
                let heads = evs
                    .iter()
                    .filter(|e| matches!(e, Ev::Request { .. } | Ev::Response { .. }))
                    .count();
                assert_eq!(heads, 1, "an http part decodes to exactly one head");
                if let Some(Ev::Request { method, target, .. }) =
                    evs.iter().find(|e| matches!(e, Ev::Request { .. }))
                {
                    assert!(!method.is_empty() && !target.is_empty());
                }
            }
            assert_eq!(
                decode_with(&input, boundary, cfg(flags), &[1]),
                decode_with(&input, boundary, cfg(flags), &[])
            );
        }
    }
}

/// The Content-Type parser never panics, and what it accepts is consistent; the lenient rule
/// accepts every value the strict grammar does and reads it the same.
pub fn content_type(data: &[u8]) {
    let lenient = ContentType::parse_lenient(data);
    if let Ok(ct) = ContentType::parse(data) {
        let n = ct.params().count();
        assert!(n <= data.len());
        if let Ok(b) = ct.multipart_boundary() {
            assert!(batchpart::validate_boundary(b).is_ok());
            assert!(ct.is_multipart());
            assert!(Decoder::from_content_type(data, Config::strict()).is_ok());
        }
        let _ = (ct.is_http(), ct.is("a/b"));
        let l = lenient.expect("the lenient rule accepts what the strict grammar does");
        assert!(ct.params().eq(l.params()));
    }
    if let Ok(ct) = ContentType::parse_lenient(data) {
        assert!(ct.params().count() <= data.len());
        if let Ok(b) = ct.multipart_boundary() {
            assert!(batchpart::validate_boundary(b).is_ok());
            assert!(Decoder::from_content_type(data, Config::default()).is_ok());
        }
    }
}

/// The decoder against the simple reference decoder, in strict mode on flat bodies, with the
/// limits off on both sides: the property is about how the two read a body, not about where
/// the decoder's resource policy stops (a part of 129 header lines is not a disagreement).
pub fn differential(data: &[u8]) {
    let strict = Config::strict().with_limits(batchpart::Limits::none());
    let [blen, rest @ ..] = data else { return };
    let blen = usize::from(*blen % 6) + 1;
    if rest.len() < blen {
        return;
    }
    let (boundary, body) = rest.split_at(blen);
    if batchpart::validate_boundary(boundary).is_err() {
        return;
    }
    let Ok(reference) = reference::decode(body, boundary) else {
        assert!(
            decode_with(body, boundary, strict, &[]).is_err(),
            "reference refused, decoder accepted"
        );
        return;
    };
    let Some(reference) = reference else { return };
    let evs = decode_with(body, boundary, strict, &[])
        .unwrap_or_else(|e| panic!("reference accepted, decoder refused: {e}"));
    assert_eq!(flatten(&evs), reference);
}

fn flatten(evs: &[Ev]) -> reference::Flat {
    let mut f = reference::Flat {
        preamble: vec![],
        parts: vec![],
        epilogue: vec![],
    };
    for e in evs {
        match e {
            Ev::Preamble(b) => f.preamble.extend(b),
            Ev::PartStart { headers, .. } => f.parts.push((headers.clone(), vec![])),
            Ev::Body(b) => f.parts.last_mut().expect("part").1.extend(b),
            Ev::Epilogue(b) => f.epilogue.extend(b),
            _ => {}
        }
    }
    f
}

/// A structure-aware tree for the encoder-to-decoder round trip.
#[derive(Debug, Clone, arbitrary::Arbitrary)]
pub struct Tree {
    pub preamble: Vec<u8>,
    pub parts: Vec<Node>,
    pub epilogue: Vec<u8>,
}

/// A part of a [`Tree`].
#[derive(Debug, Clone, arbitrary::Arbitrary)]
pub enum Node {
    Leaf {
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    Request {
        method: String,
        target: String,
        version: bool,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    Response {
        status: u16,
        reason: Option<String>,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    Nested(Box<Tree>),
}

/// `Content-*` headers change how a part is read (type, length); the round trip leaves them
/// to the other targets.
fn has_content_headers(t: &Tree) -> bool {
    let c = |h: &Vec<(String, String)>| {
        h.iter()
            .any(|(n, _)| n.to_ascii_lowercase().starts_with("content-"))
    };
    t.parts.iter().any(|p| match p {
        Node::Leaf { headers, .. }
        | Node::Request { headers, .. }
        | Node::Response { headers, .. } => c(headers),
        Node::Nested(n) => has_content_headers(n),
    })
}

fn depth(t: &Tree) -> usize {
    1 + t
        .parts
        .iter()
        .map(|p| if let Node::Nested(n) = p { depth(n) } else { 0 })
        .max()
        .unwrap_or(0)
}

/// Any tree the encoder accepts decodes back equal, under any chunking.
pub fn roundtrip(tree: &Tree, sizes: &[usize]) {
    use batchpart::writer::Writer;
    use bytes::{Buf, Bytes};
    if depth(tree) > 6 || has_content_headers(tree) {
        return;
    }
    let mut w = Writer::new(b"rt-0").unwrap();
    w.check_bodies(true);
    fn write(
        w: &mut Writer,
        t: &Tree,
        level: usize,
    ) -> Result<(), batchpart::encoder::EncodeError> {
        w.preamble(&t.preamble)?;
        for p in &t.parts {
            match p {
                Node::Leaf { headers, body } => {
                    w.part(
                        headers.iter().map(|(a, b)| (a.as_str(), b.as_str())),
                        Bytes::from(body.clone()),
                    )?;
                }
                Node::Request {
                    method,
                    target,
                    version,
                    headers,
                    body,
                } => {
                    w.part_start([("Content-Type", "application/http")])?;
                    let v: Option<&[u8]> = if *version { Some(b"HTTP/1.1") } else { None };
                    w.request_head(
                        method.as_bytes(),
                        target.as_bytes(),
                        v,
                        headers.iter().map(|(a, b)| (a.as_str(), b.as_str())),
                    )?;
                    w.body(Bytes::from(body.clone()))?;
                }
                Node::Response {
                    status,
                    reason,
                    headers,
                    body,
                } => {
                    w.part_start([("Content-Type", "application/http")])?;
                    w.response_head(
                        b"HTTP/1.1",
                        *status,
                        reason.as_deref().map(str::as_bytes),
                        headers.iter().map(|(a, b)| (a.as_str(), b.as_str())),
                    )?;
                    w.body(Bytes::from(body.clone()))?;
                }
                Node::Nested(n) => {
                    let b = format!("rt-{}", level + 1);
                    w.open_multipart(b.as_bytes(), std::iter::empty::<(&str, &str)>())?;
                    write(w, n, level + 1)?;
                    w.close_multipart(&n.epilogue)?;
                }
            }
        }
        Ok(())
    }
    if write(&mut w, tree, 0).is_err() {
        return;
    }
    let Ok(mut enc) = w.finish(&tree.epilogue) else {
        return;
    };
    let wire = enc.copy_to_bytes(enc.remaining());
    // The decoder's resource limits are its own policy; the property is about what the
    // encoder accepts, so decode without them.
    let cfg = Config::default().with_limits(batchpart::Limits::none());
    let evs = decode_with(&wire, b"rt-0", cfg, &[])
        .unwrap_or_else(|e| panic!("encoder output refused: {e}"));
    assert_eq!(decode_with(&wire, b"rt-0", cfg, sizes).unwrap(), evs);
    let mut it = evs.iter();
    check_tree(tree, &mut it);
}

fn check_tree<'a>(t: &Tree, it: &mut impl Iterator<Item = &'a Ev>) {
    let mut preamble: Vec<u8> = Vec::new();
    let mut next = it.next();
    while let Some(Ev::Preamble(p)) = next {
        preamble.extend(p);
        next = it.next();
    }
    assert_eq!(preamble, t.preamble);
    for p in &t.parts {
        let Some(Ev::PartStart { headers, .. }) = next else {
            panic!("expected a part, got {next:?}")
        };
        match p {
            Node::Leaf {
                headers: want,
                body,
            } => {
                let got: Vec<(String, String)> = headers
                    .iter()
                    .map(|(n, v)| {
                        (
                            String::from_utf8(n.clone()).unwrap(),
                            String::from_utf8(v.clone()).unwrap(),
                        )
                    })
                    .collect();
                let want: Vec<(String, String)> = want
                    .iter()
                    .map(|(n, v)| (n.clone(), v.trim_matches([' ', '\t']).to_string()))
                    .collect();
                assert_eq!(got, want);
                let mut b: Vec<u8> = Vec::new();
                next = it.next();
                while let Some(Ev::Body(x)) = next {
                    b.extend(x);
                    next = it.next();
                }
                assert_eq!(&b, body);
            }
            Node::Request {
                method,
                target,
                body,
                ..
            } => {
                let Some(Ev::Request {
                    method: m,
                    target: tg,
                    ..
                }) = it.next()
                else {
                    panic!("expected a request")
                };
                assert_eq!(
                    (m.as_slice(), tg.as_slice()),
                    (method.as_bytes(), target.as_bytes())
                );
                next = it.next();
                let mut b: Vec<u8> = Vec::new();
                while let Some(Ev::Body(x)) = next {
                    b.extend(x);
                    next = it.next();
                }
                assert_eq!(&b, body);
            }
            Node::Response { status, body, .. } => {
                let Some(Ev::Response { status: s, .. }) = it.next() else {
                    panic!("expected a response")
                };
                assert_eq!(s, status);
                next = it.next();
                let mut b: Vec<u8> = Vec::new();
                while let Some(Ev::Body(x)) = next {
                    b.extend(x);
                    next = it.next();
                }
                assert_eq!(&b, body);
            }
            Node::Nested(n) => {
                assert!(matches!(it.next(), Some(Ev::MultipartStart(_))));
                check_tree(n, it);
                next = it.next();
                let mut epi: Vec<u8> = Vec::new();
                while let Some(Ev::Epilogue(x)) = next {
                    epi.extend(x);
                    next = it.next();
                }
                assert_eq!(epi, n.epilogue);
            }
        }
        assert!(
            matches!(next, Some(Ev::PartEnd { .. })),
            "expected the part's end, got {next:?}"
        );
        next = it.next();
    }
    // The level's close: MultipartEnd for nested levels, or the top epilogue and End.
    match next {
        Some(Ev::MultipartEnd) => {}
        _ => {
            let mut epi: Vec<u8> = Vec::new();
            while let Some(Ev::Epilogue(x)) = next {
                epi.extend(x);
                next = it.next();
            }
            assert_eq!(epi, t.epilogue);
            assert_eq!(next, Some(&Ev::End));
        }
    }
}

/// The multipart and JSON batch readers, with validation, on arbitrary input: no panic; and
/// any model they read that the writers accept reads back equal.
#[cfg(all(feature = "batch", feature = "json"))]
pub fn batch(data: &[u8]) {
    use batchpart::batch::{
        read_json, read_multipart, write_json, write_multipart, BatchRequest, BatchResponse,
        ValidationOptions,
    };
    use bytes::{Buf, Bytes};
    let [mode, body @ ..] = data else { return };
    let body = Bytes::copy_from_slice(body);
    let ct = b"multipart/mixed; boundary=b";
    let v = || Some(ValidationOptions::default());
    if mode & 1 == 0 {
        if let Ok(m) = read_multipart::<batchpart::batch::RequestOp>(body.clone(), ct, v()) {
            if let Ok((ct2, mut enc)) = write_multipart(&m, b"fuzz_rt") {
                let again: BatchRequest =
                    read_multipart(enc.copy_to_bytes(enc.remaining()), ct2.as_bytes(), None)
                        .unwrap();
                assert_eq!(again, m);
            }
        }
        if let Ok(m) = read_multipart::<batchpart::batch::ResponseOp>(body.clone(), ct, None) {
            if let Ok((ct2, mut enc)) = write_multipart(&m, b"fuzz_rt") {
                let again: BatchResponse =
                    read_multipart(enc.copy_to_bytes(enc.remaining()), ct2.as_bytes(), None)
                        .unwrap();
                assert_eq!(again.items.len(), m.items.len());
            }
        }
    } else {
        if let Ok(m) = read_json::<batchpart::batch::RequestOp>(body.clone(), v()) {
            if let Ok(text) = write_json(&m) {
                let again: BatchRequest = read_json(Bytes::from(text), None).unwrap();
                assert_eq!(again.op_count(), m.op_count());
            }
        }
        let _ = read_json::<batchpart::batch::ResponseOp>(body.clone(), None);
    }
    limited(*mode, &body);
}

/// The batch readers with every limit small, so that the limit paths run: whatever the input
/// and the chunking, no panic, and what is read keeps within the limits.
#[cfg(all(feature = "batch", feature = "json"))]
fn limited(mode: u8, body: &bytes::Bytes) {
    use crate::common::block_on_next;
    use batchpart::batch::{
        json_batch, ringcentral, Item, JsonReader, MultipartReader, ReadLimits, RequestOp,
        ResponseOp,
    };
    let limits = ReadLimits::default()
        .with_max_operations(3)
        .with_max_body_bytes(16)
        .with_max_batch_bytes(512)
        .with_max_header_bytes(64)
        .with_max_headers_per_request(4)
        .with_max_depends_on(2);
    let size = usize::from(mode >> 1).max(1);
    let chunks: Vec<Result<bytes::Bytes, std::convert::Infallible>> = (0..body.len())
        .step_by(size)
        .map(|i| Ok(body.slice(i..(i + size).min(body.len()))))
        .collect();
    let check = |item: Item<RequestOp>, ops: &mut usize| {
        for op in item.ops() {
            *ops += 1;
            assert!(*ops <= limits.max_operations);
            assert!(op.body.len() <= limits.max_body_bytes);
            assert!(op.depends_on.len() <= limits.max_depends_on);
            assert!(op.headers.len() <= limits.max_headers_per_request);
        }
    };
    let mut ops = 0;
    let mut r = MultipartReader::<_, RequestOp>::new(
        batchpart::stream::iter(chunks.clone()),
        b"multipart/mixed; boundary=b",
    )
    .unwrap()
    .limits(limits);
    while let Some(Ok(item)) = block_on_next(&mut r) {
        check(item, &mut ops);
    }
    let mut ops = 0;
    let mut r =
        JsonReader::<_, RequestOp>::new(batchpart::stream::iter(chunks.clone())).limits(limits);
    while let Some(Ok(item)) = block_on_next(&mut r) {
        check(item, &mut ops);
    }
    let mut r = JsonReader::<_, ResponseOp>::new(batchpart::stream::iter(chunks)).limits(limits);
    while let Some(Ok(_)) = block_on_next(&mut r) {}
    let _ = ringcentral::read_json_response(body, 207);
    let _ = ringcentral::read_json_request(body, "/a/1,2");
    let _ = json_batch::read_request(body);
    let _ = json_batch::read_response(body);
}

/// The tower service in-process, on an arbitrary batch request: whatever the body,
/// Content-Type, `Prefer`, `OData-Version`, path, method and dialect, the service answers (no
/// panic, no hang), never `5xx` as a whole, with a well-formed body (a batch answer that our
/// reader and serde_json read, or an error object), within the limits.
///
/// Input: `[flags][Content-Type]\n[Prefer]\n[OData-Version]\n[path]\n[body]`; the flags pick
/// the dialect, the method, streaming and concurrency.
#[cfg(all(feature = "tower", feature = "json"))]
pub fn server(data: &[u8]) {
    use batchpart::batch::{read_json, read_multipart, BatchResponse, ReadLimits};
    use batchpart::server::{BatchConfig, BatchLayer, Dialect};
    use tower_layer::Layer;
    use tower_service::Service;

    let [flags, rest @ ..] = data else { return };
    let mut lines = rest.splitn(5, |&b| b == b'\n');
    let mut line = || lines.next().unwrap_or_default();
    let (ct, prefer, version, path) = (line(), line(), line(), line());
    let body = bytes::Bytes::copy_from_slice(line());
    // OData, RingCentral, or any dialect through the trait.
    let all = batchpart::batch::dialect::ALL;
    let dialect = match usize::from(*flags) % (2 + all.len()) {
        0 => Dialect::OData,
        1 => Dialect::RingCentral,
        n => Dialect::Batch(all[n - 2]),
    };
    let method = ["POST", "PUT", "GET", "DELETE"][usize::from(flags >> 2) % 4];
    let limits = ReadLimits::default()
        .with_max_operations(16)
        .with_max_body_bytes(4096)
        .with_max_batch_bytes(64 << 10)
        .with_max_header_bytes(2048)
        .with_max_headers_per_request(16)
        .with_max_depends_on(8);
    let cfg = BatchConfig::default()
        .with_dialect(dialect)
        .with_limits(limits)
        .with_streaming(flags & 0x10 != 0)
        .with_concurrency(if flags & 0x20 != 0 { 3 } else { 1 });
    let path = match std::str::from_utf8(path) {
        Ok(p) if p.starts_with('/') && p.parse::<http::Uri>().is_ok() => p.to_string(),
        _ => "/s/$batch".to_string(),
    };
    let mut req = http::Request::builder()
        .method(method)
        .uri(path.as_str())
        .header("Host", "fuzz.example");
    for (name, value) in [
        ("content-type", ct),
        ("prefer", prefer),
        ("odata-version", version),
    ] {
        if let Ok(v) = http::HeaderValue::from_bytes(value) {
            req = req.header(name, v);
        }
    }
    let Ok(req) = req.body(http_body_util::Full::new(body)) else {
        return;
    };
    let mut svc = BatchLayer::new(cfg).layer(FuzzApp);
    let resp = match ready(svc.call(req)) {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.as_bytes().to_vec())
        .unwrap_or_default();
    let mut body = resp.into_body();
    let mut answer = Vec::new();
    while let Some(frame) = ready(http_body_util::BodyExt::frame(&mut body)) {
        let Ok(frame) = frame;
        if let Ok(d) = frame.into_data() {
            answer.extend_from_slice(&d);
        }
        // Sixteen answers of at most 4 KiB each, with their heads and the envelope.
        assert!(answer.len() < 256 << 10, "an answer over its bound");
    }
    assert!(status < 500, "a whole-batch {status}");
    let answer = bytes::Bytes::from(answer);
    if status == 204 {
        assert!(answer.is_empty());
    } else if ct.starts_with(b"multipart/") {
        let r: Result<BatchResponse, _> = read_multipart(answer.clone(), &ct, None);
        // RingCentral's parts are plain JSON, not application/http.
        if dialect != Dialect::RingCentral {
            r.unwrap();
        }
    } else {
        serde_json::from_slice::<serde_json::Value>(&answer).unwrap();
        if dialect == Dialect::OData && status < 400 {
            let _: BatchResponse = read_json(answer, None).unwrap();
        }
    }
}

/// Polls a future that never waits on anything but itself to completion.
#[cfg(all(feature = "tower", feature = "json"))]
fn ready<F: core::future::Future>(fut: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Noop;
    impl Wake for Noop {
        fn wake(self: std::sync::Arc<Self>) {}
    }
    let waker = Waker::from(std::sync::Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    let mut fut = core::pin::pin!(fut);
    for _ in 0..1_000_000 {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("the service did not finish");
}

/// The application behind the fuzzed service: `/s/raw` answers the operation's body under
/// its Content-Type (the answers a JSON envelope cannot always carry), `/s/err` fails as a
/// service, `/s/status/N` answers N, anything else a JSON echo of the target.
#[cfg(all(feature = "tower", feature = "json"))]
#[derive(Clone)]
struct FuzzApp;

#[cfg(all(feature = "tower", feature = "json"))]
impl tower_service::Service<http::Request<batchpart::server::OpBody>> for FuzzApp {
    type Response = http::Response<http_body_util::Full<bytes::Bytes>>;
    type Error = String;
    type Future = core::future::Ready<Result<Self::Response, String>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), String>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<batchpart::server::OpBody>) -> Self::Future {
        let path = req.uri().path().to_string();
        let mut resp = http::Response::new(http_body_util::Full::default());
        if path == "/s/err" {
            return core::future::ready(Err("failed".into()));
        } else if path == "/s/raw" {
            let ct = req.headers().get("content-type").cloned();
            let body = ready(http_body_util::BodyExt::collect(req.into_body()));
            let Ok(body) = body;
            *resp.body_mut() = http_body_util::Full::new(body.to_bytes());
            if let Some(ct) = ct {
                resp.headers_mut().insert("content-type", ct);
            }
        } else if let Some(n) = path.strip_prefix("/s/status/") {
            let status = n
                .parse()
                .ok()
                .and_then(|n| http::StatusCode::from_u16(n).ok());
            *resp.status_mut() = status.unwrap_or(http::StatusCode::OK);
        } else {
            let echo = serde_json::json!({ "uri": req.uri().to_string() }).to_string();
            *resp.body_mut() = http_body_util::Full::new(bytes::Bytes::from(echo));
            resp.headers_mut().insert(
                "content-type",
                http::HeaderValue::from_static("application/json"),
            );
        }
        core::future::ready(Ok(resp))
    }
}
