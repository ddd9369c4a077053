//! `batch`: read a batch request or response, validate it, and print its model as JSON.
//!
//! ```text
//! batchpart batch parse [--dialect D] [--content-type CT] [--path P]
//!     [--chunk N] [--max-operations N] [--max-body-bytes N] [--max-batch-bytes N] [--max-header-bytes N] [FILE|-]
//! ```
//!
//! `--dialect odata|ringcentral|json-batch|ucwa|creatio|graph` (default `odata`) chooses the reader;
//! every dialect prints the same model. RingCentral takes the request path (`--path`) to pair
//! a PUT's parts with the IDs; its operations' `content_id` is the resource ID. `graph` reads
//! Microsoft Graph's JSON batches (at most 20 requests, standard base64 bodies, responses in
//! any order, printed in the order received).
//!
//! JSON is chosen by `--content-type application/json`, or, without a Content-Type, by a `{`
//! at the start; multipart takes its boundary from the Content-Type or from the first line.
//! Output: `{"kind": "request"|"response", "items": [OP | {"changeset": [OP...]}]}`. Bodies are
//! latin-1 strings (byte 0xNN is U+00NN); a JSON batch's JSON bodies are their raw JSON text.
//! On invalid input: exit 1 and one line on stderr, `error: <kind>: <detail>`.
//!
//! The input is read as a stream, `--chunk N` bytes at a time (default 65536), never whole:
//! the format and the direction are told from a prefix of at most 64 KiB, and memory follows
//! the limits, not the file. `--max-operations N`, `--max-body-bytes N`, `--max-batch-bytes N`
//! and `--max-header-bytes N` set the readers' [`ReadLimits`] (defaults: 1,000 operations,
//! 16 MiB per body, 64 MiB per batch, 16 KiB of headers per operation); a payload over one
//! exits 1 with an error that names it. `--odata-version 2.0|3.0|4.0|4.01` (default 4.01)
//! chooses the validation rules: 2.0 and 3.0 changesets need no Content-ID. The JSON `/batch` and RingCentral readers take a
//! buffer: for them the input is gathered up to `--max-batch-bytes` and refused past it.
//!
//! `batch split --dialect odata|graph|json-batch|google|azure-blob|azure-table
//! [--max-operations N] [--max-batch-bytes N] [--content-type CT] [FILE|-]` reads a workload
//! (any number of operations; JSON or multipart as above) and prints the batches to send as a
//! JSON array, each element in the shape `batch parse` prints: every `dependsOn` chain,
//! reference, atomicity group and changeset inside one batch, the operations' order kept, the
//! dialect's limits (Graph 20, JSON `/batch` 100, Google 1,000, Azure Blob 256 numbered from 0,
//! Azure Table 100 in one changeset of one partition) or lower ones given. A chain that cannot
//! fit exits 1 naming it.
//!
//! `--strict` reads a multipart batch in the decoder's strict mode
//! ([`batchpart::Config::strict`]), its `--content-type` by RFC 9110's grammar; without it an
//! unquoted boundary may hold `=`, as Google's batch answers send it. Every `--max-*` flag
//! reaches every dialect.
//!
//! `--trust-framing` (multipart only) frames each embedded body by the delimiter alone, as
//! [`batchpart::Config::trust_framing`] does, for senders that write a wrong embedded
//! `Content-Length` (google-api-python-client counts characters): the output is the same, and
//! each disagreement is one line on stderr, `warning: operation N (Content-ID X): Content-Length
//! D but F bytes framed`. Without it, such a part is an error.

use std::io::Read;
use std::process::ExitCode;

use batchpart::batch::{
    azure_blob, azure_table, creatio, google, graph, json_batch, ringcentral, split, Batch,
    BatchError, BatchErrorKind, Headers, Item, JsonReader, MultipartReader, ODataVersion,
    ReadLimits, RequestOp, ResponseOp, SplitLimits, ValidationOptions, Wire,
};
use bytes::Bytes;

