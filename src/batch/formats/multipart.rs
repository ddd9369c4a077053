//! OData multipart batches (`multipart/mixed`, and UCWA's `multipart/batching`): an
//! incremental reader over the part-event Stream, and a writer on the encoder.

use core::pin::Pin;
use core::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;

use crate::batch::error::{BatchError, BatchErrorKind as K};
pub(crate) use crate::batch::formats::drive::boundary_of;
use crate::batch::formats::drive::{read_whole, Driven, Machine};
use crate::batch::model::limits::{check_op, MeterError, ReadLimits};
use crate::batch::model::validate::{ValidationOptions, Validator};
use crate::batch::model::{Batch, Changeset, Headers, Item, RequestOp, ResponseOp, Text};
use crate::stream::{HttpHead, HttpKind, PartEvent};
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
            content_id: (Option<Text>, ContentIdIn),
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

/// A header value of `block` as model text ([`Text::from_wire`]): a view of the block; only
/// a folded value is copied, unfolded.
fn value_text(block: &Bytes, v: crate::Value<'_>) -> Text {
    Text::from_wire(value_bytes(block, v))
}

/// A header value of `block` as bytes: a view of the block, or a folded value unfolded.
fn value_bytes(block: &Bytes, v: crate::Value<'_>) -> Bytes {
    if v.is_folded() {
        Bytes::from(v.to_unfolded())
    } else {
        block.slice_ref(v.as_bytes())
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
        // Header names are tokens (ASCII), as the decoder validated them.
        out.push_shared(block.slice_ref(f.name()), value_bytes(block, f.value()));
    }
    out
}

impl sealed::Operation for RequestOp {
    fn check_limits(&self, limits: &ReadLimits) -> Result<(), BatchError> {
        check_op(limits, &self.headers, 0, self.depends_on.len())
    }

