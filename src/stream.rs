//! The Stream layer: a `futures_core::Stream` of owned part events over a stream of `Bytes`
//! chunks, as hyper, axum and reqwest hand bodies over.
//!
//! Body bytes come out as `Bytes` that share the caller's chunks (`Bytes::slice_ref`); nothing
//! is copied but a header block that straddles a chunk edge, which is gathered in one reusable
//! buffer bounded by [`Limits::max_header_bytes`](crate::Limits::max_header_bytes). Bytes of a
//! partial delimiter held back at a chunk edge that turn out to be body come from the stream's
//! own copy of the boundary.

use core::pin::Pin;
use core::task::{Context, Poll};
use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use futures_core::Stream;

use crate::boundary::DELIM_HEAD;
use crate::content_id::ContentId;
use crate::content_type::ContentType;
use crate::decoder::{Chunk, Config, Decoder, Event, PartEnd, MAX_DEPTH};
use crate::error::Error;
use crate::headers::{HeaderBlock, Value};

/// How many events one fed slice may queue before the stream yields them. It bounds the
/// queue's memory, whatever the chunk size, at the price of one more feed of the chunk's rest
/// per this many events.
const MAX_QUEUED: usize = 64;

/// A part's head, owned: one `Bytes` view of the header block, and where in it the fields
/// the decoder read are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartHead {
    block: Bytes,
    /// The `Content-Type` value's span in `block`, and its offset in the body.
    content_type: Option<(Span, u64)>,
    content_id: Option<Span>,
    content_length: Option<u64>,
    index: u64,
    depth: usize,
}

/// Where a value lies in its header block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    /// The span of `value` within `block` (both borrowed from one fed slice).
    fn of(block: &[u8], value: &[u8]) -> Option<Span> {
        if value.is_empty() {
            return Some(Span { start: 0, len: 0 });
        }
        let start = (value.as_ptr() as usize).checked_sub(block.as_ptr() as usize)?;
        (start + value.len() <= block.len()).then_some(Span {
            start: start as u32,
            len: value.len() as u32,
        })
    }

    fn of_block<'a>(&self, block: &'a [u8]) -> &'a [u8] {
        let s = self.start as usize;
        block.get(s..s + self.len as usize).unwrap_or_default()
    }
}

impl PartHead {
    /// The MIME part headers.
    pub fn headers(&self) -> HeaderBlock<'_> {
        HeaderBlock::new(&self.block)
    }
    /// The raw header block, as received.
    pub fn raw_headers(&self) -> &Bytes {
        &self.block
    }
    /// The `Content-Type`, parsed when asked, as [`Part::content_type`](crate::Part::content_type)
    /// does: an error at the value's offset in the body when it does not parse.
    pub fn content_type(&self) -> Option<Result<ContentType<'_>, Error>> {
        self.content_type.map(|(span, at)| {
            ContentType::parse_lenient(span.of_block(&self.block))
                .map_err(|_| Error::new(crate::ErrorKind::InvalidContentType, at))
        })
    }
    /// The MIME part's `Content-ID`.
    pub fn content_id(&self) -> Option<ContentId<'_>> {
        self.content_id
            .map(|span| ContentId::new(Value::new(span.of_block(&self.block))))
    }
    /// The part-level `Content-Length`, if sent.
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }
    /// The part's number in the body, over all depths.
    pub fn index(&self) -> u64 {
        self.index
    }
    /// The depth of its multipart; the top level is 1.
    pub fn depth(&self) -> usize {
        self.depth
    }
}

/// An embedded HTTP head, owned: one `Bytes` view of the start line and the headers, and
/// where in it each piece is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpHead {
    block: Bytes,
    line: Line,
    headers: Span,
    content_length: Option<u64>,
    content_id: Option<Span>,
}

/// The start line's pieces, as spans of the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    Request {
        method: Span,
        target: Span,
        version: Option<Span>,
    },
    Response {
        version: Span,
        status: u16,
        reason: Span,
    },
}

