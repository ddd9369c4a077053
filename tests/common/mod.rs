//! Test support: drive the decoder under any chunking and collect owned, normalized events.
#![allow(dead_code)]

use batchpart::{Config, Decoder, Error, Event};

#[cfg(all(feature = "std", not(fuzzing)))]
pub mod client;
#[cfg(all(feature = "std", not(fuzzing)))]
pub mod demo;
#[cfg(all(feature = "std", not(fuzzing)))]
pub mod field;
pub mod ready;
#[allow(unused_imports)] // each test binary uses its own subset
pub use ready::{block_on, block_on_next};

/// Every fixture with its boundary.
pub const FIXTURES: &[(&str, &[u8])] = &[
    ("rfc2046_simple.txt", b"simple boundary"),
    ("creatio_multipart_request.txt", b"batch_a685-9724-d873"),
    (
        "creatio_multipart_response.txt",
        b"batchresponse_e17aace9-5cbb-49bd-b7ad-f1be8cc8c9d8",
    ),
    (
        "creatio_two_changesets_request.txt",
        b"batch_a685-9724-d873",
    ),
    (
        "odata_spec_request.txt",
        b"batch_36522ad7-fc75-4b56-8c71-56071383e77b",
    ),
    ("odata_response.txt", b"batchresponse_1"),
    ("odata_v2_quirks.txt", b"batch_1.2+34:2j)0?"),
    ("ucwa_xml_request.txt", b"EA370946"),
    ("ucwa_json_request.txt", b"EA370946"),
    ("ucwa_xml_request_lf.txt", b"EA370946"),
    ("ucwa_xml_response.txt", b"0cac9abd"),
    (
        "ringcentral_put_request.txt",
        b"Boundary_1_15567762_1355833573664",
    ),
];

/// A fixture's bytes.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// An owned event; consecutive byte events of one kind are merged so that the same body gives
/// the same list under every chunking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Preamble(Vec<u8>),
    PartStart {
        index: u64,
        depth: usize,
        content_length: Option<u64>,
        content_type: Option<CtSeen>,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        content_id: Option<Vec<u8>>,
    },
    MultipartStart(Vec<u8>),
    Request {
        method: Vec<u8>,
        target: Vec<u8>,
        version: Option<Vec<u8>>,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        content_id: Option<Vec<u8>>,
        content_length: Option<u64>,
    },
    Response {
        version: Vec<u8>,
        status: u16,
        reason: Vec<u8>,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        content_id: Option<Vec<u8>>,
        content_length: Option<u64>,
    },
    Body(Vec<u8>),
    PartEnd {
        framed: u64,
        cl_mismatch: Option<(u64, u64)>,
        http_mismatch: Option<(u64, u64)>,
    },
    MultipartEnd,
    Epilogue(Vec<u8>),
    End,
}

/// A part's Content-Type as read: type, subtype and parameters, or the error's offset.
pub type CtSeen = Result<(Vec<u8>, Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>), u64>;

pub fn ct_seen(ct: Result<batchpart::ContentType<'_>, Error>) -> CtSeen {
    ct.map(|c| {
        let params = c.params().map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
        (c.media_type().to_vec(), c.subtype().to_vec(), params)
    })
    .map_err(|e| e.offset())
}

/// A Content-ID, normalized and unfolded.
pub fn id_seen(c: batchpart::ContentId<'_>) -> Vec<u8> {
    c.normalized().segments().flatten().copied().collect()
}

pub fn headers_of(h: batchpart::HeaderBlock<'_>) -> Vec<(Vec<u8>, Vec<u8>)> {
    h.iter()
        .map(|h| {
            (
                h.name().to_vec(),
                h.value().segments().flatten().copied().collect::<Vec<u8>>(),
            )
        })
        .collect()
}

