//! `stream_big`: decodes a 1 GiB multipart body (1,024 parts of 1 MiB) generated on the fly
//! as 64 KiB `Bytes` chunks, never held whole, through the Stream layer. It checks every
//! part's length and checksum, then prints the throughput and the peak resident memory
//! (`VmHWM` from `/proc/self/status`).
//!
//! ```text
//! cargo run --release --example stream_big [-- PARTS]
//! ```

use std::pin::Pin;
use std::time::Instant;

use batchpart::stream::{PartEvent, PartStream};
use bytes::{Bytes, BytesMut};
use futures_core::Stream;

const MIB: usize = 1024 * 1024;
const CHUNK: usize = 64 * 1024;
const BOUNDARY: &str = "stream-big-7d3f9a1c2b";

/// Body bytes come from one noise pattern (no CR, so no delimiter), each part starting at its
/// own offset, so parts differ.
struct Pattern(Vec<u8>);

impl Pattern {
    fn new() -> Self {
        Pattern(
            (0..MIB + CHUNK)
                .map(
                    |i| match ((i as u32).wrapping_mul(2_654_435_761) >> 24) as u8 {
                        b'\r' => b'.',
                        b => b,
                    },
                )
                .collect(),
        )
    }
    fn body(&self, part: usize) -> &[u8] {
        let start = (part * 7919) % CHUNK;
        &self.0[start..start + MIB]
    }
}

/// A position-dependent checksum, eight bytes at a time so that it runs at memory speed and
/// the throughput measures decoding, not checksumming. The running state carries the byte
/// position, so chunk edges anywhere give the same result.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Sum {
    acc: u64,
    pos: u64,
    pending: [u8; 8],
    n: usize,
}

impl Sum {
    const NEW: Sum = Sum {
        acc: 0,
        pos: 0,
        pending: [0; 8],
        n: 0,
    };

    fn word(&mut self, w: u64) {
        self.acc = (self.acc ^ w.wrapping_add(self.pos))
            .rotate_left(7)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.pos += 8;
    }

    fn update(mut self, mut data: &[u8]) -> Self {
        while self.n > 0 && !data.is_empty() {
            self.pending[self.n] = data[0];
            self.n = (self.n + 1) % 8;
            data = &data[1..];
            if self.n == 0 {
                self.word(u64::from_le_bytes(self.pending));
            }
        }
        let mut words = data.chunks_exact(8);
        for w in &mut words {
            self.word(u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
        for &b in words.remainder() {
            self.pending[self.n] = b;
            self.n += 1;
        }
        self
    }

    fn finish(mut self) -> u64 {
        let n = self.n;
        self.pending[n..].fill(0);
        if n > 0 {
            self.word(u64::from_le_bytes(self.pending));
        }
        self.acc ^ self.pos
    }
}

/// Produces the body in exactly-64 KiB chunks, part by part.
struct Generator<'p> {
    pattern: &'p Pattern,
    parts: usize,
    part: usize,
    /// The current part's bytes not yet emitted: head, body, tail.
    segments: Vec<Bytes>,
    seg_pos: usize,
    done: bool,
}

impl Generator<'_> {
    fn refill(&mut self) -> bool {
        if self.part == self.parts {
            if self.done {
                return false;
            }
            self.done = true;
            self.segments = vec![Bytes::from(format!("--{BOUNDARY}--\r\n"))];
            self.seg_pos = 0;
            return true;
        }
        let head = format!(
            "--{BOUNDARY}\r\nContent-Type: application/octet-stream\r\nContent-ID: <part{}>\r\n\r\n",
            self.part
        );
        self.segments = vec![
            Bytes::from(head),
            Bytes::copy_from_slice(self.pattern.body(self.part)),
            Bytes::from_static(b"\r\n"),
        ];
        self.seg_pos = 0;
        self.part += 1;
        true
    }
}

impl Iterator for Generator<'_> {
    type Item = Result<Bytes, std::convert::Infallible>;
    fn next(&mut self) -> Option<Self::Item> {
        let mut out = BytesMut::with_capacity(CHUNK);
        while out.len() < CHUNK {
            if self.seg_pos == self.segments.len() && !self.refill() {
                break;
            }
            let seg = &mut self.segments[self.seg_pos];
            let take = (CHUNK - out.len()).min(seg.len());
            out.extend_from_slice(&seg.split_to(take));
            if seg.is_empty() {
                self.seg_pos += 1;
            }
        }
        (!out.is_empty()).then(|| Ok(out.freeze()))
    }
}

fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let parts: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1024);
    let pattern = Pattern::new();
    let gen = Generator {
        pattern: &pattern,
        parts,
        part: 0,
        segments: Vec::new(),
        seg_pos: 0,
        done: false,
    };
    let mut events =
        PartStream::new(batchpart::stream::iter(gen), BOUNDARY.as_bytes()).expect("valid boundary");
    let start = Instant::now();
    let (mut part, mut len, mut sum, mut total, mut checked) =
        (0usize, 0usize, Sum::NEW, 0u64, 0usize);
    // `events.next().await` with a `StreamExt`.
    while let Some(ev) = std::future::poll_fn(|cx| Pin::new(&mut events).poll_next(cx)).await {
        match ev.expect("the generated body is valid") {
            PartEvent::PartStart(_) => {
                len = 0;
                sum = Sum::NEW;
            }
            PartEvent::Body(b) => {
                len += b.len();
                sum = sum.update(&b);
                total += b.len() as u64;
            }
            PartEvent::PartEnd(_) => {
                assert_eq!(len, MIB, "part {part} length");
                let expected = Sum::NEW.update(pattern.body(part)).finish();
                assert_eq!(sum.finish(), expected, "part {part} checksum");
                part += 1;
                checked += 1;
            }
            _ => {}
        }
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(checked, parts, "every part decoded");
    let gib = total as f64 / (1u64 << 30) as f64;
    println!("parts: {checked}, each 1 MiB, length and checksum verified");
    println!(
        "body bytes: {total} ({gib:.3} GiB) in {secs:.2} s: {:.0} MiB/s (generating the chunks and checksumming each part twice included)",
        total as f64 / MIB as f64 / secs
    );
    match vm_hwm_kib() {
        Some(kib) => println!(
            "peak resident memory (VmHWM): {kib} KiB ({:.1} MiB)",
            kib as f64 / 1024.0
        ),
        None => println!("peak resident memory: /proc/self/status not available"),
    }
}
