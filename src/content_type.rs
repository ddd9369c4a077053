//! `Content-Type` values (RFC 9110 media types with parameters), parsed with `nom` in one
//! linear pass: no regex and no backtracking, which is what let python-multipart's
//! CVE-2024-24762 turn an unclosed quote into a denial of service.

use nom::{
    branch::alt,
    bytes::complete::{tag, take_while, take_while1},
    combinator::{opt, recognize},
    multi::many0_count,
    sequence::{delimited, pair, preceded, tuple},
    IResult,
};

use crate::boundary::validate_boundary;
use crate::error::{Error, ErrorKind};

/// A parsed `Content-Type` header value. Borrows the value; allocates nothing.
///
/// ```
/// use batchpart::ContentType;
/// let ct = ContentType::parse(b"Multipart/Mixed; BOUNDARY = \"batch_1.2+34:2j)0?\"").unwrap();
/// assert!(ct.is_multipart());
/// assert_eq!(ct.boundary(), Some(&b"batch_1.2+34:2j)0?"[..]));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentType<'a> {
    ty: &'a [u8],
    subtype: &'a [u8],
    params: &'a [u8],
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

// Folding white space counts as white space: generators such as Python's email package fold
// long Content-Type lines, and the decoder hands over the value with its folds.
fn ows(i: &[u8]) -> IResult<&[u8], &[u8]> {
    take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))(i)
}

fn token(i: &[u8]) -> IResult<&[u8], &[u8]> {
    take_while1(is_tchar)(i)
}

/// The inside of a quoted-string (without the quotes, escapes left as they are).
fn quoted(i: &[u8]) -> IResult<&[u8], &[u8]> {
    let qdtext = take_while1(|b: u8| b != b'"' && b != b'\\' && (b >= 0x20 || b == b'\t'));
    let quoted_pair = preceded(tag("\\"), take_while_m_n_any);
    delimited(
        tag("\""),
        recognize(many0_count(alt((qdtext, quoted_pair)))),
        tag("\""),
    )(i)
}

fn take_while_m_n_any(i: &[u8]) -> IResult<&[u8], &[u8]> {
    nom::bytes::complete::take(1usize)(i)
}

/// A parameter's name and value.
type Param<'a> = (&'a [u8], &'a [u8]);

/// One `; name=value` parameter, or an empty `;` that real senders leave behind.
fn param(i: &[u8]) -> IResult<&[u8], Option<Param<'_>>> {
    let (i, _) = tuple((ows, tag(";"), ows))(i)?;
    let (i, p) = opt(tuple((token, ows, tag("="), ows, alt((quoted, token)))))(i)?;
    Ok((i, p.map(|(n, _, _, _, v)| (n, v))))
}

fn media_type(i: &[u8]) -> IResult<&[u8], (&[u8], &[u8])> {
    let (i, (_, (t, _, s))) = pair(ows, tuple((token, tag("/"), token)))(i)?;
    Ok((i, (t, s)))
}

impl<'a> ContentType<'a> {
    /// Parses a `Content-Type` value. Type, subtype and parameter names compare
    /// case-insensitively; white space around `;` and `=` and folded lines are accepted.
    pub fn parse(value: &'a [u8]) -> Result<Self, Error> {
        let err = |rest: &[u8]| {
            Error::new(
                ErrorKind::InvalidContentType,
                (value.len() - rest.len()) as u64,
            )
        };
        let (rest, (ty, subtype)) = media_type(value).map_err(|_| err(value))?;
        let params_start = value.len() - rest.len();
        let mut i = rest;
        loop {
            let (r, _) = ows(i).map_err(|_| err(i))?;
            if r.is_empty() {
                break;
            }
            match param(i) {
                Ok((r, _)) => i = r,
                Err(_) => return Err(err(r)),
            }
        }
        Ok(ContentType {
            ty,
            subtype,
            params: &value[params_start..],
        })
    }