use crate::latin1::Latin1;
use crate::ready::block_on_next;
use crate::Failure;
use serde::Serialize;

/// A Content-ID as references and matching see it ([`batchpart::ContentId::normalized`]).
pub(crate) fn normalized(id: &str) -> &str {
    let n = batchpart::ContentId::from_bytes(id.as_bytes()).normalized();
    // A slice of `id` without ASCII bytes at its ends: still UTF-8.
    std::str::from_utf8(n.as_bytes()).unwrap_or(id)
}

/// A model string as the latin-1 string of its wire bytes (each char one byte).
pub(crate) fn text(s: &str) -> Latin1 {
    Latin1(s.chars().map(|c| c as u32 as u8).collect())
}

pub(crate) fn headers(h: &Headers) -> Vec<(Latin1, Latin1)> {
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
            content_id: self.content_id.as_deref().map(|id| text(normalized(id))),
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
            content_id: self.content_id.as_deref().map(|id| text(normalized(id))),
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
/// `"requests"` and `"responses"` comes first. Only the sniffed prefix is looked at.
fn is_response(prefix: &[u8], json: bool, boundary: Option<&[u8]>) -> bool {
    if json {
        let find = |k: &[u8]| prefix.windows(k.len()).position(|w| w == k);
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
    for ev in dec.feed(prefix, false) {
        match ev {
            Ok(batchpart::Event::Response(_)) => return true,
            Ok(batchpart::Event::Request(_)) | Err(_) => return false,
            _ => {}
        }
    }
    false
}

/// How much of the input is read to tell the format and the direction.
const SNIFF: usize = 64 * 1024;

/// The input as `Bytes` chunks of `n`, the sniffed prefix first.
struct Chunks {
    src: Box<dyn Read>,
    n: usize,
    first: Option<Bytes>,
}

impl Iterator for Chunks {
    type Item = std::io::Result<Bytes>;
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(f) = self.first.take().filter(|f| !f.is_empty()) {
            return Some(Ok(f));
        }
        let mut buf = vec![0u8; self.n];
        match read_up_to(&mut self.src, &mut buf) {
            Ok(0) => None,
            Ok(k) => {
                buf.truncate(k);
                Some(Ok(Bytes::from(buf)))
            }
            Err(e) => Some(Err(e)),
        }
    }
}

fn read_up_to(src: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match src.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Every item of a reader (the input is a file or stdin: always ready).
fn collect<Op, R>(reader: &mut R) -> Result<Batch<Op>, BatchError>
where
    R: futures_core::Stream<Item = Result<Item<Op>, BatchError>> + Unpin,
{
    let mut items = Vec::new();
    while let Some(item) = block_on_next(reader) {
        items.push(item?);
    }
    Ok(Batch { items })
}

/// The whole input, for the dialect readers that take a buffer, refused past the batch limit.
fn bounded(chunks: Chunks, limits: &ReadLimits) -> Result<Vec<u8>, BatchError> {
    let mut all = Vec::new();
    for c in chunks {
        let c = c.map_err(|e| BatchError::new(BatchErrorKind::Source, e.to_string()))?;
        if (all.len() + c.len()) as u64 > limits.max_batch_bytes {
            return Err(BatchError::new(
                BatchErrorKind::BatchTooLarge,
                format!(
                    "the batch is over max_batch_bytes ({})",
                    limits.max_batch_bytes
                ),
            )
            .at_offset(limits.max_batch_bytes));
        }
        all.extend_from_slice(&c);
    }
    Ok(all)
}

const USAGE: &str =
    "usage: batchpart batch parse [--dialect odata|ringcentral|json-batch|ucwa|creatio|graph|google|azure-blob|azure-table] \
[--content-type CT] [--path P] [--chunk N] [--max-operations N] [--max-body-bytes N] \
[--max-batch-bytes N] [--max-header-bytes N] [--odata-version 2.0|3.0|4.0|4.01] \
[--trust-framing] [--strict] [FILE|-]";

/// What `batch parse` read.
enum Parsed {
    Request(Batch<RequestOp>),
    Response(Batch<ResponseOp>),
}

fn parse(args: &[String]) -> Result<String, Failure> {
    Ok(match parse_model(args)? {
        Parsed::Request(b) => print("request", &b),
        Parsed::Response(b) => print("response", &b),
    })
}

fn parse_model(args: &[String]) -> Result<Parsed, Failure> {
    let usage = || Failure::Usage("a missing or unknown option".into(), USAGE);
    let mut ct: Option<String> = None;
    let mut dialect = "odata".to_string();
    let mut trust_framing = false;
    let mut strict = false;
    let mut path = String::new();
    let mut file: Option<&str> = None;
    let mut chunk = 65536usize;
    let mut version = ODataVersion::V4_01;
    let mut limits = ReadLimits::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut number = || -> Result<u64, Failure> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| Failure::Usage(format!("{a} needs a number"), USAGE))
        };
        match a.as_str() {
            "--content-type" => ct = Some(it.next().ok_or_else(usage)?.clone()),
            "--dialect" => dialect = it.next().ok_or_else(usage)?.clone(),
            "--path" => path = it.next().ok_or_else(usage)?.clone(),
            "--trust-framing" => trust_framing = true,
            "--strict" => strict = true,
            "--chunk" => chunk = number()?.max(1) as usize,
            "--max-operations" => limits.max_operations = number()? as usize,
            "--max-body-bytes" => limits.max_body_bytes = number()? as usize,
            "--max-batch-bytes" => limits.max_batch_bytes = number()?,
            "--max-header-bytes" => limits.max_header_bytes = number()? as usize,
            "--odata-version" => {
                let v = it.next().ok_or_else(usage)?;
                version = ODataVersion::from_headers(Some(v), None).ok_or_else(|| {
                    Failure::Usage(
                        format!("--odata-version takes 2.0, 3.0, 4.0 or 4.01, not {v}"),
                        USAGE,
                    )
                })?;
            }
            f if file.is_none() && !f.starts_with("--") || f == "-" => file = Some(f),
            _ => return Err(usage()),
        }
    }
    let mut src: Box<dyn Read> = match file {
        None | Some("-") => Box::new(std::io::stdin()),
        Some(f) => Box::new(
            std::fs::File::open(f)
                .map_err(|e| BatchError::new(BatchErrorKind::Source, format!("{f}: {e}")))?,
        ),
    };
    // Sniff a bounded prefix; the rest is read in chunks as the readers ask.
    let mut prefix = vec![0u8; SNIFF.min(limits.max_batch_bytes.saturating_add(1) as usize)];
    let got = read_up_to(&mut *src, &mut prefix)
        .map_err(|e| BatchError::new(BatchErrorKind::Source, e.to_string()))?;
    prefix.truncate(got);
    let sniffed = prefix.clone();
    let start = sniffed.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&sniffed);
    let first = start.iter().copied().find(|b| !b.is_ascii_whitespace());
    let json = match &ct {
        Some(c) => c
            .trim()
            .to_ascii_lowercase()
            .starts_with("application/json"),
        None => first == Some(b'{'),
    };
    let chunks = Chunks {
        src,
        n: chunk,
        first: Some(Bytes::from(prefix)),
    };
    let stream = |c: Chunks| batchpart::stream::iter(c);
    match dialect.as_str() {
        "odata" | "ucwa" | "creatio" | "google" | "azure-blob" | "azure-table" => {}
        "json-batch" => {
            let input = bounded(chunks, &limits)?;
            return Ok(
                if is_response(&sniffed, true, None) || first == Some(b'[') {
                    Parsed::Response(json_batch::read_response(&input)?)
                } else {
                    let v = ValidationOptions::default().with_forbid_headers(false);
                    Parsed::Request(json_batch::read_request_with(&input, limits, v)?.batch)
                },
            );
        }
        "graph" => {
            let input = bounded(chunks, &limits)?;
            return Ok(if is_response(&sniffed, true, None) {
                Parsed::Response(graph::read_response(&input)?)
            } else {
                let limits =
                    limits.with_max_operations(limits.max_operations.min(graph::MAX_REQUESTS));
                Parsed::Request(graph::read_request_with(&input, limits)?)
            });
        }
        "ringcentral" => {
            let input = bounded(chunks, &limits)?;
            let json = json || first == Some(b'[');
            return Ok(ringcentral_model(
                &input,
                ct.as_deref(),
                &path,
                json,
                limits,
            )?);
        }
        other => return Err(Failure::Usage(format!("unknown dialect {other}"), USAGE)),
    }
    if dialect == "creatio" {
        limits.max_operations = limits.max_operations.min(creatio::MAX_REQUESTS);
    }
    if json {
        let mut v = if dialect == "creatio" {
            creatio::validation()
        } else {
            ValidationOptions::default()
        };
        v.json = true;
        v.version = version;
        return Ok(if is_response(&sniffed, true, None) {
            Parsed::Response(collect(
                &mut JsonReader::<_, ResponseOp>::new(stream(chunks)).limits(limits),
            )?)
        } else {
            Parsed::Request(collect(
                &mut JsonReader::<_, RequestOp>::new(stream(chunks))
                    .limits(limits)
                    .validate(v),
            )?)
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
    // Outside `--strict`, an unquoted boundary may hold `=`, as Google's answers send it.
    let parsed = if strict {
        batchpart::ContentType::parse(ct.as_bytes())
    } else {
        batchpart::ContentType::parse_lenient(ct.as_bytes())
    }
    .map_err(BatchError::from)?;
    let boundary = parsed
        .multipart_boundary()
        .map_err(BatchError::from)?
        .to_vec();
    let response = is_response(&sniffed, false, Some(&boundary));
    if matches!(dialect.as_str(), "google" | "azure-blob" | "azure-table") {
        let input = Bytes::from(bounded(chunks, &limits)?);
        let ctb = ct.as_bytes();
        return Ok(match (dialect.as_str(), response) {
            ("google", false) => {
                Parsed::Request(google::read_request(input, ctb, &Headers::new())?)
            }
            ("google", true) => Parsed::Response(google::read_response(input, ctb)?),
            ("azure-blob", false) => Parsed::Request(azure_blob::read_request(input, ctb)?),
            ("azure-blob", true) => Parsed::Response(azure_blob::read_response(input, ctb)?),
            (_, false) => Parsed::Request(azure_table::read_request(input, ctb)?),
            (_, true) => Parsed::Response(azure_table::read_response(input, ctb)?),
        });
    }
    let validation = match dialect.as_str() {
        // UCWA operations carry no Content-ID and run independently.
        "ucwa" => None,
        "creatio" => Some(creatio::validation()),
        _ => Some(ValidationOptions::default()),
    }
    .map(|v| v.with_version(version));
    let cfg = if strict {
        batchpart::Config::strict()
    } else {
        batchpart::Config::default()
    }
    .with_trust_framing(trust_framing);
    Ok(if response {
        let mut r = MultipartReader::<_, ResponseOp>::new(stream(chunks), ct.as_bytes())?
            .config(cfg)
            .limits(limits);
        let batch = collect(&mut r)?;
        warn_mismatches(r.length_mismatches());
        Parsed::Response(batch)
    } else {
        let mut r = MultipartReader::<_, RequestOp>::new(stream(chunks), ct.as_bytes())?
            .config(cfg)
            .limits(limits);
        if let Some(v) = validation {
            r = r.validate(v);
        }
        let batch = collect(&mut r)?;
        warn_mismatches(r.length_mismatches());
        Parsed::Request(batch)
    })
}

/// `--trust-framing`: each operation whose embedded Content-Length disagreed, on stderr.
fn warn_mismatches(m: &[batchpart::batch::LengthMismatch]) {
    for m in m {
        eprintln!(
            "warning: operation {} (Content-ID {}): Content-Length {} but {} bytes framed",
            m.op,
            m.content_id.as_deref().unwrap_or("none"),
            m.declared,
            m.framed
        );
    }
}

/// RingCentral in the common model: one operation per resource, its ID as the content_id.
fn ringcentral_model(
    input: &[u8],
    ct: Option<&str>,
    path: &str,
    json: bool,
    limits: ReadLimits,
) -> Result<Parsed, BatchError> {
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
        Parsed::Request(Batch { items: ops })
    };
    let response = |r: ringcentral::Response| {
        let ops = r
            .results
            .into_iter()
            .map(|x| {
                Item::Op(
                    ResponseOp::new(x.status)
                        .with_content_id(x.resource_id)
                        .with_body(x.body),
                )
            })
            .collect();
        Parsed::Response(Batch { items: ops })
    };
    if json {
        let v: serde_json::Value = serde_json::from_slice(input)
            .map_err(|e| BatchError::new(BatchErrorKind::Json, e.to_string()))?;
        let is_resp = v
            .as_array()
            .and_then(|a| a.first())
            .is_some_and(|e| e.get("status").is_some());
        return Ok(if is_resp {
            response(ringcentral::read_json_response(input, 207)?)
        } else {
            request(ringcentral::read_json_request_with(input, path, limits)?)
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
            body,
            ct.as_bytes(),
            207,
            &ringcentral::split_ids(path)
                .map(|p| p.ids)
                .unwrap_or_default(),
        )?)
    } else {
        request(ringcentral::read_put_with(
            body,
            ct.as_bytes(),
            path,
            limits,
        )?)
    })
}

