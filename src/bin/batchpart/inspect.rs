//! `inspect`: decode a multipart body and print its structure as one JSON document.
//!
//! ```text
//! batchpart inspect [--content-type CT | --boundary B] [--chunk N] [--strict] [--opaque]
//!     [--summary | --tree] [--max-parts N] [--max-depth N] [--max-header-bytes N] [FILE|-]
//! ```
//!
//! `--opaque` reads every part as plain bytes: `application/http` parts are not opened as
//! embedded messages, nor `multipart/*` parts as nested levels, so each part's `body` is its
//! raw bytes.
//!
//! `--tree` prints an indented view for people instead of the JSON: each multipart with its
//! boundary, each part with its content type, Content-ID, method and target or status, and
//! body size. `--max-parts N`, `--max-depth N` and `--max-header-bytes N` set the decoder's
//! limits (defaults: 10,000 parts, depth 8, 16 KiB). On a terminal, a large input shows its
//! progress on stderr every 64 MiB.
//!
//! Every decode error prints as `error: <what> at byte N`: for a `--content-type` argument
//! N is 0, and for a boundary taken from the first line it is where the boundary starts.
//!
//! With no FILE it decodes an embedded sample, Creatio's OData `$batch` request with a
//! changeset. Strings are latin-1 mapped (byte 0xNN is U+00NN), so every byte survives.

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use batchpart::stream::{HttpKind, PartEvent, PartStream};
use batchpart::{Config, ContentType};
use bytes::Bytes;

use crate::latin1::Latin1;
use crate::ready::block_on_next;
use serde::Serialize;

const SAMPLE: &[u8] = include_bytes!("../../../tests/fixtures/creatio_multipart_request.txt");

struct Opts {
    content_type: Option<String>,
    boundary: Option<String>,
    chunk: usize,
    strict: bool,
    opaque: bool,
    summary: bool,
    tree: bool,
    max_parts: Option<u64>,
    max_depth: Option<usize>,
    max_header_bytes: Option<usize>,
    file: Option<String>,
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: batchpart inspect [--content-type CT | --boundary B] [--chunk N] [--strict] [--opaque] \
         [--summary | --tree] [--max-parts N] [--max-depth N] [--max-header-bytes N] [FILE|-]"
    );
    ExitCode::from(2)
}

