//! OData multipart batches (`multipart/mixed`, and UCWA's `multipart/batching`): an
//! incremental reader over the part-event Stream, and a writer on the encoder.

use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;

use crate::batch::error::{BatchError, BatchErrorKind as K};
use crate::batch::model::validate::{ValidationOptions, Validator};
use crate::batch::model::{
    latin1, unlatin1, Batch, Changeset, Headers, Item, RequestOp, ResponseOp,
};
use crate::stream::{HttpHead, HttpKind, PartEvent, PartStream, StreamError};
use crate::writer::{Encoded, Writer};
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
        /// Builds the operation from the embedded head, the part's normalized Content-ID (the
        /// MIME part header wins over the embedded one) and the body.
        fn from_http(
            head: &HttpHead,
            content_id: Option<String>,
            body: Bytes,
        ) -> Result<Self, BatchError>;

        /// Validates an item; only requests have rules.
        fn validate(_v: &mut Validator, _item: &Item<Self>) -> Result<(), BatchError> {
            Ok(())
        }
    }

    pub trait WriteOp {
        /// Writes the op as an `application/http` part.
        fn write(&self, w: &mut Writer) -> Result<(), BatchError>;
    }
}

fn headers_of(h: &HttpHead) -> Headers {
    Headers::from_wire(
        h.headers()
            .iter()
            .map(|h| (h.name(), h.value().to_unfolded())),
    )
}

impl sealed::Operation for RequestOp {
    fn from_http(
        head: &HttpHead,
        content_id: Option<String>,
        body: Bytes,
    ) -> Result<Self, BatchError> {
        match head.kind() {
            HttpKind::Request { method, target, .. } => Ok(RequestOp {
                method: latin1(method),
                url: latin1(target),
                headers: headers_of(head),
                content_id,
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
    fn from_http(
        head: &HttpHead,
        content_id: Option<String>,
        body: Bytes,
    ) -> Result<Self, BatchError> {
        match head.kind() {
            HttpKind::Response { status, .. } => Ok(ResponseOp {
                status: *status,
                headers: headers_of(head),
                content_id,
                body,
            }),
            HttpKind::Request { .. } => Err(BatchError::new(
                K::UnexpectedKind,
                "a request in a batch response",
            )),
        }
    }
}

/// The op being assembled from a part's events.
#[derive(Default)]
struct Pending {
    part_id: Option<String>,
    head: Option<HttpHead>,
    body: Vec<Bytes>,
}

impl Pending {
    fn finish<Op: Operation>(self) -> Result<Op, BatchError> {
        let head = self
            .head
            .ok_or_else(|| BatchError::new(K::NotHttp, "a batch part must be application/http"))?;
        let id = self.part_id.or_else(|| {
            head.content_id()
                .map(|c| c.normalized().to_unfolded())
                .map(|v| latin1(&v))
        });
        // One piece stays shared with the input chunk; several are joined, once.
        let body = match self.body.len() {
            0 => Bytes::new(),
            1 => self.body.into_iter().next().unwrap_or_default(),
            _ => {
                let mut b = BytesMut::with_capacity(self.body.iter().map(Bytes::len).sum());
                self.body.iter().for_each(|p| b.extend_from_slice(p));
                b.freeze()
            }
        };
        Op::from_http(&head, id, body)
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
    events: PartStream<S>,
    validator: Option<Validator>,
    depth: usize,
    op: Option<Pending>,
    changeset: Option<Changeset<Op>>,
    done: bool,
    _op: PhantomData<Op>,
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
    /// A reader for a body with this `Content-Type` (`multipart/mixed`, `multipart/batching`).
    pub fn new(inner: S, content_type: &[u8]) -> Result<Self, BatchError> {
        Self::with_config(inner, content_type, Config::default())
    }

    /// A reader with a decoder configuration.
    pub fn with_config(inner: S, content_type: &[u8], cfg: Config) -> Result<Self, BatchError> {
        Ok(MultipartReader {
            events: PartStream::from_content_type(inner, content_type, cfg)?,
            validator: None,
            depth: 1,
            op: None,
            changeset: None,
            done: false,
            _op: PhantomData,
        })
    }

    /// Validates every item as it is read (requests only; responses have no rules).
    pub fn validate(mut self, opts: ValidationOptions) -> Self {
        self.validator = Some(Validator::new(opts));
        self
    }

    fn event(&mut self, ev: PartEvent) -> Result<Option<Item<Op>>, BatchError> {
        match ev {
            PartEvent::PartStart(p) => {
                self.op = Some(Pending {
                    part_id: p
                        .content_id()
                        .map(|c| latin1(&c.normalized().to_unfolded())),
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
                self.op = None;
                self.depth += 1;
                self.changeset = Some(Changeset {
                    id: Some(latin1(&b)),
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
                    p.body.push(b);
                }
            }
            PartEvent::MultipartEnd => self.depth -= 1,
            PartEvent::PartEnd(_) => {
                if let Some(p) = self.op.take() {
                    let op = p.finish::<Op>()?;
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
            let ev = match Pin::new(&mut this.events).poll_next(cx) {
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
                    return Poll::Ready(Some(Err(BatchError::new(K::Source, e.to_string()))));
                }
            };
            match this.event(ev) {
                Ok(None) => {}
                Ok(Some(item)) => {
                    if let Some(v) = &mut this.validator {
                        if let Err(e) = Op::validate(v, &item) {
                            this.done = true;
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
    while let Some(item) = crate::block::next(&mut r) {
        items.push(item?);
    }
    Ok(Batch { items })
}

fn header_pairs(h: &Headers) -> Vec<(Vec<u8>, Vec<u8>)> {
    h.iter().map(|(n, v)| (unlatin1(n), unlatin1(v))).collect()
}

impl sealed::WriteOp for RequestOp {
    fn write(&self, w: &mut Writer) -> Result<(), BatchError> {
        let part = http_part_headers(&self.content_id);
        w.part_start(part.iter().map(|(n, v)| (*n, v.as_slice())))?;
        let hs = header_pairs(&self.headers);
        w.request_head(
            &unlatin1(&self.method),
            &unlatin1(&self.url),
            Some(b"HTTP/1.1"),
            hs.iter().map(|(n, v)| (n.as_slice(), v.as_slice())),
        )?;
        w.body(self.body.clone())?;
        Ok(())
    }
}

impl sealed::WriteOp for ResponseOp {
    fn write(&self, w: &mut Writer) -> Result<(), BatchError> {
        let part = http_part_headers(&self.content_id);
        w.part_start(part.iter().map(|(n, v)| (*n, v.as_slice())))?;
        let hs = header_pairs(&self.headers);
        w.response_head(
            b"HTTP/1.1",
            self.status,
            None,
            hs.iter().map(|(n, v)| (n.as_slice(), v.as_slice())),
        )?;
        w.body(self.body.clone())?;
        Ok(())
    }
}

/// The MIME headers of an operation's part; model text goes back to its wire bytes.
fn http_part_headers(content_id: &Option<String>) -> Vec<(&'static [u8], Vec<u8>)> {
    let mut part: Vec<(&'static [u8], Vec<u8>)> = vec![
        (b"Content-Type", b"application/http".to_vec()),
        (b"Content-Transfer-Encoding", b"binary".to_vec()),
    ];
    if let Some(id) = content_id {
        part.push((b"Content-ID", unlatin1(id)));
    }
    part
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
