//! The benchmark suite: every contender on the same input bytes, in one process.
//!
//! `cargo bench` runs the codec groups; `cargo bench --all-features` adds the batch groups.
//! Contenders: this crate through the sans-IO core, the Stream layer and the whole-buffer API;
//! the physical limit (a bare `memmem::Finder` pass counting delimiters); and the peers
//! `multer` 3, `form-net` and `nostd-multipart`. Inputs are `multipart/form-data` shaped, so
//! every peer reads them. Results and ratios: `BENCHMARKS.md`.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use batchpart::stream::{PartEvent, PartStream};

mod common;
#[path = "../tests/common/ready.rs"]
mod ready;
use batchpart::{Decoder, Event};
use bytes::Bytes;
use common::{form, noise};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ready::{block_on, block_on_next};

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

fn boundary(len: usize) -> String {
    let base = "batchpart-bench-boundary-0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ";
    base[..len].to_string()
}

struct Shape {
    name: String,
    boundary: String,
    body: Bytes,
}

fn shapes() -> Vec<Shape> {
    let mut v = Vec::new();
    for blen in [10, 70] {
        let b = boundary(blen);
        let near_miss: Vec<u8> = format!("\r\n--{}", &b[..blen - 1]).into_bytes();
        let mut shapes: Vec<(&str, Bytes)> = vec![
            ("1x16MiB", form(&b, 1, 16 * MIB, b"", noise)),
            ("16x1MiB", form(&b, 16, MIB, b"", noise)),
            ("1000x100B", form(&b, 1000, 100, b"", noise)),
            ("1000x1KiB", form(&b, 1000, KIB, b"", noise)),
            ("10000x10B", form(&b, 10_000, 10, b"", noise)),
        ];
        // Adversarial: near-miss delimiters throughout, all-CR bodies, 1 MiB of junk preamble.
        let nm = near_miss.clone();
        let mut body = Vec::with_capacity(4 * MIB);
        while body.len() < 4 * MIB {
            body.extend_from_slice(&nm);
            body.push(b'x');
        }
        let mut adv = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"nm\"; filename=\"nm\"\r\n\r\n"
        )
        .into_bytes();
        adv.extend_from_slice(&body);
        adv.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
        shapes.push(("near-miss-4MiB", Bytes::from(adv)));
        shapes.push(("all-CR-4MiB", form(&b, 1, 4 * MIB, b"", |_| b'\r')));
        let junk: Vec<u8> = (0..MIB).map(noise).collect();
        shapes.push(("junk-preamble-1MiB", form(&b, 1, 100, &junk, noise)));
        for (name, body) in shapes {
            v.push(Shape {
                name: format!("{name}/b{blen}"),
                boundary: b.clone(),
                body,
            });
        }
    }
    v
}

/// The sans-IO core, fed `chunk` bytes at a time, keeping only unconsumed header bytes.
fn core(body: &[u8], boundary: &[u8], chunk: usize, max_preamble: u64) -> u64 {
    let mut cfg = batchpart::Config::default();
    cfg.limits.max_preamble_bytes = max_preamble;
    core_with(body, boundary, chunk, cfg)
}

fn core_with(body: &[u8], boundary: &[u8], chunk: usize, cfg: batchpart::Config) -> u64 {
    let mut dec = Decoder::with_config(boundary, cfg).unwrap();
    let mut n = 0u64;
    let mut carry: Vec<u8> = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let end = (pos + chunk).min(body.len());
        let eof = end == body.len();
        let input: &[u8] = if carry.is_empty() {
            &body[pos..end]
        } else {
            carry.extend_from_slice(&body[pos..end]);
            &carry
        };
        let mut feed = dec.feed(input, eof);
        for ev in &mut feed {
            if let Event::Body(b) = ev.unwrap() {
                n += b.len() as u64;
            }
        }
        let used = feed.consumed();
        let rest = input.len() - used;
        if carry.is_empty() {
            carry.extend_from_slice(&body[end - rest..end]);
        } else {
            carry.drain(..used);
        }
        pos = end;
    }
    n
}

fn chunks(body: &Bytes, chunk: usize) -> Vec<Result<Bytes, Infallible>> {
    (0..body.len())
        .step_by(chunk)
        .map(|i| Ok(body.slice(i..(i + chunk).min(body.len()))))
        .collect()
}

