//! One test per known multipart attack shape. Each asserts the documented outcome (a clean
//! decode or the specific error) and bounded resources, by counts rather than time: the peak
//! of bytes allocated while decoding (a counting allocator) stays under the configured limits,
//! and the bytes the decoder examines stay a small multiple of the input. Every shape is also
//! delivered one byte per chunk through the Stream layer.
#![cfg(feature = "stream")]
#[path = "common/ready.rs"]
mod ready;
use ready::block_on_next;

use batchpart::stream::{PartEvent, PartStream, StreamError};
use batchpart::{Config, ErrorKind, Limits};
use bytes::Bytes;

#[path = "common/peak.rs"]
mod peak;

const MIB: usize = 1 << 20;

/// What a decode came to, and what it cost.
#[derive(Debug)]
struct Outcome {
    result: Result<(u64, u64), ErrorKind>,
    examined: u64,
    peak: usize,
    input: usize,
}

impl Outcome {
    fn work_ratio(&self) -> f64 {
        self.examined as f64 / self.input.max(1) as f64
    }
}

/// Decodes `input` through the Stream layer in chunks of `chunk` bytes (slices of one shared
/// buffer, so chunking itself allocates nothing), counting parts and body bytes.
fn run(input: &Bytes, boundary: &[u8], cfg: Config, chunk: usize) -> Outcome {
    let chunks = (0..input.len()).step_by(chunk).map({
        let input = input.clone();
        move |i| Ok::<_, std::convert::Infallible>(input.slice(i..(i + chunk).min(input.len())))
    });
    let base = peak::mark();
    let mut s = PartStream::with_config(batchpart::stream::iter(chunks), boundary, cfg).unwrap();
    let (mut parts, mut body) = (0u64, 0u64);
    let mut result = Ok(());
    while let Some(ev) = block_on_next(&mut s) {
        match ev {
            Ok(PartEvent::PartStart(_)) => parts += 1,
            Ok(PartEvent::Body(b)) => body += b.len() as u64,
            Ok(_) => {}
            Err(StreamError::Decode(e)) => result = Err(e.kind()),
            Err(_) => unreachable!(),
        }
    }
    let examined = s.stats().bytes_examined;
    let peak = peak::peak_since(base);
    drop(s);
    Outcome {
        result: result.map(|()| (parts, body)),
        examined,
        peak,
        input: input.len(),
    }
}

/// Runs a shape whole and one byte per chunk; both must agree on the outcome, examine a
/// bounded multiple of the input, and stay under `peak_limit` bytes allocated.
fn check(
    name: &str,
    whole: &Bytes,
    bytewise: &Bytes,
    boundary: &[u8],
    cfg: Config,
    peak_limit: usize,
) -> Outcome {
    let a = run(whole, boundary, cfg, whole.len().max(1));
    let b = run(bytewise, boundary, cfg, 1);
    eprintln!(
        "{name}: {:?}; whole {} B examined {:.2}x peak {} B; bytewise {} B examined {:.2}x peak {} B",
        a.result, a.input, a.work_ratio(), a.peak, b.input, b.work_ratio(), b.peak
    );
    // Sizes differ between the two runs, so compare the error kinds, or success.
    assert_eq!(a.result.err(), b.result.err(), "{name}: outcomes differ");
    for o in [&a, &b] {
        assert!(
            o.work_ratio() <= 4.0,
            "{name}: {:.2} bytes examined per input byte",
            o.work_ratio()
        );
        assert!(
            o.peak <= peak_limit,
            "{name}: peak {} B allocated (limit {peak_limit})",
            o.peak
        );
    }
    a
}

fn repeat(unit: &[u8], n: usize) -> Vec<u8> {
    unit.repeat(n)
}

fn cfg() -> Config {
    Config::default()
}

fn with_limits(f: impl FnOnce(&mut Limits)) -> Config {
    let mut c = Config::default();
    f(&mut c.limits);
    c
}

/// The header limit bounds the straddle buffer; the event queue and boundaries add a little.
fn peak_limit(c: &Config) -> usize {
    2 * c.limits.max_header_bytes + 64 * 1024
}

