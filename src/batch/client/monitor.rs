//! Following an asynchronous batch (OData `Prefer: respond-async`): the `202` that names a
//! status monitor, and the monitor's answers, read without I/O. The caller's loop polls, as
//! with [`retry`](crate::batch::retry):
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use batchpart::batch::{read_monitor, Accepted, Headers, MonitorAnswer};
//!
//! // The batch was posted with `Prefer: respond-async`; the service accepted it.
//! let mut h = Headers::new();
//! h.push("Location", "/service/$monitor/0123456789abcdef0123456789abcdef");
//! h.push("Preference-Applied", "respond-async");
//! h.push("Retry-After", "2");
//! let now = SystemTime::now();
//! let accepted = Accepted::from_answer(202, &h, now).expect("a status monitor");
//! assert_eq!(accepted.retry_after, Some(Duration::from_secs(2)));
//!
//! // ... wait, then GET accepted.location; once done, it answers 200 application/http:
//! let mut h = Headers::new();
//! h.push("Content-Type", "application/http");
//! let doc = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"responses\":[]}";
//! let MonitorAnswer::Done(answer) = read_monitor(200, &h, doc.into(), now).unwrap() else {
//!     unreachable!("a 200 is done");
//! };
//! assert_eq!(answer.status, 200);
//! assert_eq!(answer.headers.get("content-type"), Some(&b"application/json"[..]));
//! assert_eq!(&answer.body[..], b"{\"responses\":[]}");
//! // ... read answer.body as the synchronous answer, and correlate it.
//! ```

use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::batch::{retry_after, BatchError, BatchErrorKind, Headers};

/// The most header fields the `application/http` answer may carry.
const MAX_HEADERS: usize = 100;

/// A `202 Accepted` that hands the batch to a status monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Accepted {
    /// The monitor's URL as the service wrote it: resolve it against the batch URL.
    pub location: String,
    /// How long the service asks the client to wait before polling.
    pub retry_after: Option<Duration>,
}

impl Accepted {
    /// The monitor that a batch answer names, if it is one: a `202` that carries `Location`
    /// and `Preference-Applied: respond-async`. Any other answer, an OData 2.0 or 3.0
    /// service's synchronous `202` among them, is the batch's own answer.
    pub fn from_answer(status: u16, headers: &Headers, now: SystemTime) -> Option<Accepted> {
        let applied = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("preference-applied"))
            .flat_map(|(_, v)| v.split(|&b| b == b','))
            .map(|p| p.split(|&b| b == b';').next().unwrap_or_default())
            .any(|p| crate::headers::trim(p).eq_ignore_ascii_case(b"respond-async"));
        if status != 202 || !applied {
            return None;
        }
        let location = headers.get_str("location")?.trim();
        if location.is_empty() {
            return None;
        }
        Some(Accepted {
            location: location.to_string(),
            retry_after: headers.get("retry-after").and_then(|v| retry_after(v, now)),
        })
    }
}

/// What a status monitor answered.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum MonitorAnswer {
    /// `202`: the batch still runs; poll again after `retry_after`, or a wait of the caller's
    /// choosing.
    Running {
        /// The monitor's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// The batch's answer, as the synchronous request would have had it.
    Done(FinalAnswer),
}

/// A batch's answer unwrapped from the monitor's `application/http` document.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FinalAnswer {
    /// The batch answer's status.
    pub status: u16,
    /// Its headers, `Content-Type` among them, byte for byte.
    pub headers: Headers,
    /// Its body: a slice of the monitor's body.
    pub body: Bytes,
}