fn stream(body: &Bytes, boundary: &[u8], chunk: usize, max_preamble: u64) -> u64 {
    let mut cfg = batchpart::Config::default();
    cfg.limits.max_preamble_bytes = max_preamble;
    let mut s =
        PartStream::with_config(batchpart::stream::iter(chunks(body, chunk)), boundary, cfg)
            .unwrap();
    let mut n = 0;
    while let Some(ev) = block_on_next(&mut s) {
        if let PartEvent::Body(b) = ev.unwrap() {
            n += b.len() as u64;
        }
    }
    n
}

fn whole(body: &Bytes, boundary: &[u8], max_preamble: u64) -> u64 {
    let mut cfg = batchpart::Config::default();
    cfg.limits.max_preamble_bytes = max_preamble;
    batchpart::stream::decode_bytes_with(body, boundary, cfg)
        .unwrap()
        .iter()
        .map(|e| {
            if let PartEvent::Body(b) = e {
                b.len() as u64
            } else {
                0
            }
        })
        .sum()
}

/// The physical limit: one `memmem` pass that counts delimiters and nothing else.
fn memmem(body: &[u8], finder: &memchr::memmem::Finder<'_>) -> usize {
    finder.find_iter(body).count()
}

/// The limit in chunks: the same `Finder`, built once, over the same chunks, carrying the
/// last delimiter's length less one across each edge, as any streaming reader must.
fn memmem_chunked(body: &[u8], finder: &memchr::memmem::Finder<'_>, chunk: usize) -> usize {
    let keep = finder.needle().len() - 1;
    let mut carry: Vec<u8> = Vec::with_capacity(2 * keep);
    let mut n = 0;
    for c in body.chunks(chunk) {
        // Matches that straddle the edge: in the carry plus the chunk's first bytes.
        carry.extend_from_slice(&c[..keep.min(c.len())]);
        n += finder.find_iter(&carry).count();
        n += finder.find_iter(c).count();
        let tail = &c[c.len().saturating_sub(keep)..];
        carry.clear();
        carry.extend_from_slice(tail);
    }
    n
}

fn multer(body: &Bytes, boundary: &str, chunk: usize) -> u64 {
    let src = futures_util_stream(chunks(body, chunk));
    let mut m = multer::Multipart::new(src, boundary);
    block_on(async {
        let mut n = 0u64;
        while let Some(mut field) = m.next_field().await.unwrap() {
            while let Some(c) = field.chunk().await.unwrap() {
                n += c.len() as u64;
            }
        }
        n
    })
}

/// multer wants a `futures` stream; ours is `futures_core`'s, the same trait.
fn futures_util_stream(
    v: Vec<Result<Bytes, Infallible>>,
) -> batchpart::stream::Iter<std::vec::IntoIter<Result<Bytes, Infallible>>> {
    batchpart::stream::iter(v)
}

fn nostd(body: &[u8], boundary: &[u8], chunk: usize) -> u64 {
    let mut p: nostd_multipart::Parser<'_> = nostd_multipart::Parser::new(boundary).unwrap();
    let mut n = 0u64;
    let mut pos = 0;
    let mut end = chunk.min(body.len());
    loop {
        let eof = end == body.len();
        let (used, ev) = p.parse(&body[pos..end], eof).unwrap();
        pos += used;
        match ev {
            Some(nostd_multipart::Event::Data(d)) => n += d.len() as u64,
            Some(nostd_multipart::Event::Finished) => return n,
            Some(_) => {}
            None if used == 0 => end = (end + chunk).min(body.len()),
            None => {}
        }
        if pos == end && !eof {
            end = (end + chunk).min(body.len());
        }
    }
}

fn form_net(body: &[u8], boundary: &str) -> u64 {
    let ct = format!("multipart/form-data; boundary={boundary}");
    let limits = form_net::Limits::DEFAULT
        .with_max_body_bytes(1 << 40)
        .with_max_parts(1 << 20)
        .with_max_files(1 << 20)
        .with_max_fields(1 << 20)
        .with_max_file_bytes(1 << 40)
        .with_max_preamble_bytes(2 * MIB as u32);
    let mut r = form_net::MultipartReader::with_limits(
        ct.as_bytes(),
        body,
        &limits,
        &form_net::Policy::DEFAULT,
    )
    .unwrap();
    let mut n = 0u64;
    while let Some(mut part) = r.next_part().unwrap() {
        n += std::io::copy(&mut part, &mut std::io::sink()).unwrap();
    }
    n
}

fn config(c: &mut Criterion) -> &mut Criterion {
    c
}