#[test]
fn many_tiny_parts() {
    // Go CVE-2023-24536, Werkzeug CVE-2023-25577: `--b\r\n\r\n` repeated.
    let body = |n| Bytes::from([repeat(b"--b\r\n\r\n", n), b"--b--".to_vec()].concat());
    let o = check(
        "tiny parts, default limit",
        &body(200_000),
        &body(20_000),
        b"b",
        cfg(),
        peak_limit(&cfg()),
    );
    assert_eq!(o.result, Err(ErrorKind::TooManyParts));
    let unlimited = with_limits(|l| l.max_parts = u64::MAX);
    let o = check(
        "tiny parts, no part limit",
        &body(200_000),
        &body(20_000),
        b"b",
        unlimited,
        peak_limit(&unlimited),
    );
    assert_eq!(o.result, Ok((200_000, 0)));
}

#[test]
fn header_block_that_never_ends() {
    // Go CVE-2023-45290, actix-web #2810.
    let block = |n| {
        Bytes::from(
            [
                b"--b\r\n".to_vec(),
                repeat(b"X-Pad: 0123456789abcdef0123456789abcdef\r\n", n),
            ]
            .concat(),
        )
    };
    let few_headers = with_limits(|l| l.max_headers = 100_000);
    let o = check(
        "endless header block",
        &block(100_000),
        &block(2_000),
        b"b",
        few_headers,
        peak_limit(&few_headers),
    );
    assert_eq!(o.result, Err(ErrorKind::HeaderTooLarge));
    let line = |n| Bytes::from([b"--b\r\nX-Long: ".to_vec(), vec![b'a'; n]].concat());
    let o = check(
        "one endless header line",
        &line(8 * MIB),
        &line(256 * 1024),
        b"b",
        cfg(),
        peak_limit(&cfg()),
    );
    assert_eq!(o.result, Err(ErrorKind::HeaderTooLarge));
}

#[test]
fn thousands_of_header_lines() {
    // python-multipart CVE-2026-42561.
    let block = |n| {
        Bytes::from(
            [
                b"--b\r\n".to_vec(),
                repeat(b"A: 1\r\n", n),
                b"\r\nbody\r\n--b--".to_vec(),
            ]
            .concat(),
        )
    };
    let o = check(
        "thousands of headers",
        &block(50_000),
        &block(5_000),
        b"b",
        cfg(),
        peak_limit(&cfg()),
    );
    assert_eq!(o.result, Err(ErrorKind::TooManyHeaders));
}

#[test]
fn junk_before_first_and_after_close_delimiter() {
    // python-multipart CVE-2024-53981.
    for (name, junk) in [("CR", b'\r'), ("LF", b'\n'), ("junk", b'x')] {
        let before =
            |n| Bytes::from([vec![junk; n], b"\r\n--b\r\n\r\nbody\r\n--b--".to_vec()].concat());
        let o = check(
            &format!("{name} before the first delimiter"),
            &before(4 * MIB),
            &before(256 * 1024),
            b"b",
            cfg(),
            peak_limit(&cfg()),
        );
        assert_eq!(o.result, Err(ErrorKind::PreambleTooLarge));
        let after =
            |n| Bytes::from([b"--b\r\n\r\nbody\r\n--b--\r\n".to_vec(), vec![junk; n]].concat());
        let o = check(
            &format!("{name} after the close delimiter"),
            &after(4 * MIB),
            &after(256 * 1024),
            b"b",
            cfg(),
            peak_limit(&cfg()),
        );
        assert_eq!(o.result, Ok((1, 4)));
    }
}

#[test]
fn near_miss_delimiters() {
    let b = b"boundary-0123456789";
    let body = |n| {
        let mut v = b"--boundary-0123456789\r\n\r\n".to_vec();
        for i in 0..n {
            // The full delimiter with one byte of `--boundary` changed, at every position in
            // turn. (Changing its CR would leave a delimiter that lenient mode accepts.)
            let mut d = b"\r\n--boundary-0123456789".to_vec();
            let k = 2 + i % (d.len() - 2);
            d[k] = if d[k] == b'x' { b'y' } else { b'x' };
            v.extend_from_slice(&d);
        }
        v.extend_from_slice(b"\r\n--boundary-0123456789--");
        Bytes::from(v)
    };
    for c in [cfg(), Config::strict()] {
        let o = check(
            "near-miss delimiters",
            &body(200_000),
            &body(10_000),
            b,
            c,
            peak_limit(&c),
        );
        assert!(
            matches!(o.result, Ok((1, n)) if n > 4_000_000),
            "{:?}",
            o.result
        );
    }
}

