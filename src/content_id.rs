//! `Content-ID`: the correlation key of batch operations, in its raw and normalized forms.

use crate::headers::{trim, Value};

/// A `Content-ID` value as sent, with its normalized forms.
///
/// ```
/// use batchpart::ContentId;
/// let id = ContentId::from_bytes(b" <response-8f2c+1> ");
/// assert_eq!(id.raw().as_bytes(), b"<response-8f2c+1>");
/// assert_eq!(id.normalized().as_bytes(), b"response-8f2c+1");
/// assert_eq!(id.reply_to().unwrap().as_bytes(), b"8f2c+1");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentId<'a> {
    raw: Value<'a>,
}

impl<'a> ContentId<'a> {
    pub(crate) fn new(raw: Value<'a>) -> Self {
        ContentId { raw }
    }

    /// Wraps a raw header value (it is trimmed).
    pub fn from_bytes(raw: &'a [u8]) -> Self {
        ContentId {
            raw: Value::new(trim(raw)),
        }
    }

    /// The value as sent, trimmed (folds kept; see [`Value::segments`]).
    pub fn raw(&self) -> Value<'a> {
        self.raw
    }

    /// The value with surrounding white space and RFC 2392 angle brackets removed.
    pub fn normalized(&self) -> Value<'a> {
        let v = self.raw.as_bytes();
        Value::new(&v[normalized_range(v)])
    }

    /// Google's reply form: for `<response-ID>`, the `ID` it answers; `None` otherwise.
    pub fn reply_to(&self) -> Option<Value<'a>> {
        let n = self.normalized().as_bytes();
        n.strip_prefix(b"response-").map(Value::new)
    }
}

/// Where a raw Content-ID's normalized form lies in it: white space (SP, HTAB, CR, LF) and one
/// pair of RFC 2392 angle brackets around it removed. The one rule for the core's
/// [`ContentId`] and the batch model's string ids.
pub(crate) fn normalized_range(v: &[u8]) -> core::ops::Range<usize> {
    let r = trimmed(v, 0..v.len());
    if r.len() >= 2 && v[r.start] == b'<' && v[r.end - 1] == b'>' {
        trimmed(v, r.start + 1..r.end - 1)
    } else {
        r
    }
}

/// `r` without the white space at its ends.
fn trimmed(v: &[u8], mut r: core::ops::Range<usize>) -> core::ops::Range<usize> {
    let ws = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    while r.start < r.end && ws(v[r.start]) {
        r.start += 1;
    }
    while r.end > r.start && ws(v[r.end - 1]) {
        r.end -= 1;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)] // `Vec` and `String` without the `std` feature
    use std::prelude::rust_2021::*;

    #[test]
    fn forms() {
        assert_eq!(ContentId::from_bytes(b"1").normalized().as_bytes(), b"1");
        assert_eq!(
            ContentId::from_bytes(b"<a@b>").normalized().as_bytes(),
            b"a@b"
        );
        assert_eq!(
            ContentId::from_bytes(b"< x >").normalized().as_bytes(),
            b"x"
        );
        assert_eq!(
            ContentId::from_bytes(b"<unclosed").normalized().as_bytes(),
            b"<unclosed"
        );
        assert!(ContentId::from_bytes(b"<a>").reply_to().is_none());
        let reply = ContentId::from_bytes(b" <response-8f2c+1> ").reply_to();
        assert_eq!(reply.map(|v| v.as_bytes()), Some(&b"8f2c+1"[..]));
        assert_eq!(
            ContentId::from_bytes(b"response-x")
                .reply_to()
                .map(|v| v.as_bytes()),
            Some(&b"x"[..])
        );
        let folded = ContentId::from_bytes(b"<uuid\r\n + 1>");
        assert!(folded.normalized().unfolded_eq(b"uuid + 1"));
    }

    #[test]
    fn one_rule_for_every_form() {
        fn n(v: &[u8]) -> &[u8] {
            &v[normalized_range(v)]
        }
        assert_eq!(n(b""), b"");
        assert_eq!(n(b"<>"), b"");
        assert_eq!(n(b" \t<\r\n1 >\n"), b"1");
        assert_eq!(n(b"<"), b"<");
        assert_eq!(n(b">1<"), b">1<");
        // One pair only, and only white space of the header grammar: not U+00A0.
        assert_eq!(n(b"<<1>>"), b"<1>");
        assert_eq!(n("\u{a0}1".as_bytes()), "\u{a0}1".as_bytes());
    }
}
