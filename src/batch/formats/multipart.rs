//! OData multipart batches (`multipart/mixed`, and UCWA's `multipart/batching`): an
//! incremental reader over the part-event Stream, and a writer on the encoder.

use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;

use crate::batch::error::{BatchError, BatchErrorKind as K};
use crate::batch::model::limits::{check_op, Metered, ReadLimits};
use crate::batch::model::validate::{ValidationOptions, Validator};
use crate::batch::model::{text_of, Batch, Changeset, Headers, Item, RequestOp, ResponseOp};
use crate::stream::{HttpHead, HttpKind, PartEvent, PartStream, StreamError};
use crate::writer::{ContentIdIn, Encoded, Writer};
use crate::Config;

/// An operation the multipart reader can build from an `application/http` part:
/// [`RequestOp`] or [`ResponseOp`]. Sealed: its methods are the crate's.
pub trait Operation: sealed::Operation {}

impl Operation for RequestOp {}
impl Operation for ResponseOp {}

/// An operation the multipart writer can write: [`RequestOp`] or [`ResponseOp`]. Sealed.
pub trait WriteOp: sealed::WriteOp {}

impl WriteOp for RequestOp {}
impl WriteOp for ResponseOp {}

pub(crate) mod sealed {
    use super::*;

    pub trait Operation: Sized {
        /// Builds the operation from the embedded head, the part's Content-ID as sent (the
        /// MIME part header wins over the embedded one) and the body.
        fn from_http(
            head: &HttpHead,
            content_id: (Option<String>, ContentIdIn),
            body: Bytes,
        ) -> Result<Self, BatchError>;

        /// Validates an item; only requests have rules.
        fn validate(_v: &mut Validator, _item: &Item<Self>) -> Result<(), BatchError> {
            Ok(())
        }

        /// Checks the per-operation limits that the decoder does not count.
        fn check_limits(&self, limits: &ReadLimits) -> Result<(), BatchError>;
    }

    pub trait WriteOp {
        /// Writes the op as an `application/http` part.
        fn write(&self, w: &mut Writer) -> Result<(), BatchError>;
    }
}

/// A header value as model text (see `text_of`), unfolded; one allocation, none for the unfolding
/// of a value that has no fold.
fn value_text(v: crate::Value<'_>) -> String {
    if v.is_folded() {
        text_of(&v.to_unfolded())
    } else {
        text_of(v.as_bytes())
    }
}

/// The embedded headers; a Content-ID carried only there is the op's `content_id`, kept
/// out of its headers so that it is written back once, in its place.
/// Names and values are shared with the head, not copied; only a folded value is.
fn headers_of(h: &HttpHead, content_id_in: ContentIdIn) -> Headers {
    let block = h.block();
    let mut out = Headers::new();
    for f in h.headers().iter() {
        if content_id_in == ContentIdIn::Head && f.name().eq_ignore_ascii_case(b"content-id") {
            continue;
        }
        let v = f.value();
        let value = if v.is_folded() {
            Bytes::from(v.to_unfolded())
        } else {
            block.slice_ref(v.as_bytes())
        };
        // Header names are tokens (ASCII), as the decoder validated them.
        out.push_shared(block.slice_ref(f.name()), value);
    }
    out
}

impl sealed::Operation for RequestOp {
    fn check_limits(&self, limits: &ReadLimits) -> Result<(), BatchError> {
        check_op(limits, &self.headers, 0, self.depends_on.len())
    }

    fn from_http(
        head: &HttpHead,
        (content_id, content_id_in): (Option<String>, ContentIdIn),
        body: Bytes,
    ) -> Result<Self, BatchError> {
        match head.kind() {
            HttpKind::Request { method, target, .. } => Ok(RequestOp {
                method: text_of(method),
                url: text_of(target),
                headers: headers_of(head, content_id_in),
                content_id,
                content_id_in,
                body,
                ..Default::default()
            }),
            HttpKind::Response { .. } => Err(BatchError::new(
                K::UnexpectedKind,
                "a response in a batch request",
            )),
        }
    }

