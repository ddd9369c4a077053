//! Boundaries: RFC 2046 validation and the fixed-size storage of a delimiter.

use crate::error::{Error, ErrorKind};

/// The longest boundary RFC 2046 allows.
pub const MAX_BOUNDARY_LEN: usize = 70;

/// `CRLF "--"`: the fixed head of every delimiter.
pub(crate) const DELIM_HEAD: &[u8; 4] = b"\r\n--";

/// Is `b` one of RFC 2046's `bchars` (`DIGIT / ALPHA / "'()+_,-./:=?"` and space)?
#[inline]
pub fn is_bchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&b)
}

/// Checks a boundary against RFC 2046: 1 to 70 `bchars`, not ending in a space.
///
/// ```
/// assert!(batchpart::validate_boundary(b"batch_36522ad7-fc75").is_ok());
/// assert!(batchpart::validate_boundary(b"ends with space ").is_err());
/// assert!(batchpart::validate_boundary(&[b'a'; 71]).is_err());
/// ```
pub fn validate_boundary(boundary: &[u8]) -> Result<(), Error> {
    let bad = boundary.is_empty()
        || boundary.len() > MAX_BOUNDARY_LEN
        || boundary.last() == Some(&b' ')
        || !boundary.iter().all(|&b| is_bchar(b));
    if bad {
        Err(Error::new(ErrorKind::InvalidBoundary, 0))
    } else {
        Ok(())
    }
}

/// Does this boundary need quoting in a `Content-Type` parameter (holds a non-token char)?
pub fn boundary_needs_quotes(boundary: &[u8]) -> bool {
    boundary
        .iter()
        .any(|&b| !(b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)))
}

/// Does `content`, standing right after a line end, hold a delimiter line of `boundary`: a line
/// that opens with `--boundary`, whatever follows and whatever line end precedes it (CRLF or
/// LF alone: lenient decoders, this crate's default among them, take both)? One linear pass:
/// the search is for `LF -- boundary`, whose matches never overlap.
pub(crate) fn holds_delimiter(content: &[u8], boundary: &[u8]) -> bool {
    let d = Delimiter::new(boundary);
    content.starts_with(&d.as_bytes()[2..])
        || memchr::memmem::find(content, &d.as_bytes()[1..]).is_some()
}

/// An owned copy of a boundary (at most [`MAX_BOUNDARY_LEN`] bytes), so that an event can
/// name a nested boundary without borrowing the decoder. Dereferences to the bytes.
#[derive(Clone, Copy)]
pub struct Boundary {
    bytes: [u8; MAX_BOUNDARY_LEN],
    len: u8,
}

impl Boundary {
    /// The caller has validated `boundary`.
    pub(crate) fn new(boundary: &[u8]) -> Self {
        let len = boundary.len().min(MAX_BOUNDARY_LEN);
        let mut bytes = [0; MAX_BOUNDARY_LEN];
        bytes[..len].copy_from_slice(&boundary[..len]);
        Boundary {
            bytes,
            len: len as u8,
        }
    }

    /// The boundary's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl core::ops::Deref for Boundary {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for Boundary {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Boundary {}

impl core::fmt::Debug for Boundary {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        crate::headers::ByteStr(self.as_bytes()).fmt(f)
    }
}

/// A delimiter, `CRLF "--" boundary`, held inline so that no allocation is needed and held-back
/// bytes can be re-emitted from here instead of being copied.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Delimiter {
    bytes: [u8; DELIM_HEAD.len() + MAX_BOUNDARY_LEN],
    len: u8,
}

impl Delimiter {
    pub(crate) const EMPTY: Delimiter = Delimiter {
        bytes: [0; DELIM_HEAD.len() + MAX_BOUNDARY_LEN],
        len: 0,
    };

    /// The caller has validated `boundary`.
    pub(crate) fn new(boundary: &[u8]) -> Self {
        let mut d = Delimiter::EMPTY;
        d.bytes[..4].copy_from_slice(DELIM_HEAD);
        d.bytes[4..4 + boundary.len()].copy_from_slice(boundary);
        d.len = (4 + boundary.len()) as u8;
        d
    }

    /// The whole delimiter, `CRLF -- boundary`.
    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The boundary alone.
    #[inline]
    pub(crate) fn boundary(&self) -> &[u8] {
        &self.bytes[4..self.len as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)] // `Vec` and `String` without the `std` feature
    use std::prelude::rust_2021::*;

    #[test]
    fn delimiter_lines_inside_content() {
        // At the very start (content follows a line end), or after LF or CRLF anywhere.
        assert!(holds_delimiter(b"--b", b"b"));
        assert!(holds_delimiter(b"--bxyz", b"b"), "whatever follows");
        assert!(holds_delimiter(b"text\n--b--", b"b"));
        assert!(holds_delimiter(b"text\r\n--b", b"b"));
        // Not at a line start, or another boundary.
        assert!(!holds_delimiter(b"x--b", b"b"));
        assert!(!holds_delimiter(b"text\n-b", b"b"));
        assert!(!holds_delimiter(b"text\n--a", b"b"));
        assert!(!holds_delimiter(b"", b"b"));
    }

    #[test]
    fn boundaries_compare_and_print_by_their_bytes() {
        assert_eq!(Boundary::new(b"abc"), Boundary::new(b"abc"));
        assert_ne!(Boundary::new(b"abc"), Boundary::new(b"abd"));
        assert_ne!(Boundary::new(b"ab"), Boundary::new(b"abc"));
        assert_eq!(format!("{:?}", Boundary::new(b"a b\x01")), "\"a b\\x01\"");
    }

    #[test]
    fn boundary_rules() {
        assert!(validate_boundary(b"a").is_ok());
        assert!(validate_boundary(&[b'z'; 70]).is_ok());
        assert!(validate_boundary(b"").is_err());
        assert!(validate_boundary(&[b'z'; 71]).is_err());
        assert!(validate_boundary(b"has space inside").is_ok());
        assert!(validate_boundary(b"trailing ").is_err());
        assert!(validate_boundary(b"batch_1.2+34:2j)0?").is_ok());
        assert!(validate_boundary(b"no\"quote").is_err());
        assert!(validate_boundary(b"no\\slash").is_err());
        assert!(validate_boundary(b"cr\r").is_err());
    }

    #[test]
    fn quoting() {
        assert!(!boundary_needs_quotes(b"batch_36522ad7-fc75"));
        assert!(boundary_needs_quotes(b"batch_1.2+34:2j)0?"));
        assert!(boundary_needs_quotes(b"a b"));
    }

    #[test]
    fn delimiter_layout() {
        let d = Delimiter::new(b"xyz");
        assert_eq!(d.as_bytes(), b"\r\n--xyz");
        assert_eq!(d.boundary(), b"xyz");
    }
}