/// The start line of an embedded HTTP message, borrowed from its [`HttpHead`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpKind<'a> {
    /// A request line.
    Request {
        /// The method, as sent.
        method: &'a [u8],
        /// The target, as sent.
        target: &'a [u8],
        /// The version, or `None` where the line had none.
        version: Option<&'a [u8]>,
    },
    /// A status line.
    Response {
        /// The version, as sent.
        version: &'a [u8],
        /// The status code.
        status: u16,
        /// The reason phrase, possibly empty.
        reason: &'a [u8],
    },
}

impl HttpHead {
    /// Request or response, with the start line's parts.
    pub fn kind(&self) -> HttpKind<'_> {
        let b = &self.block[..];
        match self.line {
            Line::Request {
                method,
                target,
                version,
            } => HttpKind::Request {
                method: method.of_block(b),
                target: target.of_block(b),
                version: version.map(|v| v.of_block(b)),
            },
            Line::Response {
                version,
                status,
                reason,
            } => HttpKind::Response {
                version: version.of_block(b),
                status,
                reason: reason.of_block(b),
            },
        }
    }
    /// The embedded headers.
    pub fn headers(&self) -> HeaderBlock<'_> {
        HeaderBlock::new(self.headers.of_block(&self.block))
    }
    /// The whole head, which every slice above borrows from: for sharing them as `Bytes`.
    #[cfg(feature = "batch")]
    pub(crate) fn block(&self) -> &Bytes {
        &self.block
    }
    /// The embedded `Content-Length`.
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }
    /// The `Content-ID` among the embedded headers.
    pub fn content_id(&self) -> Option<ContentId<'_>> {
        self.content_id
            .map(|span| ContentId::new(Value::new(span.of_block(&self.block))))
    }
}

/// An owned part event. Same order and meaning as [`Event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PartEvent {
    /// See [`Event::Preamble`].
    Preamble(Bytes),
    /// See [`Event::PartStart`].
    PartStart(PartHead),
    /// See [`Event::MultipartStart`]; carries the nested boundary.
    MultipartStart(Bytes),
    /// See [`Event::Request`] and [`Event::Response`].
    Http(HttpHead),
    /// See [`Event::Body`].
    Body(Bytes),
    /// See [`Event::PartEnd`].
    PartEnd(PartEnd),
    /// See [`Event::MultipartEnd`].
    MultipartEnd,
    /// See [`Event::Epilogue`].
    Epilogue(Bytes),
    /// See [`Event::End`].
    End,
}

/// An error of the Stream layer: the decoder's, or the inner stream's, unchanged.
#[derive(Debug)]
#[non_exhaustive]
pub enum StreamError<E> {
    /// The body is malformed or broke a limit.
    Decode(Error),
    /// The inner stream failed.
    Source(E),
}

impl<E: core::fmt::Display> core::fmt::Display for StreamError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StreamError::Decode(e) => e.fmt(f),
            StreamError::Source(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for StreamError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StreamError::Decode(e) => Some(e),
            StreamError::Source(e) => Some(e),
        }
    }
}

/// Maps core events to owned ones, as `Bytes` views of the buffer the core was fed.
struct Owner<'a> {
    /// The chunk that was fed, when it was fed as it is.
    buf: &'a Bytes,
    /// The slice that was fed: `buf`, or the buffer a straddling head was gathered in.
    input: &'a [u8],
    /// Each open level's boundary as `Bytes`, for held-back delimiter bytes handed out
    /// without a copy; which levels are open is the decoder's to say (`Feed::depth`).
    boundaries: &'a mut [Bytes; MAX_DEPTH],
}

fn within(outer: &[u8], s: &[u8]) -> bool {
    let (o, p) = (outer.as_ptr() as usize, s.as_ptr() as usize);
    p >= o && p + s.len() <= o + outer.len()
}

