//! The sans-IO decoder on arbitrary input under an arbitrary chunking: it must never panic,
//! and every chunking must give the events of the whole-buffer decode.
#![no_main]
use batchpart::{Config, Decoder, Event};
use libfuzzer_sys::fuzz_target;

/// Events flattened to bytes, with consecutive byte events of one kind merged.
fn run(input: &[u8], boundary: &[u8], cfg: Config, sizes: &[u8]) -> Result<Vec<(u8, Vec<u8>)>, batchpart::Error> {
    let mut dec = Decoder::with_config(boundary, cfg)?;
    let mut out: Vec<(u8, Vec<u8>)> = Vec::new();
    let mut carry = Vec::new();
    let (mut pos, mut k) = (0, 0);
    loop {
        let n = if sizes.is_empty() { input.len() - pos } else { usize::from(sizes[k % sizes.len()]).max(1) };
        k += 1;
        let n = n.min(input.len() - pos);
        carry.extend_from_slice(&input[pos..pos + n]);
        pos += n;
        let eof = pos == input.len();
        let mut feed = dec.feed(&carry, eof);
        for ev in &mut feed {
            let (tag, bytes): (u8, &[u8]) = match ev? {
                Event::Preamble(b) => (0, b),
                Event::Body(b) => (1, b),
                Event::Epilogue(b) => (2, b),
                Event::PartStart(p) => (3, p.headers().as_bytes()),
                Event::MultipartStart(b) => (4, b),
                Event::Request(r) => (5, r.target()),
                Event::Response(r) => (6, r.reason()),
                Event::PartEnd(_) => (7, b""),
                Event::MultipartEnd => (8, b""),
                Event::End => (9, b""),
                _ => (10, b""),
            };
            match out.last_mut() {
                Some((t, v)) if *t == tag && tag <= 2 => v.extend_from_slice(bytes),
                _ => out.push((tag, bytes.to_vec())),
            }
        }
        let used = feed.consumed();
        drop(feed);
        carry.drain(..used);
        if eof {
            assert!(dec.is_done(), "neither done nor failed at end of input");
            return Ok(out);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // Layout: [strict flag][boundary len][boundary][chunk sizes len][chunk sizes][body].
    let [flags, blen, rest @ ..] = data else { return };
    let blen = usize::from(*blen % 8) + 1;
    if rest.len() < blen + 1 {
        return;
    }
    let (boundary, rest) = rest.split_at(blen);
    let slen = usize::from(rest[0] % 16);
    let rest = &rest[1..];
    if rest.len() < slen {
        return;
    }
    let (sizes, body) = rest.split_at(slen);
    let cfg = Config { strict: flags & 1 == 1, ..Default::default() };
    let whole = run(body, boundary, cfg, &[]);
    let chunked = run(body, boundary, cfg, sizes);
    assert_eq!(whole, chunked);
});
