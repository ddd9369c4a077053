//! Writing a whole multipart body as a sequence of `Bytes`: the framing from the
//! [`Encoder`] in one growing buffer, interleaved with the bodies exactly as they were given.
//! The result implements [`bytes::Buf`] for vectored writes, and (feature `stream`) becomes a
//! `Stream` of `Bytes` that a hyper or reqwest body can wrap.

use std::collections::VecDeque;
use std::vec::Vec;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::encoder::{EncodeError, Encoder, EncoderConfig};

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

enum Segment {
    Bytes(Bytes),
    #[cfg(feature = "stream")]
    Stream(BodyStream),
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
/// let content_type = w.content_type("mixed");
/// let mut body = w.finish(b"")?;
/// assert_eq!(content_type, "multipart/mixed; boundary=batch_36522ad7");
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
pub struct Writer {
    enc: Encoder,
    frame: BytesMut,
    out: VecDeque<Segment>,
    check_bodies: bool,
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

    /// A writer with a fresh random boundary.
    pub fn with_random_boundary() -> Self {
        Self::from_encoder(Encoder::with_random_boundary())
    }

    /// A writer over a configured encoder.
    pub fn from_encoder(enc: Encoder) -> Self {
        Writer {
            enc,
            frame: BytesMut::new(),
            out: VecDeque::new(),
            check_bodies: false,
        }
    }

    /// A writer for this boundary and encoder configuration.
    pub fn with_config(boundary: &[u8], cfg: EncoderConfig) -> Result<Self, EncodeError> {
        Ok(Self::from_encoder(Encoder::with_config(boundary, cfg)?))
    }

    /// Check every whole body for a delimiter of any open level before writing it (one
    /// `memmem` pass per body). Off by default: with a random boundary a collision is
    /// negligible, and the check reads every body byte.
    pub fn check_bodies(&mut self, on: bool) -> &mut Self {
        self.check_bodies = on;
        self
    }

    /// The encoder, for the top-level boundary and the current depth.
    pub fn encoder(&self) -> &Encoder {
        &self.enc
    }

    /// The `Content-Type` value for the whole body: `multipart/<subtype>; boundary=...`.
    pub fn content_type(&self, subtype: &str) -> String {
        self.enc.content_type(subtype)
    }

    fn flush_frame(&mut self) {
        if !self.frame.is_empty() {
            self.out
                .push_back(Segment::Bytes(self.frame.split().freeze()));
        }
    }

    /// Queues a body, untouched.
    pub fn body(&mut self, body: Bytes) -> Result<&mut Self, EncodeError> {
        if self.check_bodies {
            self.enc.check_content(&body)?;
        }
        if !body.is_empty() {
            self.flush_frame();
            self.out.push_back(Segment::Bytes(body));
        }
        Ok(self)
    }

    /// Queues a body of unknown length. Only [`finish_stream`](Self::finish_stream) can
    /// deliver it; it cannot be checked for delimiters.
    #[cfg(feature = "stream")]
    pub fn body_stream(&mut self, body: BodyStream) -> &mut Self {
        self.flush_frame();
        self.out.push_back(Segment::Stream(body));
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
        let generated;
        let b = match boundary {
            Some(b) => b,
            None => {
                generated = crate::encoder::random_boundary().replacen("batch_", "changeset_", 1);
                generated.as_bytes()
            }
        };
        self.enc
            .open_multipart(b, core::iter::empty::<(&[u8], &[u8])>(), &mut self.frame)?;
        Ok(self)
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
        self.enc
            .open_multipart(boundary, headers, &mut self.frame)?;
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

    fn close(&mut self, epilogue: &[u8]) -> Result<VecDeque<Segment>, EncodeError> {
        self.enc.finish(epilogue, &mut self.frame)?;
        self.flush_frame();
        Ok(core::mem::take(&mut self.out))
    }

    /// Writes the close delimiter and the epilogue, and returns the body as `Bytes` segments.
    /// An error if a body stream was queued (use [`finish_stream`](Self::finish_stream)).
    pub fn finish(mut self, epilogue: &[u8]) -> Result<Encoded, EncodeError> {
        let segs = self.close(epilogue)?;
        let mut out = VecDeque::with_capacity(segs.len());
        let mut remaining = 0;
        for s in segs {
            match s {
                Segment::Bytes(b) => {
                    remaining += b.len();
                    out.push_back(b)
                }
                #[cfg(feature = "stream")]
                Segment::Stream(_) => {
                    return Err(EncodeError::new(
                        crate::encoder::EncodeErrorKind::StreamingBody,
                    ))
                }
            }
        }
        Ok(Encoded {
            segs: out,
            remaining,
        })
    }

    /// Writes the close delimiter and the epilogue, and returns the body as a `Stream` of
    /// `Bytes`, pulling body streams as it goes.
    #[cfg(feature = "stream")]
    pub fn finish_stream(mut self, epilogue: &[u8]) -> Result<EncodedStream, EncodeError> {
        Ok(EncodedStream {
            segs: self.close(epilogue)?,
        })
    }
}

/// An encoded body: `Bytes` segments, framing and untouched bodies in turn.
#[derive(Debug, Clone, Default)]
pub struct Encoded {
    segs: VecDeque<Bytes>,
    remaining: usize,
}

impl Encoded {
    /// The segments, in order.
    pub fn segments(&self) -> impl Iterator<Item = &Bytes> {
        self.segs.iter()
    }