#[test]
fn crlf_then_megabytes_without_cr() {
    // Werkzeug CVE-2023-46136.
    let body = |n| {
        Bytes::from(
            [
                b"--b\r\n\r\n\r\n".to_vec(),
                vec![b'a'; n],
                b"\r\n--b--".to_vec(),
            ]
            .concat(),
        )
    };
    let o = check(
        "CRLF then no CR",
        &body(8 * MIB),
        &body(256 * 1024),
        b"b",
        cfg(),
        peak_limit(&cfg()),
    );
    assert_eq!(o.result, Ok((1, 8 * MIB as u64 + 2)));
}

#[test]
fn oversized_boundaries() {
    // Commons FileUpload CVE-2014-0050 and CVE-2016-3092.
    for n in [71, 4000] {
        let b = vec![b'a'; n];
        assert_eq!(
            batchpart::Decoder::new(&b).unwrap_err().kind(),
            ErrorKind::InvalidBoundary
        );
        let ct = [b"multipart/mixed; boundary=".to_vec(), b.clone()].concat();
        assert_eq!(
            batchpart::Decoder::from_content_type(&ct, cfg())
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidBoundary
        );
        // As a nested boundary, inside a body.
        let body = |_| {
            Bytes::from(
                [
                    b"--b\r\nContent-Type: multipart/mixed; boundary=".to_vec(),
                    b.clone(),
                    b"\r\n\r\n--b--".to_vec(),
                ]
                .concat(),
            )
        };
        let o = check(
            &format!("nested boundary of {n}"),
            &body(0),
            &body(0),
            b"b",
            cfg(),
            peak_limit(&cfg()),
        );
        assert_eq!(o.result, Err(ErrorKind::InvalidBoundary));
    }
}

#[test]
fn unclosed_quote_and_backslashes_in_content_type() {
    // python-multipart CVE-2024-24762: a backtracking regex on this shape. The parser makes
    // one pass; a megabyte of backslashes is refused as fast as a short value.
    let ct = [b"multipart/mixed; boundary=\"".to_vec(), repeat(b"\\", MIB)].concat();
    assert_eq!(
        batchpart::ContentType::parse(&ct).unwrap_err().kind(),
        ErrorKind::InvalidContentType
    );
    let ct = [
        b"multipart/mixed; boundary=\"".to_vec(),
        repeat(b"\\\"", MIB / 2),
    ]
    .concat();
    assert_eq!(
        batchpart::ContentType::parse(&ct).unwrap_err().kind(),
        ErrorKind::InvalidContentType
    );
    // Inside a part: the same refusal, with the offset of the header block.
    let body = |_| {
        Bytes::from(
            [
                b"--b\r\nContent-Type: multipart/mixed; boundary=\"".to_vec(),
                repeat(b"\\", 8000),
                b"\r\n\r\n--b--".to_vec(),
            ]
            .concat(),
        )
    };
    let o = check(
        "backslashes in a part's content-type",
        &body(0),
        &body(0),
        b"b",
        cfg(),
        peak_limit(&cfg()),
    );
    assert_eq!(o.result, Err(ErrorKind::InvalidContentType));
}

#[test]
fn first_header_line_starting_with_white_space() {
    // dicer CVE-2022-24434.
    for lead in [&b" "[..], b"\t"] {
        let body = |_| {
            Bytes::from(
                [
                    b"--b\r\n".to_vec(),
                    lead.to_vec(),
                    b"X: 1\r\n\r\nbody\r\n--b--".to_vec(),
                ]
                .concat(),
            )
        };
        let o = check(
            "leading white space",
            &body(0),
            &body(0),
            b"b",
            cfg(),
            peak_limit(&cfg()),
        );
        assert_eq!(o.result, Err(ErrorKind::InvalidHeader));
    }
}

#[test]
fn nesting_attacks() {
    let deep = |n: usize| {
        let mut v = b"--l0\r\n".to_vec();
        for i in 1..n {
            v.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=l{i}\r\n\r\n--l{i}\r\n")
                    .as_bytes(),
            );
        }
        Bytes::from(v)
    };
    let o = check(
        "nesting past the limit",
        &deep(1000),
        &deep(100),
        b"l0",
        cfg(),
        peak_limit(&cfg()),
    );
    assert_eq!(o.result, Err(ErrorKind::NestingTooDeep));
    let prefix = |_| {
        Bytes::from_static(b"--boundary\r\nContent-Type: multipart/mixed; boundary=bound\r\n\r\n--bound--\r\n--boundary--")
    };
    let o = check(
        "nested prefix of its parent",
        &prefix(0),
        &prefix(0),
        b"boundary",
        cfg(),
        peak_limit(&cfg()),
    );
    assert_eq!(o.result, Err(ErrorKind::NestedBoundaryConflict));
}