    fn from_http(
        head: &HttpHead,
        (content_id, content_id_in): (Option<Text>, ContentIdIn),
        body: Bytes,
    ) -> Result<Self, BatchError> {
        match head.kind() {
            HttpKind::Request { method, target, .. } => Ok(RequestOp {
                method: Text::from_wire(head.block().slice_ref(method)),
                url: Text::from_wire(head.block().slice_ref(target)),
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
        (content_id, content_id_in): (Option<Text>, ContentIdIn),
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

/// The op being assembled from a part's events.
#[derive(Default)]
struct Pending {
    part_id: Option<Text>,
    head: Option<HttpHead>,
    body: Body,
}

impl Pending {
    fn finish<Op: Operation>(self) -> Result<Op, BatchError> {
        let head = self
            .head
            .ok_or_else(|| BatchError::new(K::NotHttp, "a batch part must be application/http"))?;
        let head_id = head.content_id().map(|c| value_text(head.block(), c.raw()));
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

/// The multipart batch reader itself, sans-IO: part events go in ([`push`](Self::push)),
/// batch items come out, each as soon as its last event is in. Limits are counted as the
/// events arrive. [`MultipartReader`] drives it from a stream of chunks and
/// [`read_multipart`] over a buffer; drive it yourself over your own decoder loop.
///
/// ```
/// use batchpart::batch::{Item, MultipartItems, ReadLimits, RequestOp};
/// use bytes::Bytes;
///
/// let body = Bytes::from_static(b"--b\r\nContent-Type: application/http\r\n\r\n\
///                                 GET /Customers HTTP/1.1\r\n\r\n\r\n--b--");
/// let mut items = MultipartItems::<RequestOp>::new(ReadLimits::default());
/// let mut read = Vec::new();
/// for ev in batchpart::stream::decode_bytes(&body, b"b")? {
///     // The offset is only for errors: the decoder's position after the event.
///     if let Some(item) = items.push(ev, 0)? {
///         read.push(item);
///     }
/// }
/// assert!(matches!(&read[..], [Item::Op(op)] if op.url == "/Customers"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MultipartItems<Op> {
    validator: Option<Validator>,
    limits: ReadLimits,
    ops: usize,
    op: Option<Pending>,
    group: Group<Op>,
    mismatches: Vec<LengthMismatch>,
    /// The error that ended the read: every later push returns it again.
    failed: Option<BatchError>,
}

/// An operation whose embedded `Content-Length` disagreed with the body the multipart framing
/// gave it, read with [`Config::trust_framing`]: the body is the framed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LengthMismatch {
    /// The operation's position in the batch, changeset members counted, from 0.
    pub op: usize,
    /// Its Content-ID as sent, if any.
    pub content_id: Option<Text>,
    /// The embedded `Content-Length`.
    pub declared: u64,
    /// The bytes the framing gave the body.
    pub framed: u64,
}

/// Where the reader is, as the decoder's nesting events say (it keeps no depth of its own).
enum Group<Op> {
    /// At the top level.
    Top,
    /// Inside a changeset's body: operations join it.
    Open(Changeset<Op>),
    /// The changeset's body ended; its part ends next, and the changeset is an item.
    Closed(Changeset<Op>),
}

impl<Op> core::fmt::Debug for MultipartItems<Op> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let group = match self.group {
            Group::Top => "top",
            Group::Open(_) => "changeset",
            Group::Closed(_) => "changeset end",
        };
        f.debug_struct("MultipartItems")
            .field("group", &group)
            .field("ops", &self.ops)
            .finish()
    }
}

impl<Op: Operation> MultipartItems<Op> {
    /// A reader under these limits, without validation.
    pub fn new(limits: ReadLimits) -> Self {
        MultipartItems {
            validator: None,
            limits,
            ops: 0,
            op: None,
            group: Group::Top,
            mismatches: Vec::new(),
            failed: None,
        }
    }

    /// Validates every item as it is read (requests only; responses have no rules).
    pub fn validate(mut self, opts: ValidationOptions) -> Self {
        self.validator = Some(Validator::new(opts));
        self
    }

    /// The operations read so far whose embedded `Content-Length` disagreed with the framing
    /// (only ever with [`Config::trust_framing`]; otherwise such a part is an error).
    pub fn length_mismatches(&self) -> &[LengthMismatch] {
        &self.mismatches
    }

    /// Takes the next part event; returns the item it completes, if it completes one. `at` is
    /// the decoder's offset after the event
    /// ([`PartStream::event_end`](crate::stream::PartStream::event_end), or
    /// [`Feed::consumed`](crate::Feed::consumed) plus what was fed before): an error that has
    /// no better offset carries it. An error is final: every later call returns it again.
    pub fn push(&mut self, ev: PartEvent, at: u64) -> Result<Option<Item<Op>>, BatchError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self
            .event(ev, at)
            .and_then(|item| match (item, &mut self.validator) {
                (Some(item), Some(v)) => Op::validate(v, &item).map(|()| Some(item)),
                (item, _) => Ok(item),
            });
        r.map_err(|e| {
            let e = match e.offset() {
                Some(_) => e,
                // Where the item that broke the rule ends.
                None => e.at_offset(at),
            };
            self.failed = Some(e.clone());
            e
        })
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

    fn event(&mut self, ev: PartEvent, at: u64) -> Result<Option<Item<Op>>, BatchError> {
        if at > self.limits.max_batch_bytes {
            return Err(MeterError::<core::convert::Infallible>::Limit(
                self.limits.max_batch_bytes,
            )
            .into_batch_error());
        }
        match ev {
            PartEvent::PartStart(p) => {
                self.count_op()?;
                self.op = Some(Pending {
                    // As sent: the response echoes it byte for byte; matching normalizes.
                    part_id: p.content_id().map(|c| value_text(p.raw_headers(), c.raw())),
                    ..Default::default()
                });
            }
            PartEvent::MultipartStart(b) => {
                if !matches!(self.group, Group::Top) {
                    return Err(BatchError::new(
                        K::NestedChangeset,
                        "a changeset inside a changeset",
                    ));
                }
                // The part was a changeset, not an operation.
                self.ops -= 1;
                self.op = None;
                self.group = Group::Open(Changeset {
                    id: Some(Text::from_wire(b).into()),
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
            PartEvent::MultipartEnd => {
                self.group = match core::mem::replace(&mut self.group, Group::Top) {
                    Group::Open(c) => Group::Closed(c),
                    other => other,
                }
            }
            PartEvent::PartEnd(end) => return self.part_end(end),
            _ => {}
        }
        Ok(None)
    }

    fn part_end(&mut self, end: crate::PartEnd) -> Result<Option<Item<Op>>, BatchError> {
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
            match &mut self.group {
                Group::Open(c) => c.ops.push(op),
                _ => return Ok(Some(Item::Op(op))),
            }
        } else if matches!(self.group, Group::Closed(_)) {
            if let Group::Closed(c) = core::mem::replace(&mut self.group, Group::Top) {
                return Ok(Some(Item::Changeset(c)));
            }
        }
        Ok(None)
    }
}

impl<Op: Operation> Machine for MultipartItems<Op> {
    type Out = Item<Op>;

    fn limits(&self) -> &ReadLimits {
        &self.limits
    }

    fn push(&mut self, ev: PartEvent, at: u64) -> Result<Option<Item<Op>>, BatchError> {
        MultipartItems::push(self, ev, at)
    }
}

/// Reads batch items from a multipart body as a `Stream`, each as soon as its last byte has
/// arrived: a 100-operation batch is never held whole. An adapter over [`MultipartItems`].
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
    inner: Driven<S, MultipartItems<Op>>,
}

impl<S, Op> core::fmt::Debug for MultipartReader<S, Op> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MultipartReader")
            .field("items", &self.inner.machine)
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
        let items = MultipartItems::new(ReadLimits::default());
        Ok(MultipartReader {
            inner: Driven::new(inner, content_type, items)?,
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
        self.inner.config(new);
        self
    }

    /// Reads under these limits (set before the first item is read).
    pub fn limits(mut self, limits: ReadLimits) -> Self {
        self.inner.machine.limits = limits;
        self
    }

    /// The operations read so far whose embedded `Content-Length` disagreed with the framing
    /// (only ever with [`Config::trust_framing`]; otherwise such a part is an error).
    pub fn length_mismatches(&self) -> &[LengthMismatch] {
        self.inner.machine.length_mismatches()
    }

    /// Validates every item as it is read (requests only; responses have no rules).
    pub fn validate(mut self, opts: ValidationOptions) -> Self {
        self.inner.machine.validator = Some(Validator::new(opts));
        self
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
        self.get_mut().inner.poll_next(cx)
    }
}

/// Reads a whole batch in memory under `limits`, without validation, framing embedded bodies
/// by the delimiter when `trust_framing` (the dialect readers).
pub(crate) fn read_all<Op: Operation>(
    body: Bytes,
    content_type: &[u8],
    limits: ReadLimits,
    trust_framing: bool,
) -> Result<Batch<Op>, BatchError> {
    let cfg = Config {
        trust_framing,
        ..Config::default()
    };
    let items = read_whole(&mut MultipartItems::new(limits), &body, content_type, cfg)?;
    Ok(Batch { items })
}

/// Reads a whole multipart batch that is already in memory, under the default
/// [`ReadLimits`]: one decoder pass over `body`, its items pushed through
/// [`MultipartItems`].
pub fn read_multipart<Op: Operation>(
    body: Bytes,
    content_type: &[u8],
    validation: Option<ValidationOptions>,
) -> Result<Batch<Op>, BatchError> {
    read_multipart_with(body, content_type, ReadLimits::default(), validation)
}

/// [`read_multipart`] under these limits.
pub fn read_multipart_with<Op: Operation>(
    body: Bytes,
    content_type: &[u8],
    limits: ReadLimits,
    validation: Option<ValidationOptions>,
) -> Result<Batch<Op>, BatchError> {
    let mut items = MultipartItems::new(limits);
    if let Some(v) = validation {
        items = items.validate(v);
    }
    let items = read_whole(&mut items, &body, content_type, Config::default())?;
    Ok(Batch { items })
}

// An operation is written whole or not at all: its head is checked (by the code that writes
// it) before its part starts, and each step after that is itself atomic, so a refused
// operation leaves the writer as it was and the caller can write another in its place.
impl sealed::WriteOp for RequestOp {
    fn write(&self, w: &mut Writer) -> Result<(), BatchError> {
        let id = self.content_id.as_deref();
        let part = http_part_headers(id, self.content_id_in);
        let pairs = || head_pairs(&self.headers, id, self.content_id_in);
        let (method, url) = (self.method.as_bytes(), self.url.as_bytes());
        crate::encoder::counted(|s| {
            w.encoder()
                .request_head_into(method, url, Some(b"HTTP/1.1"), pairs(), s)
        })?;
        w.part_start(part)?;
        w.request_head(method, url, Some(b"HTTP/1.1"), pairs())?;
        w.body(self.body.clone())?;
        Ok(())
    }
}

impl sealed::WriteOp for ResponseOp {
    fn write(&self, w: &mut Writer) -> Result<(), BatchError> {
        let id = self.content_id.as_deref();
        let part = http_part_headers(id, self.content_id_in);
        let pairs = || head_pairs(&self.headers, id, self.content_id_in);
        crate::encoder::counted(|s| {
            w.encoder()
                .response_head_into(b"HTTP/1.1", self.status, None, pairs(), s)
        })?;
        w.part_start(part)?;
        w.response_head(b"HTTP/1.1", self.status, None, pairs())?;
        w.body(self.body.clone())?;
        Ok(())
    }
}

/// The MIME headers of an operation's part, borrowed from the model: nothing is copied.
fn http_part_headers(
    content_id: Option<&str>,
    at: ContentIdIn,
) -> impl Iterator<Item = (&[u8], &[u8])> + Clone {
    let id = content_id
        .filter(|_| at != ContentIdIn::Head)
        .map(|id| (&b"Content-ID"[..], id.as_bytes()));
    [
        (&b"Content-Type"[..], &b"application/http"[..]),
        (b"Content-Transfer-Encoding", b"binary"),
    ]
    .into_iter()
    .chain(id)
}

/// The embedded head's headers, with the Content-ID first where it is carried inside;
/// borrowed from the model.
fn head_pairs<'a>(
    h: &'a Headers,
    content_id: Option<&'a str>,
    at: ContentIdIn,
) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone {
    let id = content_id
        .filter(|_| at != ContentIdIn::Part)
        .map(|id| (&b"Content-ID"[..], id.as_bytes()));
    id.into_iter()
        .chain(h.iter().map(|(n, v)| (n.as_bytes(), v)))
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
    let body = w.finish(b"")?;
    Ok((body.content_type("mixed"), body))
}