    /// The whole body as one `Bytes`: the segment itself when there is one, a single copy
    /// otherwise (for callers that need contiguous bytes, such as a `Full` body).
    pub fn into_bytes(mut self) -> Bytes {
        let n = self.remaining;
        self.copy_to_bytes(n)
    }

    /// The total length, for a `Content-Length`.
    pub fn len(&self) -> usize {
        self.remaining
    }

    /// True when nothing is left.
    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }

    /// As a `Stream` of `Bytes` that never fails.
    #[cfg(feature = "stream")]
    pub fn into_stream(
        self,
    ) -> crate::stream::Iter<impl Iterator<Item = Result<Bytes, std::convert::Infallible>> + Unpin>
    {
        crate::stream::iter(self.map(Ok))
    }
}

impl Iterator for Encoded {
    type Item = Bytes;
    fn next(&mut self) -> Option<Bytes> {
        let b = self.segs.pop_front()?;
        self.remaining -= b.len();
        Some(b)
    }
}

impl Buf for Encoded {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.segs.front().map_or(&[], |b| &b[..])
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining, "advance past the end");
        self.remaining -= cnt;
        while cnt > 0 {
            let front = self
                .segs
                .front_mut()
                .expect("remaining counts the segments");
            if cnt < front.len() {
                front.advance(cnt);
                return;
            }
            cnt -= front.len();
            self.segs.pop_front();
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [std::io::IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, seg) in dst.iter_mut().zip(self.segs.iter()) {
            *slot = std::io::IoSlice::new(seg);
            n += 1;
        }
        n
    }

    fn copy_to_bytes(&mut self, len: usize) -> Bytes {
        // A request for exactly the front segment hands that segment over, uncopied.
        if self.segs.front().is_some_and(|f| f.len() == len) {
            self.remaining -= len;
            return self.segs.pop_front().expect("front");
        }
        let mut out = BytesMut::with_capacity(len);
        out.put(Buf::take(&mut *self, len));
        out.freeze()
    }
}

/// An encoded body as a `Stream` of `Bytes`; body streams are polled in turn.
#[cfg(feature = "stream")]
pub struct EncodedStream {
    segs: VecDeque<Segment>,
}

#[cfg(feature = "stream")]
impl core::fmt::Debug for EncodedStream {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EncodedStream")
            .field("segments", &self.segs.len())
            .finish()
    }
}

#[cfg(feature = "stream")]
impl futures_core::Stream for EncodedStream {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(
        self: core::pin::Pin<&mut Self>,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<Option<Self::Item>> {
        use core::task::Poll;
        let this = self.get_mut();
        loop {
            match this.segs.front_mut() {
                None => return Poll::Ready(None),
                Some(Segment::Bytes(_)) => {
                    if let Some(Segment::Bytes(b)) = this.segs.pop_front() {
                        return Poll::Ready(Some(Ok(b)));
                    }
                }
                Some(Segment::Stream(s)) => match s.as_mut().poll_next(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Ok(b))) if b.is_empty() => {}
                    Poll::Ready(Some(item)) => return Poll::Ready(Some(item)),
                    Poll::Ready(None) => {
                        this.segs.pop_front();
                    }
                },
            }
        }
    }
}