impl<'a> Owner<'a> {
    /// A view of the fed chunk, or, for a head gathered in the straddle buffer, a copy.
    fn view(&self, s: &[u8]) -> Bytes {
        if within(self.buf, s) {
            self.buf.slice_ref(s)
        } else {
            Bytes::copy_from_slice(s)
        }
    }

    /// An embedded head as one view, from the first of `pieces` to the end of the last (the
    /// start line's pieces and the headers, all from the fed slice), and the fed bytes it
    /// spans (for the pieces' spans).
    fn head(&self, pieces: &[&[u8]]) -> (Bytes, &'a [u8]) {
        let base = self.input.as_ptr() as usize;
        let (mut start, mut end) = (usize::MAX, 0);
        for p in pieces.iter().filter(|p| !p.is_empty()) {
            let s = (p.as_ptr() as usize).saturating_sub(base);
            start = start.min(s);
            end = end.max(s + p.len());
        }
        let end = end.min(self.input.len());
        let whole = &self.input[start.min(end)..end];
        (self.view(whole), whole)
    }

    /// Body bytes: a view of the fed buffer, or held-back delimiter bytes, which are
    /// `CRLF--` (static) followed by a prefix of the level's boundary.
    fn body(
        &self,
        chunk: Chunk<'_>,
        depth: usize,
        out: &mut impl FnMut(PartEvent),
        wrap: fn(Bytes) -> PartEvent,
    ) {
        let s = match chunk {
            Chunk::Input(s) if within(self.buf, s) => {
                out(wrap(self.buf.slice_ref(s)));
                return;
            }
            // Bytes that followed a straddling head in the same (final) feed.
            Chunk::Input(s) => {
                out(wrap(Bytes::copy_from_slice(s)));
                return;
            }
            Chunk::Carried(ref c) => c.as_bytes(),
        };
        let start = match s.first() {
            Some(b'\r') => 0,
            Some(b'\n') => 1,
            _ => 2,
        };
        let head = (DELIM_HEAD.len() - start).min(s.len());
        let b = &self.boundaries[depth - 1];
        if s[..head] != DELIM_HEAD[start..start + head] || !b.starts_with(&s[head..]) {
            // Not a prefix of this level's delimiter (a partial BOM): a copy.
            out(wrap(Bytes::copy_from_slice(s)));
            return;
        }
        if head > 0 {
            out(wrap(Bytes::from_static(&DELIM_HEAD[start..start + head])));
        }
        if s.len() > head {
            out(wrap(b.slice(..s.len() - head)));
        }
    }

    /// Owns `ev`, which left the decoder at `depth` (`Feed::depth` after it).
    /// Each owned event goes to `out`, in order: a queue, or straight to a reader.
    fn own(&mut self, ev: Event<'_>, depth: usize, out: &mut impl FnMut(PartEvent)) {
        let ev = match ev {
            Event::Preamble(s) => return self.body(s, depth, out, PartEvent::Preamble),
            Event::Body(s) => return self.body(s, depth, out, PartEvent::Body),
            Event::Epilogue(s) => return self.body(s, depth, out, PartEvent::Epilogue),
            Event::PartStart(p) => {
                let raw = p.headers().as_bytes();
                PartEvent::PartStart(PartHead {
                    block: self.view(raw),
                    content_type: p
                        .content_type_raw()
                        .and_then(|(v, at)| Some((Span::of(raw, v)?, at))),
                    content_id: p
                        .content_id()
                        .and_then(|c| Span::of(raw, c.raw().as_bytes())),
                    content_length: p.content_length(),
                    index: p.index(),
                    depth: p.depth(),
                })
            }
            Event::MultipartStart(b) => {
                let b = Bytes::copy_from_slice(&b);
                self.boundaries[depth - 1] = b.clone();
                PartEvent::MultipartStart(b)
            }
            Event::Request(r) => {
                let (head, at) = self.head(&[
                    r.method(),
                    r.target(),
                    r.version().unwrap_or_default(),
                    r.headers().as_bytes(),
                ]);
                let span = |v: &[u8]| Span::of(at, v).unwrap_or(Span { start: 0, len: 0 });
                PartEvent::Http(HttpHead {
                    line: Line::Request {
                        method: span(r.method()),
                        target: span(r.target()),
                        version: r.version().map(span),
                    },
                    headers: span(r.headers().as_bytes()),
                    content_length: r.content_length(),
                    content_id: r.content_id().map(|c| span(c.raw().as_bytes())),
                    block: head,
                })
            }
            Event::Response(r) => {
                let (head, at) = self.head(&[r.version(), r.reason(), r.headers().as_bytes()]);
                let span = |v: &[u8]| Span::of(at, v).unwrap_or(Span { start: 0, len: 0 });
                PartEvent::Http(HttpHead {
                    line: Line::Response {
                        version: span(r.version()),
                        status: r.status(),
                        reason: span(r.reason()),
                    },
                    headers: span(r.headers().as_bytes()),
                    content_length: r.content_length(),
                    content_id: r.content_id().map(|c| span(c.raw().as_bytes())),
                    block: head,
                })
            }
            Event::PartEnd(e) => PartEvent::PartEnd(e),
            Event::MultipartEnd => PartEvent::MultipartEnd,
            Event::End => PartEvent::End,
        };
        out(ev);
    }
}

