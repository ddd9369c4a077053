//! The shapes real servers send, and every error with its kind and offset.
mod common;
use batchpart::{Config, Decoder, ErrorKind, Limits};
use common::*;

fn ok(input: &[u8]) -> Vec<Ev> {
    decode_all_ways(input, b"b", Config::default()).unwrap()
}

fn err(input: &[u8], cfg: Config) -> (ErrorKind, u64) {
    let e = decode_all_ways(input, b"b", cfg).unwrap_err();
    (e.kind(), e.offset())
}

fn strict() -> Config {
    Config::strict()
}

#[test]
fn lf_only_everywhere() {
    let evs = ok(b"--b\nContent-Type: text/plain\n\nhello\n--b\n\nworld\n--b--\n");
    assert_eq!(bodies(&evs), vec![b"hello".to_vec(), b"world".to_vec()]);
    // The fields the decoder reads are read whole on LF-only lines: the value runs to the
    // byte before the LF.
    let evs = ok(b"--b\nContent-ID: <ab>\nContent-Length: 12\n\nhello\n--b--\n");
    assert!(
        evs.iter().any(|e| matches!(e, Ev::PartStart { content_id: Some(id), content_length: Some(12), .. } if id == b"ab")),
        "{evs:?}"
    );
    assert_eq!(
        err(b"--b\nA: 1\n\nx\n--b--", strict()).0,
        ErrorKind::BareLineFeed
    );
}

#[test]
fn lf_headers_then_crlf_blank_line() {
    let evs = ok(b"--b\nContent-Type: text/plain\n\r\nhello\r\n--b--");
    assert_eq!(bodies(&evs), vec![b"hello".to_vec()]);
}

#[test]
fn cr_only_lines_are_not_line_ends() {
    // Old-Mac CR-only framing is not accepted: the first delimiter line never ends.
    assert_eq!(
        err(b"--b\rA: 1\r\rx\r--b--\r", Config::default()).0,
        ErrorKind::InvalidDelimiterLine
    );
}

#[test]
fn transport_padding() {
    let evs = ok(b"--b  \t\r\n\r\none\r\n--b\t\r\n\r\ntwo\r\n--b--\t \r\n");
    assert_eq!(bodies(&evs), vec![b"one".to_vec(), b"two".to_vec()]);
    let evs = decode_all_ways(b"--b  \r\n\r\none\r\n--b-- \r\n", b"b", strict()).unwrap();
    assert_eq!(bodies(&evs), vec![b"one".to_vec()]);
}

#[test]
fn near_miss_lines_stay_in_the_body() {
    let body = b"x\r\n--\r\n-bb\r\n--a\r\n\r\n--\n--b-\n--b\r\n\n-\r--bb";
    let mut input = b"--bb\r\n\r\n".to_vec();
    input.extend_from_slice(body);
    input.extend_from_slice(b"\r\n--bb--");
    let evs = decode_all_ways(&input, b"bb", Config::default()).unwrap();
    assert_eq!(bodies(&evs), vec![body.to_vec()]);
}

#[test]
fn junk_after_a_boundary_is_an_error_not_a_body() {
    assert_eq!(
        err(b"--b\r\n\r\nx\r\n--bX\r\n--b--", Config::default()),
        (ErrorKind::InvalidDelimiterLine, 13)
    );
    assert_eq!(
        err(b"--b\r\n\r\nx\r\n--b -\r\n--b--", Config::default()).0,
        ErrorKind::InvalidDelimiterLine
    );
}

#[test]
fn quoted_boundary_from_content_type() {
    let ct = b"multipart/mixed; boundary=\"batch_1.2+34:2j)0?\"";
    let mut d = Decoder::from_content_type(ct, Config::default()).unwrap();
    let input = b"--batch_1.2+34:2j)0?\r\n\r\nx\r\n--batch_1.2+34:2j)0?--";
    let evs: Vec<_> = d.feed(input, true).map(|e| own(e.unwrap())).collect();
    assert_eq!(bodies(&evs), vec![b"x".to_vec()]);
}

#[test]
fn bom_is_skipped() {
    let evs = ok(b"\xEF\xBB\xBF--b\r\n\r\nx\r\n--b--");
    assert_eq!(
        evs[0],
        Ev::PartStart {
            index: 0,
            depth: 1,
            content_length: None,
            content_type: None,
            headers: vec![],
            content_id: None
        }
    );
    // A lone BOM prefix is preamble.
    let evs = ok(b"\xEF\xBBx\r\n--b\r\n\r\nx\r\n--b--");
    assert_eq!(evs[0], Ev::Preamble(b"\xEF\xBBx".to_vec()));
    // ...and a delimiter right after it is not at the start of the body (found by the
    // differential fuzz target): it is preamble too.
    let evs = ok(b"\xEF--b\r\n--b\r\n\r\nx\r\n--b--");
    assert_eq!(evs[0], Ev::Preamble(b"\xEF--b".to_vec()));
    assert_eq!(bodies(&evs), vec![b"x".to_vec()]);
}

#[test]
fn folded_headers_are_unfolded() {
    let evs = ok(b"--b\r\nContent-ID:\r\n <8f2c@host>\r\nContent-Type: text/plain;\r\n\tcharset=utf-8\r\n\r\nx\r\n--b--");
    match &evs[0] {
        Ev::PartStart {
            headers,
            content_id,
            content_type,
            ..
        } => {
            let params = vec![(b"charset".to_vec(), b"utf-8".to_vec())];
            assert_eq!(
                content_type.clone(),
                Some(Ok((b"text".to_vec(), b"plain".to_vec(), params)))
            );
            assert_eq!(content_id.as_deref(), Some(&b"8f2c@host"[..]));
            assert_eq!(
                headers[1],
                (
                    b"Content-Type".to_vec(),
                    b"text/plain;\tcharset=utf-8".to_vec()
                )
            );
        }
        e => panic!("{e:?}"),
    }
    // A first header line that starts with white space is refused (dicer CVE-2022-24434).
    assert_eq!(
        err(b"--b\r\n X: 1\r\n\r\nx\r\n--b--", Config::default()),
        (ErrorKind::InvalidHeader, 5)
    );
}