const SPLIT_USAGE: &str =
    "usage: batchpart batch split --dialect odata|graph|json-batch|google|azure-blob|azure-table \
[--max-operations N] [--max-batch-bytes N] [--content-type CT] [FILE|-]";

/// `batch split`: the batches to send, as a JSON array of what `batch parse` prints.
fn split_cmd(args: &[String]) -> Result<String, Failure> {
    let usage = || Failure::Usage("a missing or unknown option".into(), SPLIT_USAGE);
    let (mut dialect, mut ops, mut bytes, mut rest) = (None, None, None, Vec::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut number = || -> Result<u64, Failure> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| Failure::Usage(format!("{a} needs a number"), SPLIT_USAGE))
        };
        match a.as_str() {
            "--dialect" => dialect = Some(it.next().ok_or_else(usage)?.clone()),
            "--max-operations" => ops = Some(number()? as usize),
            "--max-batch-bytes" => bytes = Some(number()?),
            _ => rest.push(a.clone()),
        }
    }
    let dialect = dialect.ok_or_else(usage)?;
    let mut limits = split_limits(&dialect, ops, bytes, SPLIT_USAGE)?;
    let work = read_workload(&dialect, &rest)?;
    // An OData workload in JSON is measured as JSON.
    if dialect == "odata" && is_json_input(&rest) {
        limits.wire = Wire::Json;
    }
    let plans = plan(&dialect, &work, limits)?;
    let out: Vec<String> = plans.iter().map(|p| print("request", &p.batch)).collect();
    Ok(format!("[{}]", out.join(",")))
}

