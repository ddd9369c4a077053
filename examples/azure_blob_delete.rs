//! `azure_blob_delete`: Azure Blob Batch's bulk delete, as object_store hand-writes it
//! (`bulk_delete_request` and its response parser in `src/azure/client.rs`), done with the
//! crate: the body written and the answer read by a multipart codec rather than by stripping a
//! literal `multipart/mixed; boundary=` prefix and splitting on `--boundary`, and answers paired
//! by Content-ID.
//!
//! ```text
//! cargo run --features batch,json --example azure_blob_delete -- \
//!     --endpoint URL --account NAME --key BASE64 --container NAME BLOB... [--tier TIER BLOB...]
//! ```
//!
//! The blobs before any `--tier` are deleted; `--tier TIER` sets the access tier (`Hot`,
//! `Cool`, `Cold`, `Archive`) of the blobs after it instead, as the Azure SDK's
//! `set_standard_blob_tier_blobs` does, and `--delete` goes back to deleting. (Azure takes one
//! kind of subrequest per batch: a batch that mixes them is refused as a whole.)
//!
//! `--endpoint` is the blob service endpoint, path-style for Azurite
//! (`http://127.0.0.1:10000/devstoreaccount1`); this example speaks plain HTTP. Batches of
//! 256, Content-ID the index within the batch. The outer request and every subrequest are
//! signed with SharedKey; subrequests carry no `x-ms-version` (Azure answers `400
//! SubRequestCannotHaveVersionHeader`). Output: one JSON line per blob, `{"blob": NAME,
//! "status": N}`, in the order given. Exit 0 when every blob got an answer (404s included), 1
//! when a batch failed as a whole (one part without a Content-ID, or a non-202 status: each of
//! its blobs' lines then carries that status), 2 a usage error.

use std::process::ExitCode;
use std::time::SystemTime;

use base64::Engine;
use batchpart::batch::{
    azure_blob, correlate, Batch, BatchRequest, BatchResponse, Item, RequestOp,
};
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use sha2::Sha256;

const VERSION: &str = "2023-11-03";

/// A blob and, to set its tier instead of deleting it, the tier.
type Blob = (String, Option<String>);

/// A storage account and its key.
struct Account {
    name: String,
    key: Vec<u8>,
}

impl Account {
    /// The `Authorization` value of a request: SharedKey over its canonical form, as Azure
    /// Storage's REST reference ("Authorize with Shared Key") defines it.
    fn authorize(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(String, String)],
    ) -> String {
        let get = |n: &str| {
            let v = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n));
            v.map_or("", |(_, v)| v.as_str())
        };
        // Since version 2015-02-21 a zero Content-Length signs as empty.
        let length = match get("content-length") {
            "0" => "",
            v => v,
        };
        let mut s = format!(
            "{method}\n{}\n{}\n{length}\n",
            get("content-encoding"),
            get("content-language")
        );
        for h in [
            "content-md5",
            "content-type",
            "date",
            "if-modified-since",
            "if-match",
        ] {
            s += get(h);
            s.push('\n');
        }
        for h in ["if-none-match", "if-unmodified-since", "range"] {
            s += get(h);
            s.push('\n');
        }
        let mut ms: Vec<(String, &str)> = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
            .filter(|(k, _)| k.starts_with("x-ms-"))
            .collect();
        ms.sort();
        for (k, v) in ms {
            s += &format!("{k}:{v}\n");
        }
        s += &format!("/{}{path}", self.name);
        let mut query = query.to_vec();
        query.sort();
        for (k, v) in query {
            s += &format!("\n{}:{v}", k.to_ascii_lowercase());
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(s.as_bytes());
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        format!("SharedKey {}:{sig}", self.name)
    }
}

// The batch-specific code: from here to `percent` (see the README's count).

/// One signed subrequest per blob, a DELETE or, with a tier, a `PUT ?comp=tier`; its
/// Content-ID its index in the batch (as the writer numbers them): the answers pair back by it.
fn subrequests(
    account: &Account,
    base: &str,
    container: &str,
    blobs: &[Blob],
    date: &str,
) -> BatchRequest {
    let op = |(blob, tier): &Blob| {
        let path = format!("{base}/{container}/{}", percent(blob));
        let mut headers = vec![
            ("x-ms-date".to_string(), date.to_string()),
            ("Content-Length".into(), "0".into()),
        ];
        headers.extend(tier.iter().map(|t| ("x-ms-access-tier".into(), t.clone())));
        let (method, query, url) = match tier {
            None => ("DELETE", &[][..], path.clone()),
            Some(_) => ("PUT", &[("comp", "tier")][..], format!("{path}?comp=tier")),
        };
        let auth = account.authorize(method, &path, query, &headers);
        let mut op = RequestOp::new(method, url);
        for (n, v) in headers.into_iter().filter(|(n, _)| n != "Content-Length") {
            op = op.with_header(n, v);
        }
        op.with_header("Authorization", auth)
    };
    let ops = blobs.iter().enumerate();
    Batch {
        items: ops
            .map(|(i, b)| Item::Op(op(b).with_content_id(i.to_string())))
            .collect(),
    }
}

