//! `compose`: encode a multipart body from the JSON tree that `inspect` prints.
//!
//! ```text
//! batchpart compose [FILE|-]
//! ```
//!
//! Reads the tree from FILE or stdin, writes the encoded body to stdout and nothing else, and
//! prints `Content-Type: <value>` to stderr. The tree's `boundary` is used when non-empty, and
//! a random one is generated otherwise (and chosen anew if a body holds it). A body that
//! holds a delimiter line of a given boundary (`--boundary` at the start of a line, after CRLF
//! or LF alone) exits 1 with `error: parts[i]...: delimiter found in content`. Strings are latin-1 (U+00NN is byte 0xNN).

use std::io::{Read, Write};
use std::process::ExitCode;

use crate::Failure;
use batchpart::encoder::{EncodeErrorKind, EncoderConfig};
use batchpart::writer::Writer;
use bytes::{Buf, Bytes};
use serde_json::Value;

type Headers = Vec<(Vec<u8>, Vec<u8>)>;

fn latin1(v: &Value, what: &str) -> Result<Vec<u8>, String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("{what}: expected a string"))?;
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).map_err(|_| format!("{what}: {c:?} is not latin-1")))
        .collect()
}

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value, String> {
    v.get(key).ok_or_else(|| format!("missing \"{key}\""))
}

fn headers(v: &Value) -> Result<Headers, String> {
    let list = v.as_array().ok_or("headers: expected an array")?;
    list.iter()
        .map(|h| match h.as_array().map(Vec::as_slice) {
            Some([n, v]) => Ok((latin1(n, "header name")?, latin1(v, "header value")?)),
            _ => Err("headers: expected [name, value] pairs".to_string()),
        })
        .collect()
}

fn pairs(h: &Headers) -> impl Iterator<Item = (&[u8], &[u8])> + Clone {
    h.iter().map(|(n, v)| (n.as_slice(), v.as_slice()))
}

/// Writes the parts, preamble included, of the multipart `m` at the writer's current level.
/// `path` names the multipart in errors (`parts[1].multipart`).
fn parts(w: &mut Writer, m: &Value, path: &str) -> Result<(), String> {
    let pre = latin1(field(m, "preamble")?, "preamble")?;
    w.preamble(&pre).map_err(|e| e.to_string())?;
    for (i, part) in field(m, "parts")?
        .as_array()
        .ok_or("parts: expected an array")?
        .iter()
        .enumerate()
    {
        let here = format!("{path}parts[{i}]");
        // A body that holds a delimiter is named by its place in the tree.
        let e = |e: batchpart::encoder::EncodeError| match e.kind() {
            EncodeErrorKind::BoundaryInBody => format!("{here}: {e}"),
            _ => e.to_string(),
        };
        let mut hs = headers(field(part, "headers")?)?;
        if let Some(nested) = part.get("multipart") {
            let given = latin1(field(nested, "boundary")?, "boundary")?;
            if given.is_empty() {
                // A generated boundary: let the encoder write the Content-Type that names it.
                hs.retain(|(n, _)| !n.eq_ignore_ascii_case(b"content-type"));
                w.open_random_multipart(pairs(&hs)).map_err(e)?;
            } else {
                w.open_multipart(&given, pairs(&hs)).map_err(e)?;
            }
            parts(w, nested, &format!("{here}.multipart."))?;
            let epi = latin1(field(nested, "epilogue")?, "epilogue")?;
            w.close_multipart(&epi).map_err(e)?;
        } else if let Some(http) = part.get("http") {
            w.part_start(pairs(&hs)).map_err(e)?;
            if let Some(r) = http.get("request") {
                let version = latin1(field(r, "version")?, "version")?;
                let rh = headers(field(r, "headers")?)?;
                w.request_head(
                    &latin1(field(r, "method")?, "method")?,
                    &latin1(field(r, "target")?, "target")?,
                    (!version.is_empty()).then_some(version.as_slice()),
                    pairs(&rh),
                )
                .map_err(e)?;
            } else if let Some(r) = http.get("response") {
                let status = field(r, "status")?
                    .as_u64()
                    .and_then(|s| u16::try_from(s).ok())
                    .ok_or("status: expected a number")?;
                let rh = headers(field(r, "headers")?)?;
                w.response_head(
                    &latin1(field(r, "version")?, "version")?,
                    status,
                    Some(&latin1(field(r, "reason")?, "reason")?),
                    pairs(&rh),
                )
                .map_err(e)?;
            } else {
                return Err("http: expected \"request\" or \"response\"".into());
            }
            w.body(Bytes::from(latin1(field(http, "body")?, "body")?))
                .map_err(e)?;
        } else {
            let body = latin1(field(part, "body")?, "body")?;
            w.part(pairs(&hs), Bytes::from(body)).map_err(e)?;
        }
    }
    Ok(())
}

fn run(args: Vec<String>) -> Result<(), Failure> {
    let text = match args.as_slice() {
        [] => read_all(std::io::stdin())?,
        [f] if f == "-" => read_all(std::io::stdin())?,
        [f] if !f.starts_with("--") => {
            read_all(std::fs::File::open(f).map_err(|e| format!("{f}: {e}"))?)?
        }
        _ => {
            return Err(Failure::Usage(
                "compose takes one FILE or -".into(),
                "usage: batchpart compose [FILE|-]",
            ))
        }
    };
    let tree: Value = serde_json::from_slice(&text).map_err(|e| format!("invalid JSON: {e}"))?;
    let boundary = latin1(field(&tree, "boundary")?, "boundary")?;
    // Targets are written as the tree holds them, raw spaces included, as inspect read them.
    let cfg = EncoderConfig {
        allow_spaces_in_target: true,
    };
    let mut w = if boundary.is_empty() {
        Writer::random_with_config(cfg)
    } else {
        Writer::with_config(&boundary, cfg).map_err(|e| e.to_string())?
    };
    parts(&mut w, &tree, "")?;
    let epi = latin1(field(&tree, "epilogue")?, "epilogue")?;
    let mut body = w.finish(&epi).map_err(|e| e.to_string())?;
    // Read after finish: a generated boundary that a body held was chosen anew.
    let content_type = body.content_type("mixed");
    let mut out = std::io::stdout().lock();
    while body.has_remaining() {
        let n = out.write(body.chunk()).map_err(|e| e.to_string())?;
        body.advance(n);
    }
    out.flush().map_err(|e| e.to_string())?;
    eprintln!("Content-Type: {content_type}");
    Ok(())
}

fn read_all(mut r: impl Read) -> Result<Vec<u8>, String> {
    let mut v = Vec::new();
    r.read_to_end(&mut v).map_err(|e| e.to_string())?;
    Ok(v)
}

/// `batchpart compose ARGS`.
pub fn main(args: Vec<String>) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.exit(),
    }
}
