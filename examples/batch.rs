//! `batch`: read a batch request or response, validate it, and print its model as JSON.
//!
//! ```text
//! cargo run --features batch,json --example batch -- parse [--dialect D] [--content-type CT] [--path P] [FILE|-]
//! ```
//!
//! `--dialect odata|ringcentral|json-batch|ucwa|creatio` (default `odata`) chooses the reader;
//! every dialect prints the same model. RingCentral takes the request path (`--path`) to pair
//! a PUT's parts with the IDs; its operations' `content_id` is the resource ID.
//!
//! JSON is chosen by `--content-type application/json`, or, without a Content-Type, by a `{`
//! at the start; multipart takes its boundary from the Content-Type or from the first line.
//! Output: `{"kind": "request"|"response", "items": [OP | {"changeset": [OP...]}]}`. Bodies are
//! latin-1 strings (byte 0xNN is U+00NN); a JSON batch's JSON bodies are their raw JSON text.
//! On invalid input: exit 1 and one line on stderr, `error: <kind>: <detail>`.

use std::io::Read;
use std::process::ExitCode;

use batchpart::batch::{
    creatio, json_batch, read_json, read_multipart, ringcentral, ucwa, Batch, BatchError,
    BatchErrorKind, Headers, Item, RequestOp, ResponseOp, ValidationOptions,
};
use bytes::Bytes;

#[path = "support/latin1.rs"]
mod support;
use support::latin1;

fn text(out: &mut String, s: &str) {
    latin1(out, &Headers::value_bytes(s));
}

fn headers(out: &mut String, h: &Headers) {
    out.push('[');
    for (i, (n, v)) in h.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('[');
        text(out, n);
        out.push_str(", ");
        text(out, v);
        out.push(']');
    }
    out.push(']');
}

fn content_id(out: &mut String, id: &Option<String>) {
    out.push_str("{\"content_id\": ");
    match id {
        Some(id) => text(out, id),
        None => out.push_str("null"),
    }
}

trait Print {
    fn print(&self, out: &mut String);
}

impl Print for RequestOp {
    fn print(&self, out: &mut String) {
        content_id(out, &self.content_id);
        out.push_str(", \"method\": ");
        text(out, &self.method);
        out.push_str(", \"url\": ");
        text(out, &self.url);
        out.push_str(", \"headers\": ");
        headers(out, &self.headers);
        out.push_str(", \"body\": ");
        latin1(out, &self.body);
        out.push('}');
    }
}

impl Print for ResponseOp {
    fn print(&self, out: &mut String) {
        content_id(out, &self.content_id);
        out.push_str(&format!(", \"status\": {}, \"headers\": ", self.status));
        headers(out, &self.headers);
        out.push_str(", \"body\": ");
        latin1(out, &self.body);
        out.push('}');
    }
}

fn print<Op: Print>(kind: &str, batch: &Batch<Op>) -> String {
    let mut out = format!("{{\"kind\": \"{kind}\", \"items\": [");
    for (i, item) in batch.items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match item {
            Item::Op(op) => op.print(&mut out),
            Item::Changeset(c) => {
                out.push_str("{\"changeset\": [");
                for (j, op) in c.ops.iter().enumerate() {
                    if j > 0 {
                        out.push_str(", ");
                    }
                    op.print(&mut out);
                }
                out.push_str("]}");
            }
        }
    }
    out.push_str("]}");
    out
}

/// Is this batch a response? Multipart: the first embedded start line says; JSON: which of
/// `"requests"` and `"responses"` comes first.
fn is_response(input: &[u8], json: bool, boundary: Option<&[u8]>) -> bool {
    if json {
        let find = |k: &[u8]| input.windows(k.len()).position(|w| w == k);
        return match (find(b"\"requests\""), find(b"\"responses\"")) {
            (Some(a), Some(b)) => b < a,
            (None, Some(_)) => true,
            _ => false,
        };
    }
    let Some(b) = boundary else { return false };
    let Ok(mut dec) = batchpart::Decoder::new(b) else {
        return false;
    };
    for ev in dec.feed(input, true) {
        match ev {
            Ok(batchpart::Event::Response(_)) => return true,
            Ok(batchpart::Event::Request(_)) | Err(_) => return false,
            _ => {}
        }
    }
    false
}

const USAGE: &str = "usage: batch parse [--dialect odata|ringcentral|json-batch|ucwa|creatio] [--content-type CT] [--path P] [FILE|-]";

