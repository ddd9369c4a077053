//! `ops`: one decoding path, run a given number of times over one input, for counts that a
//! noisy machine cannot move: `valgrind --tool=cachegrind` instructions per operation or per
//! part (run twice with different counts and take the difference), and alternated timings.
//!
//! ```text
//! cargo bench --bench ops --no-run   # then: ops WHAT N [CHUNK]
//! ```
//!
//! WHAT is `core` or `yardstick` (the realistic batch of issue 27, per operation), or
//! `tiny-core` or `tiny-stream` (1,000 form-data parts of 10 bytes with a 10-character
//! boundary, in CHUNK-byte chunks, 64 KiB by default; per part). It prints the time per
//! operation or part on stderr.

use std::hint::black_box;
use std::time::Instant;

use batchpart::stream::{PartEvent, PartStream};
use batchpart::{Decoder, Event};

mod common;
#[path = "../tests/common/ready.rs"]
mod ready;
use common::realistic::{memmem_httparse, multipart, BOUNDARY};

fn realistic(what: &str, n: usize) -> (usize, u64) {
    let body = multipart();
    let ct = format!("multipart/mixed; boundary={BOUNDARY}");
    let framed = [&b"\r\n"[..], &body].concat();
    let needle = format!("\r\n--{BOUNDARY}");
    let finder = memchr::memmem::Finder::new(needle.as_bytes());
    let mut total = 0u64;
    for _ in 0..n {
        total += match what {
            "core" => {
                let mut dec = Decoder::from_content_type(ct.as_bytes(), Default::default());
                let dec = dec.as_mut().expect("the content type");
                dec.feed(black_box(&body), true)
                    .filter(|e| e.is_ok())
                    .count() as u64
            }
            _ => memmem_httparse(black_box(&framed), &finder) as u64,
        };
    }
    (100, total)
}

fn tiny(what: &str, n: usize, chunk: usize) -> (usize, u64) {
    let b = "0123456789";
    let body = common::form(b, 1000, 10, b"", common::noise);
    let mut total = 0u64;
    for _ in 0..n {
        if what == "tiny-core" {
            let mut dec = Decoder::new(b.as_bytes()).expect("the boundary");
            // As the codec benchmark's core does: each chunk fed as it is, and only what
            // the decoder leaves unconsumed (a header block cut by the edge) gathered.
            let mut carry: Vec<u8> = Vec::new();
            for (i, c) in body.chunks(chunk).enumerate() {
                let eof = (i + 1) * chunk >= body.len();
                let input: &[u8] = if carry.is_empty() {
                    c
                } else {
                    carry.extend_from_slice(c);
                    &carry
                };
                let used = {
                    let mut feed = dec.feed(black_box(input), eof);
                    for ev in &mut feed {
                        if let Event::Body(b) = ev.expect("a valid body") {
                            total += b.len() as u64;
                        }
                    }
                    feed.consumed()
                };
                if carry.is_empty() {
                    carry.extend_from_slice(&c[used..]);
                } else {
                    carry.drain(..used);
                }
            }
        } else {
            let chunks: Vec<_> = (0..body.len())
                .step_by(chunk)
                .map(|i| {
                    Ok::<_, std::convert::Infallible>(body.slice(i..(i + chunk).min(body.len())))
                })
                .collect();
            let mut s = PartStream::new(batchpart::stream::iter(chunks), b.as_bytes())
                .expect("the boundary");
            while let Some(ev) = ready::block_on_next(&mut s) {
                if let PartEvent::Body(b) = ev.expect("a valid body") {
                    total += b.len() as u64;
                }
            }
        }
    }
    (1000, total)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().all(|a| a == "--bench") {
        // `cargo bench` runs every benchmark binary so; this one measures only when asked.
        eprintln!("ops: nothing to run without arguments (see benches/ops.rs)");
        return;
    }
    let (Some(what), Some(n)) = (args.first(), args.get(1).and_then(|n| n.parse().ok())) else {
        eprintln!("usage: ops core|yardstick|tiny-core|tiny-stream N [CHUNK]");
        std::process::exit(2);
    };
    let chunk = args
        .get(2)
        .and_then(|c| c.parse().ok())
        .unwrap_or(64 * 1024);
    let t = Instant::now();
    let (per, total) = match what.as_str() {
        "core" | "yardstick" => realistic(what, n),
        "tiny-core" | "tiny-stream" => tiny(what, n, chunk),
        _ => {
            eprintln!("unknown: {what}");
            std::process::exit(2);
        }
    };
    let each = t.elapsed().as_secs_f64() * 1e9 / (n * per) as f64;
    eprintln!("{what}: {each:.1} ns ({total})");
}
