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
use serde::Serialize;
use support::Latin1;

/// A model string as the latin-1 string of its wire bytes (each char one byte).
fn text(s: &str) -> Latin1 {
    Latin1(s.chars().map(|c| c as u32 as u8).collect())
}

fn headers(h: &Headers) -> Vec<(Latin1, Latin1)> {
    h.iter()
        .map(|(n, v)| (text(n), Latin1(v.to_vec())))
        .collect()
}

#[derive(Serialize)]
struct Out<T> {
    kind: &'static str,
    items: Vec<OutItem<T>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutItem<T> {
    Op(T),
    Changeset { changeset: Vec<T> },
}

#[derive(Serialize)]
struct Request {
    content_id: Option<Latin1>,
    method: Latin1,
    url: Latin1,
    headers: Vec<(Latin1, Latin1)>,
    body: Latin1,
}

#[derive(Serialize)]
struct Response {
    content_id: Option<Latin1>,
    status: u16,
    headers: Vec<(Latin1, Latin1)>,
    body: Latin1,
}

trait Print {
    type Out: Serialize;
    fn out(&self) -> Self::Out;
}

impl Print for RequestOp {
    type Out = Request;
    fn out(&self) -> Request {
        Request {
            content_id: self.content_id.as_deref().map(text),
            method: text(&self.method),
            url: text(&self.url),
            headers: headers(&self.headers),
            body: Latin1(self.body.to_vec()),
        }
    }
}

impl Print for ResponseOp {
    type Out = Response;
    fn out(&self) -> Response {
        Response {
            content_id: self.content_id.as_deref().map(text),
            status: self.status,
            headers: headers(&self.headers),
            body: Latin1(self.body.to_vec()),
        }
    }
}

fn print<Op: Print>(kind: &'static str, batch: &Batch<Op>) -> String {
    let items = batch
        .items
        .iter()
        .map(|item| match item {
            Item::Op(op) => OutItem::Op(op.out()),
            Item::Changeset(c) => OutItem::Changeset {
                changeset: c.ops.iter().map(Print::out).collect(),
            },
        })
        .collect();
    serde_json::to_string(&Out { kind, items }).expect("strings and numbers serialize")
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
