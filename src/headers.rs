//! Header blocks: validated by the decoder one line at a time (as `httparse` would), then
//! exposed as a borrowed block that is iterated without allocating.

use memchr::memchr;

use crate::ascii::{eq_ignore_case, name_run, value_stop};

/// A validated block of header lines, borrowed from the input. Names keep their case as on
/// the wire; values are trimmed; folded (obs-fold) lines belong to the header they continue.
///
/// ```
/// let mut dec = batchpart::Decoder::new(b"b").unwrap();
/// let body = b"--b\r\ncontent-ID: <1>\r\nX-Long: a\r\n  b\r\n\r\nhi\r\n--b--";
/// for ev in dec.feed(body, true) {
///     if let batchpart::Event::PartStart(part) = ev.unwrap() {
///         let h = part.headers();
///         assert_eq!(h.get("Content-Id").unwrap().as_bytes(), b"<1>");
///         let long = h.get("x-long").unwrap();
///         assert!(long.is_folded());
///         assert!(long.unfolded_eq(b"a  b"));
///         assert_eq!(h.iter().next().unwrap().name(), b"content-ID");
///     }
/// }
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HeaderBlock<'a> {
    block: &'a [u8],
}

impl<'a> core::fmt::Debug for HeaderBlock<'a> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> HeaderBlock<'a> {
    pub(crate) fn new(block: &'a [u8]) -> Self {
        HeaderBlock { block }
    }

    /// An empty header block.
    pub const EMPTY: HeaderBlock<'static> = HeaderBlock { block: b"" };

    /// The raw bytes of the block as received, line endings and folds included.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.block
    }

    /// True when the block holds no header.
    pub fn is_empty(&self) -> bool {
        self.block.is_empty()
    }

    /// The headers in wire order.
    pub fn iter(&self) -> HeaderIter<'a> {
        HeaderIter {
            rest: self.block,
            at: 0,
        }
    }

    /// The first header with this name (ASCII case-insensitive).
    pub fn get(&self, name: &str) -> Option<Value<'a>> {
        self.iter()
            .find(|h| eq_ignore_case(h.name, name.as_bytes()))
            .map(|h| h.value)
    }
}

impl<'a> IntoIterator for HeaderBlock<'a> {
    type Item = Header<'a>;
    type IntoIter = HeaderIter<'a>;
    fn into_iter(self) -> HeaderIter<'a> {
        self.iter()
    }
}

/// One header field.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    name: &'a [u8],
    value: Value<'a>,
}

impl<'a> Header<'a> {
    /// The name, exactly as on the wire.
    pub fn name(&self) -> &'a [u8] {
        self.name
    }

    /// The trimmed value.
    pub fn value(&self) -> Value<'a> {
        self.value
    }
}

impl<'a> core::fmt::Debug for Header<'a> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}: {:?}", ByteStr(self.name), self.value)
    }
}

/// A trimmed header value. When the header was folded, the raw bytes still hold the line
/// breaks; [`Value::segments`] gives the RFC 5322 unfolding (each line break before white
/// space removed, the white space kept), which is the exact inverse of folding.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Value<'a> {
    raw: &'a [u8],
}

impl<'a> Value<'a> {
    pub(crate) fn new(raw: &'a [u8]) -> Self {
        Value { raw }
    }

    /// The raw value, trimmed, with any folds as sent.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }

    /// Did the value span several lines?
    pub fn is_folded(&self) -> bool {
        memchr(b'\n', self.raw).is_some()
    }

    /// The unfolded value as consecutive pieces; concatenated they form the value.
    pub fn segments(&self) -> Segments<'a> {
        Segments { rest: self.raw }
    }

    /// Compares the unfolded value with `other`, byte for byte.
    pub fn unfolded_eq(&self, other: &[u8]) -> bool {
        let mut rest = other;
        for seg in self.segments() {
            match rest.strip_prefix(seg) {
                Some(r) => rest = r,
                None => return false,
            }
        }
        rest.is_empty()
    }

    /// The unfolded value as an owned vector.
    #[cfg(feature = "std")]
    pub fn to_unfolded(&self) -> std::vec::Vec<u8> {
        let mut v = std::vec::Vec::with_capacity(self.raw.len());
        self.segments().for_each(|s| v.extend_from_slice(s));
        v
    }
}

impl<'a> core::fmt::Debug for Value<'a> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(&ByteStr(self.raw), f)
    }
}