/// The events of a body, decoded from a stream of `Bytes` chunks.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use batchpart::stream::{PartEvent, PartStream};
/// use bytes::Bytes;
/// use futures_core::Stream;
///
/// let chunks = vec![
///     Ok::<_, std::io::Error>(Bytes::from_static(b"--b\r\nContent-Type: text/plain\r\n\r\nhel")),
///     Ok(Bytes::from_static(b"lo\r\n--b--\r\n")),
/// ];
/// let mut events = PartStream::new(batchpart::stream::iter(chunks), b"b").unwrap();
/// let mut body = Vec::new();
/// // `events.next().await` with a `StreamExt`.
/// while let Some(ev) = std::future::poll_fn(|cx| std::pin::Pin::new(&mut events).poll_next(cx)).await {
///     if let PartEvent::Body(b) = ev.unwrap() {
///         body.extend_from_slice(&b);
///     }
/// }
/// assert_eq!(body, b"hello");
/// # }
/// ```
pub struct PartStream<S> {
    inner: S,
    dec: Decoder,
    chunk: Bytes,
    carry: BytesMut,
    boundaries: [Bytes; MAX_DEPTH],
    /// Owned events, each with the decoder's offset after it.
    queue: VecDeque<(PartEvent, u64)>,
    /// The offset after the last event handed out.
    last_end: u64,
    /// A decode error, reported once the events before it are out.
    failed: Option<Error>,
    inner_done: bool,
    done: bool,
}

impl<S> core::fmt::Debug for PartStream<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PartStream")
            .field("decoder", &self.dec)
            .field("queued", &self.queue.len())
            .finish()
    }
}