/// A dialect's split limits, lowered to the operation and byte counts given.
pub(crate) fn split_limits(
    dialect: &str,
    ops: Option<usize>,
    bytes: Option<u64>,
    usage: &'static str,
) -> Result<SplitLimits, Failure> {
    let known = [
        "odata",
        "graph",
        "json-batch",
        "google",
        "azure-blob",
        "azure-table",
    ];
    let Some(d) = known
        .contains(&dialect)
        .then(|| batchpart::batch::dialect::by_name(dialect))
        .flatten()
    else {
        let cmd = if usage == SPLIT_USAGE {
            "split"
        } else {
            "send"
        };
        return Err(Failure::Usage(
            format!("batch {cmd} has no dialect {dialect}"),
            usage,
        ));
    };
    let mut limits = d.limits();
    limits.max_operations = ops.map_or(limits.max_operations, |n| n.min(limits.max_operations));
    limits.max_batch_bytes = bytes.unwrap_or(limits.max_batch_bytes);
    Ok(limits)
}

/// The batches a workload is sent in, by the dialect's rule.
pub(crate) fn plan(
    dialect: &str,
    work: &Batch<RequestOp>,
    limits: SplitLimits,
) -> Result<Vec<batchpart::batch::Planned>, BatchError> {
    if dialect == "azure-table" {
        azure_table::split_transactions(work, limits)
    } else {
        split(work, limits)
    }
}