#[test]
fn preamble_epilogue_and_empty_forms() {
    let evs = ok(b"--b\r\n\r\nx\r\n--b--\r\nthe end\r\n");
    assert_eq!(evs[evs.len() - 2], Ev::Epilogue(b"the end\r\n".to_vec()));
    // A part with no headers and an empty body: the blank line's CRLF serves the delimiter too.
    let evs = ok(b"--b\r\n\r\n--b\r\n\r\n\r\n--b--");
    assert_eq!(bodies(&evs), vec![b"".to_vec(), b"".to_vec()]);
    // No part at all.
    let evs = ok(b"--b--");
    assert_eq!(evs, vec![Ev::End]);
    let evs = ok(b"--b--\r\n");
    assert_eq!(evs, vec![Ev::End]);
    // The close delimiter of a specification example, `--b---`.
    let evs = ok(b"--b\r\n\r\nx\r\n--b---\r\n");
    assert_eq!(evs[evs.len() - 2], Ev::Epilogue(b"-\r\n".to_vec()));
    assert_eq!(
        err(b"--b\r\n\r\nx\r\n--b---", strict()).0,
        ErrorKind::InvalidDelimiterLine
    );
}

#[test]
fn one_crlf_stays_in_the_body() {
    let evs = decode_all_ways(b"--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n--cs\r\n\r\n{...}\r\n\r\n--cs--\r\n--b--", b"b", Config::default()).unwrap();
    assert_eq!(bodies(&evs), vec![b"{...}\r\n".to_vec()]);
}

#[test]
fn missing_close_delimiter() {
    assert_eq!(
        err(b"--b\r\n\r\nbody", Config::default()),
        (ErrorKind::MissingCloseDelimiter, 11)
    );
    assert_eq!(
        err(b"--b\r\n\r\nbody\r\n--b", Config::default()).0,
        ErrorKind::MissingCloseDelimiter
    );
    assert_eq!(
        err(b"no delimiter at all", Config::default()).0,
        ErrorKind::MissingCloseDelimiter
    );
    assert_eq!(
        err(b"", Config::default()).0,
        ErrorKind::MissingCloseDelimiter
    );
    assert_eq!(
        err(b"--b\r\nA: 1\r\n", Config::default()).0,
        ErrorKind::IncompleteHeader
    );
    // A nested multipart that never closes.
    assert_eq!(
        err(
            b"--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n\r\nx\r\n--b--",
            Config::default()
        )
        .0,
        ErrorKind::MissingCloseDelimiter
    );
}

#[test]
fn nested_boundaries() {
    let input = b"--b\r\nContent-Type: multipart/mixed; boundary=b2\r\n\r\npre\r\n--b2\r\n\r\nin\r\n--b2--\r\nepi\r\n--b--";
    let evs = ok(input);
    assert_eq!(evs[1], Ev::MultipartStart(b"b2".to_vec()));
    assert_eq!(evs[2], Ev::Preamble(b"pre".to_vec()));
    assert!(evs.contains(&Ev::Epilogue(b"epi".to_vec())));
    // A nested boundary equal to, or a prefix of, an enclosing one: reported at the offset of
    // the Content-Type value that names it.
    let prefix = b"--bb\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b--\r\n--bb--";
    let e = decode_all_ways(prefix, b"bb", Config::default()).unwrap_err();
    assert_eq!(
        (e.kind(), e.offset()),
        (ErrorKind::NestedBoundaryConflict, 20)
    );
    let equal = b"--bb\r\nContent-Type: multipart/mixed; boundary=bb\r\n\r\n--bb--\r\n--bb--";
    assert_eq!(
        decode_all_ways(equal, b"bb", Config::default())
            .unwrap_err()
            .kind(),
        ErrorKind::NestedBoundaryConflict
    );
    // A nested boundary that merely starts with the enclosing one is fine.
    let longer = b"--b\r\nContent-Type: multipart/mixed; boundary=bb\r\n\r\n--bb\r\n\r\nx\r\n--bb--\r\n--b--";
    assert_eq!(bodies(&ok(longer)), vec![b"x".to_vec()]);
}

#[test]
fn nesting_limit() {
    let mut input = Vec::new();
    let depth = 5;
    input.extend_from_slice(b"--l0\r\n");
    for i in 1..depth {
        input.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=l{i}\r\n\r\n--l{i}\r\n").as_bytes(),
        );
    }
    input.extend_from_slice(b"\r\nleaf");
    for i in (0..depth).rev() {
        input.extend_from_slice(format!("\r\n--l{i}--").as_bytes());
    }
    let cfg = |d| Config::default().with_limits(Limits::default().with_max_depth(d));
    let evs = decode_all_ways(&input, b"l0", cfg(5)).unwrap();
    assert_eq!(bodies(&evs), vec![b"leaf".to_vec()]);
    let e = decode_all_ways(&input, b"l0", cfg(4)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NestingTooDeep);
}

