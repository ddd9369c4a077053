//! Embedded HTTP messages (`application/http`, `message/http`): request and status lines,
//! parsed by `httparse` first and, outside strict mode, by a lenient reader for what real batch
//! traffic sends (no version, raw spaces in the target, no reason phrase).

use crate::content_id::ContentId;
use crate::headers::{trim, HeaderBlock};

/// The head of an embedded HTTP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHead<'a> {
    pub(crate) method: &'a [u8],
    pub(crate) target: &'a [u8],
    pub(crate) version: Option<&'a [u8]>,
    pub(crate) headers: HeaderBlock<'a>,
    pub(crate) info: HeadInfo<'a>,
}

/// The head of an embedded HTTP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHead<'a> {
    pub(crate) version: &'a [u8],
    pub(crate) status: u16,
    pub(crate) reason: &'a [u8],
    pub(crate) headers: HeaderBlock<'a>,
    pub(crate) info: HeadInfo<'a>,
}

/// What the decoder reads out of an embedded head's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct HeadInfo<'a> {
    pub(crate) content_length: Option<u64>,
    pub(crate) content_id: Option<ContentId<'a>>,
}

impl<'a> RequestHead<'a> {
    /// The method, as sent (lowercase methods are kept).
    pub fn method(&self) -> &'a [u8] {
        self.method
    }
    /// The request target, as sent (it may hold raw spaces).
    pub fn target(&self) -> &'a [u8] {
        self.target
    }
    /// The version (`HTTP/1.1`), or `None` where the request line had none.
    pub fn version(&self) -> Option<&'a [u8]> {
        self.version
    }
    /// The embedded headers.
    pub fn headers(&self) -> HeaderBlock<'a> {
        self.headers
    }
    /// The embedded `Content-Length`, if any.
    pub fn content_length(&self) -> Option<u64> {
        self.info.content_length
    }
    /// The `Content-ID` among the embedded headers (OData 2.0/3.0 and Creatio put it here).
    pub fn content_id(&self) -> Option<ContentId<'a>> {
        self.info.content_id
    }
}

impl<'a> ResponseHead<'a> {
    /// The version, as sent (`HTTP/1.1`).
    pub fn version(&self) -> &'a [u8] {
        self.version
    }
    /// The three-digit status code.
    pub fn status(&self) -> u16 {
        self.status
    }
    /// The reason phrase; empty where the status line had none.
    pub fn reason(&self) -> &'a [u8] {
        self.reason
    }
    /// The embedded headers.
    pub fn headers(&self) -> HeaderBlock<'a> {
        self.headers
    }
    /// The embedded `Content-Length`, if any.
    pub fn content_length(&self) -> Option<u64> {
        self.info.content_length
    }
    /// The `Content-ID` among the embedded headers.
    pub fn content_id(&self) -> Option<ContentId<'a>> {
        self.info.content_id
    }
}

/// Parses a `Content-Length` value: ASCII digits only, no sign, no overflow.
///
/// ```
/// assert_eq!(batchpart::parse_content_length(b" 42 "), Some(42));
/// assert_eq!(batchpart::parse_content_length(b"-1"), None);
/// assert_eq!(batchpart::parse_content_length(b"10abc"), None);
/// assert_eq!(batchpart::parse_content_length(b"99999999999999999999999"), None);
/// ```
pub fn parse_content_length(v: &[u8]) -> Option<u64> {
    let v = trim(v);
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn is_http_version(v: &[u8]) -> bool {
    matches!(v, [b'H', b'T', b'T', b'P', b'/', a, b'.', b] if a.is_ascii_digit() && b.is_ascii_digit())
}

/// Does this start line look like a status line (a response)?
pub(crate) fn looks_like_status_line(line: &[u8]) -> bool {
    line.starts_with(b"HTTP/")
}

/// The parts of a request line: method, target and version (if any).
type RequestLine<'a> = (&'a [u8], &'a [u8], Option<&'a [u8]>);

