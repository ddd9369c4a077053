//! The Stream layer: same events as the core under every chunk size, bodies that share the
//! caller's chunks, and errors that come through unchanged.
#![cfg(feature = "stream")]
mod common;
use batchpart::stream::{PartEvent, PartStream, StreamError};
use batchpart::{Config, ErrorKind};
use bytes::Bytes;
use common::stream::*;
use common::*;

#[test]
fn stream_matches_core_for_every_fixture_and_chunk_size() {
    for (name, b) in FIXTURES {
        let input = fixture(name);
        let core = decode(&input, b).unwrap();
        for n in [1, 2, 3, 7, 64, 65536] {
            assert_eq!(
                stream_events(&input, b, Config::default(), n).unwrap(),
                core,
                "{name} chunk {n}"
            );
        }
    }
}

#[test]
fn stream_reports_decoder_errors_with_offsets() {
    for n in [1, 2, 3, 7, 64] {
        let e = stream_events(
            b"--b\r\n\r\nfine\r\n--b\r\nbad header\r\n\r\n--b--",
            b"b",
            Config::default(),
            n,
        )
        .unwrap_err();
        assert_eq!((e.kind(), e.offset()), (ErrorKind::InvalidHeader, 18));
        let e = stream_events(b"--b\r\n\r\nbody", b"b", Config::default(), n).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MissingCloseDelimiter);
    }
}

#[test]
fn inner_errors_come_through_unchanged() {
    #[derive(Debug, PartialEq)]
    struct Boom(u32);
    let chunks = vec![Ok(Bytes::from_static(b"--b\r\n\r\nab")), Err(Boom(7))];
    let mut s = PartStream::new(batchpart::stream::iter(chunks), b"b").unwrap();
    let mut seen = Vec::new();
    while let Some(ev) = block_on_next(&mut s) {
        match ev {
            Ok(e) => seen.push(e),
            Err(StreamError::Source(b)) => {
                assert_eq!(b, Boom(7));
                assert!(block_on_next(&mut s).is_none());
                return;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    panic!("no source error: {seen:?}");
}

/// Every body `Bytes` points into one of the input chunks, or is a held-back piece of the
/// delimiter: `CRLF--` or a prefix of the boundary (the stream's own copies).
#[test]
fn bodies_share_the_callers_chunks() {
    let boundary = b"zero-copy-boundary";
    let mut input = Vec::new();
    for i in 0..50 {
        input.extend_from_slice(
            b"--zero-copy-boundary\r\nContent-Type: application/octet-stream\r\n\r\n",
        );
        // Bodies full of near misses, so held-back bytes do turn out to be body.
        for _ in 0..i {
            input.extend_from_slice(b"payload\r\n--zero-copy-boundar\r\n--zero\r\n");
        }
        input.extend_from_slice(b"\r\n");
    }
    input.extend_from_slice(b"--zero-copy-boundary--\r\n");
    let core = decode(&input, boundary).unwrap();
    for n in [1, 5, 17, 64, 1000, 1 << 20] {
        let chunks = chunks_of(&input, n);
        let ranges: Vec<(usize, usize)> = chunks
            .iter()
            .map(|c| (c.as_ptr() as usize, c.as_ptr() as usize + c.len()))
            .collect();
        let raw = stream_raw(chunks.clone(), boundary, Config::default()).unwrap();
        let (mut shared, mut held) = (0usize, 0usize);
        let mut evs = Vec::new();
        for ev in raw {
            if let PartEvent::Body(b) = &ev {
                let (s, e) = (b.as_ptr() as usize, b.as_ptr() as usize + b.len());
                if ranges.iter().any(|&(cs, ce)| s >= cs && e <= ce) {
                    shared += b.len();
                } else {
                    let delim = b"\r\n--zero-copy-boundary";
                    assert!(
                        b.len() < delim.len() && delim.windows(b.len()).any(|w| w == &b[..]),
                        "copied body {b:?}"
                    );
                    held += b.len();
                }
            }
            push(&mut evs, own_stream(ev));
        }
        assert_eq!(evs, core, "chunk {n}");
        // Held-back bytes are bounded by one delimiter per chunk edge.
        assert!(held <= chunks.len() * 22, "chunk {n}: {held} held bytes");
        assert!(shared > 0);
        if n >= 1 << 20 {
            assert_eq!(held, 0);
        }
    }
}

#[test]
fn decode_bytes_is_the_whole_buffer_api() {
    let input = Bytes::from(fixture("odata_spec_request.txt"));
    let b = b"batch_36522ad7-fc75-4b56-8c71-56071383e77b";
    let evs = batchpart::stream::decode_bytes(&input, b).unwrap();
    let mut owned = Vec::new();
    for ev in evs.iter().cloned() {
        push(&mut owned, own_stream(ev));
    }
    assert_eq!(owned, decode(&input, b).unwrap());
    let (s, e) = (
        input.as_ptr() as usize,
        input.as_ptr() as usize + input.len(),
    );
    for ev in evs {
        if let PartEvent::Body(b) = ev {
            assert!(b.as_ptr() as usize >= s && b.as_ptr() as usize + b.len() <= e);
        }
    }
}

#[test]
fn the_content_type_is_read_in_the_configurations_mode() {
    use batchpart::{Config, Decoder, ErrorKind};
    let google = b"multipart/mixed; boundary=batch_pK7JBAk73-E=_AA5eFwv4m2Q=";
    assert!(Decoder::from_content_type(google, Config::default()).is_ok());
    let e = Decoder::from_content_type(google, Config::strict()).unwrap_err();
    assert_eq!((e.kind(), e.offset()), (ErrorKind::InvalidContentType, 0));
    let chunks = || batchpart::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::new())]);
    assert!(
        batchpart::stream::PartStream::from_content_type(chunks(), google, Config::default())
            .is_ok()
    );
    // Errors in the value are at offset 0, as the Decoder's are.
    let e = batchpart::stream::PartStream::from_content_type(
        chunks(),
        b"multipart/mixed; x",
        Config::default(),
    )
    .unwrap_err();
    assert_eq!((e.kind(), e.offset()), (ErrorKind::InvalidContentType, 0));
    let e = batchpart::stream::PartStream::from_content_type(chunks(), google, Config::strict())
        .unwrap_err();
    assert_eq!((e.kind(), e.offset()), (ErrorKind::InvalidContentType, 0));
}