#[test]
fn limits_fire_and_name_themselves() {
    let lim = |f: fn(&mut Limits)| {
        let mut l = Limits::default();
        f(&mut l);
        Config::default().with_limits(l)
    };
    let three = b"--b\r\n\r\n1\r\n--b\r\n\r\n2\r\n--b\r\n\r\n3\r\n--b--";
    assert_eq!(
        err(three, lim(|l| l.max_parts = 2)).0,
        ErrorKind::TooManyParts
    );
    assert!(decode_all_ways(three, b"b", lim(|l| l.max_parts = 3)).is_ok());

    let hdrs = b"--b\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\nx\r\n--b--";
    assert_eq!(
        err(hdrs, lim(|l| l.max_headers = 2)),
        (ErrorKind::TooManyHeaders, 17)
    );
    assert_eq!(
        err(hdrs, lim(|l| l.max_header_bytes = 12)).0,
        ErrorKind::HeaderTooLarge
    );
    assert!(decode_all_ways(hdrs, b"b", lim(|l| l.max_header_bytes = 20)).is_ok());
    // A block cut by the end of the input: at exactly the limit it is incomplete (the end
    // of the input, byte 21), one byte more is too large (at the block's start, 5, plus 16).
    let cut = b"--b\r\nX-Long: 12345678";
    assert_eq!(
        err(cut, lim(|l| l.max_header_bytes = 16)),
        (ErrorKind::IncompleteHeader, 21)
    );
    assert_eq!(
        err(cut, lim(|l| l.max_header_bytes = 15)),
        (ErrorKind::HeaderTooLarge, 20)
    );

    let pre = b"0123456789\r\n--b--";
    assert_eq!(
        err(pre, lim(|l| l.max_preamble_bytes = 5)),
        (ErrorKind::PreambleTooLarge, 5)
    );
    assert!(decode_all_ways(pre, b"b", lim(|l| l.max_preamble_bytes = 10)).is_ok());

    let pad = b"--b          \r\n\r\nx\r\n--b--";
    assert_eq!(
        err(pad, lim(|l| l.max_header_bytes = 4)).0,
        ErrorKind::HeaderTooLarge
    );
}

#[test]
fn invalid_part_headers() {
    assert_eq!(
        err(b"--b\r\nNo colon here\r\n\r\nx\r\n--b--", Config::default()),
        (ErrorKind::InvalidHeader, 5)
    );
    // A Content-Type that cannot frame anything is parsed when asked for: the decoder reads
    // on, and the part's `content_type()` is the error, at the value's offset. Strict mode
    // and a type that frames (multipart, application/http) are decoding errors as before.
    let bad = b"--b\r\nContent-Type: \"\r\n\r\nx\r\n--b--";
    let mut dec = Decoder::new(b"b").unwrap();
    let asked: Vec<_> = dec
        .feed(bad, true)
        .filter_map(|e| match e.unwrap() {
            batchpart::Event::PartStart(p) => Some(
                p.content_type()
                    .map(|r| r.map_err(|e| (e.kind(), e.offset()))),
            ),
            _ => None,
        })
        .collect();
    assert_eq!(asked, [Some(Err((ErrorKind::InvalidContentType, 19)))]);
    assert_eq!(err(bad, strict()), (ErrorKind::InvalidContentType, 19));
    for framing in [
        &b"--b\r\nContent-Type: multipart/mixed; boundary=\"x\r\n\r\nx\r\n--b--"[..],
        b"--b\r\nContent-Type: Application/HTTP; msgtype=\"\r\n\r\nx\r\n--b--",
    ] {
        assert_eq!(
            err(framing, Config::default()),
            (ErrorKind::InvalidContentType, 19)
        );
    }
    assert_eq!(
        err(
            b"--b\r\nContent-Length: 10abc\r\n\r\nx\r\n--b--",
            Config::default()
        )
        .0,
        ErrorKind::InvalidContentLength
    );
    assert_eq!(
        err(
            b"--b\r\nContent-Length: -1\r\n\r\nx\r\n--b--",
            Config::default()
        )
        .0,
        ErrorKind::InvalidContentLength
    );
}

#[test]
fn errors_are_sticky() {
    let mut d = Decoder::new(b"b").unwrap();
    let first: Vec<_> = d.feed(b"--bX", false).collect();
    assert_eq!(
        first.last().unwrap().as_ref().unwrap_err().kind(),
        ErrorKind::InvalidDelimiterLine
    );
    let again: Vec<_> = d.feed(b"\r\n\r\nok\r\n--b--", true).collect();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].as_ref().unwrap_err().offset(), 3);
}

#[test]
fn offsets_are_absolute_across_chunks() {
    let input = b"--b\r\n\r\nfine\r\n--b\r\nbad header\r\n\r\n--b--";
    for chunks in [&[1usize][..], &[3], &[20, 100]] {
        let e = decode_with(input, b"b", Config::default(), chunks).unwrap_err();
        assert_eq!((e.kind(), e.offset()), (ErrorKind::InvalidHeader, 18));
    }
}

#[test]
fn error_messages_name_kind_and_offset() {
    let e = decode(b"--b\r\n\r\nbody", b"b").unwrap_err();
    assert_eq!(e.to_string(), "missing close delimiter at byte 11");
}

mod http_parts {
    use super::*;

    fn http(body: &[u8]) -> Vec<u8> {
        let mut v = b"--b\r\nContent-Type: application/http\r\n\r\n".to_vec();
        v.extend_from_slice(body);
        v.extend_from_slice(b"\r\n--b--");
        v
    }

    #[test]
    fn content_length_smaller_cuts_trailing_blank_lines() {
        let evs = ok(&http(
            b"POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi\r\n\r\n",
        ));
        assert_eq!(bodies(&evs), vec![b"hi".to_vec()]);
        let (k, off) = err(
            &http(b"POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi there"),
            Config::default(),
        );
        assert_eq!((k, off), (ErrorKind::ContentLengthMismatch, 81));
    }

