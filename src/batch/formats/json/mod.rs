//! The OData JSON batch format (OData JSON Format section 19):
//! `{"requests":[{"id","method","url","headers","body","atomicityGroup","dependsOn","if"}]}` and
//! `{"responses":[{"id","status","headers","body","atomicityGroup"}]}`.
//!
//! The reader is incremental: the envelope (`envelope.rs`) is read to the JSON grammar as its
//! bytes arrive, and each element of the array goes to `serde_json` as soon as it closes
//! (`element.rs`), so the first request is out before the last has been read. Bodies
//! (`body.rs`) are JSON for JSON media types and when no content-type is given (as the OData
//! JSON format says), a string for `text/*`, and base64url otherwise; the writer adds
//! `content-type: application/octet-stream` to an untyped body that is not JSON. Errors carry
//! the line and column in the whole document, and its byte offset.

use core::pin::Pin;
use core::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use serde_json::value::RawValue;

use crate::batch::error::{BatchError, BatchErrorKind as K};
use crate::batch::model::limits::{check_op, MeterError, ReadLimits};
use crate::batch::model::validate::{ValidationOptions, Validator};
use crate::batch::model::{Batch, Changeset, Item, RequestOp, ResponseOp, Text};

mod body;
mod element;
mod envelope;

use body::body_from_json;
pub(crate) use body::Bodies;
use element::{
    headers_from, id_of, shared, JsonRequest, JsonResponse, OutHeaders, OutRequest, OutResponse,
    Payload,
};
pub(crate) use envelope::for_each_element;
use envelope::{Elem, Envelope};

/// A value as JSON text, through serde.
pub(crate) fn to_json<T: serde::Serialize + ?Sized>(v: &T) -> Result<String, BatchError> {
    serde_json::to_string(v).map_err(|e| BatchError::new(K::Json, e.to_string()))
}

/// JSON text as a value that serializes as itself.
pub(crate) fn raw(text: String) -> Result<Box<RawValue>, BatchError> {
    RawValue::from_string(text).map_err(|e| BatchError::new(K::Json, e.to_string()))
}

/// An operation of a JSON batch: [`RequestOp`], [`ResponseOp`], or a dialect's own. Sealed:
/// its methods are the crate's.
pub trait JsonOp: sealed::JsonOp {}

impl JsonOp for RequestOp {}
impl JsonOp for ResponseOp {}

pub(crate) mod sealed {
    use super::*;

    pub trait JsonOp: Sized {
        /// The array's member name: `requests` or `responses`.
        const ARRAY: &'static str;
        /// Parses one array element; returns the op and its atomicity group.
        fn parse(element: &Bytes) -> Result<(Self, Option<String>), serde_json::Error>;
        /// Checks required members.
        fn check(&self) -> Result<(), &'static str>;
        /// Validates an item (requests only).
        fn validate(_v: &mut Validator, _item: &Item<Self>) -> Result<(), BatchError> {
            Ok(())
        }
        /// Checks the per-operation limits.
        fn check_limits(&self, limits: &ReadLimits) -> Result<(), BatchError>;
        /// The element as JSON text.
        fn to_json(&self, group: Option<&str>) -> Result<String, BatchError>;
    }
}

impl sealed::JsonOp for RequestOp {
    const ARRAY: &'static str = "requests";

    fn parse(element: &Bytes) -> Result<(Self, Option<String>), serde_json::Error> {
        request_from_json(element, Bodies::OData)
    }

    fn check(&self) -> Result<(), &'static str> {
        if self.method.is_empty() {
            return Err("a request needs a method");
        }
        if self.url.is_empty() {
            return Err("a request needs a url");
        }
        Ok(())
    }

    fn validate(v: &mut Validator, item: &Item<Self>) -> Result<(), BatchError> {
        v.check(item)
    }

    fn check_limits(&self, limits: &ReadLimits) -> Result<(), BatchError> {
        check_op(
            limits,
            &self.headers,
            self.body.len(),
            self.depends_on.len(),
        )
    }

    fn to_json(&self, group: Option<&str>) -> Result<String, BatchError> {
        request_to_json(self, group, Bodies::OData)
    }
}