/// The pieces of an unfolded [`Value`].
#[derive(Debug, Clone)]
pub struct Segments<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Segments<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        match memchr(b'\n', self.rest) {
            None => Some(core::mem::take(&mut self.rest)),
            Some(lf) => {
                let seg = &self.rest[..lf];
                let seg = seg.strip_suffix(b"\r").unwrap_or(seg);
                self.rest = &self.rest[lf + 1..];
                Some(seg)
            }
        }
    }
}

/// Iterator over the headers of a [`HeaderBlock`] block.
#[derive(Debug, Clone)]
pub struct HeaderIter<'a> {
    rest: &'a [u8],
    /// Where `rest` starts in the block.
    at: usize,
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = Header<'a>;
    fn next(&mut self) -> Option<Header<'a>> {
        self.next_at().map(|(h, _)| h)
    }
}

impl<'a> HeaderIter<'a> {
    /// The next header, and the index in the block where its trimmed value starts: counted
    /// as it is parsed, so that an error can name the byte.
    pub(crate) fn next_at(&mut self) -> Option<(Header<'a>, usize)> {
        if self.rest.is_empty() {
            return None;
        }
        // A logical header runs until a line break that is not followed by white space.
        let block = self.rest;
        let mut end = 0;
        loop {
            match memchr(b'\n', &block[end..]) {
                None => {
                    end = block.len();
                    break;
                }
                Some(lf) => {
                    end += lf + 1;
                    if !matches!(block.get(end), Some(b' ' | b'\t')) {
                        break;
                    }
                }
            }
        }
        self.rest = &block[end..];
        let line_at = self.at;
        self.at += end;
        let line = &block[..end];
        // Validated by the decoder: every header line has a colon.
        let colon = memchr(b':', line)?;
        let value = &line[colon + 1..];
        let r = trim_range(value);
        let h = Header {
            name: &line[..colon],
            value: Value {
                raw: &value[r.clone()],
            },
        };
        Some((h, line_at + colon + 1 + r.start))
    }
}

/// Trims SP, HT, CR and LF at both ends.
pub(crate) fn trim(s: &[u8]) -> &[u8] {
    &s[trim_range(s)]
}

/// The range of `s` that [`trim`] keeps.
pub(crate) fn trim_range(s: &[u8]) -> core::ops::Range<usize> {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = s.iter().position(|b| !ws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !ws(b)).map_or(start, |i| i + 1);
    start..end
}

/// `tchar` (RFC 9110 section 5.6.2): the bytes of a field name.
pub(crate) const TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        i += 1;
    }
    t
};

/// Validates one complete field line (ending in LF, CRLF or bare LF) as `httparse` does: a
/// token name, a colon straight after it, and a value of HTAB, visible characters, SP and
/// obs-text. Returns the colon's index. The plain reading [`scan_field_line`] is held to,
/// itself held to `httparse` (both are property tests).
#[cfg(test)]
fn field_line(line: &[u8]) -> Option<usize> {
    let colon = line.iter().position(|&b| !TCHAR[b as usize])?;
    if colon == 0 || line[colon] != b':' {
        return None;
    }
    let body = line.strip_suffix(b"\n")?;
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    // No early exit, so that the check compiles to a vector loop over the value.
    let bad = body.get(colon + 1..)?.iter().fold(false, |bad, &b| {
        bad | (b < 0x20 && b != b'\t') | (b == 0x7f)
    });
    (!bad).then_some(colon)
}

/// The length of the token (RFC 9110's `tchar`s) that starts `s`. Nearly every token is
/// letters, digits and `-`, read eight bytes at a time; the byte that ends that run most
/// often ends the token, and the table reads on from it.
#[inline]
fn token_len(s: &[u8]) -> usize {
    let run = name_run(s);
    run + s[run..]
        .iter()
        .position(|&b| !TCHAR[b as usize])
        .unwrap_or(s.len() - run)
}

/// A field line read in one pass by [`scan_field_line`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FieldLine {
    /// The colon's index.
    pub(crate) colon: usize,
    /// The index of the line's LF.
    pub(crate) lf: usize,
    /// A CR stands before the LF.
    pub(crate) cr: bool,
}

