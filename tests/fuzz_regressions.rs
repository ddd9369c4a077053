//! Replays, on the stable toolchain, every checked-in fuzz input (`fuzz/regressions/<target>/`)
//! and a seed corpus built from the fixtures, through the same checks the fuzz targets run.
#![cfg(feature = "stream")]
mod common;
mod fuzz_checks;

use std::path::Path;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    // Without the folder only the seeds would be replayed, and the test would pass by doing
    // nothing. A target with no findings has no folder of its own (git keeps no empty ones).
    assert!(
        root.is_dir(),
        "{}: the fuzz regression inputs are missing",
        root.display()
    );
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir(root.join(target)) {
        for e in rd {
            let p = e.unwrap().path();
            v.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    v.sort();
    v
}

/// Fixture bodies in each target's input layout. The layout carries at most 8 bytes of
/// boundary, so a longer one is renamed in the body too (as `fuzz/make_corpus.py` does):
/// otherwise the seed would fail at its first delimiter and exercise nothing past it.
fn seeds() -> Vec<Vec<u8>> {
    common::FIXTURES
        .iter()
        .map(|(name, b)| {
            let short = &b[..b.len().min(8)];
            let body = common::fixture(name);
            let body = if short.len() < b.len() {
                replace(&body, b, short)
            } else {
                body
            };
            fuzz_checks::encode_layout(false, short, &[7, 1, 64], &body)
        })
        .collect()
}

fn replace(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut rest = hay;
    while let Some(i) = rest.windows(from.len()).position(|w| w == from) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(to);
        rest = &rest[i + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

#[test]
fn the_seeds_decode_past_their_first_delimiter() {
    // Every fixture seed is a body the decoder reads to the end, or at least to a second part:
    // a seed cut at its boundary would replay nothing.
    for (seed, (name, _)) in seeds().iter().zip(common::FIXTURES) {
        let (_, boundary, _, body) = fuzz_checks::layout(seed).unwrap();
        let events = common::decode(body, boundary);
        let parts = match &events {
            Ok(evs) => evs
                .iter()
                .filter(|e| format!("{e:?}").starts_with("PartStart"))
                .count(),
            Err(e) => panic!("{name}: {e:?}"),
        };
        assert!(parts >= 1, "{name}: no part read");
    }
}

#[test]
fn decoder_regressions() {
    for (name, data) in inputs("decoder") {
        eprintln!("replaying {name}");
        fuzz_checks::decoder(&data);
    }
    for s in seeds() {
        fuzz_checks::decoder(&s);
    }
}

#[test]
fn stream_regressions() {
    for (_, data) in inputs("stream") {
        fuzz_checks::stream(&data);
    }
    for s in seeds() {
        fuzz_checks::stream(&s);
    }
}

#[test]
fn http_head_regressions() {
    for (_, data) in inputs("http_head") {
        fuzz_checks::http_head(&data);
    }
    fuzz_checks::http_head(b"GET /service/Customers('ALFKI')\r\nHost: host\r\n\r\n");
    fuzz_checks::http_head(b"HTTP/1.1 204\r\n\r\n");
}

#[test]
fn content_type_regressions() {
    for (_, data) in inputs("content_type") {
        fuzz_checks::content_type(&data);
    }
    fuzz_checks::content_type(b"multipart/mixed; boundary=\"\\\\\\\\\\");
}

#[test]
fn differential_regressions() {
    for (_, data) in inputs("differential") {
        fuzz_checks::differential(&data);
    }
    let mut d = vec![b"simple boundary".len() as u8 - 1];
    d.extend_from_slice(b"simple");
    d.extend_from_slice(b"--simple\r\nX: 1\r\n\r\nbody\r\n--simple--");
    fuzz_checks::differential(&d);
}

#[test]
fn roundtrip_regressions() {
    use arbitrary::{Arbitrary, Unstructured};
    for (_, data) in inputs("roundtrip") {
        let mut u = Unstructured::new(&data);
        if let Ok((tree, sizes)) = <(fuzz_checks::Tree, Vec<u8>)>::arbitrary(&mut u) {
            let sizes: Vec<usize> = sizes.into_iter().map(|s| usize::from(s).max(1)).collect();
            fuzz_checks::roundtrip(&tree, &sizes);
        }
    }
}

#[cfg(all(feature = "batch", feature = "json"))]
#[test]
fn batch_regressions() {
    for (_, data) in inputs("batch") {
        fuzz_checks::batch(&data);
    }
    for (name, b) in common::FIXTURES {
        let body = common::fixture(name);
        let renamed = String::from_utf8_lossy(&body).replace(std::str::from_utf8(b).unwrap(), "b");
        fuzz_checks::batch(&[&[0u8][..], renamed.as_bytes()].concat());
    }
    for name in ["odata_json_request.json", "odata_json_response.json"] {
        fuzz_checks::batch(&[&[1u8][..], &common::fixture(name)].concat());
    }
}

#[test]
fn differential_ignores_the_decoders_limits() {
    // A flat part with 129 header lines: over the default `max_headers`, which is policy,
    // not a disagreement about how the body reads.
    let mut body = b"--b\r\n".to_vec();
    for i in 0..129 {
        body.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    body.extend_from_slice(b"\r\nx\r\n--b--");
    let input = [&[0u8][..], b"b", &body].concat();
    fuzz_checks::differential(&input);
}

#[cfg(all(feature = "tower", feature = "json"))]
#[test]
fn server_regressions() {
    for (_, data) in inputs("server") {
        fuzz_checks::server(&data);
    }
    // A seed per dialect: a batch that runs, and one that is refused.
    let odata = "--b\r\nContent-Type: application/http\r\n\r\nGET People HTTP/1.1\r\n\r\n\r\n\
        --b\r\nContent-Type: application/http\r\n\r\nPOST raw HTTP/1.1\r\nContent-Type: application/json\r\n\r\nnot json\r\n--b--";
    for (flags, head, body) in [
        (
            0u8,
            "multipart/mixed; boundary=b\nodata.continue-on-error\n4.01\n/s/$batch",
            odata,
        ),
        (0x10, "multipart/mixed; boundary=b\n\n4.0\n/s/$batch", odata),
        (
            0,
            "application/json\ncontinue-on-error\n\n/s/$batch",
            r#"{"requests":[{"id":"1","method":"POST","url":"raw","headers":{"content-type":"application/json"},"body":"x"},{"id":"2","method":"GET","url":"../x"}]}"#,
        ),
        (
            1,
            "application/json\n\n\n/batch",
            r#"{"requests":[{"method":"get","path":"/s/err"},{"method":"get","path":"/s/status/299"}]}"#,
        ),
        (2 | 8, "\n\n\n/s/store/1,2,..", ""),
        (
            2 | 4,
            "application/vnd.ringcentral.multipart+json\n\n\n/s/store/*",
            r#"[{"resourceId":"1","body":{}}]"#,
        ),
    ] {
        let input = [&[flags][..], head.as_bytes(), b"\n", body.as_bytes()].concat();
        fuzz_checks::server(&input);
    }
}
