//! Load, slow readers and soak against the demo server (`batchpart server`, release build) over
//! loopback. Not a criterion benchmark: it measures a server under traffic, for BENCHMARKS.md.
//!
//! ```text
//! cargo bench --all-features --bench load -- [--mode batch|separate|slow|soak]
//!     [--clients N] [--secs T] [--slow N]
//! ```
//!
//! - `batch` (default): `--clients` keep-alive connections (default 4), each posting
//!   100-operation OData batches (50 `GET People(1)`, 50 `PATCH People(1)`, continue-on-error)
//!   for `--secs` seconds (default 10).
//! - `separate`: the same 100 operations as 100 keep-alive requests to the same routes, so
//!   that one "batch" is 100 round trips.
//! - `slow`: `--slow` clients (default 50) that post a batch and read the answer one byte every
//!   100 ms, beside one normal `batch` client.
//! - `soak`: `batch` for `--secs` (use 600), with the server's resident memory every 60 s.
//!
//! Prints batches and operations per second, p50 and p99 latency of one batch (or of its 100
//! requests), and the server's resident memory at the start and the end. Every loop is
//! bounded in time and talks only to the server it started on 127.0.0.1.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn server() -> Server {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--features",
            "cli",
            "--bin",
            "batchpart",
        ])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "the demo server builds");
    let bin = root.join("target/release/batchpart");
    let mut child = Command::new(bin)
        .args(["server", "127.0.0.1:0", "--max-connections", "1024"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the demo server starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .trim_start_matches("listening on http://")
        .to_string();
    Server(child, addr)
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// The 100-operation batch: 50 reads and 50 writes in place, so the store stays one row.
fn batch_body() -> String {
    let mut s = String::new();
    for i in 0..100 {
        let op = if i % 2 == 0 {
            "GET People(1) HTTP/1.1\r\nAccept: application/json\r\n\r\n".to_string()
        } else {
            let body = format!("{{\"Name\":\"n{i}\",\"City\":\"Berlin\"}}");
            format!(
                "PATCH People(1) HTTP/1.1\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
        };
        s.push_str(&format!(
            "--batch_b\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\
             Content-ID: {i}\r\n\r\n{op}\r\n"
        ));
    }
    s.push_str("--batch_b--\r\n");
    s
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: &str) -> Sender {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (s, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    s
}

async fn request(s: &mut Sender, req: hyper::Request<Full<Bytes>>) -> (u16, usize) {
    s.ready().await.unwrap();
    let res = s.send_request(req).await.unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, body.len())
}

fn post_batch(addr: &str, body: &Bytes) -> hyper::Request<Full<Bytes>> {
    hyper::Request::post("/service/$batch")
        .header("Host", addr)
        .header("Content-Type", "multipart/mixed; boundary=batch_b")
        .header("Prefer", "odata.continue-on-error")
        .body(Full::new(body.clone()))
        .unwrap()
}

/// One client's loop until `until`: the latency of each batch (or of its 100 requests).
async fn client(addr: String, separate: bool, until: Instant) -> Vec<Duration> {
    let mut s = connect(&addr).await;
    let body = Bytes::from(batch_body());
    let patch = Bytes::from_static(b"{\"Name\":\"n\",\"City\":\"Berlin\"}");
    let mut lat = Vec::new();
    while Instant::now() < until {
        let t = Instant::now();
        if separate {
            for i in 0..100 {
                let req = if i % 2 == 0 {
                    hyper::Request::get("/service/People(1)")
                        .header("Host", &addr)
                        .header("Accept", "application/json")
                        .body(Full::new(Bytes::new()))
                } else {
                    hyper::Request::patch("/service/People(1)")
                        .header("Host", &addr)
                        .header("Content-Type", "application/json")
                        .body(Full::new(patch.clone()))
                };
                let (status, _) = request(&mut s, req.unwrap()).await;
                assert!(status < 300, "status {status}");
            }
        } else {
            let (status, len) = request(&mut s, post_batch(&addr, &body)).await;
            assert_eq!(status, 200);
            assert!(len > 0);
        }
        lat.push(t.elapsed());
    }
    lat
}

/// A client that posts a batch, then reads its answer one byte every 100 ms until `until`.
async fn slow_reader(addr: String, until: Instant) -> usize {
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let body = batch_body();
    let head = format!(
        "POST /service/$batch HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: multipart/mixed; boundary=batch_b\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(body.as_bytes()).await.unwrap();
    let mut read = 0;
    let mut byte = [0u8; 1];
    while Instant::now() < until {
        match tcp.read(&mut byte).await {
            Ok(1) => read += 1,
            _ => break,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    read
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(what: &str, lat: &mut [Duration], secs: f64) {
    lat.sort();
    let n = lat.len() as f64;
    println!(
        "{what}: {:.1} batches/s, {:.0} operations/s, p50 {:.2} ms, p99 {:.2} ms ({} batches)",
        n / secs,
        n * 100.0 / secs,
        percentile(lat, 0.5).as_secs_f64() * 1e3,
        percentile(lat, 0.99).as_secs_f64() * 1e3,
        lat.len()
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut mode, mut clients, mut secs, mut slow) = ("batch".to_string(), 4usize, 10u64, 50usize);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_default();
        match a.as_str() {
            "--mode" => mode = val(),
            "--clients" => clients = val().parse().expect("--clients N"),
            "--secs" => secs = val().parse().expect("--secs T"),
            "--slow" => slow = val().parse().expect("--slow N"),
            _ => {} // `cargo bench` passes `--bench`
        }
    }
    let srv = server();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let addr = srv.1.clone();
        let mut s = connect(&addr).await;
        let seed = hyper::Request::post("/service/People")
            .header("Host", &addr)
            .header("Content-Type", "application/json")
            .body(Full::new(Bytes::from_static(b"{\"Name\":\"n\"}")))
            .unwrap();
        assert_eq!(request(&mut s, seed).await.0, 201);
        let pid = srv.0.id();
        let start_rss = rss_mib(pid);
        let t0 = Instant::now();
        let until = t0 + Duration::from_secs(secs);
        let separate = mode == "separate";
        let mut tasks = Vec::new();
        let normal = if mode == "slow" { 1 } else { clients };
        for _ in 0..normal {
            tasks.push(tokio::spawn(client(addr.clone(), separate, until)));
        }
        let mut slow_tasks = Vec::new();
        if mode == "slow" {
            for _ in 0..slow {
                slow_tasks.push(tokio::spawn(slow_reader(addr.clone(), until)));
            }
        }
        if mode == "soak" {
            let mut next = t0 + Duration::from_secs(60);
            while next <= until {
                tokio::time::sleep_until(next.into()).await;
                println!(
                    "soak: {:>4} s, server resident {:.1} MiB",
                    (next - t0).as_secs(),
                    rss_mib(pid)
                );
                next += Duration::from_secs(60);
            }
        }
        let mut lat = Vec::new();
        for t in tasks {
            lat.extend(t.await.unwrap());
        }
        let mid_rss = rss_mib(pid);
        let mut slow_bytes = Vec::new();
        for t in slow_tasks {
            slow_bytes.push(t.await.unwrap());
        }
        let elapsed = t0.elapsed().as_secs_f64().min(secs as f64 + 5.0);
        let what = match mode.as_str() {
            "separate" => format!("{clients} clients, 100 separate requests"),
            "slow" => format!("1 client beside {slow} slow readers"),
            _ => format!("{clients} clients, 100-operation batches"),
        };
        report(&what, &mut lat, elapsed);
        if mode == "slow" {
            let total: usize = slow_bytes.iter().sum();
            println!(
                "slow readers: {} of {slow} kept their connection to the end, {total} bytes read; \
                 server resident {:.1} MiB with them ({:.2} MiB each above the start)",
                slow_bytes
                    .iter()
                    .filter(|&&b| b >= (secs as usize * 10).saturating_sub(20))
                    .count(),
                mid_rss,
                (mid_rss - start_rss) / slow as f64
            );
        }
        println!(
            "server resident memory: {start_rss:.1} MiB at the start, {:.1} MiB at the end",
            rss_mib(pid)
        );
    });
}
