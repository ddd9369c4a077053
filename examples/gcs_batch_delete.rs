//! `gcs_batch_delete`: Google Cloud Storage's batch delete, as OpenDAL hand-writes it
//! (`MixedPart` in `core/src/raw/http_util/multipart.rs`), done with the crate: the query
//! strings kept, each answer framed by the delimiter rather than split on its first blank line,
//! an unreadable status an error rather than a 200, and answers paired by Content-ID where the
//! server echoes one and by position where it does not.
//!
//! ```text
//! cargo run --features batch,json --example gcs_batch_delete -- --endpoint URL --bucket NAME OBJECT...
//! ```
//!
//! `--endpoint` is the storage host (`https://storage.googleapis.com`, or the emulator's
//! `http://127.0.0.1:9023`; this example speaks plain HTTP, with no credentials). Objects go in
//! batches of 100, as OpenDAL sends them. Output: one JSON line per object, `{"object": NAME,
//! "status": N}`, in the order given. Exit 0 when every object got an answer (404s included),
//! 1 when a batch failed as a whole (each of its objects' lines then carries the batch's
//! status), 2 a usage error.

use std::process::ExitCode;

use batchpart::batch::{correlate, google, Batch, BatchRequest, BatchResponse, Item, RequestOp};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};

const PER_BATCH: usize = 100;

// The batch-specific code: from here to `send` (see the README's count).

/// One DELETE per object, its Content-ID its position in the batch.
fn deletes(bucket: &str, objects: &[String]) -> BatchRequest {
    let path = |o: &str| format!("/storage/v1/b/{}/o/{}", encode(bucket), encode(o));
    let ops = objects
        .iter()
        .enumerate()
        .map(|(i, o)| Item::Op(RequestOp::new("DELETE", path(o)).with_content_id(i.to_string())));
    Batch {
        items: ops.collect(),
    }
}

/// Each object's status: its answer's, or the batch's where it has none.
fn statuses(req: &BatchRequest, resp: &BatchResponse, batch_status: u16) -> Vec<u16> {
    let pairs = correlate(req, resp).pairs;
    let status =
        |p: &batchpart::batch::Pair<'_>| p.response.map_or(batch_status, |(_, r)| r.status);
    pairs.iter().map(status).collect()
}

// The end of the batch-specific code.

/// Percent-encodes a path segment (an object name may hold `/`, spaces, anything).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// POSTs one batch: the outer status, the answer's Content-Type and its body.
async fn send(endpoint: &str, ct: &str, body: Bytes) -> Result<(u16, String, Bytes), String> {
    let uri: hyper::Uri = format!("{endpoint}/batch/storage/v1")
        .parse()
        .map_err(|e| format!("{endpoint}: {e}"))?;
    let host = uri.authority().ok_or("the endpoint has no host")?.clone();
    let port = uri.port_u16().unwrap_or(80);
    let tcp = tokio::net::TcpStream::connect((host.host(), port))
        .await
        .map_err(|e| format!("{host}: {e}"))?;
    let (mut s, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = hyper::Request::post(uri.path())
        .header("Host", host.as_str())
        .header("Content-Type", ct)
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let res = s.send_request(req).await.map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = res.into_body().collect().await.map_err(|e| e.to_string())?;
    Ok((status, ct, body.to_bytes()))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let usage = "usage: gcs_batch_delete --endpoint URL --bucket NAME OBJECT...";
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut endpoint, mut bucket, mut objects) = (None, None, Vec::new());
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--endpoint" => endpoint = it.next(),
            "--bucket" => bucket = it.next(),
            _ => objects.push(a),
        }
    }
    let (Some(endpoint), Some(bucket), false) = (endpoint, bucket, objects.is_empty()) else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let endpoint = endpoint.trim_end_matches('/');
    let mut failed = false;
    for chunk in objects.chunks(PER_BATCH) {
        let req = deletes(&bucket, chunk);
        let boundary = batchpart::encoder::random_boundary();
        let (ct, body) = match google::write_request(&req, boundary.as_bytes()) {
            Ok((ct, body)) => (ct, body.into_bytes()),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        };
        let (status, resp) = match send(endpoint, &ct, body).await {
            Ok((200, ct, answer)) => match google::read_response(answer, ct.as_bytes()) {
                Ok(resp) => (200, resp),
                Err(e) => {
                    eprintln!("error: the answer: {e}");
                    (502, Batch::default())
                }
            },
            Ok((status, _, answer)) => {
                eprintln!(
                    "error: batch answered {status}: {}",
                    String::from_utf8_lossy(&answer)
                );
                (status, Batch::default())
            }
            Err(e) => {
                eprintln!("error: {e}");
                (0, Batch::default())
            }
        };
        failed |= status != 200;
        for (object, s) in chunk.iter().zip(statuses(&req, &resp, status)) {
            println!("{}", serde_json::json!({"object": object, "status": s}));
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