/// Reads a field line from its first byte in one pass: the name (token bytes up to a colon),
/// then the value up to its line end, each byte checked as it is passed, which is also the
/// search for the line end. Accepts what [`field_line`] accepts, ending in CRLF or LF.
///
/// `Err(stop)` for any other line, or one that runs past `s` or holds a byte a value may not:
/// no byte before `stop` is an LF, so the caller's general reading of the line searches for
/// its end from `stop` on and never twice over a byte.
pub(crate) fn scan_field_line(s: &[u8]) -> Result<FieldLine, usize> {
    let colon = token_len(s);
    if colon == 0 || s.get(colon) != Some(&b':') {
        return Err(colon);
    }
    let end = value_stop(s, colon + 1);
    match (s.get(end), s.get(end + 1)) {
        (Some(b'\n'), _) => Ok(FieldLine {
            colon,
            lf: end,
            cr: false,
        }),
        (Some(b'\r'), Some(b'\n')) => Ok(FieldLine {
            colon,
            lf: end + 1,
            cr: true,
        }),
        _ => Err(end),
    }
}

/// Validates an obs-fold continuation line: visible characters, SP and HT only.
pub(crate) fn valid_continuation_line(line: &[u8]) -> bool {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    body.iter().all(|&b| b == b'\t' || b >= 0x20 && b != 0x7f)
}

/// Debug helper that prints bytes as an escaped string.
pub(crate) struct ByteStr<'a>(pub(crate) &'a [u8]);

impl core::fmt::Debug for ByteStr<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("\"")?;
        for &b in self.0 {
            for c in core::ascii::escape_default(b) {
                f.write_fmt(format_args!("{}", c as char))?;
            }
        }
        f.write_str("\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)] // `Vec` and `String` without the `std` feature
    use std::prelude::rust_2021::*;

    #[test]
    fn blocks_and_fields_print_and_tell_emptiness() {
        let h = HeaderBlock::new(b"A: 1\r\nB: t\x01\r\n");
        assert!(!h.is_empty());
        assert!(HeaderBlock::EMPTY.is_empty());
        assert!(HeaderBlock::new(b"").is_empty());
        assert_eq!(
            format!("{h:?}"),
            "[\"A\": \"1\", \"B\": \"t\\x01\"]",
            "each field as name: value, bytes escaped"
        );
        assert_eq!(format!("{:?}", HeaderBlock::EMPTY), "[]");
    }

    #[test]
    fn iterate_with_folds() {
        let h = HeaderBlock::new(b"A: 1\r\nB:  two \r\n\tthree\r\nc: \r\n");
        let v: Vec<_> = h.iter().map(|h| (h.name(), h.value().as_bytes())).collect();
        assert_eq!(v[0], (&b"A"[..], &b"1"[..]));
        assert_eq!(v[1], (&b"B"[..], &b"two \r\n\tthree"[..]));
        assert_eq!(v[2], (&b"c"[..], &b""[..]));
        assert!(h.get("b").unwrap().unfolded_eq(b"two \tthree"));
        assert!(!h.get("b").unwrap().unfolded_eq(b"two \tthre"));
        assert!(!h.get("b").unwrap().unfolded_eq(b"two \tthreee"));
        assert!(!h.get("b").unwrap().unfolded_eq(b"two \r\n\tthree"));
        assert!(h.get("b").unwrap().is_folded());
        assert!(!h.get("a").unwrap().is_folded());
        assert_eq!(
            format!("{:?}", h.get("b").unwrap()),
            "\"two \\r\\n\\tthree\""
        );
        #[cfg(feature = "std")]
        assert_eq!(h.get("b").unwrap().to_unfolded(), b"two \tthree");
    }

    #[test]
    fn line_validation() {
        // Two control characters, or a control character and DEL: still refused (the check
        // folds with `|`, and an `^` would let an even count through).
        assert!(field_line(b"X: a\x01\x02b\r\n").is_none());
        assert!(field_line(b"X: a\x01\x7fb\r\n").is_none());
        assert!(field_line(b"X: \x7f\x7f\r\n").is_none());
        assert!(
            field_line(b"X: a\tb\x80\xff\r\n").is_some(),
            "HTAB and obs-text"
        );
        assert!(field_line(b"Content-Type: a\r\n").is_some());
        assert!(field_line(b"content-id:x\n").is_some());
        assert!(field_line(b"no colon\r\n").is_none());
        assert!(field_line(b" lead: x\r\n").is_none());
        assert!(field_line(b"Bad Name: x\r\n").is_none());
        assert!(field_line(b"X: a\0b\r\n").is_none());
        assert!(valid_continuation_line(b"  more text\r\n"));
        assert_eq!(field_line(b"Content-Type: a\r\n"), Some(12));
        assert!(!valid_continuation_line(b" a\x01\r\n"));
    }
}

