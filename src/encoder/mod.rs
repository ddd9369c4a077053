//! The sans-IO multipart encoder: it writes the framing (delimiters, part headers, embedded
//! request and status lines) into a caller-supplied [`Sink`] and never touches a body. The
//! caller sends each body as it is, between the framing, so bodies are never copied.
//!
//! A [`Sink`] is a caller's `&mut [u8]`, through [`SliceWriter`] (no `alloc` needed), or, with
//! the `bytes` feature (which `std` brings), any `bytes::BufMut`. Every write is whole or
//! nothing: when the sink has not the room for it, the call fails with
//! [`EncodeErrorKind::NeedsRoom`], writes nothing and leaves the encoder as it was, so the
//! caller can flush and call again.
//!
//! [`Writer`](crate::writer::Writer) (feature `std`) builds on it to produce a sequence of
//! `Bytes`, and, with the `stream` feature, a `Stream` of `Bytes`.

use crate::boundary::{boundary_needs_quotes, validate_boundary, Delimiter};
use crate::content_type::ContentType;
use crate::decoder::MAX_DEPTH;
use crate::http::is_token;

mod error;
mod sink;
mod values;

use error::err;
pub use error::{EncodeError, EncodeErrorKind};
use sink::{Adapter, Count};
pub use sink::{Sink, SliceWriter};
pub use values::canonical_reason;
#[cfg(feature = "std")]
pub use values::random_boundary;

/// Encoder options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EncoderConfig {
    /// Accept raw spaces in request targets (OData clients send `$filter=a eq b` unescaped).
    /// Off by default: a target with a space is refused.
    pub allow_spaces_in_target: bool,
}

fn check_name(n: &[u8]) -> Result<(), EncodeError> {
    if is_token(n) {
        Ok(())
    } else {
        err(EncodeErrorKind::InvalidHeaderName)
    }
}

fn check_value(v: &[u8]) -> Result<(), EncodeError> {
    if v.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f)) {
        Ok(())
    } else {
        err(EncodeErrorKind::InvalidHeaderValue)
    }
}

fn is_version(v: &[u8]) -> bool {
    matches!(v, [b'H', b'T', b'T', b'P', b'/', a, b'.', b] if a.is_ascii_digit() && b.is_ascii_digit())
}

fn put_headers<H, N, V>(buf: &mut dyn Sink, headers: H)
where
    H: IntoIterator<Item = (N, V)>,
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    for (n, v) in headers {
        buf.put(n.as_ref());
        buf.put(b": ");
        buf.put(v.as_ref());
        buf.put(b"\r\n");
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Where {
    /// Nothing written at this level yet (a preamble may come).
    Start,
    /// A preamble was written; the first delimiter needs its CRLF.
    AfterPreamble,
    /// Inside a part: the next delimiter needs its CRLF.
    InPart,
}

/// The sans-IO encoder. It tracks nesting and what comes next, validates everything it
/// writes, and allocates nothing.
///
/// ```
/// use batchpart::encoder::{Encoder, SliceWriter};
///
/// let mut enc = Encoder::new(b"batch_1")?;
/// let mut buf = [0u8; 256]; // any `bytes::BufMut` too, with the `bytes` feature
/// let mut out = SliceWriter::new(&mut buf);
/// enc.part([("Content-Type", "application/http")], &mut out)?;
/// enc.request_head(b"GET", b"/service/Customers", Some(b"HTTP/1.1"), [("Host", "host")], &mut out)?;
/// // A body would be sent here, as it is.
/// enc.finish(b"", &mut out)?;
/// assert_eq!(
///     out.written(),
///     b"--batch_1\r\nContent-Type: application/http\r\n\r\n\
///       GET /service/Customers HTTP/1.1\r\nHost: host\r\n\r\n\r\n--batch_1--\r\n"
/// );
/// # Ok::<(), batchpart::encoder::EncodeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Encoder {
    levels: [Delimiter; MAX_DEPTH],
    at: [Where; MAX_DEPTH],
    depth: usize,
    finished: bool,
    cfg: EncoderConfig,
}

impl Encoder {
    /// An encoder for this boundary, which is validated.
    pub fn new(boundary: &[u8]) -> Result<Self, EncodeError> {
        Self::with_config(boundary, EncoderConfig::default())
    }