fn decode_shapes(c: &mut Criterion) {
    let c = config(c);
    for s in shapes() {
        let b = s.boundary.as_bytes();
        let pre = 2 * MIB as u64;
        let expected = core(&s.body, b, s.body.len(), pre);
        let mut g = c.benchmark_group(format!("decode/{}", s.name));
        g.throughput(Throughput::Bytes(s.body.len() as u64));
        g.sample_size(10)
            .measurement_time(Duration::from_secs(1))
            .warm_up_time(Duration::from_millis(300));
        let delim = format!("\r\n--{}", s.boundary);
        let finder = memchr::memmem::Finder::new(delim.as_bytes());
        g.bench_function("memmem-limit", |x| {
            x.iter(|| memmem(black_box(&s.body), &finder))
        });
        for (label, chunk) in [("64KiB", 64 * KIB), ("1KiB", KIB)] {
            assert_eq!(
                memmem_chunked(&s.body, &finder, chunk),
                memmem(&s.body, &finder),
                "{}",
                s.name
            );
            g.bench_with_input(BenchmarkId::new("memmem-limit", label), &chunk, |x, &ch| {
                x.iter(|| memmem_chunked(black_box(&s.body), &finder, ch))
            });
        }
        g.bench_function("batchpart-whole", |x| {
            x.iter(|| whole(black_box(&s.body), b, pre))
        });
        for (label, chunk) in [("whole", usize::MAX), ("64KiB", 64 * KIB), ("1KiB", KIB)] {
            let ch = chunk.min(s.body.len());
            g.bench_with_input(BenchmarkId::new("batchpart-core", label), &ch, |x, &ch| {
                x.iter(|| core(black_box(&s.body), b, ch, pre))
            });
            g.bench_with_input(
                BenchmarkId::new("batchpart-stream", label),
                &ch,
                |x, &ch| x.iter(|| stream(black_box(&s.body), b, ch, pre)),
            );
            g.bench_with_input(BenchmarkId::new("multer", label), &ch, |x, &ch| {
                x.iter(|| multer(black_box(&s.body), &s.boundary, ch))
            });
            g.bench_with_input(BenchmarkId::new("nostd-multipart", label), &ch, |x, &ch| {
                x.iter(|| nostd(black_box(&s.body), b, ch))
            });
        }
        g.bench_function("form-net", |x| {
            x.iter(|| form_net(black_box(&s.body), &s.boundary))
        });
        g.finish();
        // Every contender must agree on the body bytes before its numbers mean anything.
        assert_eq!(stream(&s.body, b, 64 * KIB, pre), expected, "{}", s.name);
        assert_eq!(
            multer(&s.body, &s.boundary, 64 * KIB),
            expected,
            "{}",
            s.name
        );
    }
}

/// One byte per feed against the whole buffer, on two sizes: the cost per byte must not grow
/// with the size (linear work).
fn one_byte_chunks(c: &mut Criterion) {
    for size in [64 * KIB, 256 * KIB] {
        let b = boundary(10);
        let body = form(&b, size / 1024, 1024 - 120, b"", noise);
        let mut g = c.benchmark_group(format!("one-byte/{}KiB", size / KIB));
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.sample_size(10)
            .measurement_time(Duration::from_secs(2))
            .warm_up_time(Duration::from_millis(300));
        g.bench_function("batchpart-core/whole", |x| {
            x.iter(|| core(black_box(&body), b.as_bytes(), body.len(), 0))
        });
        g.bench_function("batchpart-core/1B", |x| {
            x.iter(|| core(black_box(&body), b.as_bytes(), 1, 0))
        });
        g.finish();
    }
}

/// One part of `size` bytes under `boundary`, wrapped as a multipart body.
fn one_part(boundary: &[u8], body: &[u8]) -> Bytes {
    let mut v = [b"--".as_slice(), boundary, b"\r\n\r\n"].concat();
    v.extend_from_slice(body);
    v.extend_from_slice(&[b"\r\n--".as_slice(), boundary, b"--\r\n"].concat());
    Bytes::from(v)
}