/// Each blob's status: its answer's by Content-ID; a batch answered whole (one part without a
/// Content-ID) gives that part's status to every blob.
fn statuses(req: &BatchRequest, resp: &BatchResponse) -> Result<Vec<u16>, u16> {
    if let Some(whole) = azure_blob::whole_batch_error(resp) {
        return Err(whole.status);
    }
    let pairs = correlate(req, resp).pairs;
    Ok(pairs
        .iter()
        .map(|p| p.response.map_or(0, |(_, r)| r.status))
        .collect())
}

// The end of the batch-specific code.

/// Percent-encodes a blob name's path segments (`/` stays: it is the name's own separator).
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// POSTs one signed batch: the status, the answer's Content-Type and body.
async fn send(
    uri: &hyper::Uri,
    headers: &[(String, String)],
    body: Bytes,
) -> Result<(u16, String, Bytes), String> {
    let host = uri.authority().ok_or("the endpoint has no host")?.clone();
    let tcp = tokio::net::TcpStream::connect((host.host(), uri.port_u16().unwrap_or(80)))
        .await
        .map_err(|e| format!("{host}: {e}"))?;
    let (mut s, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut req = hyper::Request::post(target).header("Host", host.as_str());
    for (n, v) in headers {
        req = req.header(n, v);
    }
    let res = s
        .send_request(req.body(Full::new(body)).map_err(|e| e.to_string())?)
        .await
        .map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    let ct = ct.unwrap_or_default().to_string();
    let body = res.into_body().collect().await.map_err(|e| e.to_string())?;
    Ok((status, ct, body.to_bytes()))
}

/// Sends one batch of subrequests: each blob's status, or the batch's when it failed as a
/// whole.
async fn batch(
    account: &Account,
    endpoint: &hyper::Uri,
    container: &str,
    blobs: &[Blob],
) -> Result<Vec<u16>, (u16, String)> {
    let base = endpoint.path().trim_end_matches('/');
    let date = httpdate::fmt_http_date(SystemTime::now());
    let req = subrequests(account, base, container, blobs, &date);
    let guid = batchpart::encoder::random_boundary().replace("batch_", "");
    let (ct, body) = azure_blob::write_request(&req, &guid).map_err(|e| (0, e.to_string()))?;
    let body = body.into_bytes();
    let path = format!("{base}/{container}");
    let query = [("restype", "container"), ("comp", "batch")];
    let mut headers = vec![
        ("Content-Type".to_string(), ct),
        ("Content-Length".into(), body.len().to_string()),
        ("x-ms-date".into(), date),
        ("x-ms-version".into(), VERSION.into()),
    ];
    headers.push((
        "Authorization".into(),
        account.authorize("POST", &path, &query, &headers),
    ));
    let uri: hyper::Uri = format!(
        "{}://{}{path}?restype=container&comp=batch",
        endpoint.scheme_str().unwrap_or("http"),
        endpoint.authority().map_or("", |a| a.as_str())
    )
    .parse()
    .map_err(|e| (0, format!("{e}")))?;
    let (status, ct, answer) = send(&uri, &headers, body).await.map_err(|e| (0, e))?;
    if status != azure_blob::BATCH_STATUS {
        return Err((status, String::from_utf8_lossy(&answer).into_owned()));
    }
    let resp =
        azure_blob::read_response(answer, ct.as_bytes()).map_err(|e| (status, e.to_string()))?;
    statuses(&req, &resp).map_err(|s| (s, "the batch failed as a whole".into()))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let usage = "usage: azure_blob_delete --endpoint URL --account NAME --key BASE64 --container NAME BLOB... [--tier TIER BLOB...] [--delete BLOB...]";
    let (mut endpoint, mut name, mut key, mut container, mut blobs) =
        (None, None, None, None, Vec::<Blob>::new());
    let mut tier: Option<String> = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--endpoint" => endpoint = it.next(),
            "--account" => name = it.next(),
            "--key" => key = it.next(),
            "--container" => container = it.next(),
            "--tier" => {
                let Some(t) = it.next() else {
                    eprintln!("{usage}");
                    return ExitCode::from(2);
                };
                tier = Some(t);
            }
            "--delete" => tier = None,
            _ => blobs.push((a, tier.clone())),
        }
    }
    let key = key.and_then(|k| base64::engine::general_purpose::STANDARD.decode(k).ok());
    let endpoint = endpoint.and_then(|e| e.parse::<hyper::Uri>().ok());
    let (Some(endpoint), Some(name), Some(key), Some(container), false) =
        (endpoint, name, key, container, blobs.is_empty())
    else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let account = Account { name, key };
    let mut failed = false;
    for chunk in blobs.chunks(azure_blob::MAX_SUBREQUESTS) {
        let statuses = match batch(&account, &endpoint, &container, chunk).await {
            Ok(s) => s,
            Err((status, why)) => {
                eprintln!("error: a batch failed as a whole: {status} {why}");
                failed = true;
                vec![status; chunk.len()]
            }
        };
        for ((blob, _), s) in chunk.iter().zip(statuses) {
            println!("{}", serde_json::json!({"blob": blob, "status": s}));
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
