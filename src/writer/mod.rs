//! Writing a whole multipart body as a sequence of `Bytes`: the framing from the
//! [`Encoder`] in one growing buffer, interleaved with the bodies exactly as they were given.
//! The result implements [`bytes::Buf`] for vectored writes, and (feature `stream`) becomes a
//! `Stream` of `Bytes` that a hyper or reqwest body can wrap.

use std::collections::VecDeque;
use std::vec::Vec;

use bytes::{Bytes, BytesMut};

use crate::encoder::{EncodeError, EncodeErrorKind, Encoder, EncoderConfig};

mod encoded;

pub use encoded::Encoded;
#[cfg(feature = "stream")]
pub use encoded::EncodedStream;

/// Where an operation's `Content-ID` goes: the MIME part header (OData 4.0), the embedded
/// head (OData 2.0/3.0, Creatio), or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContentIdIn {
    /// On the MIME part header.
    #[default]
    Part,
    /// Among the embedded request or response headers.
    Head,
    /// In both places.
    Both,
}

/// A body that is not in memory yet: a stream of `Bytes` of unknown length.
#[cfg(feature = "stream")]
pub type BodyStream =
    core::pin::Pin<Box<dyn futures_core::Stream<Item = Result<Bytes, BoxError>> + Send + 'static>>;

/// The error type of body streams.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The start line of an operation the `Writer` writes whole.
enum StartLine<'a> {
    Request(&'a str, &'a str),
    Response(u16, Option<&'a str>),
}

pub(super) enum Segment {
    /// Framing written by the encoder.
    Frame(Bytes),
    /// A body, as given.
    Body(Bytes),
    /// A body of unknown length, with the boundaries of the levels open when it was queued:
    /// it is searched for their delimiters as it passes.
    #[cfg(feature = "stream")]
    Stream(BodyStream, Option<Vec<Vec<u8>>>),
}

/// Builds a multipart body. Framing is written into one buffer; bodies are queued as the
/// `Bytes` they are, never copied.
///
/// An OData `$batch` request with one changeset of two operations:
///
/// ```
/// use batchpart::writer::{ContentIdIn, Writer};
/// use bytes::{Buf, Bytes};
///
/// let mut w = Writer::new(b"batch_36522ad7")?;
/// w.request(None, "GET", "Customers('ALFKI')", [("Accept", "application/json")], Bytes::new())?;
/// w.open_changeset(Some(b"changeset_77162fcd"))?;
/// w.request(Some(("1", ContentIdIn::Part)), "POST", "Customers",
///     [("Content-Type", "application/json")], Bytes::from_static(b"{\"Name\":\"Gilbert\"}"))?;
/// w.request(Some(("2", ContentIdIn::Part)), "PATCH", "$1",
///     [("Content-Type", "application/json"), ("If-Match", "$1")], Bytes::from_static(b"{\"City\":\"Berlin\"}"))?;
/// w.close_changeset()?;
/// let mut body = w.finish(b"")?;
/// assert_eq!(body.content_type("mixed"), "multipart/mixed; boundary=batch_36522ad7");
///
/// let wire = body.copy_to_bytes(body.remaining());
/// let mut dec = batchpart::Decoder::new(b"batch_36522ad7").unwrap();
/// let requests = dec.feed(&wire, true)
///     .filter(|e| matches!(e, Ok(batchpart::Event::Request(_))))
///     .count();
/// assert_eq!(requests, 3);
/// # Ok::<(), batchpart::encoder::EncodeError>(())
/// ```
///
/// And a response:
///
/// ```
/// use batchpart::writer::{ContentIdIn, Writer};
/// use bytes::Bytes;
///
/// let mut w = Writer::new(b"batchresponse_1")?;
/// w.open_changeset(None)?; // a generated changeset boundary
/// w.response(Some(("1", ContentIdIn::Part)), 201, None,
///     [("Location", "https://host/service/Customers('POIU')")], Bytes::new())?;
/// w.close_changeset()?;
/// w.response(None, 404, None, [("Content-Type", "application/json")],
///     Bytes::from_static(b"{\"error\":{\"code\":\"404\"}}"))?;
/// let wire: Vec<u8> = w.finish(b"")?.flat_map(|b| b.to_vec()).collect();
/// assert!(wire.windows(20).any(|x| x == b"HTTP/1.1 201 Created"));
/// # Ok::<(), batchpart::encoder::EncodeError>(())
/// ```
///
/// # Bodies that hold a delimiter
///
/// Every body is checked, by default, for a line that opens with `--boundary` of any open
/// level (after CRLF or a bare LF: lenient decoders take both for a delimiter). Under a
/// boundary the caller chose, such a body is an error ([`EncodeErrorKind::BoundaryInBody`]).
/// Under a boundary the writer generated ([`with_random_boundary`](Self::with_random_boundary),
/// [`open_changeset(None)`](Self::open_changeset), [`open_random_multipart`](Self::open_random_multipart)),
/// the writer chooses another one when it finishes, rewriting its own framing, so read the
/// `Content-Type` from [`Encoded::content_type`] (or [`EncodedStream::content_type`]). A body
/// stream cannot be rescanned: it is searched as it passes, across chunk edges, and the
/// output stream fails with [`EncodeErrorKind::BoundaryInBody`] when it holds a delimiter.
pub struct Writer {
    enc: Encoder,
    frame: BytesMut,
    out: VecDeque<Segment>,
    check_bodies: bool,
    /// Levels whose boundary this writer generated (bit `i` for level `i`, 0 the top).
    generated: u32,
    /// Generated boundaries that a body turned out to hold: chosen anew at finish.
    collided: Vec<Vec<u8>>,
}

