//! `client_loop`: the client half end to end. Builds a workload of 30 operations, splits it
//! into batches of at most 10, sends each to a local mock server, pairs the answers with the
//! requests, and retries what failed until every operation has its final answer.
//!
//! ```text
//! cargo run --features batch,json,http,tower --example client_loop
//! ```
//!
//! The mock is this crate's own tower `$batch` service over an axum router that answers an
//! operation whose id ends in 3 with `429` and `Retry-After: 1`, and one whose id ends in 7
//! with `503`, the first time it sees them; the executor answers `424` to an operation that
//! depends on one that failed. So every path of the loop runs: a wait from `Retry-After`, a
//! backoff without one, and a dependent resent with its dependency.
//!
//! Output: one line per operation, `id status attempts`, then
//! `done: N operations, N succeeded; answered 429: A, 503: B, 424: C; sends: S`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::Extension;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;
use batchpart::batch::http_interop::ContentIdExtension;
use batchpart::batch::{
    correlate, read_json, retry, split, write_json, Batch, BatchOutcome, BatchRequest, Item,
    RequestOp, ResponseOp, RetryPolicy, SplitLimits, Text, Wire,
};
use batchpart::server::{BatchConfig, BatchLayer};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tower::Layer;

/// How often the mock has seen each operation.
type Seen = Arc<Mutex<HashMap<String, u32>>>;

async fn mock_op(
    Extension(seen): Extension<Seen>,
    id: Option<Extension<ContentIdExtension>>,
) -> axum::response::Response {
    let id = id
        .map(|Extension(ContentIdExtension(id))| id)
        .unwrap_or_default();
    let n = {
        let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
        let n = s.entry(id.to_string()).or_insert(0);
        *n += 1;
        *n
    };
    match (id.chars().last(), n) {
        (Some('3'), 1) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("Retry-After", "1")],
            "slow down",
        )
            .into_response(),
        (Some('7'), 1) => (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response(),
        _ => (
            StatusCode::OK,
            [("Content-Type", "application/json")],
            format!("{{\"id\":\"{id}\"}}"),
        )
            .into_response(),
    }
}

/// The workload: 30 operations; every eighth depends on the one before it.
fn workload() -> BatchRequest {
    let items = (1..=30)
        .map(|i| {
            let mut op =
                RequestOp::new("GET", format!("/things/{i}")).with_content_id(i.to_string());
            if i % 10 == 8 {
                op.depends_on = vec![(i - 1).to_string()];
            }
            Item::Op(op)
        })
        .collect();
    Batch { items }
}

async fn send(addr: &str, batch: &BatchRequest) -> Result<(u16, Option<Vec<u8>>, Bytes), String> {
    let body = write_json(batch).map_err(|e| e.to_string())?;
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let (mut s, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = hyper::Request::post("/$batch")
        .header("Host", addr)
        .header("Content-Type", "application/json")
        .header("Prefer", "odata.continue-on-error")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let res = s.send_request(req).await.map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.as_bytes().to_vec());
    let body = res
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, retry_after, body))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    // The mock server.
    let seen: Seen = Default::default();
    let routes = Router::new().fallback(mock_op).layer(Extension(seen));
    let batch = BatchLayer::new(BatchConfig::default()).layer(routes.clone());
    let app = routes.route_service("/$batch", batch);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });

    // Build and split.
    let work = workload();
    let limits = SplitLimits::default()
        .with_max_operations(10)
        .with_wire(Wire::Json);
    let plans = split(&work, limits).map_err(|e| e.to_string())?;
    let policy = RetryPolicy::default().with_base_delay(Duration::from_millis(50));

    let mut finals: HashMap<Text, (ResponseOp, u32)> = HashMap::new();
    let mut answered: HashMap<u16, usize> = HashMap::new();
    let mut sends = 0;
    for plan in plans {
        let mut pending = plan.batch;
        let mut attempt = 1;
        loop {
            let (status, retry_after, body) = send(&addr, &pending).await?;
            sends += 1;
            let responses = if status == 200 {
                read_json(body, None).map_err(|e| e.to_string())?
            } else {
                Batch::default()
            };
            // Pair, and keep every answer: a later attempt overwrites a retried one.
            for p in correlate(&pending, &responses).pairs {
                if let (Some(id), Some((_, r))) = (&p.request.1.content_id, p.response) {
                    *answered.entry(r.status).or_default() += 1;
                    finals.insert(id.clone(), (r.clone(), attempt));
                }
            }
            let outcome = BatchOutcome {
                status,
                retry_after: retry_after.as_deref(),
                now: SystemTime::now(),
                attempt,
            };
            match retry(&pending, &responses, outcome, &policy) {
                Some(next) => {
                    tokio::time::sleep(next.delay).await;
                    pending = next.batch;
                    attempt += 1;
                }
                None => break,
            }
        }
    }
    let mut ok = 0;
    for op in work.items.iter().flat_map(|i| i.ops()) {
        let id = op.content_id.as_deref().unwrap_or_default();
        match finals.get(id) {
            Some((r, attempts)) => {
                ok += usize::from(r.status < 400);
                println!("{id} {} {attempts}", r.status);
            }
            None => println!("{id} unanswered 0"),
        }
    }
    let count = |s: u16| answered.get(&s).copied().unwrap_or(0);
    println!(
        "done: {} operations, {ok} succeeded; answered 429: {}, 503: {}, 424: {}; sends: {sends}",
        work.op_count(),
        count(429),
        count(503),
        count(424)
    );
    Ok(())
}