/// `(method, target, version)` from a request line without its line ending.
pub(crate) fn parse_request_line(line_with_eol: &[u8], strict: bool) -> Option<RequestLine<'_>> {
    let mut no_headers: [httparse::Header<'_>; 0] = [];
    let mut req = httparse::Request::new(&mut no_headers);
    if let Ok(httparse::Status::Partial) = req.parse(line_with_eol) {
        if let (Some(m), Some(_), Some(_)) = (req.method, req.path, req.version) {
            // httparse gives `&str` views; map them back to byte ranges of the line so the
            // version keeps its exact spelling.
            let line = trim_eol(line_with_eol);
            let m_end = m.len();
            let rest = &line[m_end + 1..];
            let sp = memchr::memrchr(b' ', rest)?;
            return Some((&line[..m_end], &rest[..sp], Some(&rest[sp + 1..])));
        }
    }
    if strict {
        return None;
    }
    // Lenient: the method runs to the first space, the version (when it is one) follows the
    // last space, and everything between is the target, raw spaces and all.
    let line = trim(trim_eol(line_with_eol));
    let sp = memchr::memchr(b' ', line)?;
    let method = &line[..sp];
    let rest = trim(&line[sp + 1..]);
    if !is_token(method) || rest.is_empty() {
        return None;
    }
    let (target, version) = match memchr::memrchr(b' ', rest) {
        Some(last) if is_http_version(&rest[last + 1..]) => {
            (trim(&rest[..last]), Some(&rest[last + 1..]))
        }
        _ if is_http_version(rest) => return None,
        _ => (rest, None),
    };
    if target.is_empty() || target.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return None;
    }
    Some((method, target, version))
}