    #[test]
    fn content_length_larger_is_reported_or_refused() {
        let evs = ok(&http(
            b"POST /x HTTP/1.1\r\nContent-Length: 100000\r\n\r\nshort",
        ));
        assert_eq!(bodies(&evs), vec![b"short".to_vec()]);
        assert!(evs.iter().any(|e| matches!(
            e,
            Ev::PartEnd {
                http_mismatch: Some((100000, 5)),
                ..
            }
        )));
        let mut strict_input = http(b"POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort");
        strict_input.extend_from_slice(b"\r\n");
        assert_eq!(
            err(&strict_input, strict()).0,
            ErrorKind::ContentLengthMismatch
        );
    }

    #[test]
    fn bad_content_lengths() {
        for v in ["-1", "10abc", "99999999999999999999999", ""] {
            let input =
                http(format!("POST /x HTTP/1.1\r\nContent-Length: {v}\r\n\r\nx").as_bytes());
            assert_eq!(
                err(&input, Config::default()).0,
                ErrorKind::InvalidContentLength,
                "{v}"
            );
        }
    }

    #[test]
    fn head_running_into_the_delimiter() {
        // No blank line at all: the last header line's CRLF is the delimiter's.
        let evs =
            ok(b"--b\r\nContent-Type: application/http\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n--b--");
        assert_eq!(bodies(&evs), vec![b"".to_vec()]);
        // Strict mode wants the head's own blank line before the delimiter's CRLF.
        let spec =
            b"--b\r\nContent-Type: application/http\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n--b--";
        assert_eq!(err(spec, strict()).0, ErrorKind::HeadWithoutBlankLine);
        let good = b"--b\r\nContent-Type: application/http\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n\r\n--b--";
        assert!(decode_all_ways(good, b"b", strict()).is_ok());
    }

    #[test]
    fn msgtype_and_sniffing() {
        let evs = ok(b"--b\r\nContent-Type: application/http; msgtype=response\r\n\r\nHTTP/1.1 404 Not Found\r\n\r\n\r\n--b--");
        assert!(evs
            .iter()
            .any(|e| matches!(e, Ev::Response { status: 404, .. })));
        let evs = ok(b"--b\r\nContent-Type: message/http\r\n\r\nHTTP/1.0 200\r\n\r\n\r\n--b--");
        assert!(evs
            .iter()
            .any(|e| matches!(e, Ev::Response { status: 200, .. })));
        // msgtype=response forces the status reading, and any other value sniffs.
        let e = err(b"--b\r\nContent-Type: application/http; msgtype=Response\r\n\r\nGET / HTTP/1.1\r\n\r\n\r\n--b--", Config::default());
        assert_eq!(e.0, ErrorKind::InvalidStatusLine);
        let evs = ok(b"--b\r\nContent-Type: application/http; msgtype=other\r\n\r\nGET / HTTP/1.1\r\n\r\n\r\n--b--");
        assert!(
            evs.iter().any(|e| matches!(e, Ev::Request { .. })),
            "{evs:?}"
        );
        // msgtype=request forces the request reading.
        let e = err(b"--b\r\nContent-Type: application/http;msgtype=request\r\n\r\nHTTP/1.1 200 OK\r\n\r\n\r\n--b--", Config::default());
        assert_eq!(e.0, ErrorKind::InvalidRequestLine);
        assert_eq!(
            err(
                b"--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 2x0 OK\r\n\r\n\r\n--b--",
                Config::default()
            )
            .0,
            ErrorKind::InvalidStatusLine
        );
        // An http part with no message at all.
        assert_eq!(
            err(
                b"--b\r\nContent-Type: application/http\r\n\r\n--b--",
                Config::default()
            )
            .0,
            ErrorKind::InvalidRequestLine
        );
    }

    /// `application/http` with no parameter, told by one compare in any case, opens the
    /// message as the parsed type does, in either mode and with either start line, and
    /// not in opaque mode; with a parameter it is parsed, and `msgtype` read.
    #[test]
    fn plain_application_http_in_any_case_and_mode() {
        for ty in ["application/http", "APPLICATION/HTTP", "Application/Http"] {
            let req = format!("--b\r\nContent-Type: {ty}\r\n\r\nGET /x HTTP/1.1\r\n\r\n\r\n--b--");
            let res = format!("--b\r\nContent-Type: {ty}\r\n\r\nHTTP/1.1 204 No\r\n\r\n\r\n--b--");
            for cfg in [Config::default(), strict()] {
                let evs = decode_all_ways(req.as_bytes(), b"b", cfg).unwrap();
                assert!(evs.iter().any(|e| matches!(e, Ev::Request { .. })), "{ty}");
                let evs = decode_all_ways(res.as_bytes(), b"b", cfg).unwrap();
                assert!(
                    evs.iter()
                        .any(|e| matches!(e, Ev::Response { status: 204, .. })),
                    "{ty}"
                );
            }
            let evs = decode_all_ways(req.as_bytes(), b"b", Config::default().opaque()).unwrap();
            assert!(
                !evs.iter().any(|e| matches!(e, Ev::Request { .. })),
                "{ty}: opaque"
            );
            assert!(bodies(&evs).concat().starts_with(b"GET /x"), "{ty}: opaque");
        }
        // Not the plain type: parsed, the parameter read (here refusing a status line).
        let e = err(b"--b\r\nContent-Type: APPLICATION/HTTP; msgtype=request\r\n\r\nHTTP/1.1 200 OK\r\n\r\n\r\n--b--", Config::default());
        assert_eq!(e.0, ErrorKind::InvalidRequestLine);
        // A near miss is no http part.
        let evs =
            ok(b"--b\r\nContent-Type: application/httpx\r\n\r\nGET /x HTTP/1.1\r\n\r\n\r\n--b--");
        assert!(!evs.iter().any(|e| matches!(e, Ev::Request { .. })));
    }