/// The shapes that used to cost a boundary's length per byte: a boundary made of one repeated
/// byte, or of a short period, over a body of the same bytes, and bare-LF delimiters (content
/// in strict mode). Each against a random body of the same size: the goal is within 2x.
fn slow_shapes(c: &mut Criterion) {
    const SIZE: usize = 4 * MIB;
    for (name, b) in [
        ("a10", b"a".repeat(10)),
        ("a70", b"a".repeat(70)),
        ("ab10", b"ab".repeat(5)),
        ("ab70", b"ab".repeat(35)),
    ] {
        let random: Vec<u8> = (0..SIZE)
            .map(|i| match noise(i) {
                b'\n' => b'y',
                x => x,
            })
            .collect();
        let run: Vec<u8> = b.iter().copied().cycle().take(SIZE).collect();
        let lf: Vec<u8> = [b"\n--".as_slice(), &b]
            .concat()
            .repeat(SIZE / (b.len() + 3));
        let cases = [
            ("random", one_part(&b, &random), false),
            ("run", one_part(&b, &run), false),
            ("random-strict", one_part(&b, &random[..lf.len()]), true),
            ("bare-LF-strict", one_part(&b, &lf), true),
        ];
        let mut g = c.benchmark_group(format!("slow-shape/{name}"));
        g.throughput(Throughput::Bytes(SIZE as u64));
        g.sample_size(10)
            .measurement_time(Duration::from_secs(1))
            .warm_up_time(Duration::from_millis(200));
        for (shape, body, strict) in &cases {
            let cfg = if *strict {
                batchpart::Config::strict()
            } else {
                batchpart::Config::default()
            };
            for (label, chunk) in [("whole", body.len()), ("64KiB", 64 * KIB)] {
                g.bench_function(BenchmarkId::new(*shape, label), |x| {
                    x.iter(|| core_with(black_box(body), &b, chunk, cfg))
                });
            }
        }
        g.finish();
    }
}

#[cfg(all(feature = "batch", feature = "json"))]
mod batch_groups {
    use super::*;
    use batchpart::batch::{
        read_json, read_multipart, write_json, write_multipart, BatchRequest, Changeset, Item,
        RequestOp, ValidationOptions,
    };
    use batchpart::writer::Writer;

    fn model() -> BatchRequest {
        let mut items = Vec::new();
        for i in 0..50 {
            items.push(Item::Op(
                RequestOp::new("GET", format!("/service/Customers({i})"))
                    .with_content_id(format!("r{i}"))
                    .with_header("Accept", "application/json"),
            ));
        }
        for c in 0..10 {
            let ops = (0..5)
                .map(|k| {
                    RequestOp::new("PATCH", format!("/service/Customers({})", c * 5 + k))
                        .with_content_id(format!("{}", c * 5 + k + 1))
                        .with_header("Content-Type", "application/json")
                        .with_header("If-Match", "W/\"1\"")
                        .with_body(format!(
                            "{{\"Name\":\"Customer {c}-{k}\",\"City\":\"Berlin\"}}"
                        ))
                })
                .collect();
            items.push(Item::Changeset(Changeset {
                id: Some(format!("changeset_{c}")),
                ops,
            }));
        }
        BatchRequest { items }
    }

    pub fn batches(c: &mut Criterion) {
        let m = model();
        assert_eq!(m.op_count(), 100);
        let (ct, enc) = write_multipart(&m, b"batch_36522ad7-fc75-4b56-8c71-56071383e77b").unwrap();
        let wire: Bytes = enc.flat_map(|b| b.to_vec()).collect::<Vec<u8>>().into();
        let json = Bytes::from(write_json(&m).unwrap());
        let mut g = c.benchmark_group("batch/decode-100-ops");
        g.throughput(Throughput::Elements(100));
        g.sample_size(20)
            .measurement_time(Duration::from_secs(2))
            .warm_up_time(Duration::from_millis(300));
        // The core decoding the same bytes: what the readers build on.
        let boundary = b"batch_36522ad7-fc75-4b56-8c71-56071383e77b";
        g.bench_function("core", |x| {
            x.iter(|| {
                let mut dec = batchpart::Decoder::new(boundary).unwrap();
                dec.feed(black_box(&wire), true)
                    .filter(|e| e.is_ok())
                    .count()
            })
        });
        g.bench_function("multipart", |x| {
            x.iter(|| {
                read_multipart::<RequestOp>(black_box(wire.clone()), ct.as_bytes(), None).unwrap()
            })
        });
        g.bench_function("multipart+validation", |x| {
            x.iter(|| {
                read_multipart::<RequestOp>(
                    black_box(wire.clone()),
                    ct.as_bytes(),
                    Some(ValidationOptions::default()),
                )
                .unwrap()
            })
        });
        g.bench_function("json", |x| {
            x.iter(|| read_json::<RequestOp>(black_box(json.clone()), None).unwrap())
        });
        g.bench_function("json+validation", |x| {
            x.iter(|| {
                read_json::<RequestOp>(black_box(json.clone()), Some(ValidationOptions::default()))
                    .unwrap()
            })
        });
        g.finish();
        let mut g = c.benchmark_group("batch/encode-100-ops");
        g.throughput(Throughput::Elements(100));
        g.sample_size(20)
            .measurement_time(Duration::from_secs(2))
            .warm_up_time(Duration::from_millis(300));
        g.bench_function("multipart", |x| {
            x.iter(|| write_multipart(black_box(&m), b"batch_1").unwrap())
        });
        g.bench_function("json", |x| x.iter(|| write_json(black_box(&m)).unwrap()));
        g.finish();
        // Zero copy: encoding a 16 MiB body costs what a tiny one does.
        let big = Bytes::from(vec![7u8; 16 * MIB]);
        let tiny = Bytes::from_static(b"{}");
        let mut g = c.benchmark_group("batch/encode-one-body");
        g.throughput(Throughput::Elements(1));
        g.sample_size(20)
            .measurement_time(Duration::from_secs(2))
            .warm_up_time(Duration::from_millis(300));
        for (label, body) in [("16MiB", &big), ("2B", &tiny)] {
            g.bench_function(label, |x| {
                x.iter(|| {
                    let mut w = Writer::new(b"batch_1").unwrap();
                    w.part(
                        [("Content-Type", "application/octet-stream")],
                        black_box(body.clone()),
                    )
                    .unwrap();
                    w.finish(b"").unwrap()
                })
            });
        }
        g.finish();
    }
}