#[test]
fn embedded_content_length_attacks() {
    let part = |cl: &str| {
        Bytes::from(format!("--b\r\nContent-Type: application/http\r\n\r\nPOST /x HTTP/1.1\r\nContent-Length: {cl}\r\n\r\nshort body\r\n--b--").into_bytes())
    };
    for (cl, want) in [
        ("-1", ErrorKind::InvalidContentLength),
        ("184467440737095516160", ErrorKind::InvalidContentLength),
        ("1e3", ErrorKind::InvalidContentLength),
    ] {
        let o = check(
            &format!("Content-Length {cl}"),
            &part(cl),
            &part(cl),
            b"b",
            cfg(),
            peak_limit(&cfg()),
        );
        assert_eq!(o.result, Err(want));
    }
    // Larger than the part: the framing wins, the disagreement is reported (strict refuses).
    let o = check(
        "Content-Length larger than the part",
        &part("1000000"),
        &part("1000000"),
        b"b",
        cfg(),
        peak_limit(&cfg()),
    );
    assert_eq!(o.result, Ok((1, 10)));
    let o = check(
        "Content-Length larger, strict",
        &part("1000000"),
        &part("1000000"),
        b"b",
        Config::strict(),
        peak_limit(&cfg()),
    );
    assert_eq!(o.result, Err(ErrorKind::ContentLengthMismatch));
    // A part-level length that would jump over a real delimiter is never used for framing.
    let smuggle = |_| {
        Bytes::from_static(b"--b\r\nContent-Length: 40\r\n\r\nfirst\r\n--b\r\n\r\nsecond\r\n--b--")
    };
    let o = check(
        "part Content-Length across a delimiter",
        &smuggle(0),
        &smuggle(0),
        b"b",
        cfg(),
        peak_limit(&cfg()),
    );
    assert_eq!(o.result, Ok((2, 11)));
}

#[test]
fn encoder_refuses_injection_and_bad_boundaries() {
    use batchpart::encoder::{EncodeErrorKind, Encoder};
    let mut out = Vec::new();
    let mut e = Encoder::new(b"b").unwrap();
    let injected = e.part(
        [("X-A", "v\r\nContent-Type: multipart/mixed; boundary=evil")],
        &mut out,
    );
    assert_eq!(
        injected.unwrap_err().kind(),
        EncodeErrorKind::InvalidHeaderValue
    );
    assert!(out.is_empty());
    assert_eq!(
        Encoder::new(&[b'a'; 71]).unwrap_err().kind(),
        EncodeErrorKind::InvalidBoundary
    );
    assert_eq!(
        Encoder::new(&[b'a'; 4000]).unwrap_err().kind(),
        EncodeErrorKind::InvalidBoundary
    );
}

#[test]
fn limits_hold_across_chunk_edges() {
    // ASP.NET Core #67838 reset a header limit on every read. Here a 16 KiB limit fires at the
    // same offset however the block is chunked.
    let body = Bytes::from(
        [
            b"--b\r\nX: ".to_vec(),
            vec![b'a'; 40_000],
            b"\r\n\r\n--b--".to_vec(),
        ]
        .concat(),
    );
    let mut offsets = Vec::new();
    for chunk in [1, 7, 4096, 1 << 20] {
        let chunks = (0..body.len())
            .step_by(chunk)
            .map(|i| Ok::<_, std::convert::Infallible>(body.slice(i..(i + chunk).min(body.len()))));
        let mut s =
            PartStream::new(batchpart::stream::iter(chunks.collect::<Vec<_>>()), b"b").unwrap();
        while let Some(ev) = block_on_next(&mut s) {
            if let Err(StreamError::Decode(e)) = ev {
                assert_eq!(e.kind(), ErrorKind::HeaderTooLarge);
                offsets.push(e.offset());
            }
        }
    }
    assert_eq!(offsets, vec![5 + 16 * 1024; 4]);
}

/// Makes a body of about the given size.
type Shape<'a> = dyn Fn(usize) -> Vec<u8> + 'a;

