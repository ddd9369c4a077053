//! [`Text`]: the model's method, URL and Content-ID, held as a view of the bytes they were
//! read from.

use bytes::Bytes;
use bytestring::ByteString;
use core::borrow::Borrow;
use core::fmt;
use core::ops::Deref;

/// Text held in shared [`Bytes`]: an operation's method, URL and Content-ID.
///
/// A batch reader gives each of them as a view of the body it read, checked once to be UTF-8,
/// instead of a `String` of its own: reading an operation copies none of them. `Text` derefs
/// to `str`, compares with `str` and `String`, and converts from both, so that it reads and
/// builds as a string does.
///
/// The `Bytes`-backed string is [`bytestring`](https://docs.rs/bytestring)'s, kept behind
/// this type: a `str` view of shared bytes needs `unsafe` once, after the UTF-8 check, and
/// this crate forbids `unsafe`.
///
/// ```
/// use batchpart::batch::{RequestOp, Text};
/// let op = RequestOp::new("GET", "Customers('ALFKI')");
/// assert_eq!(op.method, "GET");
/// assert!(op.url.starts_with("Customers"));
/// let url: &str = &op.url;
/// assert_eq!(url.len(), 18);
/// assert_eq!(Text::from(String::from("GET")), op.method);
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(ByteString);

impl Text {
    /// Empty text.
    pub const fn new() -> Self {
        Text(ByteString::new())
    }

    /// Text of a `'static` string, without a copy.
    pub const fn from_static(s: &'static str) -> Self {
        Text(ByteString::from_static(s))
    }

    /// The bytes, when they are UTF-8, as text that shares them; otherwise the bytes back.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, Bytes> {
        // A clone of shared bytes is a count, not a copy; it keeps the bytes to give back.
        ByteString::try_from(bytes.clone())
            .map(Text)
            .map_err(|_| bytes)
    }

    /// Wire bytes as model text: a shared view where they are UTF-8 (every writer writes
    /// text as UTF-8, so what it wrote reads back equal), one char per byte (Latin-1) where
    /// they are not, so that nothing is lost.
    pub(crate) fn from_wire(bytes: Bytes) -> Self {
        Text::from_utf8(bytes).unwrap_or_else(|b| {
            let latin1: String = b.iter().map(|&c| char::from(c)).collect();
            Text::from(latin1)
        })
    }

    /// `subset`, a part of this text, as text that shares it: no copy, no UTF-8 check.
    /// `subset` must lie within `self` (a string a parser borrowed from it).
    pub(crate) fn slice_of(&self, subset: &str) -> Self {
        Text(self.0.slice_ref(subset))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text's bytes, shared: no copy.
    pub fn into_bytes(self) -> Bytes {
        self.0.into_bytes()
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<[u8]> for Text {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text(ByteString::from(s))
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Self {
        Text(ByteString::from(s.as_str()))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(ByteString::from(s))
    }
}

impl From<Box<str>> for Text {
    fn from(s: Box<str>) -> Self {
        Text(ByteString::from(s))
    }
}

impl From<Text> for String {
    fn from(t: Text) -> Self {
        t.as_str().to_owned()
    }
}

impl From<Text> for Bytes {
    fn from(t: Text) -> Self {
        t.into_bytes()
    }
}

impl From<Text> for Vec<u8> {
    fn from(t: Text) -> Self {
        t.as_bytes().to_vec()
    }
}

/// As a string (with the `json` feature, which brings serde).
#[cfg(feature = "json")]
impl serde::Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self)
    }
}

/// From a string (with the `json` feature).
#[cfg(feature = "json")]
impl<'de> serde::Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Text::from)
    }
}

/// `Text == str`, `Text == &str`, `Text == String`, and each the other way round.
macro_rules! eq_str {
    ($($t:ty),*) => {$(
        impl PartialEq<$t> for Text {
            fn eq(&self, other: &$t) -> bool {
                self.as_str() == AsRef::<str>::as_ref(other)
            }
        }
        impl PartialEq<Text> for $t {
            fn eq(&self, other: &Text) -> bool {
                AsRef::<str>::as_ref(self) == other.as_str()
            }
        }
    )*};
}
eq_str!(str, &str, String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_a_view_and_other_bytes_read_as_latin1() {
        let input = Bytes::from_static("GET /Städte".as_bytes());
        let t = Text::from_wire(input.slice(4..));
        assert_eq!(t, "/Städte");
        // The same memory: a view, not a copy.
        assert_eq!(t.as_ptr(), input[4..].as_ptr());
        assert_eq!(Text::from_wire(Bytes::from_static(b"caf\xe9")), "café");
        assert_eq!(
            Text::from_utf8(Bytes::from_static(b"\xff")),
            Err(Bytes::from_static(b"\xff"))
        );
    }

    #[test]
    fn compares_and_converts_as_a_string() {
        let t = Text::from("abc");
        assert_eq!(t, "abc");
        assert_eq!("abc", t);
        assert_eq!(t, *"abc");
        assert_eq!(String::from("abc"), t);
        assert_ne!(t, "abd");
        assert_eq!(String::from(t.clone()), "abc");
        assert_eq!(format!("{t} {t:?}"), "abc \"abc\"");
        assert_eq!(t.clone().into_bytes(), Bytes::from_static(b"abc"));
        assert!(Text::new().is_empty() && Text::default() == Text::from_static(""));
    }

    #[test]
    fn every_conversion_keeps_the_text() {
        let s = String::from("Städte");
        let all = [
            Text::from_static("Städte"),
            Text::from(&s),
            Text::from(s.clone()),
            Text::from(s.clone().into_boxed_str()),
            Text::from(s.as_str()),
        ];
        for t in &all {
            assert_eq!(t.as_str(), "Städte");
            assert_eq!(AsRef::<str>::as_ref(t), "Städte");
            assert_eq!(AsRef::<[u8]>::as_ref(t), s.as_bytes());
            assert_eq!(Vec::<u8>::from(t.clone()), s.as_bytes());
            assert_eq!(Bytes::from(t.clone()), s.as_bytes());
        }
        // Borrowed as `str`: a set of texts is looked up by `&str`, hashing alike.
        let set: std::collections::HashSet<Text> = all.into_iter().collect();
        assert_eq!(set.len(), 1);
        assert!(set.contains("Städte") && !set.contains("Stadte"));
        assert_eq!(format!("{:?}", Text::from("a\"b")), r#""a\"b""#);
    }

    #[cfg(feature = "json")]
    #[test]
    fn serde_reads_and_writes_a_string() {
        let t: Text = serde_json::from_str(r#""Städte""#).unwrap();
        assert_eq!(t, "Städte");
        assert_eq!(serde_json::to_string(&t).unwrap(), r#""Städte""#);
    }
}