impl<S, E> PartStream<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    /// Decodes `inner` as a multipart body with this boundary (default configuration).
    pub fn new(inner: S, boundary: &[u8]) -> Result<Self, Error> {
        Self::with_config(inner, boundary, Config::default())
    }

    /// Decodes `inner` as the body of a message with this `Content-Type`, read in the
    /// configuration's mode (see [`ContentType::parse_lenient`]); as
    /// [`Decoder::from_content_type`](crate::Decoder::from_content_type), an error in the
    /// value is at offset 0, the value not being part of the body.
    pub fn from_content_type(inner: S, content_type: &[u8], cfg: Config) -> Result<Self, Error> {
        let boundary = crate::decoder::boundary_of(content_type, cfg.strict)?;
        Self::with_config(inner, boundary, cfg)
    }

    /// Decodes `inner` with this boundary and configuration.
    pub fn with_config(inner: S, boundary: &[u8], cfg: Config) -> Result<Self, Error> {
        let dec = Decoder::with_config(boundary, cfg)?;
        let mut boundaries: [Bytes; MAX_DEPTH] = Default::default();
        boundaries[0] = Bytes::copy_from_slice(boundary);
        Ok(PartStream {
            inner,
            dec,
            chunk: Bytes::new(),
            carry: BytesMut::new(),
            boundaries,
            queue: VecDeque::new(),
            last_end: 0,
            failed: None,
            inner_done: false,
            done: false,
        })
    }

    /// The decoder's work counters (see [`Stats`](crate::Stats)).
    pub fn stats(&self) -> crate::Stats {
        self.dec.stats()
    }

    /// How far the body has been decoded: the absolute offset of the first byte not yet
    /// consumed (at most a header block, or a delimiter's length, behind what has arrived).
    pub fn offset(&self) -> u64 {
        self.dec.offset()
    }

    /// Where the last event handed out ends: the decoder's offset right after it, 0 before
    /// the first. [`offset`](Self::offset) may be further on, events being decoded ahead of
    /// their handing out; this is the offset to locate an error found in the event by, and
    /// the one to give [`MultipartItems::push`](crate::batch::MultipartItems::push). It is
    /// what a single feed of the whole body reports after the same event.
    pub fn event_end(&self) -> u64 {
        self.last_end
    }

    /// Feeds what is buffered to the decoder and queues its events.
    fn pump(&mut self) -> Result<(), Error> {
        let eof = self.inner_done;
        let base = self.dec.offset();
        if self.carry.is_empty() {
            let buf = core::mem::take(&mut self.chunk);
            let mut owner = Owner {
                buf: &buf,
                input: &buf,
                boundaries: &mut self.boundaries,
            };
            let mut feed = self.dec.feed(&buf, eof);
            let mut n = 0;
            while let Some(ev) = feed.next() {
                let at = base + feed.consumed() as u64;
                let queue = &mut self.queue;
                owner.own(ev?, feed.depth(), &mut |e| queue.push_back((e, at)));
                n += 1;
                if n == MAX_QUEUED {
                    break;
                }
            }
            let used = feed.consumed();
            let rest = buf.slice(used..);
            if n == MAX_QUEUED || rest.is_empty() {
                self.chunk = rest;
            } else {
                // A header block straddles the edge: gather it in the reusable buffer.
                self.carry.extend_from_slice(&rest);
            }
            return Ok(());
        }
        // A header block straddled a chunk edge. Append as much of the chunk as a head may
        // need, and feed the buffer only until the head is out: the body after it keeps
        // coming from the chunk itself.
        let room = self
            .dec
            .config()
            .limits
            .max_header_bytes
            .saturating_add(2 * DELIM_HEAD.len() + crate::MAX_BOUNDARY_LEN)
            .saturating_sub(self.carry.len());
        let orig = core::mem::take(&mut self.chunk);
        let take = room.min(orig.len()).max(1).min(orig.len());
        let carried = self.carry.len();
        self.carry.extend_from_slice(&orig[..take]);
        let eof = eof && take == orig.len();
        let none = Bytes::new();
        let mut owner = Owner {
            buf: &none,
            input: &self.carry,
            boundaries: &mut self.boundaries,
        };
        let mut feed = self.dec.feed(&self.carry, eof);
        while let Some(ev) = feed.next() {
            let ev = ev?;
            let head = matches!(
                ev,
                Event::PartStart(_) | Event::Request(_) | Event::Response(_)
            );
            let at = base + feed.consumed() as u64;
            let queue = &mut self.queue;
            owner.own(ev, feed.depth(), &mut |e| queue.push_back((e, at)));
            if head || feed.consumed() >= carried {
                break;
            }
        }
        let used = feed.consumed();
        if used >= carried {
            self.carry.clear();
            self.chunk = orig.slice(used - carried..);
        } else {
            bytes::Buf::advance(&mut self.carry, used);
            self.chunk = orig.slice(take..);
        }
        Ok(())
    }
}

