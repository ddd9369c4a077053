//! `Content-Type` values (RFC 9110 media types with parameters), parsed by hand in one linear
//! pass: no regex and no unbounded backtracking, which is what let python-multipart's
//! CVE-2024-24762 turn an unclosed quote into a denial of service. The `nom` grammar it
//! replaced is kept as a test oracle: a property test holds the two equal, errors included.

use crate::ascii::eq_ignore_case;
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
    /// Read by [`ContentType::parse_lenient`]'s rule for unquoted values.
    lenient: bool,
}

// Folding white space counts as white space: generators such as Python's email package fold
// long Content-Type lines, and the decoder hands over the value with its folds.
fn ows(v: &[u8], i: usize) -> usize {
    i + v[i..]
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .count()
}

fn token(v: &[u8], i: usize) -> usize {
    i + v[i..]
        .iter()
        .take_while(|&&b| crate::headers::TCHAR[b as usize])
        .count()
}

/// A quoted-string at `i`: the index after its closing quote, or `None`. Backslash escapes
/// any one byte; other bytes are HTAB, SP, visible and obs-text, and a fold (CRLF then SP or
/// HTAB) may stand anywhere, since the value is read as sent, with its folds: unfolded
/// (RFC 5322 section 2.2.3), the quoted-string is the same without them.
fn quoted(v: &[u8], i: usize) -> Option<usize> {
    if v.get(i) != Some(&b'"') {
        return None;
    }
    let mut p = i + 1;
    loop {
        match *v.get(p)? {
            b'"' => return Some(p + 1),
            // A backslash escapes the next byte; one at the end leaves `p` past it, and the
            // next read ends the value.
            b'\\' => p += 2,
            b if b >= 0x20 || b == b'\t' => p += 1,
            b'\r' if v.get(p + 1) == Some(&b'\n') && matches!(v.get(p + 2), Some(b' ' | b'\t')) => {
                p += 3
            }
            _ => return None,
        }
    }
}

/// `token ows "=" ows (quoted-string | token)` at `i`: its name, value and end.
/// A parameter's name and value.
type Param<'a> = (&'a [u8], &'a [u8]);

fn name_value(v: &[u8], i: usize, lenient: bool) -> Option<(&[u8], &[u8], usize)> {
    let n = token(v, i);
    if n == i {
        return None;
    }
    let eq = ows(v, n);
    if v.get(eq) != Some(&b'=') {
        return None;
    }
    let vs = ows(v, eq + 1);
    if let Some(e) = quoted(v, vs) {
        return Some((&v[i..n], &v[vs + 1..e - 1], e));
    }
    // A value that opens a quote is a quoted-string, lenient or not: unclosed, it is malformed.
    if lenient && v.get(vs) != Some(&b'"') {
        return unquoted_run(v, vs).map(|(ve, e)| (&v[i..n], &v[vs..ve], e));
    }
    let e = token(v, vs);
    (e > vs).then(|| (&v[i..n], &v[vs..e], e))
}