#[cfg(test)]
mod field_line_matches_httparse {
    use super::*;
    use proptest::prelude::*;

    fn httparse_says(line: &[u8]) -> bool {
        let mut one = [httparse::EMPTY_HEADER; 1];
        matches!(
            httparse::parse_headers(line, &mut one),
            Ok(httparse::Status::Partial)
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]
        /// The hand-written validator and `httparse` agree on every line.
        #[test]
        fn on_arbitrary_lines(
            name in prop::collection::vec(prop::sample::select(b"aZ09-_:; \t\r\x7f\x80\xff\x00\"(".to_vec()), 0..8),
            value in prop::collection::vec(any::<u8>(), 0..12),
            cr in any::<bool>(),
        ) {
            let mut line = name;
            line.extend(value.into_iter().filter(|&b| b != b'\n'));
            if cr { line.push(b'\r'); }
            line.push(b'\n');
            prop_assert_eq!(field_line(&line).is_some(), httparse_says(&line), "{:?}", ByteStr(&line));
        }

        /// The one-pass reading finds the line a search for its LF and [`field_line`] find,
        /// on any bytes (a line cut short, several lines, values past a word's length with
        /// HTAB, CR, DEL and other control bytes anywhere); when it declines, no LF stands
        /// before where it stopped.
        #[test]
        fn one_pass_agrees_with_search_and_check(
            name in prop::collection::vec(prop::sample::select(b"aZ09-_:; \t\r\n\"(".to_vec()), 0..6),
            value in prop::collection::vec(prop_oneof![
                4 => prop::sample::select(b"ab \t/;=\x80\xff".to_vec()),
                1 => any::<u8>(),
            ], 0..40),
        ) {
            let mut s = name;
            s.extend(value);
            let line = memchr(b'\n', &s).map(|lf| &s[..=lf]);
            match scan_field_line(&s) {
                Ok(f) => {
                    let line = line.expect("a line end");
                    prop_assert_eq!(f.lf, line.len() - 1);
                    prop_assert_eq!(Some(f.colon), field_line(line));
                    prop_assert_eq!(f.cr, f.lf > 0 && s[f.lf - 1] == b'\r');
                }
                Err(stop) => {
                    prop_assert!(stop <= s.len());
                    prop_assert!(!s[..stop].contains(&b'\n'));
                    if let Some(line) = line {
                        prop_assert_eq!(field_line(line), None, "{:?}", ByteStr(&s));
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]
        /// A token's length is that of its run of table `tchar`s, however long the run of
        /// letters, digits and `-` before another `tchar` (`!`, `_`, `~`) or the end.
        #[test]
        fn token_len_is_the_tables_run(
            s in crate::ascii::near_bytes(b"aZ09-!_~.:/; \"\x80", 8, 40),
        ) {
            let naive = s.iter().position(|&b| !TCHAR[b as usize]).unwrap_or(s.len());
            prop_assert_eq!(token_len(&s), naive, "{:?}", ByteStr(&s));
        }
    }

    #[test]
    fn one_pass_reads_words_and_their_edges() {
        let long = b"X-Long: 0123456789abcdef\t01234567\r\nnext";
        let f = scan_field_line(long).unwrap();
        assert_eq!((f.colon, f.lf, f.cr), (6, 34, true));
        // A bad byte in each position of a word, and past the last whole word.
        for at in 8..34 {
            let mut l = long.to_vec();
            l[at] = 0x01;
            assert_eq!(scan_field_line(&l), Err(at), "at {at}");
            l[at] = 0x7f;
            assert_eq!(scan_field_line(&l), Err(at), "at {at}");
        }
        assert_eq!(
            scan_field_line(b"X: abc\r"),
            Err(6),
            "a CR at the end waits"
        );
        assert_eq!(scan_field_line(b"X: abc\rd\n"), Err(6), "a lone CR");
        assert_eq!(scan_field_line(b"X: abcdefghijkl"), Err(15));
        assert_eq!(scan_field_line(b"X:\n").map(|f| f.lf), Ok(2));
        assert_eq!(scan_field_line(b": x\r\n"), Err(0));
        assert_eq!(scan_field_line(b"X x: y\r\n"), Err(1));
    }
}