    /// The type, as sent (`multipart`).
    pub fn media_type(&self) -> &'a [u8] {
        self.ty
    }

    /// The subtype, as sent (`mixed`).
    pub fn subtype(&self) -> &'a [u8] {
        self.subtype
    }

    /// Is the essence `ty/subtype` equal to `essence`, ignoring ASCII case?
    pub fn is(&self, essence: &str) -> bool {
        let e = essence.as_bytes();
        e.len() == self.ty.len() + 1 + self.subtype.len()
            && e[..self.ty.len()].eq_ignore_ascii_case(self.ty)
            && e[self.ty.len()] == b'/'
            && e[self.ty.len() + 1..].eq_ignore_ascii_case(self.subtype)
    }

    /// `multipart/*`, any subtype (`mixed`, `batching`, `related`, ...).
    pub fn is_multipart(&self) -> bool {
        self.ty.eq_ignore_ascii_case(b"multipart")
    }

    /// `application/http` or `message/http`: a part that carries an HTTP message.
    pub fn is_http(&self) -> bool {
        self.is("application/http") || self.is("message/http")
    }

    /// Iterates the parameters as `(name, value)`; quoted values come without their quotes
    /// (escapes are left as sent).
    pub fn params(&self) -> Params<'a> {
        Params { rest: self.params }
    }

    /// The first parameter named `name` (ASCII case-insensitive). The first one wins when a
    /// name appears twice, as Olingo reads it.
    pub fn param(&self, name: &str) -> Option<&'a [u8]> {
        self.params()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// The `boundary` parameter, if any (unvalidated).
    pub fn boundary(&self) -> Option<&'a [u8]> {
        self.param("boundary")
    }

    /// For a `multipart/*` type, the validated boundary; an error for any other type, a
    /// missing boundary or an invalid one.
    pub fn multipart_boundary(&self) -> Result<&'a [u8], Error> {
        if !self.is_multipart() {
            return Err(Error::new(ErrorKind::NotMultipart, 0));
        }
        let b = self
            .boundary()
            .ok_or(Error::new(ErrorKind::MissingBoundary, 0))?;
        validate_boundary(b)?;
        Ok(b)
    }
}

/// Iterator over the parameters of a [`ContentType`].
#[derive(Debug, Clone)]
pub struct Params<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Params<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            // The value was validated by `ContentType::parse`, so this cannot fail midway.
            let (r, p) = param(self.rest).ok()?;
            self.rest = r;
            if let Some((n, v)) = p {
                return Some((n, v));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)] // `Vec` and `String` without the `std` feature
    use std::prelude::rust_2021::*;

    #[test]
    fn plain_and_quoted() {
        let ct = ContentType::parse(b"multipart/mixed; boundary=batch_36522ad7").unwrap();
        assert!(ct.is("Multipart/MIXED"));
        assert_eq!(ct.boundary(), Some(&b"batch_36522ad7"[..]));
        let ct = ContentType::parse(b"multipart/batching;boundary=\"EA370946\"").unwrap();
        assert_eq!(ct.boundary(), Some(&b"EA370946"[..]));
    }

    #[test]
    fn case_space_and_duplicates() {
        let ct = ContentType::parse(b"MULTIPART/mixed ;  bOunDaRy = abc ; boundary=def").unwrap();
        assert_eq!(ct.multipart_boundary().unwrap(), b"abc");
    }

    #[test]
    fn folded_and_trailing_semicolon() {
        let ct = ContentType::parse(
            b"multipart/mixed;boundary=batch_a685-9724-d873;\r\n IEEE754Compatible=true",
        )
        .unwrap();
        assert_eq!(ct.boundary(), Some(&b"batch_a685-9724-d873"[..]));
        assert_eq!(ct.param("ieee754compatible"), Some(&b"true"[..]));
        assert!(ContentType::parse(b"application/json;").is_ok());
    }

    #[test]
    fn msgtype() {
        let ct = ContentType::parse(b"application/http;msgtype=request").unwrap();
        assert!(ct.is_http());
        assert_eq!(ct.param("MsgType"), Some(&b"request"[..]));
        assert!(ContentType::parse(b"message/HTTP").unwrap().is_http());
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for bad in [
            &b""[..],
            b"multipart",
            b"multipart/",
            b"/mixed",
            b"multipart/mixed; boundary=\"unclosed",
            b"multipart/mixed; boundary=\"\\\\\\\\\\\\\\\\\\\\\\\\",
            b"multipart/mixed; boundary",
            b"multipart/mixed; =x",
            b"multipart/mixed x",
            b"multipart/mixed; boundary=a b",
        ] {
            assert_eq!(
                ContentType::parse(bad).unwrap_err().kind(),
                ErrorKind::InvalidContentType,
                "{:?}",
                core::str::from_utf8(bad)
            );
        }
    }

    #[test]
    fn boundary_errors() {
        let ct = ContentType::parse(b"multipart/mixed").unwrap();
        assert_eq!(
            ct.multipart_boundary().unwrap_err().kind(),
            ErrorKind::MissingBoundary
        );
        let ct = ContentType::parse(b"text/plain; boundary=a").unwrap();
        assert_eq!(
            ct.multipart_boundary().unwrap_err().kind(),
            ErrorKind::NotMultipart
        );
        let ct = ContentType::parse(b"multipart/mixed; boundary=\"a\\\"b\"").unwrap();
        assert_eq!(
            ct.multipart_boundary().unwrap_err().kind(),
            ErrorKind::InvalidBoundary
        );
    }
}