/// Outside strict mode, an unquoted value runs to the next `;` or the end, trailing white
/// space trimmed, so that `=` and other non-token bytes may stand in it: Google's batch
/// answers carry `boundary=batch_pK7JBAk73-E=_AA5eFwv4m2Q=` unquoted. The end of the value
/// and where the parameter ends; `None` for an empty value or one with a control byte.
fn unquoted_run(v: &[u8], vs: usize) -> Option<(usize, usize)> {
    let end = vs
        + v[vs..]
            .iter()
            .position(|&b| b == b';')
            .unwrap_or(v.len() - vs);
    let ve = vs
        + v[vs..end]
            .iter()
            .rposition(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            .map_or(0, |p| p + 1);
    let clean = v[vs..ve].iter().all(|&b| b >= 0x20 && b != 0x7f);
    (ve > vs && clean).then_some((ve, ve))
}

/// One `; name=value` parameter at `i`, or an empty `;` that real senders leave behind:
/// the parameter, if any, and where the next one starts. `None` without the `;`.
fn param(v: &[u8], i: usize, lenient: bool) -> Option<(Option<Param<'_>>, usize)> {
    let semi = ows(v, i);
    if v.get(semi) != Some(&b';') {
        return None;
    }
    let at = ows(v, semi + 1);
    Some(match name_value(v, at, lenient) {
        Some((n, val, e)) => (Some((n, val)), e),
        None => (None, at),
    })
}

impl<'a> ContentType<'a> {
    /// Parses a `Content-Type` value by RFC 9110's grammar, as strict mode reads it. Type,
    /// subtype and parameter names compare case-insensitively; white space around `;` and
    /// `=` and folded lines are accepted.
    pub fn parse(value: &'a [u8]) -> Result<Self, Error> {
        Self::parse_as(value, false)
    }

    /// Parses a `Content-Type` value as the decoder reads it outside strict mode: as
    /// [`parse`](Self::parse), except that an unquoted parameter value runs to the next `;`
    /// or the end of the field, trailing white space trimmed, so it may hold `=` (Google's
    /// batch answers send `boundary=batch_pK7JBAk73-E=_AA5eFwv4m2Q=`; Python's `email` reads
    /// it, Go's `mime.ParseMediaType` refuses it). A boundary read so must still be a valid
    /// one. On every value `parse` accepts, the two agree.
    ///
    /// ```
    /// use batchpart::ContentType;
    /// let google = b"multipart/mixed; boundary=batch_pK7JBAk73-E=_AA5eFwv4m2Q=";
    /// assert!(ContentType::parse(google).is_err());
    /// let ct = ContentType::parse_lenient(google).unwrap();
    /// assert_eq!(ct.multipart_boundary().unwrap(), b"batch_pK7JBAk73-E=_AA5eFwv4m2Q=");
    /// ```
    pub fn parse_lenient(value: &'a [u8]) -> Result<Self, Error> {
        Self::parse_as(value, true)
    }

    /// [`parse`](Self::parse) in strict mode, [`parse_lenient`](Self::parse_lenient) outside it.
    pub(crate) fn parse_in(value: &'a [u8], strict: bool) -> Result<Self, Error> {
        Self::parse_as(value, !strict)
    }

    fn parse_as(value: &'a [u8], lenient: bool) -> Result<Self, Error> {
        let err = |at: usize| Error::new(ErrorKind::InvalidContentType, at as u64);
        // One linear pass, each byte looked at a bounded number of times.
        let ts = ows(value, 0);
        let te = token(value, ts);
        if te == ts || value.get(te) != Some(&b'/') {
            return Err(err(0));
        }
        let ss = te + 1;
        let se = token(value, ss);
        if se == ss {
            return Err(err(0));
        }
        let mut i = se;
        loop {
            let r = ows(value, i);
            if r == value.len() {
                break;
            }
            match param(value, i, lenient) {
                Some((_, next)) => i = next,
                None => return Err(err(r)),
            }
        }
        Ok(ContentType {
            ty: &value[ts..te],
            subtype: &value[ss..se],
            params: &value[se..],
            lenient,
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
            && eq_ignore_case(&e[..self.ty.len()], self.ty)
            && e[self.ty.len()] == b'/'
            && eq_ignore_case(&e[self.ty.len() + 1..], self.subtype)
    }

    /// `multipart/*`, any subtype (`mixed`, `batching`, `related`, ...).
    pub fn is_multipart(&self) -> bool {
        eq_ignore_case(self.ty, b"multipart")
    }

    /// `application/http` or `message/http`: a part that carries an HTTP message.
    pub fn is_http(&self) -> bool {
        self.is("application/http") || self.is("message/http")
    }

    /// Iterates the parameters as `(name, value)`; quoted values come without their quotes
    /// (escapes are left as sent).
    pub fn params(&self) -> Params<'a> {
        Params {
            rest: self.params,
            lenient: self.lenient,
        }
    }

    /// The first parameter named `name` (ASCII case-insensitive). The first one wins when a
    /// name appears twice, as Olingo reads it.
    pub fn param(&self, name: &str) -> Option<&'a [u8]> {
        self.params()
            .find(|(n, _)| eq_ignore_case(n, name.as_bytes()))
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
    lenient: bool,
}

impl<'a> Iterator for Params<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            // The value was validated by `ContentType::parse`, so this cannot fail midway.
            let (p, next) = param(self.rest, 0, self.lenient)?;
            self.rest = &self.rest[next..];
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
    fn a_fold_inside_a_quoted_string() {
        // Found by the differential fuzz target: unfolded, this is a valid quoted-string.
        let ct = ContentType::parse(b"text/plain; charset=\"utf\r\n\t-8\"").unwrap();
        assert_eq!(ct.param("charset"), Some(&b"utf\r\n\t-8"[..]));
        assert!(ContentType::parse(b"text/plain; charset=\"utf\r\n-8\"").is_err());
    }

    #[test]
    fn escapes_inside_quoted_values() {
        for parse in [ContentType::parse, ContentType::parse_lenient] {
            let ct = parse(b"text/plain; x=\"a\\\"b\"; y=z").unwrap();
            assert_eq!(
                ct.param("x"),
                Some(&br#"a\"b"#[..]),
                "escapes are left as sent"
            );
            assert_eq!(ct.param("y"), Some(&b"z"[..]));
            let ct = parse(b"text/plain; x=\"\\\\\"").unwrap();
            assert_eq!(ct.param("x"), Some(&br#"\\"#[..]));
            assert!(
                parse(b"text/plain; x=\"a\\\"").is_err(),
                "the escaped quote does not close"
            );
            assert!(
                parse(b"text/plain; x=\"a\\").is_err(),
                "a backslash at the end escapes nothing, and the value never closes"
            );
        }
    }

    #[test]
    fn is_compares_the_whole_essence() {
        let ct = ContentType::parse(b"application/http").unwrap();
        assert!(ct.is("application/http") && ct.is("APPLICATION/Http"));
        // Each part of the comparison on its own: the length, the type, the slash, the
        // subtype.
        assert!(!ct.is("application/htt"));
        assert!(!ct.is("applicatioX/http"));
        assert!(!ct.is("applicationXhttp"));
        assert!(!ct.is("application/httX"));
        assert!(!ct.is("message/http"));
        assert!(ContentType::parse(b"message/http").unwrap().is_http());
        assert!(!ContentType::parse(b"text/http").unwrap().is_http());
    }

    #[test]
    fn the_decoder_mode_chooses_the_rule() {
        let google = b"multipart/mixed; boundary=a=b";
        assert!(
            ContentType::parse_in(google, true).is_err(),
            "strict: RFC 9110"
        );
        assert_eq!(
            ContentType::parse_in(google, false).unwrap().boundary(),
            Some(&b"a=b"[..])
        );
    }

    #[test]
    fn lenient_unquoted_values_run_to_the_semicolon() {
        let google = b"multipart/mixed; boundary=batch_pK7JBAk73-E=_AA5eFwv4m2Q=";
        assert_eq!(
            ContentType::parse(google).unwrap_err().kind(),
            ErrorKind::InvalidContentType
        );
        let ct = ContentType::parse_lenient(google).unwrap();
        assert_eq!(ct.boundary(), Some(&b"batch_pK7JBAk73-E=_AA5eFwv4m2Q="[..]));
        assert_eq!(
            ct.multipart_boundary().unwrap(),
            b"batch_pK7JBAk73-E=_AA5eFwv4m2Q="
        );
        let ct =
            ContentType::parse_lenient(b"multipart/mixed; boundary=a=b  ; charset=x=y\t").unwrap();
        let params: Vec<_> = ct.params().collect();
        assert_eq!(
            params,
            [(&b"boundary"[..], &b"a=b"[..]), (b"charset", b"x=y")]
        );
        // Still refused: an empty value, a control byte, a boundary outside bchars.
        for bad in [
            &b"multipart/mixed; boundary=;"[..],
            b"multipart/mixed; boundary=  ",
            b"multipart/mixed; boundary=a\x01b",
            b"multipart/mixed; boundary=a\r\nb",
        ] {
            assert!(ContentType::parse_lenient(bad).is_err(), "{bad:?}");
        }
        let ct = ContentType::parse_lenient(b"multipart/mixed; boundary=a{b").unwrap();
        assert!(ct.multipart_boundary().is_err(), "`{{` is no bchar");
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

/// The `nom` grammar this parser replaced, kept as the oracle of a property test: both read
/// every value the same way, to the byte of an error.
#[cfg(test)]
mod oracle {
    use nom::{
        branch::alt,
        bytes::complete::{tag, take_while, take_while1},
        combinator::{opt, recognize},
        multi::many0_count,
        sequence::{delimited, pair, preceded, tuple},
        IResult,
    };

    pub(super) fn is_tchar(b: u8) -> bool {
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
        let fold = recognize(pair(tag("\r\n"), alt((tag(" "), tag("\t")))));
        delimited(
            tag("\""),
            recognize(many0_count(alt((qdtext, quoted_pair, fold)))),
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

    /// `(type, subtype, params)`.
    pub(super) type Parts<'a> = (&'a [u8], &'a [u8], &'a [u8]);

    /// The parts, or the error offset, as the nom grammar reads `value`.
    pub(super) fn parse(value: &[u8]) -> Result<Parts<'_>, u64> {
        let err = |rest: &[u8]| (value.len() - rest.len()) as u64;
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
        Ok((ty, subtype, &value[params_start..]))
    }

    /// The parameters, as the nom grammar lists them.
    pub(super) fn params(mut rest: &[u8]) -> std::vec::Vec<(&[u8], &[u8])> {
        let mut out = std::vec::Vec::new();
        while let Ok((r, p)) = param(rest) {
            rest = r;
            out.extend(p);
        }
        out
    }
}

#[cfg(test)]
mod matches_the_nom_grammar {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 30_000, ..ProptestConfig::default() })]
        #[test]
        fn on_arbitrary_values(v in prop::collection::vec(
            prop::sample::select(b"ab/;= \t\r\n\"\\,x\x01\x7f\xff".to_vec()), 0..24)) {
            let ours = ContentType::parse(&v)
                .map(|c| (c.media_type(), c.subtype(), c.params))
                .map_err(|e| e.offset());
            prop_assert_eq!(ours, oracle::parse(&v));
            if let Ok(c) = ContentType::parse(&v) {
                prop_assert_eq!(c.params().collect::<std::vec::Vec<_>>(), oracle::params(c.params));
            }
            lenient_agrees(&v)?;
        }

        #[test]
        fn on_plausible_values(
            ty in "[a-zA-Z]{1,8}/[a-z+.-]{1,8}",
            params in prop::collection::vec(("[ \t]{0,2};[ \t]{0,2}", "[a-zA-Z]{0,5}", "[ ]?=[ ]?", "(\"([^\"\\\\]|\\\\.){0,6}\"?)|[a-z0-9_'-]{0,6}"), 0..4),
        ) {
            let mut v = ty.into_bytes();
            for (a, n, e, val) in params {
                v.extend(a.bytes().chain(n.bytes()).chain(e.bytes()).chain(val.bytes()));
            }
            let ours = ContentType::parse(&v)
                .map(|c| (c.media_type(), c.subtype(), c.params))
                .map_err(|e| e.offset());
            prop_assert_eq!(ours, oracle::parse(&v));
            lenient_agrees(&v)?;
        }
    }

    /// The lenient rule accepts every value the strict grammar does, and reads it the same;
    /// what it refuses, the strict grammar refuses too.
    fn lenient_agrees(v: &[u8]) -> Result<(), TestCaseError> {
        match (ContentType::parse(v), ContentType::parse_lenient(v)) {
            (Ok(s), Ok(l)) => {
                prop_assert_eq!((s.media_type(), s.subtype()), (l.media_type(), l.subtype()));
                prop_assert_eq!(
                    s.params().collect::<std::vec::Vec<_>>(),
                    l.params().collect::<std::vec::Vec<_>>()
                );
            }
            (Ok(_), Err(e)) => {
                prop_assert!(false, "lenient refused a strict value at {}", e.offset())
            }
            (Err(_), _) => {}
        }
        Ok(())
    }
}