impl sealed::JsonOp for ResponseOp {
    const ARRAY: &'static str = "responses";

    fn parse(element: &Bytes) -> Result<(Self, Option<String>), serde_json::Error> {
        response_from_json(element, Bodies::OData)
    }

    fn check(&self) -> Result<(), &'static str> {
        if !(100..=999).contains(&self.status) {
            return Err("a response needs a status");
        }
        Ok(())
    }

    fn check_limits(&self, limits: &ReadLimits) -> Result<(), BatchError> {
        check_op(limits, &self.headers, self.body.len(), 0)
    }

    fn to_json(&self, group: Option<&str>) -> Result<String, BatchError> {
        response_to_json(self, group, Bodies::OData)
    }
}

/// A request element, its bodies carried by `bodies`.
/// Parses one element: its UTF-8 checked in one pass first, so that `serde_json` need not
/// check each string again; invalid UTF-8 is left to `from_slice`, whose error says where.
pub(crate) fn parse_json<'a, T: serde::Deserialize<'a>>(
    element: &'a [u8],
) -> Result<T, serde_json::Error> {
    match core::str::from_utf8(element) {
        Ok(s) => serde_json::from_str(s),
        Err(_) => serde_json::from_slice(element),
    }
}

/// An element as text: one UTF-8 check, after which every string serde borrows from it is
/// shared with no check of its own. Invalid UTF-8 gets `serde_json`'s error, which says where.
fn element_text(element: &Bytes) -> Result<Text, serde_json::Error> {
    Text::from_utf8(element.clone()).map_err(|b| {
        match serde_json::from_slice::<serde::de::IgnoredAny>(&b) {
            Err(e) => e,
            Ok(_) => serde::de::Error::custom("invalid UTF-8"),
        }
    })
}

/// An element's headers and body, both shared with `doc` where they were not escaped.
fn payload_from(
    headers: Option<element::OrderedHeaders<'_>>,
    body: Option<&RawValue>,
    bodies: Bodies,
    doc: &Text,
) -> Result<(crate::batch::Headers, Bytes), serde_json::Error> {
    let headers = headers_from(headers, doc);
    let element = doc.clone().into_bytes();
    let body =
        body_from_json(body, &headers, bodies, &element).map_err(serde::de::Error::custom)?;
    Ok((headers, body))
}

pub(crate) fn request_from_json(
    element: &Bytes,
    bodies: Bodies,
) -> Result<(RequestOp, Option<String>), serde_json::Error> {
    let doc = element_text(element)?;
    let r: JsonRequest = serde_json::from_str(&doc)?;
    let (headers, body) = payload_from(r.headers, r.body, bodies, &doc)?;
    let text = |s: Option<element::JsonStr<'_>>| s.map(|s| shared(&doc, s.0)).unwrap_or_default();
    Ok((
        RequestOp {
            method: text(r.method),
            url: text(r.url),
            headers,
            content_id: id_of(r.id, &doc),
            content_id_in: Default::default(),
            body,
            depends_on: r.depends_on,
            if_condition: r.if_condition.map(|v| v.get().to_string()),
        },
        r.atomicity_group,
    ))
}

/// A request as an element.
pub(crate) fn request_to_json(
    op: &RequestOp,
    group: Option<&str>,
    bodies: Bodies,
) -> Result<String, BatchError> {
    let if_condition = op
        .if_condition
        .as_deref()
        .map(serde_json::from_str::<&RawValue>)
        .transpose()
        .map_err(|e| BatchError::new(K::Body, e.to_string()))?;
    let p = Payload::new(&op.headers, &op.body, bodies)?;
    to_json(&OutRequest {
        id: op.content_id.as_deref(),
        atomicity_group: group,
        depends_on: &op.depends_on,
        method: &op.method,
        url: &op.url,
        if_condition,
        headers: p.headers.as_deref().map(OutHeaders),
        body: p.body.as_deref(),
    })
}

