//! `inspect`: decode a multipart body and print its structure as one JSON document.
//!
//! ```text
//! cargo run --example inspect -- [--content-type CT | --boundary B] [--chunk N] [--strict] [--opaque] [--summary] [FILE|-]
//! ```
//!
//! `--opaque` reads every part as plain bytes: `application/http` parts are not opened as
//! embedded messages, nor `multipart/*` parts as nested levels, so each part's `body` is its
//! raw bytes.
//!
//! Every decode error prints as `error: <what> at byte N`: for a `--content-type` argument
//! N is 0, and for a boundary taken from the first line it is where the boundary starts.
//!
//! With no FILE it decodes an embedded sample, Creatio's OData `$batch` request with a
//! changeset. Strings are latin-1 mapped (byte 0xNN is U+00NN), so every byte survives.

#[path = "../tests/common/ready.rs"]
mod ready;
use ready::block_on_next;

use std::io::{Read, Write};
use std::process::ExitCode;

use batchpart::stream::{HttpKind, PartEvent, PartStream};
use batchpart::{Config, ContentType};
use bytes::Bytes;

#[path = "support/latin1.rs"]
mod support;
use support::latin1;

const SAMPLE: &[u8] = include_bytes!("../tests/fixtures/creatio_multipart_request.txt");

struct Opts {
    content_type: Option<String>,
    boundary: Option<String>,
    chunk: usize,
    strict: bool,
    opaque: bool,
    summary: bool,
    file: Option<String>,
}

fn usage() -> ExitCode {
    eprintln!("usage: inspect [--content-type CT | --boundary B] [--chunk N] [--strict] [--opaque] [--summary] [FILE|-]");
    ExitCode::from(2)
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        content_type: None,
        boundary: None,
        chunk: 65536,
        strict: false,
        opaque: false,
        summary: false,
        file: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--content-type" => {
                o.content_type = Some(args.next().ok_or("--content-type needs a value")?)
            }
            "--boundary" => o.boundary = Some(args.next().ok_or("--boundary needs a value")?),
            "--chunk" => {
                let n: usize = args
                    .next()
                    .ok_or("--chunk needs a value")?
                    .parse()
                    .map_err(|_| "--chunk needs a positive number")?;
                if n == 0 {
                    return Err("--chunk needs a positive number".into());
                }
                o.chunk = n;
            }
            "--strict" => o.strict = true,
            "--opaque" => o.opaque = true,
            "--summary" => o.summary = true,
            "-h" | "--help" => return Err(String::new()),
            f if o.file.is_none() && (f == "-" || !f.starts_with("--")) => o.file = Some(f.into()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

/// Reads the input `n` bytes at a time, as `Bytes` chunks.
struct Chunks {
    src: Box<dyn Read>,
    n: usize,
    first: Option<Bytes>,
}

impl Iterator for Chunks {
    type Item = std::io::Result<Bytes>;
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(f) = self.first.take() {
            if !f.is_empty() {
                return Some(Ok(f));
            }
        }
        let mut buf = vec![0u8; self.n];
        let mut got = 0;
        while got < self.n {
            match self.src.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Some(Err(e)),
            }
        }
        if got == 0 {
            return None;
        }
        buf.truncate(got);
        Some(Ok(Bytes::from(buf)))
    }
}

fn headers_json(out: &mut String, h: batchpart::HeaderBlock<'_>) {
    out.push('[');
    for (i, h) in h.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('[');
        latin1(out, h.name());
        out.push_str(", ");
        latin1(out, &h.value().to_unfolded());
        out.push(']');
    }
    out.push(']');
}

/// The JSON tree, built as events arrive.
#[derive(Default)]
struct Multipart {
    boundary: Vec<u8>,
    preamble: Vec<u8>,
    parts: Vec<Part>,
    epilogue: Vec<u8>,
}

#[derive(Default)]
struct Part {
    headers: String,
    content_id: Option<Vec<u8>>,
    http: Option<String>,
    multipart: Option<Multipart>,
    body: Vec<u8>,
}

impl Multipart {
    fn json(&self, out: &mut String) {
        out.push_str("{\"boundary\": ");
        latin1(out, &self.boundary);
        out.push_str(", \"preamble\": ");
        latin1(out, &self.preamble);
        out.push_str(", \"parts\": [");
        for (i, p) in self.parts.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str("{\"headers\": ");
            out.push_str(&p.headers);
            out.push_str(", \"content_id\": ");
            match &p.content_id {
                Some(c) => latin1(out, c),
                None => out.push_str("null"),
            }
            if let Some(m) = &p.multipart {
                out.push_str(", \"multipart\": ");
                m.json(out);
            } else if let Some(h) = &p.http {
                out.push_str(", \"http\": {");
                out.push_str(h);
                out.push_str(", \"body\": ");
                latin1(out, &p.body);
                out.push('}');
            } else {
                out.push_str(", \"body\": ");
                latin1(out, &p.body);
            }
            out.push('}');
        }
        out.push_str("], \"epilogue\": ");
        latin1(out, &self.epilogue);
        out.push('}');
    }
}

fn http_json(h: &batchpart::stream::HttpHead) -> String {
    let mut s = String::new();
    match h.kind() {
        HttpKind::Request {
            method,
            target,
            version,
        } => {
            s.push_str("\"request\": {\"method\": ");
            latin1(&mut s, method);
            s.push_str(", \"target\": ");
            latin1(&mut s, target);
            s.push_str(", \"version\": ");
            latin1(&mut s, version.as_deref().unwrap_or(b""));
        }
        HttpKind::Response {
            version,
            status,
            reason,
        } => {
            s.push_str("\"response\": {\"version\": ");
            latin1(&mut s, version);
            s.push_str(&format!(", \"status\": {status}, \"reason\": "));
            latin1(&mut s, reason);
        }
    }
    s.push_str(", \"headers\": ");
    headers_json(&mut s, h.headers());
    s.push('}');
    s
}