impl core::fmt::Debug for Writer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Writer")
            .field("encoder", &self.enc)
            .field("segments", &self.out.len())
            .finish()
    }
}

impl Writer {
    /// A writer for this boundary.
    pub fn new(boundary: &[u8]) -> Result<Self, EncodeError> {
        Ok(Self::from_encoder(Encoder::new(boundary)?))
    }

    /// A writer with a fresh random boundary, which it may choose anew (see above).
    pub fn with_random_boundary() -> Self {
        Self::random_with_config(EncoderConfig::default())
    }

    /// A writer with a fresh random boundary and this encoder configuration.
    pub fn random_with_config(cfg: EncoderConfig) -> Self {
        let b = crate::encoder::random_boundary();
        let enc = Encoder::with_config(b.as_bytes(), cfg).expect("generated boundaries are valid");
        let mut w = Self::from_encoder(enc);
        w.generated = 1;
        w
    }

    /// A writer over a configured encoder. Its boundary counts as the caller's.
    pub fn from_encoder(enc: Encoder) -> Self {
        Writer {
            enc,
            frame: BytesMut::new(),
            out: VecDeque::new(),
            check_bodies: true,
            generated: 0,
            collided: Vec::new(),
        }
    }

    /// A writer for this boundary and encoder configuration.
    pub fn with_config(boundary: &[u8], cfg: EncoderConfig) -> Result<Self, EncodeError> {
        Ok(Self::from_encoder(Encoder::with_config(boundary, cfg)?))
    }

    /// Whether to check every body for a delimiter of an open level (one linear `memmem`
    /// pass per level and body). On by default; turn it off only for bodies known not to
    /// hold one, since the output is then ambiguous if they do.
    pub fn check_bodies(&mut self, on: bool) -> &mut Self {
        self.check_bodies = on;
        self
    }

    /// The encoder, for the top-level boundary and the current depth.
    pub fn encoder(&self) -> &Encoder {
        &self.enc
    }

    fn flush_frame(&mut self) {
        if !self.frame.is_empty() {
            self.out
                .push_back(Segment::Frame(self.frame.split().freeze()));
        }
    }

    /// Queues a body, untouched. A body that holds a delimiter of an open level is an error
    /// under a boundary the caller chose, and makes the writer choose a generated one anew.
    pub fn body(&mut self, body: Bytes) -> Result<&mut Self, EncodeError> {
        if self.check_bodies {
            let hit = self.enc.conflicts(&body);
            if hit & !self.generated != 0 {
                return Err(EncodeError::new(EncodeErrorKind::BoundaryInBody));
            }
            for level in (0..32).filter(|l| hit & (1 << l) != 0) {
                let b = self.enc.level_boundary(level).to_vec();
                if !self.collided.contains(&b) {
                    self.collided.push(b);
                }
            }
        }
        if !body.is_empty() {
            self.flush_frame();
            self.out.push_back(Segment::Body(body));
        }
        Ok(self)
    }