    /// An encoder for this boundary and configuration.
    pub fn with_config(boundary: &[u8], cfg: EncoderConfig) -> Result<Self, EncodeError> {
        validate_boundary(boundary)
            .map_err(|_| EncodeError::new(EncodeErrorKind::InvalidBoundary))?;
        let mut levels = [Delimiter::EMPTY; MAX_DEPTH];
        levels[0] = Delimiter::new(boundary);
        Ok(Encoder {
            levels,
            at: [Where::Start; MAX_DEPTH],
            depth: 1,
            finished: false,
            cfg,
        })
    }

    /// An encoder with a fresh random boundary (see [`random_boundary`]).
    #[cfg(feature = "std")]
    pub fn with_random_boundary() -> Self {
        let b = random_boundary();
        Self::new(b.as_bytes()).expect("generated boundaries are valid")
    }

    /// The top-level boundary.
    pub fn boundary(&self) -> &[u8] {
        self.levels[0].boundary()
    }

    /// The current nesting depth (1 at the top).
    pub fn depth(&self) -> usize {
        self.depth
    }

    fn level(&self) -> usize {
        self.depth - 1
    }

    fn live(&self) -> Result<(), EncodeError> {
        if self.finished {
            err(EncodeErrorKind::OutOfOrder)
        } else {
            Ok(())
        }
    }

    /// Checks that `content` can stand in the current multipart: no line of it opens with
    /// `--boundary` of any open level, after CRLF or LF alone, and it does not open with one
    /// either (a delimiter may share the line end before it). One linear `memmem` pass per
    /// level.
    pub fn check_content(&self, content: &[u8]) -> Result<(), EncodeError> {
        if self.conflicts(content) != 0 {
            return err(EncodeErrorKind::BoundaryInBody);
        }
        Ok(())
    }

    /// The open levels (bit `i` for level `i`, 0 the top) whose delimiter `content` holds.
    pub(crate) fn conflicts(&self, content: &[u8]) -> u32 {
        self.levels[..self.depth]
            .iter()
            .enumerate()
            .filter(|(_, l)| crate::boundary::holds_delimiter(content, l.boundary()))
            .fold(0, |m, (i, _)| m | 1 << i)
    }

    /// The boundary of the innermost open level (the top one when none is nested).
    pub fn current_boundary(&self) -> &[u8] {
        self.levels[self.depth - 1].boundary()
    }

    /// The boundary of open level `level` (0 the top).
    #[cfg(feature = "std")]
    pub(crate) fn level_boundary(&self, level: usize) -> &[u8] {
        self.levels[level.min(self.depth - 1)].boundary()
    }

    /// A written line (a header, a request line) must not open with `--` and an open boundary:
    /// every reader would take it for a delimiter line.
    fn check_line_start(&self, line: &[u8]) -> Result<(), EncodeError> {
        if let Some(rest) = line.strip_prefix(b"--") {
            if self.levels[..self.depth]
                .iter()
                .any(|l| rest.starts_with(l.boundary()))
            {
                return err(EncodeErrorKind::BoundaryInBody);
            }
        }
        Ok(())
    }