pub fn own(ev: Event<'_>) -> Ev {
    match ev {
        Event::Preamble(b) => Ev::Preamble(b.to_vec()),
        Event::PartStart(p) => Ev::PartStart {
            index: p.index(),
            depth: p.depth(),
            content_length: p.content_length(),
            content_type: p.content_type().map(ct_seen),
            headers: headers_of(p.headers()),
            content_id: p.content_id().map(id_seen),
        },
        Event::MultipartStart(b) => Ev::MultipartStart(b.to_vec()),
        Event::Request(r) => Ev::Request {
            method: r.method().to_vec(),
            target: r.target().to_vec(),
            version: r.version().map(<[u8]>::to_vec),
            headers: headers_of(r.headers()),
            content_id: r.content_id().map(id_seen),
            content_length: r.content_length(),
        },
        Event::Response(r) => Ev::Response {
            version: r.version().to_vec(),
            status: r.status(),
            reason: r.reason().to_vec(),
            headers: headers_of(r.headers()),
            content_id: r.content_id().map(id_seen),
            content_length: r.content_length(),
        },
        Event::Body(b) => Ev::Body(b.to_vec()),
        Event::PartEnd(e) => Ev::PartEnd {
            framed: e.framed_len(),
            cl_mismatch: e.content_length_mismatch(),
            http_mismatch: e.http_content_length_mismatch(),
        },
        Event::MultipartEnd => Ev::MultipartEnd,
        Event::Epilogue(b) => Ev::Epilogue(b.to_vec()),
        Event::End => Ev::End,
        _ => unreachable!("new event kind"),
    }
}

pub fn push(out: &mut Vec<Ev>, ev: Ev) {
    match (out.last_mut(), ev) {
        (Some(Ev::Body(a)), Ev::Body(b)) => a.extend(b),
        (Some(Ev::Preamble(a)), Ev::Preamble(b)) => a.extend(b),
        (Some(Ev::Epilogue(a)), Ev::Epilogue(b)) => a.extend(b),
        (_, ev) => out.push(ev),
    }
}

/// Decodes `input` fed in chunks whose sizes come from `sizes` (cycled; the last chunk takes
/// the rest), keeping only the unconsumed bytes between feeds.
pub fn decode_with(
    input: &[u8],
    boundary: &[u8],
    cfg: Config,
    sizes: &[usize],
) -> Result<Vec<Ev>, Error> {
    let mut dec = Decoder::with_config(boundary, cfg)?;
    let mut carry: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut k = 0;
    loop {
        let n = if sizes.is_empty() {
            input.len() - pos
        } else {
            sizes[k % sizes.len()].max(1)
        };
        k += 1;
        let n = n.min(input.len() - pos);
        carry.extend_from_slice(&input[pos..pos + n]);
        pos += n;
        let eof = pos == input.len();
        let mut feed = dec.feed(&carry, eof);
        for ev in &mut feed {
            push(&mut out, own(ev?));
        }
        let c = feed.consumed();
        carry.drain(..c);
        if eof {
            break;
        }
    }
    assert!(
        dec.is_done(),
        "decoder neither finished nor failed at end of input"
    );
    Ok(out)
}

pub fn decode(input: &[u8], boundary: &[u8]) -> Result<Vec<Ev>, Error> {
    decode_with(input, boundary, Config::default(), &[])
}

/// Decodes whole, byte by byte, and under every split into two chunks; all must agree.
pub fn decode_all_ways(input: &[u8], boundary: &[u8], cfg: Config) -> Result<Vec<Ev>, Error> {
    let whole = decode_with(input, boundary, cfg, &[]);
    assert_eq!(
        decode_with(input, boundary, cfg, &[1]),
        whole,
        "1-byte chunks differ"
    );
    for split in 1..input.len() {
        let two = decode_with(input, boundary, cfg, &[split, input.len()]);
        assert_eq!(two, whole, "split at {split} differs");
    }
    whole
}