    /// Queues a body of unknown length. Only [`finish_stream`](Self::finish_stream) can
    /// deliver it. It is searched for the delimiters of the open levels as it passes, and the
    /// output fails with [`EncodeErrorKind::BoundaryInBody`] if it holds one.
    #[cfg(feature = "stream")]
    pub fn body_stream(&mut self, body: BodyStream) -> &mut Self {
        self.flush_frame();
        let levels = self.check_bodies.then(|| {
            (0..self.enc.depth())
                .map(|l| self.enc.level_boundary(l).to_vec())
                .collect()
        });
        self.out.push_back(Segment::Stream(body, levels));
        self
    }

    /// Writes a preamble (before the first part).
    pub fn preamble(&mut self, text: &[u8]) -> Result<&mut Self, EncodeError> {
        self.enc.preamble(text, &mut self.frame)?;
        Ok(self)
    }

    /// Starts a part with these MIME headers, exactly as given. Follow with [`body`](Self::body)
    /// (or a head for an `application/http` part).
    pub fn part_start<H, N, V>(&mut self, headers: H) -> Result<&mut Self, EncodeError>
    where
        H: IntoIterator<Item = (N, V)> + Clone,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.enc.part(headers, &mut self.frame)?;
        Ok(self)
    }

    /// A whole part: headers and body.
    pub fn part<H, N, V>(&mut self, headers: H, body: Bytes) -> Result<&mut Self, EncodeError>
    where
        H: IntoIterator<Item = (N, V)> + Clone,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.part_start(headers)?;
        self.body(body)
    }

    /// Writes an embedded request head inside the current part.
    pub fn request_head<H, N, V>(
        &mut self,
        method: &[u8],
        target: &[u8],
        version: Option<&[u8]>,
        headers: H,
    ) -> Result<&mut Self, EncodeError>
    where
        H: IntoIterator<Item = (N, V)> + Clone,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.enc
            .request_head(method, target, version, headers, &mut self.frame)?;
        Ok(self)
    }

    /// Writes an embedded response head inside the current part.
    pub fn response_head<H, N, V>(
        &mut self,
        version: &[u8],
        status: u16,
        reason: Option<&[u8]>,
        headers: H,
    ) -> Result<&mut Self, EncodeError>
    where
        H: IntoIterator<Item = (N, V)> + Clone,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.enc
            .response_head(version, status, reason, headers, &mut self.frame)?;
        Ok(self)
    }

    fn http_part(&mut self, content_id: Option<(&str, ContentIdIn)>) -> Result<(), EncodeError> {
        let mut h: Vec<(&str, &str)> = vec![
            ("Content-Type", "application/http"),
            ("Content-Transfer-Encoding", "binary"),
        ];
        if let Some((id, ContentIdIn::Part | ContentIdIn::Both)) = content_id {
            h.push(("Content-ID", id));
        }
        self.enc.part(h.iter().copied(), &mut self.frame)
    }

    /// A whole `application/http` request operation: MIME headers
    /// (`Content-Type: application/http`, `Content-Transfer-Encoding: binary`, and the
    /// Content-ID where asked), the `HTTP/1.1` request line, the headers and the body.
    pub fn request<H, N, V>(
        &mut self,
        content_id: Option<(&str, ContentIdIn)>,
        method: &str,
        target: &str,
        headers: H,
        body: Bytes,
    ) -> Result<&mut Self, EncodeError>
    where
        H: IntoIterator<Item = (N, V)> + Clone,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.http_op(
            content_id,
            StartLine::Request(method, target),
            headers,
            body,
        )
    }

    /// A whole `application/http` response operation; `reason: None` gives the canonical
    /// reason phrase.
    pub fn response<H, N, V>(
        &mut self,
        content_id: Option<(&str, ContentIdIn)>,
        status: u16,
        reason: Option<&str>,
        headers: H,
        body: Bytes,
    ) -> Result<&mut Self, EncodeError>
    where
        H: IntoIterator<Item = (N, V)> + Clone,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.http_op(
            content_id,
            StartLine::Response(status, reason),
            headers,
            body,
        )
    }

    /// The part, the head (with the Content-ID among its headers where asked) and the body.
    fn http_op<H, N, V>(
        &mut self,
        content_id: Option<(&str, ContentIdIn)>,
        line: StartLine<'_>,
        headers: H,
        body: Bytes,
    ) -> Result<&mut Self, EncodeError>
    where
        H: IntoIterator<Item = (N, V)>,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.http_part(content_id)?;
        let head_id = match content_id {
            Some((id, ContentIdIn::Head | ContentIdIn::Both)) => Some(("Content-ID", id)),
            _ => None,
        };
        let owned: Vec<(N, V)> = headers.into_iter().collect();
        let hs = head_id
            .into_iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .chain(owned.iter().map(|(n, v)| (n.as_ref(), v.as_ref())))
            .collect::<Vec<(&[u8], &[u8])>>();
        match line {
            StartLine::Request(method, target) => self.enc.request_head(
                method.as_bytes(),
                target.as_bytes(),
                Some(b"HTTP/1.1"),
                hs.iter().copied(),
                &mut self.frame,
            )?,
            StartLine::Response(status, reason) => self.enc.response_head(
                b"HTTP/1.1",
                status,
                reason.map(str::as_bytes),
                hs.iter().copied(),
                &mut self.frame,
            )?,
        }
        self.body(body)
    }

    /// Opens a changeset (a nested `multipart/mixed`), with this boundary or a fresh random
    /// one.
    pub fn open_changeset(&mut self, boundary: Option<&[u8]>) -> Result<&mut Self, EncodeError> {
        let none = core::iter::empty::<(&[u8], &[u8])>();
        match boundary {
            Some(b) => self.open_multipart(b, none),
            None => self.open_random_multipart(none),
        }
    }

    /// Opens a nested multipart with these part headers, exactly as given (see
    /// [`Encoder::open_multipart`]).
    pub fn open_multipart<H, N, V>(
        &mut self,
        boundary: &[u8],
        headers: H,
    ) -> Result<&mut Self, EncodeError>
    where
        H: IntoIterator<Item = (N, V)> + Clone,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.open_level(boundary, headers, false)
    }

    /// Opens a nested multipart with a fresh `changeset_` boundary, which the writer may
    /// choose anew (see above), and these part headers. A `Content-Type` among them must
    /// not be given: the encoder writes the one that names the boundary.
    pub fn open_random_multipart<H, N, V>(&mut self, headers: H) -> Result<&mut Self, EncodeError>
    where
        H: IntoIterator<Item = (N, V)> + Clone,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let b = crate::encoder::random_boundary().replacen("batch_", "changeset_", 1);
        self.open_level(b.as_bytes(), headers, true)
    }

    fn open_level<H, N, V>(
        &mut self,
        boundary: &[u8],
        headers: H,
        generated: bool,
    ) -> Result<&mut Self, EncodeError>
    where
        H: IntoIterator<Item = (N, V)> + Clone,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let level = self.enc.depth();
        self.enc
            .open_multipart(boundary, headers, &mut self.frame)?;
        let bit = 1u32 << level;
        self.generated = if generated {
            self.generated | bit
        } else {
            self.generated & !bit
        };
        Ok(self)
    }

    /// Closes the innermost changeset.
    pub fn close_changeset(&mut self) -> Result<&mut Self, EncodeError> {
        self.close_multipart(b"")
    }

    /// Closes the innermost nested multipart, with an epilogue.
    pub fn close_multipart(&mut self, epilogue: &[u8]) -> Result<&mut Self, EncodeError> {
        self.enc.close_multipart(epilogue, &mut self.frame)?;
        Ok(self)
    }

    /// Hands out what was written so far, for output that goes out as it is written (the
    /// server's streaming answers). Only under boundaries the caller chose: generated ones may
    /// still be chosen anew at finish, which written output cannot follow.
    #[cfg(feature = "tower")]
    pub(crate) fn take_written(&mut self) -> impl Iterator<Item = Bytes> {
        debug_assert_eq!(
            self.generated, 0,
            "streamed output under a generated boundary"
        );
        self.flush_frame();
        core::mem::take(&mut self.out)
            .into_iter()
            .filter_map(|s| match s {
                Segment::Frame(b) | Segment::Body(b) => Some(b),
                #[cfg(feature = "stream")]
                Segment::Stream(..) => None,
            })
    }

    /// Writes the close delimiter and the epilogue, chooses anew every generated boundary
    /// that a body holds, and returns the segments and the top-level boundary.
    fn close(&mut self, epilogue: &[u8]) -> Result<(VecDeque<Segment>, Bytes), EncodeError> {
        self.enc.finish(epilogue, &mut self.frame)?;
        self.flush_frame();
        let mut segs = core::mem::take(&mut self.out);
        let mut top = self.enc.boundary().to_vec();
        rechoose(&mut segs, &mut top, core::mem::take(&mut self.collided))?;
        Ok((segs, Bytes::from(top)))
    }

    /// Writes the close delimiter and the epilogue, and returns the body as `Bytes` segments.
    /// An error if a body stream was queued (use [`finish_stream`](Self::finish_stream)).
    pub fn finish(mut self, epilogue: &[u8]) -> Result<Encoded, EncodeError> {
        let (segs, boundary) = self.close(epilogue)?;
        let mut out = VecDeque::with_capacity(segs.len());
        let mut remaining = 0;
        for s in segs {
            match s {
                Segment::Frame(b) | Segment::Body(b) => {
                    remaining += b.len();
                    out.push_back(b)
                }
                #[cfg(feature = "stream")]
                Segment::Stream(..) => {
                    return Err(EncodeError::new(EncodeErrorKind::StreamingBody))
                }
            }
        }
        Ok(Encoded {
            segs: out,
            remaining,
            boundary,
        })
    }

    /// Writes the close delimiter and the epilogue, and returns the body as a `Stream` of
    /// `Bytes`, pulling body streams as it goes.
    #[cfg(feature = "stream")]
    pub fn finish_stream(mut self, epilogue: &[u8]) -> Result<EncodedStream, EncodeError> {
        let (segs, boundary) = self.close(epilogue)?;
        Ok(EncodedStream {
            segs: segs.into_iter().map(Segment::scanned).collect(),
            boundary,
        })
    }
}