    #[test]
    fn content_id_in_both_places() {
        let evs = ok(b"--b\r\nContent-Type: application/http\r\nContent-ID: <mime>\r\n\r\nPOST /x HTTP/1.1\r\nContent-ID: inner\r\n\r\n\r\n--b--");
        assert!(matches!(&evs[0], Ev::PartStart { content_id: Some(c), .. } if c == b"mime"));
        assert!(matches!(&evs[1], Ev::Request { content_id: Some(c), .. } if c == b"inner"));
    }

    #[test]
    fn embedded_header_limits_apply() {
        let cfg = Config::default().with_limits(Limits::default().with_max_headers(1));
        let input = b"--b\r\nContent-Type: application/http\r\n\r\nGET /x HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n\r\n--b--";
        assert_eq!(
            decode_all_ways(input, b"b", cfg).unwrap_err().kind(),
            ErrorKind::TooManyHeaders
        );
    }
}

#[test]
fn lone_cr_after_close_at_end_of_input() {
    // Found by the differential fuzz target: strict mode wants CRLF or nothing after `--b--`.
    assert!(decode_all_ways(b"--b\r\n\r\nx\r\n--b--\r", b"b", Config::default()).is_ok());
    assert_eq!(
        err(b"--b\r\n\r\nx\r\n--b--\r", strict()),
        (ErrorKind::InvalidDelimiterLine, 15)
    );
}

#[test]
fn content_length_repeats() {
    // RFC 9112 §6.3: different values are an error in every mode; the same value repeated is
    // read as one in lenient mode and refused in strict mode. On a part and in an embedded
    // head alike.
    let part = |a: &str, b: &str| {
        format!("--b\r\nContent-Length: {a}\r\nContent-Length: {b}\r\n\r\nxyz\r\n--b--\r\n")
            .into_bytes()
    };
    let head = |a: &str, b: &str| {
        format!(
            "--b\r\nContent-Type: application/http\r\n\r\nPOST /x HTTP/1.1\r\n\
             Content-Length: {a}\r\nContent-Length: {b}\r\n\r\nxyz\r\n--b--\r\n"
        )
        .into_bytes()
    };
    for (make, second_value_at) in [
        (&part as &dyn Fn(&str, &str) -> Vec<u8>, 40),
        (&head as &dyn Fn(&str, &str) -> Vec<u8>, 92),
    ] {
        for cfg in [Config::default(), strict()] {
            let e = decode_all_ways(&make("3", "4"), b"b", cfg).unwrap_err();
            assert_eq!(
                (e.kind(), e.offset()),
                (ErrorKind::ConflictingContentLength, second_value_at)
            );
        }
        assert!(decode_all_ways(&make("3", "3"), b"b", Config::default()).is_ok());
        let e = decode_all_ways(&make("3", "3"), b"b", strict()).unwrap_err();
        assert_eq!(
            (e.kind(), e.offset()),
            (ErrorKind::DuplicateContentLength, second_value_at)
        );
    }
}

#[test]
fn interpretation_can_be_switched_off() {
    let body = b"--b\r\nContent-Type: application/http\r\n\r\nGET /x HTTP/1.1\r\n\r\n\r\n--b\r\n\
Content-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n\r\ninner\r\n--c--\r\n--b--\r\n";
    let all = ok(body);
    assert!(all.iter().any(|e| matches!(e, Ev::Request { .. })));
    assert!(all.iter().any(|e| matches!(e, Ev::MultipartStart(_))));
    let plain = |cfg: Config| decode_all_ways(body, b"b", cfg).unwrap();
    let no_http = plain(Config::default().with_interpret_http(false));
    assert!(!no_http.iter().any(|e| matches!(e, Ev::Request { .. })));
    assert!(no_http.iter().any(|e| matches!(e, Ev::MultipartStart(_))));
    assert!(bodies(&no_http).contains(&b"GET /x HTTP/1.1\r\n\r\n".to_vec()));
    let opaque = plain(Config::default().opaque());
    assert!(!opaque
        .iter()
        .any(|e| matches!(e, Ev::Request { .. } | Ev::MultipartStart(_))));
    assert_eq!(
        bodies(&opaque),
        vec![
            b"GET /x HTTP/1.1\r\n\r\n".to_vec(),
            b"--c\r\n\r\ninner\r\n--c--".to_vec()
        ]
    );
}

#[test]
fn trust_framing_reports_an_embedded_length_instead_of_refusing() {
    // Declared 3 for a 6-byte body (a sender counting characters, not bytes).
    let input = b"--b\r\nContent-Type: application/http\r\n\r\n\
                  POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\ncaf\xc3\xa9!\r\n--b--\r\n";
    assert_eq!(
        err(input, Config::default()),
        (ErrorKind::ContentLengthMismatch, 81) // the first byte past the declared length
    );
    let trust = Config::default().with_trust_framing(true);
    let evs = decode_all_ways(input, b"b", trust).unwrap();
    assert_eq!(bodies(&evs), vec![b"caf\xc3\xa9!".to_vec()]);
    assert!(evs.iter().any(|e| matches!(
        e,
        Ev::PartEnd {
            http_mismatch: Some((3, 6)),
            ..
        }
    )));
    // Longer than framed: reported either way, as before.
    let long = b"--b\r\nContent-Type: application/http\r\n\r\n\
                 POST /x HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc\r\n--b--\r\n";
    for cfg in [Config::default(), trust] {
        let evs = decode_all_ways(long, b"b", cfg).unwrap();
        assert!(evs.iter().any(|e| matches!(
            e,
            Ev::PartEnd {
                http_mismatch: Some((9, 3)),
                ..
            }
        )));
    }
    // Strict mode refuses a mismatch even when told to trust the framing.
    let strict_trust = Config::strict().with_trust_framing(true);
    assert_eq!(err(input, strict_trust).0, ErrorKind::ContentLengthMismatch);
}