    fn validate(v: &mut Validator, item: &Item<Self>) -> Result<(), BatchError> {
        v.check(item)
    }
}

impl sealed::Operation for ResponseOp {
    fn check_limits(&self, limits: &ReadLimits) -> Result<(), BatchError> {
        check_op(limits, &self.headers, 0, 0)
    }

    fn from_http(
        head: &HttpHead,
        (content_id, content_id_in): (Option<String>, ContentIdIn),
        body: Bytes,
    ) -> Result<Self, BatchError> {
        match head.kind() {
            HttpKind::Response { status, .. } => Ok(ResponseOp {
                status,
                headers: headers_of(head, content_id_in),
                content_id,
                content_id_in,
                body,
            }),
            HttpKind::Request { .. } => Err(BatchError::new(
                K::UnexpectedKind,
                "a request in a batch response",
            )),
        }
    }
}

/// A body as it arrives: one piece stays shared with the input chunk; a second one starts a
/// buffer that the rest is appended to, so that small pieces (one-byte chunks) cost their
/// bytes, not a `Bytes` each.
#[derive(Default)]
pub(crate) enum Body {
    #[default]
    Empty,
    One(Bytes),
    Many(BytesMut),
}

impl Body {
    pub(crate) fn len(&self) -> usize {
        match self {
            Body::Empty => 0,
            Body::One(b) => b.len(),
            Body::Many(b) => b.len(),
        }
    }

    pub(crate) fn push(&mut self, piece: Bytes) {
        *self = match core::mem::take(self) {
            Body::Empty => Body::One(piece),
            Body::One(first) => {
                let mut b = BytesMut::with_capacity(first.len() + piece.len());
                b.extend_from_slice(&first);
                b.extend_from_slice(&piece);
                Body::Many(b)
            }
            Body::Many(mut b) => {
                b.extend_from_slice(&piece);
                Body::Many(b)
            }
        }
    }

    pub(crate) fn into_bytes(self) -> Bytes {
        match self {
            Body::Empty => Bytes::new(),
            Body::One(b) => b,
            Body::Many(b) => b.freeze(),
        }
    }
}

/// The validated boundary a multipart `Content-Type` names, read in this mode (see
/// [`ContentType::parse_lenient`](crate::ContentType::parse_lenient)); its errors are at
/// offset 0, the value not being part of the body.
pub(crate) fn boundary_of(content_type: &[u8], strict: bool) -> Result<Vec<u8>, BatchError> {
    let at0 = |e: crate::Error| BatchError::from(crate::Error::new(e.kind(), 0));
    let ct = crate::ContentType::parse_in(content_type, strict).map_err(at0)?;
    // `multipart_boundary` validates it: once.
    Ok(ct.multipart_boundary().map_err(at0)?.to_vec())
}

/// The op being assembled from a part's events.
#[derive(Default)]
struct Pending {
    part_id: Option<String>,
    head: Option<HttpHead>,
    body: Body,
}

impl Pending {
    fn finish<Op: Operation>(self) -> Result<Op, BatchError> {
        let head = self
            .head
            .ok_or_else(|| BatchError::new(K::NotHttp, "a batch part must be application/http"))?;
        let head_id = head.content_id().map(|c| value_text(c.raw()));
        // The MIME part's wins; one inside the head alone is the op's, kept in its place; one
        // inside besides the MIME part's stays among the headers, apart.
        let id = match (self.part_id, head_id) {
            (Some(p), _) => (Some(p), ContentIdIn::Part),
            (None, Some(h)) => (Some(h), ContentIdIn::Head),
            (None, None) => (None, ContentIdIn::Part),
        };
        Op::from_http(&head, id, self.body.into_bytes())
    }
}