/// The bodies of the leaf parts, in order.
pub fn bodies(evs: &[Ev]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur: Option<Vec<u8>> = None;
    for e in evs {
        match e {
            Ev::PartStart { .. } => cur = Some(Vec::new()),
            Ev::MultipartStart(_) => cur = None,
            Ev::Body(b) => cur.get_or_insert_with(Vec::new).extend(b),
            Ev::PartEnd { .. } => {
                if let Some(c) = cur.take() {
                    out.push(c)
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(feature = "stream")]
pub mod stream {
    use super::*;
    use batchpart::stream::{HttpKind, PartEvent, PartStream};
    use bytes::Bytes;

    pub fn own_stream(ev: PartEvent) -> Ev {
        match ev {
            PartEvent::Preamble(b) => Ev::Preamble(b.to_vec()),
            PartEvent::PartStart(p) => Ev::PartStart {
                index: p.index(),
                depth: p.depth(),
                content_length: p.content_length(),
                content_type: p.content_type().map(ct_seen),
                headers: headers_of(p.headers()),
                content_id: p.content_id().map(id_seen),
            },
            PartEvent::MultipartStart(b) => Ev::MultipartStart(b.to_vec()),
            PartEvent::Http(h) => match h.kind() {
                HttpKind::Request {
                    method,
                    target,
                    version,
                } => Ev::Request {
                    method: method.to_vec(),
                    target: target.to_vec(),
                    version: version.as_ref().map(|v| v.to_vec()),
                    headers: headers_of(h.headers()),
                    content_id: h.content_id().map(id_seen),
                    content_length: h.content_length(),
                },
                HttpKind::Response {
                    version,
                    status,
                    reason,
                } => Ev::Response {
                    version: version.to_vec(),
                    status,
                    reason: reason.to_vec(),
                    headers: headers_of(h.headers()),
                    content_id: h.content_id().map(id_seen),
                    content_length: h.content_length(),
                },
            },
            PartEvent::Body(b) => Ev::Body(b.to_vec()),
            PartEvent::PartEnd(e) => Ev::PartEnd {
                framed: e.framed_len(),
                cl_mismatch: e.content_length_mismatch(),
                http_mismatch: e.http_content_length_mismatch(),
            },
            PartEvent::MultipartEnd => Ev::MultipartEnd,
            PartEvent::Epilogue(b) => Ev::Epilogue(b.to_vec()),
            PartEvent::End => Ev::End,
            _ => unreachable!(),
        }
    }

    pub fn chunks_of(input: &[u8], n: usize) -> Vec<Bytes> {
        input.chunks(n.max(1)).map(Bytes::copy_from_slice).collect()
    }

    /// Decodes through the Stream layer; returns the raw owned events.
    pub fn stream_raw(
        chunks: Vec<Bytes>,
        boundary: &[u8],
        cfg: Config,
    ) -> Result<Vec<PartEvent>, Error> {
        let src =
            batchpart::stream::iter(chunks.into_iter().map(Ok::<_, std::convert::Infallible>));
        let mut s = PartStream::with_config(src, boundary, cfg)?;
        let mut out = Vec::new();
        while let Some(ev) = block_on_next(&mut s) {
            match ev {
                Ok(ev) => out.push(ev),
                Err(batchpart::stream::StreamError::Decode(e)) => return Err(e),
                Err(_) => unreachable!(),
            }
        }
        Ok(out)
    }

    pub fn stream_events(
        input: &[u8],
        boundary: &[u8],
        cfg: Config,
        n: usize,
    ) -> Result<Vec<Ev>, Error> {
        let raw = stream_raw(chunks_of(input, n), boundary, cfg)?;
        let mut out = Vec::new();
        for ev in raw {
            push(&mut out, own_stream(ev));
        }
        Ok(out)
    }
}

/// The path of a built example (`cargo test` builds them next to the test binaries).
pub fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let p = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        p.exists(),
        "examples/{name} was not built; run `cargo test --all-features`"
    );
    p
}

/// The `batchpart` binary, which cargo builds for the integration tests under feature `cli`.
#[cfg(all(feature = "cli", not(fuzzing)))]
pub fn batchpart() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_batchpart"))
}

/// Runs `program` from the crate root with `args` and `stdin`: exit code, stdout, stderr.
pub fn run(
    program: &std::path::Path,
    args: &[&str],
    stdin: Option<&[u8]>,
) -> (i32, String, String) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(program)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        // The program may exit before reading its input (an error in its arguments).
        let _ = child.stdin.take().unwrap().write_all(input);
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Runs an example: see [`run`].
pub fn run_example(name: &str, args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    run(&example(name), args, stdin)
}

/// Runs `batchpart SUBCOMMAND ARGS...`: see [`run`].
#[cfg(all(feature = "cli", not(fuzzing)))]
pub fn run_tool(subcommand: &str, args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    let args: Vec<&str> = std::iter::once(subcommand)
        .chain(args.iter().copied())
        .collect();
    run(&batchpart(), &args, stdin)
}

/// A test that cannot run here says why; under `CI=true` it fails instead, so that a missing
/// tool never passes for a test that ran.
pub fn skip(why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}: under CI=true this is a failure, not a skip");
    }
    eprintln!("{why}: skipped");
}