fn run(o: Opts) -> Result<String, String> {
    let mut src: Box<dyn Read> = match o.file.as_deref() {
        None => Box::new(SAMPLE),
        Some("-") => Box::new(std::io::stdin()),
        Some(f) => Box::new(std::fs::File::open(f).map_err(|e| format!("{f}: {e}"))?),
    };
    let mut cfg = if o.strict {
        Config::strict()
    } else {
        Config::default()
    };
    if o.opaque {
        cfg = cfg.opaque();
    }
    // The argument is not part of the body: its errors are reported at offset 0.
    let at0 = |e: batchpart::Error| batchpart::Error::new(e.kind(), 0).to_string();
    let boundary: Vec<u8> = if let Some(b) = o.boundary {
        b.into_bytes()
    } else if let Some(ct) = o.content_type {
        let ct = ContentType::parse(ct.as_bytes()).map_err(at0)?;
        ct.multipart_boundary().map_err(at0)?.to_vec()
    } else {
        Vec::new()
    };
    // Without a boundary, read the first line (past a BOM) and take it from `--boundary`.
    let mut first = Vec::new();
    let mut boundary_at = 0;
    let boundary = if boundary.is_empty() {
        let mut byte = [0u8; 1];
        while first.len() < 4 + 3 + batchpart::MAX_BOUNDARY_LEN + 2 && !first.ends_with(b"\n") {
            match src.read(&mut byte) {
                Ok(0) => break,
                Ok(_) => first.push(byte[0]),
                Err(e) => return Err(e.to_string()),
            }
        }
        let line = first.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&first);
        let line = line
            .strip_prefix(b"--")
            .ok_or("no boundary given and the input does not start with --")?;
        let end = line
            .iter()
            .position(|&c| c == b'\r' || c == b'\n')
            .unwrap_or(line.len());
        let mut b = &line[..end];
        while let [rest @ .., b' ' | b'\t'] = b {
            b = rest;
        }
        boundary_at = first.len() - line.len();
        b.to_vec()
    } else {
        boundary
    };
    let chunks = Chunks {
        src,
        n: o.chunk,
        first: Some(Bytes::from(first)),
    };
    let mut events = PartStream::with_config(batchpart::stream::iter(chunks), &boundary, cfg)
        .map_err(|e| batchpart::Error::new(e.kind(), boundary_at as u64).to_string())?;

    if o.summary {
        let (mut parts, mut body, mut depth, mut max_depth) = (0u64, 0u64, 1usize, 1usize);
        while let Some(ev) = block_on_next(&mut events) {
            match ev.map_err(|e| e.to_string())? {
                PartEvent::PartStart(_) => parts += 1,
                PartEvent::Body(b) => body += b.len() as u64,
                PartEvent::MultipartStart(_) => {
                    depth += 1;
                    max_depth = max_depth.max(depth);
                }
                PartEvent::MultipartEnd => depth -= 1,
                _ => {}
            }
        }
        return Ok(format!(
            "{{\"parts\":{parts},\"body_bytes\":{body},\"max_depth\":{max_depth}}}"
        ));
    }

    let mut stack = vec![Multipart {
        boundary,
        ..Default::default()
    }];
    let mut nested_epilogue = false;
    while let Some(ev) = block_on_next(&mut events) {
        let top = stack.last_mut().expect("stack");
        match ev.map_err(|e| e.to_string())? {
            PartEvent::Preamble(b) => top.preamble.extend_from_slice(&b),
            PartEvent::Epilogue(b) => match top.parts.last_mut() {
                // A nested epilogue comes after its MultipartEnd, before the PartEnd of the
                // part that holds it.
                Some(p) if nested_epilogue => p
                    .multipart
                    .as_mut()
                    .expect("nested")
                    .epilogue
                    .extend_from_slice(&b),
                _ => top.epilogue.extend_from_slice(&b),
            },
            PartEvent::PartStart(p) => {
                let mut headers = String::new();
                headers_json(&mut headers, p.headers());
                top.parts.push(Part {
                    headers,
                    content_id: p.content_id().map(|c| c.normalized().to_unfolded()),
                    ..Default::default()
                });
            }
            PartEvent::MultipartStart(b) => stack.push(Multipart {
                boundary: b.to_vec(),
                ..Default::default()
            }),
            PartEvent::MultipartEnd => {
                let m = stack.pop().expect("nested");
                let parent = stack.last_mut().expect("parent");
                parent.parts.last_mut().expect("part").multipart = Some(m);
                nested_epilogue = true;
            }
            PartEvent::Http(h) => {
                let part = top.parts.last_mut().expect("part");
                if part.content_id.is_none() {
                    part.content_id = h.content_id().map(|c| c.normalized().to_unfolded());
                }
                part.http = Some(http_json(&h));
            }
            PartEvent::Body(b) => top
                .parts
                .last_mut()
                .expect("part")
                .body
                .extend_from_slice(&b),
            PartEvent::PartEnd(_) => nested_epilogue = false,
            PartEvent::End => {}
            _ => {}
        }
    }
    let mut out = String::new();
    stack[0].json(&mut out);
    Ok(out)
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            return usage();
        }
    };
    match run(opts) {
        Ok(s) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