/// A response element, its bodies carried by `bodies`.
pub(crate) fn response_from_json(
    element: &Bytes,
    bodies: Bodies,
) -> Result<(ResponseOp, Option<String>), serde_json::Error> {
    let doc = element_text(element)?;
    let r: JsonResponse = serde_json::from_str(&doc)?;
    let (headers, body) = payload_from(r.headers, r.body, bodies, &doc)?;
    Ok((
        ResponseOp {
            status: r.status.unwrap_or(0),
            headers,
            content_id: id_of(r.id, &doc),
            content_id_in: Default::default(),
            body,
        },
        r.atomicity_group,
    ))
}

/// A response as an element.
pub(crate) fn response_to_json(
    op: &ResponseOp,
    group: Option<&str>,
    bodies: Bodies,
) -> Result<String, BatchError> {
    let p = Payload::new(&op.headers, &op.body, bodies)?;
    to_json(&OutResponse {
        id: op.content_id.as_deref(),
        atomicity_group: group,
        status: op.status,
        headers: p.headers.as_deref().map(OutHeaders),
        body: p.body.as_deref(),
    })
}

/// Parses one element, reporting serde's position in document terms.
fn parse_element<Op: JsonOp>(
    bytes: &Bytes,
    (offset, line0, col0): (u64, usize, usize),
    limits: &ReadLimits,
) -> Result<(Op, Option<String>), BatchError> {
    let start = (line0, col0);
    let (op, group) = Op::parse(bytes).map_err(|e| {
        let (line, col) = if e.line() <= 1 {
            (start.0, start.1 + e.column().saturating_sub(1))
        } else {
            (start.0 + e.line() - 1, e.column())
        };
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        // A body that does not decode comes through serde from `payload_from`, as the
        // `BatchError` it was, its kind in front.
        let body = msg
            .strip_prefix(K::Body.as_str())
            .and_then(|m| m.strip_prefix(": "))
            .filter(|_| e.is_data())
            .map(str::to_string);
        let (kind, msg) = match body {
            Some(detail) => (K::Body, detail),
            None if msg.starts_with("duplicate field") => (K::DuplicateMember, msg),
            None if e.is_syntax() || e.is_eof() => (K::Json, msg),
            None => (K::Malformed, msg),
        };
        BatchError::new(kind, format!("{msg} at line {line} column {col}"))
            .at_offset(offset)
            .with_source(e)
    })?;
    op.check().map_err(|m| {
        BatchError::new(
            K::Malformed,
            format!("{m} (element at line {} column {})", start.0, start.1),
        )
        .at_offset(offset)
    })?;
    op.check_limits(limits).map_err(|e| e.at_offset(offset))?;
    Ok((op, group))
}

/// The JSON batch reader itself, sans-IO: bytes go in ([`feed`](Self::feed), then
/// [`finish`](Self::finish) at the end of the body), items come out
/// ([`next_item`](Self::next_item)), each as soon as its last element has closed; adjacent
/// members of an atomicity group come out as one changeset. The envelope is read to the JSON
/// grammar byte by byte as it arrives and each element goes to `serde_json` whole; limits are
/// counted as the bytes arrive. [`JsonReader`] drives it from a stream, [`read_json`] over a
/// buffer.
///
/// An error comes out after the items completed before it, and ends the read.
///
/// ```
/// use batchpart::batch::{Item, JsonItems, ReadLimits, RequestOp};
/// use bytes::Bytes;
///
/// let mut items = JsonItems::<RequestOp>::new(ReadLimits::default());
/// items.feed(&Bytes::from_static(br#"{"requests":[{"id":"1","method":"get","url":"/People"},"#));
/// let Some(Ok(Item::Op(first))) = items.next_item() else { panic!() };
/// assert_eq!(first.url, "/People");
/// assert!(items.next_item().is_none() && !items.is_done()); // it needs more bytes
/// items.feed(&Bytes::from_static(br#"{"id":"2","method":"get","url":"/Airports"}]}"#));
/// items.finish();
/// let Some(Ok(Item::Op(second))) = items.next_item() else { panic!() };
/// assert_eq!(second.url, "/Airports");
/// assert!(items.next_item().is_none() && items.is_done());
/// ```
pub struct JsonItems<Op> {
    envelope: Envelope,
    /// Reused for each feed's found elements.
    found: Vec<envelope::Found>,
    /// Elements found, shared with the chunk they were in where they were wholly inside one.
    ready: std::collections::VecDeque<(Bytes, (u64, usize, usize))>,
    /// The atomicity group being gathered, and where its first element began.
    group: Option<(Changeset<Op>, u64)>,
    /// Items ready, each with where its first element began (for a validation error's offset).
    out: std::collections::VecDeque<(Item<Op>, u64)>,
    /// Where the last item handed out began.
    last_at: u64,
    validator: Option<Validator>,
    limits: ReadLimits,
    /// Bytes fed, against `max_batch_bytes`.
    seen: u64,
    pending_error: Option<BatchError>,
    /// No more input: `finish` was called, or an error ended the read.
    ended: bool,
    done: bool,
}