/// gcp-storage-emulator's parts: the embedded status line follows the MIME headers with no
/// blank line. Lenient mode ends the MIME block at a line starting `HTTP/` (never a field
/// line), on every chunking; any other line without a colon is still an error, and strict mode
/// refuses the shape at the status line.
#[test]
fn a_status_line_right_after_the_mime_headers() {
    let input = b"--b\r\nContent-Type: application/http\r\nHTTP/1.1 204 No Content\r\nX: 1\r\n\r\n\r\n--b--";
    let evs = ok(input);
    match &evs[..] {
        [Ev::PartStart { headers, .. }, Ev::Response {
            status,
            headers: inner,
            ..
        }, Ev::PartEnd { .. }, Ev::End] => {
            assert_eq!(
                headers,
                &[(b"Content-Type".to_vec(), b"application/http".to_vec())]
            );
            assert_eq!((*status, inner.len()), (204, 1));
        }
        other => panic!("{other:?}"),
    }
    let status_at = 37;
    assert_eq!(&input[status_at..status_at + 5], b"HTTP/");
    assert_eq!(
        err(input, strict()),
        (ErrorKind::InvalidHeader, status_at as u64)
    );
    // Only a status line: a request line, or any other line without a colon, is an error.
    let request = b"--b\r\nContent-Type: application/http\r\nGET /a HTTP/1.1\r\n\r\n\r\n--b--";
    assert_eq!(
        err(request, Config::default()),
        (ErrorKind::InvalidHeader, 37)
    );
    let junk = b"--b\r\nContent-Type: text/plain\r\nHTTPX\r\n\r\nx\r\n--b--";
    assert_eq!(err(junk, Config::default()), (ErrorKind::InvalidHeader, 31));
    // A plain part whose body starts with a status line right after its headers: the body.
    let plain = ok(b"--b\r\nContent-Type: text/plain\r\nHTTP/1.1 200 OK\r\n--b--");
    assert_eq!(bodies(&plain), vec![b"HTTP/1.1 200 OK".to_vec()]);
}

/// The decoder's accessors say where it is: depth inside a nested multipart, the offset of the
/// first byte a feed left, and `Limits::none` lifting every limit a default decoder meets.
#[test]
fn depth_offset_and_no_limits() {
    let body =
        b"--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n\r\nx\r\n--c--\r\n--b--";
    let mut dec = Decoder::new(b"b").unwrap();
    assert_eq!((dec.depth(), dec.offset()), (1, 0));
    let mut depths = Vec::new();
    {
        let mut feed = dec.feed(body, true);
        while let Some(ev) = feed.next() {
            ev.unwrap();
            depths.push(feed.depth());
        }
    }
    assert_eq!(depths.iter().max(), Some(&2));
    assert_eq!((dec.depth(), dec.offset()), (1, body.len() as u64));
    // A feed that stops inside a header block leaves its bytes for the next one.
    let mut dec = Decoder::new(b"b").unwrap();
    let cut = b"--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\nX: 1";
    let mut seen = 0;
    for ev in dec.feed(cut, false) {
        ev.unwrap();
        seen += 1;
    }
    assert_eq!(
        dec.depth(),
        2,
        "inside the nested multipart ({seen} events)"
    );
    assert_eq!(dec.offset(), (cut.len() - b"X: 1".len()) as u64);
    // Limits::none: a part count and a header size a default decoder refuses.
    let many = "--b\r\n\r\n\r\n".repeat(10_001) + "--b--";
    let run = |cfg: Config| {
        let mut dec = Decoder::with_config(b"b", cfg).unwrap();
        let r = dec
            .feed(many.as_bytes(), true)
            .try_for_each(|ev| ev.map(drop));
        r.map_err(|e| e.kind())
    };
    assert_eq!(run(Config::default()), Err(ErrorKind::TooManyParts));
    let none = Config::default().with_limits(Limits::none());
    assert_eq!(run(none), Ok(()));
    assert_ne!(Limits::none(), Limits::default());
}

/// The decoder says whether it is done and why it failed, and prints where it is.
#[test]
fn done_failed_and_debug() {
    let mut dec = Decoder::new(b"b").unwrap();
    assert!(!dec.is_done() && dec.error().is_none());
    let printed = format!("{dec:?}");
    assert!(
        printed.starts_with("Decoder {") && printed.contains("offset: 0"),
        "{printed}"
    );
    assert!(printed.contains("depth: 1"), "{printed}");
    assert!(printed.contains("state: \"bom\""), "{printed}");
    {
        let feed = dec.feed(b"--b\r\n\r\nx\r\n--b--", true);
        let shown = format!("{feed:?}");
        assert!(shown.starts_with("Feed"), "{shown}");
        for ev in feed {
            ev.unwrap();
        }
    }
    assert!(dec.is_done() && dec.error().is_none());
    let done = format!("{dec:?}");
    assert!(done.contains("state: \"done\""), "{done}");
    assert!(dec.stats().bytes_examined > 0);
    let mut bad = Decoder::new(b"b").unwrap();
    let e = bad
        .feed(b"--b\r\nno colon\r\n\r\n--b--", true)
        .find_map(Result::err)
        .unwrap();
    assert!(!bad.is_done());
    assert_eq!(bad.error(), Some(e));
    assert_eq!(e.kind(), ErrorKind::InvalidHeader);
}