impl<S, E> Stream for PartStream<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<PartEvent, StreamError<E>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some((ev, end)) = this.queue.pop_front() {
                this.last_end = end;
                if matches!(ev, PartEvent::End) {
                    this.done = true;
                }
                return Poll::Ready(Some(Ok(ev)));
            }
            if let Some(e) = this.failed.take() {
                this.done = true;
                return Poll::Ready(Some(Err(StreamError::Decode(e))));
            }
            if this.done {
                return Poll::Ready(None);
            }
            let have = !this.chunk.is_empty();
            if have || this.inner_done {
                let before = (this.chunk.len(), this.carry.len());
                if let Err(e) = this.pump() {
                    // The events the slice completed before the error come out first.
                    this.failed = Some(e);
                    continue;
                }
                if !this.queue.is_empty() {
                    continue;
                }
                if this.inner_done {
                    if (this.chunk.len(), this.carry.len()) == before {
                        // Nothing more can come out: the decoder has reported its end.
                        this.done = true;
                    }
                    continue;
                }
                if !this.chunk.is_empty() {
                    continue;
                }
            }
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(c))) => this.chunk = c,
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(StreamError::Source(e))));
                }
                Poll::Ready(None) => this.inner_done = true,
            }
        }
    }
}

/// A stream over an iterator of chunks, ready at once. Handy for tests and for bodies
/// already in memory.
pub fn iter<I: IntoIterator>(it: I) -> Iter<I::IntoIter> {
    Iter(it.into_iter())
}

/// See [`iter`].
#[derive(Debug)]
pub struct Iter<I>(I);

impl<I: Iterator + Unpin> Stream for Iter<I> {
    type Item = I::Item;
    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<I::Item>> {
        Poll::Ready(self.get_mut().0.next())
    }
}

/// Decodes a whole body already in memory into owned events, in one call. Body events share
/// `body`'s memory.
///
/// ```
/// let body = bytes::Bytes::from_static(b"--b\r\n\r\nhi\r\n--b--");
/// let events = batchpart::stream::decode_bytes(&body, b"b").unwrap();
/// assert!(events.contains(&batchpart::stream::PartEvent::Body(body.slice(7..9))));
/// ```
pub fn decode_bytes(body: &Bytes, boundary: &[u8]) -> Result<Vec<PartEvent>, Error> {
    decode_bytes_with(body, boundary, Config::default())
}

/// [`decode_bytes`] with a configuration.
pub fn decode_bytes_with(
    body: &Bytes,
    boundary: &[u8],
    cfg: Config,
) -> Result<Vec<PartEvent>, Error> {
    let mut out = Vec::new();
    each_event(body, boundary, cfg, |ev, _| {
        out.push(ev);
        Ok::<_, Error>(())
    })?;
    Ok(out)
}

/// Decodes a whole body in one feed, handing each owned event to `f` with the offset the
/// decoder has reached after it: what the batch readers run on a buffer, with no executor.
pub(crate) fn each_event<E: From<Error>>(
    body: &Bytes,
    boundary: &[u8],
    cfg: Config,
    mut f: impl FnMut(PartEvent, u64) -> Result<(), E>,
) -> Result<(), E> {
    let mut dec = Decoder::with_config(boundary, cfg)?;
    let mut boundaries: [Bytes; MAX_DEPTH] = Default::default();
    boundaries[0] = Bytes::copy_from_slice(boundary);
    let mut owner = Owner {
        buf: body,
        input: body,
        boundaries: &mut boundaries,
    };
    // Each owned event goes straight to `f`: no queue to move it through.
    let mut failed = None;
    let mut feed = dec.feed(body, true);
    while let Some(ev) = feed.next() {
        let ev = ev?;
        let at = feed.consumed() as u64;
        owner.own(ev, feed.depth(), &mut |e| {
            if failed.is_none() {
                failed = f(e, at).err();
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
    }
    Ok(())
}