    /// Validates every header before any is written, so a refused header leaves no partial
    /// output: a token name, a value without CR, LF, NUL or other controls, and no line that
    /// would open with a delimiter.
    fn check_fields<H, N, V>(&self, headers: H) -> Result<(), EncodeError>
    where
        H: IntoIterator<Item = (N, V)>,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        headers.into_iter().try_for_each(|(n, v)| {
            check_name(n.as_ref())?;
            check_value(v.as_ref())?;
            self.check_line_start(n.as_ref())
        })
    }

    /// Writes a preamble; only before the first part of the current multipart.
    pub fn preamble<S: Sink + ?Sized>(
        &mut self,
        text: &[u8],
        dst: &mut S,
    ) -> Result<(), EncodeError> {
        self.atomic(dst, |e, out| e.preamble_into(text, out))
    }

    fn preamble_into(&mut self, text: &[u8], buf: &mut dyn Sink) -> Result<(), EncodeError> {
        self.live()?;
        let l = self.level();
        if self.at[l] != Where::Start {
            return err(EncodeErrorKind::OutOfOrder);
        }
        self.check_content(text)?;
        if !text.is_empty() {
            buf.put(text);
            self.at[l] = Where::AfterPreamble;
        }
        Ok(())
    }

    fn delimiter(&mut self, buf: &mut dyn Sink) {
        let l = self.level();
        let d = self.levels[l].as_bytes();
        // The first delimiter of a multipart needs no CRLF when nothing precedes it.
        let d = if self.at[l] == Where::Start {
            &d[2..]
        } else {
            d
        };
        buf.put(d);
        self.at[l] = Where::InPart;
    }

    /// Starts a part with these MIME headers, written exactly as given (names keep their
    /// case), then the blank line. The part's body follows, sent by the caller as it is.
    pub fn part<S, H, N, V>(&mut self, headers: H, dst: &mut S) -> Result<(), EncodeError>
    where
        S: Sink + ?Sized,
        H: IntoIterator<Item = (N, V)> + Clone,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.atomic(dst, |e, out| e.part_into(headers.clone(), out))
    }

    fn part_into<H, N, V>(&mut self, headers: H, buf: &mut dyn Sink) -> Result<(), EncodeError>
    where
        H: IntoIterator<Item = (N, V)> + Clone,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.live()?;
        self.check_fields(headers.clone())?;
        self.delimiter(buf);
        buf.put(b"\r\n");
        put_headers(buf, headers);
        buf.put(b"\r\n");
        Ok(())
    }

    /// Writes an embedded request head (request line, headers, blank line) at the start of an
    /// `application/http` part's body. `version: None` writes a request line without one.
    pub fn request_head<S, H, N, V>(
        &mut self,
        method: &[u8],
        target: &[u8],
        version: Option<&[u8]>,
        headers: H,
        dst: &mut S,
    ) -> Result<(), EncodeError>
    where
        S: Sink + ?Sized,
        H: IntoIterator<Item = (N, V)> + Clone,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.atomic(dst, |e, out| {
            e.request_head_into(method, target, version, headers.clone(), out)
        })
    }

    pub(crate) fn request_head_into<H, N, V>(
        &self,
        method: &[u8],
        target: &[u8],
        version: Option<&[u8]>,
        headers: H,
        buf: &mut dyn Sink,
    ) -> Result<(), EncodeError>
    where
        H: IntoIterator<Item = (N, V)> + Clone,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.live()?;
        if !is_token(method) {
            return err(EncodeErrorKind::InvalidMethod);
        }
        let space_ok = self.cfg.allow_spaces_in_target;
        if target.is_empty()
            || target.first() == Some(&b' ')
            || target.last() == Some(&b' ')
            || target
                .iter()
                .any(|&b| b < 0x20 || b == 0x7f || (b == b' ' && !space_ok))
        {
            return err(EncodeErrorKind::InvalidTarget);
        }
        if version.is_some_and(|v| !is_version(v)) {
            return err(EncodeErrorKind::InvalidVersion);
        }
        self.check_fields(headers.clone())?;
        self.check_line_start(method)?;
        buf.put(method);
        buf.put(b" ");
        buf.put(target);
        if let Some(v) = version {
            buf.put(b" ");
            buf.put(v);
        }
        buf.put(b"\r\n");
        put_headers(buf, headers);
        buf.put(b"\r\n");
        Ok(())
    }

    /// Writes an embedded response head. `reason: None` writes the canonical reason phrase
    /// (none for an unknown code); `Some(b"")` writes none.
    pub fn response_head<S, H, N, V>(
        &mut self,
        version: &[u8],
        status: u16,
        reason: Option<&[u8]>,
        headers: H,
        dst: &mut S,
    ) -> Result<(), EncodeError>
    where
        S: Sink + ?Sized,
        H: IntoIterator<Item = (N, V)> + Clone,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.atomic(dst, |e, out| {
            e.response_head_into(version, status, reason, headers.clone(), out)
        })
    }

    pub(crate) fn response_head_into<H, N, V>(
        &self,
        version: &[u8],
        status: u16,
        reason: Option<&[u8]>,
        headers: H,
        buf: &mut dyn Sink,
    ) -> Result<(), EncodeError>
    where
        H: IntoIterator<Item = (N, V)> + Clone,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.live()?;
        if !is_version(version) {
            return err(EncodeErrorKind::InvalidVersion);
        }
        let reason = reason.unwrap_or_else(|| canonical_reason(status).unwrap_or("").as_bytes());
        if !(100..=999).contains(&status) || check_value(reason).is_err() {
            return err(EncodeErrorKind::InvalidStatus);
        }
        self.check_fields(headers.clone())?;
        buf.put(version);
        let digits = [
            b'0' + (status / 100) as u8,
            b'0' + (status / 10 % 10) as u8,
            b'0' + (status % 10) as u8,
        ];
        buf.put(b" ");
        buf.put(&digits);
        // RFC 9112 section 4: `status-code SP [ reason-phrase ]`, the space even without a
        // reason (Google's batch parser splits on it).
        buf.put(b" ");
        buf.put(reason);
        buf.put(b"\r\n");
        put_headers(buf, headers);
        buf.put(b"\r\n");
        Ok(())
    }

    /// Starts a part that is itself a multipart (an OData changeset) with this boundary. The
    /// headers are written as given; when they hold no `Content-Type`, one naming
    /// `multipart/mixed` and the boundary is added, and when they do, it must name this
    /// boundary.
    pub fn open_multipart<S, H, N, V>(
        &mut self,
        boundary: &[u8],
        headers: H,
        dst: &mut S,
    ) -> Result<(), EncodeError>
    where
        S: Sink + ?Sized,
        H: IntoIterator<Item = (N, V)> + Clone,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.atomic(dst, |e, out| {
            e.open_multipart_into(boundary, headers.clone(), out)
        })
    }

    fn open_multipart_into<H, N, V>(
        &mut self,
        boundary: &[u8],
        headers: H,
        buf: &mut dyn Sink,
    ) -> Result<(), EncodeError>
    where
        H: IntoIterator<Item = (N, V)> + Clone,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.live()?;
        validate_boundary(boundary)
            .map_err(|_| EncodeError::new(EncodeErrorKind::InvalidBoundary))?;
        if self.levels[..self.depth]
            .iter()
            .any(|l| l.boundary().starts_with(boundary))
        {
            return err(EncodeErrorKind::InvalidBoundary);
        }
        if self.depth == MAX_DEPTH {
            return err(EncodeErrorKind::NestingTooDeep);
        }
        self.check_fields(headers.clone())?;
        let mut has_ct = false;
        for (n, v) in headers.clone() {
            if n.as_ref().eq_ignore_ascii_case(b"content-type") {
                has_ct = true;
                let named = ContentType::parse(v.as_ref())
                    .ok()
                    .and_then(|ct| ct.multipart_boundary().ok());
                if named != Some(boundary) {
                    return err(EncodeErrorKind::ContentTypeMismatch);
                }
            }
        }
        self.delimiter(buf);
        buf.put(b"\r\n");
        put_headers(buf, headers);
        if !has_ct {
            buf.put(b"Content-Type: ");
            content_type_into(boundary, "mixed", buf);
            buf.put(b"\r\n");
        }
        buf.put(b"\r\n");
        self.levels[self.depth] = Delimiter::new(boundary);
        self.at[self.depth] = Where::Start;
        self.depth += 1;
        Ok(())
    }

    fn close(&mut self, epilogue: &[u8], buf: &mut dyn Sink) -> Result<(), EncodeError> {
        self.check_content(epilogue)?;
        let l = self.level();
        let d = self.levels[l].as_bytes();
        let d = if self.at[l] == Where::Start {
            &d[2..]
        } else {
            d
        };
        buf.put(d);
        // A line end after every close delimiter, nested ones too, as Go's writer does: some
        // readers (aiohttp's nested reader) consume one line after an inner close delimiter,
        // and would eat the enclosing delimiter that follows it directly.
        buf.put(b"--\r\n");
        buf.put(epilogue);
        Ok(())
    }

    /// Closes the innermost nested multipart, with an optional epilogue. An error when no
    /// nested multipart is open.
    pub fn close_multipart<S: Sink + ?Sized>(
        &mut self,
        epilogue: &[u8],
        dst: &mut S,
    ) -> Result<(), EncodeError> {
        self.atomic(dst, |e, out| e.close_multipart_into(epilogue, out))
    }

    fn close_multipart_into(
        &mut self,
        epilogue: &[u8],
        buf: &mut dyn Sink,
    ) -> Result<(), EncodeError> {
        self.live()?;
        if self.depth == 1 {
            return err(EncodeErrorKind::Unbalanced);
        }
        self.close(epilogue, buf)?;
        self.depth -= 1;
        // The enclosing part continues until the next delimiter.
        self.at[self.level()] = Where::InPart;
        Ok(())
    }

    /// Writes the top-level close delimiter, once, then the epilogue. An error while nested
    /// multiparts are open.
    pub fn finish<S: Sink + ?Sized>(
        &mut self,
        epilogue: &[u8],
        dst: &mut S,
    ) -> Result<(), EncodeError> {
        self.atomic(dst, |e, out| e.finish_into(epilogue, out))
    }

    fn finish_into(&mut self, epilogue: &[u8], buf: &mut dyn Sink) -> Result<(), EncodeError> {
        self.live()?;
        if self.depth != 1 {
            return err(EncodeErrorKind::Unbalanced);
        }
        self.close(epilogue, buf)?;
        self.finished = true;
        Ok(())
    }

    /// Runs a write whole or not at all: a sink without room for it gets nothing, and the
    /// encoder stays as it was. A sink that grows (`Vec`, `BytesMut`) always has the room, so
    /// the size is only measured for bounded ones.
    fn atomic<S: Sink + ?Sized>(
        &mut self,
        dst: &mut S,
        write: impl Fn(&mut Self, &mut dyn Sink) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        if dst.room() < usize::MAX / 2 {
            let mut count = Count(0);
            write(&mut self.clone(), &mut count)?;
            if count.0 > dst.room() {
                return err(EncodeErrorKind::NeedsRoom);
            }
        }
        write(self, &mut Adapter(dst))
    }

    /// True once [`finish`](Self::finish) has written the close delimiter.
    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