fn parse(args: &[String]) -> Result<String, BatchError> {
    let usage = || BatchError::new(BatchErrorKind::Malformed, USAGE);
    let mut ct: Option<String> = None;
    let mut dialect = "odata".to_string();
    let mut path = String::new();
    let mut file: Option<&str> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--content-type" => ct = Some(it.next().ok_or_else(usage)?.clone()),
            "--dialect" => dialect = it.next().ok_or_else(usage)?.clone(),
            "--path" => path = it.next().ok_or_else(usage)?.clone(),
            f if file.is_none() => file = Some(f),
            _ => return Err(usage()),
        }
    }
    let mut input = Vec::new();
    let read = match file {
        None | Some("-") => std::io::stdin().read_to_end(&mut input),
        Some(f) => std::fs::File::open(f).and_then(|mut r| r.read_to_end(&mut input)),
    };
    read.map_err(|e| BatchError::new(BatchErrorKind::Source, e.to_string()))?;
    let start = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&input);
    let first = start.iter().find(|b| !b.is_ascii_whitespace());
    let json = match &ct {
        Some(c) => c
            .trim()
            .to_ascii_lowercase()
            .starts_with("application/json"),
        None => first == Some(&b'{'),
    };
    let body = Bytes::from(input.clone());
    match dialect.as_str() {
        "odata" | "ucwa" | "creatio" => {}
        "json-batch" => {
            return Ok(if is_response(&input, true, None) || first == Some(&b'[') {
                print("response", &json_batch::read_response(&input)?)
            } else {
                print("request", &json_batch::read_request(&input)?.batch)
            });
        }
        "ringcentral" => {
            return ringcentral_model(&input, ct.as_deref(), &path, json || first == Some(&b'['))
        }
        other => {
            return Err(BatchError::new(
                BatchErrorKind::Malformed,
                format!("unknown dialect {other}"),
            ))
        }
    }
    if json && dialect == "creatio" {
        return Ok(if is_response(&input, true, None) {
            print(
                "response",
                &creatio::read_response(b"application/json", body)?,
            )
        } else {
            print(
                "request",
                &creatio::read_request(b"application/json", body)?,
            )
        });
    }
    if json {
        let opts = ValidationOptions {
            json: true,
            ..Default::default()
        };
        return Ok(if is_response(&input, true, None) {
            print("response", &read_json::<ResponseOp>(body, None)?)
        } else {
            print("request", &read_json::<RequestOp>(body, Some(opts))?)
        });
    }
    let ct = match ct {
        Some(c) => c,
        None => {
            let line = start.split(|&b| b == b'\n').next().unwrap_or_default();
            let b = line.strip_prefix(b"--").ok_or_else(|| {
                BatchError::new(
                    BatchErrorKind::Malformed,
                    "no Content-Type given and the input starts with neither { nor --",
                )
            })?;
            let b = String::from_utf8_lossy(b).trim_end().to_string();
            format!("multipart/mixed; boundary=\"{b}\"")
        }
    };
    let parsed = batchpart::ContentType::parse(ct.as_bytes()).map_err(BatchError::from)?;
    let boundary = parsed
        .multipart_boundary()
        .map_err(BatchError::from)?
        .to_vec();
    let response = is_response(&input, false, Some(&boundary));
    match (dialect.as_str(), response) {
        ("ucwa", true) => {
            return Ok(print(
                "response",
                &ucwa::read_responses(body, ct.as_bytes())?,
            ))
        }
        ("ucwa", false) => return Ok(print("request", &ucwa::read_requests(body, ct.as_bytes())?)),
        ("creatio", true) => {
            return Ok(print(
                "response",
                &creatio::read_response(ct.as_bytes(), body)?,
            ))
        }
        ("creatio", false) => {
            return Ok(print(
                "request",
                &creatio::read_request(ct.as_bytes(), body)?,
            ))
        }
        _ => {}
    }
    Ok(if response {
        print(
            "response",
            &read_multipart::<ResponseOp>(body, ct.as_bytes(), None)?,
        )
    } else {
        print(
            "request",
            &read_multipart::<RequestOp>(body, ct.as_bytes(), Some(ValidationOptions::default()))?,
        )
    })
}

/// RingCentral in the common model: one operation per resource, its ID as the content_id.
fn ringcentral_model(
    input: &[u8],
    ct: Option<&str>,
    path: &str,
    json: bool,
) -> Result<String, BatchError> {
    let base = ringcentral::split_ids(path)
        .map(|p| p.base)
        .unwrap_or_default();
    let url = |id: &str| {
        if base.is_empty() {
            id.to_string()
        } else {
            format!("{base}/{id}")
        }
    };
    let request = |items: Vec<(String, Bytes)>| {
        let ops = items
            .into_iter()
            .map(|(id, b)| {
                Item::Op(
                    RequestOp::new("PUT", url(&id))
                        .with_content_id(id)
                        .with_header("Content-Type", "application/json")
                        .with_body(b),
                )
            })
            .collect();
        print("request", &Batch { items: ops })
    };
    let response = |r: ringcentral::Response| {
        let ops = r
            .results
            .into_iter()
            .map(|x| {
                Item::Op(
                    ResponseOp::new(x.status)
                        .with_content_id(Some(x.resource_id))
                        .with_body(x.body),
                )
            })
            .collect();
        print("response", &Batch { items: ops })
    };
    if json {
        let v: serde_json::Value = serde_json::from_slice(input)
            .map_err(|e| BatchError::new(BatchErrorKind::Json, e.to_string()))?;
        let is_resp = v
            .as_array()
            .and_then(|a| a.first())
            .is_some_and(|e| e.get("status").is_some());
        return Ok(if is_resp {
            response(ringcentral::read_json_response(207, input)?)
        } else {
            request(ringcentral::read_json_request(path, input)?)
        });
    }
    let ct = match ct {
        Some(c) => c.to_string(),
        None => {
            let line = input.split(|&b| b == b'\n').next().unwrap_or_default();
            let b = line.strip_prefix(b"--").ok_or_else(|| {
                BatchError::new(
                    BatchErrorKind::Malformed,
                    "no Content-Type and no leading --",
                )
            })?;
            format!(
                "multipart/mixed; boundary=\"{}\"",
                String::from_utf8_lossy(b).trim_end()
            )
        }
    };
    let body = Bytes::copy_from_slice(input);
    // A 207 response opens with its JSON summary, `{"response":[...]}`.
    let summary_first = input.windows(11).take(512).any(|w| w == b"{\"response\"");
    Ok(if summary_first {
        response(ringcentral::read_multipart_response(
            207,
            ct.as_bytes(),
            body,
            &ringcentral::split_ids(path)
                .map(|p| p.ids)
                .unwrap_or_default(),
        )?)
    } else {
        request(ringcentral::read_put(path, ct.as_bytes(), body)?)
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("parse") => parse(&args[1..]),
        _ => Err(BatchError::new(
            BatchErrorKind::Malformed,
            "usage: batch parse [--content-type CT] [FILE|-]",
        )),
    };
    match result {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