/// `(version, status, reason)` from a status line.
pub(crate) fn parse_status_line(line_with_eol: &[u8], strict: bool) -> Option<(&[u8], u16, &[u8])> {
    let mut no_headers: [httparse::Header<'_>; 0] = [];
    let mut res = httparse::Response::new(&mut no_headers);
    let line = trim_eol(line_with_eol);
    if let Ok(httparse::Status::Partial) = res.parse(line_with_eol) {
        if let (Some(code), Some(reason)) = (res.code, res.reason) {
            let reason = &line[line.len() - reason.len()..];
            return Some((&line[..8], code, reason));
        }
    }
    if strict {
        return None;
    }
    let line = trim(line);
    let version = line.get(..8)?;
    if !is_http_version(version) {
        return None;
    }
    let rest = trim(&line[8..]);
    let (code, reason) = match rest.get(..3) {
        Some(c) if c.iter().all(u8::is_ascii_digit) => (c, trim(&rest[3..])),
        _ => return None,
    };
    if rest.len() > 3 && rest[3] != b' ' && rest[3] != b'\t' {
        return None;
    }
    if reason.iter().any(|&b| b < 0x20 && b != b'\t' || b == 0x7f) {
        return None;
    }
    let status = code.iter().fold(0u16, |a, &d| a * 10 + u16::from(d - b'0'));
    Some((version, status, reason))
}

fn trim_eol(l: &[u8]) -> &[u8] {
    let l = l.strip_suffix(b"\n").unwrap_or(l);
    l.strip_suffix(b"\r").unwrap_or(l)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)] // `Vec` and `String` without the `std` feature
    use std::prelude::rust_2021::*;

    #[test]
    fn request_lines() {
        let r = parse_request_line(b"GET /a HTTP/1.1\r\n", true).unwrap();
        assert_eq!(r, (&b"GET"[..], &b"/a"[..], Some(&b"HTTP/1.1"[..])));
        assert!(parse_request_line(b"GET /service/Customers('ALFKI')\r\n", true).is_none());
        let r = parse_request_line(b"GET /service/Customers('ALFKI')\r\n", false).unwrap();
        assert_eq!(r.2, None);
        let r = parse_request_line(
            b"GET Rooms?$filter=Building eq $1/Building HTTP/1.1\r\n",
            false,
        )
        .unwrap();
        assert_eq!(r.1, b"Rooms?$filter=Building eq $1/Building");
        assert_eq!(r.2, Some(&b"HTTP/1.1"[..]));
        // Lenient, no version: a last word that is not a version belongs to the target.
        let r =
            parse_request_line(b"GET Rooms?$filter=Building eq $1/Building\r\n", false).unwrap();
        assert_eq!(r.1, b"Rooms?$filter=Building eq $1/Building");
        assert_eq!(r.2, None);
        // Control characters and DEL are never part of a target.
        for bad in [
            &b"GET /a\x01b HTTP/1.1\r\n"[..],
            b"GET /a\x7fb HTTP/1.1\r\n",
            b"GET /a b\x01 HTTP/1.1\r\n",
            b"GET \x01 HTTP/1.1\r\n",
        ] {
            assert!(parse_request_line(bad, false).is_none(), "{bad:?}");
        }
        let r = parse_request_line(b"merge /x HTTP/1.1\n", false).unwrap();
        assert_eq!(r.0, b"merge");
        assert!(parse_request_line(b"GET\r\n", false).is_none());
        assert!(parse_request_line(b"G(T /x\r\n", false).is_none());
        assert!(parse_request_line(b"GET HTTP/1.1\r\n", false).is_none());
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status_line(b"HTTP/1.1 201 Created\r\n", true).unwrap(),
            (&b"HTTP/1.1"[..], 201, &b"Created"[..])
        );
        assert_eq!(
            parse_status_line(b"HTTP/1.1 204\r\n", false).unwrap(),
            (&b"HTTP/1.1"[..], 204, &b""[..])
        );
        // The lenient reader, where httparse refuses (two spaces after the version).
        assert_eq!(
            parse_status_line(b"HTTP/1.1  200 OK\r\n", false).unwrap(),
            (&b"HTTP/1.1"[..], 200, &b"OK"[..])
        );
        assert_eq!(
            parse_status_line(b"HTTP/1.1  200\tOK\r\n", false).unwrap(),
            (&b"HTTP/1.1"[..], 200, &b"OK"[..])
        );
        assert_eq!(
            parse_status_line(b"HTTP/1.1  404\r\n", false).unwrap(),
            (&b"HTTP/1.1"[..], 404, &b""[..])
        );
        assert_eq!(
            parse_status_line(b"HTTP/1.1  404 Not Found\r\n", false).unwrap(),
            (&b"HTTP/1.1"[..], 404, &b"Not Found"[..]),
            "spaces inside a reason"
        );
        for bad in [
            &b"HTTX/1.1  200 OK\r\n"[..],
            b"HTTP/1.1  2000 OK\r\n",
            b"HTTP/1.1  20 OK\r\n",
            b"HTTP/1.1  200OK\r\n",
            b"HTTP/1.1  200 O\x01K\r\n",
            b"HTTP/1.1  200 O\x7fK\r\n",
        ] {
            assert!(parse_status_line(bad, false).is_none(), "{bad:?}");
            assert!(parse_status_line(bad, true).is_none(), "{bad:?}");
        }
        assert!(parse_status_line(b"HTTP/1.1  200 OK\r\n", true).is_none());
        assert!(parse_status_line(b"HTTP/1.1 20x OK\r\n", false).is_none());
        assert!(parse_status_line(b"HTTP/1.1 2000\r\n", false).is_none());
        assert!(parse_status_line(b"HTTP/1.1\r\n", false).is_none());
    }

    #[test]
    fn heads_expose_what_they_carry() {
        let body = b"--b\r\nContent-Type: application/http\r\n\r\n\
            POST /a HTTP/1.1\r\nContent-ID: 7\r\nContent-Length: 2\r\n\r\nhi\r\n\
            --b\r\nContent-Type: application/http\r\n\r\n\
            HTTP/1.0 201 Created\r\nContent-ID: <response-7>\r\nContent-Length: 3\r\n\r\nabc\r\n--b--";
        let mut d = crate::Decoder::new(b"b").unwrap();
        let mut heads = 0;
        for ev in d.feed(body, true) {
            match ev.unwrap() {
                crate::Event::Request(r) => {
                    heads += 1;
                    assert_eq!((r.method(), r.target()), (&b"POST"[..], &b"/a"[..]));
                    assert_eq!(r.version(), Some(&b"HTTP/1.1"[..]));
                    assert_eq!(r.content_length(), Some(2));
                    assert_eq!(r.content_id().map(|c| c.raw().as_bytes()), Some(&b"7"[..]));
                }
                crate::Event::Response(r) => {
                    heads += 1;
                    assert_eq!((r.version(), r.status()), (&b"HTTP/1.0"[..], 201));
                    assert_eq!(r.reason(), b"Created");
                    assert_eq!(r.content_length(), Some(3));
                    let id = r.content_id().and_then(|c| c.reply_to());
                    assert_eq!(id.map(|v| v.as_bytes()), Some(&b"7"[..]));
                }
                _ => {}
            }
        }
        assert_eq!(heads, 2);
    }

    #[test]
    fn content_length() {
        assert_eq!(parse_content_length(b"0"), Some(0));
        assert_eq!(parse_content_length(b"100000"), Some(100000));
        assert_eq!(parse_content_length(b""), None);
        assert_eq!(parse_content_length(b"+1"), None);
    }
}