fn parse_args(args: Vec<String>) -> Result<Opts, String> {
    let mut o = Opts {
        content_type: None,
        boundary: None,
        chunk: 65536,
        strict: false,
        opaque: false,
        summary: false,
        tree: false,
        max_parts: None,
        max_depth: None,
        max_header_bytes: None,
        file: None,
    };
    let mut args = args.into_iter();
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
            "--tree" => o.tree = true,
            "--max-parts" => o.max_parts = Some(number(&mut args, "--max-parts")?),
            "--max-depth" => o.max_depth = Some(number(&mut args, "--max-depth")?),
            "--max-header-bytes" => {
                o.max_header_bytes = Some(number(&mut args, "--max-header-bytes")?)
            }
            "-h" | "--help" => return Err(String::new()),
            f if o.file.is_none() && (f == "-" || !f.starts_with("--")) => o.file = Some(f.into()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

fn number<T: std::str::FromStr>(
    args: &mut impl Iterator<Item = String>,
    flag: &str,
) -> Result<T, String> {
    args.next()
        .ok_or(format!("{flag} needs a value"))?
        .parse()
        .map_err(|_| format!("{flag} needs a number"))
}

/// Counts the bytes read, and shows the count on a terminal's stderr every
/// [`PROGRESS_STEP`] bytes; ends its line when dropped.
struct Progress {
    read: u64,
    shown: bool,
}

/// Progress is shown every this many bytes, when stderr is a terminal.
const PROGRESS_STEP: u64 = 64 << 20;

impl Progress {
    fn new() -> Self {
        Progress {
            read: 0,
            shown: std::io::stderr().is_terminal(),
        }
    }

    fn add(&mut self, got: usize) {
        let before = self.read;
        self.read += got as u64;
        if self.shown && self.read / PROGRESS_STEP > before / PROGRESS_STEP {
            eprint!("\rinspect: {} MiB read", self.read >> 20);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // End the progress line before the output or an error line.
        if self.shown && self.read >= PROGRESS_STEP {
            eprintln!();
        }
    }
}

/// Reads the input `n` bytes at a time, as `Bytes` chunks.
struct Chunks {
    src: Box<dyn Read>,
    n: usize,
    first: Option<Bytes>,
    progress: Progress,
}

impl Iterator for Chunks {
    type Item = std::io::Result<Bytes>;
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(f) = self.first.take() {
            if !f.is_empty() {
                return Some(Ok(f));
            }
        }
        // Read into spare capacity: no zeroing of a buffer about to be overwritten.
        let mut buf = Vec::with_capacity(self.n);
        let got = match (&mut self.src).take(self.n as u64).read_to_end(&mut buf) {
            Ok(got) => got,
            Err(e) => return Some(Err(e)),
        };
        if got == 0 {
            return None;
        }
        self.progress.add(got);
        Some(Ok(Bytes::from(buf)))
    }
}

/// `--summary`: the sans-IO core over one buffer, reused. Each read takes at most `chunk`
/// bytes into it after what the decoder left unconsumed (at most a header block), moved
/// to its front; nothing is owned or allocated per event or per read.
fn summary(
    src: &mut dyn Read,
    first: &[u8],
    dec: &mut batchpart::Decoder,
    chunk: usize,
) -> Result<String, String> {
    let (mut parts, mut body, mut depth, mut max_depth) = (0u64, 0u64, 1usize, 1usize);
    let mut buf = first.to_vec();
    let mut have = buf.len();
    let mut progress = Progress::new();
    let mut eof = false;
    while !dec.is_done() {
        if !eof {
            if buf.len() < have + chunk {
                buf.resize(have + chunk, 0);
            }
            let got = src
                .read(&mut buf[have..have + chunk])
                .map_err(|e| e.to_string())?;
            eof = got == 0;
            have += got;
            progress.add(got);
        }
        let mut feed = dec.feed(&buf[..have], eof);
        for ev in &mut feed {
            match ev.map_err(|e| e.to_string())? {
                batchpart::Event::PartStart(p) => {
                    // As in the other outputs: a malformed type that does not frame is
                    // still refused, at its offset.
                    if let Some(Err(e)) = p.content_type() {
                        return Err(e.to_string());
                    }
                    parts += 1
                }
                batchpart::Event::Body(b) => body += b.len() as u64,
                batchpart::Event::MultipartStart(_) => {
                    depth += 1;
                    max_depth = max_depth.max(depth);
                }
                batchpart::Event::MultipartEnd => depth -= 1,
                _ => {}
            }
        }
        let used = feed.consumed();
        buf.copy_within(used..have, 0);
        have -= used;
        if eof && !dec.is_done() {
            // Fed the whole input, the decoder reports its end or an error: never this.
            return Err("the decoder stopped before the end of the input".into());
        }
    }
    summary_json(parts, body, max_depth)
}

fn summary_json(parts: u64, body_bytes: u64, max_depth: usize) -> Result<String, String> {
    #[derive(Serialize)]
    struct Summary {
        parts: u64,
        body_bytes: u64,
        max_depth: usize,
    }
    let summary = Summary {
        parts,
        body_bytes,
        max_depth,
    };
    serde_json::to_string(&summary).map_err(|e| e.to_string())
}

type Fields = Vec<(Latin1, Latin1)>;

fn fields(h: batchpart::HeaderBlock<'_>) -> Fields {
    h.iter()
        .map(|h| (Latin1::from(h.name()), Latin1(h.value().to_unfolded())))
        .collect()
}

/// The JSON tree, built as events arrive.
#[derive(Default, Serialize)]
struct Multipart {
    boundary: Latin1,
    preamble: Latin1,
    parts: Vec<Part>,
    epilogue: Latin1,
}

#[derive(Serialize)]
struct Part {
    headers: Fields,
    content_id: Option<Latin1>,
    #[serde(flatten)]
    content: Content,
}

/// What a part holds: one key of the part's object.
#[derive(Serialize)]
#[serde(rename_all = "lowercase")]
enum Content {
    Multipart(Multipart),
    Http(Http),
    Body(Latin1),
}

#[derive(Serialize)]
struct Http {
    #[serde(flatten)]
    line: Line,
    body: Latin1,
}

/// The start line and the embedded headers, under `request` or `response`.
#[derive(Serialize)]
#[serde(rename_all = "lowercase")]
enum Line {
    Request {
        method: Latin1,
        target: Latin1,
        version: Latin1,
        headers: Fields,
    },
    Response {
        version: Latin1,
        status: u16,
        reason: Latin1,
        headers: Fields,
    },
}

impl Part {
    fn body_mut(&mut self) -> &mut Vec<u8> {
        match &mut self.content {
            Content::Http(h) => &mut h.body.0,
            Content::Body(b) => &mut b.0,
            // Bytes after a nested close delimiter belong to its epilogue, not here.
            Content::Multipart(m) => &mut m.epilogue.0,
        }
    }
}

fn http(h: &batchpart::stream::HttpHead) -> Http {
    let line = match h.kind() {
        HttpKind::Request {
            method,
            target,
            version,
        } => Line::Request {
            method: Latin1::from(method),
            target: Latin1::from(target),
            version: Latin1::from(version.unwrap_or(b"")),
            headers: fields(h.headers()),
        },
        HttpKind::Response {
            version,
            status,
            reason,
        } => Line::Response {
            version: Latin1::from(version),
            status,
            reason: Latin1::from(reason),
            headers: fields(h.headers()),
        },
    };
    Http {
        line,
        body: Latin1::default(),
    }
}

/// The `--tree` view: one line per multipart and per part, indented by depth.
fn tree(m: &Multipart, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    let text = |b: &Latin1| b.0.iter().map(|&c| char::from(c)).collect::<String>();
    out.push_str(&format!(
        "{pad}multipart boundary={} ({} parts, preamble {} B, epilogue {} B)\n",
        text(&m.boundary),
        m.parts.len(),
        m.preamble.0.len(),
        m.epilogue.0.len()
    ));
    for (i, p) in m.parts.iter().enumerate() {
        let mut line = format!("{pad}  [{i}]");
        if let Some(ct) = p
            .headers
            .iter()
            .find(|(n, _)| n.0.eq_ignore_ascii_case(b"content-type"))
        {
            line.push_str(&format!(" {}", text(&ct.1)));
        }
        if let Some(id) = &p.content_id {
            line.push_str(&format!(" id={}", text(id)));
        }
        match &p.content {
            Content::Multipart(n) => {
                out.push_str(&line);
                out.push('\n');
                tree(n, depth + 2, out);
            }
            Content::Http(h) => {
                match &h.line {
                    Line::Request { method, target, .. } => {
                        line.push_str(&format!(" {} {}", text(method), text(target)))
                    }
                    Line::Response { status, reason, .. } => {
                        line.push_str(&format!(" -> {status}"));
                        if !reason.0.is_empty() {
                            line.push_str(&format!(" {}", text(reason)));
                        }
                    }
                }
                out.push_str(&format!("{line}, body {} B\n", h.body.0.len()));
            }
            Content::Body(b) => {
                out.push_str(&format!("{line}, body {} B\n", b.0.len()));
            }
        }
    }
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
    if let Some(n) = o.max_parts {
        cfg.limits.max_parts = n;
    }
    if let Some(n) = o.max_depth {
        cfg.limits.max_depth = n;
    }
    if let Some(n) = o.max_header_bytes {
        cfg.limits.max_header_bytes = n;
    }
    // The argument is not part of the body: its errors are reported at offset 0.
    let at0 = |e: batchpart::Error| batchpart::Error::new(e.kind(), 0).to_string();
    let boundary: Vec<u8> = if let Some(b) = o.boundary {
        b.into_bytes()
    } else if let Some(ct) = o.content_type {
        // Outside `--strict`, an unquoted boundary may hold `=` (Google's answers).
        let ct = if o.strict {
            ContentType::parse(ct.as_bytes())
        } else {
            ContentType::parse_lenient(ct.as_bytes())
        }
        .map_err(at0)?;
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
    let at_boundary = |e: batchpart::Error| batchpart::Error::new(e.kind(), boundary_at as u64);
    if o.summary {
        let mut dec = batchpart::Decoder::with_config(&boundary, cfg)
            .map_err(|e| at_boundary(e).to_string())?;
        return summary(&mut src, &first, &mut dec, o.chunk);
    }
    let chunks = Chunks {
        src,
        n: o.chunk,
        first: Some(Bytes::from(first)),
        progress: Progress::new(),
    };
    let mut events = PartStream::with_config(batchpart::stream::iter(chunks), &boundary, cfg)
        .map_err(|e| at_boundary(e).to_string())?;

    let mut stack = vec![Multipart {
        boundary: Latin1(boundary),
        ..Default::default()
    }];
    let mut nested_epilogue = false;
    while let Some(ev) = block_on_next(&mut events) {
        let top = stack.last_mut().expect("stack");
        match ev.map_err(|e| e.to_string())? {
            PartEvent::Preamble(b) => top.preamble.0.extend_from_slice(&b),
            PartEvent::Epilogue(b) => match top.parts.last_mut() {
                // A nested epilogue comes after its MultipartEnd, before the PartEnd of the
                // part that holds it.
                Some(p) if nested_epilogue => p.body_mut().extend_from_slice(&b),
                _ => top.epilogue.0.extend_from_slice(&b),
            },
            PartEvent::PartStart(p) if matches!(p.content_type(), Some(Err(_))) => {
                return Err(p
                    .content_type()
                    .and_then(Result::err)
                    .map_or_else(String::new, |e| e.to_string()))
            }
            PartEvent::PartStart(p) => top.parts.push(Part {
                headers: fields(p.headers()),
                content_id: p.content_id().map(|c| Latin1(c.normalized().to_unfolded())),
                content: Content::Body(Latin1::default()),
            }),
            PartEvent::MultipartStart(b) => stack.push(Multipart {
                boundary: Latin1(b.to_vec()),
                ..Default::default()
            }),
            PartEvent::MultipartEnd => {
                let m = stack.pop().expect("nested");
                let parent = stack.last_mut().expect("parent");
                parent.parts.last_mut().expect("part").content = Content::Multipart(m);
                nested_epilogue = true;
            }
            PartEvent::Http(h) => {
                let part = top.parts.last_mut().expect("part");
                if part.content_id.is_none() {
                    part.content_id = h.content_id().map(|c| Latin1(c.normalized().to_unfolded()));
                }
                part.content = Content::Http(http(&h));
            }
            PartEvent::Body(b) => top
                .parts
                .last_mut()
                .expect("part")
                .body_mut()
                .extend_from_slice(&b),
            PartEvent::PartEnd(_) => nested_epilogue = false,
            PartEvent::End => {}
            _ => {}
        }
    }
    if o.tree {
        let mut out = String::new();
        tree(&stack[0], 0, &mut out);
        return Ok(out.trim_end().to_string());
    }
    serde_json::to_string(&stack[0]).map_err(|e| e.to_string())
}

/// `batchpart inspect ARGS`.
pub fn main(args: Vec<String>) -> ExitCode {
    let opts = match parse_args(args) {
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