/// Reads batch items from a multipart body, each as soon as its last byte has arrived: a
/// 100-operation batch is never held whole.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use batchpart::batch::{Item, MultipartReader, RequestOp};
/// use bytes::Bytes;
/// use futures_core::Stream;
///
/// let body = "--b\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\n\
///             GET /Customers HTTP/1.1\r\n\r\n\r\n--b--";
/// let chunks = batchpart::stream::iter([Ok::<_, std::io::Error>(Bytes::from(body))]);
/// let mut items = MultipartReader::<_, RequestOp>::new(chunks, b"multipart/mixed; boundary=b").unwrap();
/// // `items.next().await` with a `StreamExt`.
/// let next = std::future::poll_fn(|cx| std::pin::Pin::new(&mut items).poll_next(cx)).await;
/// let Some(Ok(Item::Op(op))) = next else { panic!() };
/// assert_eq!((op.method.as_str(), op.url.as_str(), op.content_id.as_deref()), ("GET", "/Customers", Some("1")));
/// # }
/// ```
pub struct MultipartReader<S, Op> {
    events: Events<S>,
    validator: Option<Validator>,
    limits: ReadLimits,
    depth: usize,
    ops: usize,
    op: Option<Pending>,
    changeset: Option<Changeset<Op>>,
    mismatches: Vec<LengthMismatch>,
    done: bool,
    _op: PhantomData<Op>,
}

/// An operation whose embedded `Content-Length` disagreed with the body the multipart framing
/// gave it, read with [`Config::trust_framing`]: the body is the framed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LengthMismatch {
    /// The operation's position in the batch, changeset members counted, from 0.
    pub op: usize,
    /// Its Content-ID as sent, if any.
    pub content_id: Option<String>,
    /// The embedded `Content-Length`.
    pub declared: u64,
    /// The bytes the framing gave the body.
    pub framed: u64,
}

/// The part events, started at the first poll so that the options set before it apply.
enum Events<S> {
    Unstarted {
        inner: S,
        boundary: Vec<u8>,
        /// Why strict mode refuses the Content-Type that the lenient rule read, if it does.
        strict_error: Option<BatchError>,
        cfg: Config,
    },
    Started(Box<PartStream<Metered<S>>>),
    Gone,
}

impl<S, Op> core::fmt::Debug for MultipartReader<S, Op> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MultipartReader")
            .field("depth", &self.depth)
            .finish()
    }
}