#[test]
fn boundaries_of_one_byte_or_one_period_over_bodies_of_the_same() {
    // A boundary made of one repeated byte, or of a short period (`abab…`), over a body made
    // of the same bytes: a search for the bare boundary matches at nearly every position
    // and checks what stands before each match, costing the boundary's length per byte.
    // The search for `LF -- boundary` never matches twice in overlapping places.
    let boundaries: Vec<Vec<u8>> = vec![
        b"a".to_vec(),
        b"a".repeat(10),
        b"a".repeat(70),
        b"ab".repeat(5),
        b"ab".repeat(35),
        [b"abc".repeat(23), b"a".to_vec()].concat(),
    ];
    for b in &boundaries {
        let wrap = |body: &[u8]| {
            let mut v = [b"--".as_slice(), b, b"\r\n\r\n"].concat();
            v.extend_from_slice(body);
            v.extend_from_slice(&[b"\r\n--".as_slice(), b, b"--"].concat());
            Bytes::from(v)
        };
        let plain = |n: usize| b.iter().copied().cycle().take(n).collect::<Vec<u8>>();
        // Bare-LF delimiters: content in strict mode, each one a full candidate.
        let lf_delims = |n: usize| [b"\n--".as_slice(), b].concat().repeat(n / (b.len() + 3));
        // CRLF near misses: the delimiter with its last byte changed, back to back.
        let near = |n: usize| {
            let mut d = [b"\r\n--".as_slice(), b].concat();
            *d.last_mut().unwrap() = b'x';
            d.repeat(n / d.len())
        };
        let name = String::from_utf8_lossy(&b[..b.len().min(12)]).into_owned();
        let shapes: [(&str, &Shape<'_>, Config); 4] = [
            ("run of the boundary's bytes", &plain, cfg()),
            (
                "run of the boundary's bytes, strict",
                &plain,
                Config::strict(),
            ),
            ("bare-LF delimiters, strict", &lf_delims, Config::strict()),
            ("CRLF near misses", &near, cfg()),
        ];
        for (shape, make, c) in shapes {
            let label = format!("{shape} ({name}…, {} B boundary)", b.len());
            let o = check(
                &label,
                &wrap(&make(2 * MIB)),
                &wrap(&make(64 * 1024)),
                b,
                c,
                peak_limit(&c),
            );
            assert!(
                matches!(o.result, Ok((1, n)) if n > MIB as u64),
                "{label}: {:?}",
                o.result
            );
            assert!(
                o.work_ratio() <= 3.0,
                "{label}: {:.2} bytes examined per byte",
                o.work_ratio()
            );
        }
    }
}

/// Line ends everywhere hand the search over to the vector searcher, in every chunking: the
/// near misses differ from the delimiter in a middle byte, so the searcher's first-and-last
/// byte test passes at each and the compare decides. Work stays linear and nothing is lost.
#[test]
fn dense_line_ends_use_the_vector_searcher() {
    let b = [b"x".repeat(34), b"-".to_vec(), b"y".repeat(35)].concat();
    let mut miss = [b"\r\n--".as_slice(), &b].concat();
    miss[40] = b'?';
    let mut v = [b"--".as_slice(), &b, b"\r\n\r\n"].concat();
    let body_len = miss.len() * 20_000;
    v.extend_from_slice(&miss.repeat(20_000));
    v.extend_from_slice(&[b"\r\n--".as_slice(), &b, b"--"].concat());
    let input = Bytes::from(v);
    for chunk in [input.len(), 64 * 1024, 1024, 100] {
        for c in [cfg(), Config::strict()] {
            let chunks = (0..input.len()).step_by(chunk).map({
                let input = input.clone();
                move |i| {
                    Ok::<_, std::convert::Infallible>(input.slice(i..(i + chunk).min(input.len())))
                }
            });
            let mut s = PartStream::with_config(batchpart::stream::iter(chunks), &b, c).unwrap();
            let mut body = 0;
            while let Some(ev) = block_on_next(&mut s) {
                if let PartEvent::Body(x) = ev.unwrap() {
                    body += x.len();
                }
            }
            let st = s.stats();
            assert_eq!(body, body_len, "chunk {chunk}");
            let ratio = st.bytes_examined as f64 / input.len() as f64;
            assert!(
                ratio <= 3.0,
                "chunk {chunk}: {ratio:.2} bytes examined per byte"
            );
            // A 100-byte chunk holds too few line ends to hand over.
            if chunk >= 1024 && cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
                assert!(st.packed_searches > 0, "chunk {chunk}: {st:?}");
            }
        }
    }
}