/// The workload to split: any number of operations, under the OData rules that need no
/// Content-ID outside changesets (3.0), JSON or multipart as `batch parse` tells them.
pub(crate) fn read_workload(
    dialect: &str,
    args: &[String],
) -> Result<Batch<RequestOp>, BatchError> {
    let file = args
        .iter()
        .rev()
        .find(|a| !a.starts_with("--") || *a == "-");
    let input = match file.map(String::as_str) {
        None | Some("-") => {
            let mut v = Vec::new();
            std::io::stdin()
                .read_to_end(&mut v)
                .map_err(|e| BatchError::new(BatchErrorKind::Source, e.to_string()))?;
            v
        }
        Some(f) => std::fs::read(f)
            .map_err(|e| BatchError::new(BatchErrorKind::Source, format!("{f}: {e}")))?,
    };
    if dialect == "json-batch" {
        return Ok(json_batch::read_request(&input)?.batch);
    }
    // A workload has any number of operations: the split makes batches of them.
    let any_number = ReadLimits::default().with_max_operations(usize::MAX);
    // Azure Blob's subrequests carry their own Authorization.
    let opts = ValidationOptions::default()
        .with_version(ODataVersion::V3_0)
        .with_forbid_headers(false);
    let first = input.iter().find(|b| !b.is_ascii_whitespace());
    if is_json_input(args) || first == Some(&b'{') {
        return batchpart::batch::read_json_with(
            Bytes::from(input),
            any_number,
            Some(opts.with_json(true)),
        );
    }
    let ct = match args.iter().position(|a| a == "--content-type") {
        Some(i) => args.get(i + 1).cloned().unwrap_or_default(),
        None => {
            let line = input.split(|&b| b == b'\n').next().unwrap_or_default();
            let b = line.strip_prefix(b"--").unwrap_or_default();
            format!(
                "multipart/mixed; boundary=\"{}\"",
                String::from_utf8_lossy(b).trim_end()
            )
        }
    };
    batchpart::batch::read_multipart_with(Bytes::from(input), ct.as_bytes(), any_number, Some(opts))
}