/// The `realistic-ops` group: a 100-operation OData batch of the shape users send, the core
/// beside the same parsing done with the field's standard parts (memchr's `memmem` for each
/// delimiter, httparse for the part's MIME headers and the embedded request head), the
/// Stream layer, and the batch readers (multipart, and JSON on the same operations).
#[cfg(all(feature = "batch", feature = "json"))]
mod realistic {
    use super::*;
    use batchpart::batch::{read_json, read_multipart, BatchRequest, RequestOp};

    pub use crate::common::realistic::{memmem_httparse, multipart, BOUNDARY};

    /// The core: one feed of the whole body, every event taken.
    pub fn core(body: &[u8], ct: &[u8]) -> usize {
        let mut dec = Decoder::from_content_type(ct, batchpart::Config::default()).unwrap();
        dec.feed(body, true).filter(|e| e.is_ok()).count()
    }

    pub fn group(c: &mut Criterion) {
        let body = multipart();
        let ct = format!("multipart/mixed; boundary={BOUNDARY}");
        let model: BatchRequest = read_multipart(body.clone(), ct.as_bytes(), None).unwrap();
        assert_eq!(model.op_count(), 100);
        let json = Bytes::from(batchpart::batch::write_json(&model).unwrap());
        let needle = format!("\r\n--{BOUNDARY}");
        let finder = memchr::memmem::Finder::new(needle.as_bytes());
        // The first delimiter has no CRLF before it: the yardstick sees the body after one.
        let framed = Bytes::from([&b"\r\n"[..], &body].concat());
        let expected: usize = model
            .items
            .iter()
            .flat_map(|i| i.ops())
            .map(|o| 3 + o.headers.len() + o.body.len())
            .sum();
        assert_eq!(memmem_httparse(&framed, &finder), expected);
        let mut g = c.benchmark_group("realistic-ops");
        g.throughput(Throughput::Elements(100));
        g.sample_size(30)
            .measurement_time(Duration::from_secs(3))
            .warm_up_time(Duration::from_millis(500));
        g.bench_function("memmem+httparse", |x| {
            x.iter(|| memmem_httparse(black_box(&framed), &finder))
        });
        g.bench_function("core", |x| x.iter(|| core(black_box(&body), ct.as_bytes())));
        g.bench_function("stream", |x| {
            x.iter(|| {
                stream(
                    black_box(&body),
                    BOUNDARY.as_bytes(),
                    body.len(),
                    64 * KIB as u64,
                )
            })
        });
        g.bench_function("reader/multipart", |x| {
            x.iter(|| {
                read_multipart::<RequestOp>(black_box(body.clone()), ct.as_bytes(), None).unwrap()
            })
        });
        g.bench_function("reader/json", |x| {
            x.iter(|| read_json::<RequestOp>(black_box(json.clone()), None).unwrap())
        });
        g.finish();
    }
}

#[cfg(all(feature = "batch", feature = "json"))]
criterion_group!(
    benches,
    decode_shapes,
    one_byte_chunks,
    slow_shapes,
    batch_groups::batches,
    realistic::group
);
#[cfg(not(all(feature = "batch", feature = "json")))]
criterion_group!(benches, decode_shapes, one_byte_chunks, slow_shapes);
criterion_main!(benches);