/// Only the headers so named are the part's Content-Type and Content-Length, whatever other
/// header of the same length comes first.
#[test]
fn same_length_names_are_not_the_framing_headers() {
    // `X-Request-Id` is as long as `Content-Type`, `X-Forwarded-By` as `Content-Length`.
    let body = "HTTP/1.1 204 No Content\r\n\r\n";
    let input = format!(
        "--b\r\nX-Request-Id: text/plain\r\nContent-Type: application/http\r\nX-Forwarded-By: 999\r\nContent-Length: {}\r\n\r\n{body}\r\n--b--",
        body.len()
    );
    let evs = ok(input.as_bytes());
    match &evs[..] {
        [Ev::PartStart { content_length, .. }, Ev::Response { status, .. }, Ev::PartEnd { .. }, Ev::End] =>
        {
            assert_eq!((*content_length, *status), (Some(body.len() as u64), 204));
        }
        other => panic!("{other:?}"),
    }
}

/// A feed shorter than what the last one left unconsumed fails the decoder, at the offset where
/// that slice ends; every feed is counted.
#[test]
fn a_short_representation_fails_where_it_ends() {
    let mut dec = Decoder::new(b"b").unwrap();
    let first = b"--b\r\nContent-Type: text/pla";
    for ev in dec.feed(first, false) {
        ev.unwrap();
    }
    let kept = dec.offset();
    assert!(
        kept < first.len() as u64,
        "the header block is left for the next feed"
    );
    let e = dec.feed(b"Con", false).find_map(Result::err).unwrap();
    assert_eq!(e.kind(), ErrorKind::UnconsumedInputMissing);
    assert_eq!(e.offset(), kept + 3);
    assert_eq!(dec.error(), Some(e));
    assert_eq!(dec.stats().feeds, 2);
}

/// Every variant of a MIME block and of an embedded head (valid, folded, LF-only, control
/// bytes, more fields than a small array holds, first lines the head parser judges) decodes
/// the same, events or error, whole, byte by byte and under every split (`decode_all_ways`
/// asserts it): the guard any faster whole-block scanner must pass.
#[test]
fn header_blocks_decode_the_same_under_every_chunking() {
    let many: String = (0..20).map(|i| format!("X-{i}: v\r\n")).collect();
    let blocks: Vec<String> = vec![
        "Content-Type: text/plain\r\n".into(),
        "Content-Type: text/plain\n".into(),
        "A: 1\r\n folded\r\n".into(),
        "A: caf\u{e9} \u{7f}\r\n".into(),
        "A: a\rb\r\n".into(),
        "A:\r\nB: \t \r\n".into(),
        "A : 1\r\n".into(),
        ": 1\r\n".into(),
        "A\r\n".into(),
        many.clone(),
        "Content-Length: 3\r\nContent-Length: 3\r\n".into(),
        "Content-ID: <1>\r\nContent-Type: application/octet-stream\r\n".into(),
    ];
    for block in &blocks {
        let input = format!("--b\r\n{block}\r\nabc\r\n--b--");
        let whole = decode_with(input.as_bytes(), b"b", Config::default(), &[]);
        assert_eq!(
            decode_all_ways(input.as_bytes(), b"b", Config::default()),
            whole,
            "{block:?}"
        );
        // The same fields in an embedded head, and first lines the line scanner judges.
        for first in ["GET /x HTTP/1.1\r\n", "-- HTTP/1.1\r\n", "\r\n", "\n"] {
            let body = format!("{first}{block}\r\n");
            let input = format!("--b\r\nContent-Type: application/http\r\n\r\n{body}\r\n--b--");
            let whole = decode_with(input.as_bytes(), b"b", Config::default(), &[]);
            assert_eq!(
                decode_all_ways(input.as_bytes(), b"b", Config::default()),
                whole,
                "{first:?} {block:?}"
            );
        }
    }
    // More fields than the limit: the same error either way.
    let cfg = Config::default().with_limits(Limits::default().with_max_headers(5));
    let input = format!("--b\r\n{many}\r\nabc\r\n--b--");
    let e = decode_all_ways(input.as_bytes(), b"b", cfg).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooManyHeaders);
}

/// An error in a header value names the value's first byte, counted from what was parsed:
/// past white space after the colon, inside a folded value, on the second of two
/// `Content-Length` lines, in MIME part headers and in an embedded head alike, whatever the
/// chunking (`decode_all_ways`).
#[test]
fn value_errors_name_the_values_first_byte() {
    // "--b\r\n" 5, "X-A: 1\r\n" 8, "Content-Type:" 13, three spaces: the `"` is byte 29.
    let spaced = b"--b\r\nX-A: 1\r\nContent-Type:   \"\r\n\r\nx\r\n--b--";
    assert_eq!(err(spaced, strict()), (ErrorKind::InvalidContentType, 29));
    // Folded: "Content-Type:" ends at 18, then CR LF SP: the `"` is byte 21.
    let folded = b"--b\r\nContent-Type:\r\n \"\r\n\r\nx\r\n--b--";
    assert_eq!(err(folded, strict()), (ErrorKind::InvalidContentType, 21));
    // "Content-Length: 1\r\n" is 19 bytes from 5; the second value is past 15 and two spaces.
    let twice = b"--b\r\nContent-Length: 1\r\nContent-Length:  2\r\n\r\nx\r\n--b--";
    assert_eq!(
        err(twice, Config::default()),
        (ErrorKind::ConflictingContentLength, 41)
    );
    // In an embedded head: it starts at 39, its request line ends at 55, the second
    // "Content-Length:" line at 74, and its value after the colon and a space: byte 90.
    let head = b"--b\r\nContent-Type: application/http\r\n\r\nGET / HTTP/1.1\r\n\
        Content-Length: 1\r\nContent-Length: 2\r\n\r\nx\r\n--b--";
    assert_eq!(
        err(head, Config::default()),
        (ErrorKind::ConflictingContentLength, 90)
    );
    // One Content-Length, read where it was noted: spaced ("Content-Length:" ends at 20,
    // two spaces: byte 22), folded (CR LF SP after the colon: byte 23), in a head (its line
    // starts at 55: byte 71).
    let one = b"--b\r\nContent-Length:  x\r\n\r\nx\r\n--b--";
    assert_eq!(
        err(one, Config::default()),
        (ErrorKind::InvalidContentLength, 22)
    );
    let folded = b"--b\r\nContent-Length:\r\n x\r\n\r\nx\r\n--b--";
    assert_eq!(
        err(folded, Config::default()),
        (ErrorKind::InvalidContentLength, 23)
    );
    let head = b"--b\r\nContent-Type: application/http\r\n\r\nGET / HTTP/1.1\r\n\
        Content-Length: x\r\n\r\nx\r\n--b--";
    assert_eq!(
        err(head, Config::default()),
        (ErrorKind::InvalidContentLength, 71)
    );
}