/// How many bytes a write takes, from the code that writes them: the length of an embedded
/// head that a `Content-Length` around it counts, or a check that it can be written at all,
/// with nothing written.
#[cfg(feature = "batch")]
pub(crate) fn counted(
    write: impl FnOnce(&mut dyn Sink) -> Result<(), EncodeError>,
) -> Result<usize, EncodeError> {
    let mut n = Count(0);
    write(&mut n)?;
    Ok(n.0)
}

/// Writes `multipart/<subtype>; boundary=<b>` with the boundary quoted when it must be. A
/// sink without the room gets nothing. The one place the value is built: a finished body's
/// [`Encoded::content_type`](crate::writer::Encoded::content_type) (and its stream's) write it
/// for the boundary the body was finished with.
pub fn write_content_type<S: Sink + ?Sized>(boundary: &[u8], subtype: &str, dst: &mut S) {
    let mut count = Count(0);
    content_type_into(boundary, subtype, &mut count);
    if count.0 <= dst.room() {
        content_type_into(boundary, subtype, &mut Adapter(dst));
    }
}

fn content_type_into(boundary: &[u8], subtype: &str, buf: &mut dyn Sink) {
    buf.put(b"multipart/");
    buf.put(subtype.as_bytes());
    buf.put(b"; boundary=");
    if boundary_needs_quotes(boundary) {
        buf.put(b"\"");
        buf.put(boundary);
        buf.put(b"\"");
    } else {
        buf.put(boundary);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)] // `Vec` and `String` without the `std` feature
    use std::prelude::rust_2021::*;

    #[test]
    fn reasons() {
        assert_eq!(canonical_reason(204), Some("No Content"));
        assert_eq!(canonical_reason(299), None);
    }

    #[test]
    fn content_type_quoting() {
        let mut buf = [0u8; 64];
        let mut v = SliceWriter::new(&mut buf);
        write_content_type(b"a:b", "mixed", &mut v);
        assert_eq!(v.written(), b"multipart/mixed; boundary=\"a:b\"");
    }

    #[cfg(feature = "std")]
    #[test]
    fn random_boundaries_differ_and_validate() {
        let all: std::collections::HashSet<String> = (0..1000).map(|_| random_boundary()).collect();
        assert_eq!(all.len(), 1000);
        assert!(all
            .iter()
            .all(|b| b.len() == 38 && validate_boundary(b.as_bytes()).is_ok()));
    }
}