/// Reads a status monitor's answer: `202` is [`Running`](MonitorAnswer::Running), `200` with
/// `Content-Type: application/http` the batch's answer. Any other status is a
/// [`Monitor`](BatchErrorKind::Monitor) error (a `404`: unknown, expired, cancelled, or
/// another caller's), and a document that is not one HTTP response, whole, is a
/// [`Malformed`](BatchErrorKind::Malformed) error at the byte where it goes wrong: a
/// `Content-Length` that disagrees with the bytes that follow the head is refused, not
/// guessed at.
pub fn read_monitor(
    status: u16,
    headers: &Headers,
    body: Bytes,
    now: SystemTime,
) -> Result<MonitorAnswer, BatchError> {
    match status {
        202 => Ok(MonitorAnswer::Running {
            retry_after: headers.get("retry-after").and_then(|v| retry_after(v, now)),
        }),
        200 => {
            let ct = headers.get("content-type").unwrap_or_default();
            let essence = ct.split(|&b| b == b';').next().unwrap_or_default();
            if !crate::headers::trim(essence).eq_ignore_ascii_case(b"application/http") {
                return Err(BatchError::new(
                    BatchErrorKind::Malformed,
                    format!(
                        "the status monitor answered 200 with Content-Type {:?}, not application/http",
                        String::from_utf8_lossy(ct)
                    ),
                ));
            }
            unwrap(body).map(MonitorAnswer::Done)
        }
        _ => Err(BatchError::new(
            BatchErrorKind::Monitor,
            format!(
                "the status monitor answered {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ),
        )),
    }
}

/// The HTTP response an `application/http` document holds.
fn unwrap(doc: Bytes) -> Result<FinalAnswer, BatchError> {
    let malformed = |what: &str, at: usize| {
        BatchError::new(
            BatchErrorKind::Malformed,
            format!("the monitor's result: {what}"),
        )
        .at_offset(at as u64)
    };
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut fields);
    let head = match res.parse(&doc) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return Err(malformed("the response head is cut short", doc.len()))
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(BatchError::new(
                BatchErrorKind::TooManyHeaders,
                format!("the monitor's result has more than {MAX_HEADERS} header fields"),
            ))
        }
        Err(e) => return Err(malformed(&format!("not an HTTP response ({e})"), 0)),
    };
    let status = res.code.unwrap_or_default();
    let mut headers = Headers::new();
    let mut length: Option<usize> = None;
    for f in res.headers.iter() {
        if f.name.eq_ignore_ascii_case("content-length") {
            let n = core::str::from_utf8(f.value)
                .ok()
                .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|t| t.parse().ok());
            match (n, length) {
                (None, _) => return Err(malformed("an invalid Content-Length", head)),
                (Some(n), Some(m)) if n != m => {
                    return Err(malformed("two Content-Length fields that disagree", head))
                }
                (Some(n), _) => length = Some(n),
            }
        }
        // Shared with the document, not copied: httparse's slices are slices of it.
        headers.push_shared(doc.slice_ref(f.name.as_bytes()), doc.slice_ref(f.value));
    }
    let rest = doc.len() - head;
    let len = length.unwrap_or(rest);
    if len != rest {
        let what = format!("Content-Length {len}, but {rest} bytes follow the head");
        return Err(malformed(&what, head + len.min(rest)));
    }
    Ok(FinalAnswer {
        status,
        headers,
        body: doc.slice(head..),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(fields: &[(&str, &str)]) -> Headers {
        let mut h = Headers::new();
        for (n, v) in fields {
            h.push(*n, v.as_bytes());
        }
        h
    }

    #[test]
    fn only_a_202_with_location_and_the_preference_applied_is_a_monitor() {
        let now = SystemTime::now();
        let full = [
            ("Location", " /s/$monitor/1 "),
            (
                "Preference-Applied",
                "odata.continue-on-error, Respond-Async",
            ),
        ];
        let a = Accepted::from_answer(202, &headers(&full), now).unwrap();
        assert_eq!(a.location, "/s/$monitor/1");
        assert_eq!(a.retry_after, None);
        assert!(Accepted::from_answer(200, &headers(&full), now).is_none());
        // OData 2.0 and 3.0 answer batches 202 synchronously.
        assert!(Accepted::from_answer(202, &headers(&full[..1]), now).is_none());
        assert!(Accepted::from_answer(202, &headers(&full[1..]), now).is_none());
        let other = [("Location", "/x"), ("Preference-Applied", "respond-asyncx")];
        assert!(Accepted::from_answer(202, &headers(&other), now).is_none());
        let empty = [("Location", " "), ("Preference-Applied", "respond-async")];
        assert!(Accepted::from_answer(202, &headers(&empty), now).is_none());
    }

    #[test]
    fn the_document_is_one_response_whole() {
        let now = SystemTime::now();
        let ct = headers(&[("Content-Type", "Application/HTTP; msgtype=response")]);
        let read = |doc: &'static str| read_monitor(200, &ct, Bytes::from(doc), now);
        let kind = |doc| read(doc).unwrap_err().kind();
        let done = match read("HTTP/1.1 202 Accepted\r\nX: y\r\n\r\nabc").unwrap() {
            MonitorAnswer::Done(d) => d,
            other => panic!("{other:?}"),
        };
        assert_eq!((done.status, &done.body[..]), (202, &b"abc"[..]));
        assert_eq!(done.headers.get("x"), Some(&b"y"[..]));
        assert_eq!(
            kind("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabc"),
            BatchErrorKind::Malformed
        );
        let short = read("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabc").unwrap_err();
        assert_eq!(
            (short.kind(), short.offset()),
            (BatchErrorKind::Malformed, Some(40))
        );
        let two = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 2\r\n\r\nabc";
        let e = read(two).unwrap_err();
        assert_eq!(e.kind(), BatchErrorKind::Malformed);
        assert!(e.to_string().contains("disagree"), "{e}");
        let same = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc";
        assert!(read(same).is_ok());
        assert_eq!(
            kind("HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc"),
            BatchErrorKind::Malformed
        );
        let cut = read("HTTP/1.1 200 OK\r\nX: y\r\n").unwrap_err();
        assert_eq!(
            (cut.kind(), cut.offset()),
            (BatchErrorKind::Malformed, Some(23))
        );
        assert_eq!(kind("GET / HTTP/1.1\r\n\r\n"), BatchErrorKind::Malformed);
        let many = format!("HTTP/1.1 200 OK\r\n{}\r\n", "A: b\r\n".repeat(101));
        let e = read_monitor(200, &ct, Bytes::from(many), now).unwrap_err();
        assert_eq!(e.kind(), BatchErrorKind::TooManyHeaders);
        let json = headers(&[("Content-Type", "application/json")]);
        let e = read_monitor(200, &json, Bytes::from_static(b"{}"), now).unwrap_err();
        assert_eq!(e.kind(), BatchErrorKind::Malformed);
    }

    #[test]
    fn running_and_gone() {
        let now = SystemTime::now();
        let h = headers(&[("Retry-After", "3")]);
        match read_monitor(202, &h, Bytes::new(), now).unwrap() {
            MonitorAnswer::Running { retry_after } => {
                assert_eq!(retry_after, Some(Duration::from_secs(3)))
            }
            other => panic!("{other:?}"),
        }
        let e = read_monitor(404, &h, Bytes::from_static(b"gone"), now).unwrap_err();
        assert_eq!(e.kind(), BatchErrorKind::Monitor);
        assert!(e.to_string().contains("404: gone"), "{e}");
    }
}