/// Bytes examined decoding `input` whole, in one feed.
fn examined(input: &[u8]) -> u64 {
    examined_with(input, Config::default())
}

fn examined_with(input: &[u8], cfg: Config) -> u64 {
    let mut dec = Decoder::with_config(b"b", cfg).unwrap();
    for ev in dec.feed(input, true) {
        ev.unwrap();
    }
    dec.stats().bytes_examined
}

#[test]
fn a_whole_header_block_is_examined_once() {
    // Inputs that differ only in their header block: the difference in bytes examined is
    // the difference in the blocks' lengths, every line (the blank one too) read once.
    let base = examined(b"--b\r\nX: 1\r\n\r\nbody\r\n--b--");
    let line = b"Longer-Name-Here: a value past a word\r\n";
    let more = examined(&[&b"--b\r\nX: 1\r\n"[..], line, b"\r\nbody\r\n--b--"].concat());
    assert_eq!(
        more - base,
        line.len() as u64,
        "a field line read in one pass"
    );
    let lf_blank = examined(b"--b\r\nX: 1\r\n\nbody\r\n--b--");
    assert_eq!(
        base - lf_blank,
        1,
        "a CRLF blank line, one byte longer than an LF one"
    );
    // In strict mode a name may start with `-` (no delimiter ends a block there): one pass.
    let strict_base = examined_with(b"--b\r\nX: 1\r\n\r\nbody\r\n--b--", strict());
    let dash = examined_with(b"--b\r\nX: 1\r\n-Y: 2\r\n\r\nbody\r\n--b--", strict());
    assert_eq!(
        dash - strict_base,
        7,
        "a name that starts with a dash, in strict mode"
    );
    let folded = examined(b"--b\r\nX: 1\r\n 2\r\n\r\nbody\r\n--b--");
    assert!(
        folded > base + 5,
        "a continuation line is read the general way: searched, then checked"
    );
}

#[test]
fn a_blank_line_is_examined_once() {
    // The block is fed alone after its delimiter line: what it adds to the count is its own
    // bytes, and the one the body's scan counts for its first compare (against a
    // delimiter's leading CRLF, which a blank line may have begun).
    for blank in [&b"\r\n"[..], b"\n", b"X: 1\r\n\r\n", b"X: 1\n\n"] {
        let count = blank.len() as u64 + 1;
        let mut dec = Decoder::new(b"b").unwrap();
        let mut feed = dec.feed(b"--b\r\n", false);
        assert!(feed.next().is_none(), "no event before the block");
        assert_eq!(feed.consumed(), 5, "the delimiter line is consumed");
        let before = dec.stats().bytes_examined;
        let evs: Vec<_> = dec.feed(blank, false).map(Result::unwrap).collect();
        assert!(
            matches!(evs[..], [batchpart::Event::PartStart(_)]),
            "the part's start, then a wait for its body"
        );
        assert_eq!(dec.stats().bytes_examined - before, count, "{blank:?}");
    }
}

#[test]
fn a_multipart_part_without_a_boundary() {
    let input = b"--b\r\nContent-Type: multipart/mixed\r\n\r\n--x\r\n\r\nhi\r\n--x--\r\n--b--";
    // Strict mode refuses it at the value; lenient mode reads its body as bytes.
    let at = input.windows(9).position(|w| w == b"multipart").unwrap() as u64;
    assert_eq!(err(input, strict()), (ErrorKind::MissingBoundary, at));
    let evs = ok(input);
    assert!(
        !evs.iter().any(|e| matches!(e, Ev::MultipartStart(_))),
        "{evs:?}"
    );
    assert_eq!(bodies(&evs), vec![b"--x\r\n\r\nhi\r\n--x--".to_vec()]);
    // With a boundary, either mode opens it.
    let nested =
        b"--b\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nhi\r\n--x--\r\n--b--";
    for cfg in [Config::default(), strict()] {
        let evs = decode_all_ways(nested, b"b", cfg).unwrap();
        assert!(
            evs.iter()
                .any(|e| matches!(e, Ev::MultipartStart(b) if b == b"x")),
            "{evs:?}"
        );
    }
}

#[test]
fn a_parts_own_content_length_is_held_to_its_framing() {
    // The MIME part's Content-Length (not an embedded message's): strict mode refuses a
    // body of another length at the delimiter that ends it.
    let input = b"--b\r\nContent-Length: 3\r\n\r\nhello\r\n--b--";
    let at = input.windows(5).position(|w| w == b"\r\n--b").unwrap() as u64;
    assert_eq!(err(input, strict()), (ErrorKind::ContentLengthMismatch, at));
    assert!(decode_all_ways(
        b"--b\r\nContent-Length: 5\r\n\r\nhello\r\n--b--",
        b"b",
        strict()
    )
    .is_ok());
    assert_eq!(
        bodies(&ok(input)),
        vec![b"hello".to_vec()],
        "lenient: the framing wins"
    );
}