/// Whether `batch split`'s input is JSON: by `--content-type`, or by its first byte.
pub(crate) fn is_json_input(args: &[String]) -> bool {
    if let Some(i) = args.iter().position(|a| a == "--content-type") {
        return args.get(i + 1).is_some_and(|c| {
            c.trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    }
    let Some(file) = args.iter().rev().find(|a| !a.starts_with("--")) else {
        return false;
    };
    let mut head = [0u8; 256];
    std::fs::File::open(file)
        .and_then(|mut f| read_up_to(&mut f, &mut head))
        .map(|n| head[..n].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'))
        .unwrap_or(false)
}

/// `batchpart batch ARGS`.
pub fn main(args: Vec<String>) -> ExitCode {
    let result = match args.first().map(String::as_str) {
        Some("parse") => parse(&args[1..]),
        Some("split") => split_cmd(&args[1..]),
        Some("send") => return crate::send::main(&args[1..]),
        _ => Err(Failure::Usage(
            "batch takes parse, split or send".into(),
            "usage: batchpart batch parse [OPTIONS] [FILE|-] | batchpart batch split --dialect D [OPTIONS] [FILE|-] | batchpart batch send [OPTIONS] URL [FILE|-]",
        )),
    };
    match result {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => e.exit(),
    }
}