impl<Op> core::fmt::Debug for JsonItems<Op> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("JsonItems")
            .field("envelope", &self.envelope)
            .field("done", &self.done)
            .finish()
    }
}

impl<Op: JsonOp> JsonItems<Op> {
    /// A reader under these limits, without validation.
    pub fn new(limits: ReadLimits) -> Self {
        JsonItems {
            envelope: Envelope::new(limits),
            found: Vec::new(),
            ready: Default::default(),
            group: None,
            out: Default::default(),
            last_at: 0,
            validator: None,
            limits,
            seen: 0,
            pending_error: None,
            ended: false,
            done: false,
        }
    }

    /// Validates every item as it is read, with the JSON format's rules on.
    pub fn validate(mut self, mut opts: ValidationOptions) -> Self {
        opts.json = true;
        self.validator = Some(Validator::new(opts));
        self
    }

    /// Validates with these options exactly (a dialect without the OData JSON rules).
    pub(crate) fn with_validator(mut self, v: Validator) -> Self {
        self.validator = Some(v);
        self
    }

    /// Where the last item handed out began: a dialect's own check of it errs there.
    pub(crate) fn last_offset(&self) -> u64 {
        self.last_at
    }

    /// The value of another top-level member, once the document is read.
    pub(crate) fn member(&self, name: &str) -> Option<&RawValue> {
        self.envelope.member(name)
    }

    /// Whether the read is over: every item and the error, if any, handed out.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Reads the next bytes of the document. The elements they complete share `chunk`'s
    /// memory where each lies wholly inside it. Bytes fed after [`finish`](Self::finish) or
    /// an error are ignored.
    pub fn feed(&mut self, chunk: &Bytes) {
        if self.ended {
            return;
        }
        self.seen += chunk.len() as u64;
        if self.seen > self.limits.max_batch_bytes {
            let max = self.limits.max_batch_bytes;
            return self
                .fail(MeterError::<core::convert::Infallible>::Limit(max).into_batch_error());
        }
        let r = self.envelope.feed(chunk, Op::ARRAY, &mut self.found);
        self.ready.extend(self.found.drain(..).map(|f| {
            let bytes = match f.elem {
                Elem::Fed(r) => chunk.slice(r),
                Elem::Gathered(v) => Bytes::from(v),
            };
            (bytes, f.start)
        }));
        if let Err(e) = r {
            self.fail(e);
        }
    }

    /// The document has ended: a document cut short is an error.
    pub fn finish(&mut self) {
        if self.ended {
            return;
        }
        self.ended = true;
        // The group still open ends once the elements before the end are taken.
        self.pending_error = self.envelope.finish(Op::ARRAY).err();
    }

    /// Ends the read with an error, which comes out after the items completed before it.
    pub(crate) fn fail(&mut self, e: BatchError) {
        if !self.ended {
            self.ended = true;
            self.pending_error = Some(e);
        }
    }