impl<S, E, Op> MultipartReader<S, Op>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: core::fmt::Display,
    Op: Operation,
{
    /// A reader for a body with this `Content-Type` (`multipart/mixed`, `multipart/batching`),
    /// with the default decoder configuration and [`ReadLimits`]. The value is read by the
    /// lenient rule ([`ContentType::parse_lenient`](crate::ContentType::parse_lenient)); a
    /// strict [`config`](Self::config) refuses, at the first item, a value only that rule
    /// accepts.
    pub fn new(inner: S, content_type: &[u8]) -> Result<Self, BatchError> {
        Ok(MultipartReader {
            events: Events::Unstarted {
                inner,
                boundary: boundary_of(content_type, false)?,
                strict_error: boundary_of(content_type, true).err(),
                cfg: Config::default(),
            },
            validator: None,
            limits: ReadLimits::default(),
            depth: 1,
            ops: 0,
            op: None,
            changeset: None,
            mismatches: Vec::new(),
            done: false,
            _op: PhantomData,
        })
    }

    /// A reader with a decoder configuration.
    pub fn with_config(inner: S, content_type: &[u8], cfg: Config) -> Result<Self, BatchError> {
        boundary_of(content_type, cfg.strict)?;
        Ok(Self::new(inner, content_type)?.config(cfg))
    }

    /// Decodes with this configuration (set before the first item is read); its header limits
    /// are lowered to the reader's [`ReadLimits`] where those are lower.
    pub fn config(mut self, new: Config) -> Self {
        if let Events::Unstarted { cfg, .. } = &mut self.events {
            *cfg = new;
        }
        self
    }

    /// Reads under these limits (set before the first item is read).
    pub fn limits(mut self, limits: ReadLimits) -> Self {
        self.limits = limits;
        self
    }

    fn events(&mut self) -> Option<&mut PartStream<Metered<S>>> {
        if let Events::Unstarted { .. } = self.events {
            let Events::Unstarted {
                inner,
                boundary,
                cfg,
                ..
            } = core::mem::replace(&mut self.events, Events::Gone)
            else {
                return None;
            };
            let metered = Metered::new(inner, self.limits.max_batch_bytes);
            let cfg = self.limits.decoder_config(cfg);
            // The boundary was validated by `new`.
            self.events = PartStream::with_config(metered, &boundary, cfg)
                .map(|p| Events::Started(Box::new(p)))
                .unwrap_or(Events::Gone);
        }
        match &mut self.events {
            Events::Started(p) => Some(p),
            _ => None,
        }
    }

    /// An operation starts: counted against the limit as it arrives.
    fn count_op(&mut self) -> Result<(), BatchError> {
        self.ops += 1;
        if self.ops > self.limits.max_operations {
            return Err(BatchError::new(
                K::TooManyOperations,
                format!("over max_operations ({})", self.limits.max_operations),
            )
            .at_op(self.ops - 1, None));
        }
        Ok(())
    }

    /// The operations read so far whose embedded `Content-Length` disagreed with the framing
    /// (only ever with [`Config::trust_framing`]; otherwise such a part is an error).
    pub fn length_mismatches(&self) -> &[LengthMismatch] {
        &self.mismatches
    }

    /// Validates every item as it is read (requests only; responses have no rules).
    pub fn validate(mut self, opts: ValidationOptions) -> Self {
        self.validator = Some(Validator::new(opts));
        self
    }

    fn event(&mut self, ev: PartEvent) -> Result<Option<Item<Op>>, BatchError> {
        match ev {
            PartEvent::PartStart(p) => {
                self.count_op()?;
                self.op = Some(Pending {
                    // As sent: the response echoes it byte for byte; matching normalizes.
                    part_id: p.content_id().map(|c| value_text(c.raw())),
                    ..Default::default()
                });
            }
            PartEvent::MultipartStart(b) => {
                if self.depth > 1 {
                    return Err(BatchError::new(
                        K::NestedChangeset,
                        "a changeset inside a changeset",
                    ));
                }
                // The part was a changeset, not an operation.
                self.ops -= 1;
                self.op = None;
                self.depth += 1;
                self.changeset = Some(Changeset {
                    id: Some(text_of(&b)),
                    ops: Vec::new(),
                });
            }
            PartEvent::Http(h) => {
                if let Some(p) = &mut self.op {
                    p.head = Some(h);
                }
            }
            PartEvent::Body(b) => {
                if let Some(p) = &mut self.op {
                    if p.body.len() + b.len() > self.limits.max_body_bytes {
                        return Err(BatchError::new(
                            K::BodyTooLarge,
                            format!(
                                "a body is over max_body_bytes ({})",
                                self.limits.max_body_bytes
                            ),
                        )
                        .at_op(self.ops - 1, p.part_id.clone()));
                    }
                    p.body.push(b);
                }
            }
            PartEvent::MultipartEnd => self.depth -= 1,
            PartEvent::PartEnd(end) => {
                if let Some(p) = self.op.take() {
                    if let Some((declared, framed)) = end.http_content_length_mismatch() {
                        self.mismatches.push(LengthMismatch {
                            op: self.ops - 1,
                            content_id: p.part_id.clone(),
                            declared,
                            framed,
                        });
                    }
                    let op = p.finish::<Op>()?;
                    op.check_limits(&self.limits)?;
                    match &mut self.changeset {
                        Some(c) if self.depth > 1 => c.ops.push(op),
                        _ => return Ok(Some(Item::Op(op))),
                    }
                } else if self.depth == 1 {
                    if let Some(c) = self.changeset.take() {
                        return Ok(Some(Item::Changeset(c)));
                    }
                }
            }
            PartEvent::End => self.done = true,
            _ => {}
        }
        Ok(None)
    }
}