/// The `Content-Type` value `multipart/<subtype>; boundary=...` for a boundary.
pub(crate) fn content_type_of(boundary: &[u8], subtype: &str) -> String {
    let mut v = Vec::new();
    crate::encoder::write_content_type(boundary, subtype, &mut v);
    // `multipart/`, the subtype, and a boundary's characters (RFC 2046 `bchars`): ASCII.
    String::from_utf8(v).unwrap_or_default()
}

/// Replaces generated boundaries that bodies hold with fresh ones of the same shape, in the
/// framing (delimiter lines and the `Content-Type` that names a nested one) and in what the
/// body streams will be searched for; then checks the bodies against the new ones.
fn rechoose(
    segs: &mut VecDeque<Segment>,
    top: &mut Vec<u8>,
    mut pending: Vec<Vec<u8>>,
) -> Result<(), EncodeError> {
    // A second collision with 128 fresh random bits does not happen by chance; the bound
    // only keeps a broken random source from looping.
    for _ in 0..4 {
        if pending.is_empty() {
            return Ok(());
        }
        let map: Vec<(Vec<u8>, Vec<u8>)> = pending
            .drain(..)
            .map(|old| {
                let fresh = crate::encoder::random_boundary();
                let keep = old.len().saturating_sub(32);
                let new = [&old[..keep], &fresh.as_bytes()[fresh.len() - 32..]].concat();
                (old, new)
            })
            .collect();
        let swap = |b: &mut Vec<u8>| {
            if let Some((_, n)) = map.iter().find(|(o, _)| o == b) {
                *b = n.clone();
            }
        };
        swap(top);
        for seg in segs.iter_mut() {
            match seg {
                Segment::Frame(b) => *b = replace_all(b, &map),
                #[cfg(feature = "stream")]
                Segment::Stream(_, Some(levels)) => levels.iter_mut().for_each(swap),
                _ => {}
            }
        }
        for seg in segs.iter() {
            if let Segment::Body(b) = seg {
                for (_, n) in &map {
                    if crate::boundary::holds_delimiter(b, n) && !pending.contains(n) {
                        pending.push(n.clone());
                    }
                }
            }
        }
    }
    Err(EncodeError::new(EncodeErrorKind::BoundaryInBody))
}

/// `b` with every occurrence of each `old` replaced by its `new` (of the same length).
fn replace_all(b: &Bytes, map: &[(Vec<u8>, Vec<u8>)]) -> Bytes {
    let mut out: Option<BytesMut> = None;
    for (old, new) in map {
        let hay = out.as_deref().unwrap_or(b);
        let hits: Vec<usize> = memchr::memmem::find_iter(hay, old).collect();
        if hits.is_empty() {
            continue;
        }
        let buf = out.get_or_insert_with(|| BytesMut::from(&b[..]));
        for h in hits {
            buf[h..h + new.len()].copy_from_slice(new);
        }
    }
    out.map_or_else(|| b.clone(), BytesMut::freeze)
}