    /// The next item, or its error; `None` when it needs more bytes (or, if
    /// [`is_done`](Self::is_done), when the read is over).
    pub fn next_item(&mut self) -> Option<Result<Item<Op>, BatchError>> {
        loop {
            if let Some((item, at)) = self.out.pop_front() {
                self.last_at = at;
                if let Some(v) = &mut self.validator {
                    if let Err(e) = Op::validate(v, &item) {
                        self.stop();
                        // At the item's first element, where the broken rule is read.
                        let e = match e.offset() {
                            Some(_) => e,
                            None => e.at_offset(at),
                        };
                        return Some(Err(e));
                    }
                }
                return Some(Ok(item));
            }
            if self.done {
                return None;
            }
            if let Some(found) = self.ready.pop_front() {
                if let Err(e) = self.take(found) {
                    self.ready.clear();
                    self.group = None;
                    self.ended = true;
                    self.pending_error = Some(e);
                }
                continue;
            }
            // Items completed before an error come out first, then the error.
            if let Some(e) = self.pending_error.take() {
                self.stop();
                return Some(Err(e));
            }
            if !self.ended {
                return None;
            }
            if self.group.is_some() {
                self.end_group();
                continue;
            }
            self.done = true;
            return None;
        }
    }

    /// The read is over: nothing more comes out.
    fn stop(&mut self) {
        self.done = true;
        self.ended = true;
        self.out.clear();
        self.ready.clear();
        self.group = None;
    }

    /// The group being gathered, if any, is complete.
    fn end_group(&mut self) {
        if let Some((c, first)) = self.group.take() {
            self.out.push_back((Item::Changeset(c), first));
        }
    }

    fn take(&mut self, (bytes, start): (Bytes, (u64, usize, usize))) -> Result<(), BatchError> {
        let (op, group) = parse_element::<Op>(&bytes, start, &self.limits)?;
        let at = start.0;
        match (group, &mut self.group) {
            (Some(g), Some((c, _))) if c.id.as_deref() == Some(g.as_str()) => c.ops.push(op),
            (g, _) => {
                self.end_group();
                match g {
                    Some(g) => {
                        self.group = Some((
                            Changeset {
                                id: Some(g),
                                ops: vec![op],
                            },
                            at,
                        ))
                    }
                    None => self.out.push_back((Item::Op(op), at)),
                }
            }
        }
        Ok(())
    }
}

/// Reads a JSON batch incrementally from a stream of `Bytes`: an adapter over [`JsonItems`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use batchpart::batch::{Item, JsonReader, RequestOp};
/// use bytes::Bytes;
/// use futures_core::Stream;
///
/// let doc = r#"{"requests":[{"id":"1","method":"get","url":"/People"}]}"#;
/// let mut items = JsonReader::<_, RequestOp>::new(batchpart::stream::iter([Ok::<_, std::io::Error>(Bytes::from(doc))]));
/// // `items.next().await` with a `StreamExt`.
/// let next = std::future::poll_fn(|cx| std::pin::Pin::new(&mut items).poll_next(cx)).await;
/// let Some(Ok(Item::Op(op))) = next else { panic!() };
/// assert_eq!(op.url, "/People");
/// # }
/// ```
pub struct JsonReader<S, Op> {
    inner: S,
    items: JsonItems<Op>,
}

impl<S, Op> core::fmt::Debug for JsonReader<S, Op> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("JsonReader")
            .field("items", &self.items)
            .finish()
    }
}

impl<S, E, Op> JsonReader<S, Op>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: core::fmt::Display,
    Op: JsonOp,
{
    /// A reader over a stream of JSON bytes, with the default [`ReadLimits`].
    pub fn new(inner: S) -> Self {
        JsonReader {
            inner,
            items: JsonItems::new(ReadLimits::default()),
        }
    }

    /// Reads under these limits (set before the first item is read).
    pub fn limits(mut self, limits: ReadLimits) -> Self {
        let validator = self.items.validator.take();
        self.items = JsonItems::new(limits);
        self.items.validator = validator;
        self
    }

    /// Validates every item as it is read, with the JSON format's rules on.
    pub fn validate(mut self, opts: ValidationOptions) -> Self {
        self.items = self.items.validate(opts);
        self
    }
}