impl<S, E, Op> Stream for MultipartReader<S, Op>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: core::fmt::Display,
    Op: Operation + Unpin,
{
    type Item = Result<Item<Op>, BatchError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            if let Events::Unstarted {
                cfg,
                strict_error: e @ Some(_),
                ..
            } = &mut this.events
            {
                if cfg.strict {
                    this.done = true;
                    return Poll::Ready(e.take().map(Err));
                }
            }
            let Some(events) = this.events() else {
                this.done = true;
                return Poll::Ready(None);
            };
            let ev = match Pin::new(events).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Ok(ev))) => ev,
                Poll::Ready(Some(Err(StreamError::Decode(e)))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(e.into())));
                }
                Poll::Ready(Some(Err(StreamError::Source(e)))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(e.into_batch_error())));
                }
            };
            let offset = this.events().map_or(0, |e| e.offset());
            match this.event(ev).map_err(|e| match e.offset() {
                Some(_) => e,
                None => e.at_offset(offset),
            }) {
                Ok(None) => {}
                Ok(Some(item)) => {
                    if let Some(v) = &mut this.validator {
                        if let Err(e) = Op::validate(v, &item) {
                            this.done = true;
                            // Where the item that broke the rule ends.
                            let e = match e.offset() {
                                Some(_) => e,
                                None => e.at_offset(offset),
                            };
                            return Poll::Ready(Some(Err(e)));
                        }
                    }
                    return Poll::Ready(Some(Ok(item)));
                }
                Err(e) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}

/// Reads a whole batch in memory under `limits`, without validation, framing embedded bodies
/// by the delimiter when `trust_framing` (the dialect readers).
pub(crate) fn read_all<Op: Operation + Unpin>(
    body: Bytes,
    content_type: &[u8],
    limits: ReadLimits,
    trust_framing: bool,
) -> Result<Batch<Op>, BatchError> {
    let cfg = Config {
        trust_framing,
        ..Config::default()
    };
    let chunks = crate::stream::iter([Ok::<_, core::convert::Infallible>(body)]);
    let mut r = MultipartReader::<_, Op>::new(chunks, content_type)?
        .config(cfg)
        .limits(limits);
    let mut items = Vec::new();
    for item in crate::block::items(&mut r) {
        items.push(item?);
    }
    Ok(Batch { items })
}

/// Reads a whole multipart batch that is already in memory.
pub fn read_multipart<Op: Operation + Unpin>(
    body: Bytes,
    content_type: &[u8],
    validation: Option<ValidationOptions>,
) -> Result<Batch<Op>, BatchError> {
    let src = crate::stream::iter([Ok::<_, core::convert::Infallible>(body)]);
    let mut r = MultipartReader::<_, Op>::new(src, content_type)?;
    if let Some(v) = validation {
        r = r.validate(v);
    }
    let mut items = Vec::new();
    for item in crate::block::items(&mut r) {
        items.push(item?);
    }
    Ok(Batch { items })
}

fn header_pairs(h: &Headers) -> Vec<(Vec<u8>, Vec<u8>)> {
    h.iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.to_vec()))
        .collect()
}

// An operation is written whole or not at all: its head is checked (by the code that writes
// it) before its part starts, and each step after that is itself atomic, so a refused
// operation leaves the writer as it was and the caller can write another in its place.
impl sealed::WriteOp for RequestOp {
    fn write(&self, w: &mut Writer) -> Result<(), BatchError> {
        let part = http_part_headers(&self.content_id, self.content_id_in);
        let hs = head_pairs(&self.headers, &self.content_id, self.content_id_in);
        let pairs = || hs.iter().map(|(n, v)| (n.as_slice(), v.as_slice()));
        let (method, url) = (self.method.as_bytes(), self.url.as_bytes());
        crate::encoder::counted(|s| {
            w.encoder()
                .request_head_into(method, url, Some(b"HTTP/1.1"), pairs(), s)
        })?;
        w.part_start(part.iter().map(|(n, v)| (*n, v.as_slice())))?;
        w.request_head(method, url, Some(b"HTTP/1.1"), pairs())?;
        w.body(self.body.clone())?;
        Ok(())
    }
}