impl<S, E, Op> Stream for JsonReader<S, Op>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: core::fmt::Display,
    Op: JsonOp + Unpin,
{
    type Item = Result<Item<Op>, BatchError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(r) = this.items.next_item() {
                return Poll::Ready(Some(r));
            }
            if this.items.is_done() {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => this.items.finish(),
                Poll::Ready(Some(Ok(chunk))) => this.items.feed(&chunk),
                Poll::Ready(Some(Err(e))) => {
                    this.items.fail(BatchError::new(K::Source, e.to_string()))
                }
            }
        }
    }
}

/// Reads a whole JSON batch in memory through `items`.
pub(crate) fn read_whole<Op: JsonOp>(
    items: &mut JsonItems<Op>,
    body: &Bytes,
) -> Result<Vec<Item<Op>>, BatchError> {
    items.feed(body);
    items.finish();
    let mut out = Vec::new();
    while let Some(item) = items.next_item() {
        out.push(item?);
    }
    Ok(out)
}

/// Reads a whole JSON batch that is already in memory, under the default [`ReadLimits`].
pub fn read_json<Op: JsonOp>(
    body: Bytes,
    validation: Option<ValidationOptions>,
) -> Result<Batch<Op>, BatchError> {
    read_json_with(body, ReadLimits::default(), validation)
}

/// [`read_json`] under these limits.
pub fn read_json_with<Op: JsonOp>(
    body: Bytes,
    limits: ReadLimits,
    validation: Option<ValidationOptions>,
) -> Result<Batch<Op>, BatchError> {
    let mut items = JsonItems::new(limits);
    if let Some(v) = validation {
        items = items.validate(v);
    }
    Ok(Batch {
        items: read_whole(&mut items, &body)?,
    })
}

/// Writes a batch in the JSON format, members and headers in model order, JSON bodies as
/// their own text. Changesets become atomicity groups (named by their id, or `g1`, `g2`...
/// when they have none); an empty changeset has no JSON form and is left out.
///
/// ```
/// use batchpart::batch::{write_json, Batch, Item, RequestOp};
/// let batch = Batch { items: vec![Item::Op(RequestOp::new("GET", "People").with_content_id("r1"))] };
/// assert_eq!(write_json(&batch).unwrap(), r#"{"requests":[{"id":"r1","method":"GET","url":"People"}]}"#);
/// ```
pub fn write_json<Op: JsonOp>(batch: &Batch<Op>) -> Result<String, BatchError> {
    let mut out = String::new();
    let mut env = EnvelopeWriter::new(Op::ARRAY);
    for (n, item) in batch.items.iter().enumerate() {
        match item {
            Item::Op(op) => env.element(&mut out, &op.to_json(None)?),
            Item::Changeset(c) => {
                let name = c.id.clone().unwrap_or_else(|| format!("g{}", n + 1));
                for op in &c.ops {
                    env.element(&mut out, &op.to_json(Some(&name))?);
                }
            }
        }
    }
    out.push_str(&env.finish());
    Ok(out)
}

/// The envelope `{"<array>":[...]}`, written element by element (a server writes each answer
/// as its operation completes): the one place that writes it, for the OData JSON format,
/// the JSON `/batch` dialect and the server alike. Elements are JSON text already.
#[derive(Debug)]
pub(crate) struct EnvelopeWriter {
    array: &'static str,
    first: bool,
}

impl EnvelopeWriter {
    pub(crate) fn new(array: &'static str) -> Self {
        EnvelopeWriter { array, first: true }
    }

    /// Appends one element to `out`, after the envelope's opening or a comma.
    pub(crate) fn element(&mut self, out: &mut String, element: &str) {
        if core::mem::take(&mut self.first) {
            self.open(out);
        } else {
            out.push(',');
        }
        out.push_str(element);
    }

    fn open(&self, out: &mut String) {
        out.push_str("{\"");
        out.push_str(self.array);
        out.push_str("\":[");
    }

    /// What closes the document: the whole empty envelope when no element was written.
    pub(crate) fn finish(&self) -> String {
        let mut out = String::new();
        if self.first {
            self.open(&mut out);
        }
        out.push_str("]}");
        out
    }
}