impl sealed::WriteOp for ResponseOp {
    fn write(&self, w: &mut Writer) -> Result<(), BatchError> {
        let part = http_part_headers(&self.content_id, self.content_id_in);
        let hs = head_pairs(&self.headers, &self.content_id, self.content_id_in);
        let pairs = || hs.iter().map(|(n, v)| (n.as_slice(), v.as_slice()));
        crate::encoder::counted(|s| {
            w.encoder()
                .response_head_into(b"HTTP/1.1", self.status, None, pairs(), s)
        })?;
        w.part_start(part.iter().map(|(n, v)| (*n, v.as_slice())))?;
        w.response_head(b"HTTP/1.1", self.status, None, pairs())?;
        w.body(self.body.clone())?;
        Ok(())
    }
}

/// The MIME headers of an operation's part; model text goes back to its wire bytes.
fn http_part_headers(
    content_id: &Option<String>,
    at: ContentIdIn,
) -> Vec<(&'static [u8], Vec<u8>)> {
    let mut part: Vec<(&'static [u8], Vec<u8>)> = vec![
        (b"Content-Type", b"application/http".to_vec()),
        (b"Content-Transfer-Encoding", b"binary".to_vec()),
    ];
    if let Some(id) = content_id.as_ref().filter(|_| at != ContentIdIn::Head) {
        part.push((b"Content-ID", id.as_bytes().to_vec()));
    }
    part
}

/// The embedded head's headers, with the Content-ID first where it is carried inside.
fn head_pairs(
    h: &Headers,
    content_id: &Option<String>,
    at: ContentIdIn,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let id = content_id
        .as_ref()
        .filter(|_| at != ContentIdIn::Part)
        .map(|id| (b"Content-ID".to_vec(), id.as_bytes().to_vec()));
    id.into_iter().chain(header_pairs(h)).collect()
}

/// Writes a batch as a multipart body: returns its `Content-Type` and the body, whose
/// operation bodies share memory with the model's. Changesets get their own boundaries
/// (the changeset's id when it is a valid, distinct boundary; a random one otherwise). Every
/// body is checked for a delimiter (one `memmem` pass each): a body that holds one is an
/// [`Encode`](crate::batch::BatchErrorKind::Encode) error, never ambiguous output.
///
/// ```
/// use batchpart::batch::{write_multipart, Batch, Changeset, Item, RequestOp};
/// let batch = Batch { items: vec![
///     Item::Op(RequestOp::new("GET", "Customers")),
///     Item::Changeset(Changeset { id: None, ops: vec![
///         RequestOp::new("POST", "Customers").with_content_id("1").with_body("{}"),
///     ]}),
/// ]};
/// let (content_type, body) = write_multipart(&batch, b"batch_1").unwrap();
/// assert_eq!(content_type, "multipart/mixed; boundary=batch_1");
/// assert!(body.len() > 100);
/// ```
pub fn write_multipart<Op: WriteOp>(
    batch: &Batch<Op>,
    boundary: &[u8],
) -> Result<(String, Encoded), BatchError> {
    let mut w = Writer::new(boundary)?;
    w.check_bodies(true);
    for item in &batch.items {
        match item {
            Item::Op(op) => op.write(&mut w)?,
            Item::Changeset(c) => {
                let own = c.id.as_deref().map(str::as_bytes).filter(|b| {
                    crate::validate_boundary(b).is_ok()
                        && !boundary.starts_with(b)
                        && !b.starts_with(boundary)
                });
                w.open_changeset(own)?;
                for op in &c.ops {
                    op.write(&mut w)?;
                }
                w.close_changeset()?;
            }
        }
    }
    let ct = w.content_type("mixed");
    Ok((ct, w.finish(b"")?))
}
